"""The program's MXNet thread defaults: set only for its own long commands, only where the user set nothing."""
import json
import os
import subprocess
import sys

import pytest

from gluon_d2l.program import threads

THREAD_VARS = ('OMP_NUM_THREADS', 'MXNET_OMP_MAX_THREADS', 'OMP_WAIT_POLICY', 'GOMP_SPINCOUNT',
               threads.KEEP_ENV, threads.APPLIED_ENV)
SMALL = ['--hiddens', '16', '--batch-size', '4', '--num-steps', '8', '--max-tokens', '1500', '--epochs', '1']


def test_defaults_fill_in_only_what_the_user_left_unset():
    cores = str(threads.physical_cores())
    assert 1 <= int(cores) <= os.cpu_count()
    assert threads.defaults({}) == {'MXNET_OMP_MAX_THREADS': cores, 'OMP_WAIT_POLICY': 'PASSIVE'}
    assert threads.defaults({'OMP_NUM_THREADS': '1', 'GOMP_SPINCOUNT': '100'}) == {}
    assert threads.defaults({'OMP_WAIT_POLICY': 'ACTIVE'}) == {'MXNET_OMP_MAX_THREADS': cores}
    assert threads.defaults({'MXNET_OMP_MAX_THREADS': '1'}) == {'OMP_WAIT_POLICY': 'PASSIVE'}
    assert threads.defaults({threads.KEEP_ENV: ''}) == {}
    assert threads.defaults({threads.APPLIED_ENV: ''}) == {}  # a restarted process never restarts again


def test_restart_sets_the_defaults_and_records_them():
    environ, calls = {'PATH': '/bin'}, []
    threads.reexec_with_defaults(environ, execv=lambda *a: calls.append(a))
    assert calls == [(sys.executable, threads.command_line())]
    assert threads.applied(environ) == threads.defaults({})
    assert threads.user_environment(environ) == {'PATH': '/bin'}
    calls.clear()
    threads.reexec_with_defaults(environ, execv=lambda *a: calls.append(a))
    threads.reexec_with_defaults({'OMP_NUM_THREADS': '2', 'OMP_WAIT_POLICY': 'ACTIVE'},
                                 execv=lambda *a: calls.append(a))
    assert calls == []


def test_command_line_restarts_python_dash_m(monkeypatch):
    monkeypatch.delattr(sys, 'orig_argv', raising=False)
    monkeypatch.setattr(sys, 'argv', ['/x/gluon_d2l/__main__.py', 'train', '--epochs', '2'])
    assert threads.command_line() == [sys.executable, '-m', 'gluon_d2l', 'train', '--epochs', '2']
    monkeypatch.setattr(sys, 'argv', ['/venv/bin/gluon-d2l', 'bench', '--quick'])
    assert threads.command_line() == [sys.executable, '/venv/bin/gluon-d2l', 'bench', '--quick']


def _starts(tmp_path, args, **preset):
    """Run ``python -m gluon_d2l ARGS``; return what each interpreter start saw (a sitecustomize logs it)."""
    hook, log = tmp_path / 'hook', tmp_path / 'starts.jsonl'
    hook.mkdir(parents=True)
    (hook / 'sitecustomize.py').write_text(
        'import json, os\n'
        f'with open({str(log)!r}, "a") as f:\n'
        f'    seen = {{k: os.environ.get(k) for k in {THREAD_VARS!r}}}\n'
        '    f.write(json.dumps(dict(pid=os.getpid(), **seen)) + "\\n")\n')
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env.update(preset, PYTHONPATH=os.pathsep.join(filter(None, [str(hook), env.get('PYTHONPATH')])))
    done = subprocess.run([sys.executable, '-m', 'gluon_d2l', *args], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in log.read_text().splitlines()], done


def test_train_restarts_itself_once_with_the_defaults(tmp_path):
    starts, done = _starts(tmp_path, ['train', '--out', str(tmp_path / 'run'), *SMALL])
    assert len(starts) == 2 and starts[0]['pid'] == starts[1]['pid'], starts  # exec: the same process
    assert starts[0]['MXNET_OMP_MAX_THREADS'] is None and starts[0]['OMP_WAIT_POLICY'] is None
    assert starts[1]['MXNET_OMP_MAX_THREADS'] == str(threads.physical_cores())
    assert starts[1]['OMP_WAIT_POLICY'] == 'PASSIVE'
    assert starts[1][threads.APPLIED_ENV] == 'MXNET_OMP_MAX_THREADS,OMP_WAIT_POLICY'
    assert 'perplexity' in done.stdout and (tmp_path / 'run' / 'params.npz').is_file()


@pytest.mark.parametrize('preset', [dict(OMP_NUM_THREADS='1', OMP_WAIT_POLICY='ACTIVE'), {threads.KEEP_ENV: '1'}])
def test_no_restart_when_the_user_chose_and_none_for_a_short_command(tmp_path, preset):
    starts, _ = _starts(tmp_path / 'train', ['train', '--out', str(tmp_path / 'run'), *SMALL], **preset)
    assert len(starts) == 1 and starts[0]['MXNET_OMP_MAX_THREADS'] is None, starts
    starts, done = _starts(tmp_path / 'predict', ['predict', '--run', str(tmp_path / 'run'), '--num-preds', '5'])
    assert len(starts) == 1 and done.stdout.strip(), starts


def test_importing_gluon_d2l_sets_no_thread_variable():
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    code = 'import os, gluon_d2l; print([k for k in %r if k in os.environ])' % (THREAD_VARS,)
    done = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.split() == ['[]'], done.stdout + done.stderr


def test_only_long_commands_started_as_a_process_outside_a_dist_sync_job_restart():
    from gluon_d2l.program import cli
    train = cli.build_parser(['train']).parse_args(['train'])
    predict = cli.build_parser(['predict']).parse_args(['predict', '--run', 'r'])
    bench = cli.build_parser(['bench']).parse_args(['bench', '--quick'])
    assert cli.owns_its_threads(train, None, {}) and cli.owns_its_threads(bench, None, {})
    assert not cli.owns_its_threads(predict, None, {})
    assert not cli.owns_its_threads(train, ['train'], {})  # main(argv) called from Python code
    assert not cli.owns_its_threads(train, None, {'DMLC_ROLE': 'worker'})
