"""Cases from the user's own directories: loading by path, golden files next to them, the entry
points of installed packages, and the pytest plugin (off unless asked for; its items' verdicts).

None of these needs a reference framework: the plugin's items run on a stand-in adapter here, and
tests/test_user_cases.py runs the real thing (MXNet and PyTorch) from parity/USER_CASES.md.
"""
import argparse
import importlib.metadata
import json
import pathlib
import subprocess
import sys
import types

import numpy
import pytest

from cli_support import snapshot
from parity import cli, frameworks, golden, harness, pytest_plugin

from parity_support import green, need, outcomes, run_pytest

REPO = pathlib.Path(__file__).resolve().parents[1]

CASE = '''"""Twice x, in MXNet and in a stand-in reference."""
TOLERANCE = {'float64': 1e-12, 'float32': 1e-5}
FACTOR = 2


def inputs(rng):
    return {'x': rng.normal(size=3)}


def mxnet(d2l, x):
    return {'y': d2l.tensor(x) * FACTOR}


def torch(d2l, x):
    return {'y': d2l.tensor(x) * 2}
'''


def write(directory, **files):
    """``directory`` with ``NAME.py`` holding each text; returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / f'{name}.py').write_text(text)
    return directory


def test_the_built_in_cases_stay_the_default_with_their_golden_files_in_parity_golden():
    cases = harness.discover()
    files = sorted(p.stem for p in (REPO / 'parity' / 'cases').glob('*.py') if not p.name.startswith('_'))
    assert [case.name for case in cases] == files
    assert all(case.golden == golden.DIRECTORY / f'{case.name}.npz' for case in cases)
    assert all(case.module.__name__ == f'parity.cases.{case.name}' for case in cases)


def test_the_cases_of_a_directory_keep_their_golden_files_in_its_golden_subdirectory(tmp_path):
    write(tmp_path / 'cases', mine=CASE, other=CASE, _helper='VALUE = 1\n')
    cases = harness.discover(None, [tmp_path / 'cases'])
    assert [case.name for case in cases] == ['mine', 'other']  # _helper is not a case
    assert [case.golden for case in cases] == [tmp_path / 'cases' / 'golden' / f'{n}.npz' for n in ('mine', 'other')]
    assert [case.source for case in cases] == [tmp_path / 'cases' / f'{n}.py' for n in ('mine', 'other')]
    assert [case.name for case in harness.discover('oth', [tmp_path / 'cases'])] == ['other']


def test_a_case_file_named_like_a_module_of_the_user_or_the_standard_library_shadows_neither(tmp_path):
    write(tmp_path / 'cases', json=CASE, my_dense_twin=CASE)
    case, = harness.discover('json', [tmp_path / 'cases'])
    assert case.name == 'json' and case.module.__name__.startswith('gluon_d2l_parity_cases_')
    assert sys.modules['json'] is json and json.dumps([1]) == '[1]'
    assert not hasattr(json, 'TOLERANCE')


def test_each_directory_is_a_package_of_its_own_so_helpers_import_relatively(tmp_path):
    helper = 'from ._shared import FACTOR\n' + CASE.replace('FACTOR = 2\n', '')
    write(tmp_path / 'a', alpha=helper, _shared='FACTOR = 2\n')
    write(tmp_path / 'b', beta=helper, _shared='FACTOR = 3\n')
    alpha, beta = harness.discover(None, [tmp_path / 'a', tmp_path / 'b'])
    assert (alpha.module.FACTOR, beta.module.FACTOR) == (2, 3)
    assert alpha.module.__name__.rsplit('.', 1)[0] != beta.module.__name__.rsplit('.', 1)[0]


def test_loading_cases_writes_nothing_next_to_them(tmp_path):
    write(tmp_path / 'cases', mine=CASE.replace('Twice', 'Nothing written: twice'),
          _shared='FACTOR = 2\n', uses=CASE.replace('FACTOR = 2\n', 'from ._shared import FACTOR\n'))
    before = snapshot(tmp_path)
    assert len(harness.discover(None, [tmp_path / 'cases'])) == 2
    assert snapshot(tmp_path) == before  # no __pycache__


def test_loading_the_cases_of_a_directory_imports_no_framework(tmp_path):
    write(tmp_path / 'cases', mine=CASE)
    code = ('import sys, parity; parity.discover(None, [sys.argv[1]]); '
            'print(sorted(m for m in ("mxnet", "torch", "tensorflow", "jax", "flax") if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code, str(tmp_path / 'cases')], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == '[]'


def test_a_directory_named_twice_counts_once_and_a_name_found_twice_names_both_files(tmp_path):
    write(tmp_path / 'a', mine=CASE)
    write(tmp_path / 'b', mine=CASE)
    assert len(harness.discover(None, [tmp_path / 'a', tmp_path / 'a' / '.' / '..' / 'a'])) == 1
    with pytest.raises(harness.CaseError) as caught:
        harness.discover(None, [tmp_path / 'a', tmp_path / 'b'])
    assert str(tmp_path / 'a' / 'mine.py') in str(caught.value) and str(tmp_path / 'b' / 'mine.py') in str(caught.value)


@pytest.mark.parametrize('text, problem', [
    ('raise RuntimeError("no weights here")\n', 'RuntimeError: no weights here'),
    ('def inputs(rng)\n', 'SyntaxError'),
    (CASE.replace("'float32'", "'float16'"), 'TOLERANCE'),
    (CASE.replace('def inputs', 'def make_inputs'), 'inputs(rng)'),
    (CASE.replace('def mxnet', 'def gluon'), 'mxnet(d2l, **inputs)'),
    (CASE.replace('def torch', 'def pytorch'), 'reference framework'),
])
def test_a_case_file_that_raises_or_breaks_the_contract_is_named(tmp_path, text, problem):
    write(tmp_path / 'cases', good=CASE, bad=text)
    with pytest.raises(harness.CaseError) as caught:
        harness.discover(None, [tmp_path / 'cases'])
    assert str(tmp_path / 'cases' / 'bad.py') in str(caught.value) and problem in str(caught.value)


def test_mxnet_recorded_into_the_users_golden_directory_replays_and_a_changed_case_fails_it(tmp_path):
    need(frameworks.SYSTEM)
    cases = harness.discover(None, [write(tmp_path / 'cases', mine=CASE)])
    built_in = snapshot(golden.DIRECTORY)
    path = golden.record(cases[0])
    assert snapshot(golden.DIRECTORY) == built_in
    assert path == tmp_path / 'cases' / 'golden' / 'mine.npz'
    assert sorted(p.name for p in tmp_path.rglob('*.npz')) == ['mine.npz']
    results = harness.run(cases, [frameworks.SYSTEM], replay=True)
    assert [(r.dtype, r.status) for r in results] == [('float64', 'pass'), ('float32', 'pass')]
    # the same case three times x, replayed against the recording of twice x: today's MXNet must fail it
    write(tmp_path / 'later', mine=CASE.replace('FACTOR = 2', 'FACTOR = 3'))
    (tmp_path / 'later' / 'golden').mkdir()
    (tmp_path / 'later' / 'golden' / 'mine.npz').write_bytes(path.read_bytes())
    changed = harness.run(harness.discover(None, [tmp_path / 'later']), [frameworks.SYSTEM], replay=True)
    assert [r.status for r in changed] == ['FAIL', 'FAIL'] and changed[0].detail == 'worst: y'


def parse(*argv):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def entry_points_of(*points):
    """What ``importlib.metadata.entry_points()`` returns on this Python, holding ``points``: an
    ``EntryPoints`` (Python 3.10+) or a dict of groups (3.8, 3.9)."""
    if hasattr(importlib.metadata, 'EntryPoints'):
        return importlib.metadata.EntryPoints(points)
    groups = {}
    for point in points:
        groups.setdefault(point.group, []).append(point)
    return {group: tuple(found) for group, found in groups.items()}


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Two installed packages that ship cases: one as a package, one as a directory attribute."""
    site = tmp_path / 'site'
    write(site / 'pkg_a')
    (site / 'pkg_a' / '__init__.py').write_text('')
    write(site / 'pkg_a' / 'parity_cases', alpha=CASE)
    (site / 'pkg_a' / 'parity_cases' / '__init__.py').write_text('raise RuntimeError("found, not imported")\n')
    write(site / 'pkg_b', beta=CASE)
    (site / 'pkg_b' / '__init__.py').write_text('import pathlib\nCASES = pathlib.Path(__file__).parent\n')
    monkeypatch.syspath_prepend(str(site))
    points = entry_points_of(
        importlib.metadata.EntryPoint('a', 'pkg_a.parity_cases', harness.ENTRY_POINTS),
        importlib.metadata.EntryPoint('b', 'pkg_b:CASES', harness.ENTRY_POINTS),
        importlib.metadata.EntryPoint('other', 'pkg_x:nothing', 'another.group'))
    monkeypatch.setattr(importlib.metadata, 'entry_points', lambda: points)
    return site


def test_installed_packages_ship_cases_that_run_only_with_installed_cases(installed, tmp_path):
    assert harness.installed_dirs() == {'a': installed / 'pkg_a' / 'parity_cases', 'b': installed / 'pkg_b'}
    _, cases, _, _ = cli.check(parse('--installed-cases'))
    assert [(c.name, c.golden) for c in cases] == [
        ('alpha', installed / 'pkg_a' / 'parity_cases' / 'golden' / 'alpha.npz'),
        ('beta', installed / 'pkg_b' / 'golden' / 'beta.npz')]
    write(tmp_path / 'mine', gamma=CASE)
    _, cases, _, _ = cli.check(parse('--installed-cases', '--cases-dir', str(tmp_path / 'mine')))
    assert [c.name for c in cases] == ['alpha', 'beta', 'gamma']
    _, cases, _, _ = cli.check(parse())
    assert [c.name for c in cases] == [c.name for c in harness.discover()]


def test_an_entry_point_that_names_no_package_is_bad_input_for_installed_cases(installed, monkeypatch):
    from gluon_d2l.program.config import ConfigError
    gone = importlib.metadata.EntryPoint('gone', 'no_such_pkg', harness.ENTRY_POINTS)
    points = entry_points_of(gone)
    monkeypatch.setattr(importlib.metadata, 'entry_points', lambda: points)
    with pytest.raises(ConfigError) as caught:
        cli.check(parse('--installed-cases'))
    assert caught.value.subject == 'installed_cases' and 'gone = no_such_pkg' in str(caught.value)


# --- the pytest plugin ---------------------------------------------------------------------------

def user_repository(root, ini='[pytest]\nparity_cases = cases\n'):
    """A user's repository: ``cases/mine.py``, an ini file, and one ordinary test that checks the plugin
    is loaded and has imported no framework and no case."""
    write(root / 'cases', mine=CASE)
    (root / 'pytest.ini').write_text(ini)
    (root / 'test_theirs.py').write_text(
        'import sys\n\n\n'
        'def test_the_plugin_is_loaded_and_imported_nothing(request):\n'
        '    assert request.config.pluginmanager.hasplugin("gluon_d2l_parity")\n'
        '    assert not {"mxnet", "torch", "tensorflow", "jax", "gluon_d2l"} & set(sys.modules)\n'
        '    assert not [m for m in sys.modules if m.startswith("gluon_d2l_parity_cases_")]\n')
    return root


THEIRS = 'test_theirs.py::test_the_plugin_is_loaded_and_imported_nothing'
ITEMS = ['parity::mine[torch-float64]', 'parity::mine[torch-float32]']


def test_the_plugin_changes_nothing_for_a_project_that_does_not_ask_for_it(tmp_path):
    repo = user_repository(tmp_path)
    green(run_pytest(repo), [THEIRS])  # parity_cases in the ini file alone does not turn it on
    listed = run_pytest(repo, '--parity', '--collect-only', '-q')
    assert listed.returncode == 0 and all(item in listed.stdout for item in ITEMS), listed.stdout


def test_the_green_check_fails_a_run_that_collected_no_parity_item(tmp_path):
    """Meta-test: a run without the parity items, green otherwise, must not count as green."""
    done = run_pytest(user_repository(tmp_path))
    assert outcomes(done) == {THEIRS: 'PASSED'}
    with pytest.raises(AssertionError):
        green(done, ITEMS + [THEIRS])
    empty = run_pytest(tmp_path, '-k', 'nothing_matches')
    assert empty.returncode == 5
    with pytest.raises(AssertionError):
        green(empty, [])


@pytest.mark.parametrize('ini, args, named', [
    ('[pytest]\n', ['--parity'], 'parity_cases'),
    ('[pytest]\nparity_cases = nowhere\n', ['--parity'], 'nowhere'),
    ('[pytest]\n', ['--parity-cases-dir', 'broken'], '--parity-cases-dir: '),
    ('[pytest]\nparity_cases = cases broken\n', ['--parity'], 'oops.py'),
    ('[pytest]\nparity_cases = cases\nparity_require = caffe\n', ['--parity'], 'caffe'),
])
def test_a_plugin_run_without_usable_cases_stops_before_collection_naming_the_setting(tmp_path, ini, args, named):
    repo = user_repository(tmp_path, ini)
    write(repo / 'broken', oops='import no_such_module\n')
    done = run_pytest(repo, *args)
    assert done.returncode == 4 and named in done.stderr and 'Traceback' not in done.stderr, done.stderr


@pytest.fixture
def stand_in(monkeypatch, tmp_path):
    """The case of CASE with every framework 'installed' as NumPy itself (both sides run the case's code)."""
    adapter = types.SimpleNamespace(tensor=numpy.asarray, numpy=numpy.asarray, VERSION='stand-in')
    monkeypatch.setattr(frameworks, 'available', lambda name: True)
    monkeypatch.setattr(frameworks, 'load', lambda name: adapter)
    return tmp_path


def case_of(directory, text):
    return harness.discover(None, [write(directory, mine=text)])[0]


def test_a_plugin_item_passes_when_the_twin_agrees(stand_in):
    pytest_plugin.run_item(case_of(stand_in / 'ok', CASE), 'torch', 'float64', replay=False, required=set())


def test_a_failing_plugin_item_names_the_worst_output_its_errors_and_the_tolerance(stand_in):
    twin = CASE.replace("return {'y': d2l.tensor(x) * 2}", "return {'y': d2l.tensor(x) * 2.001}")
    assert twin != CASE
    with pytest.raises(pytest.fail.Exception) as caught:
        pytest_plugin.run_item(case_of(stand_in / 'bad', twin), 'torch', 'float64', replay=False, required=set())
    message = str(caught.value)
    assert message.startswith('mine / torch / float64: FAIL: worst output y: abs error ')
    assert '> tolerance 1.0e-12, rel error 5.0e-04' in message


def test_a_plugin_item_of_a_missing_framework_skips_unless_required(stand_in, monkeypatch):
    case = case_of(stand_in / 'ok', CASE)
    monkeypatch.setattr(frameworks, 'available', lambda name: name != 'torch')
    with pytest.raises(pytest.skip.Exception, match='torch is not installed'):
        pytest_plugin.run_item(case, 'torch', 'float32', replay=False, required={'tensorflow'})
    with pytest.raises(pytest.fail.Exception, match='torch is not installed'):
        pytest_plugin.run_item(case, 'torch', 'float32', replay=False, required={'torch'})
    monkeypatch.setattr(frameworks, 'available', lambda name: name != frameworks.SYSTEM)
    with pytest.raises(pytest.fail.Exception, match='mxnet is not installed'):
        pytest_plugin.run_item(case, 'torch', 'float32', replay=False, required={'mxnet'})


def test_a_replayed_plugin_item_without_its_golden_file_names_the_file(stand_in):
    case = case_of(stand_in / 'ok', CASE)
    with pytest.raises(pytest.fail.Exception) as caught:
        pytest_plugin.run_item(case, 'torch', 'float64', replay=True, required=set())
    assert str(stand_in / 'ok' / 'golden' / 'mine.npz') in str(caught.value) and 'case mine' in str(caught.value)
