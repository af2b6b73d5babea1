"""Installing gluon-d2l as a project would: the built sdist and wheel, then fresh virtual
environments by each documented path (``tox -e install``).

Each path runs the install page's own commands (``INSTALL_PATHS``, checked against docs/install.md below)
in a new venv, then a smoke test from a directory outside the checkout: ``import mxnet`` first,
one legacy ``mx.nd`` Gluon step, ``import gluon_d2l``, and ``gluon-d2l train --epochs 1``.
"""
import email.parser
import os
import pathlib
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

pytestmark = pytest.mark.install

REPO = pathlib.Path(__file__).resolve().parents[1]

#: path name -> (the Python it runs on, the README's commands). ``{wheel}`` is the built
#: gluon-d2l wheel (``gluon-d2l`` in the README), ``{python}`` the new venv's interpreter.
INSTALL_PATHS = {
    'pip-numpy1': ('3.8', [
        'python -m pip install gluon-d2l',
    ]),
    'pip-numpy2-relabelled-mxnet': ('3.13', [
        'python gluon_d2l/mxnet_wheel.py --out wheels',
        'python -m pip install ./wheels/mxnet-1.9.1+numpy2-py3-none-manylinux2014_x86_64.whl gluon-d2l "numpy>=2"',
    ]),
    'uv-numpy2-override': ('3.13', [
        'echo "numpy>=2" > overrides.txt',
        'uv pip install --override overrides.txt gluon-d2l',
    ]),
    'pip-editable-numpy2': ('3.13', [
        'python gluon_d2l/mxnet_wheel.py --out wheels',
        'python -m pip install ./wheels/mxnet-1.9.1+numpy2-py3-none-manylinux2014_x86_64.whl "numpy>=2"',
        'python -m pip install -e .',
    ]),
    'uv-editable-numpy2': ('3.13', [
        'echo "numpy>=2" > overrides.txt',
        'uv pip install --override overrides.txt -e .',
    ]),
}

SMOKE = r'''
import sys
import mxnet as mx
from mxnet import autograd, gluon, nd
net = gluon.nn.Dense(2, in_units=3)
net.initialize()
trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1})
with autograd.record():
    loss = gluon.loss.L2Loss()(net(nd.ones((4, 3))), nd.zeros((4, 2)))
loss.backward()
trainer.step(4)
before = mx.util.is_np_array()
import gluon_d2l
assert mx.util.is_np_array() == before, 'import gluon_d2l changed the NumPy mode'
import numpy
print('smoke ok', sys.version.split()[0], 'numpy', numpy.__version__, 'mxnet', mx.__version__)
'''


def _python(version):
    found = shutil.which(f'python{version}')
    assert found, f'python{version} is not on PATH (.ci/run puts pyenv\'s interpreters there)'
    return found


def _run(command, cwd, env=None):
    result = subprocess.run(command, cwd=cwd, env=env, shell=isinstance(command, str), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert result.returncode == 0, f'{command!r} failed ({result.returncode}):\n{result.stdout[-4000:]}'
    return result.stdout


@pytest.fixture(scope='session')
def dist(tmp_path_factory):
    """``python -m build``: the sdist, the wheel built from it, and a wheel built from the tree."""
    out = tmp_path_factory.mktemp('dist')
    _run([sys.executable, '-m', 'build', '--sdist', '--wheel', '--outdir', str(out / 'from-sdist'), str(REPO)], REPO)
    _run([sys.executable, '-m', 'build', '--wheel', '--outdir', str(out / 'from-tree'), str(REPO)], REPO)
    sdist, = (out / 'from-sdist').glob('*.tar.gz')
    wheel, = (out / 'from-sdist').glob('*.whl')
    tree_wheel, = (out / 'from-tree').glob('*.whl')
    return sdist, wheel, tree_wheel


def test_twine_check(dist):
    sdist, wheel, _ = dist
    assert 'PASSED' in _run([sys.executable, '-m', 'twine', 'check', '--strict', str(sdist), str(wheel)], REPO)


def test_wheel_holds_what_a_user_needs_and_nothing_of_the_tests(dist):
    _, wheel, tree_wheel = dist
    names = zipfile.ZipFile(wheel).namelist()
    assert sorted(names) == sorted(zipfile.ZipFile(tree_wheel).namelist()), 'the sdist builds another wheel'
    cases = sorted(p.stem for p in (REPO / 'parity' / 'cases').glob('[!_]*.py'))
    goldens = sorted(pathlib.PurePath(n).stem for n in names if n.startswith('parity/golden/'))
    assert goldens == cases, 'every parity case needs its golden file in the wheel'
    assert 'gluon_d2l/mxnet_wheel.py' in names and 'gluon_d2l/__init__.py' in names
    assert {'gluon_d2l_hook.pth', '_gluon_d2l_hook.py'} <= set(names), 'the import hook is installed with the wheel'
    assert not [n for n in names if n.startswith('tests/') or 'timemachine' in n.lower()]
    info = next(n for n in names if n.endswith('.dist-info/entry_points.txt'))
    assert re.search(r'^gluon-d2l = ', zipfile.ZipFile(wheel).read(info).decode(), re.MULTILINE)


def test_wheel_metadata_is_true(dist):
    _, wheel, _ = dist
    with zipfile.ZipFile(wheel) as zf:
        info = next(n for n in zf.namelist() if n.endswith('.dist-info/METADATA'))
        meta = email.parser.Parser().parsestr(zf.read(info).decode())
        licenses = [n for n in zf.namelist() if '.dist-info/' in n and 'LICENSE' in n]
    assert meta['Requires-Python'] == '>=3.8'
    tox = (REPO / 'tox.ini').read_text()
    tested = sorted(set(re.findall(r'^\s+py3(\d+)-np', tox, re.MULTILINE)), key=int)
    classified = sorted(re.findall(r'Programming Language :: Python :: 3\.(\d+)$', str(meta), re.MULTILINE), key=int)
    assert classified == tested, 'the classifiers name exactly the Pythons of the tox matrix'
    assert licenses, 'the wheel carries the license file'
    assert 'mxnet==1.9.1' in meta.get_all('Requires-Dist')


def test_readme_install_section_is_what_is_tested():
    page = (REPO / 'docs' / 'install.md').read_text()
    for _, commands in INSTALL_PATHS.values():
        for command in commands:
            assert command in page, f'docs/install.md lacks the tested command {command!r}'
    readme = (REPO / 'README.md').read_text()
    assert 'python3 -m pip install -q tox && python3 -m tox -e train' in readme and 'bash .ci/run' in readme
    assert 'python -m pip install gluon-d2l' in readme


@pytest.mark.parametrize('path', sorted(INSTALL_PATHS))
def test_install_path_in_a_fresh_venv(path, dist, tmp_path, corpus_dir):
    version, commands = INSTALL_PATHS[path]
    _, wheel, _ = dist
    venv = tmp_path / 'venv'
    _run([_python(version), '-m', 'venv', str(venv)], tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV', 'PIP_CONSTRAINT')}
    env.update(PATH=f'{venv / "bin"}{os.pathsep}{env["PATH"]}', VIRTUAL_ENV=str(venv),
               GLUON_D2L_DATA=str(corpus_dir), MPLBACKEND='Agg')
    work = tmp_path / 'project'
    if 'editable' in path:   # a copy of the checkout: the editable install writes its metadata there
        shutil.copytree(REPO, work, ignore=shutil.ignore_patterns('.git', '.tox', '*.egg-info', 'build', 'dist'))
    else:
        (work / 'gluon_d2l').mkdir(parents=True)
        shutil.copy(REPO / 'gluon_d2l' / 'mxnet_wheel.py', work / 'gluon_d2l')  # what a checkout has there
    for command in commands:
        _run(command.replace('gluon-d2l ', f'{wheel} ').replace(' gluon-d2l', f' {wheel}'), work, env)
    python = str(venv / 'bin' / 'python')
    if 'editable' in path:   # the smoke test runs outside the checkout the install points at
        work = tmp_path / 'elsewhere'
        work.mkdir()
    else:
        shutil.rmtree(work / 'gluon_d2l')  # the smoke test must import the installed package
    out = _run([python, '-c', SMOKE], work, env)
    assert 'smoke ok' in out
    numpy_major = re.search(r'numpy (\d+)\.', out).group(1)
    assert numpy_major == ('2' if 'numpy2' in path else '1'), out
    listing = _run([python, '-c', 'import os, site; print(sorted(os.listdir(site.getsitepackages()[0])))'], work, env)
    assert 'gluon_d2l_hook.pth' in listing, f'{path}: the import hook was not installed'
    out = _run([str(venv / 'bin' / 'gluon-d2l'), 'train', '--epochs', '1', '--hiddens', '16', '--out',
                str(work / 'run')], work, env)
    assert 'perplexity' in out and (work / 'run' / 'params.npz').is_file()
