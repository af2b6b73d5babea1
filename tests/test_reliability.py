"""Non-finite gradients, damaged checkpoints, SIGKILL and resume, determinism, memory over time."""
import json
import os
import signal
import subprocess
import sys
import time
import warnings

import mxnet as mx
import numpy as onp
import pytest
from mxnet import gluon, np

import gluon_d2l as d2l
from gluon_d2l.program import checkpoints, jobs
from gluon_d2l.program.config import TrainConfig
from gluon_d2l.program.rundir import RunDir
from gluon_d2l.models import build_model


def small_config(**changes):
    config = dict(TrainConfig().to_dict(), hiddens=32, batch_size=8, num_steps=10, max_tokens=2000, epochs=3)
    config.update(changes)
    return config


class PoisonedLoss:
    """Softmax cross-entropy whose value (and so every gradient) is NaN on chosen calls."""

    def __init__(self, poisoned_calls):
        self.base, self.calls, self.poisoned = gluon.loss.SoftmaxCrossEntropyLoss(), 0, poisoned_calls

    def __call__(self, y_hat, y):
        self.calls += 1
        loss = self.base(y_hat, y)
        return loss * float('nan') if self.calls in self.poisoned else loss


@pytest.mark.parametrize('kind', ['scratch', 'hybrid', 'concise'])
def test_a_non_finite_gradient_never_reaches_the_parameters(kind, corpus_dir):
    train_iter, vocab = d2l.load_data_time_machine(4, 6, max_tokens=400)
    batches = list(train_iter)[:3]
    finals = []
    for loss, used in ((PoisonedLoss({2}), batches), (PoisonedLoss(set()), [batches[0], batches[2]])):
        mx.random.seed(5)
        net = build_model(kind, len(vocab), 16, [mx.cpu()])
        updater, _ = d2l.training.make_updater(net, 1.0, mx.cpu())
        stats = {}
        d2l.train_epoch_ch8(net, used, loss, updater, mx.cpu(), use_random_iter=True, stats=stats)
        finals.append({k: v.asnumpy() if not hasattr(v, 'data') else v.data().asnumpy()
                       for k, v in checkpoints.named_arrays(net).items()})
        assert stats['skipped_steps'] == (1 if loss.poisoned else 0)
    for name, value in finals[1].items():
        assert onp.isfinite(finals[0][name]).all(), name
        onp.testing.assert_array_equal(finals[0][name], value, err_msg=name)


def test_grad_clipping_reports_a_non_finite_norm():
    p = np.zeros(3)
    p.attach_grad()
    p.grad[:] = np.array([1.0, float('inf'), 0.0])

    class Net:
        params = [p]
    assert not onp.isfinite(d2l.grad_clipping(Net(), 1.0))


def test_a_damaged_checkpoint_falls_back_to_the_previous_one_with_a_warning(tmp_path, corpus_dir):
    jobs.train(small_config(), tmp_path)
    newest = tmp_path / 'checkpoints' / 'epoch-00003' / 'params.npz'
    newest.write_bytes(newest.read_bytes()[:100])
    net = build_model('hybrid', 28, 32, [mx.cpu()])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        state = RunDir.open(tmp_path, lock=False).load_checkpoint(net, None)
    assert state['epoch'] == 2
    assert any('epoch-00003' in str(w.message) and 'damaged' in str(w.message) for w in caught)
    with onp.load(tmp_path / 'checkpoints' / 'epoch-00002' / 'params.npz') as saved:
        onp.testing.assert_array_equal(net.W_hh.data().asnumpy(), saved['W_hh'])


def _train_cli(out, *args):
    return [sys.executable, '-m', 'gluon_d2l', 'train', '--out', str(out), '--hiddens', '256',
            '--max-tokens', '6000', '--seed', '4', *args]


def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(tmp_path):
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    whole = subprocess.run(_train_cli(tmp_path / 'whole', '--epochs', '6'), capture_output=True, env=env,
                           timeout=300)
    assert whole.returncode == 0, whole.stderr
    metrics = tmp_path / 'killed' / 'metrics.jsonl'
    proc = subprocess.Popen(_train_cli(tmp_path / 'killed', '--epochs', '6'), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3) and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, 'the run must still be training when killed'
    resumed = subprocess.run([sys.executable, '-m', 'gluon_d2l', 'train', '--resume', str(tmp_path / 'killed')],
                             capture_output=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    with onp.load(tmp_path / 'whole' / 'params.npz') as a, onp.load(tmp_path / 'killed' / 'params.npz') as b:
        for name in a.files:
            onp.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.mark.parametrize('kind', ['scratch', 'hybrid', 'concise'])
@pytest.mark.parametrize('random_iter', [False, True])
def test_the_same_seed_gives_bit_identical_perplexity_curves(kind, random_iter, tmp_path, corpus_dir):
    curves = []
    for attempt in ('a', 'b'):
        jobs.train(small_config(model=kind, random_iter=random_iter), tmp_path / attempt)
        curves.append([json.loads(line)['perplexity'] for line in (tmp_path / attempt / 'metrics.jsonl').open()])
    assert curves[0] == curves[1] and len(curves[0]) == 3


def _rss_bytes():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


@pytest.mark.slow
def test_resident_memory_stays_flat_over_50_epochs(corpus_dir):
    train_iter, vocab = d2l.load_data_time_machine(32, 35)
    net = build_model('hybrid', len(vocab), 128, [mx.cpu()])
    updater, _ = d2l.training.make_updater(net, 1.0, mx.cpu())
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    rss = []
    for _ in range(50):
        d2l.train_epoch_ch8(net, train_iter, loss, updater, mx.cpu(), use_random_iter=False)
        rss.append(_rss_bytes())
    growth = (rss[-1] - rss[4]) / rss[4]
    print(f'RSS after epoch 5: {rss[4] / 2**20:.1f} MiB, after epoch 50: {rss[-1] / 2**20:.1f} MiB '
          f'({100 * growth:+.2f} %)')
    assert growth < 0.05


@pytest.mark.parametrize('kind', ['scratch', 'hybrid', 'concise'])
@pytest.mark.parametrize('embedding', [None, 8])
def test_saved_parameters_restore_every_parameter_of_a_fresh_model(tmp_path, kind, embedding):
    """Every parameter has its own name in params.npz, and a fresh model (other instance counters)
    gets each one back exactly (the concise model's i2h and h2h weights once shared a name)."""
    first = build_model(kind, 28, 16, [mx.cpu()], embedding=embedding)
    build_model(kind, 28, 16, [mx.cpu()], embedding=embedding)  # moves the instance counters on
    fresh = build_model(kind, 28, 16, [mx.cpu()], embedding=embedding)
    arrays = {k: checkpoints._host(v) for k, v in checkpoints.named_arrays(first).items()}
    count = len(first.params) if kind == 'scratch' else len(list(first.collect_params().values()))
    assert len(arrays) == count
    checkpoints.save_params(first, tmp_path / 'params.npz')
    with onp.load(tmp_path / 'params.npz') as saved:
        assert sorted(saved.files) == sorted(arrays)
    checkpoints.load_params(fresh, tmp_path / 'params.npz')
    for name, value in checkpoints.named_arrays(fresh).items():
        onp.testing.assert_array_equal(checkpoints._host(value), arrays[name], err_msg=name)
