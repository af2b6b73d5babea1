"""A mapping's entries (:class:`Entry`), the printable :class:`Mapping`, and the check of a user's
mapping against the block and the twin (names, coverage, shapes, trainability)."""
import dataclasses

import numpy

from ._gluon import _aliases
from ._transforms import Transform


@dataclasses.dataclass
class Entry:
    """Gluon parameters (structural names) -> twin parameters, through ``transforms``."""
    gluon: tuple
    twin: tuple
    transforms: tuple

    @property
    def exact(self):
        return all(t.exact for t in self.transforms)

    def to_twin(self, arrays):
        for t in self.transforms:
            arrays = t.to_twin(list(arrays))
        return list(arrays)

    def to_gluon(self, arrays, gluon_arrays):
        likes = [list(gluon_arrays)]
        for t in self.transforms[:-1]:
            likes.append(t.to_twin(likes[-1]))
        arrays = list(arrays)
        for t, like in zip(reversed(self.transforms), reversed(likes)):
            arrays = t.to_gluon(arrays, like)
        return list(arrays)

    def code(self):
        key = repr(self.gluon[0]) if len(self.gluon) == 1 else '(' + ', '.join(map(repr, self.gluon)) + ')'
        target = repr(self.twin[0]) if len(self.twin) == 1 else '(' + ', '.join(map(repr, self.twin)) + ')'
        value = target if not self.transforms else f'({target}, ' + ', '.join(map(repr, self.transforms)) + ')'
        return f'{key}: {value},'


class Mapping(dict):
    """A mapping (a ``dict`` as :mod:`parity.port.twins` describes) that prints itself as Python:
    ``print(mapping.code())``. :func:`propose_mapping` returns one; notes say what was guessed."""

    def __init__(self, *args, notes=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.notes = list(notes)

    def code(self, name='mapping'):
        """The mapping as Python code: paste it into a test and edit it."""
        entries = [_entry(k, v) for k, v in self.items()]
        used = sorted({type(t).__name__ for e in entries for t in e.transforms})
        names = sorted({t.code.split('(')[0] for e in entries for t in e.transforms})
        lines = [f'from parity.port.twins import {", ".join(names)}', ''] if used else []
        lines += [f'# {n}' for n in self.notes]
        lines.append(f'{name} = {{')
        lines += [f'    {e.code()}' for e in entries]
        lines.append('}')
        return '\n'.join(lines)

    def __str__(self):
        return self.code()


def _entry(key, value):
    gluon = tuple(key) if isinstance(key, (tuple, list)) else (key,)
    if isinstance(value, (tuple, list)):
        if not value:
            raise ValueError(f'mapping: {key!r} maps to an empty tuple')
        target, transforms = value[0], tuple(value[1:])
    else:
        target, transforms = value, ()
    twin = tuple(target) if isinstance(target, (tuple, list)) else (target,)
    bad = [t for t in transforms if not isinstance(t, Transform)]
    if bad or not all(isinstance(n, str) for n in gluon + twin):
        raise ValueError(f'mapping: {key!r}: {value!r} is not (twin name, *transforms) with transforms from '
                         f'parity.port.twins (transpose, hwio, permute, gates, merge, stack, concat, split)')
    return Entry(gluon, twin, transforms)


def _resolve(mapping, block, side, params):
    """The mapping as checked :class:`Entry` objects with structural Gluon names and the twin's full names."""
    if not isinstance(mapping, dict):
        raise TypeError(f'mapping must be a dict (see parity.port.twins), got {type(mapping).__name__}')
    aliases = _aliases(block, params)
    entries, problems = [], []
    for key, value in mapping.items():
        entry = _entry(key, value)
        gluon = []
        for name in entry.gluon:
            found = name if name in params else aliases.get(name)
            if found is None:
                problems.append(f'{name!r} is not a parameter of the block (its parameters: '
                                f'{", ".join(list(params)[:12])}{", ..." if len(params) > 12 else ""})')
            gluon.append(found or name)
        twin = []
        for name in entry.twin:
            found = side.lookup(name)
            if found is None:
                problems.append(f'{"/".join(entry.gluon)} -> {name!r}: the twin has no parameter {name!r}')
            twin.append(found or name)
        entries.append(Entry(tuple(gluon), tuple(twin), tuple(t.resolve(side.framework) for t in entry.transforms)))
    if problems:
        raise ValueError('mapping: ' + '; '.join(problems))
    sources, targets = {}, {}
    for e in entries:
        for n in e.gluon:
            sources.setdefault(n, []).append(e)
        for n in e.twin:
            targets.setdefault(n, []).append(e)
    twice = [f'{n!r} (from {" and ".join("+".join(e.gluon) for e in es)})' for n, es in targets.items() if len(es) > 1]
    if twice:
        problems.append(f'twin parameters used twice: {", ".join(twice)} (several Gluon parameters in one twin '
                        f'parameter are one entry with a tuple key and merge, stack or concat)')
    twice = [n for n, es in sources.items() if len(es) > 1]
    if twice:
        problems.append(f'Gluon parameters mapped twice: {", ".join(twice)}')
    unmapped = [n for n in params if n not in sources]
    if unmapped:
        problems.append(f'Gluon parameters without a target in the twin: {", ".join(unmapped)}')
    variables = {name: (shape, dtype, trainable) for name, shape, dtype, trainable in side.variables()}
    left = [n for n in variables if n not in targets]
    if left:
        problems.append(f'twin parameters without a Gluon source: {", ".join(left)}')
    for e in entries:
        try:
            shapes = [a.shape for a in e.to_twin([numpy.zeros(params[n].shape) for n in e.gluon])]
        except ValueError as err:
            problems.append(f'{"+".join(e.gluon)} -> {"+".join(e.twin)}: {err}')
            continue
        want = [variables[n][0] for n in e.twin]
        if len(shapes) != len(want) or any(tuple(s) != tuple(w) for s, w in zip(shapes, want)):
            have = ', '.join(str(tuple(params[n].shape)) for n in e.gluon)
            problems.append(f'{"+".join(e.gluon)} {have} -> {"+".join(e.twin)} {", ".join(map(str, want))}: '
                            f'{", ".join(map(repr, e.transforms)) or "no transform"} gives '
                            f'{", ".join(str(tuple(s)) for s in shapes)}')
        aux = {params[n].grad_req == 'null' for n in e.gluon}
        if aux == {True} and any(variables[n][2] for n in e.twin):
            problems.append(f'{"+".join(e.gluon)} is an auxiliary state (no gradient) but twin '
                            f'{"+".join(e.twin)} is trainable')
    if problems:
        raise ValueError('mapping: ' + '; '.join(problems))
    return entries
