"""Gradient clipping, SGD, state detaching, and training on the real corpus and a non-default context."""
import math

import mxnet as mx
import numpy as onp
import pytest
from mxnet import autograd, gluon, np

import gluon_d2l as d2l


class Params:
    """A stand-in scratch model: just a ``params`` list with gradients."""

    def __init__(self, *grads):
        self.params = []
        for g in grads:
            p = np.zeros(g.shape)
            p.attach_grad()
            p.grad[:] = g
            self.params.append(p)


def global_norm(grads):
    return math.sqrt(sum(float((g.astype('float64') ** 2).sum()) for g in grads))


def test_grad_clipping_rescales_to_theta_over_all_parameters():
    net = Params(np.array([3.0, 0.0]), np.array([[0.0], [4.0]]))
    assert d2l.grad_clipping(net, 1.0) == pytest.approx(5.0)
    onp.testing.assert_allclose(net.params[0].grad.asnumpy(), [0.6, 0.0], rtol=1e-6)
    onp.testing.assert_allclose(net.params[1].grad.asnumpy(), [[0.0], [0.8]], rtol=1e-6)


def test_grad_clipping_leaves_small_gradients_untouched():
    net = Params(np.array([0.3, -0.4]))
    d2l.grad_clipping(net, 1.0)
    onp.testing.assert_array_equal(net.params[0].grad.asnumpy(), onp.array([0.3, -0.4], dtype='float32'))


def test_grad_clipping_uses_the_norm_summed_over_contexts():
    net = gluon.nn.Dense(1, in_units=2, use_bias=False)
    net.initialize(ctx=[mx.cpu(0), mx.cpu(1)])
    for ctx, value in ((mx.cpu(0), [3.0, 0.0]), (mx.cpu(1), [0.0, 4.0])):
        net.weight.grad(ctx)[:] = np.array([value], ctx=ctx)
    assert d2l.grad_clipping(net, 1.0) == pytest.approx(5.0)
    total = sum(g.asnumpy() for g in net.weight.list_grad())
    onp.testing.assert_allclose(total, [[0.6, 0.8]], rtol=1e-6)


@pytest.mark.parametrize('theta', [0, -1, float('nan')])
def test_grad_clipping_rejects_a_non_positive_theta(theta):
    with pytest.raises(ValueError, match='theta'):
        d2l.grad_clipping(Params(np.ones(2)), theta)


def test_sgd_steps_against_the_gradient():
    net = Params(np.array([2.0, -4.0]))
    d2l.sgd(net.params, lr=0.5, batch_size=2)
    onp.testing.assert_allclose(net.params[0].asnumpy(), [-0.5, 1.0])


def test_sequential_training_detaches_the_state_between_minibatches():
    """The gradient of minibatch 2 equals the gradient with minibatch 1's final state as a constant."""
    vocab_size, hiddens = 6, 8
    net = d2l.RNNModelScratch(vocab_size, hiddens, mx.cpu(), d2l.get_params, d2l.init_rnn_state, d2l.rnn)
    batches = [(np.array(onp.random.randint(0, vocab_size, (2, 4)), dtype='int32'),
                np.array(onp.random.randint(0, vocab_size, (2, 4)), dtype='int32')) for _ in range(2)]
    seen = []
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    d2l.train_epoch_ch8(net, batches, loss, lambda batch_size: seen.append([p.grad.copy() for p in net.params]),
                        mx.cpu(), use_random_iter=False, theta=1e9)
    _, carried = net(batches[0][0], net.begin_state(2, mx.cpu()))
    constant = (np.array(carried[0].asnumpy()),)
    with autograd.record():
        y_hat, _ = net(batches[1][0], constant)
        l = loss(y_hat, batches[1][1].T.reshape(-1)).mean()
    l.backward()
    for recorded, param in zip(seen[1], net.params):
        mx.test_utils.assert_almost_equal(recorded.asnumpy(), param.grad.asnumpy(), rtol=1e-5, atol=1e-7)


def test_train_ch8_lowers_perplexity_on_the_real_corpus_and_stays_on_its_context(corpus_dir, capsys):
    """30 epochs of the seeds' configuration, on cpu(1): perplexity ~28 -> < 15."""
    ctx = mx.cpu(1)
    train_iter, vocab = d2l.load_data_time_machine(32, 35)
    net = d2l.HybridRNNScratch(len(vocab), 512)
    net.hybridize(static_alloc=True, static_shape=True)
    history = []
    d2l.train_ch8(net, train_iter, vocab, 1, 30, ctx, on_epoch=lambda e, ppl, speed: history.append(ppl))
    assert history[0] > 20 and history[-1] < 15, history
    assert all(p.list_ctx() == [ctx] for p in net.collect_params().values())
    _, state = net(np.zeros((2, 3), dtype='int32', ctx=ctx), net.begin_state(2, ctx))
    assert state[0].ctx == ctx
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith('perplexity ') and printed[0].endswith('tokens/sec on cpu(1)')
    assert printed[1].startswith('time traveller') and printed[2].startswith('traveller')


def test_scratch_model_trains_with_sgd_on_its_context(corpus_dir):
    ctx = mx.cpu(1)
    train_iter, vocab = d2l.load_data_time_machine(8, 10, max_tokens=2000)
    net = d2l.RNNModelScratch(len(vocab), 32, ctx, d2l.get_params, d2l.init_rnn_state, d2l.rnn)
    history = []
    d2l.train_ch8(net, train_iter, vocab, 1, 3, ctx, use_random_iter=True,
                  on_epoch=lambda e, ppl, speed: history.append(ppl))
    assert history[-1] < history[0]
    assert all(p.ctx == ctx for p in net.params)


@pytest.mark.parametrize('kind', ['hybrid', 'concise'])
def test_two_contexts_train_to_the_same_parameters_as_one(kind, corpus_dir):
    """Data parallel over cpu(0), cpu(1) through gluon.Trainer's KVStore equals one context."""
    from gluon_d2l.program.checkpoints import named_arrays
    from gluon_d2l.models import build_model

    train_iter, vocab = d2l.load_data_time_machine(8, 12, max_tokens=1500)
    batches = list(train_iter)[:6]
    results = []
    for devices in ([mx.cpu(0)], [mx.cpu(0), mx.cpu(1)]):
        mx.random.seed(11)
        net = build_model(kind, len(vocab), 32, devices)
        updater, _ = d2l.training.make_updater(net, 1.0, devices)
        d2l.train_epoch_ch8(net, batches, gluon.loss.SoftmaxCrossEntropyLoss(), updater, devices,
                            use_random_iter=False, theta=0.5)
        results.append({k: p.data(devices[-1]).asnumpy() for k, p in named_arrays(net).items()})
    for name, value in results[0].items():
        mx.test_utils.assert_almost_equal(results[1][name], value, rtol=1e-4, atol=1e-6, names=(name, name))


def _batches(vocab_size, n, batch=2, steps=4):
    return [(np.array(onp.random.randint(0, vocab_size, (batch, steps)), dtype='int32'),
             np.array(onp.random.randint(0, vocab_size, (batch, steps)), dtype='int32')) for _ in range(n)]


def _scratch(vocab_size=6, hiddens=8, scale=0.01):
    net = d2l.RNNModelScratch(vocab_size, hiddens, mx.cpu(), d2l.get_params, d2l.init_rnn_state, d2l.rnn)
    for p in net.params:
        p[:] = np.random.normal(scale=scale, size=p.shape)
    return net


def test_theta_none_applies_the_raw_gradient_and_reports_its_norm():
    net = _scratch(scale=2.0)  # large weights: the gradient norm is well above 1
    batches = _batches(6, 1)
    seen, stats = [], {}
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    d2l.train_epoch_ch8(net, batches, loss, lambda batch_size: seen.append([p.grad.copy() for p in net.params]),
                        mx.cpu(), use_random_iter=False, theta=None, stats=stats)
    raw = global_norm(seen[0])
    assert raw > 1 and stats['max_grad_norm'] == pytest.approx(raw, rel=1e-5) and stats['clipped_steps'] == 0
    clipped, stats = [], {}
    d2l.train_epoch_ch8(_scratch(scale=2.0), batches, loss,
                        lambda batch_size: clipped.append(None), mx.cpu(), False, theta=1.0, stats=stats)
    assert stats['clipped_steps'] == 1


def test_theta_none_still_skips_and_counts_non_finite_steps():
    net = _scratch()
    net.params[3][0, 0] = float('inf')  # W_hq: every logit of output 0 is infinite -> NaN loss
    updates, stats = [], {}
    d2l.train_epoch_ch8(net, _batches(6, 3), gluon.loss.SoftmaxCrossEntropyLoss(),
                        lambda batch_size: updates.append(1), mx.cpu(), False, theta=None, stats=stats)
    assert stats['skipped_steps'] == 3 and not updates


def test_no_detach_differentiates_through_the_earlier_minibatches():
    """detach=False: the gradient of minibatch 3 is that of its loss after running 1, 2, 3 attached."""
    vocab_size = 6
    net = _scratch(vocab_size, scale=0.5)
    batches = _batches(vocab_size, 3)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    seen, params_before = [], []

    def updater(batch_size):
        seen.append([p.grad.copy() for p in net.params])
        params_before.append([p.copy() for p in net.params])
        d2l.sgd(net.params, 0.5, batch_size)
    d2l.train_epoch_ch8(net, batches, loss, updater, mx.cpu(), use_random_iter=False, theta=None, detach=False)
    for p, value in zip(net.params, params_before[2]):  # the weights minibatch 3 saw
        p[:] = value
    state = net.begin_state(2, mx.cpu())
    with autograd.record():
        for X, _ in batches[:2]:
            _, state = net(X, state)
        y_hat, _ = net(batches[2][0], state)
        l = loss(y_hat, batches[2][1].T.reshape(-1)).mean()
    l.backward()
    for recorded, param in zip(seen[2], net.params):
        mx.test_utils.assert_almost_equal(recorded.asnumpy(), param.grad.asnumpy(), rtol=1e-5, atol=1e-7)
    # and it differs from the detached gradient: the earlier minibatches contribute
    detached = (net(batches[1][0], net(batches[0][0], net.begin_state(2, mx.cpu()))[1])[1][0].detach(),)
    with autograd.record():
        y_hat, _ = net(batches[2][0], detached)
        l = loss(y_hat, batches[2][1].T.reshape(-1)).mean()
    l.backward()
    assert not onp.allclose(seen[2][1].asnumpy(), net.params[1].grad.asnumpy(), rtol=1e-3)


def test_no_detach_refuses_random_sampling_and_a_graph_over_the_limit(corpus_dir):
    net = _scratch()
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    with pytest.raises(ValueError, match='detach=False needs sequential'):
        d2l.train_epoch_ch8(net, _batches(6, 2), loss, lambda batch_size: None, mx.cpu(), True, detach=False)
    train_iter, vocab = d2l.load_data_time_machine(32, 35, max_tokens=-1)  # the whole book: 150 minibatches
    big = d2l.HybridRNNScratch(len(vocab), 512)
    with pytest.raises(ValueError, match=r'detach=False would hold a graph of about \d+ MiB'):
        d2l.train_ch8(big, train_iter, vocab, 1, 1, mx.cpu(), detach=False)
    assert d2l.training.attached_graph_bytes(150, 32, 35, 512, 28) > d2l.training.ATTACHED_GRAPH_LIMIT
    assert d2l.training.attached_graph_bytes(8, 32, 35, 512, 28) < d2l.training.ATTACHED_GRAPH_LIMIT


@pytest.mark.parametrize('dtype, rtol', [('float64', 1e-12), ('float32', 1e-5)])
def test_one_hot_and_embedding_lookup_train_to_the_same_perplexity(corpus_dir, dtype, rtol):
    """Exercise 1: the one-hot model and the same model fed W_xh[X] follow the same trajectory."""
    from gluon_d2l.models import LookupRNNScratch
    train_iter, vocab = d2l.load_data_time_machine(8, 10, max_tokens=2000)
    initial = [p.astype(dtype) for p in d2l.get_params(len(vocab), 32, mx.cpu())]

    def given(*args, **kwargs):
        copies = [p.copy() for p in initial]
        for p in copies:
            p.attach_grad()
        return copies
    curves = []
    for cls in (d2l.RNNModelScratch, LookupRNNScratch):
        net = cls(len(vocab), 32, mx.cpu(), given, d2l.init_rnn_state, d2l.rnn)
        history = []
        import random
        random.seed(3)
        d2l.train_ch8(net, train_iter, vocab, 1, 4, mx.cpu(), on_epoch=lambda e, ppl, speed: history.append(ppl))
        curves.append(history)
    onp.testing.assert_allclose(curves[1], curves[0], rtol=rtol)
    assert curves[0][-1] < curves[0][0]


@pytest.mark.parametrize('kind', ['scratch', 'hybrid', 'concise'])
@pytest.mark.parametrize('theta', [1.0, None])
@pytest.mark.parametrize('read_every', [64, 2], ids=['read-at-the-end', 'read-every-2-steps'])
def test_the_device_side_step_equals_the_host_read_step_bit_for_bit(kind, theta, read_every, corpus_dir, monkeypatch):
    """make_updater's updaters take the no-host-read path; a plain function (``gluon.Trainer.step``
    for Gluon models) takes the per-step host read. Same weights, same statistics, a NaN step included,
    whether the device-side statistics are read once at the end or every 2 of the 5 steps."""
    from gluon_d2l.program.checkpoints import named_arrays
    from gluon_d2l.models import build_model
    monkeypatch.setattr(d2l.training._DeviceTally, 'READ_EVERY', read_every)

    class NaNOnSecondCall:
        def __init__(self):
            self.base, self.calls = gluon.loss.SoftmaxCrossEntropyLoss(), 0

        def __call__(self, y_hat, y):
            self.calls += 1
            return self.base(y_hat, y) * (float('nan') if self.calls == 2 else 1.0)

    train_iter, vocab = d2l.load_data_time_machine(4, 6, max_tokens=600)
    batches = list(train_iter)[:5]
    finals, all_stats = [], []
    for wrap in (False, True):
        mx.random.seed(3)
        net = build_model(kind, len(vocab), 16, [mx.cpu()])
        updater, trainer = d2l.training.make_updater(net, 1.0, mx.cpu())
        assert updater.zero_gradient_is_skip
        reference = updater if trainer is None else trainer.step  # Gluon: gluon.Trainer's own step
        step = (lambda batch_size: reference(batch_size)) if wrap else updater
        stats = {}
        d2l.train_epoch_ch8(net, batches, NaNOnSecondCall(), step, mx.cpu(), False, theta=theta, stats=stats)
        finals.append({k: (v.data() if hasattr(v, 'data') else v).asnumpy() for k, v in named_arrays(net).items()})
        all_stats.append(stats)
    assert all_stats[0]['skipped_steps'] == 1
    assert all_stats[0] == pytest.approx(all_stats[1], nan_ok=True)
    assert all_stats[0]['max_grad_norm'] == all_stats[1]['max_grad_norm']
    for name, value in finals[1].items():
        onp.testing.assert_array_equal(finals[0][name], value, err_msg=name)


def test_loader_batches_are_checked_without_a_device_to_host_copy(corpus_dir, monkeypatch):
    from gluon_d2l.models import check_token_batch
    train_iter, vocab = d2l.load_data_time_machine(4, 6, max_tokens=600)
    X, _ = next(iter(train_iter))
    user = np.array(X.asnumpy(), dtype='int32')
    monkeypatch.setattr(type(X), 'asnumpy', lambda self: pytest.fail('copied to the host'))
    check_token_batch(X, len(vocab))
    with pytest.raises(ValueError, match=r'outside the vocabulary \[0, 2\)'):
        check_token_batch(X, 2)
    monkeypatch.undo()
    check_token_batch(user, len(vocab))  # an array the loader did not build is copied and checked
    with pytest.raises(ValueError, match='outside the vocabulary'):
        check_token_batch(np.array([[0, len(vocab)]], dtype='int32'), len(vocab))


def test_sampling_takes_the_limit_of_infinite_logits_and_refuses_nan_ones():
    from gluon_d2l.training import _sampling_probabilities
    onp.testing.assert_allclose(_sampling_probabilities(onp.array([0.0, onp.log(3.0)]), 1.0), [0.25, 0.75])
    onp.testing.assert_array_equal(_sampling_probabilities(onp.array([1.0, onp.inf, -onp.inf, onp.inf]), 0.5),
                                   [0, 0.5, 0, 0.5])
    with pytest.raises(ValueError, match='NaN'):
        _sampling_probabilities(onp.array([1.0, onp.nan]), 1.0)
