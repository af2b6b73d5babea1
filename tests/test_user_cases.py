"""parity/USER_CASES.md, run: its files written into an empty "user repository", its commands run
there as a user types them (green), then a forgotten transpose planted in the PyTorch twin turns
``gluon-d2l parity --cases-dir`` and ``pytest --parity`` red, each naming the output."""
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

from parity import frameworks

from parity_support import green, need, outcomes, run_pytest

PAGE = pathlib.Path(__file__).resolve().parents[1] / 'parity' / 'USER_CASES.md'
BLOCK = re.compile(r'^```(\w*)([^\n]*)\n(.*?)^```', re.M | re.S)
CASE_FILE = 'cases/tiny_mlp.py'
TWIN_LINE = 'H = d2l.torch.relu(X @ W1.T + b1)'
FORGOTTEN_TRANSPOSE = 'H = d2l.torch.relu(X @ W1 + b1)'
OUTPUTS = ('Y', 'grad/X')


def page_files():
    """``{path: text}`` of the page's code blocks marked ``file=PATH``."""
    return {m[2].split('file=', 1)[1].split()[0]: m[3] for m in BLOCK.finditer(PAGE.read_text()) if 'file=' in m[2]}


def page_commands():
    """The command lines of the page's ``bash`` blocks, in order, without their comments."""
    lines = [line.split('#', 1)[0].strip() for m in BLOCK.finditer(PAGE.read_text()) if m[1] == 'bash'
             for line in m[3].splitlines()]
    return [line for line in lines if line]


def test_the_page_holds_a_short_case_file_an_ini_file_and_the_commands_to_run():
    files = page_files()
    assert sorted(files) == [CASE_FILE, 'pytest.ini']
    assert len(files[CASE_FILE].splitlines()) <= 30 and files[CASE_FILE].count(TWIN_LINE) == 1
    assert 'parity_cases = cases' in files['pytest.ini']
    assert page_commands() == ['gluon-d2l parity --cases-dir cases', 'gluon-d2l parity --cases-dir cases --record',
                               'gluon-d2l parity --cases-dir cases --replay', 'pytest --parity',
                               'pytest --parity --parity-replay']


def run(line, repo):
    """One of the page's command lines, run in ``repo``: ``gluon-d2l`` as installed, ``pytest`` through
    :func:`run_pytest` (so its summary lists each item)."""
    program, *args = shlex.split(line)
    if program == 'pytest':
        return run_pytest(repo, *args)
    script = pathlib.Path(sys.executable).with_name(program)
    argv = [str(script)] if script.is_file() else [sys.executable, '-m', 'gluon_d2l']
    return subprocess.run(argv + args, cwd=repo, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONWARNINGS='ignore'))


def rows(done):
    """``{(framework, dtype): result}`` of the case's rows in a ``gluon-d2l parity`` table."""
    found = re.findall(r'^tiny_mlp +(\w+) +(float\d+) +\S+ +\S+ +\S+ +(.*)$', done.stdout, re.M)
    return {(name, dtype): result for name, dtype, result in found}


def items(*names):
    return {f'parity::tiny_mlp[{name}-{dtype}]' for name in names for dtype in ('float64', 'float32')}


@pytest.mark.parity
def test_the_pages_example_passes_as_written_and_fails_with_a_forgotten_transpose(tmp_path):
    need(frameworks.SYSTEM, 'torch')
    repo = tmp_path / 'user-repository'
    for path, text in page_files().items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    both = {('torch', 'float64'): 'pass', ('torch', 'float32'): 'pass'}
    for line in page_commands():
        done = run(line, repo)
        if line.startswith('pytest'):
            green(done, items('torch', 'mxnet') if '--parity-replay' in line else items('torch'))
            continue
        assert done.returncode == 0, line + '\n' + done.stdout + done.stderr
        replayed = {('mxnet', 'float64'): 'pass', ('mxnet', 'float32'): 'pass'} if '--replay' in line else {}
        assert rows(done) == {**both, **replayed}, done.stdout
    written = sorted(p.relative_to(repo).as_posix() for p in repo.rglob('*') if p.is_file())
    assert written == sorted([CASE_FILE, 'cases/golden/tiny_mlp.npz', 'pytest.ini'])  # --record's file, nothing else

    case = repo / CASE_FILE
    case.write_text(case.read_text().replace(TWIN_LINE, FORGOTTEN_TRANSPOSE))
    done = run('gluon-d2l parity --cases-dir cases', repo)
    assert done.returncode == 1, done.stdout + done.stderr
    results = rows(done)
    assert sorted(results) == sorted(both), done.stdout
    assert all(re.fullmatch(r'FAIL: worst: (Y|grad/X)', result) for result in results.values()), done.stdout
    for line in ('pytest --parity', 'pytest --parity --parity-replay'):
        done = run(line, repo)
        assert done.returncode == 1 and outcomes(done) == {
            **{item: 'FAILED' for item in items('torch')},
            **{item: 'PASSED' for item in (items('mxnet') if 'replay' in line else ())}}, done.stdout
        messages = re.findall(r'^tiny_mlp / torch / float\d+: FAIL: worst output (\S+): abs error (\S+) > tolerance '
                              r'(\S+), rel error (\S+)$', done.stdout, re.M)
        assert len(messages) == 2 and all(m[0] in OUTPUTS and float(m[1]) > float(m[2]) for m in messages), \
            done.stdout
