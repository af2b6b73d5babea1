"""The harness on its own: comparison, discovery, lazy imports, required frameworks, the CLI."""
import json
import math
import subprocess
import sys
import types

import numpy
import pytest

from parity import cli, frameworks, harness

from parity_support import need

CASES = harness.discover()


def compared(actual, expected, tolerance=1e-6):
    return harness.compare(harness.flatten(actual), harness.flatten(expected), tolerance)


def test_equal_outputs_pass_and_a_small_error_fails_naming_its_output():
    a = {'Y': numpy.ones((2, 3)), 'grad': {'W': numpy.zeros(4)}}
    assert compared(a, a)['status'] == 'pass'
    b = {'Y': numpy.ones((2, 3)), 'grad': {'W': numpy.array([0, 0, 2e-6, 0])}}
    result = compared(b, a)
    assert result['status'] == 'FAIL' and result['detail'] == 'worst: grad/W'
    assert result['abs_err'] == pytest.approx(2e-6)


@pytest.mark.parametrize('actual, problem', [
    ({'Y': numpy.ones(3)}, 'missing'),
    ({'Y': numpy.ones(3), 'Z': numpy.ones(2), 'extra': 1.0}, 'unexpected'),
    ({'Y': numpy.ones(4), 'Z': numpy.ones(2)}, 'shape'),
    ({'Y': numpy.array([1, numpy.nan, 1]), 'Z': numpy.ones(2)}, ''),
])
def test_missing_extra_misshapen_or_nan_outputs_fail(actual, problem):
    result = compared(actual, {'Y': numpy.ones(3), 'Z': numpy.ones(2)})
    assert result['status'] == 'FAIL' and math.isinf(result['abs_err']) and problem in result['detail']


def test_texts_must_be_identical():
    assert compared({'text': 'time traveller'}, {'text': 'time traveller'}, 0.0)['status'] == 'pass'
    result = compared({'text': 'time travelled'}, {'text': 'time traveller'}, 0.0)
    assert result['status'] == 'FAIL' and 'character 13' in result['detail']


def test_lists_of_numbers_become_one_array_and_nested_outputs_get_paths():
    flat = harness.flatten({'losses': [1.0, 2.0], 'grad': [numpy.ones(2), {'b': 3}]})
    assert sorted(flat) == ['grad/0', 'grad/1/b', 'losses'] and flat['losses'].shape == (2,)


@pytest.mark.parametrize('case', CASES, ids=lambda case: case.name)
def test_every_case_declares_what_the_harness_needs(case):
    assert case.title and set(case.module.TOLERANCE) == set(harness.DTYPES)
    assert callable(case.module.inputs) and frameworks.SYSTEM in case.frameworks
    assert set(case.frameworks) - {frameworks.SYSTEM}, 'a case needs at least one reference'
    for dtype in harness.DTYPES:
        assert all(a.dtype.kind != 'f' or a.dtype == dtype for a in case.inputs(dtype).values())


def test_importing_parity_and_discovering_cases_imports_no_framework():
    code = ('import sys, parity; parity.discover(); '
            'print(sorted(m for m in ("mxnet", "torch", "tensorflow", "jax", "flax") if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == '[]'


@pytest.fixture
def fake_framework(monkeypatch):
    """Pretend 'torch' is an installed framework whose adapter is NumPy itself."""
    adapter = types.SimpleNamespace(numpy=numpy.asarray, VERSION='fake')
    monkeypatch.setattr(frameworks, 'available', lambda name: True)
    monkeypatch.setattr(frameworks, 'load', lambda name: adapter)
    case = types.ModuleType('fake_case', 'A fake case.')
    case.TOLERANCE = {'float64': 1e-12, 'float32': 1e-6}
    case.inputs = lambda rng: {'x': rng.normal(size=3)}
    return harness.Case('fake', case)


def test_a_reference_that_raises_is_an_error_not_a_skip(fake_framework):
    def torch(d2l, x):
        raise RuntimeError('boom')
    fake_framework.module.torch = torch
    result = harness.check(fake_framework, 'torch', 'float64', {'x': numpy.ones(3)}, {'y': numpy.ones(3)})
    assert result.status == 'error' and 'RuntimeError: boom' in result.detail and not result.ok


def test_a_framework_that_is_not_installed_is_missing(monkeypatch):
    monkeypatch.setattr(frameworks, 'available', lambda name: False)
    result = harness.check(CASES[0], 'torch', 'float64', {}, {})
    assert result.status == 'missing' and not result.ok


def test_required_frameworks_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(frameworks.REQUIRE_ENV, ' torch, jax ')
    assert frameworks.required() == ['torch', 'jax']
    monkeypatch.setenv(frameworks.REQUIRE_ENV, 'torch,caffe')
    with pytest.raises(ValueError, match='caffe'):
        frameworks.required()


def test_a_missing_required_framework_fails_the_test_instead_of_skipping(monkeypatch):
    monkeypatch.setattr(frameworks, 'available', lambda name: name != 'jax')
    monkeypatch.delenv(frameworks.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception):
        need('jax')
    monkeypatch.setenv(frameworks.REQUIRE_ENV, 'torch,jax')
    with pytest.raises(pytest.fail.Exception, match='jax is not installed'):
        need('jax')


def parity_cli(*argv):
    return cli.main(list(argv))


def test_cli_rejects_unknown_frameworks_and_cases(capsys):
    assert parity_cli('--frameworks', 'caffe') == 2
    assert parity_cli('--cases', 'no_such_case') == 2
    assert 'caffe' in capsys.readouterr().err


def test_cli_fails_when_a_required_framework_is_missing(monkeypatch, capsys):
    need(frameworks.SYSTEM)
    monkeypatch.setattr(frameworks, 'available', lambda name: name == frameworks.SYSTEM)
    monkeypatch.setenv(frameworks.REQUIRE_ENV, 'jax')
    assert parity_cli('--cases', 'tensor_reduction', '--dtype', 'float64') == 1
    out = capsys.readouterr().out
    assert 'skipped (not installed): torch, tensorflow' in out and 'missing: jax is not installed' in out


def test_python_m_parity_help():
    out = subprocess.run([sys.executable, '-m', 'parity', '--help'], capture_output=True, text=True, check=True)
    assert '--replay' in out.stdout and '--record' in out.stdout


@pytest.mark.parity
def test_cli_writes_json_and_markdown_and_replays(tmp_path, monkeypatch, capsys):
    need(frameworks.SYSTEM, 'torch')
    from parity import golden
    monkeypatch.setattr(golden, 'DIRECTORY', tmp_path / 'golden')
    out_json, out_md = tmp_path / 'r.json', tmp_path / 'r.md'
    assert parity_cli('--cases', 'tensor_reduction', '--frameworks', 'torch', '--record',
                      '--json', str(out_json), '--markdown', str(out_md)) == 0
    assert (tmp_path / 'golden' / 'tensor_reduction.npz').is_file()
    report = json.loads(out_json.read_text())
    assert [(r['framework'], r['dtype'], r['status']) for r in report['results']] == [
        ('torch', 'float64', 'pass'), ('torch', 'float32', 'pass')]
    assert report['versions']['torch'] and '| tensor_reduction | torch | float64 |' in out_md.read_text()
    assert parity_cli('--cases', 'tensor_reduction', '--frameworks', 'torch', '--replay') == 0
    rows = [line.split()[:3] for line in capsys.readouterr().out.splitlines()]
    assert ['tensor_reduction', 'mxnet', 'float64'] in rows and ['4', 'passed,', '0'] in rows


def test_a_run_that_compares_nothing_fails_and_names_the_extras(monkeypatch, capsys):
    monkeypatch.setattr(frameworks, 'available', lambda name: name == frameworks.SYSTEM)
    monkeypatch.delenv(frameworks.REQUIRE_ENV, raising=False)
    assert parity_cli('--cases', 'tensor_reduction') == 1
    err = capsys.readouterr().err
    assert 'nothing would be compared' in err and len(err.strip().splitlines()) == 1
    for extra in ('gluon-d2l[torch]', 'gluon-d2l[tensorflow]', 'gluon-d2l[jax]'):
        assert extra in err


def test_an_output_file_in_a_missing_directory_is_refused_before_running(tmp_path, capsys):
    assert parity_cli('--json', str(tmp_path / 'missing' / 'x.json')) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('gluon-d2l: error: --json:') and len(err.splitlines()) == 1
