"""TensorFlow references: the d2l chapter's TensorFlow/Keras code, changed only where marked ``# parity:``.

As in every adapter: hard-coded ``float32`` follows the data's dtype (Keras layers get a
``dtype``; without it Keras 3 casts float64 inputs down to float32), ``train_epoch_ch8``
returns the per-step losses instead of tokens/sec, and ``grad_clipping`` also returns the norm.
"""
import math
import os
import random

from . import available, load

if available('mxnet'):
    load('mxnet')  # MXNet 1.9.1 must be imported before TensorFlow, or the process dies
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import numpy as onp  # noqa: E402
import tensorflow as tf  # noqa: E402

VERSION = tf.__version__


def tensor(array):
    return tf.constant(array)


def numpy(x):
    return onp.asarray(x)


# --- Custom layers (the custom-layers chapter) ---------------------------------------------------------

class CenteredLayer(tf.keras.Model):
    def __init__(self, **kwargs):  # parity: **kwargs passes the dtype
        super().__init__(**kwargs)

    def call(self, X):
        return X - tf.reduce_mean(X)


class MyDense(tf.keras.Model):
    def __init__(self, units, **kwargs):  # parity: **kwargs passes the dtype
        super().__init__(**kwargs)
        self.units = units

    def build(self, X_shape):
        self.weight = self.add_weight(name='weight', shape=[X_shape[-1], self.units],
                                      initializer=tf.random_normal_initializer())
        self.bias = self.add_weight(name='bias', shape=[self.units], initializer=tf.zeros_initializer())

    def call(self, X):
        linear = tf.matmul(X, self.weight) + self.bias
        return tf.nn.relu(linear)


class TensorReductionLayer(tf.keras.Model):
    """Exercise 1 (no chapter code): ``y_k = sum_ij W_ijk x_i x_j``."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, X_shape):
        self.weight = self.add_weight(name='weight', shape=[X_shape[-1], X_shape[-1], self.units])

    def call(self, X):
        return tf.einsum('bi,ijk,bj->bk', X, self.weight, X)


class FourierHalfLayer(tf.keras.Model):
    """Exercise 2 (no chapter code): the first ceil(n/2) DFT coefficients as (real, imag) pairs."""

    def call(self, X):
        n = X.shape[-1]
        coeffs = tf.signal.fft(tf.complex(X, tf.zeros_like(X)))[..., :(n + 1) // 2]
        return tf.stack([tf.math.real(coeffs), tf.math.imag(coeffs)], axis=-1)


# --- RNN from scratch (the RNN chapter) -------------------------------------------------------------

def get_params(vocab_size, num_hiddens):
    num_inputs = num_outputs = vocab_size

    def normal(shape):
        return tf.random.normal(shape=shape, stddev=0.01, mean=0, dtype=tf.float32)
    W_xh = tf.Variable(normal((num_inputs, num_hiddens)), dtype=tf.float32)
    W_hh = tf.Variable(normal((num_hiddens, num_hiddens)), dtype=tf.float32)
    b_h = tf.Variable(tf.zeros(num_hiddens), dtype=tf.float32)
    W_hq = tf.Variable(normal((num_hiddens, num_outputs)), dtype=tf.float32)
    b_q = tf.Variable(tf.zeros(num_outputs), dtype=tf.float32)
    params = [W_xh, W_hh, b_h, W_hq, b_q]
    return params


def init_rnn_state(batch_size, num_hiddens):
    return (tf.zeros((batch_size, num_hiddens)), )


def rnn(inputs, state, params):
    W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs = []
    for X in inputs:
        X = tf.reshape(X, [-1, W_xh.shape[0]])
        H = tf.tanh(tf.matmul(X, W_xh) + tf.matmul(H, W_hh) + b_h)
        Y = tf.matmul(H, W_hq) + b_q
        outputs.append(Y)
    return tf.concat(outputs, axis=0), (H,)


def rnn_relu(inputs, state, params):
    """Exercise 6 (no seed code): :func:`rnn` with ReLU in place of tanh."""
    W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs = []
    for X in inputs:
        X = tf.reshape(X, [-1, W_xh.shape[0]])
        H = tf.nn.relu(tf.matmul(X, W_xh) + tf.matmul(H, W_hh) + b_h)
        outputs.append(tf.matmul(H, W_hq) + b_q)
    return tf.concat(outputs, axis=0), (H,)


class RNNModelScratch:
    def __init__(self, vocab_size, num_hiddens, init_state, forward_fn, get_params):
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.init_state, self.forward_fn = init_state, forward_fn
        self.trainable_variables = get_params(vocab_size, num_hiddens)

    def __call__(self, X, state):
        X = tf.one_hot(tf.transpose(X), self.vocab_size)
        X = tf.cast(X, self.trainable_variables[0].dtype)  # parity: was tf.float32
        return self.forward_fn(X, state, self.trainable_variables)

    def begin_state(self, batch_size, *args, **kwargs):
        state = self.init_state(batch_size, self.num_hiddens)
        return tuple(tf.cast(s, self.trainable_variables[0].dtype) for s in state)  # parity: dtype


class EmbeddingRNNScratch(RNNModelScratch):
    """Exercise 2 (no seed code): a lookup in a learned embedding (the last trainable variable,
    ``(vocab, dim)``) in place of the one-hot input."""

    def __call__(self, X, state):
        E = self.trainable_variables[-1]
        return self.forward_fn(tf.gather(E, tf.transpose(X)), state, self.trainable_variables[:-1])


def scratch_model(params, forward_fn=None, embedded=False):
    """:class:`RNNModelScratch` with ``params`` (``W_xh, W_hh, b_h, W_hq, b_q``) as weights;
    with ``embedded`` the last entry of ``params`` is an embedding ``(vocab, dim)``."""
    forward_fn = forward_fn or rnn  # looked up now, so a test can patch rnn
    given_params = lambda vocab_size, num_hiddens: [tf.Variable(p) for p in params]  # noqa: E731
    if embedded:
        return EmbeddingRNNScratch(params[-1].shape[0], params[0].shape[1], init_rnn_state, forward_fn,
                                   given_params)
    return RNNModelScratch(*params[0].shape, init_rnn_state, forward_fn, given_params)


def predict_ch8(prefix, num_preds, net, vocab):
    state = net.begin_state(batch_size=1, dtype=tf.float32)
    outputs = [vocab[prefix[0]]]
    get_input = lambda: tf.reshape(tf.constant([outputs[-1]]), (1, 1)).numpy()  # noqa: E731
    for y in prefix[1:]:
        _, state = net(get_input(), state)
        outputs.append(vocab[y])
    for _ in range(num_preds):
        y, state = net(get_input(), state)
        outputs.append(int(y.numpy().argmax(axis=1).reshape(1)))
    return ''.join([vocab.idx_to_token[i] for i in outputs])


def grad_clipping(grads, theta):
    theta = tf.constant(theta, dtype=grads[0].dtype)  # parity: was tf.float32
    new_grad = []
    for grad in grads:
        if isinstance(grad, tf.IndexedSlices):
            new_grad.append(tf.convert_to_tensor(grad))
        else:
            new_grad.append(grad)
    norm = tf.math.sqrt(sum((tf.reduce_sum(grad ** 2)).numpy() for grad in new_grad))
    # parity: the chapter casts the norm to float32, which costs float64 runs 8 digits
    norm = tf.cast(norm, grads[0].dtype)
    if tf.greater(norm, theta):
        for i, grad in enumerate(new_grad):
            new_grad[i] = grad * theta / norm
    else:
        new_grad = new_grad
    return new_grad, float(norm)  # parity: also the norm


def seq_data_iter_sequential(corpus, batch_size, num_steps):
    offset = random.randint(0, num_steps)
    num_tokens = ((len(corpus) - offset - 1) // batch_size) * batch_size
    Xs = tf.constant(corpus[offset: offset + num_tokens])
    Ys = tf.constant(corpus[offset + 1: offset + 1 + num_tokens])
    Xs = tf.reshape(Xs, (batch_size, -1))
    Ys = tf.reshape(Ys, (batch_size, -1))
    num_batches = Xs.shape[1] // num_steps
    for i in range(0, num_batches * num_steps, num_steps):
        X = Xs[:, i: i + num_steps]
        Y = Ys[:, i: i + num_steps]
        yield X, Y


def train_epoch_ch8(net, train_iter, loss, updater, use_random_iter, theta=1, detach=True):
    # parity: theta=None skips clipping; detach=False re-runs the epoch's earlier minibatches
    # inside the tape (see the PyTorch reference)
    state, losses, history = None, [], []
    loss_sum, num_tokens = 0.0, 0
    for X, Y in train_iter:
        if state is None or use_random_iter or not detach:
            state = net.begin_state(batch_size=X.shape[0], dtype=tf.float32)
        with tf.GradientTape(persistent=True) as g:
            for earlier in history:
                _, state = net(earlier, state)
            y_hat, state = net(X, state)
            y = tf.reshape(tf.transpose(Y), (-1))
            l = loss(y, y_hat)
        if not detach:
            history.append(X)
        params = net.trainable_variables
        grads = g.gradient(l, params)
        if theta is not None:
            grads, _ = grad_clipping(grads, theta)
        updater.apply_gradients(zip(grads, params))
        losses.append(float(l))
        loss_sum, num_tokens = loss_sum + float(l) * int(tf.size(y)), num_tokens + int(tf.size(y))
    return math.exp(loss_sum / num_tokens), losses


# --- Concise RNN (d2l's rnn-concise chapter) -------------------------------------------------

class RNNModel(tf.keras.layers.Layer):
    def __init__(self, rnn_layer, vocab_size, **kwargs):
        super().__init__(**kwargs)
        self.rnn = rnn_layer
        self.vocab_size = vocab_size
        self.dense = tf.keras.layers.Dense(vocab_size, dtype=self.dtype)

    def call(self, inputs, state):
        # parity: Keras 3 dropped time_major, so the RNN runs batch-major and Y is transposed
        # back to d2l's (num_steps, batch_size, num_hiddens) before the Dense layer.
        X = tf.one_hot(inputs, self.vocab_size, dtype=self.compute_dtype)
        Y, *state = self.rnn(X, state)
        Y = tf.transpose(Y, (1, 0, 2))
        output = self.dense(tf.reshape(Y, (-1, Y.shape[-1])))
        return output, state

    def begin_state(self, batch_size):
        return [tf.zeros((batch_size, self.rnn.units), dtype=self.compute_dtype)]


def from_gluon_rnn(vocab_size, activation, gluon_params):
    """A :class:`RNNModel` over ``SimpleRNN`` holding the weights of ``gluon_d2l.RNNModel``.

    From Gluon's ``[i2h_weight (H, V), h2h_weight (H, H), i2h_bias, h2h_bias, dense_weight
    (V, H), dense_bias]``: Keras keeps kernels as (inputs, units), so every matrix is
    transposed, and ``SimpleRNN`` has one bias where Gluon has two, so it gets their sum.
    """
    i2h_w, h2h_w, i2h_b, h2h_b, dense_w, dense_b = gluon_params
    dtype = i2h_w.dtype.name
    layer = tf.keras.layers.SimpleRNN(h2h_w.shape[0], activation=activation, return_sequences=True,
                                      return_state=True, dtype=dtype)
    net = RNNModel(layer, vocab_size, dtype=dtype)
    net(tf.zeros((1, 1), dtype=tf.int32), net.begin_state(1))  # builds the weights
    layer.set_weights([i2h_w.T, h2h_w.T, i2h_b + h2h_b])
    net.dense.set_weights([dense_w.T, dense_b])
    return net


def to_gluon_grads(net, grads):
    """Keras gradients of :func:`from_gluon_rnn`'s net in Gluon's layout and order.

    The loss depends on the two Gluon biases only through their sum, so each bias gets the
    gradient of Keras's single bias.
    """
    by_name = {v.path: numpy(g) for v, g in zip(net.trainable_variables, grads)}
    kernel, recurrent, bias, dense_w, dense_b = (by_name[v.path] for v in (
        net.rnn.cell.kernel, net.rnn.cell.recurrent_kernel, net.rnn.cell.bias, net.dense.kernel,
        net.dense.bias))
    return [kernel.T, recurrent.T, bias, bias, dense_w.T, dense_b]
