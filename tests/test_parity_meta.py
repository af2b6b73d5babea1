"""The harness tests itself: deliberately wrong references must be caught, in both dtypes.

Each test swaps one piece of a reference framework's seed code for a plausible bug, runs the
case that covers it, and asserts the harness reports a failure (wrong numbers, or a crash).
"""
import math

import numpy
import pytest

from parity import frameworks, harness

from parity_support import case_named, need

pytestmark = pytest.mark.parity


def result_of(case_name, framework, dtype):
    need(frameworks.SYSTEM, framework)
    case = case_named(case_name)
    inputs, expected = harness.live(case, dtype)
    return harness.check(case, framework, dtype, inputs, expected)


def caught(case_name, framework, dtype):
    """Run the case with the (patched) reference and assert it did not pass."""
    result = result_of(case_name, framework, dtype)
    assert not result.ok, f'{case_name}/{framework}/{dtype} passed with a wrong reference: {result}'
    return result


@pytest.fixture
def torch_ref():
    need('torch')
    return frameworks.load('torch')


@pytest.fixture
def tf_ref():
    need('tensorflow')
    return frameworks.load('tensorflow')


@pytest.mark.parametrize('dtype', harness.DTYPES)
def test_relu_instead_of_tanh_is_caught(torch_ref, monkeypatch, dtype):
    def relu_rnn(inputs, state, params):
        W_xh, W_hh, b_h, W_hq, b_q = params
        H, = state
        outputs = []
        for X in inputs:
            H = torch_ref.torch.relu(X @ W_xh + H @ W_hh + b_h)
            outputs.append(H @ W_hq + b_q)
        return torch_ref.torch.cat(outputs, dim=0), (H,)
    monkeypatch.setattr(torch_ref, 'rnn', relu_rnn)
    assert caught('rnn_scratch', 'torch', dtype).status == 'FAIL'


@pytest.mark.parametrize('dtype', harness.DTYPES)
def test_missing_bias_is_caught(torch_ref, monkeypatch, dtype):
    monkeypatch.setattr(torch_ref.MyLinear, 'forward',
                        lambda self, X: torch_ref.F.relu(torch_ref.torch.matmul(X, self.weight)))
    caught('my_dense', 'torch', dtype)  # the unused bias has no gradient: the run fails


@pytest.mark.parametrize('dtype', harness.DTYPES)
def test_the_seeds_mylinear_with_data_is_caught(torch_ref, monkeypatch, dtype):
    """The seed's ``self.weight.data`` cuts the weights out of autograd: no gradients at all."""
    monkeypatch.setattr(torch_ref.MyLinear, 'forward', lambda self, X: torch_ref.F.relu(
        torch_ref.torch.matmul(X, self.weight.data) + self.bias.data))
    assert caught('my_dense', 'torch', dtype).status == 'error'


def per_parameter_clipping(net, theta):
    params = net.params
    for param in params:
        norm = param.grad.norm()
        if norm > theta:
            param.grad[:] *= theta / norm
    return math.sqrt(sum(float((p.grad ** 2).sum()) for p in params))


@pytest.mark.parametrize('case', ['grad_clipping', 'train_epoch'])
@pytest.mark.parametrize('dtype', harness.DTYPES)
def test_per_parameter_clipping_is_caught(torch_ref, monkeypatch, case, dtype):
    monkeypatch.setattr(torch_ref, 'grad_clipping', per_parameter_clipping)
    assert caught(case, 'torch', dtype).status == 'FAIL'


@pytest.mark.parametrize('dtype', harness.DTYPES)
def test_state_not_detached_is_caught(torch_ref, monkeypatch, dtype):
    """Without detaching, each step's gradient also flows into the previous minibatches."""
    torch = torch_ref.torch

    def train_without_detach(net, train_iter, loss, updater, device, use_random_iter):
        state, losses = None, []
        for X, Y in train_iter:
            if state is None:
                state = net.begin_state(batch_size=X.shape[0], device=device)
            y_hat, state = net(X, state)
            l = loss(y_hat, Y.T.reshape(-1)).mean()
            l.backward(retain_graph=True)
            torch_ref.grad_clipping(net, 1)
            for p in net.params:  # SGD through .data, so the old graphs stay usable
                p.data -= p.grad
                p.grad.zero_()
            losses.append(l.item())
        return math.exp(numpy.mean(losses)), losses
    monkeypatch.setattr(torch_ref, 'train_epoch_ch8', train_without_detach)
    assert torch.is_grad_enabled()
    assert caught('train_epoch', 'torch', dtype).status == 'FAIL'


@pytest.mark.parametrize('dtype', harness.DTYPES)
@pytest.mark.parametrize('framework', frameworks.REFERENCES)
def test_transposed_recurrent_weight_is_caught(monkeypatch, framework, dtype):
    """PyTorch shares Gluon's (out, in) layout, Keras and Flax transpose it: getting the
    (square, so shape-compatible) recurrent weight the wrong way round must fail."""
    need(framework)
    ref = frameworks.load(framework)
    right = ref.from_gluon_rnn
    monkeypatch.setattr(ref, 'from_gluon_rnn', lambda *args: right(
        *args[:-1], [args[-1][0], args[-1][1].T, *args[-1][2:]]))
    assert caught('concise_rnn_tanh', framework, dtype).status == 'FAIL'


@pytest.mark.parametrize('dtype', harness.DTYPES)
def test_relu_instead_of_tanh_in_jax_is_caught(monkeypatch, dtype):
    need('jax')
    ref = frameworks.load('jax')
    monkeypatch.setattr(ref, 'rnn', lambda inputs, state, params: relu_rnn_jax(ref, inputs, state, params))
    assert caught('rnn_scratch', 'jax', dtype).status == 'FAIL'


def relu_rnn_jax(ref, inputs, state, params):
    W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs = []
    for X in inputs:
        H = ref.jax.nn.relu(X @ W_xh + H @ W_hh + b_h)
        outputs.append(H @ W_hq + b_q)
    return ref.jnp.concatenate(outputs, axis=0), (H,)


@pytest.mark.parametrize('dtype', harness.DTYPES)
def test_one_keras_bias_for_both_gluon_biases_must_be_their_sum(tf_ref, monkeypatch, dtype):
    right = tf_ref.from_gluon_rnn
    monkeypatch.setattr(tf_ref, 'from_gluon_rnn', lambda vocab_size, activation, params: right(
        vocab_size, activation, [*params[:3], 0 * params[3], *params[4:]]))
    assert caught('concise_rnn_tanh', 'tensorflow', dtype).status == 'FAIL'


def test_the_seeds_float32_norm_in_tf_clipping_is_caught_in_float64_only(tf_ref, monkeypatch):
    """The TF seed casts the gradient norm to float32: invisible in float32, 1e-8 off in float64."""
    tf = tf_ref.tf

    def seed_clipping(grads, theta):
        norm = tf.cast(tf.math.sqrt(sum(tf.reduce_sum(g ** 2).numpy() for g in grads)), tf.float32)
        scale = theta / tf.cast(norm, grads[0].dtype) if norm > theta else 1
        return [g * scale for g in grads], float(norm)
    monkeypatch.setattr(tf_ref, 'grad_clipping', seed_clipping)
    assert result_of('grad_clipping', 'tensorflow', 'float32').ok
    assert caught('grad_clipping', 'tensorflow', 'float64').status == 'FAIL'


@pytest.mark.parametrize('dtype', harness.DTYPES)
def test_tanh_in_the_relu_step_is_caught(torch_ref, monkeypatch, dtype):
    monkeypatch.setattr(torch_ref, 'rnn_relu', torch_ref.rnn)
    assert caught('relu_train_step', 'torch', dtype).status == 'FAIL'


@pytest.mark.parametrize('dtype', harness.DTYPES)
def test_clipping_in_the_unclipped_epoch_is_caught(torch_ref, monkeypatch, dtype):
    epoch = torch_ref.train_epoch_ch8
    monkeypatch.setattr(torch_ref, 'train_epoch_ch8', lambda *a, theta=None, **k: epoch(*a, theta=1, **k))
    assert caught('train_epoch_no_clip', 'torch', dtype).status == 'FAIL'


@pytest.mark.parametrize('dtype', harness.DTYPES)
def test_a_detached_state_in_the_attached_epoch_is_caught(torch_ref, monkeypatch, dtype):
    epoch = torch_ref.train_epoch_ch8
    monkeypatch.setattr(torch_ref, 'train_epoch_ch8', lambda *a, detach=True, **k: epoch(*a, detach=True, **k))
    assert caught('train_epoch_no_detach', 'torch', dtype).status == 'FAIL'


@pytest.mark.parametrize('dtype', harness.DTYPES)
def test_a_renormalised_embedding_is_caught(torch_ref, monkeypatch, dtype):
    def renormalising_call(self, X, state):  # nn.Embedding(max_norm=1): rows rescaled on lookup
        embedded = torch_ref.F.embedding(X.T, self.params[-1], max_norm=1.0)
        return self.forward_fn(embedded, state, self.params[:-1])
    monkeypatch.setattr(torch_ref.EmbeddingRNNScratch, '__call__', renormalising_call)
    assert caught('embedding_rnn', 'torch', dtype).status == 'FAIL'
