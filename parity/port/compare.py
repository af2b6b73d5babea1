"""Run a Gluon block and its port on the same inputs and compare them, output by output.

Compared, in this order: the forward outputs; the gradients of a fixed random linear function of
the outputs (``sum_k <c_k, out_k>``, the same ``c_k`` on both sides) with respect to every
floating input and every trainable parameter (the port's gradients mapped back to the Gluon
names); the auxiliary states after the forward pass (BatchNorm's running statistics in training
mode); and every parameter after one SGD step taken by each framework's own optimizer. Both
models are restored afterwards: ``compare`` leaves the user's block and port as it found them.

The expected gradients (and the SGD step taken with them) come, by default, from MXNet re-running
the traced graph in float64 and in training mode, with BatchNorm on its running statistics and
dropout off when the comparison is in inference mode: MXNet 1.9.1's inference-mode backward of
BatchNorm (any dtype) and of pooling (float32) is wrong, and a float32 reference carries float32
rounding of its own, while that path computes the inference-mode function's true gradient (checked
against central finite differences and torch in tests/test_port_verdict.py). ``reference='block'``
uses the block's own backward in its dtype and mode instead.
"""
import dataclasses
import importlib
import json
import math
import os
import re

import numpy

from . import graph as G

__all__ = ['compare', 'Comparison', 'Row', 'TOLERANCES']

#: default ``(rtol, atol)`` per dtype: a row passes when ``max|a - e| <= atol + rtol * max|e|``
TOLERANCES = {'float64': (1e-10, 1e-10), 'float32': (1e-4, 1e-5), 'float16': (1e-2, 1e-3)}
KINDS = ('output', 'input grad', 'grad', 'aux', 'after step')


@dataclasses.dataclass
class Row:
    """One compared array: what (``kind``, ``name``), where (``layer``), the errors and the verdict."""
    kind: str
    name: str
    layer: str
    abs_err: float
    rel_err: float
    tolerance: float
    ok: bool
    problem: str = ''

    def __str__(self):
        mark = 'ok  ' if self.ok else 'FAIL'
        detail = f' ({self.problem})' if self.problem else ''
        return (f'{mark} {self.kind:<10} {self.name:<32} {self.layer:<28} abs {self.abs_err:9.3g}  '
                f'rel {self.rel_err:9.3g}  tol {self.tolerance:9.3g}{detail}')


@dataclasses.dataclass
class Comparison:
    """The result of :func:`compare`: every row, the worst one, ``ok``, ``assert_ok()``."""
    target: str
    dtype: str
    rtol: float
    atol: float
    rows: list
    #: rows that cannot be compared, with the reason (e.g. Keras's one bias for Gluon's two, after a step)
    skipped: list = dataclasses.field(default_factory=list)
    #: findings about the cause of the failures (a twin's comparison names the suspect parameters here)
    notes: list = dataclasses.field(default_factory=list)

    @property
    def ok(self):
        return bool(self.rows) and all(r.ok for r in self.rows)

    @property
    def failures(self):
        return [r for r in self.rows if not r.ok]

    @property
    def worst(self):
        """The row furthest beyond (or closest to) its tolerance."""
        def badness(r):
            return math.inf if r.problem else r.abs_err / max(r.tolerance, 1e-300)
        return max(self.rows, key=badness) if self.rows else None

    def max_error(self, kind=None):
        """The largest relative error (over rows of ``kind``, or all)."""
        errs = [r.rel_err for r in self.rows if kind in (None, r.kind)]
        return max(errs) if errs else math.nan

    def __str__(self):
        what = self.target if self.target.endswith(' twin') else f'port to {self.target}'
        head = (f'{what}, {self.dtype} (rtol {self.rtol:g}, atol {self.atol:g}): '
                f'{"ok" if self.ok else f"{len(self.failures)} of {len(self.rows)} rows FAIL"}')
        worst = self.worst
        lines = [head] + list(self.notes)
        if worst is not None:
            lines.append(f'worst: {worst.kind} {worst.name} in layer {worst.layer}: abs {worst.abs_err:.3g}, '
                         f'rel {worst.rel_err:.3g}' + (f' ({worst.problem})' if worst.problem else ''))
        lines += [str(r) for r in self.rows]
        lines += [f'n/a  {r.kind:<10} {r.name:<32} {r.layer:<28} {r.problem}' for r in self.skipped]
        return '\n'.join(lines)

    def assert_ok(self):
        """``assert`` for pytest: raises ``AssertionError`` with the report if a row fails."""
        if not self.ok:
            raise AssertionError(str(self))
        return self


def row(kind, name, layer, actual, expected, rtol, atol):
    actual, expected = numpy.asarray(actual), numpy.asarray(expected)
    if actual.shape != expected.shape:
        return Row(kind, name, layer, math.inf, math.inf, math.nan, False,
                   f'shape {actual.shape}, expected {expected.shape}')
    if expected.size == 0:
        return Row(kind, name, layer, 0.0, 0.0, atol, True)
    a, e = actual.astype('float64'), expected.astype('float64')
    finite = numpy.isfinite(a) == numpy.isfinite(e)
    if not finite.all() or not numpy.array_equal(a[~numpy.isfinite(e)], e[~numpy.isfinite(e)]):
        return Row(kind, name, layer, math.inf, math.inf, atol, False, 'non-finite values differ')
    err = float(numpy.max(numpy.abs(a - e), initial=0.0, where=numpy.isfinite(e)))
    scale = float(numpy.max(numpy.abs(e), initial=0.0, where=numpy.isfinite(e)))
    tol = atol + rtol * scale
    return Row(kind, name, layer, err, err / scale if scale else err, tol, err <= tol)


def cotangent(index, shape, dtype, seed):
    """The fixed random weights ``c_k`` of output ``index`` in the scalar that is differentiated."""
    return numpy.random.default_rng([seed, index]).standard_normal(shape).astype(dtype)


def layer_of(graph, name):
    """The operator node that consumes parameter ``name`` (through reshapes and concatenations)."""
    passthrough = ('reshape', 'Reshape', 'concat', 'Concat', '_rnn_param_concat', 'transpose', 'Cast')
    index = graph.index(name)
    for _ in range(len(graph.nodes)):
        users = graph.consumers(index)
        if not users:
            break
        index = users[0]
        if not any(p in graph.nodes[index].op for p in passthrough):
            break
    node = graph.nodes[index]
    return node.name if node.op != 'null' else name


#: operators whose input at that position holds indices (ids), which have no gradient
INDEX_SLOTS = {'Embedding': 0, '_npx_embedding': 0, 'take': 1, '_npi_take': 1, 'pick': 1, '_npx_pick': 1,
               'one_hot': 0, '_npx_one_hot': 0, '_npi_one_hot': 0}
#: operators that only move, reshape or cast values (ids stay ids through them)
SHAPE_ONLY = ('reshape', 'Reshape', 'transpose', 'Cast', 'cast', 'expand_dims', 'squeeze', 'slice', 'SliceChannel',
              'split', 'flatten', 'Flatten', 'copy', 'swapaxes', 'SwapAxis')


def index_inputs(graph):
    """The names of the graph inputs that reach an index position (an ``Embedding``'s ids, ``take``'s
    indices, ...) through shape-only operators: floating ids (Sockeye's, GluonTS's) are not differentiated.
    A twin's comparison has no traced graph (no ``nodes``): none are known there."""
    found = set()
    if not hasattr(graph, 'nodes'):
        return found
    for name in graph.inputs:
        todo, seen = [graph.index(name)], set()
        while todo and name not in found:
            src = todo.pop()
            for user in graph.consumers(src):
                node = graph.nodes[user]
                slots = {k for k, (i, _) in enumerate(node.inputs) if i == src}
                if INDEX_SLOTS.get(node.op) in slots:
                    found.add(name)
                elif any(op in node.op for op in SHAPE_ONLY) and user not in seen:
                    seen.add(user)
                    todo.append(user)
    return found


def differentiated(graph, inputs):
    """The positions of the inputs that get an input-gradient row: floating, and not ids."""
    ids = index_inputs(graph)
    return [i for i, a in enumerate(inputs) if a.dtype.kind == 'f' and graph.inputs[i] not in ids]


def _gluon_run(block, graph, inputs, dtype, training, lr, seed):
    """Forward, backward and one SGD step of the Gluon block; restores the block afterwards."""
    from mxnet import autograd
    params = block.collect_params()
    saved = {n: p.data().copy() for n, p in params.items()}
    try:
        with G.mode(graph.numpy_mode):
            flat = [G.to_mxnet(a, graph.numpy_mode) for a in inputs]
            floating = differentiated(graph, inputs)
            for i in floating:
                flat[i].attach_grad()
            nested = G.regroup(flat, graph.in_format)
            with autograd.record(train_mode=training):
                outs, _ = G.flatten(block(*nested))
                total = sum((o * G.to_mxnet(cotangent(k, o.shape, o.dtype, seed), graph.numpy_mode)).sum()
                            for k, o in enumerate(outs))
            total.backward()
            result = {'output': [o.asnumpy() for o in outs],
                      'input grad': {graph.inputs[i]: flat[i].grad.asnumpy() for i in floating},
                      'grad': {n: params[n].grad().asnumpy() for n in graph.trainable},
                      'aux': {n: params[n].data().asnumpy() for n in graph.aux}}
            result['after step'] = sgd_step({n: params[n].data().asnumpy() for n in graph.trainable},
                                            result['grad'], lr)
    finally:
        for n, p in params.items():
            p.set_data(saved[n])
    return result


def sgd_step(weights, grads, lr):
    """``{name: weight after one step of MXNet's SGD}`` (no weight decay) from NumPy weights and gradients."""
    import mxnet as mx
    # why not gluon.Trainer: it would bind the user's parameters to a trainer of ours
    sgd = mx.optimizer.SGD(learning_rate=lr, wd=0.0, rescale_grad=1.0)
    after = {}
    for i, (n, w) in enumerate(weights.items()):
        weight = mx.nd.array(w, dtype=w.dtype)
        sgd.update(i, weight, mx.nd.array(grads[n], dtype=w.dtype), sgd.create_state(i, weight))
        after[n] = weight.asnumpy()
    return after


def reference_graph(graph, training):
    """The traced graph as an MXNet symbol that computes, in training mode, what ``graph`` computes in
    ``training`` mode: in inference mode BatchNorm uses its running statistics (``use_global_stats``)
    and dropout is off (MXNet differentiates that graph right, unlike its inference-mode backward)."""
    import mxnet as mx
    nodes = []
    for node in graph.nodes:
        attrs = dict(node.attrs)
        if not training:
            if 'BatchNorm' in node.op:
                attrs['use_global_stats'] = 'True'
            elif node.op == 'Dropout' and attrs.get('mode', 'training') != 'always':
                attrs['p'] = '0'
            elif node.op == 'RNN':
                attrs['p'] = '0'
        nodes.append({'op': node.op, 'name': node.name, 'attrs': attrs,
                      'inputs': [[src, k, 0] for src, k in node.inputs]})
    return mx.sym.load_json(json.dumps({
        'nodes': nodes, 'arg_nodes': [i for i, n in enumerate(graph.nodes) if n.op == 'null'],
        'heads': [[src, k, 0] for src, k in graph.outputs], 'attrs': {'mxnet_version': ['int', 10901]}}))


def reference_dtype(graph, dtype):
    """float64, except where MXNet 1.9.1's float64 kernels are the wrong ones (a fused RNN of 3 or more
    layers: tests/test_port.py pins it down): then ``dtype``."""
    deep_rnn = any(n.op == 'RNN' and n.attrs.int('num_layers', 1) >= 3 for n in graph.nodes)
    return dtype if deep_rnn or numpy.dtype(dtype).kind != 'f' else 'float64'


def _reference_run(block, graph, inputs, training, seed, output_dtypes, ref_dtype):
    """``{'input grad': ..., 'grad': ...}`` of the fixed linear function of the outputs, from MXNet's
    executor on :func:`reference_graph` in ``ref_dtype``, cast back to the inputs' and parameters' dtypes."""
    import mxnet as mx
    params = block.collect_params()
    values = dict(zip(graph.inputs, inputs))
    values.update({n: params[n].data().asnumpy() for n in graph.params})
    wrt = [graph.inputs[i] for i in differentiated(graph, inputs)] + list(graph.trainable)

    def cast(a):
        return a.astype(ref_dtype) if a.dtype.kind == 'f' else a
    with G.mode(graph.numpy_mode):
        sym = reference_graph(graph, training)
        arrays = {n: mx.nd.array(cast(v), dtype=cast(v).dtype) for n, v in values.items()}
        args = {n: arrays[n] for n in sym.list_arguments()}
        grads = {n: mx.nd.zeros(arrays[n].shape, dtype=arrays[n].dtype) for n in wrt}
        # the operators as they are: no MKLDNN subgraph fusion (it would also log a line per run)
        backend = os.environ.get('MXNET_SUBGRAPH_BACKEND')
        os.environ['MXNET_SUBGRAPH_BACKEND'] = 'NONE'
        try:
            exe = sym.bind(mx.cpu(), args=args, args_grad=grads,
                           grad_req={n: 'write' if n in grads else 'null' for n in args},
                           aux_states={n: arrays[n] for n in sym.list_auxiliary_states()})
        finally:
            if backend is None:
                del os.environ['MXNET_SUBGRAPH_BACKEND']
            else:
                os.environ['MXNET_SUBGRAPH_BACKEND'] = backend
        outs = exe.forward(is_train=True)
        heads = [mx.nd.array(cotangent(k, o.shape, dt, seed).astype(o.dtype), dtype=o.dtype)
                 if numpy.dtype(dt).kind == 'f' else mx.nd.zeros(o.shape, dtype=o.dtype)
                 for k, (o, dt) in enumerate(zip(outs, output_dtypes))]
        exe.backward(heads)
        got = {n: g.asnumpy().astype(values[n].dtype) for n, g in grads.items()}
    return {'input grad': {n: got[n] for n in wrt if n in graph.inputs},
            'grad': {n: got[n] for n in graph.trainable}}


def compare(block, ported, *inputs, dtype=None, rtol=None, atol=None, training=False, lr=0.1, seed=0,
            gradients=True, check_step=True, mapping=None, reference='float64', **twin_options):
    """Compare ``block`` (a Gluon HybridBlock) with ``ported`` (from ``to_torch``/``to_keras``/
    ``to_flax``) on ``inputs`` (NumPy arrays, nested like the block's arguments).

    With ``mapping``, ``ported`` is a twin written by hand (a ``torch.nn.Module`` or a Keras model):
    the block's weights are loaded into it through the mapping and the same rows are compared (see
    :func:`parity.port.twins.compare_twin`, which also takes ``twin_options``).

    ``dtype`` (default: the dtype of the block's parameters) casts the floating inputs and picks the
    default tolerances (:data:`TOLERANCES`), which ``rtol``/``atol`` override. ``training`` runs
    both in training mode (batch statistics; dropout then differs, so leave it at 0).
    ``gradients=False`` compares the forward outputs and auxiliary states only; ``check_step=False``
    leaves out the SGD step. ``reference='float64'`` (the default) takes the expected gradients from
    MXNet's float64 training-mode run of the graph with BatchNorm on its running statistics (see the
    module's docstring), ``reference='block'`` from the block's own backward.
    Floating inputs that are ids (they feed an ``Embedding``) get no gradient row; a ``None`` argument
    is passed on as ``None``.
    Returns a :class:`Comparison`.
    """
    if mapping is not None or twin_options:
        from .twins import compare_twin
        return compare_twin(block, ported, *inputs, mapping=mapping, dtype=dtype, rtol=rtol, atol=atol,
                            training=training, lr=lr, seed=seed, gradients=gradients, check_step=check_step,
                            **twin_options)
    if type(ported).__name__ == 'ModelProto':  # the ONNX target (parity/port/onnx.py): forward only
        from .onnx import compare as compare_onnx
        return compare_onnx(block, ported, *inputs, dtype=dtype, rtol=rtol, atol=atol)
    graph = getattr(ported, 'graph', None)
    target = getattr(ported, 'port_target', None)
    if graph is None or target is None:
        raise TypeError(f'compare: ported must come from parity.port.to_torch/to_keras/to_flax, '
                        f'got {type(ported).__name__} (a twin written by hand takes mapping=, '
                        f'see parity.port.propose_mapping)')
    if dtype is None:
        floats = [v.dtype for v in graph.params.values() if v.dtype.kind == 'f']
        dtype = str(floats[0]) if floats else 'float32'
    dtype, rtol, atol = tolerances(dtype, rtol, atol)
    lr = float(numpy.float32(lr))  # MXNet's sgd_update keeps the learning rate as a C float
    flat = flat_inputs(inputs, dtype)
    expected = _gluon_run(block, graph, flat, dtype, training, lr, seed)
    notes = []
    if gradients and reference != 'block':
        notes = use_reference(block, graph, flat, dtype, training, lr, seed, expected, rtol, atol)
    runner = importlib.import_module(f'{__package__}.{target}')
    try:
        actual = runner.run_compare(ported, flat, lambda k, shape, dt: cotangent(k, shape, dt, seed), training, lr)
    except G.PortError as err:  # the port crashed in a layer: that is a failed comparison, named
        found = re.search(r'([\w.]+) \((\w+)\): ', str(err))
        layer = found.group(1) if found else '?'
        return Comparison(target, dtype, rtol, atol, [Row('run', 'the port raised', layer, math.inf, math.inf,
                                                          math.nan, False, str(err))])
    kinds = (('input grad', 'grad') if gradients else ()) + ('aux',) + \
        (('after step',) if gradients and check_step else ())
    output_layers = [graph.nodes[src].name for src, _ in graph.outputs]
    rows, skipped = assemble(expected, actual, kinds, rtol, atol, output_layers,
                             lambda kind, name: name if kind == 'input grad' else layer_of(graph, name),
                             'missing in the port')
    return Comparison(target, dtype, rtol, atol, rows, skipped, notes)


def use_reference(block, graph, flat, dtype, training, lr, seed, expected, rtol, atol):
    """Put the reference gradients (and the SGD step taken with them) into ``expected``, the block's
    run; returns the notes: the reference used, and the gradients MXNet's own backward gets wrong."""
    ref_dtype = reference_dtype(graph, dtype)
    try:
        ref = _reference_run(block, graph, flat, training, seed, [o.dtype for o in expected['output']], ref_dtype)
    except Exception as err:  # an operator MXNet cannot re-run in that dtype: the block's own backward
        return [f"reference: the block's own backward ({ref_dtype} re-run failed: {str(err).splitlines()[0]})"]
    mode = 'training mode' if training else 'inference mode (BatchNorm on running statistics, training-mode backward)'
    notes = [f'reference gradients: MXNet, {ref_dtype}, {mode}']
    wrong = [r for kind in ('input grad', 'grad') for n, e in ref[kind].items()
             for r in [row(kind, n, '', expected[kind][n], e, rtol, atol)] if not r.ok]
    if wrong:
        worst = max(wrong, key=lambda r: r.rel_err)
        notes.append(f"MXNet's own {dtype} backward is wrong in {len(wrong)} gradient(s) (worst {worst.name}, "
                     f'rel {worst.rel_err:.3g}): not held against the port')
    expected['input grad'], expected['grad'] = ref['input grad'], ref['grad']
    expected['after step'] = sgd_step({n: block.collect_params()[n].data().asnumpy() for n in graph.trainable},
                                      ref['grad'], lr)
    return notes


def tolerances(dtype, rtol, atol):
    """``(dtype name, rtol, atol)``: the defaults of :data:`TOLERANCES` where ``rtol``/``atol`` are ``None``."""
    dtype = str(numpy.dtype(dtype))
    if dtype not in TOLERANCES and (rtol is None or atol is None):
        raise ValueError(f'compare: no default tolerance for dtype {dtype}; pass rtol and atol')
    default_rtol, default_atol = TOLERANCES.get(dtype, (rtol, atol))
    return dtype, default_rtol if rtol is None else rtol, default_atol if atol is None else atol


def flat_inputs(inputs, dtype):
    """The (nested) inputs as a flat list of NumPy arrays, floating ones cast to ``dtype`` (``None``s left out)."""
    flat, _ = G.flatten(list(inputs))
    flat = [numpy.asarray(a.asnumpy() if hasattr(a, 'asnumpy') else a) for a in flat]
    return [a.astype(dtype) if a.dtype.kind == 'f' else a for a in flat]


def assemble(expected, actual, kinds, rtol, atol, output_layers, layer, missing):
    """The rows (and the skipped rows) of a comparison of two runs: ``expected`` from :func:`_gluon_run`,
    ``actual`` from the other side's runner, both keyed by Gluon names; ``layer(kind, name)`` names the
    layer of a row, ``missing`` is the problem of a name the other side lacks."""
    rows, skipped = [], []
    n_out = len(expected['output'])
    if len(actual['output']) != n_out:
        rows.append(Row('output', 'count', '', math.inf, math.inf, math.nan, False,
                        f'{len(actual["output"])} outputs, expected {n_out}'))
    for k, (a, e) in enumerate(zip(actual['output'], expected['output'])):
        rows.append(row('output', f'output {k}', output_layers[k] if k < len(output_layers) else '', a, e,
                        rtol, atol))
    not_comparable = actual.get('not comparable', {})
    for kind in kinds:
        for name, e in expected[kind].items():
            where = layer(kind, name)
            if kind == 'after step' and name in not_comparable:
                skipped.append(Row(kind, name, where, math.nan, math.nan, math.nan, True, not_comparable[name]))
            elif name not in actual[kind]:
                rows.append(Row(kind, name, where, math.inf, math.inf, math.nan, False, missing))
            else:
                rows.append(row(kind, name, where, actual[kind][name], e, rtol, atol))
    return rows, skipped
