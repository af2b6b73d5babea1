"""The ``train`` and ``predict`` jobs behind the command line.

A run directory (:mod:`.rundir`) holds ``config.json`` (the :class:`TrainConfig`),
``vocab.json``, ``metrics.jsonl`` (one line per epoch), ``history.jsonl`` (one line
per start or resume, with what changed), ``samples.json`` (the texts printed at the
end), ``perplexity.png``, ``params.npz`` and ``checkpoints/``.

Jobs know no command-line flags: bad input is a :class:`ConfigError` whose ``subject``
names the setting (a ``TrainConfig`` field, ``run``, ``prefix``, ``num_preds``, ...,
or the ``GLUON_D2L_DATA`` variable). Progress is reported through ``on_epoch(row, config)``.
The jobs run in MXNet's NumPy mode (``mxnet.util.use_np``) whatever the caller's mode.
"""
import dataclasses
import math
import os
import pathlib
import random
import time
import typing

import mxnet as mx
import numpy as onp
from mxnet import gluon
from mxnet.util import use_np

from ..data import DATA_ENV, load_corpus_time_machine, min_corpus_length, seq_data_iter_random, \
    seq_data_iter_sequential
from ..checks import token_ids
from ..devices import parse_devices
from ..models import build_model
from ..training import make_updater, perplexity, predict_ch8, train_epoch_ch8
from . import plots
from .checkpoints import PARAMS_FILE
from .config import MAX_SEED, RESUMABLE, ConfigError, TrainConfig
from .rundir import CONFIG, HISTORY, VOCAB, RunDir, check_new  # noqa: F401  (names of the run's files)

#: the d2l chapter's prefixes, used when the corpus has their characters
CHAPTER_PREFIXES = ('time traveller', 'traveller')
SAMPLE_LENGTH = 50
MAX_PREDS = 10000
MAX_VOCAB = 1024
SAMPLES = 'samples.json'


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


def make_devices(spec, single=False):
    """The contexts of a device spec; ``ConfigError('device')`` if malformed or absent."""
    try:
        devices = parse_devices(spec)
    except ValueError as err:
        raise ConfigError('device', str(err)) from None
    if single and len(devices) > 1:
        raise ConfigError('device', f'{spec!r}: give one device')
    return devices


def load_corpus(config):
    """``(corpus, vocab)`` of the config's corpus, checked to hold at least one minibatch."""
    try:
        corpus, vocab = load_corpus_time_machine(config.max_tokens, config.corpus)
    except (OSError, ValueError, RuntimeError) as err:
        raise ConfigError('corpus' if config.corpus is not None else DATA_ENV, str(err)) from None
    needed = min_corpus_length(config.batch_size, config.num_steps)
    if len(corpus) < needed:
        raise ConfigError('batch_size', f'{config.batch_size} sequences of {config.num_steps} steps need a '
                                        f'corpus of at least {needed} tokens; it has {len(corpus)}')
    return corpus, vocab


def check_attached(config, num_tokens, vocab_size, num_devices=1):
    """Refuse (``ConfigError('detach')``) an attached state whose epoch graph would not fit.

    The graph of the last minibatch spans the whole epoch (:func:`~gluon_d2l.training.attached_graph_bytes`;
    the limit is :data:`~gluon_d2l.training.ATTACHED_GRAPH_LIMIT`).
    """
    from ..training import check_attached_graph
    minibatches = (num_tokens - 1) // config.batch_size // config.num_steps
    try:
        check_attached_graph(minibatches, config.batch_size // num_devices, config.num_steps, config.hiddens,
                             vocab_size)
    except ValueError as err:
        raise ConfigError('detach', str(err)) from None


class Batches:
    """The minibatches of a loaded corpus (sequential or random), re-drawn on each iteration."""

    def __init__(self, corpus, config):
        # the ids as one int32 array, checked once: each epoch's iterator then only looks at its range
        self.corpus = token_ids('corpus', corpus)
        self.batch_size, self.num_steps = config.batch_size, config.num_steps
        self.iterate = seq_data_iter_random if config.random_iter else seq_data_iter_sequential

    def __iter__(self):
        return self.iterate(self.corpus, self.batch_size, self.num_steps)


def default_prefixes(vocab, corpus):
    """The chapter's prefixes when the corpus has their characters, else the corpus's first words."""
    if all(ch in vocab.token_to_idx for ch in ''.join(CHAPTER_PREFIXES)):
        return CHAPTER_PREFIXES
    words = ''.join(vocab.idx_to_token[i] for i in corpus[:200]).split()
    return tuple(dict.fromkeys([' '.join(words[:2]), words[0]]))


def check_prefixes(prefixes, vocab):
    """Refuse an empty prefix or one with characters the vocabulary lacks."""
    for prefix in prefixes:
        if not prefix:
            raise ConfigError('prefix', 'a prefix must be a non-empty string')
        unknown = sorted({ch for ch in prefix if ch not in vocab.token_to_idx})
        if unknown:
            raise ConfigError('prefix', f'{prefix!r} has characters outside the vocabulary: {unknown} '
                                        f'(the vocabulary is {"".join(vocab.idx_to_token[1:])!r})')
    return tuple(prefixes)


def _finite(x):
    """``x`` for JSON: ``None`` when it is NaN or infinite."""
    return x if math.isfinite(x) else None


@dataclasses.dataclass
class TrainResult:
    net: typing.Any
    vocab: typing.Any
    devices: list
    rows: list
    samples: dict
    config: TrainConfig

    @property
    def skipped_steps(self):
        return sum(row.get('skipped_steps', 0) for row in self.rows)


class _Training:
    """One training process: data, model, optional cluster, and the run directory it writes (or not)."""

    def __init__(self, config, prefixes):
        self.config = config
        self.devices = make_devices(config.device)
        seed_everything(config.seed)
        corpus, self.vocab = load_corpus(config)
        self.prefixes = check_prefixes(prefixes or default_prefixes(self.vocab, corpus), self.vocab)
        self.batches = Batches(corpus, config)
        if not config.detach:
            check_attached(config, len(corpus), len(self.vocab), len(self.devices))
        self.net = build_model(config.model, len(self.vocab), config.hiddens, self.devices,
                               embedding=config.embedding, activation=config.activation)
        self.cluster = None
        if config.kvstore != 'device':
            from .distributed import Cluster
            self.cluster = Cluster(config.kvstore)
            self.trainer = self.cluster.trainer(self.net, config.lr)
            self.updater = self.trainer.update
            self.cluster.broadcast(self.net)
        else:
            self.updater, self.trainer = make_updater(self.net, config.lr, self.devices)

    @property
    def writes(self):
        """Only one process of a job writes the run directory (rank 0)."""
        return self.cluster is None or self.cluster.is_writer

    def epoch(self, loss):
        tic, stats = time.perf_counter(), {}
        config, cluster = self.config, self.cluster
        if cluster is None:
            ppl, speed = train_epoch_ch8(self.net, self.batches, loss, self.updater, self.devices,
                                         config.random_iter, config.clip, stats, detach=config.detach)
        else:
            train_epoch_ch8(self.net, cluster.shard(self.batches), loss, self.updater, self.devices,
                            config.random_iter, config.clip, stats, cluster.gradient_reducer(self.net),
                            cluster.num_workers, detach=config.detach)
            loss_sum, tokens = cluster.job_totals(stats['loss_sum'], stats['num_tokens'])
            ppl, speed = perplexity(loss_sum / tokens), tokens / (time.perf_counter() - tic)
        return dict(perplexity=_finite(ppl), tokens_per_sec=_finite(speed), seconds=time.perf_counter() - tic,
                    skipped_steps=stats['skipped_steps'])

    def run(self, run, start, rows, on_epoch):
        """Train epochs ``start + 1 ..``; write ``run`` (``None``: write nothing); return the result."""
        config, loss = self.config, gluon.loss.SoftmaxCrossEntropyLoss()
        try:
            for epoch in range(start + 1, config.epochs + 1):
                row = dict(epoch=epoch, **self.epoch(loss))
                rows.append(row)
                if run is not None:
                    run.append_metric(row)
                    if epoch % config.checkpoint_every == 0 or epoch == config.epochs:
                        run.save_checkpoint(epoch, self.net, self.trainer, {'python_random': _random_state()})
                if on_epoch is not None:
                    on_epoch(row, config)
        finally:
            if run is not None and rows:
                fig = plots.perplexity_figure([r['epoch'] for r in rows], [r['perplexity'] for r in rows],
                                              title=f'{config.model} RNN')
                try:
                    run.write_figure(fig)
                finally:
                    plots.close(fig)
        samples = {p: predict_ch8(p, SAMPLE_LENGTH, self.net, self.vocab, self.devices[0]) for p in self.prefixes}
        if run is not None:
            from . import checkpoints
            checkpoints.save_params(self.net, run.path / checkpoints.PARAMS_FILE)
            run.write_json(SAMPLES, samples)
        return TrainResult(self.net, self.vocab, self.devices, rows, samples, config)


@use_np
def train(config, out, on_epoch=None, prefixes=None):
    """Train a new run per ``config`` into ``out`` (a missing or empty directory).

    ``on_epoch(row, config)`` is called after each epoch (``row`` as written to ``metrics.jsonl``). With a distributed
    ``config.kvstore`` this process is one worker of a job and only rank 0 writes ``out``.
    A Ctrl-C keeps the last checkpoint and re-raises ``KeyboardInterrupt``.
    """
    if not isinstance(config, TrainConfig):
        config = TrainConfig.from_dict(dict(config))
    if config.kvstore == 'device':
        check_new(out)
    if config.corpus is not None:    # resumable from any directory, and only with the same text
        from .checkpoints import sha1
        config = config.replace(corpus=os.path.abspath(config.corpus), corpus_sha1=sha1(config.corpus, 'corpus'))
    job = _Training(config, prefixes)
    if not job.writes:
        return job.run(None, 0, [], on_epoch)
    with RunDir.create(out) as run:
        run.write_bytes(CONFIG, config.to_json().encode())
        run.write_json(VOCAB, job.vocab.idx_to_token)
        run.write_metrics([])
        run.append_history(dict(event='start', epoch=0, config=config.to_dict()))
        return job.run(run, 0, [], on_epoch)


def resumed_config(saved, changes, done):
    """The config of a resumed run: ``saved`` with ``changes``, only those in ``RESUMABLE``.

    ``done`` is the number of epochs already trained. Raises ``ConfigError`` naming a
    setting that may not change, or ``epochs`` when there is nothing left to train.
    """
    for name, value in changes.items():
        if name not in RESUMABLE and value != getattr(saved, name):
            raise ConfigError(name, f'cannot change on resume: the run was trained with {getattr(saved, name)!r}')
    config = saved.replace(**{k: v for k, v in changes.items() if k in RESUMABLE})
    if config.epochs <= done:
        if 'epochs' in changes:
            raise ConfigError('epochs', f'the run has already trained {done} epochs; give more than {done} '
                                        f'to train on')
        raise ConfigError('epochs', f'the run is complete ({done} of {config.epochs} epochs); give more '
                                    f'epochs to train on')
    return config


def check_corpus_unchanged(config):
    """Refuse (``ConfigError('run')``, naming the file) a corpus that is not the one the run started on."""
    if config.corpus is None or config.corpus_sha1 is None:
        return
    from .checkpoints import sha1
    try:
        digest = sha1(config.corpus, 'corpus')
    except ConfigError as err:
        raise ConfigError('run', f'the run\'s corpus: {err}') from None
    if digest != config.corpus_sha1:
        raise ConfigError('run', f'the run\'s corpus {config.corpus!r} has changed since the run started (SHA-1 '
                                 f'{digest}, recorded {config.corpus_sha1}); restore it or start a new run')


@use_np
def resume(out, changes=None, on_epoch=None, prefixes=None):
    """Continue the run in ``out`` from its newest intact checkpoint.

    ``changes`` may set the ``RESUMABLE`` settings (e.g. more epochs); the change is
    written to ``config.json`` and recorded in ``history.jsonl``.
    """
    changes = dict(changes or {})
    with RunDir.open(out) as run:
        saved = run.read_config()
        if saved.kvstore != 'device':
            raise ConfigError('run', f'{str(out)!r} was trained with {saved.kvstore}, which cannot be resumed')
        resumed_config(saved, {k: v for k, v in changes.items() if k != 'epochs'}, -1)  # refuse early
        check_corpus_unchanged(saved)
        try:
            job = _Training(saved, prefixes)
        except ConfigError as err:
            if err.subject != 'corpus':
                raise
            raise ConfigError('run', f'the run\'s corpus: {err}') from None
        if job.vocab.idx_to_token != run.read_vocab().idx_to_token:
            raise ConfigError('corpus', 'the corpus has changed since the run started (its vocabulary differs)')
        state = run.load_checkpoint(job.net, job.trainer, saved.lr)
        if state is None and ((run.path / PARAMS_FILE).exists() or run.read_metrics(math.inf)):
            raise ConfigError('run', f'{str(out)!r} has trained epochs but no checkpoint to resume from; '
                                     'refusing to train over it')
        start = 0 if state is None else state['epoch']
        config = resumed_config(saved, changes, start)
        job.config = config
        if state is not None:
            _set_random_state(state['python_random'])
        rows = run.read_metrics(start)
        run.write_metrics(rows)
        if config != saved:
            run.write_bytes(CONFIG, config.to_json().encode())
        changed = {k: [getattr(saved, k), getattr(config, k)] for k in RESUMABLE
                   if getattr(saved, k) != getattr(config, k)}
        run.append_history(dict(event='resume', epoch=start, changed=changed))
        return job.run(run, start, rows, on_epoch)


#: how many numbered runs ``continue_or_new`` tries next to a directory before it gives up
MAX_NUMBERED_RUNS = 1000


def continue_or_new(config, out):
    """Where ``train --continue`` trains: ``('resume', out)`` when ``out`` holds an unfinished run of
    ``config``'s settings, ``('new', out)`` when ``out`` holds no run, else ``('new', OUT-N)``, the first
    numbered directory that holds nothing (a finished run, or one of other settings, is kept)."""
    from .rundir import _is_marked
    out = str(out)
    if not os.path.isdir(out) or not _is_marked(pathlib.Path(out)):
        return 'new', out
    run = RunDir.open(out, lock=False)
    saved = run.read_config()
    wanted = config.replace(corpus=None if config.corpus is None else os.path.abspath(config.corpus),
                            corpus_sha1=saved.corpus_sha1, **{k: getattr(saved, k) for k in RESUMABLE})
    trained = max((epoch for epoch, _ in run.checkpoints()), default=0)
    if wanted == saved and trained < config.epochs and not os.path.lexists(run.path / PARAMS_FILE):
        return 'resume', out
    for number in range(2, MAX_NUMBERED_RUNS + 1):
        candidate = f'{out.rstrip(os.sep)}-{number}'
        if not os.path.lexists(candidate):
            return 'new', candidate
    raise ConfigError('out', f'{out!r} and its numbered runs up to -{MAX_NUMBERED_RUNS} are all taken')


def _check_predict_options(num_preds, temperature, seed):
    if isinstance(num_preds, bool) or not isinstance(num_preds, int) or not 0 <= num_preds <= MAX_PREDS:
        raise ConfigError('num_preds', f'expected 0 to {MAX_PREDS} characters, got {num_preds!r}')
    if temperature is not None and not (isinstance(temperature, (int, float)) and 0 < temperature < math.inf):
        raise ConfigError('temperature', f'expected a positive finite number, got {temperature!r}')
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
        raise ConfigError('seed', f'expected an integer from 0 to {MAX_SEED}, got {seed!r}')


@use_np
def load_trained(run_dir, device='cpu'):
    """``(net, vocab, device, run)`` of a run with its final (or newest checkpointed) parameters."""
    from . import checkpoints
    run = RunDir.open(run_dir, lock=False)
    config, vocab = run.read_config(), run.read_vocab()
    if len(vocab) > MAX_VOCAB:
        raise ConfigError('run', f'{str(run.path / VOCAB)!r} is damaged: {len(vocab)} tokens (at most {MAX_VOCAB})')
    devices = make_devices(device, single=True)
    net = build_model(config.model, len(vocab), config.hiddens, devices, embedding=config.embedding,
                      activation=config.activation)
    final = run.path / checkpoints.PARAMS_FILE
    try:
        if os.path.lexists(final):
            checkpoints.load_params(net, final)
        elif run.load_checkpoint(net, None) is None:
            raise ConfigError('run', f'{str(run_dir)!r} has no trained parameters yet')
    except ValueError as err:  # a ConfigError of the parameter file too: the run's option names it
        raise ConfigError('run', str(err)) from None
    return net, vocab, devices[0], run


@use_np
def predict(run_dir, prefixes=None, num_preds=SAMPLE_LENGTH, temperature=None, seed=None, device='cpu'):
    """Continue each prefix (default: the prefixes ``train`` sampled) with the model of ``run_dir``."""
    _check_predict_options(num_preds, temperature, seed)
    net, vocab, device, run = load_trained(run_dir, device)
    if not prefixes:
        prefixes = recorded_prefixes(run)[:1] or CHAPTER_PREFIXES[:1]
    check_prefixes(prefixes, vocab)
    try:
        return [predict_ch8(p, num_preds, net, vocab, device, temperature=temperature, seed=seed, strict=True)
                for p in prefixes]
    except ValueError as err:   # the run's model cannot be sampled (its outputs are NaN)
        raise ConfigError('run', f'{str(run_dir)!r}: {err}') from None


def recorded_prefixes(run):
    """The prefixes ``train`` sampled, from the run's ``samples.json`` (none if it has no such file)."""
    if not os.path.lexists(run.path / SAMPLES):
        return []
    samples = run.read_json(SAMPLES)
    if not (isinstance(samples, dict) and all(isinstance(k, str) and k and isinstance(v, str)
                                              for k, v in samples.items())):
        raise ConfigError('run', f'{str(run.path / SAMPLES)!r} is damaged: expected an object of prefix: text')
    return list(samples)
