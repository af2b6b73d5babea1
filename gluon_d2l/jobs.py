"""The ``train`` and ``predict`` jobs behind the command line, with their run directory.

A run directory holds ``config.json`` (enough to rebuild the model), ``vocab.json``,
``metrics.jsonl`` (one line per epoch), ``perplexity.png``, the final parameters
and ``checkpoints/`` for ``--resume``.
"""
import json
import math
import pathlib
import random
import sys
import tempfile
import time

import mxnet as mx
import numpy as onp
from mxnet import gluon

from . import checkpoints
from .data import Vocab, load_corpus_time_machine, min_corpus_length, SeqDataLoader
from .devices import parse_devices
from .distributed import Cluster
from .plots import plot_perplexity
from .models import build_model
from .training import make_updater, predict_ch8, train_epoch_ch8

PREDICTION_PREFIXES = ('time traveller', 'traveller')


class UsageError(ValueError):
    """Bad input that names the command-line option at fault."""


def seed_everything(seed):
    """Seed Python's, NumPy's and MXNet's random generators."""
    random.seed(seed)
    onp.random.seed(seed)
    mx.random.seed(seed)


def _random_state():
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _set_random_state(saved):
    random.setstate((saved[0], tuple(saved[1]), saved[2]))


def read_run(run_dir):
    """Return ``(config, vocab)`` of a run directory, or raise ``UsageError`` naming ``--run``."""
    run_dir = pathlib.Path(run_dir)
    try:
        config = json.loads((run_dir / 'config.json').read_text())
        vocab = Vocab.from_idx_to_token(json.loads((run_dir / 'vocab.json').read_text()))
    except (OSError, ValueError) as err:
        raise UsageError(f'--run {str(run_dir)!r} is not a gluon-d2l run directory ({err})') from None
    return config, vocab


def _load_data(config):
    try:
        corpus, _ = load_corpus_time_machine(config['max_tokens'], config['corpus'])
    except FileNotFoundError as err:
        raise UsageError(f'--corpus: {err}') from None
    except ValueError as err:
        raise UsageError(f'--corpus: {err}') from None
    needed = min_corpus_length(config['batch_size'], config['num_steps'])
    if len(corpus) < needed:
        raise UsageError(f'--batch-size {config["batch_size"]} and --num-steps {config["num_steps"]} need a '
                         f'corpus of at least {needed} tokens; it has {len(corpus)}')
    loader = SeqDataLoader(config['batch_size'], config['num_steps'], config['random_iter'],
                           config['max_tokens'], config['corpus'])
    return loader, loader.vocab


class Progress:
    """A tqdm bar on a terminal, otherwise a plain line every ``every`` epochs."""

    def __init__(self, start, total, every):
        self.every, self.total = every, total
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=start, unit='epoch', file=sys.stderr)

    def update(self, epoch, ppl, speed):
        if self.bar is not None:
            self.bar.set_postfix(perplexity=f'{ppl:.2f}', tokens_per_s=f'{speed:.0f}')
            self.bar.update(1)
        elif epoch % self.every == 0 or epoch == self.total:
            print(f'epoch {epoch}/{self.total}: perplexity {ppl:.2f}, {speed:.0f} tokens/sec',
                  file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _read_metrics(path, upto):
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [row for row in rows if row['epoch'] <= upto]


def train(config, out, resume=False, log_every=10, checkpoint_every=1):
    """Train per ``config`` into run directory ``out``; return ``(net, vocab, devices, ppl, speed)``.

    With ``resume`` the newest intact checkpoint in ``out`` is restored first.
    A Ctrl-C keeps the last checkpoint and re-raises ``KeyboardInterrupt``.
    With ``config['kvstore']`` a distributed kind, this process is one worker of
    a job (:mod:`gluon_d2l.distributed`) and only rank 0 writes ``out``.
    """
    devices = parse_devices(config['device'])
    seed_everything(config['seed'])
    train_iter, vocab = _load_data(config)
    net = build_model(config['model'], len(vocab), config['hiddens'], devices)
    cluster, discard = None, None
    if config.get('kvstore', 'device').startswith('dist'):
        cluster = Cluster(config['kvstore'])
        trainer = cluster.trainer(net, config['lr'])
        updater = trainer.update
        cluster.broadcast(net)
        if not cluster.is_writer:
            discard = tempfile.TemporaryDirectory(prefix='gluon-d2l-worker-')
            out = discard.name
    else:
        updater, trainer = make_updater(net, config['lr'], devices)
    out = pathlib.Path(out)
    start, metrics = 0, []
    if resume:
        state = checkpoints.load_checkpoint(out, net, trainer)
        if state is not None:
            start = state['epoch']
            _set_random_state(state['python_random'])
            metrics = _read_metrics(out / 'metrics.jsonl', start)
    else:
        out.mkdir(parents=True, exist_ok=True)
        checkpoints.atomic_write_json(out / 'config.json', config)
        checkpoints.atomic_write_json(out / 'vocab.json', vocab.idx_to_token)
    checkpoints.atomic_write_bytes(out / 'metrics.jsonl', ''.join(json.dumps(m) + '\n' for m in metrics).encode())
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    progress = Progress(start, config['epochs'], log_every)
    ppl = speed = math.nan
    try:
        for epoch in range(start + 1, config['epochs'] + 1):
            tic, stats = time.perf_counter(), {}
            if cluster is None:
                ppl, speed = train_epoch_ch8(net, train_iter, loss, updater, devices, config['random_iter'],
                                             config['clip'], stats)
            else:
                train_epoch_ch8(net, cluster.shard(train_iter), loss, updater, devices, config['random_iter'],
                                config['clip'], stats, cluster.gradient_reducer(net), cluster.num_workers)
                loss_sum, tokens = cluster.job_totals(stats['loss_sum'], stats['num_tokens'])
                ppl, speed = math.exp(loss_sum / tokens), tokens / (time.perf_counter() - tic)
            row = dict(epoch=epoch, perplexity=ppl, tokens_per_sec=speed, seconds=time.perf_counter() - tic)
            metrics.append(row)
            with open(out / 'metrics.jsonl', 'a') as f:
                f.write(json.dumps(row) + '\n')
            if epoch % checkpoint_every == 0 or epoch == config['epochs']:
                checkpoints.save_checkpoint(out, epoch, net, trainer, {'python_random': _random_state()})
            progress.update(epoch, ppl, speed)
    finally:
        progress.close()
        if metrics:
            plot_perplexity([m['epoch'] for m in metrics], [m['perplexity'] for m in metrics],
                            out / 'perplexity.png', title=f'{config["model"]} RNN')
    checkpoints.save_params(net, out / checkpoints.PARAMS_FILE)
    if discard is not None:
        discard.cleanup()
    if metrics:
        ppl, speed = metrics[-1]['perplexity'], metrics[-1]['tokens_per_sec']
    return net, vocab, devices, ppl, speed


def load_trained(run_dir, device='cpu'):
    """Rebuild the model of a run directory with its final (or newest checkpointed) parameters."""
    config, vocab = read_run(run_dir)
    device = parse_devices(device)[:1]
    net = build_model(config['model'], len(vocab), config['hiddens'], device)
    final = pathlib.Path(run_dir) / checkpoints.PARAMS_FILE
    try:
        if final.exists():
            checkpoints.load_params(net, final)
        elif checkpoints.load_checkpoint(run_dir, net, None) is None:
            raise UsageError(f'--run {str(run_dir)!r} has no trained parameters yet')
    except ValueError as err:
        raise UsageError(f'--run: {err}') from None
    return net, vocab, device[0]


def predict(run_dir, prefix, num_preds, temperature=None, seed=None, device='cpu'):
    """Continue ``prefix`` with the model of ``run_dir`` on ``device``."""
    net, vocab, device = load_trained(run_dir, device)
    try:
        return predict_ch8(prefix, num_preds, net, vocab, device, temperature=temperature, seed=seed,
                           strict=True)
    except ValueError as err:
        raise UsageError(f'--prefix: {err}') from None
