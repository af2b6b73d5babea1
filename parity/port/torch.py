"""The PyTorch target: a ``torch.nn.Module`` that runs the traced graph with PyTorch operators.

The module's parameters are ``nn.Parameter``s named after the Gluon parameters (auxiliary states
such as BatchNorm's running statistics are buffers), in Gluon's layout, which is PyTorch's for
every layer covered: ``Linear`` and ``Conv`` weights are ``(out, in, ...)``, the fused ``RNN``
splits into PyTorch's per-layer ``weight_ih/weight_hh/bias_ih/bias_hh`` with the same gate order
(LSTM ``i, f, g, o``; GRU ``r, z, n``). So ``module.state_dict()`` is keyed by Gluon names and
``module.train()``/``eval()`` plays the part of ``autograd.record(train_mode=...)``.
"""
import math

import numpy
import torch
from torch import nn
from torch.nn import functional as F

from . import graph as G
from .registry import converter

VERSION = torch.__version__
DTYPES = {'float16': torch.float16, 'float32': torch.float32, 'float64': torch.float64, 'int32': torch.int32,
          'int64': torch.int64, 'int8': torch.int8, 'uint8': torch.uint8, 'bool': torch.bool}


class PortedModule(nn.Module):
    """A traced Gluon graph as a PyTorch module; call it with the block's arguments."""

    def __init__(self, graph):
        super().__init__()
        self.graph = graph
        self.convs = G.converters(graph, 'torch')
        for name, value in graph.params.items():
            tensor = torch.from_numpy(numpy.array(value))
            if name in graph.aux:
                self.register_buffer(name, tensor)
            else:
                self.register_parameter(name, nn.Parameter(tensor, requires_grad=name in graph.trainable))

    def forward(self, *args):
        flat, _ = G.flatten(list(args))
        ctx = G.Context('torch', self.training, self)
        ctx.cache = self.__dict__.setdefault('_port_cache', {})
        values = dict(self.named_parameters())
        values.update(self.named_buffers())
        outputs = G.evaluate(self.graph, self.convs, ctx, [tensor(a) for a in flat], values)
        return G.regroup(outputs, self.graph.out_format)


def tensor(array):
    """NumPy (or a tensor) -> tensor, dtype kept."""
    return array if isinstance(array, torch.Tensor) else torch.from_numpy(numpy.array(array))


def to_torch(block_or_graph, *example_inputs):
    """Port a Gluon HybridBlock (traced on ``example_inputs``) or a traced :class:`Graph`."""
    graph = block_or_graph if isinstance(block_or_graph, G.Graph) else G.trace(block_or_graph, *example_inputs)
    return PortedModule(graph)


def gluon_grads(module):
    """``{gluon parameter name: gradient as numpy}`` of a ported module."""
    return {n: p.grad.detach().cpu().numpy() for n, p in module.named_parameters() if p.grad is not None}


# --- layers ------------------------------------------------------------------------------------

@converter('FullyConnected', '_npx_fully_connected', target='torch')
def fully_connected(ctx, node, x, weight, bias=None):
    if node.attrs.bool('flatten', True):
        x = x.reshape(x.shape[0], -1)
    return F.linear(x, weight, None if node.attrs.bool('no_bias') else bias)


@converter('Embedding', '_npx_embedding', target='torch')
def embedding(ctx, node, x, weight):
    return F.embedding(x.long(), weight)


@converter('Convolution', '_npx_convolution', target='torch')
def convolution(ctx, node, x, weight, bias=None):
    a = node.attrs
    kernel = a.tuple('kernel')
    layout = a.str('layout', None)
    if layout not in (None, 'None', 'NCW', 'NCHW', 'NCDHW'):
        raise G.PortError(f'{node.name}: Convolution layout {layout} is not supported by the torch port (NC... only)')
    n = len(kernel)
    conv = (F.conv1d, F.conv2d, F.conv3d)[n - 1]
    return conv(x, weight, None if a.bool('no_bias') else bias, stride=a.tuple('stride', (1,) * n) or (1,) * n,
                padding=a.tuple('pad', (0,) * n) or (0,) * n, dilation=a.tuple('dilate', (1,) * n) or (1,) * n,
                groups=a.int('num_group', 1))


@converter('Pooling', '_npx_pooling', target='torch')
def pooling(ctx, node, x):
    a = node.attrs
    kind = a.str('pool_type', 'max')
    nd = x.dim() - 2
    if a.str('layout', None) not in (None, 'None', 'NCW', 'NCHW', 'NCDHW'):
        raise G.PortError(f'{node.name}: Pooling layout {a.str("layout")} is not supported by the torch port')
    if a.bool('global_pool'):
        dims = tuple(range(2, x.dim()))
        if kind == 'max':
            return x.amax(dim=dims, keepdim=True)
        if kind == 'sum':
            return x.sum(dim=dims, keepdim=True)
        return x.mean(dim=dims, keepdim=True)
    kernel = a.tuple('kernel')
    stride = a.tuple('stride', None) or kernel
    pad = a.tuple('pad', None) or (0,) * nd
    ceil = a.str('pooling_convention', 'valid') == 'full'
    if kind == 'max':
        return (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nd - 1](x, kernel, stride, pad, ceil_mode=ceil)
    if kind in ('avg', 'sum'):
        out = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[nd - 1](
            x, kernel, stride, pad, ceil_mode=ceil, count_include_pad=a.bool('count_include_pad', True))
        return out * math.prod(kernel) if kind == 'sum' else out
    raise G.PortError(f'{node.name}: pool_type {kind} is not supported by the torch port')


def _stat_shape(x, axis):
    shape = [1] * x.dim()
    shape[axis] = x.shape[axis]
    return shape


@converter('BatchNorm', '_npx_batch_norm', target='torch')
def batch_norm(ctx, node, x, gamma, beta, running_mean, running_var):
    """MXNet's running statistics: ``new = momentum * old + (1 - momentum) * batch`` with the
    *biased* batch variance; PyTorch's ``momentum`` is the complement (and ``F.batch_norm``
    would update with the unbiased variance), so the update is written out."""
    a = node.attrs
    axis = a.int('axis', 1) % x.dim()
    eps = a.float('eps', 1e-3)
    momentum = float(numpy.float32(a.float('momentum', 0.9)))  # MXNet keeps momentum as a C float
    torch_momentum = 1 - momentum
    if a.bool('fix_gamma', True):
        gamma = torch.ones_like(gamma)
    shape = _stat_shape(x, axis)
    if ctx.training and not a.bool('use_global_stats'):
        dims = [d for d in range(x.dim()) if d != axis]
        mean = x.mean(dim=dims)
        var = x.var(dim=dims, unbiased=False)
        with torch.no_grad():
            running_mean.lerp_(mean.detach(), torch_momentum)
            running_var.lerp_(var.detach(), torch_momentum)
    else:
        mean, var = running_mean, running_var
    y = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps) * gamma.reshape(shape) + beta.reshape(shape)
    return y, mean, var


@converter('LayerNorm', '_npx_layer_norm', target='torch')
def layer_norm(ctx, node, x, gamma, beta):
    axis = node.attrs.int('axis', -1) % x.dim()
    eps = node.attrs.float('eps', 1e-5)
    if axis == x.dim() - 1:
        return F.layer_norm(x, (x.shape[-1],), gamma, beta, eps)
    mean = x.mean(dim=axis, keepdim=True)
    var = x.var(dim=axis, keepdim=True, unbiased=False)
    shape = _stat_shape(x, axis)
    return (x - mean) / torch.sqrt(var + eps) * gamma.reshape(shape) + beta.reshape(shape)


@converter('Dropout', '_npx_dropout', target='torch')
def dropout(ctx, node, x):
    p = node.attrs.float('p', 0.5)
    if p == 0 or not (ctx.training or node.attrs.str('mode', 'training') == 'always'):
        return x
    return F.dropout(x, p, training=True)


_ACTIVATIONS = {'relu': torch.relu, 'sigmoid': torch.sigmoid, 'tanh': torch.tanh, 'softrelu': F.softplus,
                'softsign': F.softsign, 'log_sigmoid': F.logsigmoid, 'mish': F.mish}


@converter('Activation', '_npx_activation', target='torch')
def activation(ctx, node, x):
    kind = node.attrs.str('act_type')
    if kind not in _ACTIVATIONS:
        raise G.PortError(f'{node.name}: act_type {kind} is not supported by the torch port')
    return _ACTIVATIONS[kind](x)


@converter('LeakyReLU', '_npx_leaky_relu', target='torch')
def leaky_relu(ctx, node, x, gamma=None):
    kind, slope = node.attrs.str('act_type', 'leaky'), node.attrs.float('slope', 0.25)
    if kind == 'leaky':
        return F.leaky_relu(x, slope)
    if kind == 'elu':
        return F.elu(x, slope)
    if kind == 'selu':
        return F.selu(x)
    if kind == 'gelu':
        return F.gelu(x)
    if kind == 'prelu':
        return torch.where(x >= 0, x, x * gamma.reshape([1, -1] + [1] * (x.dim() - 2)) if x.dim() > 1 else x * gamma)
    raise G.PortError(f'{node.name}: LeakyReLU act_type {kind} is not supported by the torch port')


# --- the fused RNN -----------------------------------------------------------------------------

TORCH_RNN = {'rnn_relu': (nn.RNN, {'nonlinearity': 'relu'}), 'rnn_tanh': (nn.RNN, {'nonlinearity': 'tanh'}),
             'lstm': (nn.LSTM, {}), 'gru': (nn.GRU, {})}


def split_rnn_params(attrs, flat, input_size):
    """``{torch name: view of flat}`` for the fused vector (see :func:`rnn_layout`)."""
    out, offset = {}, 0
    for name, shape in G.rnn_layout(attrs, input_size):
        size = math.prod(shape)
        out[name] = flat[offset:offset + size].reshape(shape)
        offset += size
    if offset != flat.numel():
        raise G.PortError(f'RNN parameter vector has {flat.numel()} values, the layout {offset}')
    return out


@converter('RNN', '_npx_rnn', target='torch')
def rnn(ctx, node, x, params, state, cell=None):
    """``torch.func.functional_call`` of a PyTorch ``RNN``/``LSTM``/``GRU`` on the fused vector's views."""
    return run_rnn(ctx, node, x, split_rnn_params(node.attrs, params, x.shape[-1]), state, cell)


def run_rnn(ctx, node, x, weights, state, cell=None):
    """The PyTorch recurrent module of ``node`` run with ``weights`` (``{torch name: tensor}``)."""
    G.check_rnn(node)
    a = node.attrs
    mode = a.str('mode')
    key = (ctx.node_index, x.dtype, x.shape[-1])
    if key not in ctx.cache:
        cls, extra = TORCH_RNN[mode]
        ctx.cache[key] = cls(x.shape[-1], a.int('state_size'), a.int('num_layers', 1),
                             bidirectional=a.bool('bidirectional'), dropout=a.float('p', 0.0),
                             dtype=x.dtype, **extra)
    module = ctx.cache[key].train(ctx.training)
    hx = (state, cell) if mode == 'lstm' else state
    out, h = torch.func.functional_call(module, weights, (x, hx))
    if not a.bool('state_outputs'):
        return out
    return (out,) + (tuple(h) if mode == 'lstm' else (h,))


# --- shapes ------------------------------------------------------------------------------------

@converter('Reshape', target='torch')
def reshape_legacy(ctx, node, x):
    return x.reshape(G.reshape_shape(x.shape, node.attrs.tuple('shape'), 'legacy', node.attrs.bool('reverse')))


@converter('_np_reshape', target='torch')
def reshape_np(ctx, node, x):
    return x.reshape(G.reshape_shape(x.shape, node.attrs.tuple('newshape'), 'np'))


@converter('_npx_reshape', target='torch')
def reshape_npx(ctx, node, x):
    return x.reshape(G.reshape_shape(x.shape, node.attrs.tuple('newshape'), 'npx', node.attrs.bool('reverse')))


@converter('Flatten', 'flatten', '_npx_batch_flatten', target='torch')
def batch_flatten(ctx, node, x):
    return x.reshape(x.shape[0], -1)


@converter('transpose', '_np_transpose', target='torch')
def transpose(ctx, node, x):
    axes = node.attrs.tuple('axes', None)
    return x.permute(*(axes if axes else range(x.dim() - 1, -1, -1)))


@converter('SwapAxis', 'swapaxes', '_npi_swapaxes', target='torch')
def swapaxes(ctx, node, x):
    a = node.attrs
    return x.transpose(a.int('dim1', a.int('axis1', 0)), a.int('dim2', a.int('axis2', 0)))


@converter('expand_dims', '_npi_expand_dims', '_np_expand_dims', target='torch')
def expand_dims(ctx, node, x):
    return x.unsqueeze(node.attrs.int('axis'))


@converter('squeeze', '_np_squeeze', target='torch')
def squeeze(ctx, node, x):
    axes = node.attrs.axes('axis')
    if axes is None:
        return x.squeeze()
    return x.squeeze(tuple(a % x.dim() for a in axes))


@converter('Concat', 'concat', '_npi_concatenate', '_np_concatenate', '_rnn_param_concat', target='torch')
def concatenate(ctx, node, *xs):
    a = node.attrs
    axis = a.optional('dim', a.optional('axis', 1))
    if axis is None:
        return torch.cat([x.reshape(-1) for x in xs])
    return torch.cat(xs, dim=int(axis))


@converter('stack', '_npi_stack', target='torch')
def stack(ctx, node, *xs):
    return torch.stack(xs, dim=node.attrs.int('axis', 0))


@converter('slice', '_npi_slice', 'crop', target='torch')
def slice_(ctx, node, x):
    a = node.attrs
    begin, end = a.tuple('begin'), a.tuple('end')
    step = a.tuple('step', None) or (None,) * len(begin)
    for axis, (b, e, s) in enumerate(zip(begin, end, step)):
        if s is not None and s < 0:  # MXNet writes x[:, -1] as begin -1, end -2, step -1
            picked = list(range(x.shape[axis]))[slice(b, e, s)]
            x = x.index_select(axis, torch.tensor(picked, dtype=torch.long))
        else:
            x = x[(slice(None),) * axis + (slice(b, e, s),)]
    return x


@converter('slice_axis', target='torch')
def slice_axis(ctx, node, x):
    a = node.attrs
    index = [slice(None)] * x.dim()
    index[a.int('axis') % x.dim()] = slice(a.int('begin'), a.optional('end'))
    return x[tuple(index)]


@converter('SliceChannel', 'split', '_split_v2', '_npi_split', target='torch')
def split(ctx, node, x):
    a = node.attrs
    axis = a.int('axis', 1) % x.dim()
    sections = a.int('num_outputs', a.int('sections', 0))
    indices = a.tuple('indices', ())
    if sections:
        parts = torch.chunk(x, sections, dim=axis)
    else:
        bounds = [i for i in indices if i] + [x.shape[axis]]
        sizes = [b - a_ for a_, b in zip([0] + bounds[:-1], bounds)]
        parts = torch.split(x, sizes, dim=axis)
    if a.bool('squeeze_axis'):
        parts = [p.squeeze(axis) for p in parts]
    return tuple(parts)


@converter('Cast', 'cast', '_npi_cast', 'amp_cast', target='torch')
def cast(ctx, node, x):
    return x.to(DTYPES[node.attrs.str('dtype')])


@converter('one_hot', '_npx_one_hot', target='torch')
def one_hot(ctx, node, x):
    a = node.attrs
    hot = F.one_hot(x.long(), a.int('depth')).to(DTYPES[a.str('dtype', 'float32')])
    on, off = a.float('on_value', 1.0), a.float('off_value', 0.0)
    return hot if (on, off) == (1.0, 0.0) else hot * (on - off) + off


@converter('zeros_like', '_np_zeros_like', target='torch')
def zeros_like(ctx, node, x):
    return torch.zeros_like(x)


@converter('ones_like', '_np_ones_like', target='torch')
def ones_like(ctx, node, x):
    return torch.ones_like(x)


@converter('_npi_full_like', 'full_like', target='torch')
def full_like(ctx, node, x):
    dtype = node.attrs.str('dtype', None)
    dtype = DTYPES[dtype] if dtype not in (None, 'None') else None
    return torch.full_like(x, node.attrs.float('fill_value'), dtype=dtype)


@converter('_zeros', '_npi_zeros', '_ones', '_npi_ones', '_full', '_npi_full', target='torch')
def full(ctx, node):
    a = node.attrs
    value = 0.0 if 'zeros' in node.op else 1.0 if 'ones' in node.op else a.float('value', a.float('fill_value'))
    return torch.full(a.tuple('shape'), value, dtype=DTYPES[a.str('dtype', 'float32')])


# --- arithmetic --------------------------------------------------------------------------------

def _register_elementwise():
    binary = {
        torch.add: ('elemwise_add', 'broadcast_add', 'broadcast_plus', '_plus', '_Plus', '_add', '_npi_add'),
        torch.sub: ('elemwise_sub', 'broadcast_sub', 'broadcast_minus', '_minus', '_Minus', '_sub',
                    '_npi_subtract'),
        torch.mul: ('elemwise_mul', 'broadcast_mul', '_mul', '_Mul', '_npi_multiply'),
        torch.true_divide: ('elemwise_div', 'broadcast_div', '_div', '_Div', '_npi_true_divide'),
        torch.maximum: ('broadcast_maximum', '_maximum', '_npi_maximum'),
        torch.minimum: ('broadcast_minimum', '_minimum', '_npi_minimum'),
        torch.pow: ('broadcast_power', '_power', '_Power', '_npi_power'),
    }
    for fn, ops in binary.items():
        converter(*ops, target='torch')(lambda ctx, node, a, b, fn=fn: fn(a, b))
    scalar = {
        (lambda x, s: x + s): ('_plus_scalar', '_PlusScalar', '_npi_add_scalar'),
        (lambda x, s: x - s): ('_minus_scalar', '_MinusScalar', '_npi_subtract_scalar'),
        (lambda x, s: s - x): ('_rminus_scalar', '_RMinusScalar', '_npi_rsubtract_scalar'),
        (lambda x, s: x * s): ('_mul_scalar', '_MulScalar', '_npi_multiply_scalar'),
        (lambda x, s: x / s): ('_div_scalar', '_DivScalar', '_npi_true_divide_scalar'),
        (lambda x, s: s / x): ('_rdiv_scalar', '_RDivScalar', '_npi_rtrue_divide_scalar'),
        (lambda x, s: x ** s): ('_power_scalar', '_PowerScalar', '_npi_power_scalar'),
        (lambda x, s: s ** x): ('_rpower_scalar', '_RPowerScalar', '_npi_rpower_scalar'),
        (lambda x, s: torch.clamp(x, min=s)): ('_maximum_scalar', '_MaximumScalar', '_npi_maximum_scalar'),
        (lambda x, s: torch.clamp(x, max=s)): ('_minimum_scalar', '_MinimumScalar', '_npi_minimum_scalar'),
        (lambda x, s: (x > s).to(x.dtype)): ('_greater_scalar', '_npi_greater_scalar'),
        (lambda x, s: (x < s).to(x.dtype)): ('_lesser_scalar', '_npi_less_scalar'),
    }
    for fn, ops in scalar.items():
        converter(*ops, target='torch')(lambda ctx, node, x, fn=fn: fn(x, node.attrs.float('scalar')))
    unary = {
        torch.neg: ('negative', '_npi_negative'), torch.exp: ('exp', '_npi_exp'), torch.log: ('log', '_npi_log'),
        torch.sqrt: ('sqrt', '_npi_sqrt'), torch.square: ('square', '_npi_square'),
        torch.abs: ('abs', '_npi_absolute', '_npi_abs'), torch.relu: ('relu', '_npx_relu'),
        torch.sigmoid: ('sigmoid', '_npx_sigmoid'), torch.tanh: ('tanh', '_npi_tanh'),
        torch.rsqrt: ('rsqrt',), torch.reciprocal: ('reciprocal', '_npi_reciprocal'),
        torch.sin: ('sin', '_npi_sin'), torch.cos: ('cos', '_npi_cos'), torch.erf: ('erf', '_npx_erf'),
        F.softplus: ('softrelu',), torch.log1p: ('log1p', '_npi_log1p'), torch.expm1: ('expm1', '_npi_expm1'),
        (lambda x: x): ('identity', '_copy', 'BlockGrad_', '_npi_copy'),
    }
    for fn, ops in unary.items():
        converter(*ops, target='torch')(lambda ctx, node, x, fn=fn: fn(x))


_register_elementwise()


@converter('BlockGrad', 'stop_gradient', '_npx_stop_gradient', target='torch')
def stop_gradient(ctx, node, x):
    return x.detach()


@converter('clip', '_npi_clip', target='torch')
def clip(ctx, node, x):
    return torch.clamp(x, node.attrs.float('a_min'), node.attrs.float('a_max'))


@converter('where', '_npi_where', target='torch')
def where(ctx, node, cond, x, y):
    return torch.where(cond != 0, x, y)


# --- products, softmax, reductions -------------------------------------------------------------

@converter('dot', target='torch')
def dot_legacy(ctx, node, a, b):
    """Legacy ``dot``: the last axis of ``a`` with the first of ``b`` (after the optional transposes)."""
    if node.attrs.bool('transpose_a'):
        a = a.permute(*range(a.dim() - 1, -1, -1))
    if node.attrs.bool('transpose_b'):
        b = b.permute(*range(b.dim() - 1, -1, -1))
    return torch.tensordot(a, b, dims=([-1], [0]))


@converter('_np_dot', target='torch')
def dot_np(ctx, node, a, b):
    """``numpy.dot``: the last axis of ``a`` with the second-to-last of ``b``."""
    if a.dim() == 0 or b.dim() == 0:
        return a * b
    return torch.tensordot(a, b, dims=([-1], [-2 if b.dim() > 1 else 0]))


@converter('_npi_matmul', 'matmul', target='torch')
def matmul(ctx, node, a, b):
    return torch.matmul(a, b)


@converter('batch_dot', '_npx_batch_dot', target='torch')
def batch_dot(ctx, node, a, b):
    if node.attrs.bool('transpose_a'):
        a = a.transpose(-1, -2)
    if node.attrs.bool('transpose_b'):
        b = b.transpose(-1, -2)
    return torch.matmul(a, b)


@converter('softmax', '_npx_softmax', target='torch')
def softmax(ctx, node, x):
    return torch.softmax(G.softmax_input(node, x), dim=node.attrs.int('axis', -1))


@converter('log_softmax', '_npx_log_softmax', target='torch')
def log_softmax(ctx, node, x):
    return torch.log_softmax(G.softmax_input(node, x), dim=node.attrs.int('axis', -1))


def _reduction(fn):
    def convert(ctx, node, x):
        axes = G.reduction_axes(node, x.dim())
        keep = node.attrs.bool('keepdims')
        if not axes:
            return x
        return fn(x, axes, keep)
    return convert


converter('sum', 'sum_axis', '_np_sum', target='torch')(_reduction(lambda x, d, k: x.sum(dim=d, keepdim=k)))
converter('mean', '_npi_mean', '_np_mean', target='torch')(_reduction(lambda x, d, k: x.mean(dim=d, keepdim=k)))
converter('max', 'max_axis', '_np_max', target='torch')(_reduction(lambda x, d, k: x.amax(dim=d, keepdim=k)))
converter('min', 'min_axis', '_np_min', target='torch')(_reduction(lambda x, d, k: x.amin(dim=d, keepdim=k)))
converter('prod', '_np_prod', target='torch')(_reduction(
    lambda x, d, k: x.reshape(*x.shape) if not d else _prod(x, d, k)))
converter('_npi_var', target='torch')(_reduction(lambda x, d, k: x.var(dim=d, keepdim=k, unbiased=False)))


def _prod(x, dims, keep):
    for d in sorted(dims, reverse=True):
        x = x.prod(dim=d, keepdim=keep)
    return x


# --- compare's runner --------------------------------------------------------------------------

PortedModule.port_target = 'torch'


def run_compare(module, inputs, cotangent, training, lr):
    """Forward, backward, aux states and one ``torch.optim.SGD`` step; restores the module."""
    saved = {k: v.detach().clone() for k, v in module.state_dict().items()}
    was_training = module.training
    try:
        module.train(training)
        xs = [tensor(a) for a in inputs]
        for x in xs:
            if x.is_floating_point():
                x.requires_grad_(True)
        module.zero_grad(set_to_none=True)
        outs, _ = G.flatten(module(*G.regroup(xs, module.graph.in_format)))
        total = sum((o * tensor(cotangent(k, tuple(o.shape), str(o.dtype).replace('torch.', '')))).sum()
                    for k, o in enumerate(outs))
        total.backward()
        result = {'output': [o.detach().numpy() for o in outs],
                  'input grad': {n: x.grad.numpy() for n, x in zip(module.graph.inputs, xs) if x.grad is not None},
                  'grad': gluon_grads(module),
                  'aux': {n: b.detach().numpy().copy() for n, b in module.named_buffers()}}
        trainable = [p for p in module.parameters() if p.requires_grad]
        if trainable:
            torch.optim.SGD(trainable, lr=lr).step()
        result['after step'] = {n: p.detach().numpy().copy() for n, p in module.named_parameters()}
    finally:
        module.load_state_dict(saved)
        module.train(was_training)
    return result
