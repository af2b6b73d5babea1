"""dist_sync on loopback: 2 workers + 1 server equal one process; a dead worker fails the job fast."""
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as onp
import pytest

from gluon_d2l.program import jobs
from gluon_d2l.program.config import TrainConfig

CONFIG = dict(TrainConfig().to_dict(), model='hybrid', hiddens=32, batch_size=8, num_steps=10, max_tokens=1500,
              epochs=2, device='cpu', seed=2)


def train_args(config, out):
    return ['train', '--kvstore', 'dist_sync', '--model', config['model'], '--hiddens', str(config['hiddens']),
            '--batch-size', str(config['batch_size']), '--num-steps', str(config['num_steps']),
            '--max-tokens', str(config['max_tokens']), '--epochs', str(config['epochs']), '--device', 'cpu',
            '--seed', str(config['seed']), '--out', str(out)]


def launcher(out, config, timeout=120):
    return [sys.executable, '-m', 'gluon_d2l', 'launch', '-n', '2', '-s', '1', '--timeout', str(timeout), '--',
            *train_args(config, out)]


def children(pid):
    """PIDs whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in pathlib.Path('/proc').iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / 'stat').read_text().rsplit(')', 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError):
                continue
    return found


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = pathlib.Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]
    return state != 'Z'


@pytest.mark.parametrize('model', ['hybrid', 'concise'])
def test_two_workers_equal_one_process_on_the_same_global_minibatches(model, tmp_path, corpus_dir):
    config = dict(CONFIG, model=model)
    done = subprocess.run(launcher(tmp_path / 'dist', config), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert '[worker 0]' in done.stdout and '[worker 1]' in done.stdout
    jobs.train(config, tmp_path / 'single')
    with onp.load(tmp_path / 'dist' / 'params.npz') as a, onp.load(tmp_path / 'single' / 'params.npz') as b:
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:
            onp.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-6, err_msg=name)
    perplexities = [line.split('perplexity ')[1].split(',')[0] for line in done.stdout.splitlines()
                    if '] perplexity ' in line]
    assert len(set(perplexities)) == 1, 'every worker reports the job-wide perplexity'


def test_a_killed_worker_fails_the_job_within_seconds_and_leaves_no_process(tmp_path, corpus_dir):
    config = dict(CONFIG, epochs=500, max_tokens=4000)
    proc = subprocess.Popen(launcher(tmp_path / 'dist', config, timeout=200), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / 'dist' / 'metrics.jsonl'
    deadline = time.time() + 120
    while not (metrics.exists() and metrics.read_text().strip()) and time.time() < deadline:
        time.sleep(0.05)
    started = children(proc.pid)
    assert len(started) == 4, 'scheduler, server and two workers'
    workers = [pid for pid in started if b'DMLC_ROLE=worker' in pathlib.Path(f'/proc/{pid}/environ').read_bytes()]
    os.kill(workers[1], signal.SIGKILL)
    killed_at = time.time()
    _, stderr = proc.communicate(timeout=60)
    elapsed = time.time() - killed_at
    assert proc.returncode != 0 and 'exited with status' in stderr, stderr
    assert elapsed < 15, f'the launcher took {elapsed:.1f}s to stop the job'
    time.sleep(0.5)
    assert not [pid for pid in started if alive(pid)], 'every process of the job is gone'


def test_sigterm_stops_the_whole_job_and_no_worker_leaves_a_temporary_directory(tmp_path, corpus_dir):
    scratch = tmp_path / 'tmp'
    scratch.mkdir()
    config = dict(CONFIG, epochs=500, max_tokens=4000)
    proc = subprocess.Popen(launcher(tmp_path / 'dist', config, timeout=200), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, TMPDIR=str(scratch)))
    metrics = tmp_path / 'dist' / 'metrics.jsonl'
    deadline = time.time() + 120
    while not (metrics.exists() and metrics.read_text().strip()) and time.time() < deadline:
        time.sleep(0.05)
    started = children(proc.pid)
    assert len(started) == 4, 'scheduler, server and two workers'
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM and 'SIGTERM' in stderr, stderr
    time.sleep(0.5)
    assert not [pid for pid in started if alive(pid)], 'every process of the job is gone'
    assert not [p.name for p in scratch.iterdir() if p.name.startswith('gluon-d2l')]
