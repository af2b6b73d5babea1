"""Golden vectors: each case's inputs, weights and MXNet outputs in ``CASE.npz`` in the case's golden directory.

The built-in cases keep theirs in ``parity/golden/``; the cases of a directory ``DIR`` (``--cases-dir``)
in ``DIR/golden/`` (:attr:`parity.harness.Case.golden`).

A file holds ``input/NAME`` (as built, floats in float64), ``sha1/NAME`` for inputs read from
the corpus (rebuilt on replay, never stored), ``DTYPE/OUTPUT`` for each dtype, and ``meta``
(versions that recorded it, as JSON). Everything is a plain array: files are always read with
``allow_pickle=False``. Replaying checks today's MXNet against the recording, and lets a
framework be checked where MXNet is not installed.
"""
import hashlib
import json
import pathlib
import platform

import numpy

from . import frameworks
from .harness import DTYPES, cast, live

DIRECTORY = pathlib.Path(__file__).resolve().parent / 'golden'  # the built-in cases' golden files


def path(case):
    """``CASE.npz`` in the case's golden directory (:data:`DIRECTORY` for a built-in case)."""
    return (DIRECTORY if case.golden_dir is None else case.golden_dir) / f'{case.name}.npz'


def sha1(array):
    return hashlib.sha1(numpy.ascontiguousarray(array).tobytes()).hexdigest()


def record(case, dtypes=DTYPES):
    """Run ``case`` through MXNet in each dtype and write its golden file; return the path."""
    stored, corpus = case.raw_inputs()
    arrays = {f'input/{k}': v for k, v in stored.items()}
    arrays.update({f'sha1/{k}': numpy.array(sha1(v)) for k, v in corpus.items()})
    for dtype in dtypes:
        arrays.update({f'{dtype}/{k}': v for k, v in live(case, dtype)[1].items()})
    meta = {'mxnet': frameworks.load(frameworks.SYSTEM).VERSION, 'numpy': numpy.__version__,
            'python': platform.python_version()}
    arrays['meta'] = numpy.array(json.dumps(meta, sort_keys=True))
    path(case).parent.mkdir(exist_ok=True)
    numpy.savez_compressed(path(case), **arrays)
    return path(case)


def read(case):
    """All arrays of ``case``'s golden file, by key."""
    if not path(case).is_file():
        raise FileNotFoundError(f'no golden file for case {case.name}: expected {path(case)}; record it with '
                                '`gluon-d2l parity --record`')
    with numpy.load(path(case), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def load(case, dtype):
    """``(inputs, expected outputs)`` of ``case`` in ``dtype`` from its golden file."""
    arrays = read(case)
    inputs = {k[len('input/'):]: v for k, v in arrays.items() if k.startswith('input/')}
    digests = {k[len('sha1/'):]: str(v) for k, v in arrays.items() if k.startswith('sha1/')}
    if digests:
        _, corpus = case.raw_inputs()
        for name, digest in digests.items():
            if sha1(corpus[name]) != digest:
                raise ValueError(f'{case.name}: input {name!r} read from the corpus differs from the '
                                 'recording (another timemachine.txt?)')
            inputs[name] = corpus[name]
    expected = {k[len(dtype) + 1:]: v for k, v in arrays.items() if k.startswith(f'{dtype}/')}
    if not expected:
        raise KeyError(f'{path(case).name} has no {dtype} outputs')
    return cast(inputs, dtype), expected


def meta(case):
    """The versions that recorded ``case``'s golden file."""
    return json.loads(str(read(case)['meta']))
