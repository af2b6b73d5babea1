"""The JAX/Flax target: a pure JAX function and its variables pytree, Flax style.

``to_flax(block, *inputs)`` returns a :class:`FlaxPort`; ``apply, variables = port`` gives the pure
function ``apply(variables, *args, training=False)`` and ``{'params': {gluon name: array},
'batch_stats': {gluon name: array}}`` (the auxiliary states, BatchNorm's running statistics, as
Flax keeps them). In training mode ``apply`` returns ``(outputs, {'batch_stats': updated})``, like
``flax.linen.Module.apply(..., mutable=['batch_stats'])``. Weights keep Gluon's layout (``lax``
convolutions take ``OIH``/``OIHW`` kernels); the fused ``RNN`` is a ``lax.scan`` per layer and
direction with Gluon's gate order (LSTM ``i, f, g, o``; GRU ``r, z, n`` with the recurrent bias
inside the reset gate, as Flax's ``GRUCell``) and both biases.

Importing this module turns on ``jax_enable_x64`` (float64 ports; float32 arrays stay float32).
"""
import math

import jax
import numpy
from jax import lax
from jax import numpy as jnp

from . import graph as G
from .registry import converter

jax.config.update('jax_enable_x64', True)
VERSION = f'jax {jax.__version__}'


class FlaxPort:
    """A traced Gluon graph as a pure JAX function plus variables; ``apply, variables = port``."""
    port_target = 'flax'

    def __init__(self, graph):
        self.graph = graph
        self.convs = G.converters(graph, 'flax')
        self.variables = {
            'params': {n: jnp.asarray(v) for n, v in graph.params.items() if n not in graph.aux},
            'batch_stats': {n: jnp.asarray(v) for n, v in graph.params.items() if n in graph.aux}}
        self._jitted = jax.jit(self._apply, static_argnames=('training',))

    def apply(self, variables, *args, training=False):
        """The pure function (jit-compiled per input structure and ``training``)."""
        return self._jitted(variables, *args, training=bool(training))

    def _apply(self, variables, *args, training=False):
        flat, _ = G.flatten(list(args))
        ctx = G.Context('flax', training, self)
        ctx.updates = {}
        values = {**variables['params'], **variables.get('batch_stats', {})}
        outputs = G.regroup(G.evaluate(self.graph, self.convs, ctx, [jnp.asarray(a) for a in flat], values),
                            self.graph.out_format)
        if training:
            return outputs, {'batch_stats': {**variables.get('batch_stats', {}), **ctx.updates}}
        return outputs

    def __call__(self, *args, training=False):
        return self.apply(self.variables, *args, training=training)

    def __iter__(self):
        return iter((self.apply, self.variables))


def to_flax(block_or_graph, *example_inputs):
    """Port a Gluon HybridBlock (traced on ``example_inputs``) or a traced :class:`Graph`."""
    graph = block_or_graph if isinstance(block_or_graph, G.Graph) else G.trace(block_or_graph, *example_inputs)
    return FlaxPort(graph)


def _source_name(ctx, node, k):
    return ctx.owner.graph.nodes[node.inputs[k][0]].name


# --- layers ------------------------------------------------------------------------------------

@converter('FullyConnected', '_npx_fully_connected', target='flax')
def fully_connected(ctx, node, x, weight, bias=None):
    if node.attrs.bool('flatten', True):
        x = x.reshape(x.shape[0], -1)
    y = jnp.matmul(x, weight.T, precision=lax.Precision.HIGHEST)
    return y if node.attrs.bool('no_bias') or bias is None else y + bias


@converter('Embedding', '_npx_embedding', target='flax')
def embedding(ctx, node, x, weight):
    return jnp.take(weight, x.astype('int32'), axis=0)


def _check_layout(node):
    layout = node.attrs.str('layout', None)
    if layout not in (None, 'None', 'NCW', 'NCHW', 'NCDHW'):
        raise G.PortError(f'{node.name}: {node.op} layout {layout} is not supported by the flax port (NC... only)')


@converter('Convolution', '_npx_convolution', target='flax')
def convolution(ctx, node, x, weight, bias=None):
    _check_layout(node)
    a = node.attrs
    nd = len(a.tuple('kernel'))
    spatial = 'DHW'[-nd:] if nd > 1 else 'H'
    dims = ('NC' + spatial, 'OI' + spatial, 'NC' + spatial)
    pad = a.tuple('pad', None) or (0,) * nd
    y = lax.conv_general_dilated(x, weight, window_strides=a.tuple('stride', None) or (1,) * nd,
                                 padding=[(p, p) for p in pad], rhs_dilation=a.tuple('dilate', None) or (1,) * nd,
                                 dimension_numbers=dims, feature_group_count=a.int('num_group', 1),
                                 precision=lax.Precision.HIGHEST)
    if not a.bool('no_bias') and bias is not None:
        y = y + bias.reshape((1, -1) + (1,) * nd)
    return y


@converter('Pooling', '_npx_pooling', target='flax')
def pooling(ctx, node, x):
    _check_layout(node)
    a = node.attrs
    kind = a.str('pool_type', 'max')
    nd = x.ndim - 2
    if a.bool('global_pool'):
        fn = {'max': jnp.max, 'avg': jnp.mean, 'sum': jnp.sum}[kind]
        return fn(x, axis=tuple(range(2, x.ndim)), keepdims=True)
    if a.str('pooling_convention', 'valid') != 'valid':
        raise G.PortError(f'{node.name}: pooling_convention {a.str("pooling_convention")} is not supported by the '
                          f'flax port')
    kernel = a.tuple('kernel')
    stride = a.tuple('stride', None) or kernel
    pad = a.tuple('pad', None) or (0,) * nd
    window, strides = (1, 1) + tuple(kernel), (1, 1) + tuple(stride)
    padding = ((0, 0), (0, 0)) + tuple((p, p) for p in pad)
    # concrete NumPy init values: JAX differentiates reduce_window only for a known monoid
    if kind == 'max':
        return lax.reduce_window(x, numpy.array(-numpy.inf, x.dtype), lax.max, window, strides, padding)
    if kind in ('avg', 'sum'):
        if any(pad) and not a.bool('count_include_pad', True):
            raise G.PortError(f'{node.name}: count_include_pad=False is not supported by the flax port')
        total = lax.reduce_window(x, numpy.zeros((), x.dtype), lax.add, window, strides, padding)
        return total if kind == 'sum' else total / math.prod(kernel)
    raise G.PortError(f'{node.name}: pool_type {kind} is not supported by the flax port')


def _stat_shape(x, axis):
    shape = [1] * x.ndim
    shape[axis] = -1
    return shape


@converter('BatchNorm', '_npx_batch_norm', target='flax')
def batch_norm(ctx, node, x, gamma, beta, running_mean, running_var):
    """Flax's ``BatchNorm`` momentum is MXNet's (``new = m * old + (1 - m) * batch``, biased variance).

    A BatchNorm called more than once in a forward pass reads the running statistics its earlier
    calls wrote, so each call updates them in turn, as MXNet's in-place update does."""
    a = node.attrs
    mean_name, var_name = _source_name(ctx, node, 3), _source_name(ctx, node, 4)
    running_mean = ctx.updates.get(mean_name, running_mean)
    running_var = ctx.updates.get(var_name, running_var)
    axis = a.int('axis', 1) % x.ndim
    eps = a.float('eps', 1e-3)
    momentum = float(numpy.float32(a.float('momentum', 0.9)))  # MXNet keeps momentum as a C float
    if a.bool('fix_gamma', True):
        gamma = jnp.ones_like(gamma)
    shape = _stat_shape(x, axis)
    if ctx.training and not a.bool('use_global_stats'):
        dims = tuple(d for d in range(x.ndim) if d != axis)
        mean, var = jnp.mean(x, axis=dims), jnp.var(x, axis=dims)
        ctx.updates[mean_name] = momentum * running_mean + (1 - momentum) * lax.stop_gradient(mean)
        ctx.updates[var_name] = momentum * running_var + (1 - momentum) * lax.stop_gradient(var)
    else:
        mean, var = running_mean, running_var
    y = (x - mean.reshape(shape)) / jnp.sqrt(var.reshape(shape) + eps) * gamma.reshape(shape) + beta.reshape(shape)
    return y, mean, var


@converter('LayerNorm', '_npx_layer_norm', target='flax')
def layer_norm(ctx, node, x, gamma, beta):
    axis = node.attrs.int('axis', -1) % x.ndim
    mean, var = jnp.mean(x, axis=axis, keepdims=True), jnp.var(x, axis=axis, keepdims=True)
    shape = _stat_shape(x, axis)
    return (x - mean) / jnp.sqrt(var + node.attrs.float('eps', 1e-5)) * gamma.reshape(shape) + beta.reshape(shape)


@converter('Dropout', '_npx_dropout', target='flax')
def dropout(ctx, node, x):
    p = node.attrs.float('p', 0.5)
    if p == 0 or not (ctx.training or node.attrs.str('mode', 'training') == 'always'):
        return x
    raise G.PortError(f'{node.name}: Dropout in training mode needs a PRNG key, which the flax port does not take')


_ACTIVATIONS = {'relu': jax.nn.relu, 'sigmoid': jax.nn.sigmoid, 'tanh': jnp.tanh, 'softrelu': jax.nn.softplus,
                'softsign': jax.nn.soft_sign, 'log_sigmoid': jax.nn.log_sigmoid}


@converter('Activation', '_npx_activation', target='flax')
def activation(ctx, node, x):
    kind = node.attrs.str('act_type')
    if kind not in _ACTIVATIONS:
        raise G.PortError(f'{node.name}: act_type {kind} is not supported by the flax port')
    return _ACTIVATIONS[kind](x)


@converter('LeakyReLU', '_npx_leaky_relu', target='flax')
def leaky_relu(ctx, node, x, gamma=None):
    kind, slope = node.attrs.str('act_type', 'leaky'), node.attrs.float('slope', 0.25)
    if kind == 'leaky':
        return jnp.where(x >= 0, x, x * slope)
    if kind == 'elu':
        return jnp.where(x > 0, x, slope * jnp.expm1(x))
    if kind == 'selu':
        return jax.nn.selu(x)
    if kind == 'gelu':
        return jax.nn.gelu(x, approximate=False)
    if kind == 'prelu':
        return jnp.where(x >= 0, x, x * gamma.reshape([1, -1] + [1] * (x.ndim - 2)))
    raise G.PortError(f'{node.name}: LeakyReLU act_type {kind} is not supported by the flax port')


# --- the fused RNN -----------------------------------------------------------------------------

def _cell(mode):
    def step(carry, gi, Wh, bh):
        h, c = carry
        gh = jnp.matmul(h, Wh.T, precision=lax.Precision.HIGHEST) + bh
        if mode == 'lstm':
            i, f, g, o = jnp.split(gi + gh, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
        elif mode == 'gru':
            ri, zi, ni = jnp.split(gi, 3, axis=-1)
            rh, zh, nh = jnp.split(gh, 3, axis=-1)
            r, z = jax.nn.sigmoid(ri + rh), jax.nn.sigmoid(zi + zh)
            h = (1 - z) * jnp.tanh(ni + r * nh) + z * h
        else:
            h = (jax.nn.relu if mode == 'rnn_relu' else jnp.tanh)(gi + gh)
        return (h, c), h
    return step


@converter('RNN', '_npx_rnn', target='flax')
def rnn(ctx, node, x, flat, state, cell=None):
    G.check_rnn(node)
    a = node.attrs
    mode = a.str('mode')
    dirs = 2 if a.bool('bidirectional') else 1
    views, offset = {}, 0
    for name, shape in G.rnn_layout(a, x.shape[-1]):
        size = math.prod(shape)
        views[name] = flat[offset:offset + size].reshape(shape)
        offset += size
    step = _cell(mode)
    h_in, hs, cs = x, [], []
    for layer in range(a.int('num_layers', 1)):
        outs = []
        for d in range(dirs):
            k, suffix = layer * dirs + d, f'l{layer}' + ('_reverse' if d else '')
            Wi, Wh = views[f'weight_ih_{suffix}'], views[f'weight_hh_{suffix}']
            bi, bh = views[f'bias_ih_{suffix}'], views[f'bias_hh_{suffix}']
            gi = jnp.matmul(h_in, Wi.T, precision=lax.Precision.HIGHEST) + bi       # all steps at once
            carry = (state[k], cell[k] if mode == 'lstm' else jnp.zeros_like(state[k]))
            (h, c), seq = lax.scan(lambda cr, g: step(cr, g, Wh, bh), carry, gi, reverse=bool(d))
            outs.append(seq)
            hs.append(h)
            cs.append(c)
        h_in = jnp.concatenate(outs, axis=-1) if dirs == 2 else outs[0]
    if not a.bool('state_outputs'):
        return h_in
    return (h_in, jnp.stack(hs)) + ((jnp.stack(cs),) if mode == 'lstm' else ())


# --- shapes ------------------------------------------------------------------------------------

@converter('Reshape', target='flax')
def reshape_legacy(ctx, node, x):
    return x.reshape(G.reshape_shape(x.shape, node.attrs.tuple('shape'), 'legacy', node.attrs.bool('reverse')))


@converter('_np_reshape', target='flax')
def reshape_np(ctx, node, x):
    return x.reshape(G.reshape_shape(x.shape, node.attrs.tuple('newshape'), 'np'))


@converter('_npx_reshape', target='flax')
def reshape_npx(ctx, node, x):
    return x.reshape(G.reshape_shape(x.shape, node.attrs.tuple('newshape'), 'npx', node.attrs.bool('reverse')))


@converter('Flatten', 'flatten', '_npx_batch_flatten', target='flax')
def batch_flatten(ctx, node, x):
    return x.reshape(x.shape[0], -1)


@converter('transpose', '_np_transpose', target='flax')
def transpose(ctx, node, x):
    axes = node.attrs.tuple('axes', None)
    return jnp.transpose(x, axes if axes else None)


@converter('SwapAxis', 'swapaxes', '_npi_swapaxes', target='flax')
def swapaxes(ctx, node, x):
    a = node.attrs
    return jnp.swapaxes(x, a.int('dim1', a.int('axis1', 0)), a.int('dim2', a.int('axis2', 0)))


@converter('expand_dims', '_npi_expand_dims', '_np_expand_dims', target='flax')
def expand_dims(ctx, node, x):
    return jnp.expand_dims(x, node.attrs.int('axis'))


@converter('squeeze', '_np_squeeze', target='flax')
def squeeze(ctx, node, x):
    return jnp.squeeze(x, axis=node.attrs.axes('axis'))


@converter('Concat', 'concat', '_npi_concatenate', '_np_concatenate', '_rnn_param_concat', target='flax')
def concatenate(ctx, node, *xs):
    a = node.attrs
    axis = a.optional('dim', a.optional('axis', 1))
    if axis is None:
        return jnp.concatenate([x.reshape(-1) for x in xs])
    return jnp.concatenate(xs, axis=int(axis))


@converter('stack', '_npi_stack', target='flax')
def stack(ctx, node, *xs):
    return jnp.stack(xs, axis=node.attrs.int('axis', 0))


@converter('slice', '_npi_slice', 'crop', target='flax')
def slice_(ctx, node, x):
    a = node.attrs
    begin, end = a.tuple('begin'), a.tuple('end')
    step = a.tuple('step', None) or (None,) * len(begin)
    return x[tuple(slice(b, e, s) for b, e, s in zip(begin, end, step))]


@converter('slice_axis', target='flax')
def slice_axis(ctx, node, x):
    a = node.attrs
    index = [slice(None)] * x.ndim
    index[a.int('axis') % x.ndim] = slice(a.int('begin'), a.optional('end'))
    return x[tuple(index)]


@converter('SliceChannel', 'split', '_split_v2', '_npi_split', target='flax')
def split(ctx, node, x):
    a = node.attrs
    axis = a.int('axis', 1) % x.ndim
    sections = a.int('num_outputs', a.int('sections', 0))
    parts = jnp.split(x, sections if sections else [i for i in a.tuple('indices', ()) if i], axis=axis)
    if a.bool('squeeze_axis'):
        parts = [jnp.squeeze(p, axis) for p in parts]
    return tuple(parts)


@converter('Cast', 'cast', '_npi_cast', 'amp_cast', target='flax')
def cast(ctx, node, x):
    return x.astype(node.attrs.str('dtype'))


@converter('one_hot', '_npx_one_hot', target='flax')
def one_hot(ctx, node, x):
    a = node.attrs
    hot = jax.nn.one_hot(x, a.int('depth'), dtype=a.str('dtype', 'float32'))
    on, off = a.float('on_value', 1.0), a.float('off_value', 0.0)
    return hot if (on, off) == (1.0, 0.0) else hot * (on - off) + off


@converter('zeros_like', '_np_zeros_like', target='flax')
def zeros_like(ctx, node, x):
    return jnp.zeros_like(x)


@converter('ones_like', '_np_ones_like', target='flax')
def ones_like(ctx, node, x):
    return jnp.ones_like(x)


@converter('_npi_full_like', 'full_like', target='flax')
def full_like(ctx, node, x):
    dtype = node.attrs.str('dtype', None)
    return jnp.full_like(x, node.attrs.float('fill_value'), dtype=None if dtype in (None, 'None') else dtype)


@converter('_zeros', '_npi_zeros', '_ones', '_npi_ones', '_full', '_npi_full', target='flax')
def full(ctx, node):
    a = node.attrs
    value = 0.0 if 'zeros' in node.op else 1.0 if 'ones' in node.op else a.float('value', a.float('fill_value'))
    return jnp.full(a.tuple('shape'), value, dtype=a.str('dtype', 'float32'))


# --- arithmetic --------------------------------------------------------------------------------

def _register_elementwise():
    binary = {
        jnp.add: ('elemwise_add', 'broadcast_add', 'broadcast_plus', '_plus', '_Plus', '_add', '_npi_add'),
        jnp.subtract: ('elemwise_sub', 'broadcast_sub', 'broadcast_minus', '_minus', '_Minus', '_sub',
                       '_npi_subtract'),
        jnp.multiply: ('elemwise_mul', 'broadcast_mul', '_mul', '_Mul', '_npi_multiply'),
        jnp.true_divide: ('elemwise_div', 'broadcast_div', '_div', '_Div', '_npi_true_divide'),
        jnp.maximum: ('broadcast_maximum', '_maximum', '_npi_maximum'),
        jnp.minimum: ('broadcast_minimum', '_minimum', '_npi_minimum'),
        jnp.power: ('broadcast_power', '_power', '_Power', '_npi_power'),
    }
    for fn, ops in binary.items():
        converter(*ops, target='flax')(lambda ctx, node, a, b, fn=fn: fn(a, b))
    scalar = {
        (lambda x, v: x + v): ('_plus_scalar', '_PlusScalar', '_npi_add_scalar'),
        (lambda x, v: x - v): ('_minus_scalar', '_MinusScalar', '_npi_subtract_scalar'),
        (lambda x, v: v - x): ('_rminus_scalar', '_RMinusScalar', '_npi_rsubtract_scalar'),
        (lambda x, v: x * v): ('_mul_scalar', '_MulScalar', '_npi_multiply_scalar'),
        (lambda x, v: x / v): ('_div_scalar', '_DivScalar', '_npi_true_divide_scalar'),
        (lambda x, v: v / x): ('_rdiv_scalar', '_RDivScalar', '_npi_rtrue_divide_scalar'),
        (lambda x, v: x ** v): ('_power_scalar', '_PowerScalar', '_npi_power_scalar'),
        (lambda x, v: v ** x): ('_rpower_scalar', '_RPowerScalar', '_npi_rpower_scalar'),
        jnp.maximum: ('_maximum_scalar', '_MaximumScalar', '_npi_maximum_scalar'),
        jnp.minimum: ('_minimum_scalar', '_MinimumScalar', '_npi_minimum_scalar'),
        (lambda x, v: (x > v).astype(x.dtype)): ('_greater_scalar', '_npi_greater_scalar'),
        (lambda x, v: (x < v).astype(x.dtype)): ('_lesser_scalar', '_npi_less_scalar'),
    }
    for fn, ops in scalar.items():
        converter(*ops, target='flax')(
            lambda ctx, node, x, fn=fn: fn(x, jnp.asarray(node.attrs.float('scalar'), dtype=x.dtype)))
    unary = {
        jnp.negative: ('negative', '_npi_negative'), jnp.exp: ('exp', '_npi_exp'), jnp.log: ('log', '_npi_log'),
        jnp.sqrt: ('sqrt', '_npi_sqrt'), jnp.square: ('square', '_npi_square'),
        jnp.abs: ('abs', '_npi_absolute', '_npi_abs'), jax.nn.relu: ('relu', '_npx_relu'),
        jax.nn.sigmoid: ('sigmoid', '_npx_sigmoid'), jnp.tanh: ('tanh', '_npi_tanh'),
        lax.rsqrt: ('rsqrt',), jnp.reciprocal: ('reciprocal', '_npi_reciprocal'),
        jnp.sin: ('sin', '_npi_sin'), jnp.cos: ('cos', '_npi_cos'), jax.scipy.special.erf: ('erf', '_npx_erf'),
        jax.nn.softplus: ('softrelu',), jnp.log1p: ('log1p', '_npi_log1p'), jnp.expm1: ('expm1', '_npi_expm1'),
        (lambda x: x): ('identity', '_copy', '_npi_copy'),
        lax.stop_gradient: ('BlockGrad', 'stop_gradient', '_npx_stop_gradient'),
    }
    for fn, ops in unary.items():
        converter(*ops, target='flax')(lambda ctx, node, x, fn=fn: fn(x))


_register_elementwise()


@converter('clip', '_npi_clip', target='flax')
def clip(ctx, node, x):
    return jnp.clip(x, node.attrs.float('a_min'), node.attrs.float('a_max'))


@converter('where', '_npi_where', target='flax')
def where(ctx, node, cond, x, y):
    return jnp.where(cond != 0, x, y)


# --- products, softmax, reductions -------------------------------------------------------------

HIGHEST = lax.Precision.HIGHEST


@converter('dot', target='flax')
def dot_legacy(ctx, node, a, b):
    if node.attrs.bool('transpose_a'):
        a = jnp.transpose(a)
    if node.attrs.bool('transpose_b'):
        b = jnp.transpose(b)
    return jnp.tensordot(a, b, axes=([a.ndim - 1], [0]), precision=HIGHEST)


@converter('_np_dot', target='flax')
def dot_np(ctx, node, a, b):
    return jnp.dot(a, b, precision=HIGHEST)


@converter('_npi_matmul', 'matmul', target='flax')
def matmul(ctx, node, a, b):
    return jnp.matmul(a, b, precision=HIGHEST)


@converter('batch_dot', '_npx_batch_dot', target='flax')
def batch_dot(ctx, node, a, b):
    if node.attrs.bool('transpose_a'):
        a = jnp.swapaxes(a, -1, -2)
    if node.attrs.bool('transpose_b'):
        b = jnp.swapaxes(b, -1, -2)
    return jnp.matmul(a, b, precision=HIGHEST)


@converter('softmax', '_npx_softmax', target='flax')
def softmax(ctx, node, x):
    return jax.nn.softmax(G.softmax_input(node, x), axis=node.attrs.int('axis', -1))


@converter('log_softmax', '_npx_log_softmax', target='flax')
def log_softmax(ctx, node, x):
    return jax.nn.log_softmax(G.softmax_input(node, x), axis=node.attrs.int('axis', -1))


def _reduction(fn):
    def convert(ctx, node, x):
        axes = G.reduction_axes(node, x.ndim)
        return fn(x, axis=axes, keepdims=node.attrs.bool('keepdims')) if axes else x
    return convert


converter('sum', 'sum_axis', '_np_sum', target='flax')(_reduction(jnp.sum))
converter('mean', '_npi_mean', '_np_mean', target='flax')(_reduction(jnp.mean))
converter('max', 'max_axis', '_np_max', target='flax')(_reduction(jnp.max))
converter('min', 'min_axis', '_np_min', target='flax')(_reduction(jnp.min))
converter('prod', '_np_prod', target='flax')(_reduction(jnp.prod))
converter('_npi_var', target='flax')(_reduction(jnp.var))


# --- compare's runner --------------------------------------------------------------------------

def run_compare(port, inputs, cotangent, training, lr):
    """Forward, ``jax.grad``, the updated batch statistics and one ``optax.sgd`` step (pure: nothing to restore)."""
    import optax
    variables = port.variables
    xs = [jnp.asarray(a) for a in inputs]
    floating = [i for i, a in enumerate(inputs) if a.dtype.kind == 'f']

    def run(params, float_inputs):
        args = list(xs)
        for i, x in zip(floating, float_inputs):
            args[i] = x
        out = port._apply({'params': params, 'batch_stats': variables['batch_stats']},
                          *G.regroup(args, port.graph.in_format), training=training)
        out, stats = out if training else (out, {'batch_stats': variables['batch_stats']})
        outs, _ = G.flatten(out)
        total = sum(jnp.sum(o * cotangent(k, tuple(o.shape), str(o.dtype))) for k, o in enumerate(outs))
        return total, (outs, stats)
    trainable = {n: v for n, v in variables['params'].items() if n in port.graph.trainable}
    frozen = {n: v for n, v in variables['params'].items() if n not in trainable}

    def objective(params, float_inputs):
        return run({**frozen, **params}, float_inputs)
    step = jax.jit(jax.value_and_grad(objective, argnums=(0, 1), has_aux=True))
    (_, (outs, stats)), (grads, in_grads) = step(trainable, [xs[i] for i in floating])
    optimizer = optax.sgd(lr)
    updates, _ = optimizer.update(grads, optimizer.init(trainable), trainable)
    after = optax.apply_updates(trainable, updates)
    return {'output': [numpy.asarray(o) for o in outs],
            'input grad': {port.graph.inputs[i]: numpy.asarray(g) for i, g in zip(floating, in_grads)},
            'grad': {n: numpy.asarray(g) for n, g in grads.items()},
            'aux': {n: numpy.asarray(v) for n, v in stats['batch_stats'].items()},
            'after step': {n: numpy.asarray(v) for n, v in after.items()}}
