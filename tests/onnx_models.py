"""Models the ONNX export is tested on: NumPy-mode custom HybridBlocks (the porting zoo's
architectures) and legacy-mode image networks written like public Gluon model zoos (``F.*``).

Each entry builds ``(block, example inputs)`` for a dtype; weights are random, BatchNorm running
statistics are moved away from their initial values by a few training-mode passes.
"""
import mxnet as mx
import numpy as onp
from mxnet import autograd
from mxnet.gluon import nn, rnn

import gluon_d2l
from parity.port.graph import mode

BATCH = 3  # distinct from every other size below, so the batch axis is found unambiguously


def _array(x, numpy_mode):
    return (mx.np.array if numpy_mode else mx.nd.array)(x, dtype=x.dtype)


def _prepare(net, inputs, dtype, numpy_mode, init=None, train_bn=False):
    """Initialize, cast, randomize every parameter (gamma away from 1), warm BatchNorm statistics."""
    rng = onp.random.RandomState(1)
    with mode(numpy_mode):
        net.initialize(init or mx.init.Xavier())
        f32 = [x.astype(onp.float32) if isinstance(x, onp.ndarray) else [s.astype(onp.float32) for s in x]
               for x in inputs]
        net(*[_array(x, numpy_mode) if isinstance(x, onp.ndarray) else [_array(s, numpy_mode) for s in x]
              for x in f32])  # deferred shapes, in float32 (MXNet's initializers are float32 only)
        net.cast(dtype)
        for name, p in net.collect_params().items():
            shape = p.shape
            if name.endswith(('running_var', 'moving_var')):
                value = rng.uniform(0.5, 2.0, shape)
            elif name.endswith(('running_mean', 'moving_mean')):
                value = rng.normal(0, 0.5, shape)
            elif name.endswith('gamma'):
                value = rng.uniform(0.5, 1.5, shape)
            else:
                value = p.data().asnumpy() + rng.normal(0, 0.05, shape)
            p.set_data(_array(value.astype(dtype), numpy_mode))
        if train_bn:  # a few training-mode passes update the running statistics
            for _ in range(3):
                with autograd.record(train_mode=True):
                    net(*[_array(rng.normal(1, 2, a.shape).astype(dtype), numpy_mode)
                          if isinstance(a, onp.ndarray) else a for a in inputs])
    return net


def _inputs(rng, dtype, *shapes):
    return [rng.normal(0, 1, s).astype(dtype) for s in shapes]


def _tokens(rng, dtype, vocab, shape):
    return rng.randint(0, vocab, shape).astype(dtype)


# --- NumPy mode (the porting zoo) --------------------------------------------------------------

class MLP(nn.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = nn.Dense(16, activation='relu')
        self.act = nn.Dense(12, activation='tanh')
        self.center = gluon_d2l.HybridCenteredLayer()
        self.out = nn.Dense(5)

    def hybrid_forward(self, F, x):
        return self.out(self.center(F.npx.sigmoid(self.act(self.hidden(x))) * 2 - 1))


class LeNet(nn.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.features = nn.HybridSequential()
        self.features.add(nn.Conv2D(6, 5, padding=2, activation='sigmoid'), nn.AvgPool2D(2, 2),
                          nn.Conv2D(16, 3, activation='sigmoid'), nn.MaxPool2D(2, 2))
        self.head = nn.HybridSequential()
        self.head.add(nn.Dense(32, activation='sigmoid'), nn.Dense(10))

    def hybrid_forward(self, F, x):
        return self.head(self.features(x))


class TextCNN(nn.HybridBlock):
    """Embedding, a transpose to channels-first, Conv1D, global max pooling, Dense."""

    def __init__(self, vocab=20, **kwargs):
        super().__init__(**kwargs)
        self.embedding = nn.Embedding(vocab, 8)
        self.conv3 = nn.Conv1D(6, 3, padding=1, activation='relu')
        self.conv5 = nn.Conv1D(6, 5, padding=2, dilation=1, activation='relu')
        self.pool = nn.GlobalMaxPool1D()
        self.dropout = nn.Dropout(0.5)
        self.out = nn.Dense(2)

    def hybrid_forward(self, F, tokens):
        x = F.np.transpose(self.embedding(tokens), (0, 2, 1))
        feats = F.np.concatenate([self.pool(self.conv3(x)), self.pool(self.conv5(x))], axis=1)
        return self.out(self.dropout(F.npx.reshape(feats, (-2, -2, -3))))


class BNConvNet(nn.HybridBlock):
    """Conv + BatchNorm (running statistics moved by training) + grouped/strided conv."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.c1 = nn.Conv2D(8, 3, padding=1)
        self.bn1 = nn.BatchNorm()
        self.c2 = nn.Conv2D(8, 3, strides=2, groups=2, padding=1)
        self.bn2 = nn.BatchNorm(scale=False)  # fix_gamma
        self.out = nn.Dense(4)

    def hybrid_forward(self, F, x):
        x = F.npx.relu(self.bn1(self.c1(x)))
        x = F.npx.relu(self.bn2(self.c2(x)))
        return self.out(x.mean(axis=(2, 3)))


class LayerNormMLP(nn.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.d1 = nn.Dense(16, flatten=False)
        self.ln1 = nn.LayerNorm()
        self.d2 = nn.Dense(6, flatten=False)
        self.ln2 = nn.LayerNorm(axis=1)

    def hybrid_forward(self, F, x):
        h = self.ln1(F.npx.activation(self.d1(x), act_type='softrelu'))
        return F.npx.log_softmax(self.ln2(self.d2(h)), axis=-1)


class Attention(nn.HybridBlock):
    """Scaled dot-product self-attention with npx.reshape codes, batch_dot, softmax, scalars."""

    def __init__(self, heads=2, units=8, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.units = heads, units
        self.qkv = nn.Dense(3 * units, flatten=False)
        self.proj = nn.Dense(units, flatten=False)

    def hybrid_forward(self, F, x):
        q, k, v = F.np.split(self.qkv(x), 3, axis=-1)

        def heads(t):  # (N, T, H*D) -> (N*H, T, D)
            t = F.npx.reshape(t, (-2, -2, self.heads, -1))
            return F.npx.reshape(F.np.transpose(t, (0, 2, 1, 3)), (-5, -2, -2))
        scores = F.npx.batch_dot(heads(q), heads(k), transpose_b=True) / (self.units // self.heads) ** 0.5
        out = F.npx.batch_dot(F.npx.softmax(scores, axis=-1), heads(v))
        out = F.npx.reshape(out, (-6, -1, self.heads, -2, -2))
        out = F.npx.reshape(F.np.transpose(out, (0, 2, 1, 3)), (-2, -2, -5))
        return self.proj(out) + x.sum(axis=-1, keepdims=True) * 0.1


def _rnn_model(layer, vocab=10, steps=6):
    def build(dtype, rng):
        net = gluon_d2l.RNNModel(layer(), vocab)
        tokens = _tokens(rng, dtype, vocab, (BATCH, steps))
        state = [s.asnumpy().astype(dtype) + rng.normal(0, 0.3, s.shape).astype(dtype)
                 for s in net.begin_state(batch_size=BATCH)]
        return net, [tokens, state]
    return build


def _rnn_layer(make, steps=5, features=4, layout='TNC'):
    def build(dtype, rng):
        net = make()
        x = rng.normal(0, 1, (steps, BATCH, features) if layout == 'TNC' else (BATCH, steps, features))
        state = [s.asnumpy() + rng.normal(0, 0.3, s.shape) for s in net.begin_state(batch_size=BATCH)]
        return net, [x.astype(dtype), [s.astype(dtype) for s in state]]
    return build


def _hybrid_scratch(dtype, rng):
    net = gluon_d2l.HybridRNNScratch(10, 8)
    return net, [_tokens(rng, dtype, 10, (BATCH, 6)), (rng.normal(0, 0.5, (BATCH, 8)).astype(dtype),)]


def _simple(cls, *shapes):
    def build(dtype, rng):
        return cls(), _inputs(rng, dtype, *shapes)
    return build


def _text_cnn(dtype, rng):
    return TextCNN(), [_tokens(rng, dtype, 20, (BATCH, 9))]


NUMPY_ZOO = {
    'mlp': _simple(MLP, (BATCH, 7)),
    'lenet': _simple(LeNet, (BATCH, 1, 14, 14)),
    'text_cnn': _text_cnn,
    'batchnorm_cnn': _simple(BNConvNet, (BATCH, 2, 8, 8)),
    'layernorm_mlp': _simple(LayerNormMLP, (BATCH, 4, 5)),
    'attention': _simple(Attention, (BATCH, 5, 8)),
    'tensor_reduction': _simple(lambda: gluon_d2l.TensorReductionLayer(4, 5), (BATCH, 5)),
    'lstm_lm_2layer': _rnn_model(lambda: rnn.LSTM(8, num_layers=2)),
    'gru_bidirectional_ntc': _rnn_layer(lambda: rnn.GRU(6, num_layers=2, bidirectional=True, layout='NTC',
                                                        input_size=4), layout='NTC'),
    'lstm_bidirectional_tnc': _rnn_layer(lambda: rnn.LSTM(5, num_layers=2, bidirectional=True, input_size=4)),
    'rnn_tanh_deep': _rnn_layer(lambda: rnn.RNN(6, num_layers=3, activation='tanh', input_size=4)),
    'rnn_relu_deep': _rnn_layer(lambda: rnn.RNN(6, num_layers=2, activation='relu', input_size=4)),
    'd2l_concise_rnn': _rnn_model(lambda: rnn.RNN(16)),
    'd2l_hybrid_scratch': _hybrid_scratch,
}


# --- legacy mode (F.*), image architectures ---------------------------------------------------

def _conv_bn(channels, kernel, stride=1, groups=1, act=True):
    out = nn.HybridSequential()
    out.add(nn.Conv2D(channels, kernel, strides=stride, padding=kernel // 2, groups=groups, use_bias=False),
            nn.BatchNorm())
    if act:
        out.add(nn.Activation('relu'))
    return out


class BasicBlock(nn.HybridBlock):
    """A ResNet V1 basic block: two 3x3 conv-BN, identity or 1x1 projection shortcut."""

    def __init__(self, channels, stride, **kwargs):
        super().__init__(**kwargs)
        self.body = nn.HybridSequential()
        self.body.add(_conv_bn(channels, 3, stride), _conv_bn(channels, 3, act=False))
        self.down = _conv_bn(channels, 1, stride, act=False) if stride != 1 else None

    def hybrid_forward(self, F, x):
        shortcut = self.down(x) if self.down is not None else x
        return F.Activation(self.body(x) + shortcut, act_type='relu')


class ResNet(nn.HybridBlock):
    def __init__(self, classes=5, **kwargs):
        super().__init__(**kwargs)
        self.features = nn.HybridSequential()
        self.features.add(_conv_bn(8, 3), nn.MaxPool2D(3, 2, 1), BasicBlock(8, 1), BasicBlock(16, 2),
                          nn.GlobalAvgPool2D(), nn.Flatten())
        self.output = nn.Dense(classes)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


class DepthwiseSeparable(nn.HybridBlock):
    """MobileNet V1 style: depthwise 3x3 (groups = channels) then pointwise 1x1, ReLU6."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.stem = _conv_bn(8, 3, 2)
        self.blocks = nn.HybridSequential()
        for channels, stride in ((8, 1), (16, 2), (16, 1)):
            in_channels = 8 if channels == 8 or stride == 2 else 16
            self.blocks.add(_conv_bn(in_channels, 3, stride, groups=in_channels, act=False),
                            nn.HybridLambda(lambda F, x: F.clip(x, 0, 6)),
                            _conv_bn(channels, 1, act=False), nn.HybridLambda(lambda F, x: F.clip(x, 0, 6)))
        self.output = nn.Dense(4)

    def hybrid_forward(self, F, x):
        x = self.blocks(self.stem(x))
        return self.output(F.Pooling(x, global_pool=True, kernel=(1, 1), pool_type='avg'))


class Fire(nn.HybridBlock):
    """SqueezeNet's fire module: a 1x1 squeeze, then 1x1 and 3x3 expands concatenated."""

    def __init__(self, squeeze, expand, **kwargs):
        super().__init__(**kwargs)
        self.squeeze = nn.Conv2D(squeeze, 1, activation='relu')
        self.e1 = nn.Conv2D(expand, 1, activation='relu')
        self.e3 = nn.Conv2D(expand, 3, padding=1, activation='relu')

    def hybrid_forward(self, F, x):
        s = self.squeeze(x)
        return F.concat(self.e1(s), self.e3(s), dim=1)


class SqueezeNet(nn.HybridBlock):
    """Fire modules, max pooling with ceil_mode (pooling_convention 'full')."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.features = nn.HybridSequential()
        self.features.add(nn.Conv2D(8, 3, strides=2, activation='relu'), nn.MaxPool2D(3, 2, ceil_mode=True),
                          Fire(4, 8), Fire(4, 8), nn.MaxPool2D(3, 2, ceil_mode=True), Fire(6, 12))
        self.output = nn.HybridSequential()
        self.output.add(nn.Dropout(0.5), nn.Conv2D(5, 1, activation='relu'), nn.AvgPool2D(3, ceil_mode=True),
                        nn.Flatten())

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


class DenseLayer(nn.HybridBlock):
    def __init__(self, growth, **kwargs):
        super().__init__(**kwargs)
        self.body = nn.HybridSequential()
        self.body.add(nn.BatchNorm(), nn.Activation('relu'), nn.Conv2D(growth, 3, padding=1, use_bias=False))

    def hybrid_forward(self, F, x):
        return F.Concat(x, self.body(x), dim=1)


class DenseNet(nn.HybridBlock):
    """Dense blocks (every layer's output concatenated to its input) and a transition."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.features = nn.HybridSequential()
        self.features.add(nn.Conv2D(8, 3, padding=1, use_bias=False))
        for _ in range(3):
            self.features.add(DenseLayer(4))
        self.features.add(nn.BatchNorm(), nn.Activation('relu'), nn.Conv2D(10, 1, use_bias=False), nn.AvgPool2D(2, 2))
        for _ in range(2):
            self.features.add(DenseLayer(4))
        self.features.add(nn.BatchNorm(), nn.Activation('relu'))
        self.output = nn.Dense(3)

    def hybrid_forward(self, F, x):
        x = F.Pooling(self.features(x), kernel=(4, 4), pool_type='avg', global_pool=True)
        return self.output(F.Flatten(x))


def _hard_swish(F, x):
    return x * F.clip(x + 3, 0, 6) / 6


class SEBottleneck(nn.HybridBlock):
    """MobileNet V3 style: expand 1x1, depthwise 3x3, squeeze-excitation (hard sigmoid), project."""

    def __init__(self, channels, expand, **kwargs):
        super().__init__(**kwargs)
        self.expand = _conv_bn(expand, 1, act=False)
        self.depthwise = _conv_bn(expand, 3, groups=expand, act=False)
        self.se_reduce = nn.Conv2D(expand // 4, 1)
        self.se_expand = nn.Conv2D(expand, 1)
        self.project = _conv_bn(channels, 1, act=False)

    def hybrid_forward(self, F, x):
        h = _hard_swish(F, self.expand(x))
        h = _hard_swish(F, self.depthwise(h))
        w = F.mean(h, axis=(2, 3), keepdims=True)
        w = F.hard_sigmoid(self.se_expand(F.relu(self.se_reduce(w))), alpha=1 / 6, beta=0.5)
        return self.project(F.broadcast_mul(h, w)) + x


class MobileNetV3ish(nn.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.stem = _conv_bn(8, 3, 2, act=False)
        self.blocks = nn.HybridSequential()
        self.blocks.add(SEBottleneck(8, 16), SEBottleneck(8, 24))
        self.head = nn.Dense(4)

    def hybrid_forward(self, F, x):
        x = self.blocks(_hard_swish(F, self.stem(x)))
        pooled = F.Flatten(F.Pooling(x, pool_type='max', global_pool=True, kernel=(1, 1)))
        return self.head(F.softmax(F.LeakyReLU(pooled, slope=0.1), axis=-1))


def _legacy(cls, *shapes):
    def build(dtype, rng):
        return cls(), _inputs(rng, dtype, *shapes)
    return build


LEGACY_ZOO = {
    'resnet_bn': _legacy(ResNet, (BATCH, 3, 16, 16)),
    'mobilenet_depthwise': _legacy(DepthwiseSeparable, (BATCH, 3, 16, 16)),
    'squeezenet_fire': _legacy(SqueezeNet, (BATCH, 3, 33, 33)),
    'densenet': _legacy(DenseNet, (BATCH, 3, 16, 16)),
    'mobilenetv3_se_hswish': _legacy(MobileNetV3ish, (BATCH, 3, 16, 16)),
}


#: models whose inputs are time-major (TNC): the batch is axis 1 of the data and of the states
TIME_MAJOR = ('lstm_bidirectional_tnc', 'rnn_tanh_deep', 'rnn_relu_deep')


def batch_axes(name, inputs):
    """The batch axis of each flat input of zoo model ``name`` (``None``: the exporter's default)."""
    if name not in TIME_MAJOR:
        return None
    return [1] * (1 + len(inputs[1]))


def build(name, dtype='float32', seed=0):
    """``(block, inputs)`` for zoo model ``name``: prepared, in its mode, inputs as MXNet arrays."""
    numpy_mode = name in NUMPY_ZOO
    rng = onp.random.RandomState(seed)
    with mode(numpy_mode):
        net, inputs = (NUMPY_ZOO if numpy_mode else LEGACY_ZOO)[name](dtype, rng)
    has_bn = any(k.endswith('running_mean') for k in net.collect_params())
    _prepare(net, inputs, dtype, numpy_mode, train_bn=has_bn)
    return net, [_array(x, numpy_mode) if isinstance(x, onp.ndarray) else [_array(s, numpy_mode) for s in x]
                 for x in inputs]


def resample(name, inputs, batch, seed=1):
    """New inputs like ``inputs`` with batch size ``batch`` (tokens stay tokens, states stay states)."""
    rng = onp.random.RandomState(seed)
    data_axis = 1 if name in TIME_MAJOR else 0
    out = []
    for x in inputs:
        if isinstance(x, (list, tuple)):
            out.append([_resample_one(s, batch, rng, axis=1 if s.ndim == 3 else 0) for s in x])
        else:
            out.append(_resample_one(x, batch, rng, axis=data_axis))
    return out


def _resample_one(x, batch, rng, axis):
    a = x.asnumpy()
    shape = list(a.shape)
    shape[axis] = batch
    if onp.all(a == onp.round(a)) and a.min() >= 0 and a.ndim == 2:
        new = rng.randint(0, int(a.max()) + 1, shape).astype(a.dtype)
    else:
        new = rng.normal(0, 1, shape).astype(a.dtype)
    return (mx.np.array if isinstance(x, mx.np.ndarray) else mx.nd.array)(new, dtype=a.dtype)


# --- one operator family per case: (F, x) -> output(s), x of shape (5, 4) ------------------------
# Every converter family of parity/port/onnx.py is exercised by one of these or by the zoo.

OPERATORS_NUMPY = {
    'stack': lambda F, x: F.np.stack([x, x * 2], axis=1),
    'split_indices': lambda F, x: F.np.split(x, [1, 3], axis=1),
    'split_sections': lambda F, x: F.np.split(x, 2, axis=0),
    'slice': lambda F, x: x[:, 1:3],
    'slice_step': lambda F, x: x[::2, ::-1],
    'where': lambda F, x: F.np.where(x > 0, x, -x),
    'compare': lambda F, x: (x >= 0.1) * 1.0 + (x < x * 0.5) * 2.0 + (x == x) * 1.0,
    'compare_more': lambda F, x: ((x >= x * 0.5) * 1.0, (x <= x * 0.5) * 1.0, (x <= 0.3) * 1.0, (x == 0.5) * 1.0,
                                  (x != x * 2) * 1.0, (x != 0.1) * 1.0, (x > x * 0.2) * 1.0),
    'scalar_bounds': lambda F, x: F.np.maximum(x, 0.1) - F.np.minimum(x, -0.1) + F.np.maximum(0.2, x),
    'constants': lambda F, x: (F.np.zeros((5, 4)) + x, F.np.ones((5, 4)) * x, F.np.full((5, 4), 0.5) - x),
    'clip': lambda F, x: F.np.clip(x, -0.5, 0.5),
    'max_min': lambda F, x: F.np.maximum(x, 0.1) + F.np.minimum(x, x * 0.5),
    'unary': lambda F, x: F.np.exp(x) + F.np.log(F.np.abs(x) + 1) + F.np.sqrt(F.np.abs(x)) + F.np.square(x)
    - F.np.sin(x) * F.np.cos(x) + F.np.floor(x) + F.np.ceil(x) + F.np.sign(x) - F.np.negative(x),
    'reciprocal': lambda F, x: F.np.reciprocal(x * x + 1),
    'reductions': lambda F, x: F.np.max(x, axis=1) + F.np.min(x, axis=1) + F.np.prod(x, axis=1)
    + F.np.sum(x, axis=1) + x.mean(axis=1),
    'reduce_keepdims': lambda F, x: x - F.np.sum(x, axis=(0, 1), keepdims=True) / 5,
    'dims': lambda F, x: F.np.swapaxes(F.np.squeeze(F.np.expand_dims(x, 0), axis=0), 0, 1),
    'like': lambda F, x: F.np.zeros_like(x) + F.np.ones_like(x) * 2 + F.np.full_like(x, 0.5) * x,
    'matmul': lambda F, x: F.np.matmul(x, F.np.transpose(x)),
    'softmax_t': lambda F, x: F.npx.softmax(x, temperature=2.0) + F.npx.log_softmax(x, axis=0),
    'powers': lambda F, x: F.np.power(F.np.abs(x) + 1, x) + x ** 3 + 2 ** x + 1 / (x * x + 1) + (3 - x)
    + F.np.abs(x) ** 0.5,
    'cast': lambda F, x: F.np.sum(x.astype('float64'), axis=1),
    'tanh_sigmoid': lambda F, x: F.np.tanh(x) + F.npx.sigmoid(x) + F.npx.relu(x),
    'activation': lambda F, x: sum(F.npx.activation(x, act_type=a)
                                   for a in ('relu', 'sigmoid', 'tanh', 'softrelu', 'softsign')),
    'leaky_variants': lambda F, x: sum(F.npx.leaky_relu(x, act_type=a, slope=0.3)
                                       for a in ('leaky', 'elu', 'selu', 'gelu')),
    'reshape_np': lambda F, x: F.np.reshape(x, (-1,)).reshape((5, 2, 2)),
    'reshape_npx': lambda F, x: F.npx.reshape(F.npx.reshape(x, (-2, -6, 2, 2)), (-5, -4)),
    'erf': lambda F, x: F.npx.erf(x),
    'one_hot': lambda F, x: F.npx.one_hot(F.np.abs(x * 2).astype('int32'), 4, on_value=3.0, off_value=-1.0),
    'concat_neg_axis': lambda F, x: F.np.concatenate([x, x], axis=-1),
}
OPERATORS_LEGACY = {
    'slice': lambda F, x: F.slice(x, begin=(None, 1), end=(None, 3)) + F.slice_axis(x, axis=1, begin=0, end=2),
    'slice_neg': lambda F, x: F.slice(x, begin=(-3,), end=(None,), step=(2,)),
    'split': lambda F, x: F.split(x, num_outputs=2, axis=1),
    'split_squeeze': lambda F, x: F.SliceChannel(F.expand_dims(x, axis=2), num_outputs=4, axis=1, squeeze_axis=True),
    'stack_where': lambda F, x: F.stack(x, F.where(x > 0, x, x * 0.1), axis=0),
    'compare': lambda F, x: F.broadcast_greater(x, x * 0.5) + (x < 0.2) + F.broadcast_equal(x, x),
    'compare_more': lambda F, x: (F.broadcast_greater_equal(x, x * 0.5), F.broadcast_lesser_equal(x, x * 0.5),
                                  x <= 0.3, x == 0.5, F.broadcast_not_equal(x, x * 2), x != 0.1, x >= 0.2, x > 0.1),
    'constants': lambda F, x: (F.zeros((5, 4)) + x, F.ones((5, 4)) * x, F.full((5, 4), 0.5) - x, 3 - x,
                               F.maximum(x, 0.1), F.minimum(x, 0.1)),
    'reshape_codes': lambda F, x: F.Reshape(F.Reshape(x, shape=(0, -4, 2, -1)), shape=(-3, -2)),
    'reshape_minus2': lambda F, x: F.Reshape(F.expand_dims(x, axis=2), shape=(-1, -2)),
    'reshape_reverse': lambda F, x: F.Reshape(x, shape=(-1, 0), reverse=True),
    'transpose': lambda F, x: F.transpose(F.expand_dims(x, axis=0)),
    'softmax_activation': lambda F, x: F.SoftmaxActivation(x) + F.log_softmax(x, axis=0),
    'batch_dot': lambda F, x: F.batch_dot(F.expand_dims(x, 0), F.expand_dims(x, 0), transpose_a=True),
    'dot': lambda F, x: F.dot(x, x, transpose_b=True),
    'hard_sigmoid': lambda F, x: F.hard_sigmoid(x * 3),
    'rsqrt': lambda F, x: F.rsqrt(x * x + 1) + F.square(x) + F.abs(x) + F.negative(x),
    'like': lambda F, x: F.zeros_like(x) + F.ones_like(x) + F.add_n(x, x, x),
    'cast': lambda F, x: F.Cast(x, dtype='float64'),
    'reductions': lambda F, x: (F.max_axis(x, axis=1) + F.min(x, axis=1) + F.prod(x, axis=1),
                                F.sum(x, axis=1, exclude=True) + F.mean(x, axis=0), F.sum(x)),
    'scalars': lambda F, x: ((x + 1) * 2 - 3) / 4 + 5 - x + 1 / (x * x + 1) + F.maximum(x, 0.2) + F.minimum(x, 0.1)
    + (F.abs(x) + 1) ** 2 + 2 ** x,
    'broadcast': lambda F, x: F.broadcast_add(x, F.sum(x, axis=0, keepdims=True)) * F.broadcast_div(x, x + 10)
    - F.broadcast_power(F.abs(x) + 1, x) + F.broadcast_maximum(x, x * 2) + F.broadcast_minimum(x, x * 2),
    'leaky_variants': lambda F, x: F.LeakyReLU(x, act_type='rrelu')[0] + F.LeakyReLU(x, act_type='elu', slope=0.5)
    + F.LeakyReLU(x, act_type='selu') + F.LeakyReLU(x, act_type='gelu'),
    'activation': lambda F, x: F.Activation(x, act_type='softsign') + F.Activation(x, act_type='softrelu')
    + F.relu(x) + F.sigmoid(x) + F.tanh(x),
    'misc_unary': lambda F, x: F.exp(x) + F.log(F.abs(x) + 1) + F.sqrt(F.abs(x)) + F.erf(x) + F.sin(x)
    + F.cos(x) + F.floor(x) + F.ceil(x) + F.sign(x) + F.reciprocal(x * x + 1),
    'swapaxes_copy': lambda F, x: F.swapaxes(F.BlockGrad(F.identity(x)), dim1=0, dim2=1),
    'concat': lambda F, x: F.concat(x, x, dim=0) + 0,
    'elemwise': lambda F, x: F.elemwise_add(x, x) * F.elemwise_mul(x, x) - F.elemwise_sub(x, x * 2)
    + F.elemwise_div(x, x * x + 1),
}


def _layers(*make):
    def build(nn):
        net = nn.HybridSequential()
        for m in make:
            net.add(m(nn))
        return net
    return build


LAYER_CASES = {  # name -> (builder(nn), input shape)
    'conv_transpose': (_layers(lambda nn: nn.Conv2DTranspose(3, 3, strides=2, padding=1, output_padding=1),
                               lambda nn: nn.Conv2DTranspose(2, 2, groups=1, use_bias=False)), (3, 2, 5, 5)),
    'instance_norm': (_layers(lambda nn: nn.InstanceNorm()), (3, 2, 5, 5)),
    'batchnorm_last_axis': (_layers(lambda nn: nn.BatchNorm(axis=-1)), (3, 4, 5)),
    'pool_variants': (_layers(lambda nn: nn.AvgPool2D(3, 2, padding=1, count_include_pad=False),
                              lambda nn: nn.MaxPool2D(2, 1, padding=1),
                              lambda nn: nn.AvgPool2D(2, 2, padding=1, ceil_mode=True)), (3, 2, 7, 7)),
    'pool_1d': (_layers(lambda nn: nn.MaxPool1D(3, 2, ceil_mode=True), lambda nn: nn.AvgPool1D(2),
                        lambda nn: nn.GlobalAvgPool1D()), (3, 2, 8)),
    'prelu_channels': (_layers(lambda nn: nn.Conv2D(3, 1), lambda nn: nn.PReLU(in_channels=3)), (3, 2, 4, 4)),
    'dense_variants': (_layers(lambda nn: nn.Dense(4, use_bias=False, flatten=False),
                               lambda nn: nn.Dense(3, activation='softrelu')), (3, 2, 5)),
    'conv1d_dilated': (_layers(lambda nn: nn.Conv1D(4, 3, dilation=2, padding=2, groups=2, in_channels=2)), (3, 2, 9)),
    'conv3d': (_layers(lambda nn: nn.Conv3D(2, 2, strides=(1, 2, 1)), lambda nn: nn.GlobalMaxPool3D()),
               (3, 1, 4, 5, 4)),
}
