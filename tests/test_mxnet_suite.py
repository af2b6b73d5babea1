"""The comparison behind ``tox -e mxnet-suite`` (``tests/mxnet_suite/run.py``), on made-up reports.

The suite itself (MXNet's 219 Gluon tests, minutes of CPU) runs only in that tox env.
"""
import importlib.util
import pathlib

import pytest

HERE = pathlib.Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location('mxnet_suite_run', HERE / 'mxnet_suite' / 'run.py')
run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run)

NETWORK = {'test_symbol_block', 'test_export', 'test_import', 'test_save_load', 'test_hybrid_static_memory',
           'test_hybrid_static_memory_switching', 'test_hybrid_static_memory_recording'}


def test_the_baseline_is_numpy_1_23s_outcome():
    total, baseline = run.read_baseline()
    assert total == 219
    assert {name.split('::')[1] for name, o in baseline.items() if o == 'failed'} == NETWORK
    assert sum(o == 'skipped' for o in baseline.values()) == 19 and set(baseline.values()) == {'failed', 'skipped'}


def baseline_run():
    total, baseline = run.read_baseline()
    outcomes = dict(baseline)
    outcomes.update({f'test_x.py::test_{i}': 'passed' for i in range(total - len(baseline))})
    return outcomes, total, baseline


def test_a_run_like_the_baseline_passes_and_each_difference_is_reported():
    outcomes, total, baseline = baseline_run()
    assert run.compare(outcomes, total, baseline) == []
    planted = dict(outcomes, **{'test_x.py::test_0': 'failed', 'test_gluon.py::test_export': 'passed'})
    del planted['test_gluon.py::test_batchnorm_16c']
    assert run.compare(planted, total, baseline) == [
        'test_gluon.py::test_export: passed, baseline failed',
        'test_x.py::test_0: failed, baseline passed',
        'test_gluon.py::test_batchnorm_16c: did not run, baseline skipped',
        '218 tests ran, the baseline has 219']


def test_junit_reports_are_read_per_test(tmp_path):
    report = tmp_path / 'junit.xml'
    report.write_text('''<testsuites><testsuite>
      <testcase classname="test_gluon" name="test_a"/>
      <testcase classname="test_gluon" name="test_b"><failure message="x"/></testcase>
      <testcase classname="test_init" name="test_c[1]"><skipped/></testcase>
      <testcase classname="test_init" name="test_d"/><testcase classname="test_init" name="test_d"><error/></testcase>
    </testsuite></testsuites>''')
    assert run.read_junit(report) == {'test_gluon.py::test_a': 'passed', 'test_gluon.py::test_b': 'failed',
                                      'test_init.py::test_c[1]': 'skipped', 'test_init.py::test_d': 'failed'}


def test_missing_test_files_say_where_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv(run.ENV, str(tmp_path))
    with pytest.raises(SystemExit, match=r'not at .*GLUON_D2L_MXNET_TESTS.*apache/mxnet at tag 1\.9\.1'):
        run.unittest_dir()
