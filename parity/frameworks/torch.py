"""PyTorch references: the d2l chapter's PyTorch code, changed only where marked ``# parity:``.

Changes made for every adapter: hard-coded ``float32`` follows the parameters' dtype (the
float64 runs need it), ``train_epoch_ch8`` returns the per-step losses instead of tokens/sec,
and ``grad_clipping`` returns the norm, as ``gluon_d2l.grad_clipping`` does.

Tensors live on ``$PARITY_TORCH_DEVICE`` (default ``cpu``; ``cuda`` for a GPU run).
"""
import math
import os
import random

import numpy as onp
import torch
from torch import nn
from torch.nn import functional as F

device = torch.device(os.environ.get('PARITY_TORCH_DEVICE', 'cpu'))
TF32 = torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32
VERSION = torch.__version__ + (f' (cuda, TF32 {"on" if TF32 else "off"})' if device.type == 'cuda' else '')


def tensor(array):
    """A NumPy array as a tensor on ``device``; integers become int64, torch's index type."""
    array = onp.asarray(array)
    return torch.from_numpy(array.astype('int64') if array.dtype.kind in 'iu' else array.copy()).to(device)


def numpy(x):
    return x.detach().cpu().numpy()


def load(module, arrays):
    """Cast ``module`` to the arrays' dtype and copy ``arrays`` into its parameters, in order."""
    params = list(module.to(device, tensor(arrays[0]).dtype).parameters())
    if len(params) != len(arrays):
        raise ValueError(f'{len(arrays)} arrays for the {len(params)} parameters of {type(module).__name__}')
    with torch.no_grad():
        for param, value in zip(params, arrays):
            param.copy_(tensor(value))
    return module


# --- Custom layers (the custom-layers chapter) ---------------------------------------------------------

class CenteredLayer(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, X):
        return X - X.mean()


class MyLinear(nn.Module):
    def __init__(self, in_units, units):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_units, units))
        self.bias = nn.Parameter(torch.randn(units,))

    def forward(self, X):
        # parity: the chapter uses self.weight.data and self.bias.data, which cuts them out of
        # autograd: the layer would never learn (its gradients stay None).
        linear = torch.matmul(X, self.weight) + self.bias
        return F.relu(linear)


class TensorReductionLayer(nn.Module):
    """Exercise 1 (no chapter code): ``y_k = sum_ij W_ijk x_i x_j``."""

    def __init__(self, in_units, units):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_units, in_units, units))

    def forward(self, X):
        return torch.einsum('bi,ijk,bj->bk', X, self.weight, X)


class FourierHalfLayer(nn.Module):
    """Exercise 2 (no chapter code): the first ceil(n/2) DFT coefficients as (real, imag) pairs."""

    def forward(self, X):
        n = X.shape[-1]
        return torch.view_as_real(torch.fft.fft(X)[..., :(n + 1) // 2])


# --- RNN from scratch (the RNN chapter) -------------------------------------------------------------

def get_params(vocab_size, num_hiddens, device):
    num_inputs = num_outputs = vocab_size

    def normal(shape):
        return torch.randn(size=shape, device=device) * 0.01
    W_xh = normal((num_inputs, num_hiddens))
    W_hh = normal((num_hiddens, num_hiddens))
    b_h = torch.zeros(num_hiddens, device=device)
    W_hq = normal((num_hiddens, num_outputs))
    b_q = torch.zeros(num_outputs, device=device)
    params = [W_xh, W_hh, b_h, W_hq, b_q]
    for param in params:
        param.requires_grad_(True)
    return params


def init_rnn_state(batch_size, num_hiddens, device):
    return (torch.zeros((batch_size, num_hiddens), device=device), )


def rnn(inputs, state, params):
    W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs = []
    for X in inputs:
        H = torch.tanh(torch.mm(X, W_xh) + torch.mm(H, W_hh) + b_h)
        Y = torch.mm(H, W_hq) + b_q
        outputs.append(Y)
    return torch.cat(outputs, dim=0), (H,)


def rnn_relu(inputs, state, params):
    """Exercise 6 (no seed code): :func:`rnn` with ReLU in place of tanh."""
    W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs = []
    for X in inputs:
        H = torch.relu(torch.mm(X, W_xh) + torch.mm(H, W_hh) + b_h)
        outputs.append(torch.mm(H, W_hq) + b_q)
    return torch.cat(outputs, dim=0), (H,)


class RNNModelScratch:
    def __init__(self, vocab_size, num_hiddens, device, get_params, init_state, forward_fn):
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.params = get_params(vocab_size, num_hiddens, device)
        self.init_state, self.forward_fn = init_state, forward_fn

    def __call__(self, X, state):
        X = F.one_hot(X.T, self.vocab_size).type(self.params[0].dtype)  # parity: was torch.float32
        return self.forward_fn(X, state, self.params)

    def begin_state(self, batch_size, device):
        state = self.init_state(batch_size, self.num_hiddens, device)
        return tuple(s.type(self.params[0].dtype) for s in state)  # parity: dtype of the params


class EmbeddingRNNScratch(RNNModelScratch):
    """Exercise 2 (no seed code): an ``nn.Embedding`` in place of the one-hot input; its weight
    is the last entry of ``params``."""

    def __init__(self, vocab_size, num_hiddens, device, get_params, init_state, forward_fn):
        super().__init__(vocab_size, num_hiddens, device, get_params, init_state, forward_fn)
        self.embedding = nn.Embedding.from_pretrained(self.params[-1], freeze=False)
        self.params[-1] = self.embedding.weight

    def __call__(self, X, state):
        return self.forward_fn(self.embedding(X.T), state, self.params[:-1])


def scratch_model(params, forward_fn=None, embedded=False):
    """:class:`RNNModelScratch` with ``params`` (``W_xh, W_hh, b_h, W_hq, b_q``) as weights;
    with ``embedded`` the last entry of ``params`` is an embedding ``(vocab, dim)``."""
    forward_fn = forward_fn or rnn  # looked up now, so a test can patch rnn

    def given_params(vocab_size, num_hiddens, device):
        return [tensor(p).requires_grad_(True) for p in params]
    if embedded:
        return EmbeddingRNNScratch(params[-1].shape[0], params[0].shape[1], device, given_params,
                                   init_rnn_state, forward_fn)
    return RNNModelScratch(*params[0].shape, device, given_params, init_rnn_state, forward_fn)


def predict_ch8(prefix, num_preds, net, vocab, device):
    state = net.begin_state(batch_size=1, device=device)
    outputs = [vocab[prefix[0]]]
    get_input = lambda: torch.tensor([outputs[-1]], device=device).reshape((1, 1))  # noqa: E731
    for y in prefix[1:]:
        _, state = net(get_input(), state)
        outputs.append(vocab[y])
    for _ in range(num_preds):
        y, state = net(get_input(), state)
        outputs.append(int(y.argmax(dim=1).reshape(1)))
    return ''.join([vocab.idx_to_token[i] for i in outputs])


def grad_clipping(net, theta):
    if isinstance(net, nn.Module):
        params = [p for p in net.parameters() if p.requires_grad]
    else:
        params = net.params
    norm = torch.sqrt(sum(torch.sum((p.grad ** 2)) for p in params))
    if norm > theta:
        for param in params:
            param.grad[:] *= theta / norm
    return float(norm)


def sgd(params, lr, batch_size):
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()


def seq_data_iter_sequential(corpus, batch_size, num_steps):
    offset = random.randint(0, num_steps)
    num_tokens = ((len(corpus) - offset - 1) // batch_size) * batch_size
    Xs = torch.tensor(corpus[offset: offset + num_tokens])
    Ys = torch.tensor(corpus[offset + 1: offset + 1 + num_tokens])
    Xs, Ys = Xs.reshape(batch_size, -1), Ys.reshape(batch_size, -1)
    num_batches = Xs.shape[1] // num_steps
    for i in range(0, num_steps * num_batches, num_steps):
        X = Xs[:, i: i + num_steps]
        Y = Ys[:, i: i + num_steps]
        yield X, Y


def train_epoch_ch8(net, train_iter, loss, updater, device, use_random_iter, theta=1, detach=True):
    # parity: theta=None skips clipping (exercise 4); detach=False (exercise 5) re-runs the
    # epoch's earlier minibatches from the initial state with the current weights, so the loss
    # of minibatch k is differentiated through minibatches 1..k (the d2l chapter always detaches)
    state, losses, history = None, [], []
    loss_sum, num_tokens = 0.0, 0
    for X, Y in train_iter:
        if state is None or use_random_iter or not detach:
            state = net.begin_state(batch_size=X.shape[0], device=device)
        else:
            if isinstance(net, nn.Module) and not isinstance(state, tuple):
                state.detach_()
            else:
                for s in state:
                    s.detach_()
        for earlier in history:
            _, state = net(earlier.to(device), state)
        if not detach:
            history.append(X)
        y = Y.T.reshape(-1)
        X, y = X.to(device), y.to(device)
        y_hat, state = net(X, state)
        l = loss(y_hat, y.long()).mean()
        if isinstance(updater, torch.optim.Optimizer):
            updater.zero_grad()
            l.backward()
            if theta is not None:
                grad_clipping(net, theta)
            updater.step()
        else:
            l.backward()
            if theta is not None:
                grad_clipping(net, theta)
            updater(batch_size=1)
        losses.append(l.item())
        loss_sum, num_tokens = loss_sum + l.item() * y.numel(), num_tokens + y.numel()
    return math.exp(loss_sum / num_tokens), losses


# --- Concise RNN (d2l's rnn-concise chapter) -------------------------------------------------

class RNNModel(nn.Module):
    def __init__(self, rnn_layer, vocab_size, **kwargs):
        super().__init__(**kwargs)
        self.rnn = rnn_layer
        self.vocab_size = vocab_size
        self.num_hiddens = self.rnn.hidden_size
        self.num_directions = 1
        self.linear = nn.Linear(self.num_hiddens, self.vocab_size)

    def forward(self, inputs, state):
        X = F.one_hot(inputs.T.long(), self.vocab_size)
        X = X.to(self.linear.weight.dtype)  # parity: was torch.float32
        Y, state = self.rnn(X, state)
        output = self.linear(Y.reshape((-1, Y.shape[-1])))
        return output, state

    def begin_state(self, device, batch_size=1):
        return torch.zeros((self.num_directions * self.rnn.num_layers, batch_size, self.num_hiddens),
                           device=device, dtype=self.linear.weight.dtype)


class EmbeddingRNNModel(RNNModel):
    """Exercise 2 (no seed code): :class:`RNNModel` fed from an ``nn.Embedding`` (registered last,
    as in Gluon) instead of one-hot rows."""

    def __init__(self, rnn_layer, vocab_size, embedding, **kwargs):
        super().__init__(rnn_layer, vocab_size, **kwargs)
        self.embedding = nn.Embedding(vocab_size, embedding)

    def forward(self, inputs, state):
        Y, state = self.rnn(self.embedding(inputs.T.long()), state)
        return self.linear(Y.reshape((-1, Y.shape[-1]))), state


def from_gluon_rnn(vocab_size, activation, gluon_params):
    """An :class:`RNNModel` over ``nn.RNN`` holding the weights of ``gluon_d2l.RNNModel``.

    ``gluon_params`` is in Gluon's order: ``l0_i2h_weight (H, V)``, ``l0_h2h_weight (H, H)``,
    ``l0_i2h_bias``, ``l0_h2h_bias``, ``dense_weight (V, H)``, ``dense_bias``. PyTorch has the
    same layout and order (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``,
    ``linear.weight``, ``linear.bias``): nothing is transposed or merged. Gluon's ``RNN``
    defaults to ReLU, PyTorch's to tanh, so ``activation`` is passed explicitly.
    """
    num_hiddens = gluon_params[1].shape[0]
    if len(gluon_params) == 7:  # parity: RNNModel(embedding=DIM), its embedding weight last
        embedding = gluon_params[-1].shape[1]
        layer = nn.RNN(embedding, num_hiddens, nonlinearity=activation)
        return load(EmbeddingRNNModel(layer, vocab_size, embedding), gluon_params)
    layer = nn.RNN(vocab_size, num_hiddens, nonlinearity=activation)
    return load(RNNModel(layer, vocab_size), gluon_params)
