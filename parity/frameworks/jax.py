"""JAX references: the custom-layers chapter's Flax layers, and the RNN chapter written functionally in JAX.

The RNN chapter has no JAX code, so its functions are translated one to one, with JAX's usual
changes: parameters are a list passed explicitly, ``grad_clipping`` and ``sgd`` return new
arrays instead of editing in place, and a gradient is ``jax.value_and_grad`` of a loss
function. A carried hidden state is a plain array, so it is detached by construction.
"""
import math
import random

import jax
import numpy as onp
import optax
from flax import linen as nn
from jax import numpy as jnp

jax.config.update('jax_enable_x64', True)  # float64 runs; float32 arrays stay float32
VERSION = jax.__version__ + ('' if jax.default_backend() == 'cpu' else
                             f' ({jax.default_backend()}, matmul precision '
                             f'{jax.config.jax_default_matmul_precision or "default"})')


def tensor(array):
    return jnp.asarray(array)


def numpy(x):
    return onp.asarray(x)


# --- Custom layers (the custom-layers chapter) ----------------------------------------------------------------

class CenteredLayer(nn.Module):
    def __call__(self, X):
        return X - X.mean()


class MyDense(nn.Module):
    in_units: int
    units: int

    def setup(self):
        self.weight = self.param('weight', nn.initializers.normal(stddev=1), (self.in_units, self.units))
        self.bias = self.param('bias', nn.initializers.zeros, self.units)

    def __call__(self, X):
        linear = jnp.matmul(X, self.weight) + self.bias
        return nn.relu(linear)


class TensorReductionLayer(nn.Module):
    """Exercise 1 (no chapter code): ``y_k = sum_ij W_ijk x_i x_j``."""
    in_units: int
    units: int

    @nn.compact
    def __call__(self, X):
        weight = self.param('weight', nn.initializers.normal(), (self.in_units, self.in_units, self.units))
        return jnp.einsum('bi,ijk,bj->bk', X, weight, X)


class FourierHalfLayer(nn.Module):
    """Exercise 2 (no chapter code): the first ceil(n/2) DFT coefficients as (real, imag) pairs."""

    def __call__(self, X):
        coeffs = jnp.fft.fft(X)[..., :(X.shape[-1] + 1) // 2]
        return jnp.stack([coeffs.real, coeffs.imag], axis=-1)


# --- RNN from scratch (the RNN chapter, translated) -------------------------------------------------

def get_params(vocab_size, num_hiddens, key):
    """The chapter's weights in float32, as the other frameworks make them (this module enables
    float64 for the float64 parity runs, which would otherwise make ``jax.random`` draw float64)."""
    num_inputs = num_outputs = vocab_size
    k1, k2, k3 = jax.random.split(key, 3)
    W_xh = jax.random.normal(k1, (num_inputs, num_hiddens), dtype=jnp.float32) * 0.01
    W_hh = jax.random.normal(k2, (num_hiddens, num_hiddens), dtype=jnp.float32) * 0.01
    b_h = jnp.zeros(num_hiddens, dtype=jnp.float32)
    W_hq = jax.random.normal(k3, (num_hiddens, num_outputs), dtype=jnp.float32) * 0.01
    b_q = jnp.zeros(num_outputs, dtype=jnp.float32)
    return [W_xh, W_hh, b_h, W_hq, b_q]


def init_rnn_state(batch_size, num_hiddens, dtype=jnp.float32):
    return (jnp.zeros((batch_size, num_hiddens), dtype=dtype), )


def rnn(inputs, state, params):
    W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs = []
    for X in inputs:
        H = jnp.tanh(jnp.dot(X, W_xh) + jnp.dot(H, W_hh) + b_h)
        Y = jnp.dot(H, W_hq) + b_q
        outputs.append(Y)
    return jnp.concatenate(outputs, axis=0), (H,)


def rnn_relu(inputs, state, params):
    """Exercise 6 (no seed code): :func:`rnn` with ReLU in place of tanh."""
    W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs = []
    for X in inputs:
        H = jax.nn.relu(jnp.dot(X, W_xh) + jnp.dot(H, W_hh) + b_h)
        outputs.append(jnp.dot(H, W_hq) + b_q)
    return jnp.concatenate(outputs, axis=0), (H,)


class RNNModelScratch:
    def __init__(self, vocab_size, num_hiddens, key, get_params, init_state, forward_fn):
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.params = get_params(vocab_size, num_hiddens, key)
        self.init_state, self.forward_fn = init_state, forward_fn

    def __call__(self, X, state, params=None):
        params = self.params if params is None else params
        X = jax.nn.one_hot(X.T, self.vocab_size, dtype=params[0].dtype)
        return self.forward_fn(X, state, params)

    def begin_state(self, batch_size):
        return self.init_state(batch_size, self.num_hiddens, self.params[0].dtype)


class EmbeddingRNNScratch(RNNModelScratch):
    """Exercise 2 (no seed code): ``jnp.take`` from a learned embedding (the last entry of
    ``params``, ``(vocab, dim)``) in place of the one-hot input."""

    def __call__(self, X, state, params=None):
        params = self.params if params is None else params
        return self.forward_fn(jnp.take(params[-1], X.T, axis=0), state, params[:-1])


def scratch_model(params, forward_fn=None, embedded=False):
    """:class:`RNNModelScratch` with ``params`` (``W_xh, W_hh, b_h, W_hq, b_q``) as weights;
    with ``embedded`` the last entry of ``params`` is an embedding ``(vocab, dim)``."""
    forward_fn = forward_fn or rnn  # looked up now, so a test can patch rnn
    given_params = lambda vocab_size, num_hiddens, key: [jnp.asarray(p) for p in params]  # noqa: E731
    if embedded:
        return EmbeddingRNNScratch(params[-1].shape[0], params[0].shape[1], None, given_params,
                                   init_rnn_state, forward_fn)
    return RNNModelScratch(*params[0].shape, None, given_params, init_rnn_state, forward_fn)


def predict_ch8(prefix, num_preds, net, vocab):
    state = net.begin_state(batch_size=1)
    outputs = [vocab[prefix[0]]]
    get_input = lambda: jnp.array([outputs[-1]]).reshape((1, 1))  # noqa: E731
    for y in prefix[1:]:
        _, state = net(get_input(), state)
        outputs.append(vocab[y])
    for _ in range(num_preds):
        y, state = net(get_input(), state)
        outputs.append(int(y.argmax(axis=1)[0]))
    return ''.join([vocab.idx_to_token[i] for i in outputs])


def grad_clipping(grads, theta):
    """Rescale ``grads`` (any pytree) to global L2 norm at most ``theta``; return them and the norm."""
    norm = jnp.sqrt(sum(jnp.sum(g ** 2) for g in jax.tree_util.tree_leaves(grads)))
    scale = jnp.where(norm > theta, theta / norm, 1.0).astype(norm.dtype)
    return jax.tree_util.tree_map(lambda g: g * scale, grads), float(norm)


def sgd(params, grads, lr, batch_size):
    return jax.tree_util.tree_map(lambda p, g: p - lr * g / batch_size, params, grads)


def loss(y_hat, y):
    """Mean softmax cross-entropy of logits ``y_hat`` against integer labels ``y``."""
    return optax.softmax_cross_entropy_with_integer_labels(y_hat, y).mean()


def loss_and_grads(net):
    """``f(params, state, X, Y) -> ((loss, new_state), grads)`` for a scratch model."""
    def objective(params, state, X, Y):
        y_hat, state = net(X, state, params)
        return loss(y_hat, Y.T.reshape(-1)), state
    return jax.value_and_grad(objective, has_aux=True)


def seq_data_iter_sequential(corpus, batch_size, num_steps):
    offset = random.randint(0, num_steps)
    num_tokens = ((len(corpus) - offset - 1) // batch_size) * batch_size
    Xs = jnp.array(corpus[offset: offset + num_tokens])
    Ys = jnp.array(corpus[offset + 1: offset + 1 + num_tokens])
    Xs, Ys = Xs.reshape(batch_size, -1), Ys.reshape(batch_size, -1)
    num_batches = Xs.shape[1] // num_steps
    for i in range(0, num_steps * num_batches, num_steps):
        X = Xs[:, i: i + num_steps]
        Y = Ys[:, i: i + num_steps]
        yield X, Y


def attached_loss_and_grads(net):
    """``f(params, state, history, X, Y)``: :func:`loss_and_grads` after running the minibatches in
    ``history`` from ``state`` (exercise 5: the state stays attached to them)."""
    def objective(params, state, history, X, Y):
        for earlier in history:
            _, state = net(earlier, state, params)
        y_hat, state = net(X, state, params)
        return loss(y_hat, Y.T.reshape(-1)), state
    return jax.value_and_grad(objective, has_aux=True)


def train_epoch_ch8(net, train_iter, lr, use_random_iter, theta=1.0, detach=True):
    """One epoch of SGD on a scratch model, clipped unless ``theta`` is None; returns
    ``(perplexity, per-step losses)``. ``detach=False``: see the PyTorch reference."""
    if getattr(net, '_jitted_step', None) is None:  # compiled once per model, not once per epoch
        net._jitted_step = jax.jit(loss_and_grads(net))
    state, losses, step, history = None, [], net._jitted_step, []
    attached = attached_loss_and_grads(net)
    loss_sum, num_tokens = 0.0, 0
    for X, Y in train_iter:
        if state is None or use_random_iter or not detach:
            state = net.begin_state(batch_size=X.shape[0])
        if detach:
            (l, state), grads = step(net.params, state, X, Y)
        else:
            (l, state), grads = attached(net.params, state, history, X, Y)
            history.append(X)
        if theta is not None:
            grads, _ = grad_clipping(grads, theta)
        net.params = sgd(net.params, grads, lr, batch_size=1)
        losses.append(float(l))
        loss_sum, num_tokens = loss_sum + float(l) * Y.size, num_tokens + Y.size
    return math.exp(loss_sum / num_tokens), losses


# --- Concise RNN -----------------------------------------------------------------------------

class RNNModel(nn.Module):
    """Flax's ``nn.RNN`` over ``nn.SimpleCell``, time-major, then a Dense layer, as in d2l."""
    vocab_size: int
    num_hiddens: int
    activation: str = 'tanh'

    @nn.compact
    def __call__(self, inputs, state):
        X = jax.nn.one_hot(inputs.T, self.vocab_size, dtype=state.dtype)
        cell = nn.SimpleCell(self.num_hiddens, activation_fn=getattr(nn, self.activation))
        state, Y = nn.RNN(cell, time_major=True, return_carry=True)(X, initial_carry=state)
        return nn.Dense(self.vocab_size)(Y.reshape((-1, Y.shape[-1]))), state


def from_gluon_rnn(gluon_params):
    """Flax parameters for :class:`RNNModel` from ``gluon_d2l.RNNModel``'s, in Gluon's order.

    Flax kernels are (inputs, features), so Gluon's ``i2h_weight``, ``h2h_weight`` and
    ``dense_weight`` are transposed; ``SimpleCell`` has one bias (on its input Dense ``i``;
    ``h`` has none) where Gluon has two, so it gets their sum.
    """
    i2h_w, h2h_w, i2h_b, h2h_b, dense_w, dense_b = (jnp.asarray(p) for p in gluon_params)
    return {'params': {
        'SimpleCell_0': {'i': {'kernel': i2h_w.T, 'bias': i2h_b + h2h_b}, 'h': {'kernel': h2h_w.T}},
        'Dense_0': {'kernel': dense_w.T, 'bias': dense_b}}}


def to_gluon_grads(grads):
    """Gradients w.r.t. :func:`from_gluon_rnn`'s parameters in Gluon's layout and order."""
    cell, dense = grads['params']['SimpleCell_0'], grads['params']['Dense_0']
    bias = numpy(cell['i']['bias'])
    return [numpy(cell['i']['kernel']).T, numpy(cell['h']['kernel']).T, bias, bias,
            numpy(dense['kernel']).T, numpy(dense['bias'])]
