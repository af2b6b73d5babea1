"""The pytest plugin ``gluon_d2l_parity``: parity cases as test items (entry point ``pytest11``).

Installing ``gluon-d2l`` registers it, and it does nothing until asked: without ``--parity``,
``--parity-cases-dir`` or ``--parity-replay`` on the command line it collects nothing, loads no case
and imports no framework. Asked, it loads every case file of the ``parity_cases`` directories of the
ini file (paths relative to it) and of each ``--parity-cases-dir DIR`` (relative to where pytest
runs), with the same discovery, run and comparison as ``gluon-d2l parity --cases-dir``, and adds one
item per case, framework the case has a function for, and dtype: ``parity::CASE[FRAMEWORK-DTYPE]``.

An item compares the framework with MXNet run now, or, with ``--parity-replay`` (or
``parity_replay = true``, or where MXNet is not installed), with the case's golden file
(``DIR/golden/CASE.npz``; MXNet items then check today's MXNet against it). A framework that is
not installed skips its items, unless ``$GLUON_D2L_REQUIRE`` or the ini's ``parity_require`` names
it: then they fail. A failure names the worst output with its absolute and relative errors and the
tolerance, as the report does.
Bad settings (no case directory, a directory that does not load) stop pytest before collection.
"""
import pathlib

import pytest

RUN_OPTIONS = ('parity', 'parity_cases_dir', 'parity_replay')


def pytest_addoption(parser):
    group = parser.getgroup('parity', 'gluon-d2l parity cases (parity/USER_CASES.md)')
    group.addoption('--parity', action='store_true',
                    help='run the parity cases of the parity_cases directories as tests')
    group.addoption('--parity-cases-dir', metavar='DIR', action='append', default=[],
                    help='also run the case files in DIR (repeatable; implies --parity)')
    group.addoption('--parity-replay', action='store_true',
                    help='compare with the cases\' golden files (DIR/golden) instead of running MXNet, and check '
                         'today\'s MXNet against them (implies --parity)')
    parser.addini('parity_cases', 'directories of parity case files, relative to this file (run with --parity)',
                  type='paths', default=[])
    parser.addini('parity_replay', 'with --parity, replay the golden files (as --parity-replay)', type='bool',
                  default=False)
    parser.addini('parity_require', 'frameworks whose parity items fail, rather than skip, where they are not '
                  'installed (added to $GLUON_D2L_REQUIRE)', type='args', default=[])


def asked(config):
    """Whether this run asks for the parity items."""
    return any(config.getoption(name) for name in RUN_OPTIONS)


class Plan:
    """What a run with the plugin on checks: the cases, the frameworks, replay or live, what is required."""

    def __init__(self, config):
        from . import frameworks, harness
        here = pathlib.Path(config.invocation_params.dir)
        sources = [(pathlib.Path(p), 'parity_cases') for p in config.getini('parity_cases')]
        sources += [(here / p, '--parity-cases-dir') for p in config.getoption('parity_cases_dir')]
        if not sources:
            raise pytest.UsageError('--parity: no case directory: set parity_cases in pytest.ini (or tox.ini, '
                                    'setup.cfg, pyproject.toml) or give --parity-cases-dir DIR')
        for directory, setting in sources:
            try:
                harness.load_dir(directory)
            except harness.CaseError as err:
                raise pytest.UsageError(f'{setting}: {err}') from None
        try:
            self.cases = harness.discover(None, [directory for directory, _ in sources])
        except harness.CaseError as err:  # one name twice
            raise pytest.UsageError(f'parity_cases: {err}') from None
        try:
            self.required = set(frameworks.required()) | set(config.getini('parity_require'))
        except ValueError as err:
            raise pytest.UsageError(str(err)) from None
        unknown = sorted(self.required - set(frameworks.PACKAGES))
        if unknown:
            raise pytest.UsageError(f'parity_require: unknown frameworks {unknown}; known: '
                                    f'{", ".join(frameworks.PACKAGES)}')
        # as for gluon-d2l parity: without MXNet, the golden files are the expected outputs
        self.replay = bool(config.getoption('parity_replay') or config.getini('parity_replay')
                           or not frameworks.available(frameworks.SYSTEM))

    def items(self):
        """``[(case, framework, dtype)]``: the references of each case (and MXNet, on a replay), both dtypes."""
        from . import frameworks, harness
        return [(case, name, dtype) for case in self.cases for name in case.frameworks
                if self.replay or name != frameworks.SYSTEM for dtype in harness.DTYPES]


def pytest_configure(config):
    if not asked(config):
        return
    config.addinivalue_line('markers', 'parity_case: a gluon-d2l parity case through one framework in one dtype')
    config.stash[PLAN] = Plan(config)


PLAN = pytest.StashKey()


class ParityCases(pytest.Collector):
    """The parent of the parity items (node id ``parity``)."""

    def collect(self):
        return []


class ParityItem(pytest.Item):
    """One case through one framework in one dtype."""

    def __init__(self, *, case, framework, dtype, plan, **kwargs):
        super().__init__(**kwargs)
        self.case, self.framework, self.dtype, self.plan = case, framework, dtype, plan
        self.add_marker('parity_case')

    def runtest(self):
        run_item(self.case, self.framework, self.dtype, self.plan.replay, self.plan.required)

    def reportinfo(self):
        return self.case.source, None, f'parity case {self.case.name} ({self.framework}, {self.dtype})'


def run_item(case, framework, dtype, replay, required):
    """Check ``case`` through ``framework`` in ``dtype`` as a test: skip or fail (``required``) where a
    framework is missing, fail with :func:`parity.report.explain` where the comparison does."""
    from . import frameworks, golden, harness, report
    for name in [framework] + ([] if replay else [frameworks.SYSTEM]):
        if not frameworks.available(name):
            if name in required:
                pytest.fail(f'{name} is not installed, but {frameworks.REQUIRE_ENV} or parity_require requires it',
                            pytrace=False)
            pytest.skip(f'{name} is not installed')
    problem = None
    if replay:
        try:
            inputs, expected = golden.load(case, dtype)
        except (FileNotFoundError, KeyError, ValueError) as err:
            problem = str(err).strip('\'"')
    else:
        inputs, expected = harness.live(case, dtype)
    if problem:
        pytest.fail(problem, pytrace=False)
    result = harness.check(case, framework, dtype, inputs, expected)
    if not result.ok:
        pytest.fail(report.explain(result), pytrace=False)


@pytest.hookimpl(tryfirst=True)  # before -k, -m and --deselect select among the items
def pytest_collection_modifyitems(session, config, items):
    if PLAN not in config.stash:
        return
    plan = config.stash[PLAN]
    parent = ParityCases.from_parent(session, name='parity', nodeid='parity')
    items.extend(ParityItem.from_parent(parent, name=f'{case.name}[{name}-{dtype}]', case=case, framework=name,
                                        dtype=dtype, plan=plan)
                 for case, name, dtype in plan.items())
