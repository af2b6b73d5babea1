"""A zoo of Gluon models to port: custom HybridBlocks with their own ``hybrid_forward``, written
the way users write them (transposes, reshapes and concatenations between layers), in NumPy
mode (``F.np``/``F.npx``) and in the legacy ``mx.nd``/``F`` style of the public Gluon model zoos.

Each entry builds ``(block, inputs)`` for a dtype: the block initialized, cast, and its
parameters set to random values (biases and running statistics included, so that a converter
that drops one is caught), and the inputs as NumPy arrays nested like the block's arguments.
"""
import dataclasses

import numpy

from . import graph as G

__all__ = ['MODELS', 'Model', 'build']


@dataclasses.dataclass(frozen=True)
class Model:
    name: str
    factory: object  # (rng, dtype) -> (block, inputs)
    numpy_mode: bool = True
    training: bool = False
    #: whether compare checks gradients and the SGD step (False: forward and aux states only)
    gradients: bool = True
    #: the dtypes the model is compared in
    dtypes: tuple = ('float64', 'float32')
    #: per-dtype (rtol, atol) overrides, with the reason
    tolerance: dict = dataclasses.field(default_factory=dict)
    note: str = ''

    def compare_options(self, dtype):
        """The keyword arguments of :func:`parity.port.compare` for this model in ``dtype``."""
        rtol, atol = self.tolerance.get(dtype, (None, None))
        return {'training': self.training, 'gradients': self.gradients, 'rtol': rtol, 'atol': atol}


MODELS = {}


def model(name, numpy_mode=True, training=False, tolerance=None, note='', gradients=True,
          dtypes=('float64', 'float32')):
    def register(factory):
        MODELS[name] = Model(name, factory, numpy_mode, training, gradients, dtypes, tolerance or {}, note)
        return factory
    return register


def randomize(block, rng, scale=0.5):
    """Every parameter set to random values (running variances positive)."""
    for name, param in block.collect_params().items():
        shape = param.shape
        if name.endswith('running_var'):
            value = rng.uniform(0.5, 2.0, size=shape)
        elif name.endswith('gamma'):
            value = rng.uniform(0.5, 1.5, size=shape)
        else:
            fan_in = max(1, int(numpy.prod(shape[1:]))) if len(shape) > 1 else 4
            value = rng.normal(size=shape) * scale * (2.0 / fan_in) ** 0.5 * (2 if len(shape) > 1 else 1)
        param.set_data(G.to_mxnet(value.astype(param.dtype), G.mx_mode()))


def build(name, dtype='float32', seed=0):
    """``(block, inputs, Model)`` of zoo model ``name`` in ``dtype``."""
    entry = MODELS[name]
    rng = numpy.random.default_rng(seed)
    with G.mode(entry.numpy_mode):
        block, inputs = entry.factory(rng, dtype)
        block.collect_params().initialize()
        block.cast(dtype)
        randomize(block, rng)
    return block, inputs, entry


def _nn():
    from mxnet.gluon import nn, rnn
    return nn, rnn


def _floats(rng, shape, dtype):
    return rng.normal(size=shape).astype(dtype)


def _tokens(rng, shape, vocab):
    return rng.integers(0, vocab, size=shape).astype('int32')


@model('mlp')
def mlp(rng, dtype):
    nn, _ = _nn()

    class MLP(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.hidden = nn.Dense(16, activation='relu', in_units=12)          # flattens (2, 3, 4)
                self.mid = nn.Dense(8, activation='tanh', flatten=False, in_units=16)
                self.dropout = nn.Dropout(0.3)                                     # inference: identity
                self.out = nn.Dense(5, in_units=8, flatten=False, use_bias=False)

        def hybrid_forward(self, F, x):
            h = self.dropout(self.mid(self.hidden(x)))
            return self.out(F.npx.sigmoid(h) * 2 - 1)
    return MLP(), [_floats(rng, (4, 3, 4), dtype)]


POOLING_NOTE = ("MXNet 1.9.1's float32 CPU pooling backward is wrong after a forward pass under "
                "record(train_mode=False) (tests/test_port.py pins it down): compare's reference gradients "
                "come from its float64 training-mode run")


@model('lenet', note=POOLING_NOTE)
def lenet(rng, dtype):
    nn, _ = _nn()

    class LeNet(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.c1 = nn.Conv2D(6, kernel_size=5, padding=2, activation='sigmoid', in_channels=1)
                self.p1 = nn.AvgPool2D(pool_size=2, strides=2)
                self.c2 = nn.Conv2D(16, kernel_size=3, strides=(1, 2), dilation=2, groups=2, in_channels=6)
                self.p2 = nn.MaxPool2D(pool_size=2, strides=1, padding=1)
                self.fc = nn.Dense(10, in_units=16 * 5 * 3)

        def hybrid_forward(self, F, x):
            h = self.p1(self.c1(x))
            h = F.npx.relu(self.c2(h))
            return F.npx.log_softmax(self.fc(self.p2(h)), axis=-1)
    return LeNet(), [_floats(rng, (2, 1, 16, 16), dtype)]


@model('text_cnn', note=POOLING_NOTE)
def text_cnn(rng, dtype):
    nn, _ = _nn()

    class TextCNN(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.embedding = nn.Embedding(30, 8)
                self.convs = nn.HybridSequential()
                self.convs.add(nn.Conv1D(6, 3, in_channels=8, activation='relu'),
                               nn.Conv1D(6, 2, dilation=2, padding=1, in_channels=8, activation='relu'))
                self.pool = nn.GlobalMaxPool1D()
                self.decoder = nn.Dense(3, in_units=12)

        def hybrid_forward(self, F, tokens):
            x = F.np.transpose(self.embedding(tokens), (0, 2, 1))           # (N, C, T)
            pooled = [F.np.squeeze(self.pool(conv(x)), axis=-1) for conv in self.convs]
            return self.decoder(F.np.concatenate(pooled, axis=1))
    return TextCNN(), [_tokens(rng, (4, 11), 30)]


@model('batchnorm_train', training=True)
def batchnorm_train(rng, dtype):
    nn, _ = _nn()

    class Net(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.conv = nn.Conv2D(4, 3, padding=1, in_channels=3)
                self.bn2 = nn.BatchNorm(in_channels=4, momentum=0.8)
                self.dense = nn.Dense(6, in_units=4 * 5 * 5)
                self.bn1 = nn.BatchNorm(in_channels=6, center=False)

        def hybrid_forward(self, F, x):
            h = F.npx.relu(self.bn2(self.conv(x)))
            return self.bn1(self.dense(h))
    return Net(), [_floats(rng, (8, 3, 5, 5), dtype)]


@model('batchnorm_eval',
       note="MXNet 1.9.1's BatchNorm backward under record(train_mode=False) uses the batch statistics "
            "while its forward used the running ones (tests/test_port.py pins it down): compare's reference "
            "gradients come from its training-mode run with use_global_stats")
def batchnorm_eval(rng, dtype):
    block, inputs = batchnorm_train(rng, dtype)
    return block, inputs


@model('layernorm_mlp')
def layernorm_mlp(rng, dtype):
    nn, _ = _nn()

    class Net(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.up = nn.Dense(12, flatten=False, in_units=6)
                self.norm = nn.LayerNorm(in_channels=12)
                self.act = nn.Activation('softrelu')
                self.down = nn.Dense(6, flatten=False, in_units=12)

        def hybrid_forward(self, F, x):
            return x + self.down(self.act(self.norm(self.up(x))))          # residual
    return Net(), [_floats(rng, (3, 5, 6), dtype)]


@model('lstm_lm')
def lstm_lm(rng, dtype):
    nn, rnn = _nn()

    class LM(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.embedding = nn.Embedding(20, 6)
                self.lstm = rnn.LSTM(8, num_layers=2, layout='NTC', input_size=6)
                self.decoder = nn.Dense(20, flatten=False, in_units=8)

        def hybrid_forward(self, F, tokens, h, c):
            out, (h, c) = self.lstm(self.embedding(tokens), [h, c])
            return self.decoder(out), h, c
    return LM(), [_tokens(rng, (3, 7), 20), _floats(rng, (2, 3, 8), dtype), _floats(rng, (2, 3, 8), dtype)]


@model('bigru')
def bigru(rng, dtype):
    nn, rnn = _nn()

    class Tagger(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.gru = rnn.GRU(5, num_layers=2, bidirectional=True, input_size=4)   # TNC
                self.head = nn.Dense(3, flatten=False, in_units=10)

        def hybrid_forward(self, F, x, h):
            out, [h] = self.gru(x, h)
            return self.head(F.np.mean(out, axis=0)), F.np.transpose(h, (1, 0, 2)).reshape((-1, 20))
    return Tagger(), [_floats(rng, (6, 3, 4), dtype), _floats(rng, (4, 3, 5), dtype)]


@model('deep_tanh_rnn', dtypes=('float32',),
       note="float32 only: MXNet 1.9.1's float64 CPU kernel for a 3-layer RNN gets the middle layer's i2h "
            "weight gradient wrong (it disagrees with its own float32 one; tests/test_port.py pins it down)")
def deep_tanh_rnn(rng, dtype):
    nn, rnn = _nn()

    class Deep(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.rnn = rnn.RNN(7, num_layers=3, activation='tanh', layout='NTC', input_size=5)

        def hybrid_forward(self, F, x, h):
            out, h = self.rnn(x, h)
            return out[:, -1], h
    return Deep(), [_floats(rng, (2, 6, 5), dtype), _floats(rng, (3, 2, 7), dtype)]


RELU_RNN_FLOAT64 = {'float64': (1e-6, 1e-6)}
RELU_NOTE = ("MXNet 1.9.1's CPU ReLU-RNN kernel rounds each pre-activation to float32 even in float64 "
             "(see parity/README.md), so float64 is held to 1e-6")


@model('deep_relu_rnn', tolerance=RELU_RNN_FLOAT64, note=RELU_NOTE)
def deep_relu_rnn(rng, dtype):
    nn, rnn = _nn()

    class Deep(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.rnn = rnn.RNN(6, num_layers=2, activation='relu', bidirectional=True, input_size=4)

        def hybrid_forward(self, F, x, h):
            return self.rnn(x, h)
    return Deep(), [_floats(rng, (5, 2, 4), dtype), _floats(rng, (4, 2, 6), dtype)]


@model('concise_rnn', tolerance=RELU_RNN_FLOAT64, note=RELU_NOTE)
def concise_rnn(rng, dtype):
    import gluon_d2l as d2l
    _, rnn = _nn()
    net = d2l.RNNModel(rnn.RNN(16, input_size=28), 28)
    return net, [_tokens(rng, (2, 9), 28), [_floats(rng, (1, 2, 16), dtype)]]


@model('concise_lstm')
def concise_lstm(rng, dtype):
    import gluon_d2l as d2l
    _, rnn = _nn()
    net = d2l.RNNModel(rnn.LSTM(12, input_size=28), 28)
    return net, [_tokens(rng, (2, 9), 28), [_floats(rng, (1, 2, 12), dtype), _floats(rng, (1, 2, 12), dtype)]]


@model('hybrid_rnn_scratch')
def hybrid_rnn_scratch(rng, dtype):
    import gluon_d2l as d2l
    return d2l.HybridRNNScratch(28, 16), [_tokens(rng, (2, 9), 28), [_floats(rng, (2, 16), dtype)]]


@model('custom_layers')
def custom_layers(rng, dtype):
    import gluon_d2l as d2l
    nn, _ = _nn()

    class HybridMyDense(nn.HybridBlock):
        """The chapter's MyDense (parameters from ``self.params.get``) as a HybridBlock: a plain
        ``Block`` has no graph to port, the hybrid form computes the same."""

        def __init__(self, units, in_units, **kwargs):
            super().__init__(**kwargs)
            self.weight = self.params.get('weight', shape=(in_units, units))
            self.bias = self.params.get('bias', shape=(units,))

        def hybrid_forward(self, F, x, weight, bias):
            return F.npx.relu(F.np.dot(x, weight) + bias)

    net = nn.HybridSequential()
    net.add(HybridMyDense(8, in_units=5), d2l.HybridCenteredLayer(), HybridMyDense(3, in_units=8))
    return net, [_floats(rng, (4, 5), dtype)]


@model('tensor_reduction')
def tensor_reduction(rng, dtype):
    import gluon_d2l as d2l
    return d2l.TensorReductionLayer(3, in_units=5), [_floats(rng, (4, 5), dtype)]


@model('attention')
def attention(rng, dtype):
    nn, _ = _nn()

    class SelfAttention(nn.HybridBlock):
        def __init__(self, heads=2, dim=8, **kwargs):
            super().__init__(**kwargs)
            self.heads, self.dim = heads, dim
            with self.name_scope():
                self.qkv = nn.Dense(3 * dim, flatten=False, in_units=dim)
                self.proj = nn.Dense(dim, flatten=False, in_units=dim)

        def hybrid_forward(self, F, x):
            q, k, v = F.np.split(self.qkv(x), 3, axis=-1)                 # (N, T, D) each

            def heads(t):  # (N, T, D) -> (N*H, T, D/H)
                t = F.npx.reshape(t, (-2, -2, self.heads, -1))
                return F.npx.reshape(F.np.transpose(t, (0, 2, 1, 3)), (-5, -2, -2))
            scores = F.npx.batch_dot(heads(q), heads(k), transpose_b=True) / (self.dim // self.heads) ** 0.5
            out = F.npx.batch_dot(F.npx.softmax(scores, axis=-1), heads(v))   # (N*H, T, D/H)
            out = F.np.transpose(F.npx.reshape(out, (-6, -1, self.heads, -2, -2)), (0, 2, 1, 3))
            return self.proj(F.npx.reshape(out, (-2, -2, -5)))
    return SelfAttention(), [_floats(rng, (2, 5, 8), dtype)]


@model('legacy_residual', numpy_mode=False, training=True)
def legacy_residual(rng, dtype):
    """A residual CNN in the legacy ``F`` style of the Gluon model zoo (``F.Activation``,
    ``F.Convolution``, ``F.broadcast_add``, ``F.Reshape`` special codes, ``F.SwapAxis``, ``F.dot``)."""
    nn, _ = _nn()

    class Residual(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.body = nn.HybridSequential(prefix='')
                self.body.add(nn.Conv2D(4, 3, padding=1, use_bias=False, in_channels=4),
                              nn.BatchNorm(in_channels=4), nn.Activation('relu'),
                              nn.Conv2D(4, 3, padding=1, use_bias=False, in_channels=4),
                              nn.BatchNorm(in_channels=4))
                self.scale = self.params.get('scale', shape=(4, 1, 1))
                self.fc = nn.Dense(3, in_units=4)

        def hybrid_forward(self, F, x, scale):
            h = F.Activation(F.broadcast_mul(self.body(x), scale) + x, act_type='relu')
            h = F.Pooling(h, pool_type='avg', global_pool=True, kernel=(1, 1))
            h = F.Reshape(h, shape=(0, -1))                                    # (N, C)
            logits = self.fc(h)
            gram = F.batch_dot(F.SwapAxis(F.expand_dims(h, axis=2), dim1=1, dim2=2), F.expand_dims(h, axis=2))
            outer = F.sum(F.dot(h, F.transpose(h)), axis=1, exclude=True)             # (N,)
            return F.softmax(logits, axis=-1), F.sum(gram, axis=(1, 2)) + outer, F.mean(h, axis=1, keepdims=True)
    return Residual(), [_floats(rng, (2, 4, 6, 6), dtype)]


@model('legacy_mlp_rnn', numpy_mode=False)
def legacy_mlp_rnn(rng, dtype):
    """Legacy style: ``F.FullyConnected`` on raw parameters, ``F.RNN`` via ``gluon.rnn.GRU``,
    ``F.concat``, ``F.slice_axis``, scalar arithmetic, ``F.tanh``."""
    nn, rnn = _nn()

    class Net(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.w = self.params.get('w', shape=(6, 4))
                self.b = self.params.get('b', shape=(6,))
                self.gru = rnn.GRU(5, layout='NTC', input_size=6)

        def hybrid_forward(self, F, x, h, w, b):
            proj = F.FullyConnected(x, w, b, num_hidden=6, flatten=False)
            out, [h] = self.gru(F.tanh(proj) * 0.5 + 0.1, h)
            last = F.slice_axis(out, axis=1, begin=-1, end=None)
            return F.concat(last, F.expand_dims(F.squeeze(h, axis=0), axis=1), dim=2) - 1
    return Net(), [_floats(rng, (3, 4, 4), dtype), _floats(rng, (1, 3, 5), dtype)]


@model('stateless_lstm_tagger', numpy_mode=False)
def stateless_lstm_tagger(rng, dtype):
    """An LSTM called without ``begin_state`` inside a block: MXNet starts it from zeros whose batch
    it infers from the data (a ``_zeros`` node of shape ``(4, 0, 7)`` in the graph)."""
    nn, rnn = _nn()

    class Tagger(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.lstm = rnn.LSTM(7, num_layers=2, bidirectional=True, layout='NTC', input_size=5)
                self.head = nn.Dense(3, flatten=False, in_units=14)

        def hybrid_forward(self, F, x):
            return self.head(self.lstm(x))
    return Tagger(), [_floats(rng, (3, 6, 5), dtype)]


@model('bare_gru')
def bare_gru(rng, dtype):
    """A Gluon GRU layer itself, called with its data only: the layer makes its zero states outside
    its graph, which then has them as inputs the caller does not pass."""
    _, rnn = _nn()
    return rnn.GRU(6, num_layers=2, input_size=4), [_floats(rng, (5, 3, 4), dtype)]


@model('shared_batchnorm', training=True)
def shared_batchnorm(rng, dtype):
    """One BatchNorm applied to two inputs (a shared backbone): in training mode MXNet updates its
    running statistics once per call, the second update starting from the first one's result."""
    nn, _ = _nn()

    class Siamese(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.dense = nn.Dense(5, in_units=4)
                self.bn = nn.BatchNorm(in_channels=5, momentum=0.7)

        def hybrid_forward(self, F, a, b):
            return F.np.sum(self.bn(self.dense(a)) * self.bn(self.dense(b * 2 + 1)), axis=1)
    return Siamese(), [_floats(rng, (6, 4), dtype), _floats(rng, (6, 4), dtype)]


@model('maxpool3d', training=True, note=POOLING_NOTE)
def maxpool3d(rng, dtype):
    nn, _ = _nn()

    class Voxels(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.conv = nn.Conv3D(3, 2, in_channels=2)
                self.pool = nn.MaxPool3D(pool_size=3, strides=2, padding=1)
                self.pool2 = nn.MaxPool3D(pool_size=(2, 1, 2))
                self.out = nn.Dense(4, in_units=3 * 1 * 3 * 1)

        def hybrid_forward(self, F, x):
            return self.out(self.pool2(self.pool(F.npx.relu(self.conv(x)))))
    return Voxels(), [_floats(rng, (2, 2, 6, 7, 5), dtype)]
