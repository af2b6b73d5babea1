"""Character-level RNN language models: from scratch, hybridized, and concise."""
import numpy as onp
from mxnet import init, np, npx
from mxnet.gluon import nn
from mxnet.util import use_np

from .checks import check_array, check_callable, check_context, check_positive_int, check_state
from .data import TOKEN_RANGE_ATTR
from .modes import follows_caller, returns_callers_kind

#: the hidden-state nonlinearities of the scratch and hybrid models (``npx.rnn`` has these two)
ACTIVATIONS = ('tanh', 'relu')


def check_activation(activation):
    """Return ``activation`` if it is one of :data:`ACTIVATIONS`, else raise ``ValueError``."""
    if activation not in ACTIVATIONS:
        raise ValueError(f'activation must be one of {", ".join(ACTIVATIONS)}, got {activation!r}')
    return activation


def check_embedding(embedding):
    """Return ``None`` (one-hot input) or the embedding size as a positive int."""
    return None if embedding is None else check_positive_int('embedding', embedding)


@returns_callers_kind
@use_np
def get_params(vocab_size, num_hiddens, device, num_inputs=None):
    """Create the scratch RNN's parameters ``[W_xh, W_hh, b_h, W_hq, b_q]`` on ``device``.

    ``W_xh`` has ``num_inputs`` rows: ``vocab_size`` (one-hot input, the default) or the
    embedding size when the model looks its inputs up in a learned embedding.
    """
    num_outputs = check_positive_int('vocab_size', vocab_size)
    num_inputs = num_outputs if num_inputs is None else check_positive_int('num_inputs', num_inputs)
    check_positive_int('num_hiddens', num_hiddens)
    check_context('device', device)

    def normal(shape):
        return np.random.normal(scale=0.01, size=shape, ctx=device)

    params = [normal((num_inputs, num_hiddens)), normal((num_hiddens, num_hiddens)),
              np.zeros(num_hiddens, ctx=device),
              normal((num_hiddens, num_outputs)), np.zeros(num_outputs, ctx=device)]
    for param in params:
        param.attach_grad()
    return params


@returns_callers_kind
@use_np
def init_rnn_state(batch_size, num_hiddens, device):
    """Return the initial hidden state: a 1-tuple holding zeros of shape ``(batch, hiddens)``."""
    check_positive_int('batch_size', batch_size)
    check_positive_int('num_hiddens', num_hiddens)
    check_context('device', device)
    return (np.zeros((batch_size, num_hiddens), ctx=device),)


@returns_callers_kind
@use_np
def rnn(inputs, state, params, activation='tanh'):
    """Run the RNN over ``inputs`` of shape ``(num_steps, batch, num_inputs)`` (one-hot rows or
    embeddings), ``H_t = activation(X_t W_xh + H_{t-1} W_hh + b_h)``.

    ``inputs`` may also be integer token ids of shape ``(num_steps, batch)``: then
    ``one_hot(X_t) W_xh`` is computed as the row lookup ``W_xh[X_t]``, the same numbers
    and the same gradient (the chapter's exercise 1). Returns the outputs of every step
    stacked to ``(num_steps * batch, vocab)`` and the final state.
    """
    _check_rnn_args(inputs, state, params)
    W_xh, W_hh, b_h, W_hq, b_q = params
    act = np.tanh if check_activation(activation) == 'tanh' else npx.relu
    H, = state
    lookup = onp.dtype(inputs.dtype).kind in 'iu'
    outputs = []
    for t in range(inputs.shape[0]):
        X = inputs[t]
        XW = np.take(W_xh, X, axis=0) if lookup else np.dot(X, W_xh)
        H = act(XW + np.dot(H, W_hh) + b_h)
        outputs.append(np.dot(H, W_hq) + b_q)
    return np.concatenate(outputs, axis=0), (H,)


def _check_rnn_args(inputs, state, params):
    """Shapes of :func:`rnn`'s arguments, checked on the host: ``ValueError`` naming the one that is wrong."""
    check_array('inputs', inputs)
    if not isinstance(params, (list, tuple)) or len(params) != 5 or not all(hasattr(p, 'shape') for p in params):
        raise ValueError('params must be the five arrays [W_xh, W_hh, b_h, W_hq, b_q] of get_params')
    W_xh, W_hh = params[0], params[1]
    if W_xh.ndim != 2 or W_hh.ndim != 2 or W_hh.shape[0] != W_hh.shape[1] or W_xh.shape[1] != W_hh.shape[0]:
        raise ValueError(f'params: W_xh {tuple(W_xh.shape)} and W_hh {tuple(W_hh.shape)} do not fit together')
    lookup = onp.dtype(inputs.dtype).kind in 'iu'
    if inputs.ndim != (2 if lookup else 3) or inputs.shape[0] < 1 or inputs.shape[1] < 1 \
            or (not lookup and inputs.shape[2] != W_xh.shape[0]):
        raise ValueError(f'inputs must have shape (num_steps, batch, {W_xh.shape[0]}) (or (num_steps, batch) of '
                         f'integer token ids), got {tuple(inputs.shape)} of {onp.dtype(inputs.dtype).name}')
    if not isinstance(state, (list, tuple)) or len(state) != 1:
        raise ValueError('state must be a 1-tuple (H,) as init_rnn_state returns it')
    check_state('state', state, inputs.shape[1], W_hh.shape[0])


def check_token_batch(X, vocab_size):
    """Raise ``ValueError`` unless ``X`` is a 2-D batch of token ids in ``[0, vocab_size)``.

    A batch built by the data loaders carries the range of its ids, measured on the host
    before the device array was made (:data:`gluon_d2l.data.TOKEN_RANGE_ATTR`): it is checked
    without a device-to-host copy. Any other array is copied to the host and checked.
    """
    check_array('X', X)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f'X must have shape (batch_size, num_steps), got {tuple(X.shape)}')
    known = getattr(X, TOKEN_RANGE_ATTR, None)
    if known is not None:
        low, high = known
    else:
        ids = X.asnumpy()
        if ids.dtype.kind not in 'iuf':
            raise ValueError(f'X must hold token ids, got an array of {ids.dtype.name}')
        low, high = ids.min(), ids.max()
        if ids.dtype.kind == 'f' and not (onp.isfinite(low) and onp.isfinite(high)
                                          and bool((ids == onp.floor(ids)).all())):
            raise ValueError('X must hold whole-number token ids, got non-integer or non-finite values')
    if low < 0 or high >= vocab_size:
        raise ValueError(f'X holds token ids in [{low}, {high}], outside the vocabulary [0, {vocab_size})')


@follows_caller
@use_np
class RNNModelScratch:
    """An RNN model built from plain functions and a list of arrays (no Gluon Block).

    ``embedding=DIM`` replaces the one-hot input by a learned embedding: a ``(vocab, DIM)``
    matrix appended to ``params`` (initialised like the others), whose rows are looked up
    and fed to ``forward_fn``; ``get_params`` is then called with ``num_inputs=DIM``.
    ``activation`` (``'tanh'`` or ``'relu'``), when given, is passed on to ``forward_fn``
    (:func:`rnn` defaults to tanh, as the chapter).
    """

    def __init__(self, vocab_size, num_hiddens, device, get_params, init_state, forward_fn,
                 embedding=None, activation=None):
        self.vocab_size = check_positive_int('vocab_size', vocab_size)
        self.num_hiddens = check_positive_int('num_hiddens', num_hiddens)
        self.embedding = check_embedding(embedding)
        self.activation = None if activation is None else check_activation(activation)
        check_context('device', device)
        check_callable('get_params', get_params)
        check_callable('init_state', init_state)
        check_callable('forward_fn', forward_fn)
        if self.embedding is None:
            self.params = get_params(vocab_size, num_hiddens, device)
        else:
            self.params = list(get_params(vocab_size, num_hiddens, device, num_inputs=self.embedding))
            E = np.random.normal(scale=0.01, size=(vocab_size, self.embedding), ctx=device)
            E = E.astype(self.params[0].dtype, copy=False)
            E.attach_grad()
            self.params.append(E)
        self.init_state, self.forward_fn = init_state, forward_fn

    @property
    def param_names(self):
        """Names of ``params`` in order (those of :class:`HybridRNNScratch`)."""
        return HybridRNNScratch.param_names + (('embed.weight',) if self.embedding else ())

    def __call__(self, X, state):
        check_token_batch(X, self.vocab_size)
        check_state('state', state, X.shape[0], self.num_hiddens)
        params = self.params
        if self.embedding is None:
            X = npx.one_hot(X.T, self.vocab_size, dtype=params[0].dtype)
        else:
            X, params = np.take(params[-1], X.T, axis=0), params[:-1]
        if self.activation is None:
            return self.forward_fn(X, state, params)
        return self.forward_fn(X, state, params, activation=self.activation)

    def begin_state(self, batch_size, ctx):
        """Return the initial state for ``batch_size`` sequences on ``ctx``."""
        check_positive_int('batch_size', batch_size)
        check_context('ctx', ctx)
        state = self.init_state(batch_size, self.num_hiddens, ctx)
        return tuple(s.astype(self.params[0].dtype, copy=False) for s in state)


@follows_caller
@use_np
class LookupRNNScratch(RNNModelScratch):
    """:class:`RNNModelScratch` fed token ids instead of one-hot rows (the chapter's exercise 1).

    Same parameters, same ``forward_fn``: :func:`rnn` computes ``one_hot(X_t) W_xh`` as the
    row lookup ``W_xh[X_t]``, i.e. the one-hot model *is* a model with a learned embedding
    ``W_xh``. Trained from the same weights it follows the same trajectory to rounding.
    """

    def __call__(self, X, state):
        if self.embedding is not None:
            raise ValueError('LookupRNNScratch is the one-hot model: embedding must be None')
        check_token_batch(X, self.vocab_size)
        check_state('state', state, X.shape[0], self.num_hiddens)
        if self.activation is None:
            return self.forward_fn(X.T, state, self.params)
        return self.forward_fn(X.T, state, self.params, activation=self.activation)


@follows_caller
@use_np
class HybridRNNScratch(nn.HybridBlock):
    """The scratch RNN as a HybridBlock: same parameters, same math, one graph per call.

    The parameters are those of :func:`get_params` (``W_xh, W_hh, b_h, W_hq, b_q``,
    same shapes and layout). The whole recurrence runs as one fused
    ``npx.rnn`` call in ``rnn_tanh`` (or ``rnn_relu``) mode, fed the transposed weights and
    a zero second bias, so it computes ``H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h)``
    like :func:`rnn`; the output layer is one matrix product over all steps.
    ``embedding=DIM`` looks the inputs up in an ``nn.Embedding(vocab, DIM)`` (its weight
    comes after the five above in ``collect_params()``) instead of one-hot encoding them.
    For float64, ``cast('float64')`` after ``initialize()``: MXNet's ``Normal``
    initializer fails on float64 parameters in NumPy mode. MXNet's CPU ``rnn_relu``
    kernel rounds pre-activations to float32, so a float64 ReLU model is float32-exact only.
    """

    param_names = ('W_xh', 'W_hh', 'b_h', 'W_hq', 'b_q')

    def __init__(self, vocab_size, num_hiddens, embedding=None, activation='tanh', **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = check_positive_int('vocab_size', vocab_size)
        self.num_hiddens = check_positive_int('num_hiddens', num_hiddens)
        self.embedding = check_embedding(embedding)
        self.activation = check_activation(activation)
        num_inputs = vocab_size if self.embedding is None else self.embedding
        shapes = [(num_inputs, num_hiddens), (num_hiddens, num_hiddens), (num_hiddens,),
                  (num_hiddens, vocab_size), (vocab_size,)]
        with self.name_scope():
            for name, shape in zip(self.param_names, shapes):
                initializer = init.Zero() if name.startswith('b') else init.Normal(0.01)
                setattr(self, name, self.params.get(name, shape=shape, init=initializer))
            if self.embedding is not None:
                self.embed = nn.Embedding(vocab_size, self.embedding, weight_initializer=init.Normal(0.01))

    def forward(self, X, state):
        check_token_batch(X, self.vocab_size)
        check_state('state', state, X.shape[0], self.num_hiddens)
        Y, H = super().forward(X, state[0])
        return Y, (H,)

    def hybrid_forward(self, F, X, H, W_xh, W_hh, b_h, W_hq, b_q):
        if self.embedding is None:
            inputs = F.npx.one_hot(F.np.transpose(X), self.vocab_size, dtype=self.W_hh.dtype)
        else:
            inputs = self.embed(F.np.transpose(X))
        # The fused vector [W_xh^T, W_hh^T, b_h, 0], each piece as rows of num_hiddens: the same bytes as
        # concatenating the flattened pieces, but MXNet's concat kernel copies 2-D rows 8x faster than one
        # long 1-D row (measured here: 0.2 ms against 1.7 ms for the chapter's 1.1 MB of weights).
        rows = (-1, self.num_hiddens)
        fused = F.np.concatenate([F.np.transpose(W_xh).reshape(rows), F.np.transpose(W_hh),
                                  b_h.reshape(rows), F.np.zeros_like(b_h).reshape(rows)], axis=0).reshape(-1)
        hiddens, H = F.npx.rnn(inputs, fused, F.np.expand_dims(H, 0), state_size=self.num_hiddens,
                               num_layers=1, mode=f'rnn_{self.activation}', state_outputs=True)
        Y = F.np.dot(hiddens.reshape((-1, self.num_hiddens)), W_hq) + b_q
        return Y, F.np.squeeze(H, axis=0)

    def begin_state(self, batch_size, ctx):
        """Return the initial state for ``batch_size`` sequences on ``ctx``."""
        check_positive_int('batch_size', batch_size)
        check_context('ctx', ctx)
        return (np.zeros((batch_size, self.num_hiddens), ctx=ctx, dtype=self.W_hh.dtype),)


@follows_caller
@use_np
class RNNModel(nn.HybridBlock):
    """The concise model: a ``gluon.rnn`` layer followed by a Dense output layer.

    ``embedding=DIM`` feeds the layer from an ``nn.Embedding(vocab, DIM)`` (registered last,
    so its weight comes last in ``collect_params()``) instead of one-hot rows; the layer's
    ``input_size`` must then be ``DIM``.
    """

    def __init__(self, rnn_layer, vocab_size, embedding=None, **kwargs):
        super().__init__(**kwargs)
        if not all(hasattr(rnn_layer, a) for a in ('_hidden_size', '_dir', '_input_size', 'begin_state')):
            raise TypeError(f'rnn_layer must be a gluon.rnn layer (RNN, GRU, LSTM), got {type(rnn_layer).__name__}')
        self.vocab_size = check_positive_int('vocab_size', vocab_size)
        self.embedding = check_embedding(embedding)
        self.num_hiddens = rnn_layer._hidden_size * (2 if rnn_layer._dir == 2 else 1)
        num_inputs = vocab_size if self.embedding is None else self.embedding
        if rnn_layer._input_size not in (0, num_inputs):
            raise ValueError(f'rnn_layer has input_size {rnn_layer._input_size}; the model feeds it '
                             f'{num_inputs} ({"embedding" if self.embedding else "vocab_size"})')
        with self.name_scope():
            self.rnn = rnn_layer
            self.dense = nn.Dense(vocab_size, in_units=self.num_hiddens, flatten=False)
            if self.embedding is not None:
                self.embed = nn.Embedding(vocab_size, self.embedding)

    def forward(self, inputs, state):
        check_token_batch(inputs, self.vocab_size)
        if not isinstance(state, (list, tuple)) or not state \
                or any(getattr(s, 'ndim', 0) != 3 or s.shape[1] != inputs.shape[0] for s in state):
            raise ValueError(f'state must be the list of arrays of shape (layers, batch_size={inputs.shape[0]}, '
                             'hiddens) that begin_state returns')
        return super().forward(inputs, state)

    def hybrid_forward(self, F, inputs, state):
        if self.embedding is None:
            X = F.npx.one_hot(F.np.transpose(inputs), self.vocab_size, dtype=self.dense.weight.dtype)
        else:
            X = self.embed(F.np.transpose(inputs))
        Y, state = self.rnn(X, state)
        return self.dense(Y.reshape((-1, self.num_hiddens))), state

    def begin_state(self, *args, **kwargs):
        """Return the initial state of the wrapped ``gluon.rnn`` layer."""
        return self.rnn.begin_state(*args, **kwargs)


class _Overlay:
    """``base`` with some attributes replaced: ``_Overlay(F.np, _internal=...)``."""

    def __init__(self, base, **replaced):
        self._base, self._replaced = base, replaced

    def __getattr__(self, name):
        return self._replaced[name] if name in self._replaced else getattr(self._base, name)


def _rows_concat_f(F, width):
    """MXNet's ``F`` (``mxnet.ndarray`` or ``mxnet.symbol``) whose NumPy-mode RNN parameter concat
    joins the flattened parameters as rows of ``width`` values: the same bytes in the same order,
    so the same results bit for bit."""
    def rnn_param_concat(*params, dim=0):
        return F.np.concatenate([p.reshape((-1, width)) for p in params], axis=0).reshape(-1)
    return _Overlay(F, np=_Overlay(F.np, _internal=_Overlay(F.np._internal, rnn_param_concat=rnn_param_concat)))


def with_rows_param_concat(layer):
    """``layer`` (a ``gluon.rnn`` RNN/GRU/LSTM) calling its fused kernel with a faster parameter concat.

    Why not Gluon's own call: it concatenates the flattened weights as one long 1-D row, which MXNet's
    concat kernel copies slowly; as rows of ``hidden_size`` values (every weight and bias size is a
    multiple of it) the same 1.1 MB of the chapter's layer took 0.2 ms instead of 1.7 ms here, each
    way (the backward splits them again). Only this layer object changes (an instance attribute).
    """
    kernel = type(layer)._forward_kernel
    width = layer._hidden_size

    def forward_kernel(F, *args, **kwargs):
        return kernel(layer, _rows_concat_f(F, width), *args, **kwargs)
    layer._forward_kernel = forward_kernel
    return layer


MODEL_KINDS = ('scratch', 'hybrid', 'concise')


#: the activation each model kind uses when none is given (the chapters' choices)
DEFAULT_ACTIVATION = {'scratch': 'tanh', 'hybrid': 'tanh', 'concise': 'relu'}


@use_np
def build_model(kind, vocab_size, num_hiddens, devices, embedding=None, activation=None):
    """Build and initialise a model of ``kind`` (see ``MODEL_KINDS``) on ``devices``.

    ``scratch`` is :class:`RNNModelScratch` (one device only); ``hybrid`` is
    :class:`HybridRNNScratch` and ``concise`` is :class:`RNNModel` over
    ``gluon.rnn.RNN`` (ReLU, as in d2l), both hybridized with static memory.
    ``embedding=DIM`` replaces the one-hot input by a learned embedding;
    ``activation`` (``'tanh'`` or ``'relu'``, default :data:`DEFAULT_ACTIVATION`) is the
    hidden nonlinearity.
    """
    if kind not in MODEL_KINDS:
        raise ValueError(f'model must be one of {", ".join(MODEL_KINDS)}, got {kind!r}')
    activation = check_activation(DEFAULT_ACTIVATION[kind] if activation is None else activation)
    embedding = check_embedding(embedding)
    if kind == 'scratch':
        if len(devices) != 1:
            raise ValueError('model scratch trains on one device; use hybrid or concise for several')
        return RNNModelScratch(vocab_size, num_hiddens, devices[0], get_params, init_rnn_state, rnn,
                               embedding=embedding, activation=activation)
    if kind == 'hybrid':
        net = HybridRNNScratch(vocab_size, num_hiddens, embedding=embedding, activation=activation)
    else:
        from mxnet.gluon import rnn as gluon_rnn
        layer = gluon_rnn.RNN(num_hiddens, activation=activation, input_size=embedding or vocab_size)
        net = RNNModel(with_rows_param_concat(layer), vocab_size, embedding=embedding)
    net.initialize(init.Normal(0.01), ctx=devices)
    net.hybridize(static_alloc=True, static_shape=True)
    return net
