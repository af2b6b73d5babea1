"""Trace a Gluon HybridBlock into a small plain-Python graph: what ``export()`` writes.

:func:`trace` hybridizes the block, runs it once on the example inputs and reads back the
symbol graph MXNet cached for that call (the JSON ``export()`` writes as ``*-symbol.json``)
and the parameters (``*.params``: arguments and auxiliary states such as BatchNorm's running
mean and variance). The result, :class:`Graph`, holds only Python values and NumPy arrays, so
the targets (``torch.py``, ``keras.py``, ``flax.py``, and the ONNX exporter) never touch MXNet.

Operator attributes stay the strings MXNet stores; :class:`Attrs` parses them
(``attrs.int('num_hidden')``, ``attrs.tuple('kernel')``, ``attrs.bool('flatten', True)``, ...).
"""
import ast
import contextlib
import dataclasses
import inspect
import json

import numpy

__all__ = ['Attrs', 'Node', 'Graph', 'trace', 'from_json', 'flatten', 'regroup', 'reshape_shape',
           'PortError']


class PortError(ValueError):
    """A block that cannot be traced or ported, with the reason in one line."""


_NONE = ('None', 'none', '')


class Attrs(dict):
    """An operator's attributes as MXNet stores them (``str -> str``), with typed getters."""

    def str(self, key, default=None):
        value = self.get(key)
        return default if value is None else value

    def int(self, key, default=None):
        value = self.get(key)
        return default if value is None or value in _NONE else int(float(value))

    def float(self, key, default=None):
        value = self.get(key)
        return default if value is None or value in _NONE else float(value)

    def bool(self, key, default=False):
        value = self.get(key)
        if value is None or value in _NONE:
            return default
        if value in ('True', 'true', '1'):
            return True
        if value in ('False', 'false', '0'):
            return False
        raise PortError(f'attribute {key}={value!r} is not a boolean')

    def tuple(self, key, default=None):
        """``'(1, 2)'``, ``'[1,2]'``, ``'3'`` -> a tuple of ints (``None`` entries kept)."""
        value = self.get(key)
        if value is None or value in _NONE:
            return default
        parsed = ast.literal_eval(value.replace('L', ''))
        if not isinstance(parsed, (tuple, list)):
            parsed = (parsed,)
        return tuple(None if v is None else int(v) for v in parsed)

    def optional(self, key, default=None):
        """``'None'`` -> ``None``; an int/float/bool literal -> its value; else the string."""
        value = self.get(key)
        if value is None or value in _NONE:
            return default
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value

    def axes(self, key, default=None):
        """An axis attribute that may be one int, a tuple, or ``None`` (all axes) -> tuple or None."""
        value = self.optional(key, default)
        if value is None or value == ():
            return None if value is None else ()
        return tuple(value) if isinstance(value, (tuple, list)) else (int(value),)


@dataclasses.dataclass
class Node:
    """One graph node: ``op`` (``'null'`` for inputs and parameters), its ``name``, ``attrs``,
    and ``inputs`` as ``(node index, output index)`` pairs."""
    op: str
    name: str
    attrs: Attrs
    inputs: list

    @property
    def layer(self):
        """The Gluon layer prefix of the node (``dense0`` for ``dense0_fwd``)."""
        return self.name.rsplit('_', 1)[0] if '_' in self.name else self.name


@dataclasses.dataclass
class Graph:
    """A traced block: nodes in topological order, inputs, parameters, outputs.

    - ``inputs``: the graph inputs' names, in call order (named after the block's
      ``hybrid_forward`` arguments when they are plain arrays);
    - ``params``: ``{gluon parameter name: numpy array}``, auxiliary states included; ``aux`` names
      those (BatchNorm's running mean/var), ``trainable`` the ones with a gradient;
    - ``outputs``: ``(node index, output index)`` pairs; ``in_format``/``out_format`` are the nesting
      of the call's arguments and results (see :func:`flatten` / :func:`regroup`);
    - ``numpy_mode``: whether the block ran in MXNet's NumPy mode (``_np_*`` operators).
    """
    nodes: list
    inputs: list
    params: dict
    aux: list
    outputs: list
    in_format: list
    out_format: list
    numpy_mode: bool
    trainable: list = dataclasses.field(default_factory=list)
    input_nodes: dict = dataclasses.field(default_factory=dict)
    #: the example inputs' dtypes, in ``inputs`` order
    input_dtypes: list = dataclasses.field(default_factory=list)

    def index(self, name):
        """The index of the node called ``name``."""
        for i, node in enumerate(self.nodes):
            if node.name == name:
                return i
        raise KeyError(name)

    def ops(self):
        """The set of operators the graph uses (variables excluded)."""
        return sorted({node.op for node in self.nodes if node.op != 'null'})

    def consumers(self, index):
        """Indices of the nodes that read an output of node ``index``."""
        return [i for i, node in enumerate(self.nodes) if any(src == index for src, _ in node.inputs)]

    def to_json(self):
        """The graph and the parameters' shapes/dtypes as JSON (weights are saved separately)."""
        return json.dumps({
            'nodes': [{'op': n.op, 'name': n.name, 'attrs': dict(n.attrs), 'inputs': [list(i) for i in n.inputs]}
                      for n in self.nodes],
            'inputs': self.inputs, 'aux': self.aux, 'trainable': self.trainable,
            'outputs': [list(o) for o in self.outputs], 'in_format': self.in_format,
            'out_format': self.out_format, 'numpy_mode': self.numpy_mode,
            'input_nodes': self.input_nodes, 'input_dtypes': self.input_dtypes,
            'params': {k: [list(v.shape), str(v.dtype)] for k, v in self.params.items()}}, indent=1)


def from_json(text, params):
    """Rebuild a :class:`Graph` from :meth:`Graph.to_json` and ``{name: array}`` weights."""
    data = json.loads(text)
    missing = sorted(set(data['params']) - set(params))
    if missing:
        raise PortError(f'the weights lack parameters {missing[:5]}')
    nodes = [Node(n['op'], n['name'], Attrs(n['attrs']), [tuple(i) for i in n['inputs']]) for n in data['nodes']]
    return Graph(nodes, data['inputs'], {k: numpy.asarray(params[k]) for k in data['params']}, data['aux'],
                 [tuple(o) for o in data['outputs']], data['in_format'], data['out_format'], data['numpy_mode'],
                 data['trainable'], data['input_nodes'], data.get('input_dtypes', []))


def from_symbol_json(text, params, input_names=None, aux=()):
    """A :class:`Graph` from an ``export()``-ed ``*-symbol.json`` text and ``{name: array}``
    (``arg:``/``aux:`` prefixes of a ``.params`` file are stripped)."""
    data = json.loads(text)
    params = {k.split(':', 1)[-1]: numpy.asarray(v) for k, v in params.items()}
    aux = set(aux) | {k.split(':', 1)[-1] for k in params if k.startswith('aux:')}
    nodes, inputs = [], []
    for raw in data['nodes']:
        nodes.append(Node(raw['op'], raw['name'], Attrs(raw.get('attrs', raw.get('param', {})) or {}),
                          [(i[0], i[1]) for i in raw['inputs']]))
        if raw['op'] == 'null' and raw['name'] not in params:
            inputs.append(raw['name'])
    names = list(input_names or inputs)
    outputs = [(h[0], h[1]) for h in data['heads']]
    numpy_mode = any(n.op.startswith(('_np', '_npi', '_npx')) for n in nodes)
    used = {nodes[i].name for i, n in enumerate(nodes) if n.op == 'null'}
    return Graph(nodes, names, {k: v for k, v in params.items() if k in used}, sorted(aux & used), outputs,
                 [0] * len(names), [0] * len(outputs), numpy_mode,
                 [k for k in params if k in used and k not in aux], dict(zip(names, inputs)))


# --- nesting of arguments and results (Gluon's _in_format / _out_format) -------------------------

def flatten(args):
    """Nested lists/tuples of arrays -> (flat list, format), format as Gluon writes it; a ``None``
    argument (an optional one left out) has no array and format ``-1``."""
    if args is None:
        return [], -1
    if isinstance(args, (list, tuple)):
        flat, fmt = [], []
        for arg in args:
            f, sub = flatten(arg)
            flat.extend(f)
            fmt.append(sub)
        return flat, fmt
    return [args], 0


def regroup(flat, fmt):
    """Inverse of :func:`flatten`: ``(flat list, format)`` -> nested tuples."""
    def take(items, fmt):
        if isinstance(fmt, int):
            if fmt == -1:
                return None, items
            if fmt == 0:
                return items[0], items[1:]
            return tuple(items[:fmt]), items[fmt:]
        out = []
        for sub in fmt:
            value, items = take(items, sub)
            out.append(value)
        return tuple(out), items
    value, rest = take(list(flat), fmt)
    return value


def _leaves(fmt):
    if isinstance(fmt, int):
        return 1 if fmt == 0 else max(fmt, 0)
    return sum(_leaves(f) for f in fmt)


# --- reshape codes -----------------------------------------------------------------------------

def reshape_shape(shape, newshape, kind, reverse=False):
    """The concrete shape of a reshape of ``shape`` by ``newshape``; ``kind`` is ``'np'``
    (``_np_reshape``, NumPy's rules), ``'legacy'`` (``Reshape``) or ``'npx'`` (``_npx_reshape``).

    Legacy ``Reshape``: 0 copies a dimension, -1 infers one, -2 copies the rest, -3 merges two,
    -4 splits one into the next two. ``_npx_reshape``: -1 infers, -2 copies, -3 drops a size-1
    dimension, -4 copies the rest, -5 merges two, -6 splits one into the next two.
    """
    shape, spec = list(shape), list(newshape)
    if reverse:
        shape, spec = shape[::-1], spec[::-1]
    if kind not in ('np', 'npx', 'legacy'):
        raise ValueError(f'reshape kind {kind!r}: one of np, npx, legacy')
    if kind == 'np':  # _np_reshape: plain NumPy semantics
        out = spec
    else:
        codes = {'copy': 0, 'rest': -2, 'merge': -3, 'split': -4} if kind == 'legacy' else \
            {'copy': -2, 'drop': -3, 'rest': -4, 'merge': -5, 'split': -6}
        out, i, j = [], 0, 0
        while j < len(spec):
            s = spec[j]
            if s == codes['copy']:
                out.append(shape[i])
                i += 1
            elif s == -1:
                out.append(-1)
                i += 1
            elif s == codes['rest']:
                out.extend(shape[i:])
                i = len(shape)
            elif s == codes['merge']:
                out.append(shape[i] * shape[i + 1])
                i += 2
            elif s == codes['split']:
                a, b = spec[j + 1], spec[j + 2]
                a = shape[i] // b if a == -1 else a
                b = shape[i] // a if b == -1 else b
                out.extend([a, b])
                i += 1
                j += 2
            elif s == codes.get('drop'):
                if shape[i] != 1:
                    raise PortError(f'reshape code -3 drops dimension {i} of {tuple(shape)}, which is not 1')
                i += 1
            else:
                out.append(s)
                i += 1
            j += 1
    if out.count(-1) > 1:
        raise PortError(f'reshape {tuple(newshape)} of {tuple(shape)} infers more than one dimension')
    if -1 in out:
        known = int(numpy.prod([d for d in out if d != -1]))
        out[out.index(-1)] = int(numpy.prod(shape)) // max(known, 1)
    return tuple(out[::-1] if reverse else out)


# --- tracing -----------------------------------------------------------------------------------

def _mode_of(arrays):
    """NumPy mode if an input is an ``mx.np.ndarray``, legacy if an ``mx.nd.NDArray``, else the current one."""
    import mxnet as mx
    for a in arrays:
        if isinstance(a, mx.np.ndarray):
            return True
        if isinstance(a, mx.nd.NDArray):
            return False
    return bool(mx.util.is_np_array())


def mx_mode():
    """Whether MXNet is in NumPy mode now."""
    import mxnet as mx
    return bool(mx.util.is_np_array())


@contextlib.contextmanager
def mode(numpy_mode):
    """Run MXNet in NumPy mode (``True``) or legacy mode (``False``) inside the block."""
    import mxnet as mx
    # NumPy arrays need NumPy shapes: shape semantics on first and off last
    first, second = (mx.util.np_shape, mx.util.np_array) if numpy_mode else (mx.util.np_array, mx.util.np_shape)
    with first(numpy_mode), second(numpy_mode):
        yield


def to_mxnet(array, numpy_mode, ctx=None):
    """A NumPy array (or an MXNet one) as an array of the requested mode."""
    import mxnet as mx
    if isinstance(array, mx.nd.NDArray):
        array = array.asnumpy()
    array = numpy.asarray(array)
    return (mx.np.array if numpy_mode else mx.nd.array)(array, dtype=array.dtype, ctx=ctx)


def _argument_names(block, count):
    try:
        names = list(inspect.signature(block.hybrid_forward).parameters)[1:]  # drop F
    except (TypeError, ValueError):
        names = []
    return names


def trace(block, *example_inputs):
    """Hybridize ``block``, run it once on ``example_inputs`` and return its :class:`Graph`.

    ``example_inputs`` are what the block is called with (NumPy or MXNet arrays, nested lists
    for states). A plain ``Block`` (no graph to trace) raises :class:`PortError`.
    """
    from mxnet import gluon
    if not isinstance(block, gluon.HybridBlock):
        raise PortError(f'{type(block).__name__} is a plain gluon.Block: it has no symbol graph to port; '
                        f'write it as a HybridBlock (hybrid_forward with F) and port that')
    flat, in_format = flatten(list(example_inputs))
    numpy_mode = _mode_of(flat)
    with mode(numpy_mode):
        args_flat = [to_mxnet(a, numpy_mode) for a in flat]
        args = regroup(args_flat, in_format)
        block.hybridize()
        _, out_format = flatten(block(*args))
        # why not export(): it writes the same JSON and parameters, but to files; the cached
        # graph of the call just made is that symbol, in memory.
        sym_inputs, sym = block._cached_graph
        block_in_format = getattr(block, '_in_format', in_format)
        data = json.loads(sym.tojson())
        params = {}
        block_params = block.collect_params()
        for name, param in block_params.items():
            params[name] = param.data().asnumpy()
        aux = set(sym.list_auxiliary_states())
    input_syms = [s.name for s in sym_inputs]
    names = _argument_names(block, len(input_syms))
    flat_names = []
    if isinstance(block_in_format, list) and len(names) >= len(block_in_format):
        for name, fmt in zip(names, block_in_format):
            if fmt == 0:
                flat_names.append(name)
            elif fmt != -1:
                count = _leaves(fmt)
                flat_names.extend(f'{name}{i}' for i in range(count))
    if len(flat_names) != len(input_syms) or len(set(flat_names)) != len(flat_names):
        flat_names = input_syms
    rename = dict(zip(input_syms, flat_names))
    nodes = []
    for raw in data['nodes']:
        name = rename.get(raw['name'], raw['name']) if raw['op'] == 'null' else raw['name']
        nodes.append(Node(raw['op'], name, Attrs(raw.get('attrs') or {}), [(i[0], i[1]) for i in raw['inputs']]))
    used = {n.name for n in nodes if n.op == 'null'}
    unknown = sorted(used - set(params) - set(flat_names))
    if unknown:
        raise PortError(f'graph variables {unknown} are neither inputs nor parameters of {type(block).__name__}')
    kept = {k: v for k, v in params.items() if k in used}
    trainable = [k for k in kept if k not in aux and block_params[k].grad_req != 'null']
    outputs = [(h[0], h[1]) for h in data['heads']]
    dtypes = [str(numpy.dtype(a.dtype)) for a in args_flat]
    # an RNN layer called without states gets them from begin_state() outside its graph: graph inputs
    # the caller did not pass, which become zeros like those the layer makes
    free = flat_names[len(flat):] if _rnn_layer_without_states(block) and len(flat) < len(input_syms) else []
    if len(flat) != len(input_syms) - len(free):
        raise PortError(f'{type(block).__name__} was called with {len(flat)} arrays but its graph has '
                        f'{len(input_syms)} inputs')
    nodes, outputs = initial_states(nodes, outputs, kept, free)
    names = [n for n in flat_names if n not in free]
    return Graph(nodes, names, kept, sorted(aux & used), outputs, in_format, out_format, numpy_mode,
                 trainable, {n: s for n, s in zip(flat_names, input_syms) if n not in free}, dtypes)


def _rnn_layer_without_states(block):
    """Whether ``block`` is a Gluon RNN layer that was just called without ``begin_state``."""
    from mxnet.gluon.rnn import rnn_layer
    return isinstance(block, rnn_layer._RNNLayer) and bool(getattr(block, 'skip_states', False))


_ZEROS = ('_zeros', '_npi_zeros')
_RNN = ('RNN', '_npx_rnn')


def _inferred_zeros(node):
    """A ``zeros`` node with a dimension MXNet infers at run time (0 in its shape)."""
    return node.op in _ZEROS and 0 in (node.attrs.tuple('shape') or ())


def _weights_dtype(nodes, index, params):
    """The dtype of the first parameter in ``params`` that node ``index`` is computed from."""
    todo, seen = [index], set()
    while todo:
        node = nodes[todo.pop()]
        if node.op == 'null' and node.name in params:
            return str(numpy.dtype(params[node.name].dtype))
        todo.extend(src for src, _ in node.inputs if src not in seen)
        seen.update(src for src, _ in node.inputs)
    return 'float32'


def initial_states(nodes, outputs, params, free=()):
    """``(nodes, outputs)`` with every RNN initial state that MXNet sizes from the data made explicit.

    Gluon's RNN layers called without ``begin_state`` start from zeros of shape
    ``(layers * directions, batch, hidden)``: in a graph, a ``_zeros`` node whose batch is 0 (infer);
    as the graph of the layer itself, graph inputs (the variables named in ``free``). Each such
    state becomes ``zeros_like`` of a ``(1, batch, 1)`` slice of the RNN's (time, batch, channel)
    data broadcast against constant ``(layers * directions, 1, hidden)`` zeros, so the batch follows
    the input in every target; the dtype (a ``dtype`` attribute of both zeros nodes) is that of the
    RNN's weights in ``params``, which MXNet requires of its data too. Unused nodes are dropped.
    """
    free = set(free)
    replace = {}  # RNN node index -> its state slots to replace
    for i, node in enumerate(nodes):
        if node.op in _RNN:
            slots = [k for k, (src, _) in enumerate(node.inputs) if k >= 2 and k < 4 and
                     (_inferred_zeros(nodes[src]) or (nodes[src].op == 'null' and nodes[src].name in free))]
            if slots:
                replace[i] = slots
    if not replace:
        return nodes, outputs
    new, where = [], {}  # where: old index -> new index

    def add(op, name, inputs, **attrs):
        new.append(Node(op, name, Attrs({k: str(v) for k, v in attrs.items()}), inputs))
        return len(new) - 1

    for i, node in enumerate(nodes):
        inputs = [(where[src], k) for src, k in node.inputs]
        if i in replace:
            a = node.attrs
            states = a.int('num_layers', 1) * (2 if a.bool('bidirectional') else 1)
            kind = _weights_dtype(nodes, node.inputs[1][0], params)
            step = add('slice_axis', f'{node.name}_begin_step', [inputs[0]], axis=0, begin=0, end=1)
            column = add('slice_axis', f'{node.name}_begin_column', [(step, 0)], axis=2, begin=0, end=1)
            batch = add('zeros_like', f'{node.name}_begin_batch', [(column, 0)], dtype=kind)
            shape = add('_zeros', f'{node.name}_begin_shape', [], shape=(states, 1, a.int('state_size')), dtype=kind)
            zeros = add('broadcast_add', f'{node.name}_begin_zeros', [(batch, 0), (shape, 0)])
            for k in replace[i]:
                inputs[k] = (zeros, 0)
        where[i] = len(new)
        new.append(Node(node.op, node.name, node.attrs, inputs))
    # drop what nothing reads any more (the replaced zeros and state variables)
    read = {src for node in new for src, _ in node.inputs} | {where[src] for src, _ in outputs}
    dead = {j for j, node in enumerate(new) if j not in read and (_inferred_zeros(node) or
                                                                  (node.op == 'null' and node.name in free))}
    keep = {j: n for n, j in enumerate(j for j in range(len(new)) if j not in dead)}
    nodes = [Node(node.op, node.name, node.attrs, [(keep[src], k) for src, k in node.inputs])
             for j, node in enumerate(new) if j not in dead]
    return nodes, [(keep[where[src]], k) for src, k in outputs]


# --- interpreting a graph ----------------------------------------------------------------------

class Context:
    """What an interpreting converter may use besides its inputs: ``training`` (Gluon's
    ``autograd.record(train_mode=...)``), ``cache`` (per-node, for objects built once),
    ``target`` and, for the target's own use, ``owner`` (the module or model running the graph)."""

    def __init__(self, target, training=False, owner=None):
        self.target, self.training, self.owner, self.cache = target, training, owner, {}


def converters(graph, target):
    """``{node index: converter}`` for every operator node; :class:`UnsupportedOperator` names the
    first operator ``target`` lacks (so a port fails when it is built, not when it runs)."""
    from .registry import lookup
    return {i: lookup(target, node.op, node.name) for i, node in enumerate(graph.nodes) if node.op != 'null'}


def evaluate(graph, convs, ctx, flat_inputs, params):
    """Run ``graph`` with ``convs`` (from :func:`converters`): ``flat_inputs`` in ``graph.inputs``
    order, ``params`` ``{name: value}``; returns the flat list of outputs."""
    if len(flat_inputs) != len(graph.inputs):
        raise PortError(f'the port takes {len(graph.inputs)} arrays ({", ".join(graph.inputs)}), '
                        f'got {len(flat_inputs)}')
    feeds = dict(zip(graph.inputs, flat_inputs))
    values = []
    for i, node in enumerate(graph.nodes):
        if node.op == 'null':
            values.append((feeds[node.name] if node.name in feeds else params[node.name],))
            continue
        ctx.node_index = i
        try:
            out = convs[i](ctx, node, *[values[src][k] for src, k in node.inputs])
        except PortError:
            raise
        except Exception as err:  # name the node: the user sees which layer of theirs failed
            raise PortError(f'{node.name} ({node.op}): {type(err).__name__}: {err}'.split('\n')[0]) from err
        values.append(out if isinstance(out, tuple) else (out,))
    return [values[src][k] for src, k in graph.outputs]


# --- helpers the interpreting targets share ----------------------------------------------------

#: gate blocks per fused-RNN mode
RNN_GATES = {'rnn_relu': 1, 'rnn_tanh': 1, 'lstm': 4, 'gru': 3}


def rnn_layout(attrs, input_size):
    """The fused parameter vector of MXNet's ``RNN`` operator, in order: ``[(name, shape), ...]``.

    All weights first (per layer, per direction: ``i2h`` then ``h2h``), then all biases in the
    same order; ``name`` is PyTorch's (``weight_ih_l0``, ``bias_hh_l1_reverse``, ...).
    """
    mode, hidden = attrs.str('mode'), attrs.int('state_size')
    layers, dirs = attrs.int('num_layers', 1), 2 if attrs.bool('bidirectional') else 1
    gates = RNN_GATES[mode] * hidden
    weights, biases = [], []
    for layer in range(layers):
        size = input_size if layer == 0 else hidden * dirs
        for d in range(dirs):
            suffix = f'l{layer}' + ('_reverse' if d else '')
            weights += [(f'weight_ih_{suffix}', (gates, size)), (f'weight_hh_{suffix}', (gates, hidden))]
            biases += [(f'bias_ih_{suffix}', (gates,)), (f'bias_hh_{suffix}', (gates,))]
    return weights + biases


def check_rnn(node):
    a = node.attrs
    for key in ('projection_size', 'lstm_state_clip_min', 'lstm_state_clip_max'):
        if a.optional(key) is not None:
            raise PortError(f'{node.name}: RNN {key}={a.str(key)} is not supported by the port')
    if a.bool('use_sequence_length'):
        raise PortError(f'{node.name}: RNN use_sequence_length is not supported by the port')


def softmax_input(node, x):
    """The input of a (log-)softmax node divided by its ``temperature`` (any framework's array)."""
    if node.attrs.bool('use_length'):
        raise PortError(f'{node.name}: softmax use_length is not supported by the port')
    t = node.attrs.optional('temperature')
    return x if t in (None, 1, 1.0) else x / t


def reduction_axes(node, ndim):
    """The axes a reduction node reduces over (legacy ``exclude`` and ``axis=()`` included)."""
    axes = node.attrs.axes('axis')
    if axes is None or axes == ():
        return tuple(range(ndim))
    axes = tuple(a % ndim for a in axes)
    if node.attrs.bool('exclude'):
        axes = tuple(a for a in range(ndim) if a not in axes)
    return axes
