"""Run MXNet 1.9.1's own Gluon unit tests as an oracle and compare them with the NumPy 1.23.5 baseline.

    python tests/mxnet_suite/run.py [--import gluon_d2l] [pytest arguments]

The test files are not part of this project. They are read from ``$GLUON_D2L_MXNET_TESTS``
(default ``../shared/mxnet-1.9.1-tests`` next to the checkout): a checkout of apache/mxnet at
tag 1.9.1, or a copy of its ``tests/python/unittest`` and ``tests/python/common``. They need
pytest, scipy and pynose. ``--import MODULE`` loads the module as a pytest plugin before the
tests are collected (``-p gluon_d2l``), the way a project that uses gluon_d2l imports it.

``baseline.txt`` lists every test that does not pass on NumPy 1.23.5 (``failed``: they download a
model from MXNet's model store; ``skipped``) and the number of tests. The run fails if another test
fails, if a listed test passes or changes its outcome, or if the number of tests differs.
"""
import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
ENV = 'GLUON_D2L_MXNET_TESTS'
DEFAULT = REPO.parent / 'shared' / 'mxnet-1.9.1-tests'
FILES = ['test_gluon.py', 'test_gluon_rnn.py', 'test_numpy_gluon.py', 'test_gluon_trainer.py', 'test_loss.py',
         'test_autograd.py', 'test_init.py', 'test_gluon_utils.py']


def unittest_dir():
    """The directory holding MXNet's ``test_gluon.py`` and friends, or exit with where to get them."""
    root = pathlib.Path(os.environ.get(ENV) or DEFAULT)
    for candidate in (root / 'tests' / 'python' / 'unittest', root):
        if all((candidate / name).is_file() for name in FILES + ['common.py']):
            return candidate
    sys.exit(f'mxnet-suite: MXNet 1.9.1\'s unit tests are not at {root} (set {ENV}). Get them from apache/mxnet '
             'at tag 1.9.1: git clone --depth 1 --branch 1.9.1 https://github.com/apache/mxnet and point '
             f'{ENV} at the clone (its tests/python/unittest and tests/python/common are used).')


def read_baseline(path=HERE / 'baseline.txt'):
    """``(total, {test id: outcome})`` for the tests that do not pass on the baseline."""
    total, outcomes = None, {}
    for line in path.read_text(encoding='utf-8').splitlines():
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        outcome, name = line.split(None, 1)
        if outcome == 'total':
            total = int(name)
        else:
            outcomes[name] = outcome
    return total, outcomes


def write_baseline(outcomes, path=HERE / 'baseline.txt'):
    """Record the tests that did not pass (and how many tests ran) as the baseline."""
    import mxnet
    import numpy
    lines = [f'# MXNet {mxnet.__version__} unit tests on NumPy {numpy.__version__}, Python {sys.version.split()[0]}: '
             'every test that did not pass (written by run.py --write-baseline).',
             '# The failures need the network: they download a model from MXNet\'s model store.',
             f'total {len(outcomes)}']
    lines += [f'{outcome} {name}' for name, outcome in sorted(outcomes.items(), key=lambda kv: (kv[1], kv[0]))
              if outcome != 'passed']
    path.write_text('\n'.join(lines) + '\n', encoding='utf-8')


def read_junit(path):
    """``{test id: 'passed' | 'failed' | 'skipped'}`` from pytest's JUnit XML report."""
    outcomes = {}
    for case in ET.parse(path).getroot().iter('testcase'):
        name = f"{case.get('classname', '').split('.')[-1]}.py::{case.get('name')}"
        tags = {child.tag for child in case}
        outcome = 'failed' if tags & {'failure', 'error'} else 'skipped' if 'skipped' in tags else 'passed'
        if outcomes.get(name) != 'failed':      # an error in teardown after a pass counts as a failure
            outcomes[name] = outcome
    return outcomes


def compare(outcomes, total, baseline):
    """The differences from the baseline, one line each (empty: the run matches it)."""
    problems = []
    for name, outcome in sorted(outcomes.items()):
        expected = baseline.get(name, 'passed')
        if outcome != expected:
            problems.append(f'{name}: {outcome}, baseline {expected}')
    for name in sorted(set(baseline) - set(outcomes)):
        problems.append(f'{name}: did not run, baseline {baseline[name]}')
    if total is not None and len(outcomes) != total:
        problems.append(f'{len(outcomes)} tests ran, the baseline has {total}')
    return problems


def counts(outcomes):
    return {kind: sum(1 for o in outcomes.values() if o == kind) for kind in ('passed', 'skipped', 'failed')}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--import', dest='plugins', action='append', default=[], metavar='MODULE',
                        help='import MODULE as a pytest plugin before collection (e.g. gluon_d2l)')
    parser.add_argument('--junit', help='keep the JUnit XML report here')
    parser.add_argument('--write-baseline', action='store_true',
                        help='record this run as baseline.txt (only on NumPy 1.23, without --import)')
    args, pytest_args = parser.parse_known_args(argv)
    import numpy
    if args.write_baseline and (not numpy.__version__.startswith('1.23.') or args.plugins):
        parser.error(f'--write-baseline records NumPy 1.23 without plugins; this is NumPy {numpy.__version__}')
    where = unittest_dir()
    env = dict(os.environ)
    env.setdefault('OMP_NUM_THREADS', '1')
    env.setdefault('MXNET_TEST_SEED', '1')
    env.setdefault('PYTHONDONTWRITEBYTECODE', '1')
    with tempfile.TemporaryDirectory(prefix='mxnet-suite-') as tmp:
        env.setdefault('MXNET_HOME', tmp)
        junit = args.junit or os.path.join(tmp, 'junit.xml')
        command = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-o', 'addopts=',
                   f'--junitxml={junit}', *[f'-p{p}' for p in args.plugins], *pytest_args, *FILES]
        print('mxnet-suite:', ' '.join(command), f'(in {where})', flush=True)
        subprocess.run(command, cwd=where, env=env)
        outcomes = read_junit(junit)
    if args.write_baseline:
        write_baseline(outcomes)
    total, baseline = read_baseline()
    got, expected = counts(outcomes), counts({**{n: 'passed' for n in range(total - len(baseline))}, **baseline})
    print(f"mxnet-suite on NumPy {numpy.__version__}{' with ' + ', '.join(args.plugins) if args.plugins else ''}: "
          f"{got['passed']} passed, {got['skipped']} skipped, {got['failed']} failed; baseline (NumPy 1.23.5): "
          f"{expected['passed']} passed, {expected['skipped']} skipped, {expected['failed']} failed")
    problems = compare(outcomes, total, baseline)
    for line in problems:
        print('  differs:', line)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
