"""The ONNX target: a hybridized Gluon block (legacy or NumPy mode) as an ``onnx.ModelProto``.

:func:`to_onnx` traces the block (``graph.py``), runs MXNet once on the example inputs to learn
every intermediate's shape and dtype, and emits each node through its converter, one small
entry per MXNet operator in the registry (``@converter(..., target='onnx')``). Converters take
``(ctx, node, *inputs)`` where the inputs are ONNX value names and ``ctx`` is the
:class:`Exporter` (``ctx.op``, ``ctx.const``, ``ctx.shape``...), and return the node's visible
outputs. Every value the graph computes is named after MXNet's own name for it
(``dense0_fwd_output``), so :func:`compare` can locate the first node where the two disagree.

The model is checked when it is made: ``onnx.checker.check_model(full_check=True)``, strict
shape inference whose output shapes must agree with MXNet's, graph inputs and outputs named after
the block's, weights as initializers and a symbolic batch axis on every input.
"""
import dataclasses
import json
import math
import os

import numpy

from gluon_d2l.program.files import atomic_write

from .compare import Comparison, Row, row
from .graph import PortError, _mode_of, flatten, mode, regroup, trace
from .registry import converter, lookup

__all__ = ['to_onnx', 'compare', 'run', 'save', 'Mismatch', 'check_model', 'Exporter', 'OnnxComparison',
           'OPSET', 'OPSETS', 'TOLERANCES', 'GATE_ORDER']

OPSET = 18
OPSETS = range(13, 22)
BATCH = 'batch'

_MX_DTYPES = {'float16': numpy.float16, 'float32': numpy.float32, 'float64': numpy.float64,
              'uint8': numpy.uint8, 'int8': numpy.int8, 'int32': numpy.int32, 'int64': numpy.int64,
              'bool': numpy.bool_}


def _onnx():
    try:
        import onnx
        import onnx.checker  # noqa: F401
        import onnx.numpy_helper  # noqa: F401
        import onnx.shape_inference  # noqa: F401
    except ImportError as err:
        raise ImportError('the ONNX target needs the onnx package: pip install "gluon-d2l[onnx]"') from err
    return onnx


def _elem_type(dtype):
    onnx = _onnx()
    return onnx.helper.np_dtype_to_tensor_dtype(numpy.dtype(dtype))


# --- the exporter handed to every converter --------------------------------------------------

class Exporter:
    """Collects the ONNX nodes and initializers while converters run.

    ``op(type, inputs, **attrs)`` adds a node (returns its output name, or names if
    ``outputs=n``); ``const(value, dtype)`` an initializer; ``shape(v)``/``dtype(v)`` are the
    static shape and dtype MXNet computed for the value on the example inputs (``None`` for a
    value made inside a converter); ``value(v)`` the NumPy array of a weight, else ``None``.
    """

    def __init__(self, opset):
        self.opset = opset
        self.nodes, self.initializers = [], []
        self.shapes, self.dtypes, self.weights = {}, {}, {}
        self.current = {}  # output index -> MXNet value name, for the node being converted
        self._count = 0

    def fresh(self, hint):
        self._count += 1
        return f'{hint}__{self._count}'

    def op(self, op_type, inputs, outputs=1, **attrs):
        onnx = _onnx()
        names = [self.fresh(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(onnx.helper.make_node(op_type, list(inputs), names, name=self.fresh(op_type), **attrs))
        return names[0] if outputs == 1 else names

    def const(self, value, dtype, hint='const'):
        onnx = _onnx()
        array = numpy.asarray(value, dtype=dtype)
        name = self.fresh(hint)
        self.initializers.append(onnx.numpy_helper.from_array(array, name))
        self.weights[name] = array
        return name

    def ints(self, values):
        return self.const(list(values), numpy.int64, 'ints')

    def scalar(self, value, like):
        """A rank-0 constant of ``value`` in the dtype of value ``like``."""
        return self.const(value, self.dtype(like), 'scalar')

    def shape(self, value):
        return self.shapes.get(value)

    def rank(self, value):
        return len(self.shapes[value])

    def dtype(self, value):
        return self.dtypes.get(value, numpy.dtype(numpy.float32))

    def value(self, value):
        return self.weights.get(value)

    def out_shape(self, index=0):
        """The shape MXNet gives output ``index`` of the node being converted."""
        name = self.current.get(index)
        return self.shapes.get(name) if name else None

    def out_dtype(self, index=0):
        """The dtype MXNet gives output ``index`` of the node being converted."""
        name = self.current.get(index)
        return self.dtypes.get(name) if name else None

    # opset-dependent helpers (13..21)
    def reduce(self, op_type, x, axes, keepdims):
        """``op_type`` (ReduceMean, ReduceSum, ...) over ``axes`` (``None``: all)."""
        if axes is None:
            return self.op(op_type, [x], keepdims=int(keepdims))
        if op_type == 'ReduceSum' or self.opset >= 18:
            return self.op(op_type, [x, self.ints(axes)], keepdims=int(keepdims))
        return self.op(op_type, [x], axes=list(axes), keepdims=int(keepdims))

    def unsqueeze(self, x, axes):
        return self.op('Unsqueeze', [x, self.ints(axes)])

    def squeeze(self, x, axes=None):
        return self.op('Squeeze', [x] if axes is None else [x, self.ints(axes)])

    def slice(self, x, starts, ends, axes, steps=None):
        inputs = [x, self.ints(starts), self.ints(ends), self.ints(axes)]
        if steps is not None:
            inputs.append(self.ints(steps))
        return self.op('Slice', inputs)

    def reshape(self, x, shape):
        return self.op('Reshape', [x, self.ints(shape)])

    def transpose(self, x, perm):
        return self.op('Transpose', [x], perm=list(perm))


# --- conversion ------------------------------------------------------------------------------

def _internal_names(graph, symbol):
    """``(node index, output index) -> (position among the symbol's internals, unique name)``
    for every visible output; the name is MXNet's (``dense0_fwd_output``), suffixed ``_1``,
    ``_2``... when a block called twice gives two nodes the same name."""
    internals = symbol.get_internals()
    names = internals.list_outputs()
    owners = [internals[k].name for k in range(len(names))]

    def own(node):  # the name of the node's MXNet counterpart
        return graph.input_nodes.get(node.name, node.name) if node.op == 'null' else node.name
    ours = {own(node) for node in graph.nodes}
    theirs = set(owners)
    mapping, seen, k = {}, {}, 0
    for i, node in enumerate(graph.nodes):
        if own(node) not in theirs:  # made by the port (graph.initial_states): no MXNet value
            continue
        while k < len(names) and owners[k] not in ours:  # dropped by the port
            k += 1
        if node.op == 'null':
            k += 1
            continue
        j = 0
        while k < len(names) and names[k].startswith(node.name + '_'):
            nxt = graph.nodes[i + 1] if i + 1 < len(graph.nodes) else None
            if nxt is not None and nxt.op == 'null' and names[k] == nxt.name:
                break
            count = seen.get(names[k], 0)
            seen[names[k]] = count + 1
            mapping[(i, j)] = (k, names[k] if not count else f'{names[k]}_{count}')
            j, k = j + 1, k + 1
    return mapping


def _evaluate(block, graph, flat_inputs):
    """Every visible intermediate of the block's graph on ``flat_inputs``: ``(mapping, values)``
    with ``mapping`` ``(node index, output index) -> value name`` and ``values`` by that name.

    why not block(*inputs): that returns only the outputs; binding the symbol's internals
    gives every node's value, which is what locates a wrong converter.
    """
    import mxnet as mx
    symbol = block._cached_graph[1]
    internals = symbol.get_internals()
    found = _internal_names(graph, symbol)
    keys = sorted(found, key=lambda key: found[key][0])
    group = mx.sym.Group([internals[found[key][0]] for key in keys])
    values = dict(graph.params)
    for name, array in zip(graph.inputs, flat_inputs):
        values[graph.input_nodes.get(name, name)] = numpy.asarray(array)
    _zero_states(group, values)
    args = {k: mx.nd.array(values[k], dtype=values[k].dtype) for k in group.list_arguments()}
    aux = {k: mx.nd.array(values[k], dtype=values[k].dtype) for k in group.list_auxiliary_states()}
    # the MKLDNN subgraph backend fuses conv+relu and then reports the fused value as the
    # convolution's output: the intermediates are read from the plain graph
    saved = os.environ.get('MXNET_SUBGRAPH_BACKEND')
    os.environ['MXNET_SUBGRAPH_BACKEND'] = 'NONE'
    try:
        executor = group.bind(mx.cpu(), args=args, aux_states=aux, grad_req='null')
        outputs = executor.forward(is_train=False)
    finally:
        if saved is None:
            del os.environ['MXNET_SUBGRAPH_BACKEND']
        else:
            os.environ['MXNET_SUBGRAPH_BACKEND'] = saved
    mapping = {key: found[key][1] for key in keys}
    return mapping, {mapping[key]: o.asnumpy() for key, o in zip(keys, outputs)}


def _zero_states(symbol, values):
    """Zeros for the arguments of ``symbol`` missing from ``values``: the initial states of an RNN
    layer called without them, which the port makes as such zeros (see graph.initial_states)."""
    names = symbol.list_arguments()
    missing = [k for k in names if k not in values]
    if not missing:
        return
    shapes, types, _ = symbol.infer_shape_partial(**{k: values[k].shape for k in names if k in values})
    dtype = next((v.dtype for v in values.values() if v.dtype.kind == 'f'), numpy.float32)
    for name, shape in zip(names, shapes):
        if name in missing:
            values[name] = numpy.zeros(shape, dtype)


def _numpy(array):
    import mxnet as mx
    if isinstance(array, (mx.nd.NDArray, mx.np.ndarray)):
        return array.asnumpy()
    return numpy.asarray(array)


def _batch_axes(graph, flat, batch_axes):
    if batch_axes is not None:
        if len(batch_axes) != len(flat):
            raise PortError(f'batch_axes has {len(batch_axes)} entries for {len(flat)} inputs {graph.inputs}')
        return list(batch_axes)
    if not flat or not flat[0].shape:
        return [None] * len(flat)
    size = flat[0].shape[0]
    axes = []
    for array in flat:
        axes.append(next((a for a in range(min(array.ndim, 2)) if array.shape[a] == size), None))
    return axes


def to_onnx(block, *example_inputs, opset=OPSET, batch_axes=None, dynamic_axes=None, check=True):
    """``block`` (a Gluon HybridBlock) as an ``onnx.ModelProto`` with its weights as initializers.

    ``example_inputs`` are what the block is called with (nested lists for RNN states).
    ``batch_axes`` gives each flat input's batch axis (``None``: static); by default axis 0 of
    the first input, and for the others the first of axes 0, 1 of the same size (axis 1 for an
    RNN state). ``dynamic_axes`` names more symbolic axes, ``{input name: {axis: 'name'}}``
    (e.g. ``{'inputs': {1: 'steps'}}`` for a language model's sequence length); the check at
    creation fails if a converter needed that size as a constant. ``opset`` is 13..21 (default
    18). With ``check`` (default) the model is verified as the module docstring says.
    """
    onnx = _onnx()
    if not isinstance(opset, int) or isinstance(opset, bool) or opset not in OPSETS:
        raise ValueError(f'opset must be an integer from {OPSETS.start} to {OPSETS.stop - 1}, got {opset!r}')
    graph = trace(block, *example_inputs)
    flat = [_numpy(a) for a in flatten(list(example_inputs))[0]]
    mapping, values = _evaluate(block, graph, flat)
    axes = _batch_axes(graph, flat, batch_axes)

    dynamic_axes = dict(dynamic_axes or {})
    unknown = sorted(set(dynamic_axes) - set(graph.inputs))
    if unknown:
        raise PortError(f'dynamic_axes names {unknown}, which are not inputs; the inputs are {graph.inputs}')
    ex = Exporter(opset)
    names = {}  # (node index, output index) -> ONNX value name
    inputs_proto = []
    for name, array, axis in zip(graph.inputs, flat, axes):
        extra = dynamic_axes.get(name, {})
        bad = [a for a in extra if not isinstance(a, int) or not 0 <= a < array.ndim]
        if bad:
            raise PortError(f'dynamic_axes[{name!r}] has axes {bad} outside 0..{array.ndim - 1}')
        dims = [extra.get(a, BATCH if a == axis else d) for a, d in enumerate(array.shape)]
        inputs_proto.append(onnx.helper.make_tensor_value_info(name, _elem_type(array.dtype), dims))
        ex.shapes[name], ex.dtypes[name] = array.shape, array.dtype
    for name, array in graph.params.items():
        ex.initializers.append(onnx.numpy_helper.from_array(array, name))
        ex.shapes[name], ex.dtypes[name], ex.weights[name] = array.shape, array.dtype, array
    for key, name in mapping.items():
        ex.shapes[name], ex.dtypes[name] = values[name].shape, values[name].dtype

    for i, node in enumerate(graph.nodes):
        if node.op == 'null':
            names[(i, 0)] = node.name
            continue
        fn = lookup('onnx', node.op, node.name)
        start = len(ex.nodes)
        ex.current = {j: name for (k, j), name in mapping.items() if k == i}
        ins = []
        for src, out in node.inputs:
            if (src, out) not in names:
                raise PortError(f'node {node.name!r} ({node.op}) reads output {out} of {graph.nodes[src].name!r}, '
                                f'which MXNet does not expose')
            ins.append(names[(src, out)])
        try:
            result = fn(ex, node, *ins)
        except PortError as err:
            raise PortError(f'node {node.name!r} ({node.op}): {err}') from None
        results = list(result) if isinstance(result, (list, tuple)) else [result]
        for j, value in enumerate(results):
            target = mapping.get((i, j))
            if target is None:
                names[(i, j)] = value
                continue
            names[(i, j)] = _rename(ex, start, value, target)
    outputs_proto = []
    for src, out in graph.outputs:
        name = names[(src, out)]
        if name in graph.inputs or name in graph.params:
            name = _rename(ex, len(ex.nodes), name, mapping.get((src, out), name + '_output'))
        outputs_proto.append(onnx.helper.make_tensor_value_info(name, _elem_type(ex.dtype(name)), None))

    used = {i for n in ex.nodes for i in n.input} | {o.name for o in outputs_proto}
    initializers = [t for t in ex.initializers if t.name in used]
    model = onnx.helper.make_model(
        onnx.helper.make_graph(ex.nodes, type(block).__name__, inputs_proto, outputs_proto, initializers),
        opset_imports=[onnx.helper.make_opsetid('', opset)], producer_name='gluon_d2l.parity.port')
    model.ir_version = min(model.ir_version, 10)  # what onnxruntime reads today
    model.metadata_props.add(key='gluon_d2l.in_format', value=json.dumps(graph.in_format))
    model.metadata_props.add(key='gluon_d2l.out_format', value=json.dumps(graph.out_format))
    if check:
        model = check_model(model, {o.name: ex.shape(o.name) for o in outputs_proto})
    return model


def _rename(ex, start, value, target):
    """Give ``value`` the name ``target``: rename it if a node from ``start`` on made it, else copy it."""
    made = [n for n in ex.nodes[start:] if value in n.output]
    if not made:
        ex.nodes.append(_onnx().helper.make_node('Identity', [value], [target], name=ex.fresh('Identity')))
    else:
        for n in ex.nodes[start:]:
            n.output[:] = [target if o == value else o for o in n.output]
            n.input[:] = [target if o == value else o for o in n.input]
    ex.shapes.setdefault(target, ex.shapes.get(value))
    ex.dtypes.setdefault(target, ex.dtype(value))
    return target


class Mismatch(PortError):
    """The exported model runs but does not match the block; ``report`` is the failing comparison."""

    def __init__(self, message, report):
        super().__init__(message)
        self.report = report


def save(block, path, *example_inputs, opset=OPSET, batch_axes=None, dynamic_axes=None, check_inputs=(),
         rtol=None, atol=None):
    """Export ``block`` and write ``path`` (``.onnx``) only if the model passes the checks and
    :func:`compare` on ``example_inputs`` (and on each input tuple of ``check_inputs``, e.g. another
    batch size), at ``rtol``/``atol`` (default: :data:`TOLERANCES`). Returns the comparisons.
    Writes nothing and raises :class:`Mismatch` (with the failing report) if a comparison fails,
    ``PortError``/``UnsupportedOperator`` if the block cannot be exported. This is what
    ``gluon-d2l port --to onnx`` calls."""
    _onnx()  # a clear error where onnx is not installed
    model = to_onnx(block, *example_inputs, opset=opset, batch_axes=batch_axes, dynamic_axes=dynamic_axes)
    reports = [compare(block, model, *inputs, rtol=rtol, atol=atol) for inputs in [example_inputs, *check_inputs]]
    bad = [r for r in reports if not r.ok]
    if bad:
        raise Mismatch(f'the ONNX model does not match the block; {path} not written\n{bad[0]}', bad[0])
    # a private temporary renamed over path: no fixed name to plant a link at (the serialized bytes are
    # written: onnx.save takes the file object's name, here its descriptor, for a path)
    atomic_write(path, model.SerializeToString())
    return reports


def check_model(model, expected_shapes):
    """``onnx.checker.check_model(full_check=True)``, strict shape inference, and the inferred output
    shapes against MXNet's (a symbolic batch dimension matches any size). Returns the model with
    the inferred output shapes filled in; raises ``PortError`` naming the output otherwise."""
    onnx = _onnx()
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
        outputs = {o.name: o for o in inferred.graph.output}
        for out in model.graph.output:  # the inferred shapes (a symbolic batch kept symbolic)
            if outputs.get(out.name) is not None and outputs[out.name].type.tensor_type.HasField('shape'):
                out.CopyFrom(outputs[out.name])
            elif not out.type.tensor_type.HasField('shape'):
                want = expected_shapes.get(out.name) or ()
                out.type.tensor_type.shape.dim.extend(
                    onnx.TensorShapeProto.Dimension(dim_param=f'{out.name}_{k}') for k in range(len(want)))
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as err:
        raise PortError(f'the exported model fails the ONNX checker: {str(err).splitlines()[0]}') from None
    names = {i.name for i in model.graph.initializer}
    leaked = [i.name for i in model.graph.input if i.name in names]
    if leaked:
        raise PortError(f'weights {leaked[:3]} are graph inputs, not initializers')
    for out in inferred.graph.output:
        want = expected_shapes.get(out.name)
        if want is None or not out.type.tensor_type.HasField('shape'):
            continue
        dims = out.type.tensor_type.shape.dim
        got = [d.dim_value if d.HasField('dim_value') else d.dim_param or '?' for d in dims]
        bad = len(got) != len(want) or any(isinstance(g, int) and g != w for g, w in zip(got, want))
        if bad:
            raise PortError(f'output {out.name!r}: ONNX infers shape {got}, MXNet computes {list(want)}')
    return model


# --- compare ---------------------------------------------------------------------------------

#: default relative tolerance per dtype: max |onnx - mxnet| <= rtol * max |mxnet| (output by output)
TOLERANCES = {'float32': 1e-5, 'float64': 1e-10}


@dataclasses.dataclass
class OnnxComparison(Comparison):
    """:class:`parity.port.compare.Comparison` for an ONNX model: output rows (forward only),
    the ``runtime`` that ran it and, when an output fails, ``first_bad_node``: the first node in
    graph order whose value disagrees (its row, kind ``node``, is added), the converter to suspect."""
    runtime: str = 'onnxruntime'
    first_bad_node: str = None

    def __str__(self):
        text = super().__str__().replace('port to onnx,', f'port to onnx ({self.runtime}),', 1)
        return text + (f'\nfirst node that disagrees: {self.first_bad_node}' if self.first_bad_node else '')


def run(onnx_model, *inputs, runtime=None, outputs=None):
    """Run ``onnx_model`` on the block-style ``inputs``; ``runtime`` 'onnxruntime' or 'reference'
    (default: onnxruntime, the reference evaluator for float64). Returns ``{output name: array}``."""
    flat = [_numpy(a) for a in flatten(list(inputs))[0]]
    names = [i.name for i in onnx_model.graph.input]
    if len(flat) != len(names):
        raise PortError(f'the model takes {len(names)} inputs {names}, got {len(flat)}')
    feeds = dict(zip(names, flat))
    if runtime is None:
        runtime = 'reference' if any(a.dtype == numpy.float64 for a in flat) else 'onnxruntime'
    if runtime == 'onnxruntime':
        import onnxruntime
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = onnxruntime.InferenceSession(onnx_model.SerializeToString(), options,
                                               providers=['CPUExecutionProvider'])
        wanted = outputs or [o.name for o in session.get_outputs()]
        return dict(zip(wanted, session.run(wanted, feeds)))
    if runtime == 'reference':
        from onnx.reference import ReferenceEvaluator
        evaluator = ReferenceEvaluator(onnx_model, new_ops=_reference_ops())
        wanted = outputs or [o.name for o in onnx_model.graph.output]
        return dict(zip(wanted, evaluator.run(wanted, feeds)))
    raise ValueError(f"runtime must be 'onnxruntime' or 'reference', got {runtime!r}")


def _reference_ops():
    """What the reference evaluator (onnx 1.23) gets wrong for these models: its RNN knows only
    Tanh (MXNet's rnn_relu needs Relu), and its Erf computes in float32 whatever the input."""
    from onnx.reference.op_run import OpRun
    from onnx.reference.ops.op_rnn import RNN_14

    class RNN(RNN_14):
        def choose_act(self, name, alpha, beta):
            if name in ('Relu', 'relu'):
                return lambda x: numpy.maximum(x, 0)
            return super().choose_act(name, alpha, beta)

    class Erf(OpRun):
        def _run(self, x):
            return (numpy.vectorize(math.erf, otypes=[x.dtype])(x).astype(x.dtype),)
    return [RNN, Erf]


def _with_all_outputs(onnx_model, names):
    """A copy of the model that also outputs the values ``names`` (to locate a disagreement)."""
    onnx = _onnx()
    model = onnx.ModelProto()
    model.CopyFrom(onnx_model)
    have = {o.name for o in model.graph.output}
    produced = {o for n in model.graph.node for o in n.output}
    for name in names:
        if name in produced and name not in have:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    return model


def compare(block, onnx_model, *inputs, dtype=None, rtol=None, atol=None, runtime=None):
    """Run ``block`` (MXNet, inference mode) and ``onnx_model`` on ``inputs`` and compare output by
    output (forward only: ONNX has no gradients). ``dtype`` casts the floating inputs (default:
    theirs); ``rtol`` defaults to :data:`TOLERANCES` (relative to the largest |output|), ``atol`` to
    0; ``runtime`` to onnxruntime, or the reference evaluator for float64 (onnxruntime lacks
    float64 kernels for most operators). If an output fails, every intermediate is compared and
    the first node that disagrees is named. Returns an :class:`OnnxComparison`."""
    flat, fmt = flatten(list(inputs))
    numpy_mode = _mode_of(flat)  # MXNet arrays say which mode the block runs in; NumPy ones: the current
    flat = [_numpy(a) for a in flat]
    if dtype is not None:
        flat = [a.astype(dtype) if a.dtype.kind == 'f' else a for a in flat]
    inputs = regroup(flat, fmt)
    dtype = str(next((a.dtype for a in flat if a.dtype.kind == 'f'), None) or _param_dtype(onnx_model))
    rtol = TOLERANCES.get(dtype, 1e-5) if rtol is None else rtol
    atol = 0.0 if atol is None else atol
    runtime = runtime or ('reference' if dtype == 'float64' else 'onnxruntime')
    with mode(numpy_mode):
        graph = trace(block, *inputs)
    got = run(onnx_model, *inputs, runtime=runtime)
    want = _block_outputs(block, graph, inputs)
    rows = []
    if len(want) != len(got):
        rows.append(Row('output', 'count', '', math.inf, math.inf, math.nan, False,
                        f'{len(got)} outputs, expected {len(want)}'))
    for k, ((name, value), expected) in enumerate(zip(got.items(), want)):
        src = graph.outputs[k][0] if k < len(graph.outputs) else 0
        rows.append(row('output', name, graph.nodes[src].name, value, expected, rtol, atol))
    result = OnnxComparison('onnx', dtype, rtol, atol, rows, runtime=runtime)
    if not result.ok:
        mapping, values = _evaluate(block, graph, flat)
        order = sorted(mapping)
        every = run(_with_all_outputs(onnx_model, [mapping[k] for k in order]), *inputs, runtime=runtime)
        for i, j in order:
            name = mapping[(i, j)]
            if name not in every:
                continue
            check = row('node', name, graph.nodes[i].name, every[name], values[name], rtol, atol)
            if not check.ok:
                result.first_bad_node = f'{graph.nodes[i].name} ({graph.nodes[i].op})'
                result.rows.append(check)
                break
    return result


def _param_dtype(onnx_model):
    onnx = _onnx()
    for t in onnx_model.graph.initializer:
        if onnx.helper.tensor_dtype_to_np_dtype(t.data_type).kind == 'f':
            return onnx.helper.tensor_dtype_to_np_dtype(t.data_type)
    return numpy.dtype(numpy.float32)


def _block_outputs(block, graph, inputs):
    """The block's own outputs (inference mode), flattened."""
    import mxnet as mx
    from .graph import to_mxnet
    flat, fmt = flatten(list(inputs))
    with mode(graph.numpy_mode), mx.autograd.predict_mode():
        result = block(*regroup([to_mxnet(_numpy(a), graph.numpy_mode) for a in flat], fmt))
    return [_numpy(o) for o in flatten(result)[0]]


# --- converters ------------------------------------------------------------------------------
# One entry per MXNet operator (legacy names and NumPy-mode names). Each returns the node's
# visible outputs as ONNX value names.

def _ax(axis, rank):
    return axis + rank if axis < 0 else axis


@converter('Dropout', '_npx_dropout', 'BlockGrad', 'stop_gradient', '_copy', '_np_copy', 'identity',
           'make_loss', target='onnx')
def identity(ctx, node, x, *rest):
    return ctx.op('Identity', [x])


def _unary(onnx_op):
    def convert(ctx, node, x):
        return ctx.op(onnx_op, [x])
    convert.__name__ = onnx_op.lower()
    return convert


for _ops, _onnx_op in [
        (('relu', '_npx_relu'), 'Relu'), (('sigmoid', '_npx_sigmoid'), 'Sigmoid'),
        (('tanh', '_npi_tanh'), 'Tanh'), (('exp', '_npi_exp'), 'Exp'), (('log', '_npi_log'), 'Log'),
        (('sqrt', '_npi_sqrt'), 'Sqrt'), (('abs', '_npi_absolute', '_npi_abs'), 'Abs'),
        (('negative', '_npi_negative'), 'Neg'), (('erf', '_npx_erf'), 'Erf'), (('sin', '_npi_sin'), 'Sin'),
        (('cos', '_npi_cos'), 'Cos'), (('floor', '_npi_floor'), 'Floor'), (('ceil', '_npi_ceil'), 'Ceil'),
        (('sign', '_npi_sign'), 'Sign'), (('reciprocal', '_npi_reciprocal'), 'Reciprocal')]:
    converter(*_ops, target='onnx')(_unary(_onnx_op))


@converter('Flatten', 'flatten', '_npx_batch_flatten', target='onnx')
def flatten_(ctx, node, x):
    return ctx.op('Flatten', [x], axis=1)


@converter('square', '_npi_square', target='onnx')
def square(ctx, node, x):
    return ctx.op('Mul', [x, x])


@converter('rsqrt', target='onnx')
def rsqrt(ctx, node, x):
    return ctx.op('Reciprocal', [ctx.op('Sqrt', [x])])


_ACTIVATIONS = {'relu': 'Relu', 'sigmoid': 'Sigmoid', 'tanh': 'Tanh', 'softrelu': 'Softplus',
                'softsign': 'Softsign'}


@converter('Activation', '_npx_activation', target='onnx')
def activation(ctx, node, x):
    kind = node.attrs.str('act_type')
    if kind in _ACTIVATIONS:
        return ctx.op(_ACTIVATIONS[kind], [x])
    if kind == 'log_sigmoid':
        return ctx.op('Neg', [ctx.op('Softplus', [ctx.op('Neg', [x])])])
    if kind == 'mish':
        return ctx.op('Mul', [x, ctx.op('Tanh', [ctx.op('Softplus', [x])])])
    raise PortError(f'act_type {kind!r} has no ONNX mapping')


def _exact32(value):
    return float(numpy.float32(value)) == float(value)


@converter('LeakyReLU', '_npx_leaky_relu', target='onnx')
def leaky_relu(ctx, node, x, gamma=None):
    kind = node.attrs.str('act_type', 'leaky')
    slope = node.attrs.float('slope', 0.25)
    if kind == 'rrelu':  # inference: the mean of the sampling range
        kind, slope = 'leaky', (node.attrs.float('lower_bound', 0.125) + node.attrs.float('upper_bound', 0.334)) / 2
    if kind == 'leaky':  # MXNet's slope is a float32 parameter, as ONNX's alpha
        return ctx.op('LeakyRelu', [x], alpha=slope)
    if kind == 'prelu':
        rank = ctx.rank(x)
        g = gamma
        if ctx.shape(gamma) not in ((1,), ()) and rank > 2:
            g = ctx.reshape(gamma, [-1] + [1] * (rank - 2))
        return ctx.op('PRelu', [x, g])
    if kind in ('elu', 'selu'):
        if kind == 'selu':
            alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
        else:
            alpha, scale = float(numpy.float32(slope)), 1.0
        neg = ctx.op('Mul', [ctx.scalar(alpha, x), ctx.op('Sub', [ctx.op('Exp', [x]), ctx.scalar(1, x)])])
        out = ctx.op('Where', [ctx.op('Greater', [x, ctx.scalar(0, x)]), x, neg])
        return out if scale == 1.0 else ctx.op('Mul', [out, ctx.scalar(scale, x)])
    if kind == 'gelu':  # MXNet's gelu is the erf form
        cdf = ctx.op('Add', [ctx.scalar(1, x), ctx.op('Erf', [ctx.op('Mul', [x, ctx.scalar(0.5 ** 0.5, x)])])])
        return ctx.op('Mul', [ctx.op('Mul', [x, cdf]), ctx.scalar(0.5, x)])
    raise PortError(f'LeakyReLU act_type {kind!r} has no ONNX mapping')


@converter('hard_sigmoid', target='onnx')
def hard_sigmoid(ctx, node, x):
    # MXNet holds alpha and beta (and clip's bounds) as float32 parameters
    alpha, beta = (float(numpy.float32(node.attrs.float(k, d))) for k, d in (('alpha', 0.2), ('beta', 0.5)))
    y = ctx.op('Add', [ctx.op('Mul', [x, ctx.scalar(alpha, x)]), ctx.scalar(beta, x)])
    return ctx.op('Clip', [y, ctx.scalar(0, x), ctx.scalar(1, x)])


@converter('clip', '_npi_clip', target='onnx')
def clip(ctx, node, x):
    lo, hi = (node.attrs.float(k) for k in ('a_min', 'a_max'))
    lo, hi = (None if v is None else float(numpy.float32(v)) for v in (lo, hi))
    return ctx.op('Clip', [x, '' if lo is None else ctx.scalar(lo, x), '' if hi is None else ctx.scalar(hi, x)])


# elementwise arithmetic: same-shape (elemwise_*), broadcasting (broadcast_*, _npi_*) and scalar forms

_BINARY = {
    'Add': ('elemwise_add', 'broadcast_add', 'broadcast_plus', '_npi_add', '_plus', '_Plus'),
    'Sub': ('elemwise_sub', 'broadcast_sub', 'broadcast_minus', '_npi_subtract', '_minus', '_Minus'),
    'Mul': ('elemwise_mul', 'broadcast_mul', '_npi_multiply', '_mul', '_Mul'),
    'Div': ('elemwise_div', 'broadcast_div', '_npi_true_divide', '_div', '_Div'),
    'Pow': ('broadcast_power', '_npi_power', '_power', '_Power'),
    'Max': ('broadcast_maximum', '_npi_maximum', '_maximum', '_Maximum'),
    'Min': ('broadcast_minimum', '_npi_minimum', '_minimum', '_Minimum'),
}


def _as_out_dtype(ctx, *values):
    """Cast operands to the node's output dtype where MXNet promotes (NumPy mode: bool * float)."""
    out = ctx.out_dtype()
    if out is None:
        return list(values)
    return [v if ctx.dtype(v) == out or ctx.shape(v) is None else ctx.op('Cast', [v], to=_elem_type(out))
            for v in values]


def _binary(onnx_op):
    def convert(ctx, node, a, b):
        return ctx.op(onnx_op, _as_out_dtype(ctx, a, b))
    convert.__name__ = f'binary_{onnx_op.lower()}'
    return convert


for _onnx_op, _ops in _BINARY.items():
    converter(*_ops, target='onnx')(_binary(_onnx_op))

_SCALAR = {  # MXNet op -> (ONNX op, scalar on the left)
    '_plus_scalar': ('Add', False), '_npi_add_scalar': ('Add', False),
    '_minus_scalar': ('Sub', False), '_npi_subtract_scalar': ('Sub', False),
    '_rminus_scalar': ('Sub', True), '_npi_rsubtract_scalar': ('Sub', True),
    '_mul_scalar': ('Mul', False), '_npi_multiply_scalar': ('Mul', False),
    '_div_scalar': ('Div', False), '_npi_true_divide_scalar': ('Div', False),
    '_rdiv_scalar': ('Div', True), '_npi_rtrue_divide_scalar': ('Div', True),
    '_power_scalar': ('Pow', False), '_npi_power_scalar': ('Pow', False),
    '_rpower_scalar': ('Pow', True), '_npi_rpower_scalar': ('Pow', True),
    '_maximum_scalar': ('Max', False), '_npi_maximum_scalar': ('Max', False),
    '_minimum_scalar': ('Min', False), '_npi_minimum_scalar': ('Min', False),
}


def _scalar_op(onnx_op, left):
    def convert(ctx, node, x):
        x, = _as_out_dtype(ctx, x)
        s = ctx.const(node.attrs.float('scalar'), ctx.out_dtype() or ctx.dtype(x), 'scalar')
        return ctx.op(onnx_op, [s, x] if left else [x, s])
    convert.__name__ = f'scalar_{onnx_op.lower()}'
    return convert


for _op, (_onnx_op, _left) in _SCALAR.items():
    converter(_op, target='onnx')(_scalar_op(_onnx_op, _left))


#: (NumPy-mode name, legacy name, ONNX op, negated): x >= y is not (x < y)
_COMPARISONS = [('greater', 'greater', 'Greater', False), ('greater_equal', 'greater_equal', 'Less', True),
                ('less', 'lesser', 'Less', False), ('less_equal', 'lesser_equal', 'Greater', True),
                ('equal', 'equal', 'Equal', False), ('not_equal', 'not_equal', 'Equal', True)]


def _comparison(onnx_op, negate, scalar):
    def convert(ctx, node, a, b=None):
        if scalar:
            b = ctx.scalar(node.attrs.float('scalar'), a)
        y = ctx.op(onnx_op, [a, b])
        if negate:
            y = ctx.op('Not', [y])
        dtype = ctx.out_dtype() or numpy.dtype(numpy.bool_)
        # NumPy mode returns booleans, legacy mode 0/1 in the input's dtype
        return y if dtype == numpy.bool_ else ctx.op('Cast', [y], to=_elem_type(dtype))
    convert.__name__ = f'compare_{onnx_op.lower()}'
    return convert


for _np_name, _legacy, _onnx_op, _negate in _COMPARISONS:
    converter(f'_npi_{_np_name}', f'broadcast_{_legacy}', f'_{_legacy}', target='onnx')(
        _comparison(_onnx_op, _negate, False))
    converter(f'_npi_{_np_name}_scalar', f'_{_legacy}_scalar', target='onnx')(_comparison(_onnx_op, _negate, True))


@converter('ElementWiseSum', 'add_n', target='onnx')
def add_n(ctx, node, *xs):
    return ctx.op('Sum', list(xs))


# layers

@converter('FullyConnected', '_npx_fully_connected', target='onnx')
def fully_connected(ctx, node, x, weight, bias=None):
    if node.attrs.bool('flatten', True):
        if ctx.rank(x) != 2:
            x = ctx.op('Flatten', [x], axis=1)
        return ctx.op('Gemm', [x, weight] + ([bias] if bias else []), transB=1)
    y = ctx.op('MatMul', [x, ctx.transpose(weight, (1, 0))])
    return ctx.op('Add', [y, bias]) if bias else y


def _spatial(node, key, n, default):
    value = node.attrs.tuple(key) or ()
    return list(value) if value else [default] * n


def _check_layout(node, rank):
    layout = node.attrs.str('layout')
    if layout not in (None, 'NCW', 'NCHW', 'NCDHW'):
        raise PortError(f'layout {layout!r}: only channels-first layouts map to ONNX')


@converter('Convolution', '_npx_convolution', target='onnx')
def convolution(ctx, node, x, weight, bias=None):
    _check_layout(node, ctx.rank(x))
    kernel = list(node.attrs.tuple('kernel'))
    n = len(kernel)
    pad = _spatial(node, 'pad', n, 0)
    return ctx.op('Conv', [x, weight] + ([bias] if bias and not node.attrs.bool('no_bias') else []),
                  kernel_shape=kernel, strides=_spatial(node, 'stride', n, 1), dilations=_spatial(node, 'dilate', n, 1),
                  pads=pad + pad, group=node.attrs.int('num_group', 1))


@converter('Deconvolution', '_npx_deconvolution', target='onnx')
def deconvolution(ctx, node, x, weight, bias=None):
    _check_layout(node, ctx.rank(x))
    if node.attrs.tuple('target_shape'):
        raise PortError('Deconvolution target_shape is not supported; give pad and adj instead')
    kernel = list(node.attrs.tuple('kernel'))
    n = len(kernel)
    pad = _spatial(node, 'pad', n, 0)
    return ctx.op('ConvTranspose', [x, weight] + ([bias] if bias and not node.attrs.bool('no_bias', True) else []),
                  kernel_shape=kernel, strides=_spatial(node, 'stride', n, 1),
                  dilations=_spatial(node, 'dilate', n, 1), pads=pad + pad,
                  output_padding=_spatial(node, 'adj', n, 0), group=node.attrs.int('num_group', 1))


@converter('Pooling', '_npx_pooling', target='onnx')
def pooling(ctx, node, x):
    _check_layout(node, ctx.rank(x))
    kind = node.attrs.str('pool_type', 'max')
    if node.attrs.bool('global_pool'):
        # why not GlobalMaxPool/GlobalAveragePool: the same values, but the reference evaluator
        # (onnx 1.23) reduces the wrong axes for one spatial dimension (Conv1D nets)
        onnx_op = {'max': 'ReduceMax', 'avg': 'ReduceMean', 'sum': 'ReduceSum'}.get(kind)
        if onnx_op is None:
            raise PortError(f'global pool_type {kind!r} has no ONNX mapping')
        return ctx.reduce(onnx_op, x, list(range(2, ctx.rank(x))), True)
    kernel = list(node.attrs.tuple('kernel'))
    n = len(kernel)
    pad = _spatial(node, 'pad', n, 0)
    convention = node.attrs.str('pooling_convention', 'valid')
    if convention not in ('valid', 'full'):
        raise PortError(f'pooling_convention {convention!r} has no ONNX mapping')
    strides = _spatial(node, 'stride', n, 1)
    include = node.attrs.bool('count_include_pad', True) or kind == 'sum'
    # 'full' rounds the window count up; it differs from 'valid' only where the border cuts a window
    if convention == 'full' and _partial_windows(ctx.shape(x)[2:], kernel, strides, pad):
        if kind in ('max', 'avg', 'sum'):
            return _pool_full(ctx, x, kind, kernel, strides, pad, include)
        if ctx.opset < 18:
            raise PortError('LpPool with ceil_mode needs opset >= 18')
    common = dict(kernel_shape=kernel, strides=strides, pads=pad + pad)
    if kind == 'max':
        return ctx.op('MaxPool', [x], **common)
    if kind in ('avg', 'sum'):
        y = ctx.op('AveragePool', [x], count_include_pad=int(include), **common)
        return y if kind == 'avg' else ctx.op('Mul', [y, ctx.scalar(int(numpy.prod(kernel)), x)])
    if kind == 'lp':
        extra = {'ceil_mode': 1} if convention == 'full' and ctx.opset >= 18 else {}
        return ctx.op('LpPool', [x], p=node.attrs.int('p_value', 2), **common, **extra)
    raise PortError(f'pool_type {kind!r} has no ONNX mapping')


def _partial_windows(spatial, kernel, strides, pad):
    """Whether the 'full' convention adds windows that the border cuts (ceil over floor)."""
    return any((n + 2 * p - k) % s for n, k, s, p in zip(spatial, kernel, strides, pad))


def _pool_full(ctx, x, kind, kernel, strides, pad, include_pad):
    """Max/average/sum pooling, 'full' convention, with border-cut windows: the input padded
    explicitly (-inf for max, zeros otherwise) up to the last window, pooled without padding or
    ceil_mode; an average is divided by each window's count as MXNet counts it (the positions
    inside the padded input, or inside the input without ``count_include_pad``).

    why not MaxPool/AveragePool(ceil_mode=1): onnxruntime agrees with MXNet, but the reference
    evaluator (onnx 1.23), the float64 runtime, gets border-cut windows wrong (shapes and averages).
    """
    spatial = ctx.shape(x)[2:]
    extra, counts = [], []
    for size, k, s, p in zip(spatial, kernel, strides, pad):
        out = -(-(size + 2 * p - k) // s) + 1
        e = (out - 1) * s + k - (size + 2 * p)
        mask = numpy.concatenate([numpy.full(p, float(include_pad)), numpy.ones(size),
                                  numpy.full(p, float(include_pad)), numpy.zeros(e)])
        extra.append(e)
        counts.append(numpy.array([mask[o * s:o * s + k].sum() for o in range(out)]))
    pads = ctx.ints([0, 0] + list(pad) + [0, 0] + [p + e for p, e in zip(pad, extra)])
    if kind == 'max':
        padded = ctx.op('Pad', [x, pads, ctx.scalar(-numpy.inf, x)], mode='constant')
        return ctx.op('MaxPool', [padded], kernel_shape=list(kernel), strides=list(strides))
    padded = ctx.op('Pad', [x, pads], mode='constant')
    mean = ctx.op('AveragePool', [padded], kernel_shape=list(kernel), strides=list(strides))
    total = ctx.op('Mul', [mean, ctx.scalar(float(numpy.prod(kernel)), x)])
    if kind == 'sum':
        return total
    count = counts[0]
    for c in counts[1:]:
        count = numpy.multiply.outer(count, c)
    return ctx.op('Div', [total, ctx.const(count[None, None], ctx.dtype(x), 'window_count')])


def _channel_shape(ctx, x, axis, v):
    """Reshape a per-channel vector ``v`` to broadcast along ``axis`` of ``x``."""
    rank = ctx.rank(x)
    axis = _ax(axis, rank)
    if axis == rank - 1:
        return v
    return ctx.reshape(v, [-1] + [1] * (rank - 1 - axis))


@converter('BatchNorm', '_npx_batch_norm', target='onnx')
def batch_norm(ctx, node, x, gamma, beta, mean, var):
    """Inference-mode BatchNorm with the running statistics; ``fix_gamma`` means gamma is 1."""
    eps = node.attrs.float('eps', 1e-3)
    axis = _ax(node.attrs.int('axis', 1), ctx.rank(x))
    if node.attrs.bool('fix_gamma', True):
        gamma = ctx.const(numpy.ones(ctx.shape(gamma)), ctx.dtype(x), 'ones')
    if axis == 1 and (ctx.dtype(x).itemsize <= 4 or _exact32(eps)):
        return ctx.op('BatchNormalization', [x, gamma, beta, mean, var], epsilon=eps)
    # another channel axis, or float64 with an eps that float32 (ONNX's attribute) cannot hold:
    # the same affine map written out
    scale = ctx.op('Div', [gamma, ctx.op('Sqrt', [ctx.op('Add', [var, ctx.scalar(eps, x)])])])
    shift = ctx.op('Sub', [beta, ctx.op('Mul', [mean, scale])])
    return ctx.op('Add', [ctx.op('Mul', [x, _channel_shape(ctx, x, axis, scale)]), _channel_shape(ctx, x, axis, shift)])


@converter('LayerNorm', '_npx_layer_norm', target='onnx')
def layer_norm(ctx, node, x, gamma, beta):
    eps = node.attrs.float('eps', 1e-5)
    axis = _ax(node.attrs.int('axis', -1), ctx.rank(x))
    if axis == ctx.rank(x) - 1 and ctx.opset >= 17:
        return ctx.op('LayerNormalization', [x, gamma, beta], axis=-1, epsilon=eps)
    mean = ctx.reduce('ReduceMean', x, [axis], True)
    d = ctx.op('Sub', [x, mean])
    var = ctx.reduce('ReduceMean', ctx.op('Mul', [d, d]), [axis], True)
    y = ctx.op('Div', [d, ctx.op('Sqrt', [ctx.op('Add', [var, ctx.scalar(eps, x)])])])
    return ctx.op('Add', [ctx.op('Mul', [y, _channel_shape(ctx, x, axis, gamma)]), _channel_shape(ctx, x, axis, beta)])


@converter('InstanceNorm', target='onnx')
def instance_norm(ctx, node, x, gamma, beta):
    return ctx.op('InstanceNormalization', [x, gamma, beta], epsilon=node.attrs.float('eps', 1e-3))


@converter('Embedding', '_npx_embedding', target='onnx')
def embedding(ctx, node, indices, weight):
    return ctx.op('Gather', [weight, ctx.op('Cast', [indices], to=_elem_type(numpy.int64))], axis=0)


@converter('one_hot', '_npx_one_hot', target='onnx')
def one_hot(ctx, node, indices):
    dtype = _MX_DTYPES[node.attrs.str('dtype', 'float32')]
    values = ctx.const([node.attrs.float('off_value', 0.0), node.attrs.float('on_value', 1.0)], dtype, 'onoff')
    depth = ctx.const(node.attrs.int('depth'), numpy.int64, 'depth')
    return ctx.op('OneHot', [ctx.op('Cast', [indices], to=_elem_type(numpy.int64)), depth, values], axis=-1)


@converter('Cast', 'cast', '_npi_cast', '_npx_cast', 'amp_cast', target='onnx')
def cast(ctx, node, x):
    return ctx.op('Cast', [x], to=_elem_type(_MX_DTYPES[node.attrs.str('dtype')]))


# softmax family

def _softmax(onnx_op):
    def convert(ctx, node, x, *length):
        if node.attrs.bool('use_length'):
            raise PortError('softmax use_length is not supported')
        t = node.attrs.optional('temperature')
        if t not in (None, 1, 1.0):
            x = ctx.op('Div', [x, ctx.scalar(t, x)])
        return ctx.op(onnx_op, [x], axis=node.attrs.int('axis', -1))
    return convert


converter('softmax', '_npx_softmax', target='onnx')(_softmax('Softmax'))
converter('log_softmax', '_npx_log_softmax', target='onnx')(_softmax('LogSoftmax'))


@converter('SoftmaxActivation', target='onnx')
def softmax_activation(ctx, node, x):
    if node.attrs.str('mode', 'instance') == 'channel':
        return ctx.op('Softmax', [x], axis=1)
    return ctx.op('Softmax', [ctx.op('Flatten', [x], axis=1)], axis=1) if ctx.rank(x) > 2 else \
        ctx.op('Softmax', [x], axis=1)


# products

@converter('dot', '_np_dot', target='onnx')
def dot(ctx, node, a, b):
    rank_a, rank_b = ctx.rank(a), ctx.rank(b)
    if node.attrs.bool('transpose_a'):
        a = ctx.transpose(a, list(range(rank_a))[::-1])
    if node.attrs.bool('transpose_b'):
        b = ctx.transpose(b, list(range(rank_b))[::-1])
    if rank_b > 2:
        raise PortError('dot with a right operand of rank > 2 is not supported (use batch_dot or matmul)')
    return ctx.op('MatMul', [a, b])


@converter('batch_dot', '_npx_batch_dot', target='onnx')
def batch_dot(ctx, node, a, b):
    def last_two_swapped(v):
        r = ctx.rank(v)
        return ctx.transpose(v, list(range(r - 2)) + [r - 1, r - 2])
    a = last_two_swapped(a) if node.attrs.bool('transpose_a') else a
    b = last_two_swapped(b) if node.attrs.bool('transpose_b') else b
    return ctx.op('MatMul', [a, b])


@converter('_npi_matmul', target='onnx')
def matmul(ctx, node, a, b):
    return ctx.op('MatMul', [a, b])


# reductions

def _reduction(onnx_op):
    def convert(ctx, node, x):
        rank = ctx.rank(x)
        axes = node.attrs.axes('axis')
        if axes == ():
            axes = None
        if axes is not None:
            axes = sorted(_ax(a, rank) for a in axes)
        if node.attrs.bool('exclude'):
            axes = [a for a in range(rank) if a not in (axes or [])]
        if node.attrs.optional('initial') is not None:
            raise PortError('a reduction with initial= is not supported')
        y = ctx.reduce(onnx_op, x, axes, node.attrs.bool('keepdims'))
        if ctx.out_shape() == (1,) and not node.attrs.bool('keepdims') and (axes is None or len(axes) == rank):
            y = ctx.reshape(y, [1])  # legacy mode has no rank 0: a full reduction is (1,)
        return y
    convert.__name__ = onnx_op.lower()
    return convert


for _ops, _onnx_op in [(('sum', '_np_sum', 'sum_axis'), 'ReduceSum'), (('mean', '_npi_mean'), 'ReduceMean'),
                       (('max', '_np_max', 'max_axis', '_np_amax'), 'ReduceMax'),
                       (('min', '_np_min', 'min_axis', '_np_amin'), 'ReduceMin'), (('prod', '_np_prod'), 'ReduceProd')]:
    converter(*_ops, target='onnx')(_reduction(_onnx_op))


# shapes

@converter('transpose', '_np_transpose', target='onnx')
def transpose(ctx, node, x):
    rank = ctx.rank(x)
    axes = node.attrs.tuple('axes')
    perm = list(range(rank))[::-1] if not axes else [_ax(a, rank) for a in axes]
    return ctx.transpose(x, perm)


@converter('SwapAxis', 'swapaxes', '_npi_swapaxes', target='onnx')
def swap_axes(ctx, node, x):
    rank = ctx.rank(x)
    a, b = _ax(node.attrs.int('dim1', 0), rank), _ax(node.attrs.int('dim2', 0), rank)
    perm = list(range(rank))
    perm[a], perm[b] = perm[b], perm[a]
    return ctx.transpose(x, perm)


@converter('expand_dims', '_npi_expand_dims', target='onnx')
def expand_dims(ctx, node, x):
    return ctx.unsqueeze(x, [_ax(node.attrs.int('axis'), ctx.rank(x) + 1)])


@converter('squeeze', '_np_squeeze', target='onnx')
def squeeze(ctx, node, x):
    axes = node.attrs.axes('axis')
    if axes is None:
        axes = [a for a, d in enumerate(ctx.shape(x)) if d == 1]
    return ctx.squeeze(x, [_ax(a, ctx.rank(x)) for a in axes])


@converter('Concat', 'concat', '_npi_concatenate', '_rnn_param_concat', '_npi_rnn_param_concat', target='onnx')
def concat(ctx, node, *xs):
    default = 0 if node.op.startswith('_np') else 1
    axis = node.attrs.int('axis', node.attrs.int('dim', default))
    return ctx.op('Concat', list(xs), axis=_ax(axis, ctx.rank(xs[0])))


@converter('stack', '_npi_stack', target='onnx')
def stack(ctx, node, *xs):
    axis = _ax(node.attrs.int('axis', 0), ctx.rank(xs[0]) + 1)
    return ctx.op('Concat', [ctx.unsqueeze(x, [axis]) for x in xs], axis=axis)


def _sizes(total, node):
    """Split sizes: SliceChannel/split ``num_outputs`` (equal parts), ``_npi_split``/``_split_v2``
    ``sections`` (NumPy's array_split: the first ``total % sections`` parts one longer) or ``indices``
    (cut points; MXNet stores them with a leading 0)."""
    sections = node.attrs.int('sections', 0) or node.attrs.int('num_outputs', 0)
    if sections:
        q, r = divmod(total, sections)
        return [q + 1] * r + [q] * (sections - r)
    cuts = [c for c in node.attrs.tuple('indices') if c is not None]
    if not cuts or cuts[0] != 0:
        cuts = [0] + cuts
    cuts = [min(c, total) for c in cuts] + [total]
    return [b - a for a, b in zip(cuts, cuts[1:])]


@converter('SliceChannel', 'split', '_split_v2', '_npi_split', target='onnx')
def split(ctx, node, x):
    rank = ctx.rank(x)
    default = 0 if node.op == '_npi_split' else 1
    axis = _ax(node.attrs.int('axis', default), rank)
    sizes = _sizes(ctx.shape(x)[axis], node)
    outs = ctx.op('Split', [x, ctx.ints(sizes)], outputs=len(sizes), axis=axis)
    outs = outs if isinstance(outs, list) else [outs]
    if node.attrs.bool('squeeze_axis'):
        outs = [ctx.squeeze(o, [axis]) for o in outs]
    return outs


@converter('slice', '_npi_slice', '_npx_slice', target='onnx')
def slice_(ctx, node, x):
    begin, end = node.attrs.tuple('begin'), node.attrs.tuple('end')
    step = node.attrs.tuple('step') or ()
    starts, ends, axes, steps = [], [], [], []
    big = numpy.iinfo(numpy.int64).max
    for a, b in enumerate(begin):
        s = step[a] if a < len(step) and step[a] is not None else 1
        e = end[a] if a < len(end) else None
        starts.append((0 if s > 0 else -1) if b is None else b)
        ends.append((big if s > 0 else -big) if e is None else e)
        axes.append(a)
        steps.append(s)
    return ctx.slice(x, starts, ends, axes, steps)


@converter('slice_axis', target='onnx')
def slice_axis(ctx, node, x):
    end = node.attrs.optional('end')
    big = numpy.iinfo(numpy.int64).max
    axis = node.attrs.int('axis')
    return ctx.slice(x, [node.attrs.int('begin')], [big if end is None else end],
                     [axis if axis >= 0 else _ax(axis, ctx.rank(x))])


def _reshape_plan(shape, spec, kind, reverse):
    """MXNet reshape codes -> output dims as ``int`` (constant), ``-1`` (infer) or a tuple of
    input dims whose product it is (so the batch dimension stays symbolic)."""
    shape = list(shape)
    spec = list(spec)
    if reverse:
        shape, spec = shape[::-1], spec[::-1]
    out = []
    if kind == 'np':
        out = [(-1 if s == -1 else s) for s in spec]
    else:
        codes = {'copy': 0, 'rest': -2, 'merge': -3, 'split': -4} if kind == 'legacy' else \
            {'copy': -2, 'drop': -3, 'rest': -4, 'merge': -5, 'split': -6}
        i = j = 0
        while j < len(spec):
            s = spec[j]
            if s == codes['copy']:
                out.append((i,))
                i += 1
            elif s == -1:
                out.append(-1)
                i += 1
            elif s == codes['rest']:
                out.extend((k,) for k in range(i, len(shape)))
                i = len(shape)
            elif s == codes['merge']:
                out.append((i, i + 1))
                i += 2
            elif s == codes['split']:
                out.extend([spec[j + 1], spec[j + 2]])  # a -1 stays -1: ONNX infers it
                i += 1
                j += 2
            elif s == codes.get('drop'):
                i += 1
            else:
                out.append(s)
                i += 1
            j += 1
    if reverse:
        n = len(shape)
        out = [tuple(n - 1 - k for k in d) if isinstance(d, tuple) else d for d in out[::-1]]
    return out


def _reshape(ctx, node, x, kind):
    spec = node.attrs.tuple('newshape') or node.attrs.tuple('shape')
    plan = _reshape_plan(ctx.shape(x), spec, kind, node.attrs.bool('reverse'))
    if all(not isinstance(d, tuple) or d == (i,) for i, d in enumerate(plan)):
        return ctx.reshape(x, [0 if isinstance(d, tuple) else d for d in plan])
    shape = ctx.op('Shape', [x])
    parts = []
    for d in plan:
        if isinstance(d, tuple):
            dims = ctx.op('Gather', [shape, ctx.ints(list(d))], axis=0)
            parts.append(dims if len(d) == 1 else ctx.reduce('ReduceProd', dims, [0], True))
        else:
            parts.append(ctx.ints([d]))
    return ctx.op('Reshape', [x, ctx.op('Concat', parts, axis=0)])


@converter('Reshape', 'reshape', target='onnx')
def reshape_legacy(ctx, node, x):
    return _reshape(ctx, node, x, 'legacy')


@converter('_np_reshape', '_npi_reshape', target='onnx')
def reshape_np(ctx, node, x):
    return _reshape(ctx, node, x, 'np')


@converter('_npx_reshape', target='onnx')
def reshape_npx(ctx, node, x):
    return _reshape(ctx, node, x, 'npx')


# constants shaped like an input (zeros_like, ones_like, full_like) and static ones

def _full_like(ctx, node, x, fill):
    dtype = node.attrs.str('dtype')
    dtype = ctx.dtype(x) if dtype in (None, 'None') else _MX_DTYPES[dtype]
    value = _onnx().numpy_helper.from_array(numpy.array([fill], dtype=dtype))
    return ctx.op('ConstantOfShape', [ctx.op('Shape', [x])], value=value)


@converter('zeros_like', target='onnx')
def zeros_like(ctx, node, x):
    return _full_like(ctx, node, x, 0)


@converter('ones_like', target='onnx')
def ones_like(ctx, node, x):
    return _full_like(ctx, node, x, 1)


@converter('_npi_full_like', target='onnx')
def full_like(ctx, node, x):
    return _full_like(ctx, node, x, node.attrs.float('fill_value'))


@converter('_zeros', '_npi_zeros', '_ones', '_npi_ones', '_full', '_npi_full', target='onnx')
def full(ctx, node):
    fill = 0.0 if 'zeros' in node.op else 1.0 if 'ones' in node.op else node.attrs.float('value')
    dtype = _MX_DTYPES[node.attrs.str('dtype', 'float32')]
    return ctx.op('Identity', [ctx.const(numpy.full(node.attrs.tuple('shape'), fill, dtype), dtype, 'full')])


@converter('where', '_npi_where', target='onnx')
def where(ctx, node, condition, x, y):
    return ctx.op('Where', [ctx.op('Cast', [condition], to=_elem_type(numpy.bool_)), x, y])


# the fused RNN operator

_GATES = {'rnn_relu': 1, 'rnn_tanh': 1, 'lstm': 4, 'gru': 3}
#: MXNet gate order -> ONNX gate order: LSTM i,f,g,o -> i,o,f,c; GRU r,z,n -> z,r,h
GATE_ORDER = {'lstm': [0, 3, 1, 2], 'gru': [1, 0, 2], 'rnn_relu': [0], 'rnn_tanh': [0]}


@converter('RNN', '_npx_rnn', target='onnx')
def rnn(ctx, node, x, params, h0, *rest):
    """MXNet's fused RNN (TNC, several layers, both directions) as one ONNX LSTM/GRU/RNN node per
    layer. The flat parameter vector (all i2h/h2h weights layer by layer and direction by
    direction, then all biases in the same order) is cut and its gates reordered in the graph."""
    a = node.attrs
    mode = a.str('mode')
    if a.bool('use_sequence_length'):
        raise PortError('RNN use_sequence_length is not supported')
    if a.optional('projection_size') is not None:
        raise PortError('LSTM projection_size is not supported')
    if a.optional('lstm_state_clip_min') is not None or a.optional('lstm_state_clip_max') is not None:
        raise PortError('LSTM state clipping is not supported')
    hidden, layers = a.int('state_size'), a.int('num_layers', 1)
    dirs = 2 if a.bool('bidirectional') else 1
    gates = _GATES[mode]
    c0 = rest[0] if mode == 'lstm' else None
    gh = gates * hidden
    order = ctx.ints(GATE_ORDER[mode])
    in_size = ctx.shape(x)[2]

    offset = [0]

    def take(cols):
        """The next ``gates*hidden x cols`` block (``cols=0``: a bias), gates in ONNX order."""
        start = offset[0]
        offset[0] += gh * (cols or 1)
        piece = ctx.slice(params, [start], [offset[0]], [0])
        piece = ctx.reshape(piece, [gates, hidden] + ([cols] if cols else []))
        piece = ctx.op('Gather', [piece, order], axis=0)
        return ctx.reshape(piece, [1, gh] + ([cols] if cols else []))

    weights = []
    for layer in range(layers):
        cols = in_size if layer == 0 else hidden * dirs
        weights.append([(take(cols), take(hidden)) for _ in range(dirs)])
    biases = [[(take(0), take(0)) for _ in range(dirs)] for _ in range(layers)]
    onnx_op = {'lstm': 'LSTM', 'gru': 'GRU'}.get(mode, 'RNN')
    extra = {}
    if mode == 'gru':
        extra['linear_before_reset'] = 1
    if mode.startswith('rnn_'):
        extra['activations'] = ['Relu' if mode == 'rnn_relu' else 'Tanh'] * dirs
    hs, cs = [], []
    y = x
    for layer in range(layers):
        W = ctx.op('Concat', [w for w, _ in weights[layer]], axis=0) if dirs > 1 else weights[layer][0][0]
        R = ctx.op('Concat', [r for _, r in weights[layer]], axis=0) if dirs > 1 else weights[layer][0][1]
        B = ctx.op('Concat', [ctx.op('Concat', [wb, rb], axis=1) for wb, rb in biases[layer]], axis=0)
        h = ctx.slice(h0, [layer * dirs], [(layer + 1) * dirs], [0])
        inputs = [y, W, R, B, '', h]
        if mode == 'lstm':
            inputs.append(ctx.slice(c0, [layer * dirs], [(layer + 1) * dirs], [0]))
        outs = ctx.op(onnx_op, inputs, outputs=3 if mode == 'lstm' else 2, hidden_size=hidden,
                      direction='bidirectional' if dirs == 2 else 'forward', **extra)
        # Y: (T, dirs, N, H) -> (T, N, dirs * H)
        y = ctx.reshape(ctx.transpose(outs[0], (0, 2, 1, 3)), [0, 0, -1])
        hs.append(outs[1])
        if mode == 'lstm':
            cs.append(outs[2])
    results = [y]
    if a.bool('state_outputs'):
        results.append(ctx.op('Concat', hs, axis=0) if layers > 1 else ctx.op('Identity', [hs[0]]))
        if mode == 'lstm':
            results.append(ctx.op('Concat', cs, axis=0) if layers > 1 else ctx.op('Identity', [cs[0]]))
    return results
