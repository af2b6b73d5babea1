"""Character-level RNN language models: from scratch, hybridized, and concise."""
from mxnet import init, np, npx
from mxnet.gluon import nn
from mxnet.util import use_np

from .checks import check_positive_int, check_state


@use_np
def get_params(vocab_size, num_hiddens, device):
    """Create the scratch RNN's parameters ``[W_xh, W_hh, b_h, W_hq, b_q]`` on ``device``."""
    num_inputs = num_outputs = check_positive_int('vocab_size', vocab_size)
    check_positive_int('num_hiddens', num_hiddens)

    def normal(shape):
        return np.random.normal(scale=0.01, size=shape, ctx=device)

    params = [normal((num_inputs, num_hiddens)), normal((num_hiddens, num_hiddens)),
              np.zeros(num_hiddens, ctx=device),
              normal((num_hiddens, num_outputs)), np.zeros(num_outputs, ctx=device)]
    for param in params:
        param.attach_grad()
    return params


@use_np
def init_rnn_state(batch_size, num_hiddens, device):
    """Return the initial hidden state: a 1-tuple holding zeros of shape ``(batch, hiddens)``."""
    return (np.zeros((batch_size, num_hiddens), ctx=device),)


@use_np
def rnn(inputs, state, params):
    """Run the tanh RNN over one-hot ``inputs`` of shape ``(num_steps, batch, vocab)``.

    Returns the outputs of every step stacked to ``(num_steps * batch, vocab)``
    and the final state.
    """
    W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs = []
    for X in inputs:
        H = np.tanh(np.dot(X, W_xh) + np.dot(H, W_hh) + b_h)
        outputs.append(np.dot(H, W_hq) + b_q)
    return np.concatenate(outputs, axis=0), (H,)


def check_token_batch(X, vocab_size):
    """Raise ``ValueError`` unless ``X`` is a 2-D batch of token ids in ``[0, vocab_size)``."""
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f'X must have shape (batch_size, num_steps), got {tuple(X.shape)}')
    ids = X.asnumpy()
    if ids.min() < 0 or ids.max() >= vocab_size:
        raise ValueError(f'X holds token ids in [{ids.min()}, {ids.max()}], outside the vocabulary '
                         f'[0, {vocab_size})')


@use_np
class RNNModelScratch:
    """An RNN model built from plain functions and a list of arrays (no Gluon Block)."""

    def __init__(self, vocab_size, num_hiddens, device, get_params, init_state, forward_fn):
        self.vocab_size = check_positive_int('vocab_size', vocab_size)
        self.num_hiddens = check_positive_int('num_hiddens', num_hiddens)
        self.params = get_params(vocab_size, num_hiddens, device)
        self.init_state, self.forward_fn = init_state, forward_fn

    def __call__(self, X, state):
        check_token_batch(X, self.vocab_size)
        check_state('state', state, X.shape[0], self.num_hiddens)
        X = npx.one_hot(X.T, self.vocab_size, dtype=self.params[0].dtype)
        return self.forward_fn(X, state, self.params)

    def begin_state(self, batch_size, ctx):
        """Return the initial state for ``batch_size`` sequences on ``ctx``."""
        state = self.init_state(batch_size, self.num_hiddens, ctx)
        return tuple(s.astype(self.params[0].dtype, copy=False) for s in state)


@use_np
class HybridRNNScratch(nn.HybridBlock):
    """The scratch RNN as a HybridBlock: same parameters, same math, one graph per call.

    The parameters are those of :func:`get_params` (``W_xh, W_hh, b_h, W_hq, b_q``,
    same shapes and layout). The whole recurrence runs as one fused
    ``npx.rnn`` call in ``rnn_tanh`` mode, fed the transposed weights and a zero
    second bias, so it computes ``H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h)``
    like :func:`rnn`; the output layer is one matrix product over all steps.
    For float64, ``cast('float64')`` after ``initialize()``: MXNet's ``Normal``
    initializer fails on float64 parameters in NumPy mode.
    """

    param_names = ('W_xh', 'W_hh', 'b_h', 'W_hq', 'b_q')

    def __init__(self, vocab_size, num_hiddens, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = check_positive_int('vocab_size', vocab_size)
        self.num_hiddens = check_positive_int('num_hiddens', num_hiddens)
        shapes = [(vocab_size, num_hiddens), (num_hiddens, num_hiddens), (num_hiddens,),
                  (num_hiddens, vocab_size), (vocab_size,)]
        with self.name_scope():
            for name, shape in zip(self.param_names, shapes):
                initializer = init.Zero() if name.startswith('b') else init.Normal(0.01)
                setattr(self, name, self.params.get(name, shape=shape, init=initializer))

    def forward(self, X, state):
        check_token_batch(X, self.vocab_size)
        check_state('state', state, X.shape[0], self.num_hiddens)
        Y, H = super().forward(X, state[0])
        return Y, (H,)

    def hybrid_forward(self, F, X, H, W_xh, W_hh, b_h, W_hq, b_q):
        inputs = F.npx.one_hot(F.np.transpose(X), self.vocab_size, dtype=self.W_hh.dtype)
        fused = F.np.concatenate([F.np.transpose(W_xh).reshape(-1), F.np.transpose(W_hh).reshape(-1),
                                  b_h, F.np.zeros_like(b_h)])
        hiddens, H = F.npx.rnn(inputs, fused, F.np.expand_dims(H, 0), state_size=self.num_hiddens,
                               num_layers=1, mode='rnn_tanh', state_outputs=True)
        Y = F.np.dot(hiddens.reshape((-1, self.num_hiddens)), W_hq) + b_q
        return Y, F.np.squeeze(H, axis=0)

    def begin_state(self, batch_size, ctx):
        """Return the initial state for ``batch_size`` sequences on ``ctx``."""
        return (np.zeros((batch_size, self.num_hiddens), ctx=ctx, dtype=self.W_hh.dtype),)


@use_np
class RNNModel(nn.HybridBlock):
    """The concise model: a ``gluon.rnn`` layer followed by a Dense output layer."""

    def __init__(self, rnn_layer, vocab_size, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = check_positive_int('vocab_size', vocab_size)
        self.num_hiddens = rnn_layer._hidden_size * (2 if rnn_layer._dir == 2 else 1)
        with self.name_scope():
            self.rnn = rnn_layer
            self.dense = nn.Dense(vocab_size, in_units=self.num_hiddens, flatten=False)

    def forward(self, inputs, state):
        check_token_batch(inputs, self.vocab_size)
        return super().forward(inputs, state)

    def hybrid_forward(self, F, inputs, state):
        X = F.npx.one_hot(F.np.transpose(inputs), self.vocab_size, dtype=self.dense.weight.dtype)
        Y, state = self.rnn(X, state)
        return self.dense(Y.reshape((-1, self.num_hiddens))), state

    def begin_state(self, *args, **kwargs):
        """Return the initial state of the wrapped ``gluon.rnn`` layer."""
        return self.rnn.begin_state(*args, **kwargs)


MODEL_KINDS = ('scratch', 'hybrid', 'concise')


@use_np
def build_model(kind, vocab_size, num_hiddens, devices):
    """Build and initialise a model of ``kind`` (see ``MODEL_KINDS``) on ``devices``.

    ``scratch`` is :class:`RNNModelScratch` (one device only); ``hybrid`` is
    :class:`HybridRNNScratch` and ``concise`` is :class:`RNNModel` over
    ``gluon.rnn.RNN`` (ReLU, as in d2l), both hybridized with static memory.
    """
    if kind == 'scratch':
        if len(devices) != 1:
            raise ValueError('model scratch trains on one device; use hybrid or concise for several')
        return RNNModelScratch(vocab_size, num_hiddens, devices[0], get_params, init_rnn_state, rnn)
    if kind == 'hybrid':
        net = HybridRNNScratch(vocab_size, num_hiddens)
    elif kind == 'concise':
        from mxnet.gluon import rnn as gluon_rnn
        net = RNNModel(gluon_rnn.RNN(num_hiddens, input_size=vocab_size), vocab_size)
    else:
        raise ValueError(f'model must be one of {", ".join(MODEL_KINDS)}, got {kind!r}')
    net.initialize(init.Normal(0.01), ctx=devices)
    net.hybridize(static_alloc=True, static_shape=True)
    return net
