"""Load a block's weights into its twin, compare the two, and, when the outputs differ, name the
mapping entries whose changed transform makes them agree."""
import itertools
import re
import types

import numpy

from .. import graph as G
from ..compare import Comparison, _gluon_run, assemble, cotangent, flat_inputs, row, tolerances
from ._gluon import _numpy_mode, _ready, gluon_parameters
from ._mapping import Entry, _resolve
from ._sides import _twin_side
from ._transforms import GATES, _Each, _Gates, transpose


def _load(entries, side, arrays):
    for e in entries:
        for name, value in zip(e.twin, e.to_twin([arrays[n] for n in e.gluon])):
            side.set(name, value)


def load_twin(block, twin, mapping):
    """Load ``block``'s weights into ``twin`` through ``mapping`` (checked as :func:`compare_twin` does)."""
    params = gluon_parameters(block)
    side = _twin_side(twin)
    entries = _resolve(mapping, block, side, params)
    _load(entries, side, {n: p.data().asnumpy() for n, p in params.items()})
    return twin


# --- comparing -----------------------------------------------------------------------------------


def _io(transforms, count, what):
    if transforms is None:
        return [None] * count
    transforms = list(transforms)
    if len(transforms) != count:
        raise ValueError(f'{what}: {len(transforms)} transforms for {count} arrays (None leaves one as it is)')
    for t in transforms:
        if t is not None and not isinstance(t, _Each):
            raise ValueError(f'{what}: {t!r} is not a permutation (transpose, hwio, permute, gates)')
    return transforms


def _apply(t, a):
    return a if t is None else t.to_twin([a])[0]


def _unapply(t, a):
    return a if t is None else t.to_gluon([a], None)[0]


def compare_twin(block, twin, *inputs, mapping, dtype=None, rtol=None, atol=None, training=False, lr=0.1, seed=0,
                 gradients=True, check_step=True, twin_inputs=None, twin_outputs=None, diagnose=True):
    """Compare Gluon ``block`` with ``twin`` (a ``torch.nn.Module`` or a built Keras model written by
    hand) on ``inputs`` (NumPy arrays, nested like the block's arguments), after loading the block's
    weights into the twin through ``mapping`` (see :mod:`parity.port.twins`).

    The twin is called with the same arguments, nested the same way (a Keras functional model with
    several inputs gets them as a list; ``training=`` goes to Keras, ``train()``/``eval()`` to torch).
    ``twin_inputs``/``twin_outputs``: per flat input/output, a permutation (``permute(0, 2, 3, 1)`` for a
    channels-last Keras twin) from Gluon's layout to the twin's, or ``None``. The other arguments are
    :func:`parity.port.compare`'s. The twin's weights are restored afterwards, the block's too.
    Rows are named by the Gluon parameters, with the twin's parameter as the layer. When outputs
    differ and ``diagnose``, the notes name the parameters whose transform, changed, makes them agree.
    Returns a :class:`~parity.port.compare.Comparison`.
    """
    side = _twin_side(twin)
    numpy_mode = _numpy_mode(block)
    _ready(block, numpy_mode, inputs)
    params = gluon_parameters(block)
    if dtype is None:
        floats = [p.data().dtype for p in params.values() if numpy.dtype(p.data().dtype).kind == 'f']
        dtype = str(numpy.dtype(floats[0])) if floats else 'float32'
    dtype, rtol, atol = tolerances(dtype, rtol, atol)
    entries = _resolve(mapping, block, side, params)
    wrong = [f'{name} ({dt})' for name, _, dt, _ in side.variables() if dt != dtype]
    if wrong:
        raise ValueError(f'the twin runs in another dtype than {dtype}: {", ".join(wrong[:6])} '
                         f'(torch: module.to(torch.{dtype}); Keras: layers built with dtype={dtype!r})')
    lr = float(numpy.float32(lr))  # MXNet's sgd_update keeps the learning rate as a C float
    flat, fmt = G.flatten(list(inputs))
    flat = flat_inputs(flat, dtype)
    in_t = _io(twin_inputs, len(flat), 'twin_inputs')
    full = {p.name: name for name, p in params.items()}
    names = [f'input {i}' for i in range(len(flat))]
    gluon_side = types.SimpleNamespace(
        numpy_mode=numpy_mode, in_format=fmt, inputs=names,
        trainable=[p.name for p in params.values() if p.grad_req != 'null'],
        aux=[p.name for p in params.values() if p.grad_req == 'null'])
    run = _gluon_run(block, gluon_side, flat, dtype, training, lr, seed)
    expected = {'output': run['output'], 'input grad': run['input grad']}
    for kind in ('grad', 'aux', 'after step'):
        expected[kind] = {full[n]: v for n, v in run[kind].items()}
    out_t = _io(twin_outputs, len(expected['output']), 'twin_outputs')
    arrays = {n: p.data().asnumpy() for n, p in params.items()}
    twin_flat = [_apply(t, a) for t, a in zip(in_t, flat)]

    def twin_cotangent(k, shape, dt):
        t = out_t[k] if k < len(out_t) else None
        gluon_shape = expected['output'][k].shape if k < len(out_t) else shape
        return _apply(t, cotangent(k, gluon_shape, dt, seed))

    saved = side.save()
    try:
        _load(entries, side, arrays)
        got = side.run(twin_flat, fmt, twin_cotangent, training, lr)
    finally:
        side.restore(saved)
    actual = {'output': [_unapply(out_t[k] if k < len(out_t) else None, o) for k, o in enumerate(got['output'])],
              'input grad': {names[i]: _unapply(in_t[i], g) for i, g in got['input grad'].items()},
              'grad': {}, 'aux': {}, 'after step': {}, 'not comparable': {}}
    for e in entries:
        gluon_values = [arrays[n] for n in e.gluon]
        for kind in ('grad', 'aux', 'after step'):
            if all(n in got[kind] for n in e.twin):
                actual[kind].update(zip(e.gluon, e.to_gluon([got[kind][n] for n in e.twin], gluon_values)))
        if not e.exact:
            for n in e.gluon:
                actual['not comparable'][n] = (f'{" + ".join(e.gluon)} -> {"+".join(e.twin)} through '
                                               f'{", ".join(map(repr, e.transforms))}: SGD on the sum is not '
                                               f'SGD on its terms')
    twin_of = {n: '+'.join(e.twin) for e in entries for n in e.gluon}
    kinds = (('input grad', 'grad') if gradients else ()) + ('aux',) + \
        (('after step',) if gradients and check_step else ())
    rows, skipped = assemble(expected, actual, kinds, rtol, atol, ['twin'] * len(expected['output']),
                             lambda kind, name: 'input' if kind == 'input grad' else f'twin {twin_of[name]}',
                             'the twin has no value for it (not used in its forward?)')
    result = Comparison(f'{side.framework} twin', dtype, rtol, atol, rows, skipped)
    if diagnose and any(not r.ok for r in rows if r.kind == 'output'):
        result.notes = _diagnose(entries, side, arrays, params, twin_flat, fmt, expected['output'], out_t,
                                 training, rtol, atol)
    return result


# --- finding the cause of a difference -----------------------------------------------------------


def _alternatives(entry, params, side):
    """Other transform chains of ``entry`` that give the twin's shapes: transpose toggled, a square
    kernel's other layouts."""
    variables = {name: shape for name, shape, _, _ in side.variables()}
    found = []
    base = [t for t in entry.transforms if t is not transpose]
    candidates = [tuple(base) if transpose in entry.transforms else tuple(base) + (transpose,)]
    for chain in candidates:
        trial = Entry(entry.gluon, entry.twin, chain)
        try:
            shapes = [a.shape for a in trial.to_twin([numpy.zeros(params[n].shape) for n in entry.gluon])]
        except ValueError:
            continue
        if [tuple(s) for s in shapes] == [tuple(variables[n]) for n in entry.twin]:
            found.append(trial)
    return found


def _diagnose(entries, side, arrays, params, twin_flat, fmt, expected, out_t, training, rtol, atol):
    """Try other transforms one entry (or one RNN layer's gate order) at a time; name those that fix the outputs."""
    def outputs_match(trial_entries):
        saved = side.save()
        try:
            _load(trial_entries, side, arrays)
            outs = side.forward(twin_flat, fmt, training)
        except Exception:  # a trial the twin cannot run is not the cause
            return False
        finally:
            side.restore(saved)
        outs = [_unapply(out_t[k] if k < len(out_t) else None, o) for k, o in enumerate(outs)]
        return len(outs) == len(expected) and all(row('output', '', '', a, e, rtol, atol).ok
                                                  for a, e in zip(outs, expected))

    notes = []
    for i, e in enumerate(entries):
        for alt in _alternatives(e, params, side):
            if outputs_match(entries[:i] + [alt] + entries[i + 1:]):
                notes.append(f'suspect: {"+".join(e.gluon)} -> {"+".join(e.twin)}: the outputs agree with '
                             f'({", ".join(map(repr, alt.transforms)) or "no transform"}) in place of '
                             f'({", ".join(map(repr, e.transforms)) or "no transform"})')
    layers = {}
    for i, e in enumerate(entries):
        for t in e.transforms:
            if isinstance(t, _Gates):
                layers.setdefault((re.sub(r'[lr]\d+_(i2h|h2h)_(weight|bias)$', '', e.gluon[0]), t.kind, t.order),
                                  []).append(i)
    for (layer, kind, order), members in layers.items():
        for perm in itertools.permutations(GATES[kind]):
            other = ''.join(perm)
            if other == order:
                continue
            trial = list(entries)
            for i in members:
                trial[i] = Entry(entries[i].gluon, entries[i].twin, tuple(
                    _Gates(kind, other) if isinstance(t, _Gates) else t for t in entries[i].transforms))
            if outputs_match(trial):
                notes.append(f'suspect: the gates of {", ".join(n for i in members for n in entries[i].gluon)}: '
                             f'the outputs agree with gates({kind!r}, {other!r}) in place of '
                             f'gates({kind!r}, {order!r})')
                break
    return notes or ['no single changed transform makes the outputs agree: compare the twin layer by layer']
