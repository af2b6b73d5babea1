"""Shared fixtures: the corpus location and a seeded RNG for every test."""
import os
import pathlib
import random

import numpy
import pytest
from hypothesis import HealthCheck, settings

REPO = pathlib.Path(__file__).resolve().parents[1]
os.environ.setdefault('GLUON_D2L_DATA', str(REPO.parent / 'shared' / 'data'))
# The commands the tests start keep MXNet's own thread settings: without this, each long command
# would restart itself once with the program's defaults (2-3 s each). tests/test_threads.py checks
# that restart with this variable removed.
os.environ.setdefault('GLUON_D2L_KEEP_THREADS', '1')

import gluon_d2l  # noqa: E402,F401  (applies the NumPy shim before mxnet is imported below)
import mxnet as mx  # noqa: E402
from mxnet import npx  # noqa: E402

# The tests are written like the d2l chapters, which put MXNet in NumPy mode themselves; the library
# itself works in either mode (tests/test_np_mode.py checks it in a fresh, legacy-mode interpreter).
npx.set_np()


# the tables' check lives in a helper module: rewrite its asserts so a failure says what differed
pytest.register_assert_rewrite('cli_support')

settings.register_profile('ci', derandomize=True, deadline=None, max_examples=25, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile('dev', deadline=None, max_examples=50)
settings.register_profile('thorough', deadline=None, max_examples=500,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'dev'))

SEED = 0


def seed_everything(seed):
    """Seed Python, NumPy and MXNet."""
    random.seed(seed)
    numpy.random.seed(seed)
    mx.random.seed(seed)


@pytest.fixture(autouse=True)
def seeded():
    """Seed Python, NumPy and MXNet before every test so failures reproduce."""
    seed_everything(SEED)
    yield SEED


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Tell how to reproduce a failure: the seed and the exact command."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        profile = settings._current_profile
        report.sections.append(('reproduce', f'seeded with {SEED} (Python, NumPy, MXNet); hypothesis profile '
                                             f'{profile!r}: HYPOTHESIS_PROFILE={profile} pytest "{item.nodeid}"'))


@pytest.fixture(scope='session')
def corpus_dir():
    """The directory holding timemachine.txt (fails if the corpus is not available)."""
    path = pathlib.Path(os.environ['GLUON_D2L_DATA'])
    assert (path / 'timemachine.txt').is_file(), f'set GLUON_D2L_DATA: no timemachine.txt in {path}'
    return path


@pytest.fixture(scope='session')
def short_run(tmp_path_factory):
    """A 3-epoch run of ``gluon-d2l train`` (small model): its directory and what it printed."""
    import cli_support
    out = tmp_path_factory.mktemp('runs') / 'short'
    done = cli_support.gluon_d2l('train', '--epochs', '3', '--out', str(out), *cli_support.SMALL)
    assert done.returncode == 0, done.stderr
    return out, done.stdout
