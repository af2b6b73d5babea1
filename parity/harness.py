"""The generic runner: find the cases, run them through each framework, compare with MXNet."""
import dataclasses
import functools
import importlib
import math
import pkgutil
import traceback
import types

import numpy

from . import cases as cases_package
from . import frameworks

DTYPES = ('float64', 'float32')
SEED = 0  # every case builds its inputs from numpy.random.default_rng(SEED)


@dataclasses.dataclass(frozen=True)
class Case:
    """A case module (see :mod:`parity.cases`) with the harness's view of it."""
    name: str
    module: types.ModuleType

    @property
    def title(self):
        """The first paragraph of the module's docstring, on one line."""
        return ' '.join((self.module.__doc__ or self.name).strip().split('\n\n')[0].split())

    @property
    def frameworks(self):
        """The frameworks this case has a function for, in registry order."""
        return tuple(name for name in frameworks.PACKAGES if callable(getattr(self.module, name, None)))

    def tolerance(self, dtype):
        return self.module.TOLERANCE[dtype]

    def raw_inputs(self):
        """The inputs as built: ``(stored, from_corpus)``, both dicts of NumPy arrays."""
        rng = numpy.random.default_rng(SEED)
        stored = {k: numpy.asarray(v) for k, v in self.module.inputs(rng).items()}
        corpus = getattr(self.module, 'corpus_inputs', dict)()
        return stored, {k: numpy.asarray(v) for k, v in corpus.items()}

    def inputs(self, dtype):
        stored, corpus = self.raw_inputs()
        return cast({**stored, **corpus}, dtype)

    def run(self, framework, inputs):
        """Run the ``framework`` function on ``inputs``; return its outputs as flat NumPy arrays."""
        adapter = frameworks.load(framework)
        outputs = flatten(getattr(self.module, framework)(adapter, **inputs))
        return {k: v if isinstance(v, numpy.ndarray) else numpy.asarray(adapter.numpy(v))
                for k, v in outputs.items()}


def cast(arrays, dtype):
    """Floating arrays cast to ``dtype``; integer and string arrays unchanged."""
    return {k: a.astype(dtype) if a.dtype.kind == 'f' else a for k, a in arrays.items()}


def flatten(outputs, prefix=''):
    """Nested dicts/lists of outputs as ``{'grad/W': leaf, ...}``; Python numbers, lists of them
    and strings become NumPy arrays, framework tensors are left for the adapter to convert."""
    if isinstance(outputs, dict):
        items = outputs.items()
    elif isinstance(outputs, (list, tuple)) and all(isinstance(x, (int, float)) for x in outputs):
        return {prefix: numpy.asarray(outputs)}
    elif isinstance(outputs, (list, tuple)):
        items = enumerate(outputs)
    elif isinstance(outputs, (str, int, float, numpy.ndarray, numpy.generic)):
        return {prefix: numpy.asarray(outputs)}
    else:
        return {prefix: outputs}
    flat = {}
    for key, value in items:
        flat.update(flatten(value, f'{prefix}/{key}' if prefix else str(key)))
    return flat


def discover(pattern=None):
    """All cases, sorted by name; ``pattern`` keeps those whose name contains one of its comma parts."""
    names = sorted(m.name for m in pkgutil.iter_modules(cases_package.__path__) if not m.name.startswith('_'))
    if pattern:
        parts = [p.strip() for p in pattern.split(',') if p.strip()]
        names = [n for n in names if any(p in n for p in parts)]
    return [Case(n, importlib.import_module(f'{cases_package.__name__}.{n}')) for n in names]


@dataclasses.dataclass
class Result:
    """One case run through one framework in one dtype, compared with the expected outputs."""
    case: str
    framework: str
    dtype: str
    status: str  # 'pass', 'FAIL', 'error' (the run raised) or 'missing' (framework not installed)
    abs_err: float = math.nan
    rel_err: float = math.nan
    tolerance: float = math.nan
    detail: str = ''  # the worst output, or what went wrong
    errors: dict = dataclasses.field(default_factory=dict)  # output -> (abs, rel)

    @property
    def ok(self):
        return self.status == 'pass'


def output_error(actual, expected):
    """``(max abs error, max abs error / max |expected|, problem)`` of one output."""
    if actual.shape != expected.shape:
        return math.inf, math.inf, f'shape {actual.shape}, expected {expected.shape}'
    if expected.dtype.kind in 'US' or actual.dtype.kind in 'US':
        if numpy.array_equal(actual, expected):
            return 0.0, 0.0, ''
        a, e = str(actual), str(expected)
        at = next((i for i, (x, y) in enumerate(zip(a, e)) if x != y), min(len(a), len(e)))
        return math.inf, math.inf, f'text differs at character {at}: {a!r} vs {e!r}'
    a, e = actual.astype('float64'), expected.astype('float64')
    diff = numpy.where((a == e) | (numpy.isnan(a) & numpy.isnan(e)), 0.0, numpy.abs(a - e))
    if diff.size == 0:
        return 0.0, 0.0, ''
    err = float(numpy.nan_to_num(diff, nan=math.inf).max())
    scale = float(numpy.abs(e[numpy.isfinite(e)]).max(initial=0.0))
    return err, (err / scale if scale else err), ''


def compare(actual, expected, tolerance):
    """Compare all outputs; return the fields of a :class:`Result` (status, errors, detail)."""
    missing, extra = sorted(set(expected) - set(actual)), sorted(set(actual) - set(expected))
    if missing or extra:
        return dict(status='FAIL', abs_err=math.inf, rel_err=math.inf,
                    detail=f'outputs missing {missing}, unexpected {extra}')
    errors, problems = {}, []
    for key in expected:
        abs_err, rel_err, problem = output_error(actual[key], expected[key])
        errors[key] = (abs_err, rel_err)
        if problem:
            problems.append(f'{key}: {problem}')
    worst = max(errors, key=lambda k: errors[k][0]) if errors else ''
    abs_err = errors[worst][0] if errors else 0.0
    rel_err = max((e[1] for e in errors.values()), default=0.0)
    status = 'pass' if abs_err <= tolerance and not problems else 'FAIL'
    detail = '; '.join(problems) or (f'worst: {worst}' if worst else '')
    return dict(status=status, abs_err=abs_err, rel_err=rel_err, detail=detail, errors=errors)


def check(case, framework, dtype, inputs, expected):
    """Run ``case`` through ``framework`` on ``inputs`` and compare with ``expected``."""
    result = Result(case.name, framework, dtype, 'missing', tolerance=case.tolerance(dtype))
    if not frameworks.available(framework):
        result.detail = f'{framework} is not installed'
        return result
    try:
        actual = case.run(framework, inputs)
    except Exception as err:  # a reference that crashes is a failure, reported with its cause
        last = traceback.extract_tb(err.__traceback__)[-1]
        result.status, result.abs_err, result.rel_err = 'error', math.inf, math.inf
        result.detail = f'{type(err).__name__}: {err} ({last.filename.rsplit("/", 1)[-1]}:{last.lineno})'
        return result
    return dataclasses.replace(result, **compare(actual, expected, case.tolerance(dtype)))


@functools.lru_cache(maxsize=None)
def live(case, dtype):
    """``(inputs, outputs of the system under test)`` for ``case`` in ``dtype``, computed once."""
    inputs = case.inputs(dtype)
    return inputs, case.run(frameworks.SYSTEM, inputs)


def run(cases, names, dtypes=DTYPES, replay=False, on_result=None):
    """Check every case against each framework in ``names`` (those the case has a function for).

    Live, the expected outputs are MXNet's, computed now; with ``replay``, they and the inputs
    come from the golden files, and ``mxnet`` in ``names`` checks today's MXNet against them.
    """
    from . import golden
    results = []
    for case in cases:
        todo = [n for n in names if n in case.frameworks and (replay or n != frameworks.SYSTEM)]
        for dtype in dtypes if todo else ():
            inputs, expected = golden.load(case, dtype) if replay else live(case, dtype)
            for name in todo:
                results.append(check(case, name, dtype, inputs, expected))
                if on_result:
                    on_result(results[-1])
    return results
