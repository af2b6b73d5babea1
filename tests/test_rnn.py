"""The scratch, hybridized and concise RNN models: the seeds' shapes and their equivalence."""
import mxnet as mx
import numpy as onp
import pytest
from mxnet import autograd, gluon, np

import gluon_d2l as d2l

VOCAB, HIDDENS = 28, 512


def scratch_model(num_hiddens=HIDDENS, device=None):
    return d2l.RNNModelScratch(VOCAB, num_hiddens, device or mx.cpu(), d2l.get_params,
                               d2l.init_rnn_state, d2l.rnn)


def hybrid_copy(scratch):
    """A HybridRNNScratch holding the same weights as ``scratch``."""
    net = d2l.HybridRNNScratch(scratch.vocab_size, scratch.num_hiddens)
    net.initialize()
    for name, value in zip(net.param_names, scratch.params):
        getattr(net, name).set_data(value)
    return net


def test_one_hot_encoding_has_the_seed_shape():
    X = np.arange(10).reshape((2, 5))
    assert mx.npx.one_hot(X.T, 28).shape == (5, 2, 28)


def test_scratch_model_output_and_state_shapes_match_the_seed():
    net = scratch_model()
    X = np.arange(10).reshape((2, 5))
    Y, new_state = net(X, net.begin_state(X.shape[0], mx.cpu()))
    assert Y.shape == (10, 28)
    assert len(new_state) == 1 and new_state[0].shape == (2, 512)


def test_predict_ch8_returns_prefix_plus_requested_characters(corpus_dir):
    _, vocab = d2l.load_data_time_machine(32, 35)
    text = d2l.predict_ch8('time traveller ', 10, scratch_model(), vocab, mx.cpu())
    assert text.startswith('time traveller ') and len(text) == len('time traveller ') + 10
    assert set(text) <= set(vocab.idx_to_token)


@pytest.mark.parametrize('static', [False, True])
def test_hybridized_rnn_equals_scratch_rnn_outputs_state_and_gradients(static):
    scratch = scratch_model(num_hiddens=64)
    net = hybrid_copy(scratch)
    net.hybridize(static_alloc=static, static_shape=static)
    X = np.array(onp.random.randint(0, VOCAB, size=(3, 7)), dtype='int32')
    state = scratch.begin_state(3, mx.cpu())
    state = (np.random.normal(size=state[0].shape),)
    with autograd.record():
        Y_s, (H_s,) = scratch(X, state)
        loss_s = (Y_s ** 2).sum() + H_s.sum()
    loss_s.backward()
    with autograd.record():
        Y_h, (H_h,) = net(X, state)
        loss_h = (Y_h ** 2).sum() + H_h.sum()
    loss_h.backward()
    mx.test_utils.assert_almost_equal(Y_h.asnumpy(), Y_s.asnumpy(), rtol=0, atol=1e-6)
    mx.test_utils.assert_almost_equal(H_h.asnumpy(), H_s.asnumpy(), rtol=0, atol=1e-6)
    for name, param in zip(net.param_names, scratch.params):
        mx.test_utils.assert_almost_equal(getattr(net, name).grad().asnumpy(), param.grad.asnumpy(),
                                          rtol=1e-5, atol=1e-6, names=(name, name))


def test_hybridized_rnn_switches_sequence_length():
    scratch = scratch_model(num_hiddens=16)
    net = hybrid_copy(scratch)
    net.hybridize(static_alloc=True)
    state = net.begin_state(2, mx.cpu())
    for steps in (5, 1, 5):
        X = np.array(onp.random.randint(0, VOCAB, size=(2, steps)), dtype='int32')
        mx.test_utils.assert_almost_equal(net(X, state)[0].asnumpy(), scratch(X, state)[0].asnumpy(),
                                          rtol=0, atol=1e-6)


def test_concise_model_shapes_and_hybridized_equals_imperative():
    net = d2l.RNNModel(gluon.rnn.RNN(32), VOCAB)
    net.initialize(init=mx.init.Normal(0.1))
    X = np.array(onp.random.randint(0, VOCAB, size=(4, 6)), dtype='int32')
    state = net.begin_state(batch_size=4, ctx=mx.cpu())
    Y, new_state = net(X, state)
    assert Y.shape == (24, VOCAB) and new_state[0].shape == (1, 4, 32)
    net.hybridize(static_alloc=True)
    Y_h, state_h = net(X, state)
    mx.test_utils.assert_almost_equal(Y_h.asnumpy(), Y.asnumpy(), rtol=0, atol=1e-6)
    mx.test_utils.assert_almost_equal(state_h[0].asnumpy(), new_state[0].asnumpy(), rtol=0, atol=1e-6)


@pytest.mark.parametrize('make', [scratch_model, lambda: hybrid_copy(scratch_model())])
def test_a_state_of_the_wrong_shape_is_rejected(make):
    net = make()
    X = np.zeros((2, 5), dtype='int32')
    with pytest.raises(ValueError, match=r'state.*\(2, 512\)'):
        net(X, (np.zeros((3, 512)),))


def test_tokens_must_be_a_2d_batch():
    net = scratch_model()
    with pytest.raises(ValueError, match=r'X must have shape \(batch_size, num_steps\)'):
        net(np.zeros((10,)), net.begin_state(2, mx.cpu()))


def test_rnn_module_and_function_are_apart():
    import importlib
    module = importlib.import_module('gluon_d2l.models')
    import gluon_d2l
    assert callable(gluon_d2l.rnn) and gluon_d2l.rnn is module.rnn
    assert hasattr(module, 'build_model')


@pytest.mark.parametrize('kind', ['scratch', 'hybrid', 'concise'])
def test_embedding_replaces_the_one_hot_input_in_every_model(kind):
    from gluon_d2l.models import build_model
    net = build_model(kind, VOCAB, 16, [mx.cpu()], embedding=5)
    X = np.arange(12).reshape((2, 6))
    Y, state = net(X, net.begin_state(batch_size=2, ctx=mx.cpu()))
    assert Y.shape == (12, VOCAB)
    shapes = [p.shape for p in net.params] if kind == 'scratch' else \
        [p.shape for p in net.collect_params().values()]
    assert shapes[-1] == (VOCAB, 5)  # the embedding comes last
    assert (5, 16) in shapes or (16, 5) in shapes  # the input weight reads DIM features, not VOCAB


def test_embedding_model_uses_the_looked_up_rows():
    """Setting the scratch embedding to the identity gives the one-hot model's outputs."""
    one_hot = scratch_model(8)
    embedded = d2l.RNNModelScratch(VOCAB, 8, mx.cpu(), d2l.get_params, d2l.init_rnn_state, d2l.rnn,
                                   embedding=VOCAB)
    for mine, theirs in zip(embedded.params, one_hot.params):
        mine[:] = theirs
    embedded.params[-1][:] = np.eye(VOCAB)
    X = np.array(onp.random.randint(0, VOCAB, (3, 7)), dtype='int32')
    Y1, (H1,) = one_hot(X, one_hot.begin_state(3, mx.cpu()))
    Y2, (H2,) = embedded(X, embedded.begin_state(3, mx.cpu()))
    onp.testing.assert_allclose(Y2.asnumpy(), Y1.asnumpy(), rtol=1e-6, atol=1e-8)
    onp.testing.assert_allclose(H2.asnumpy(), H1.asnumpy(), rtol=1e-6, atol=1e-8)


def test_relu_scratch_and_relu_hybrid_compute_the_same_function():
    scratch = d2l.RNNModelScratch(VOCAB, 16, mx.cpu(), d2l.get_params, d2l.init_rnn_state, d2l.rnn,
                                  activation='relu')
    for p in scratch.params:
        p[:] = np.random.normal(scale=0.5, size=p.shape)
    hybrid = d2l.HybridRNNScratch(VOCAB, 16, activation='relu')
    hybrid.initialize()
    for name, value in zip(hybrid.param_names, scratch.params):
        getattr(hybrid, name).set_data(value)
    hybrid.hybridize()
    tanh = scratch_model(16)
    for mine, theirs in zip(tanh.params, scratch.params):
        mine[:] = theirs
    X = np.array(onp.random.randint(0, VOCAB, (2, 9)), dtype='int32')
    Y_s, (H_s,) = scratch(X, scratch.begin_state(2, mx.cpu()))
    Y_h, (H_h,) = hybrid(X, hybrid.begin_state(2, mx.cpu()))
    onp.testing.assert_allclose(Y_h.asnumpy(), Y_s.asnumpy(), rtol=1e-4, atol=1e-5)
    onp.testing.assert_allclose(H_h.asnumpy(), H_s.asnumpy(), rtol=1e-4, atol=1e-5)
    assert (H_s.asnumpy() >= 0).all() and H_s.asnumpy().max() > 1  # ReLU: unbounded above, not tanh
    assert not onp.allclose(tanh(X, tanh.begin_state(2, mx.cpu()))[0].asnumpy(), Y_s.asnumpy(), atol=1e-3)


@pytest.mark.parametrize('kwargs, name', [({'embedding': 0}, 'embedding'), ({'embedding': 2.5}, 'embedding'),
                                          ({'activation': 'sigmoid'}, 'activation')])
@pytest.mark.parametrize('kind', ['scratch', 'hybrid', 'concise'])
def test_bad_embedding_or_activation_is_refused_by_name(kind, kwargs, name):
    from gluon_d2l.models import build_model
    with pytest.raises(ValueError, match=name):
        build_model(kind, VOCAB, 8, [mx.cpu()], **kwargs)


def test_concise_model_refuses_a_layer_that_does_not_read_the_embedding():
    with pytest.raises(ValueError, match='input_size'):
        d2l.RNNModel(gluon.rnn.RNN(8, input_size=VOCAB), VOCAB, embedding=4)


@pytest.mark.parametrize('make', [
    lambda: gluon.rnn.RNN(16, input_size=7),
    lambda: gluon.rnn.RNN(16, input_size=7, activation='tanh', num_layers=2, bidirectional=True),
    lambda: gluon.rnn.GRU(16, input_size=7),
    lambda: gluon.rnn.LSTM(16, input_size=7, num_layers=2),
], ids=['rnn', 'rnn-2-layers-bidirectional', 'gru', 'lstm-2-layers'])
@pytest.mark.parametrize('hybridize', [False, True], ids=['imperative', 'hybridized'])
def test_the_rows_parameter_concat_computes_what_gluon_computes_bit_for_bit(make, hybridize):
    from gluon_d2l.models import with_rows_param_concat
    got = []
    for fast in (False, True):
        mx.random.seed(0)
        layer = make()
        layer.initialize()
        if fast:
            with_rows_param_concat(layer)
        if hybridize:
            layer.hybridize(static_alloc=True, static_shape=True)
        X = np.array(onp.random.RandomState(0).randn(5, 3, 7).astype('float32'))
        with autograd.record():
            Y, state = layer(X, layer.begin_state(batch_size=3))
            ((Y * Y).sum() + sum((s * s).sum() for s in state)).backward()
        got.append([Y.asnumpy()] + [s.asnumpy() for s in state]
                   + [p.grad().asnumpy() for p in layer.collect_params().values()])
    assert len(got[0]) == len(got[1]) > 3
    for stock, rows in zip(*got):
        assert onp.array_equal(stock, rows)


def test_the_concise_model_of_build_model_concatenates_its_parameters_in_rows(monkeypatch):
    from gluon_d2l import models
    calls = []
    real = models._rows_concat_f
    monkeypatch.setattr(models, '_rows_concat_f', lambda F, width: calls.append(width) or real(F, width))
    net = models.build_model('concise', 28, 32, [mx.cpu()])
    net(np.zeros((2, 5), dtype='int32'), net.begin_state(batch_size=2, ctx=mx.cpu()))
    assert calls == [32]
