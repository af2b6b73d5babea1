"""Run a Gluon block and its port on the same inputs and compare them, output by output.

Compared, in this order: the forward outputs; the gradients of a fixed random linear function of
the outputs (``sum_k <c_k, out_k>``, the same ``c_k`` on both sides) with respect to every
floating input and every trainable parameter (the port's gradients mapped back to the Gluon
names); the auxiliary states after the forward pass (BatchNorm's running statistics in training
mode); and every parameter after one SGD step taken by each framework's own optimizer. Both
models are restored afterwards: ``compare`` leaves the user's block and port as it found them.
"""
import dataclasses
import importlib
import math
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


def _gluon_run(block, graph, inputs, dtype, training, lr, seed):
    """Forward, backward and one SGD step of the Gluon block; restores the block afterwards."""
    import mxnet as mx
    from mxnet import autograd
    params = block.collect_params()
    saved = {n: p.data().copy() for n, p in params.items()}
    try:
        with G.mode(graph.numpy_mode):
            flat = [G.to_mxnet(a, graph.numpy_mode) for a in inputs]
            floating = [i for i, a in enumerate(inputs) if a.dtype.kind == 'f']
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
            # why not gluon.Trainer: it would bind the user's parameters to a trainer of ours
            sgd = mx.optimizer.SGD(learning_rate=lr, wd=0.0, rescale_grad=1.0)
            for i, n in enumerate(graph.trainable):
                weight, grad = params[n].data(), params[n].grad()
                if graph.numpy_mode:
                    weight, grad = weight.as_nd_ndarray(), grad.as_nd_ndarray()
                sgd.update(i, weight, grad, sgd.create_state(i, weight))
            result['after step'] = {n: params[n].data().asnumpy() for n in graph.trainable}
    finally:
        for n, p in params.items():
            p.set_data(saved[n])
    return result


def compare(block, ported, *inputs, dtype=None, rtol=None, atol=None, training=False, lr=0.1, seed=0,
            gradients=True, check_step=True, mapping=None, **twin_options):
    """Compare ``block`` (a Gluon HybridBlock) with ``ported`` (from ``to_torch``/``to_keras``/
    ``to_flax``) on ``inputs`` (NumPy arrays, nested like the block's arguments).

    With ``mapping``, ``ported`` is a twin written by hand (a ``torch.nn.Module`` or a Keras model):
    the block's weights are loaded into it through the mapping and the same rows are compared (see
    :func:`parity.port.twins.compare_twin`, which also takes ``twin_options``).

    ``dtype`` (default: the dtype of the block's parameters) casts the floating inputs and picks the
    default tolerances (:data:`TOLERANCES`), which ``rtol``/``atol`` override. ``training`` runs
    both in training mode (batch statistics; dropout then differs, so leave it at 0).
    ``gradients=False`` compares the forward outputs and auxiliary states only; ``check_step=False``
    leaves out the SGD step.
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
    return Comparison(target, dtype, rtol, atol, rows, skipped)


def tolerances(dtype, rtol, atol):
    """``(dtype name, rtol, atol)``: the defaults of :data:`TOLERANCES` where ``rtol``/``atol`` are ``None``."""
    dtype = str(numpy.dtype(dtype))
    if dtype not in TOLERANCES and (rtol is None or atol is None):
        raise ValueError(f'compare: no default tolerance for dtype {dtype}; pass rtol and atol')
    default_rtol, default_atol = TOLERANCES.get(dtype, (rtol, atol))
    return dtype, default_rtol if rtol is None else rtol, default_atol if atol is None else atol


def flat_inputs(inputs, dtype):
    """The (nested) inputs as a flat list of NumPy arrays, floating ones cast to ``dtype``."""
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
