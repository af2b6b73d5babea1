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
