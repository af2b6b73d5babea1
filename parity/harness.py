"""The generic runner: find the cases, run them through each framework, compare with MXNet."""
import dataclasses
import functools
import hashlib
import importlib
import importlib.util
import math
import pathlib
import pkgutil
import sys
import traceback
import types

import numpy

from . import cases as cases_package
from . import frameworks

DTYPES = ('float64', 'float32')
SEED = 0  # every case builds its inputs from numpy.random.default_rng(SEED)
#: the golden files' directory of the cases found in a directory, relative to it
GOLDEN_SUBDIR = 'golden'
#: the entry-point group of installed packages that ship case files (see :func:`installed_dirs`)
ENTRY_POINTS = 'gluon_d2l.parity_cases'


class CaseError(ValueError):
    """A case directory or case file that cannot be used; the message names the path."""


@dataclasses.dataclass(frozen=True)
class Case:
    """A case module (see :mod:`parity.cases`) with the harness's view of it; ``golden_dir`` is where its
    golden file is (``None``: a built-in case, whose golden files are in :data:`parity.golden.DIRECTORY`)."""
    name: str
    module: types.ModuleType
    golden_dir: pathlib.Path = None

    @property
    def source(self):
        """The case file."""
        return pathlib.Path(self.module.__file__) if getattr(self.module, '__file__', None) else None

    @property
    def golden(self):
        """The golden file of the case (see :mod:`parity.golden`)."""
        from . import golden
        return golden.path(self)

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


def _builtin_names():
    return sorted(m.name for m in pkgutil.iter_modules(cases_package.__path__) if not m.name.startswith('_'))


def _matching(names, pattern):
    if not pattern:
        return names
    parts = [p.strip() for p in pattern.split(',') if p.strip()]
    return [n for n in names if any(p in n for p in parts)]


def discover(pattern=None, dirs=None):
    """The cases, sorted by name; ``pattern`` keeps those whose name contains one of its comma parts.

    Without ``dirs``, the built-in cases (``parity/cases/``); with ``dirs``, only the cases in
    those directories (:func:`load_dir`), each of which keeps its golden files in ``DIR/golden``.
    A name found twice, in two directories or in a directory and the built-in cases, is a
    :class:`CaseError` naming both files.
    """
    if dirs is None:
        return [Case(n, importlib.import_module(f'{cases_package.__name__}.{n}'))
                for n in _matching(_builtin_names(), pattern)]
    dirs = list({pathlib.Path(d).resolve(): d for d in dirs}.values())  # a directory named twice counts once
    seen = {n: pathlib.Path(cases_package.__path__[0]) / f'{n}.py' for n in _builtin_names()}
    found = []
    for directory in dirs:
        for name, path in case_files(directory):
            if name in seen and seen[name].resolve() == path.resolve():
                raise CaseError(f'{path} is a built-in case: run the built-in cases without --cases-dir')
            if name in seen:
                raise CaseError(f'two cases are called {name!r}: {seen[name]} and {path}')
            seen[name] = path
            found.append((name, directory))
    chosen = set(_matching(sorted(n for n, _ in found), pattern))
    return sorted((case for directory in dirs for case in load_dir(directory, chosen)), key=lambda c: c.name)


def case_files(directory):
    """``[(case name, path)]`` of the case files in ``directory`` (``*.py`` not starting with ``_``)."""
    directory = pathlib.Path(directory)
    if not directory.exists():
        raise CaseError(f'{str(directory)!r} does not exist')
    if not directory.is_dir():
        raise CaseError(f'{str(directory)!r} is not a directory')
    files = sorted(p for p in directory.glob('*.py') if not p.name.startswith('_') and p.is_file())
    if not files:
        raise CaseError(f'{str(directory)!r} holds no case file (NAME.py, see parity/USER_CASES.md)')
    return [(p.stem, p) for p in files]


def package_name(directory):
    """The module name under which the case files of ``directory`` are imported: a package of
    its own per directory, so its names collide with neither the user's packages nor the
    built-in cases (``from . import other_case`` works inside it)."""
    digest = hashlib.sha1(str(pathlib.Path(directory).resolve()).encode()).hexdigest()[:12]
    return f'gluon_d2l_parity_cases_{digest}'


def contract_problem(module):
    """What ``module`` lacks of the case contract (:mod:`parity.cases`); ``None``: nothing."""
    tolerance = getattr(module, 'TOLERANCE', None)
    if not isinstance(tolerance, dict) or any(not isinstance(tolerance.get(d), (int, float)) for d in DTYPES):
        return f'TOLERANCE must be a dict of a number per dtype ({", ".join(DTYPES)})'
    if not callable(getattr(module, 'inputs', None)):
        return 'it has no inputs(rng) function'
    if not callable(getattr(module, frameworks.SYSTEM, None)):
        return f'it has no {frameworks.SYSTEM}(d2l, **inputs) function (the system under test)'
    if not any(callable(getattr(module, n, None)) for n in frameworks.REFERENCES):
        return f'it has no function for a reference framework ({", ".join(frameworks.REFERENCES)})'
    return None


def load_dir(directory, names=None):
    """The cases of ``directory`` (those called one of ``names``, if given), imported by path.

    Nothing is written next to them (no ``__pycache__``). A file that raises on import or lacks
    part of the contract is a :class:`CaseError` naming it.
    """
    files = case_files(directory)
    directory = pathlib.Path(directory).resolve()
    package = package_name(directory)
    if package not in sys.modules:
        module = types.ModuleType(package, f'The parity cases of {directory}.')
        module.__path__ = [str(directory)]
        sys.modules[package] = module
    importlib.invalidate_caches()
    cases = []
    for name, path in files:
        if names is not None and name not in names:
            continue
        writes, sys.dont_write_bytecode = sys.dont_write_bytecode, True
        try:
            module = importlib.import_module(f'{package}.{name}')
        except Exception as err:
            sys.modules.pop(f'{package}.{name}', None)
            raise CaseError(f'{path} raises on import: {type(err).__name__}: {err}') from err
        finally:
            sys.dont_write_bytecode = writes
        problem = contract_problem(module)
        if problem:
            raise CaseError(f'{path} is not a parity case: {problem} (see parity/USER_CASES.md)')
        cases.append(Case(name, module, directory / GOLDEN_SUBDIR))
    return cases


def installed_dirs():
    """``{entry point name: directory}`` of the installed packages that ship cases.

    Each entry point of the group :data:`ENTRY_POINTS` names a package (``mypkg.parity_cases``,
    found without importing it) or an attribute holding a directory (``mypkg:CASES_DIR``).
    """
    from importlib import metadata
    points = metadata.entry_points()
    points = points.select(group=ENTRY_POINTS) if hasattr(points, 'select') else points.get(ENTRY_POINTS, ())
    found = {}
    for point in sorted(points, key=lambda p: p.name):
        where = f'entry point {point.name} = {point.value} ({ENTRY_POINTS})'
        try:
            if ':' in point.value:
                directory = pathlib.Path(point.load())
            else:
                spec = importlib.util.find_spec(point.value)
                if spec is None or not spec.submodule_search_locations:
                    raise CaseError(f'{where}: {point.value} is not an installed package')
                directory = pathlib.Path(list(spec.submodule_search_locations)[0])
        except CaseError:
            raise
        except Exception as err:
            raise CaseError(f'{where}: {type(err).__name__}: {err}') from err
        found[point.name] = directory
    return found


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
