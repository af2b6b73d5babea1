"""Helpers for the parity tests: a missing framework skips, unless $GLUON_D2L_REQUIRE makes it fail."""
import pytest

from parity import frameworks, harness


def need(*names):
    """Skip the test if a framework in ``names`` is not installed; fail if it is required."""
    for name in names:
        if frameworks.available(name):
            continue
        if name in frameworks.required():
            pytest.fail(f'{name} is not installed but {frameworks.REQUIRE_ENV} requires it')
        pytest.skip(f'{name} is not installed')


def explain(result):
    """A failure message: the result, and the error of every output."""
    lines = [f'{result.case} / {result.framework} / {result.dtype}: {result.status}, max abs error '
             f'{result.abs_err:.3g} > tolerance {result.tolerance:.3g}: {result.detail}']
    lines += [f'  {name}: abs {a:.3g}, rel {r:.3g}' for name, (a, r) in result.errors.items()]
    return '\n'.join(lines)


def case_named(name):
    """The case called exactly ``name``."""
    return next(case for case in harness.discover(name) if case.name == name)


def run_pytest(directory, *args, timeout=600):
    """``pytest ARGS`` in a fresh process in ``directory`` (a user's repository: its own ini file, the
    plugin loaded through its entry point); returns the CompletedProcess, its summary in ``-rA`` form."""
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k not in ('PYTEST_ADDOPTS', 'PYTEST_PLUGINS')}
    return subprocess.run([sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider', '-rA', *args], cwd=directory,
                          capture_output=True, text=True, timeout=timeout, env=dict(env, PYTHONWARNINGS='ignore'))


def outcomes(done):
    """``{node id: 'PASSED' | 'FAILED' | 'ERROR'}`` from the ``-rA`` summary of a :func:`run_pytest`."""
    import re
    return {m[2]: m[1] for m in re.finditer(r'^(PASSED|FAILED|ERROR) (\S+)', done.stdout, re.M)}


def green(done, expected):
    """Fail unless the run passed and passed exactly the items ``expected``: a run that collects
    nothing, or other items, is not green."""
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert outcomes(done) == {nodeid: 'PASSED' for nodeid in expected}, done.stdout[-4000:]
