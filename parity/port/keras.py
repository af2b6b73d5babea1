"""The Keras target: a ``keras.Model`` that runs the traced graph with TensorFlow operators and
native Keras recurrent layers.

Weights are Keras variables named after the Gluon parameters, in Keras's layout where Keras has
one: a ``Dense`` kernel is ``(in, out)`` (Gluon's transposed) and a convolution kernel is
``(k..., in / groups, out)``. A ``gluon.rnn`` layer (the fused ``RNN`` operator fed by its own
parameters) becomes Keras ``SimpleRNN``/``LSTM``/``GRU`` layers, one per layer and direction, with
Keras's conventions: gates reordered (GRU ``z, r, h`` where Gluon has ``r, z, n``), kernels
transposed, ``GRU(reset_after=True)`` (the recurrent bias inside the reset gate, as in Gluon and
cuDNN) with its two biases, and *one* bias ``b_i2h + b_h2h`` for ``LSTM``/``SimpleRNN`` (so SGD on it
is not SGD on Gluon's two: ``compare`` lists those as not comparable after a step). A fused
``RNN`` fed another way (``HybridRNNScratch``) runs as a recurrence written with TensorFlow ops.

MXNet is imported before TensorFlow (the other order kills the process with tensorflow 2.17).
"""
import itertools
import math
import os

import numpy

from . import graph as G
from .registry import converter

try:  # MXNet 1.9.1 must be imported before TensorFlow
    import mxnet  # noqa: F401
except ImportError:  # pragma: no cover - a Keras port can run where MXNet is not installed
    pass
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

VERSION = f'tensorflow {tf.__version__}, keras {keras.__version__}'

#: how a Gluon weight is stored in Keras when an operator consumes it at this input position
LAYOUTS = {('FullyConnected', 1): 'dense', ('Convolution', 1): 'conv'}


def to_keras_layout(layout, array):
    if layout == 'dense':
        return numpy.ascontiguousarray(array.T)
    if layout == 'conv':  # (out, in/g, k...) -> (k..., in/g, out)
        return numpy.ascontiguousarray(numpy.transpose(array, tuple(range(2, array.ndim)) + (1, 0)))
    return array


def to_gluon_layout(layout, array):
    if layout == 'dense':
        return array.T
    if layout == 'conv':
        n = array.ndim
        return numpy.transpose(array, (n - 1, n - 2) + tuple(range(n - 2)))
    return array


class PortedModel(keras.Model):
    """A traced Gluon graph as a Keras model; call it with the block's arguments."""
    port_target = 'keras'

    def __init__(self, graph, **kwargs):
        floats = [v.dtype for v in graph.params.values() if v.dtype.kind == 'f']
        floats += [numpy.dtype(d) for d in graph.input_dtypes if numpy.dtype(d).kind == 'f']
        # autocast off: Keras would cast float64 inputs to the model's dtype
        super().__init__(dtype=str(floats[0]) if floats else 'float32', autocast=False, **kwargs)
        self.graph = graph
        self.convs = G.converters(graph, 'keras')
        self.native = {}        # RNN node index -> its Keras layers (see build_rnn)
        self.claimed = set()    # Gluon parameters held by native layers
        #: keras variable path -> [(gluon name, keras array -> gluon array)], and whether it merges several
        self.to_gluon, self.merged = {}, {}
        for i, node in enumerate(graph.nodes):
            build = getattr(self.convs.get(i), 'build', None)
            if build is not None:
                build(self, graph, i)
        self.weights_by_name = {}
        for name, value in graph.params.items():
            if name in self.claimed:
                continue
            layouts = {LAYOUTS.get((graph.nodes[c].op, k)) for c in graph.consumers(graph.index(name))
                       for k, (src, _) in enumerate(graph.nodes[c].inputs) if src == graph.index(name)}
            layout = layouts.pop() if len(layouts) == 1 else None
            stored = to_keras_layout(layout, value)
            var = self.add_weight(name=name, shape=stored.shape, dtype=str(value.dtype),
                                  trainable=name in graph.trainable, initializer='zeros')
            var.assign(stored)
            self.weights_by_name[name] = (var, layout)
            self.to_gluon[var.path] = [(name, lambda a, layout=layout: to_gluon_layout(layout, a))]

    def layout(self, name):
        """How Gluon parameter ``name`` is stored here (``'dense'``, ``'conv'`` or ``None``)."""
        return self.weights_by_name.get(name, (None, None))[1]

    def call(self, *args, training=False):
        flat, _ = G.flatten(list(args))
        ctx = G.Context('keras', bool(training), self)
        values = {name: var for name, (var, _) in self.weights_by_name.items()}
        for name in self.claimed:
            values[name] = tf.constant(self.graph.params[name])
        outputs = G.evaluate(self.graph, self.convs, ctx, [tf.convert_to_tensor(a) for a in flat], values)
        return G.regroup(outputs, self.graph.out_format)


def to_keras(block_or_graph, *example_inputs):
    """Port a Gluon HybridBlock (traced on ``example_inputs``) or a traced :class:`Graph`."""
    graph = block_or_graph if isinstance(block_or_graph, G.Graph) else G.trace(block_or_graph, *example_inputs)
    return PortedModel(graph)


def _input_layout(ctx, node, k):
    """The layout of the value feeding input ``k`` of ``node`` (a parameter stored in Keras layout, or not)."""
    src = ctx.owner.graph.nodes[node.inputs[k][0]]
    return ctx.owner.layout(src.name) if src.op == 'null' else None


# --- layers ------------------------------------------------------------------------------------

@converter('FullyConnected', '_npx_fully_connected', target='keras')
def fully_connected(ctx, node, x, kernel, bias=None):
    if _input_layout(ctx, node, 1) != 'dense':
        kernel = tf.transpose(kernel)
    if node.attrs.bool('flatten', True):
        x = tf.reshape(x, (tf.shape(x)[0], -1))
    y = tf.tensordot(x, kernel, axes=[[x.shape.rank - 1], [0]])
    return y if node.attrs.bool('no_bias') or bias is None else y + bias


@converter('Embedding', '_npx_embedding', target='keras')
def embedding(ctx, node, x, weight):
    return tf.gather(weight, tf.cast(x, 'int64'))


def _channels_last(x):
    return tf.transpose(x, [0] + list(range(2, x.shape.rank)) + [1])


def _channels_first(x):
    n = x.shape.rank
    return tf.transpose(x, [0, n - 1] + list(range(1, n - 1)))


def _check_layout(node):
    layout = node.attrs.str('layout', None)
    if layout not in (None, 'None', 'NCW', 'NCHW', 'NCDHW'):
        raise G.PortError(f'{node.name}: {node.op} layout {layout} is not supported by the keras port (NC... only)')


@converter('Convolution', '_npx_convolution', target='keras')
def convolution(ctx, node, x, kernel, bias=None):
    """NC... in and out, like Gluon; computed channels-last (TensorFlow's CPU layout)."""
    _check_layout(node)
    a = node.attrs
    nd = len(a.tuple('kernel'))
    if _input_layout(ctx, node, 1) != 'conv':
        kernel = tf.transpose(kernel, list(range(2, nd + 2)) + [1, 0])
    stride = a.tuple('stride', None) or (1,) * nd
    dilate = a.tuple('dilate', None) or (1,) * nd
    pad = a.tuple('pad', None) or (0,) * nd
    h = tf.pad(_channels_last(x), [[0, 0]] + [[p, p] for p in pad] + [[0, 0]])
    groups = a.int('num_group', 1)
    parts = zip(tf.split(h, groups, axis=-1), tf.split(kernel, groups, axis=-1)) if groups > 1 else [(h, kernel)]
    both = any(s > 1 for s in stride) and any(d > 1 for d in dilate)  # TensorFlow refuses the pair
    y = tf.concat([tf.nn.convolution(xi, ki, strides=(1,) * nd if both else stride, padding='VALID',
                                     dilations=dilate) for xi, ki in parts], axis=-1)
    if both:  # a strided convolution is the unit-stride one, subsampled
        y = y[(slice(None),) + tuple(slice(None, None, s) for s in stride)]
    if not a.bool('no_bias') and bias is not None:
        y = y + bias
    return _channels_first(y)


def _max_pool_3d(h, kernel, stride):
    """Channels-last 3-D max pooling (no padding) as the running maximum of the window's strided
    slices, one per kernel offset: TensorFlow's ``MaxPool3D`` has no float64 kernel and its eager
    gradient fails, while ``tf.maximum`` differentiates in every float dtype (a tie goes to the
    earlier offset, MXNet's first maximum in the window)."""
    y = None
    for offset in itertools.product(*(range(k) for k in kernel)):
        index = [slice(None)]
        for axis, (o, k, s) in enumerate(zip(offset, kernel, stride)):
            size = h.shape[axis + 1]
            size = tf.shape(h)[axis + 1] if size is None else size
            index.append(slice(o, o + s * ((size - k) // s) + 1, s))
        window = h[tuple(index) + (slice(None),)]
        y = window if y is None else tf.maximum(y, window)
    return y


@converter('Pooling', '_npx_pooling', target='keras')
def pooling(ctx, node, x):
    _check_layout(node)
    a = node.attrs
    kind = a.str('pool_type', 'max')
    dims = list(range(2, x.shape.rank))
    if a.bool('global_pool'):
        fn = {'max': tf.reduce_max, 'avg': tf.reduce_mean, 'sum': tf.reduce_sum}[kind]
        return fn(x, axis=dims, keepdims=True)
    if a.str('pooling_convention', 'valid') != 'valid':
        raise G.PortError(f'{node.name}: pooling_convention {a.str("pooling_convention")} is not supported by the '
                          f'keras port')
    kernel = a.tuple('kernel')
    stride = a.tuple('stride', None) or kernel
    pad = a.tuple('pad', None) or (0,) * len(kernel)
    h = _channels_last(x)
    padding = [[0, 0]] + [[p, p] for p in pad] + [[0, 0]]
    if kind == 'max':
        h = tf.pad(h, padding, constant_values=-numpy.inf) if any(pad) else h
        y = _max_pool_3d(h, kernel, stride) if len(kernel) == 3 else tf.nn.max_pool(h, kernel, stride, 'VALID')
    elif kind in ('avg', 'sum'):
        if any(pad) and not a.bool('count_include_pad', True):
            raise G.PortError(f'{node.name}: count_include_pad=False is not supported by the keras port')
        y = tf.nn.avg_pool(tf.pad(h, padding), kernel, stride, 'VALID')
        y = y * math.prod(kernel) if kind == 'sum' else y
    else:
        raise G.PortError(f'{node.name}: pool_type {kind} is not supported by the keras port')
    return _channels_first(y)


def _stat_shape(x, axis):
    shape = [1] * x.shape.rank
    shape[axis] = -1
    return shape


@converter('BatchNorm', '_npx_batch_norm', target='keras')
def batch_norm(ctx, node, x, gamma, beta, running_mean, running_var):
    """Keras's ``BatchNormalization`` momentum is MXNet's (``new = m * old + (1 - m) * batch``, biased
    variance), so the running statistics update as Keras would; written out for MXNet's axis."""
    a = node.attrs
    axis = a.int('axis', 1) % x.shape.rank
    eps = a.float('eps', 1e-3)
    momentum = float(numpy.float32(a.float('momentum', 0.9)))  # MXNet keeps momentum as a C float
    if a.bool('fix_gamma', True):
        gamma = tf.ones_like(gamma)
    shape = _stat_shape(x, axis)
    if ctx.training and not a.bool('use_global_stats'):
        dims = [d for d in range(x.shape.rank) if d != axis]
        mean, var = tf.nn.moments(x, axes=dims)
        running_mean.assign(momentum * running_mean + (1 - momentum) * tf.stop_gradient(mean))
        running_var.assign(momentum * running_var + (1 - momentum) * tf.stop_gradient(var))
    else:
        mean, var = tf.convert_to_tensor(running_mean), tf.convert_to_tensor(running_var)
    y = (x - tf.reshape(mean, shape)) / tf.sqrt(tf.reshape(var, shape) + eps) * tf.reshape(gamma, shape)
    return y + tf.reshape(beta, shape), mean, var


@converter('LayerNorm', '_npx_layer_norm', target='keras')
def layer_norm(ctx, node, x, gamma, beta):
    axis = node.attrs.int('axis', -1) % x.shape.rank
    mean, var = tf.nn.moments(x, axes=[axis], keepdims=True)
    shape = _stat_shape(x, axis)
    return (x - mean) / tf.sqrt(var + node.attrs.float('eps', 1e-5)) * tf.reshape(gamma, shape) + \
        tf.reshape(beta, shape)


@converter('Dropout', '_npx_dropout', target='keras')
def dropout(ctx, node, x):
    p = node.attrs.float('p', 0.5)
    if p == 0 or not (ctx.training or node.attrs.str('mode', 'training') == 'always'):
        return x
    return tf.nn.dropout(x, rate=p)


_ACTIVATIONS = {'relu': tf.nn.relu, 'sigmoid': tf.sigmoid, 'tanh': tf.tanh, 'softrelu': tf.nn.softplus,
                'softsign': tf.nn.softsign, 'log_sigmoid': tf.math.log_sigmoid}


@converter('Activation', '_npx_activation', target='keras')
def activation(ctx, node, x):
    kind = node.attrs.str('act_type')
    if kind not in _ACTIVATIONS:
        raise G.PortError(f'{node.name}: act_type {kind} is not supported by the keras port')
    return _ACTIVATIONS[kind](x)


@converter('LeakyReLU', '_npx_leaky_relu', target='keras')
def leaky_relu(ctx, node, x, gamma=None):
    kind, slope = node.attrs.str('act_type', 'leaky'), node.attrs.float('slope', 0.25)
    if kind == 'leaky':
        return tf.where(x >= 0, x, x * slope)
    if kind == 'elu':
        return tf.where(x > 0, x, slope * (tf.exp(x) - 1))
    if kind == 'selu':
        return tf.nn.selu(x)
    if kind == 'gelu':
        return tf.nn.gelu(x, approximate=False)
    if kind == 'prelu':
        return tf.where(x >= 0, x, x * tf.reshape(gamma, [1, -1] + [1] * (x.shape.rank - 2)))
    raise G.PortError(f'{node.name}: LeakyReLU act_type {kind} is not supported by the keras port')


# --- the fused RNN -----------------------------------------------------------------------------

GATES = G.RNN_GATES
#: Gluon's gate blocks in Keras's order (GRU: Gluon r, z, n; Keras z, r, h)
KERAS_GATE_ORDER = {'rnn_relu': [0], 'rnn_tanh': [0], 'lstm': [0, 1, 2, 3], 'gru': [1, 0, 2]}


def reorder_gates(array, mode, axis, inverse=False):
    """Gluon's gate blocks along ``axis`` in Keras's order (or back with ``inverse``)."""
    order = KERAS_GATE_ORDER[mode]
    if inverse:
        order = list(numpy.argsort(order))
    blocks = numpy.split(array, GATES[mode], axis=axis)
    return numpy.concatenate([blocks[i] for i in order], axis=axis)


def keras_rnn_layer(mode, hidden, dtype, backwards):
    common = dict(return_sequences=True, return_state=True, go_backwards=backwards, dtype=dtype)
    if mode == 'lstm':
        return keras.layers.LSTM(hidden, unit_forget_bias=False, **common)
    if mode == 'gru':
        return keras.layers.GRU(hidden, reset_after=True, **common)
    return keras.layers.SimpleRNN(hidden, activation='relu' if mode == 'rnn_relu' else 'tanh', **common)


def keras_rnn_weights(mode, w_i2h, w_h2h, b_i2h, b_h2h):
    """Gluon's four arrays of one layer and direction -> Keras's ``[kernel, recurrent_kernel, bias]``."""
    kernel, recurrent = reorder_gates(w_i2h, mode, 0).T, reorder_gates(w_h2h, mode, 0).T
    if mode == 'gru':
        bias = numpy.stack([reorder_gates(b_i2h, mode, 0), reorder_gates(b_h2h, mode, 0)])
    else:
        bias = reorder_gates(b_i2h + b_h2h, mode, 0)
    return [kernel, recurrent, bias]


def gluon_rnn_params(graph, index):
    """The Gluon parameter names feeding the fused vector of RNN node ``index`` in
    :func:`rnn_layout` order, when it is ``_rnn_param_concat(reshape(param), ...)``; else ``None``."""
    concat = graph.nodes[graph.nodes[index].inputs[1][0]]
    if concat.op != '_rnn_param_concat':
        return None
    names = []
    for src, _ in concat.inputs:
        node = graph.nodes[src]
        while node.op in ('_np_reshape', 'Reshape', 'reshape', '_npx_reshape') and node.inputs:
            node = graph.nodes[node.inputs[0][0]]
        if node.op != 'null' or node.name not in graph.params:
            return None
        names.append(node.name)
    return names


def build_rnn(model, graph, index):
    """Native Keras layers for the RNN node ``index`` (one per layer and direction), with Gluon's weights."""
    node = graph.nodes[index]
    names = gluon_rnn_params(graph, index)
    if names is None:
        return
    a = node.attrs
    mode, hidden = a.str('mode'), a.int('state_size')
    layers, dirs = a.int('num_layers', 1), 2 if a.bool('bidirectional') else 1
    n = layers * dirs
    weights, biases = names[:2 * n], names[2 * n:]
    built = []
    for k in range(n):
        w_i2h, w_h2h = (graph.params[m] for m in weights[2 * k:2 * k + 2])
        b_i2h, b_h2h = (graph.params[m] for m in biases[2 * k:2 * k + 2])
        layer = keras_rnn_layer(mode, hidden, str(w_i2h.dtype), backwards=k % dirs == 1)
        layer.build((None, None, w_i2h.shape[1]))
        layer.set_weights(keras_rnn_weights(mode, w_i2h, w_h2h, b_i2h, b_h2h))
        kernel, recurrent, bias = layer.weights
        mw, mb = (weights[2 * k], weights[2 * k + 1]), (biases[2 * k], biases[2 * k + 1])
        model.to_gluon[kernel.path] = [(mw[0], lambda v, mode=mode: reorder_gates(v.T, mode, 0, inverse=True))]
        model.to_gluon[recurrent.path] = [(mw[1], lambda v, mode=mode: reorder_gates(v.T, mode, 0, inverse=True))]
        if mode == 'gru':
            model.to_gluon[bias.path] = [(mb[0], lambda v: reorder_gates(v[0], 'gru', 0, inverse=True)),
                                         (mb[1], lambda v: reorder_gates(v[1], 'gru', 0, inverse=True))]
        else:
            back = (lambda v, mode=mode: reorder_gates(v, mode, 0, inverse=True))
            model.to_gluon[bias.path] = [(mb[0], back), (mb[1], back)]
            model.merged[bias.path] = (f'one Keras bias for {mb[0]} + {mb[1]}: SGD on the sum moves it by one '
                                       f'gradient where Gluon moves each of the two')
        built.append(layer)
    model.native[index] = built
    model.claimed.update(names)
    setattr(model, f'rnn_node_{index}', built)  # tracked by Keras as sublayers


@converter('RNN', '_npx_rnn', target='keras')
def rnn(ctx, node, x, params, state, cell=None):
    G.check_rnn(node)
    a = node.attrs
    mode = a.str('mode')
    layers = ctx.owner.native.get(ctx.node_index)
    if layers is None:
        return _rnn_ops(node, x, params, state, cell)
    dirs = 2 if a.bool('bidirectional') else 1
    h = tf.transpose(x, [1, 0, 2])  # TNC -> NTC (Keras 3 has no time_major)
    hs, cs = [], []
    for layer in range(a.int('num_layers', 1)):
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            initial = [state[k], cell[k]] if mode == 'lstm' else [state[k]]
            out, *last = layers[k](h, initial_state=initial, training=ctx.training)
            outs.append(tf.reverse(out, axis=[1]) if d else out)  # go_backwards returns reversed time
            hs.append(last[0])
            if mode == 'lstm':
                cs.append(last[1])
        h = tf.concat(outs, axis=-1) if dirs == 2 else outs[0]
    out = tf.transpose(h, [1, 0, 2])
    if not a.bool('state_outputs'):
        return out
    return (out, tf.stack(hs)) + ((tf.stack(cs),) if mode == 'lstm' else ())


def _rnn_ops(node, x, flat, state, cell):
    """The recurrence written with TensorFlow ops on MXNet's fused vector (Gluon's conventions)."""
    a = node.attrs
    mode = a.str('mode')
    dirs = 2 if a.bool('bidirectional') else 1
    views, offset = {}, 0
    for name, shape in G.rnn_layout(a, x.shape[-1]):
        size = math.prod(shape)
        views[name] = tf.reshape(flat[offset:offset + size], shape)
        offset += size
    h_in, hs, cs = x, [], []
    for layer in range(a.int('num_layers', 1)):
        outs = []
        for d in range(dirs):
            k, suffix = layer * dirs + d, f'l{layer}' + ('_reverse' if d else '')
            Wi, Wh = views[f'weight_ih_{suffix}'], views[f'weight_hh_{suffix}']
            bi, bh = views[f'bias_ih_{suffix}'], views[f'bias_hh_{suffix}']
            h, c = state[k], cell[k] if mode == 'lstm' else None
            steps = range(h_in.shape[0] - 1, -1, -1) if d else range(h_in.shape[0])
            seq = [None] * h_in.shape[0]
            for t in steps:
                gi = tf.matmul(h_in[t], Wi, transpose_b=True) + bi
                gh = tf.matmul(h, Wh, transpose_b=True) + bh
                if mode == 'lstm':
                    i, f, g, o = tf.split(gi + gh, 4, axis=-1)
                    c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
                    h = tf.sigmoid(o) * tf.tanh(c)
                elif mode == 'gru':
                    ri, zi, ni = tf.split(gi, 3, axis=-1)
                    rh, zh, nh = tf.split(gh, 3, axis=-1)
                    r, z = tf.sigmoid(ri + rh), tf.sigmoid(zi + zh)
                    h = (1 - z) * tf.tanh(ni + r * nh) + z * h
                else:
                    h = (tf.nn.relu if mode == 'rnn_relu' else tf.tanh)(gi + gh)
                seq[t] = h
            outs.append(tf.stack(seq))
            hs.append(h)
            if mode == 'lstm':
                cs.append(c)
        h_in = tf.concat(outs, axis=-1) if dirs == 2 else outs[0]
    if not a.bool('state_outputs'):
        return h_in
    return (h_in, tf.stack(hs)) + ((tf.stack(cs),) if mode == 'lstm' else ())


rnn.build = build_rnn


# --- shapes ------------------------------------------------------------------------------------

def _shape(x):
    return tuple(int(d) for d in x.shape)


@converter('Reshape', target='keras')
def reshape_legacy(ctx, node, x):
    return tf.reshape(x, G.reshape_shape(_shape(x), node.attrs.tuple('shape'), 'legacy', node.attrs.bool('reverse')))


@converter('_np_reshape', target='keras')
def reshape_np(ctx, node, x):
    return tf.reshape(x, G.reshape_shape(_shape(x), node.attrs.tuple('newshape'), 'np'))


@converter('_npx_reshape', target='keras')
def reshape_npx(ctx, node, x):
    return tf.reshape(x, G.reshape_shape(_shape(x), node.attrs.tuple('newshape'), 'npx', node.attrs.bool('reverse')))


@converter('Flatten', 'flatten', '_npx_batch_flatten', target='keras')
def batch_flatten(ctx, node, x):
    return tf.reshape(x, (x.shape[0], -1))


@converter('transpose', '_np_transpose', target='keras')
def transpose(ctx, node, x):
    axes = node.attrs.tuple('axes', None)
    return tf.transpose(x, list(axes) if axes else None)


@converter('SwapAxis', 'swapaxes', '_npi_swapaxes', target='keras')
def swapaxes(ctx, node, x):
    a = node.attrs
    perm = list(range(x.shape.rank))
    i, j = a.int('dim1', a.int('axis1', 0)) % x.shape.rank, a.int('dim2', a.int('axis2', 0)) % x.shape.rank
    perm[i], perm[j] = perm[j], perm[i]
    return tf.transpose(x, perm)


@converter('expand_dims', '_npi_expand_dims', '_np_expand_dims', target='keras')
def expand_dims(ctx, node, x):
    return tf.expand_dims(x, node.attrs.int('axis'))


@converter('squeeze', '_np_squeeze', target='keras')
def squeeze(ctx, node, x):
    axes = node.attrs.axes('axis')
    return tf.squeeze(x, axis=None if axes is None else list(axes))


@converter('Concat', 'concat', '_npi_concatenate', '_np_concatenate', '_rnn_param_concat', target='keras')
def concatenate(ctx, node, *xs):
    a = node.attrs
    axis = a.optional('dim', a.optional('axis', 1))
    if axis is None:
        return tf.concat([tf.reshape(x, [-1]) for x in xs], axis=0)
    return tf.concat(xs, axis=int(axis))


@converter('stack', '_npi_stack', target='keras')
def stack(ctx, node, *xs):
    return tf.stack(xs, axis=node.attrs.int('axis', 0))


@converter('slice', '_npi_slice', 'crop', target='keras')
def slice_(ctx, node, x):
    a = node.attrs
    begin, end = a.tuple('begin'), a.tuple('end')
    step = a.tuple('step', None) or (None,) * len(begin)
    for axis, (b, e, s) in enumerate(zip(begin, end, step)):
        picked = list(range(x.shape[axis]))[slice(b, e, s)]
        x = tf.gather(x, picked, axis=axis)
    return x


@converter('slice_axis', target='keras')
def slice_axis(ctx, node, x):
    a = node.attrs
    axis = a.int('axis') % x.shape.rank
    return tf.gather(x, list(range(x.shape[axis]))[slice(a.int('begin'), a.optional('end'))], axis=axis)


@converter('SliceChannel', 'split', '_split_v2', '_npi_split', target='keras')
def split(ctx, node, x):
    a = node.attrs
    axis = a.int('axis', 1) % x.shape.rank
    sections = a.int('num_outputs', a.int('sections', 0))
    if sections:
        parts = tf.split(x, sections, axis=axis)
    else:
        bounds = [i for i in a.tuple('indices', ()) if i] + [x.shape[axis]]
        parts = tf.split(x, [b - s for s, b in zip([0] + bounds[:-1], bounds)], axis=axis)
    if a.bool('squeeze_axis'):
        parts = [tf.squeeze(p, axis) for p in parts]
    return tuple(parts)


@converter('Cast', 'cast', '_npi_cast', 'amp_cast', target='keras')
def cast(ctx, node, x):
    return tf.cast(x, node.attrs.str('dtype'))


@converter('one_hot', '_npx_one_hot', target='keras')
def one_hot(ctx, node, x):
    a = node.attrs
    return tf.one_hot(tf.cast(x, 'int64'), a.int('depth'), on_value=a.float('on_value', 1.0),
                      off_value=a.float('off_value', 0.0), dtype=a.str('dtype', 'float32'))


@converter('zeros_like', '_np_zeros_like', target='keras')
def zeros_like(ctx, node, x):
    return tf.zeros_like(x)


@converter('ones_like', '_np_ones_like', target='keras')
def ones_like(ctx, node, x):
    return tf.ones_like(x)


@converter('_npi_full_like', 'full_like', target='keras')
def full_like(ctx, node, x):
    dtype = node.attrs.str('dtype', None)
    return tf.fill(tf.shape(x), tf.constant(node.attrs.float('fill_value'),
                                            dtype=x.dtype if dtype in (None, 'None') else dtype))


@converter('_zeros', '_npi_zeros', '_ones', '_npi_ones', '_full', '_npi_full', target='keras')
def full(ctx, node):
    a = node.attrs
    value = 0.0 if 'zeros' in node.op else 1.0 if 'ones' in node.op else a.float('value', a.float('fill_value'))
    return tf.fill(a.tuple('shape'), tf.constant(value, dtype=a.str('dtype', 'float32')))


# --- arithmetic --------------------------------------------------------------------------------

def _register_elementwise():
    binary = {
        tf.add: ('elemwise_add', 'broadcast_add', 'broadcast_plus', '_plus', '_Plus', '_add', '_npi_add'),
        tf.subtract: ('elemwise_sub', 'broadcast_sub', 'broadcast_minus', '_minus', '_Minus', '_sub',
                      '_npi_subtract'),
        tf.multiply: ('elemwise_mul', 'broadcast_mul', '_mul', '_Mul', '_npi_multiply'),
        tf.truediv: ('elemwise_div', 'broadcast_div', '_div', '_Div', '_npi_true_divide'),
        tf.maximum: ('broadcast_maximum', '_maximum', '_npi_maximum'),
        tf.minimum: ('broadcast_minimum', '_minimum', '_npi_minimum'),
        tf.pow: ('broadcast_power', '_power', '_Power', '_npi_power'),
    }
    for fn, ops in binary.items():
        converter(*ops, target='keras')(lambda ctx, node, a, b, fn=fn: fn(a, b))

    def s(x, node):
        return tf.constant(node.attrs.float('scalar'), dtype=x.dtype)
    scalar = {
        (lambda x, v: x + v): ('_plus_scalar', '_PlusScalar', '_npi_add_scalar'),
        (lambda x, v: x - v): ('_minus_scalar', '_MinusScalar', '_npi_subtract_scalar'),
        (lambda x, v: v - x): ('_rminus_scalar', '_RMinusScalar', '_npi_rsubtract_scalar'),
        (lambda x, v: x * v): ('_mul_scalar', '_MulScalar', '_npi_multiply_scalar'),
        (lambda x, v: x / v): ('_div_scalar', '_DivScalar', '_npi_true_divide_scalar'),
        (lambda x, v: v / x): ('_rdiv_scalar', '_RDivScalar', '_npi_rtrue_divide_scalar'),
        (lambda x, v: x ** v): ('_power_scalar', '_PowerScalar', '_npi_power_scalar'),
        (lambda x, v: v ** x): ('_rpower_scalar', '_RPowerScalar', '_npi_rpower_scalar'),
        tf.maximum: ('_maximum_scalar', '_MaximumScalar', '_npi_maximum_scalar'),
        tf.minimum: ('_minimum_scalar', '_MinimumScalar', '_npi_minimum_scalar'),
        (lambda x, v: tf.cast(x > v, x.dtype)): ('_greater_scalar', '_npi_greater_scalar'),
        (lambda x, v: tf.cast(x < v, x.dtype)): ('_lesser_scalar', '_npi_less_scalar'),
    }
    for fn, ops in scalar.items():
        converter(*ops, target='keras')(lambda ctx, node, x, fn=fn: fn(x, s(x, node)))
    unary = {
        tf.negative: ('negative', '_npi_negative'), tf.exp: ('exp', '_npi_exp'), tf.math.log: ('log', '_npi_log'),
        tf.sqrt: ('sqrt', '_npi_sqrt'), tf.square: ('square', '_npi_square'),
        tf.abs: ('abs', '_npi_absolute', '_npi_abs'), tf.nn.relu: ('relu', '_npx_relu'),
        tf.sigmoid: ('sigmoid', '_npx_sigmoid'), tf.tanh: ('tanh', '_npi_tanh'),
        tf.math.rsqrt: ('rsqrt',), tf.math.reciprocal: ('reciprocal', '_npi_reciprocal'),
        tf.sin: ('sin', '_npi_sin'), tf.cos: ('cos', '_npi_cos'), tf.math.erf: ('erf', '_npx_erf'),
        tf.nn.softplus: ('softrelu',), tf.math.log1p: ('log1p', '_npi_log1p'), tf.math.expm1: ('expm1', '_npi_expm1'),
        tf.identity: ('identity', '_copy', '_npi_copy'),
        tf.stop_gradient: ('BlockGrad', 'stop_gradient', '_npx_stop_gradient'),
    }
    for fn, ops in unary.items():
        converter(*ops, target='keras')(lambda ctx, node, x, fn=fn: fn(x))


_register_elementwise()


@converter('clip', '_npi_clip', target='keras')
def clip(ctx, node, x):
    return tf.clip_by_value(x, node.attrs.float('a_min'), node.attrs.float('a_max'))


@converter('where', '_npi_where', target='keras')
def where(ctx, node, cond, x, y):
    return tf.where(tf.cast(cond, 'bool'), x, y)


# --- products, softmax, reductions -------------------------------------------------------------

@converter('dot', target='keras')
def dot_legacy(ctx, node, a, b):
    if node.attrs.bool('transpose_a'):
        a = tf.transpose(a)
    if node.attrs.bool('transpose_b'):
        b = tf.transpose(b)
    return tf.tensordot(a, b, axes=[[a.shape.rank - 1], [0]])


@converter('_np_dot', target='keras')
def dot_np(ctx, node, a, b):
    if a.shape.rank == 0 or b.shape.rank == 0:
        return a * b
    return tf.tensordot(a, b, axes=[[a.shape.rank - 1], [max(b.shape.rank - 2, 0)]])


@converter('_npi_matmul', 'matmul', target='keras')
def matmul(ctx, node, a, b):
    return tf.matmul(a, b)


@converter('batch_dot', '_npx_batch_dot', target='keras')
def batch_dot(ctx, node, a, b):
    return tf.matmul(a, b, transpose_a=node.attrs.bool('transpose_a'), transpose_b=node.attrs.bool('transpose_b'))


@converter('softmax', '_npx_softmax', target='keras')
def softmax(ctx, node, x):
    return tf.nn.softmax(G.softmax_input(node, x), axis=node.attrs.int('axis', -1))


@converter('log_softmax', '_npx_log_softmax', target='keras')
def log_softmax(ctx, node, x):
    return tf.nn.log_softmax(G.softmax_input(node, x), axis=node.attrs.int('axis', -1))


def _reduction(fn):
    def convert(ctx, node, x):
        axes = G.reduction_axes(node, x.shape.rank)
        return fn(x, list(axes), node.attrs.bool('keepdims')) if axes else x
    return convert


converter('sum', 'sum_axis', '_np_sum', target='keras')(_reduction(lambda x, d, k: tf.reduce_sum(x, d, k)))
converter('mean', '_npi_mean', '_np_mean', target='keras')(_reduction(lambda x, d, k: tf.reduce_mean(x, d, k)))
converter('max', 'max_axis', '_np_max', target='keras')(_reduction(lambda x, d, k: tf.reduce_max(x, d, k)))
converter('min', 'min_axis', '_np_min', target='keras')(_reduction(lambda x, d, k: tf.reduce_min(x, d, k)))
converter('prod', '_np_prod', target='keras')(_reduction(lambda x, d, k: tf.reduce_prod(x, d, k)))
converter('_npi_var', target='keras')(_reduction(lambda x, d, k: tf.math.reduce_variance(x, d, k)))


# --- compare's runner --------------------------------------------------------------------------

def gluon_values(model, arrays):
    """``{keras variable path: array}`` -> ``{gluon name: array}`` (merged biases go to each name)."""
    out = {}
    for path, value in arrays.items():
        for name, back in model.to_gluon.get(path, ()):
            out[name] = numpy.asarray(back(numpy.asarray(value)))
    return out


def run_compare(model, inputs, cotangent, training, lr):
    """Forward, backward, aux states and one ``keras.optimizers.SGD`` step; restores the model."""
    saved = [v.numpy().copy() for v in model.variables]
    try:
        xs = [tf.constant(a) for a in inputs]
        floating = [i for i, a in enumerate(inputs) if a.dtype.kind == 'f']
        trainable = model.trainable_variables
        with tf.GradientTape() as tape:
            for i in floating:
                tape.watch(xs[i])
            outs, _ = G.flatten(model(*G.regroup(xs, model.graph.in_format), training=training))
            total = tf.add_n([tf.reduce_sum(o * cotangent(k, tuple(o.shape), o.dtype.name))
                              for k, o in enumerate(outs)])
        grads = [None if g is None else tf.convert_to_tensor(g)  # Embedding's gradient is IndexedSlices
                 for g in tape.gradient(total, [xs[i] for i in floating] + list(trainable))]
        in_grads, var_grads = grads[:len(floating)], grads[len(floating):]
        result = {'output': [o.numpy() for o in outs],
                  'input grad': {model.graph.inputs[i]: g.numpy() for i, g in zip(floating, in_grads) if g is not None},
                  'grad': gluon_values(model, {v.path: g for v, g in zip(trainable, var_grads) if g is not None}),
                  'aux': gluon_values(model, {v.path: v.numpy() for v in model.non_trainable_variables})}
        pairs = [(g, v) for g, v in zip(var_grads, trainable) if g is not None]
        if pairs:
            keras.optimizers.SGD(learning_rate=lr).apply_gradients(pairs)
        after = {v.path: v.numpy() for v in trainable if v.path not in model.merged}
        result['after step'] = gluon_values(model, after)
        result['not comparable'] = {name: reason for path, reason in model.merged.items()
                                    for name, _ in model.to_gluon[path]}
    finally:
        for v, value in zip(model.variables, saved):
            v.assign(value)
    return result
