"""The ``gluon-d2l`` command line: ``train``, ``predict``, ``launch`` and ``exercises``, plus plugin commands.

This is the only module that knows the flags. Bad input ends with one line,
``gluon-d2l: error: --flag: ...`` and exit status 2: the jobs raise
:class:`~.config.ConfigError` naming a setting and :data:`FLAGS` turns the setting into
the option the user typed. An interrupted ``train`` keeps its last checkpoint and prints
the (shell-quoted) command that resumes it.

Commands that need ``parity`` (``parity``, ``bench``) are plugins: a package lists a
function ``register(subparsers)`` under the entry-point group ``gluon_d2l.commands``;
it adds its subparser and sets ``handler`` (``handler(args)`` returns the exit status).
A plugin is imported only when its command runs (or for the top-level help); one that sets
``thread_defaults=True`` on its parser runs with the program's MXNet thread defaults (:mod:`.threads`),
as ``train`` and ``exercises`` do.
"""
import argparse
import os
import shlex
import sys

from .config import ACTIVATIONS, KVSTORES, MAX_SEED, MODEL_KINDS, RESUMABLE, ConfigError, TrainConfig
from . import threads
from .. import _mxnet_env

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
PLUGIN_GROUP = 'gluon_d2l.commands'
DEFAULT_OUT = 'runs/char-rnn'
DATA_ENV = 'GLUON_D2L_DATA'


#: settings whose option is not ``--name`` (a flag that turns a default-on setting off)
FLAG_NAMES = {'detach': '--no-detach'}
NO_CLIP = 'none'


def flag(name):
    """The option of a setting: ``batch_size`` -> ``--batch-size``, ``detach`` -> ``--no-detach``."""
    return FLAG_NAMES.get(name, '--' + name.replace('_', '-'))


def _clip(text):
    """``--clip``: a number (checked by the config) or ``none`` for no clipping."""
    if text.strip().lower() == NO_CLIP:
        return NO_CLIP
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a number or none, got {text!r}') from None


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit with status 2."""

    def error(self, message):
        message = message[len('argument '):] if message.startswith('argument ') else message
        self.exit(EXIT_USAGE, f'gluon-d2l: error: {message} (see {self.prog} --help)\n')


def _number(kind):
    """Parse an int or float; the range is checked by the config, which names the field."""
    def parse(text):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'expected {"an integer" if kind is int else "a number"}, '
                                             f'got {text!r}') from None
    parse.__name__ = kind.__name__
    return parse


TRAIN_HELP = {
    'model': 'scratch: d2l functions; hybrid: the same math as one hybridized graph (default); '
             'concise: gluon.rnn.RNN + Dense',
    'epochs': 'epochs to train in total (500); may be raised on --resume',
    'lr': 'SGD learning rate (1)',
    'batch_size': 'sequences per minibatch (32)',
    'num_steps': 'time steps per sequence (35)',
    'hiddens': 'hidden units (512)',
    'random_iter': 'random sampling instead of sequential partitioning',
    'embedding': 'learn an embedding of DIM numbers per character instead of the one-hot input (default: one-hot)',
    'activation': 'hidden nonlinearity (default: tanh for scratch and hybrid, relu for concise, as in d2l)',
    'clip': 'gradient clipping threshold theta (1), or none to train without clipping',
    'detach': 'keep the hidden state attached across the minibatches of an epoch (sequential partitioning): '
              'backpropagation reaches the epoch\'s first minibatch; refused when that graph would not fit '
              'in memory',
    'device': 'auto (GPU if present), cpu, cpu:N, gpu:N, or a comma list for data-parallel training (auto)',
    'seed': f'random seed, 0 to {MAX_SEED} (0)',
    'max_tokens': 'use only the first N characters of the corpus; -1 for all (10000, as in the d2l chapter)',
    'corpus': 'train on this UTF-8 text file instead of The Time Machine',
    'kvstore': "'device' (default; one process) or 'dist_sync': one worker of a job on MXNet's parameter "
               "server, started by 'gluon-d2l launch'",
    'log_every': 'without a terminal, print a progress line every N epochs (10); may change on --resume',
    'checkpoint_every': 'write a checkpoint every N epochs (1); may change on --resume',
}
TRAIN_TYPES = {'model': dict(choices=MODEL_KINDS), 'kvstore': dict(choices=KVSTORES),
               'random_iter': dict(action='store_const', const=True),
               'embedding': dict(type=_number(int), metavar='DIM'), 'activation': dict(choices=ACTIVATIONS),
               'clip': dict(type=_clip, metavar='THETA|none'), 'detach': dict(action='store_const', const=False)}


def _add_train(sub):
    p = sub.add_parser('train', help='train the char-level RNN language model',
                       description='Train a character-level RNN on The Time Machine (or --corpus) and print '
                                   'the d2l chapter\'s summary: perplexity, tokens/sec and the continuation of '
                                   'each prefix. Defaults are the d2l chapter\'s settings. Writes only inside '
                                   'the run directory (--out: a new or empty directory, never an existing one; '
                                   '--resume: the run\'s own): config.json (with the corpus\'s absolute path '
                                   'and SHA-1), vocab.json, metrics.jsonl, history.jsonl, perplexity.png, '
                                   'checkpoints/, and at the end params.npz and samples.json, each file whole.')
    defaults = TrainConfig()
    for name in TrainConfig.options():
        kind = type(getattr(defaults, name))
        options = TRAIN_TYPES.get(name) or dict(type=_number(kind) if kind in (int, float) else str)
        p.add_argument(flag(name), dest=name, default=None, help=TRAIN_HELP.get(name), **options)
    p.add_argument('--out', help=f'new run directory to write: missing or empty (default {DEFAULT_OUT})')
    p.add_argument('--continue', dest='continue_run', action='store_true',
                   help='if --out already holds a run: resume it when it is unfinished and has these settings, '
                        'else keep it and train a new run in the first free OUT-2, OUT-3, ...; says which')
    p.add_argument('--resume', metavar='DIR',
                   help=f'continue the run in DIR from its newest intact checkpoint; only '
                        f'{", ".join(flag(n) for n in RESUMABLE)} may change')
    p.add_argument('--prefix', action='append', metavar='TEXT',
                   help='after training, continue TEXT (repeatable; default: "time traveller" and "traveller" '
                        'when the corpus has their letters, else its first words)')
    p.set_defaults(handler=_train, thread_defaults=True)


def _add_predict(sub):
    from .jobs import MAX_PREDS
    p = sub.add_parser('predict', help='generate text with a trained run',
                       description='Continue each prefix with the model saved in a run directory and print '
                                   'the texts. Reads the run\'s files (regular files only); writes nothing.')
    p.add_argument('--run', required=True, metavar='DIR', help='run directory written by train')
    p.add_argument('--prefix', action='append', metavar='TEXT',
                   help='text to continue (repeatable; default: the first prefix train sampled)')
    p.add_argument('--num-preds', dest='num_preds', type=_number(int), default=50,
                   help=f'characters to generate, at most {MAX_PREDS} (50)')
    p.add_argument('--temperature', type=_number(float),
                   help='sample from p**(1/T) instead of taking the argmax; T<1 sharpens')
    p.add_argument('--seed', type=_number(int), default=None, help=f'seed for --temperature sampling, 0 to {MAX_SEED}')
    p.add_argument('--device', default='cpu', help='cpu, cpu:N or gpu:N (default cpu)')
    p.set_defaults(handler=_predict)


def _add_launch(sub):
    p = sub.add_parser('launch', help='run a dist_sync job (scheduler, servers, workers) on this machine',
                       description='Start a scheduler, SERVERS parameter servers and WORKERS workers on the '
                                   'loopback address, each worker running the gluon-d2l command after "--" '
                                   '(e.g. "train --kvstore dist_sync ..."). Output is prefixed by role; the '
                                   'first failure, --timeout, Ctrl-C or SIGTERM stops every process. The workers\' '
                                   'command is checked before anything starts; the job\'s worker of rank 0 '
                                   'writes its --out, as train does.')
    p.add_argument('-n', '--workers', type=_number(int), required=True, help='number of workers (1 to 64)')
    p.add_argument('-s', '--servers', type=_number(int), default=1, help='number of servers (1 to 64; 1)')
    p.add_argument('--timeout', type=_number(float), default=3600, help='seconds before the job is stopped (3600)')
    p.add_argument('worker_args', nargs=argparse.REMAINDER, help='-- then the gluon-d2l command of each worker')
    p.set_defaults(handler=_launch)


def _add_exercises(sub):
    from .exercises import register
    register(sub)


BUILTIN = {'train': _add_train, 'predict': _add_predict, 'launch': _add_launch, 'exercises': _add_exercises}


def plugin_entry_points():
    """``{name: entry point}`` of the ``gluon_d2l.commands`` group (Python 3.8+)."""
    from importlib import metadata
    found = metadata.entry_points()
    group = found.select(group=PLUGIN_GROUP) if hasattr(found, 'select') else found.get(PLUGIN_GROUP, ())
    return {ep.name: ep for ep in group}


def build_parser(argv=None):
    """The parser; plugin commands are loaded only if ``argv`` asks for one (or for help)."""
    parser = Parser(prog='gluon-d2l', description='d2l\'s char-RNN chapter on MXNet Gluon 1.9.1: train, '
                                                  'generate text, and check parity with other frameworks.')
    sub = parser.add_subparsers(dest='command', required=True, parser_class=Parser, metavar='COMMAND')
    for add in BUILTIN.values():
        add(sub)
    command = next((a for a in (argv if argv is not None else sys.argv[1:]) if not a.startswith('-')), None)
    if command not in BUILTIN:
        plugins = plugin_entry_points()
        for name, ep in sorted(plugins.items()):
            if command is None or command == name or command not in plugins:
                try:
                    register = ep.load()
                except Exception as err:  # a broken or half-installed plugin must not break the others
                    print(f'gluon-d2l: warning: command {name!r} is unavailable ({type(err).__name__}: {err})',
                          file=sys.stderr)
                    continue
                register(sub)
    return parser


def _given(args, names):
    """The settings given on the command line (``--clip none`` is given, as ``None``)."""
    given = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    return {name: None if name == 'clip' and value == NO_CLIP else value for name, value in given.items()}


class Progress:
    """A tqdm bar on a terminal, otherwise a plain line every ``config.log_every`` epochs."""

    def __init__(self):
        self.bar = None

    def __call__(self, row, config):
        ppl, speed, total = row['perplexity'], row['tokens_per_sec'], config.epochs
        skipped = f', {row["skipped_steps"]} steps skipped (non-finite gradient)' if row['skipped_steps'] else ''
        if sys.stderr.isatty():
            if self.bar is None:
                from tqdm import tqdm
                self.bar = tqdm(total=total, initial=row['epoch'] - 1, unit='epoch', file=sys.stderr)
            self.bar.set_postfix_str(f'perplexity {_fmt(ppl, 2)}, {_fmt(speed, 0)} tokens/s{skipped}')
            self.bar.update(1)
        elif row['epoch'] % config.log_every == 0 or row['epoch'] == total or skipped:
            print(f'epoch {row["epoch"]}/{total}: perplexity {_fmt(ppl, 2)}, {_fmt(speed, 0)} tokens/sec{skipped}',
                  file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _fmt(value, digits):
    return 'nan' if value is None else f'{value:.{digits}f}'


def _train(args):
    from . import jobs
    names = TrainConfig.options()
    given = _given(args, names)
    if args.resume is not None:
        if args.out is not None:
            raise ConfigError('out', '--resume continues the run in its own directory; drop --out')
        out, run_flag = args.resume, '--resume'
    else:
        out, run_flag = (args.out if args.out is not None else DEFAULT_OUT), '--out'
    args.run_flag, args.run_path = run_flag, out
    if args.continue_run:
        if args.resume is not None:
            raise ConfigError('continue', '--resume continues its run already; drop --continue')
        asked = out
        how, out = jobs.continue_or_new(TrainConfig(**given), asked)
        args.run_path = out
        if how == 'resume':
            args.resume = out
            print(f'resuming the unfinished run in {out}', file=sys.stderr)
        elif out != asked:
            print(f'keeping the run in {asked} (finished, or of other settings); training a new run in {out}',
                  file=sys.stderr)
    if given.get('kvstore', 'device') != 'device' and 'DMLC_ROLE' not in os.environ:
        raise ConfigError('kvstore', f"{given['kvstore']} trains as one worker of a job: start the job with "
                                     f"gluon-d2l launch -n WORKERS -- train --kvstore {given['kvstore']} ...")
    progress = Progress()
    try:
        if args.resume is not None:
            result = jobs.resume(out, given, on_epoch=progress, prefixes=args.prefix)
        else:
            result = jobs.train(TrainConfig(**given), out, on_epoch=progress, prefixes=args.prefix)
    except KeyboardInterrupt:
        progress.close()
        print(f'\ninterrupted; the last checkpoint is kept. Resume with: gluon-d2l train --resume {shlex.quote(out)}',
              file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        progress.close()
    last = result.rows[-1] if result.rows else dict(perplexity=None, tokens_per_sec=None)
    where = result.devices[0] if len(result.devices) == 1 else ','.join(str(d) for d in result.devices)
    print(f'perplexity {_fmt(last["perplexity"], 1)}, {_fmt(last["tokens_per_sec"], 1)} tokens/sec on {where}')
    for text in result.samples.values():
        print(text)
    if result.skipped_steps:
        print(f'{result.skipped_steps} steps were skipped over the run: their gradient was not finite',
              file=sys.stderr)
    print(f'run directory: {out}', file=sys.stderr)
    return 0


def _predict(args):
    from . import jobs
    args.run_flag, args.run_path = '--run', args.run
    if args.seed is not None and args.temperature is None:
        raise ConfigError('seed', 'sets the random draws of --temperature sampling; without --temperature '
                                  'the choice is greedy')
    for text in jobs.predict(args.run, args.prefix, args.num_preds, args.temperature, args.seed, args.device):
        print(text)
    return 0


def _launch(args):
    from .launcher import launch
    for name, low, high in (('workers', 1, 64), ('servers', 1, 64)):
        if not low <= getattr(args, name) <= high:
            raise ConfigError(name, f'expected {low} to {high}, got {getattr(args, name)}')
    if not 0 < args.timeout < float('inf'):
        raise ConfigError('timeout', f'expected a positive number of seconds, got {args.timeout}')
    worker_args = args.worker_args[1:] if args.worker_args[:1] == ['--'] else args.worker_args
    if not worker_args:
        raise ConfigError('worker_args', 'give the workers\' command after "--", e.g. -- train --kvstore dist_sync')
    kvstore = [b for a, b in zip(worker_args, worker_args[1:]) if a == '--kvstore'] + \
        [a.split('=', 1)[1] for a in worker_args if a.startswith('--kvstore=')]
    if worker_args[0] != 'train' or not kvstore or kvstore[-1] == 'device':
        raise ConfigError('worker_args', 'the workers must run "train --kvstore dist_sync ..." (without it every '
                                         'worker would train its own model into the same --out)')
    check_worker_command(worker_args)
    return launch(worker_args, args.workers, args.servers, args.timeout)


def check_worker_command(worker_args):
    """Check the workers' ``train`` command before any process starts: its options, its settings and
    the run directory that rank 0 writes (a bad one is the ``ConfigError`` the worker would raise)."""
    from .rundir import check_new
    worker = build_parser(worker_args).parse_args(worker_args)
    if worker.resume is not None:
        raise ConfigError('worker_args', 'a dist_sync run cannot be resumed; give the workers a new --out')
    try:
        TrainConfig(**_given(worker, TrainConfig.options()))
        check_new(worker.out if worker.out is not None else DEFAULT_OUT)
    except ConfigError as err:
        raise ConfigError('out' if err.subject == 'run' else err.subject,
                          f'{err} (in the workers\' command)') from None


def _option(err, args):
    """The option (or variable) a ``ConfigError`` is about."""
    subject = err.subject
    if subject in ('run', 'config'):
        return getattr(args, 'run_flag', '--run')
    if subject == DATA_ENV or subject in _mxnet_env.THREAD_COUNT_ENV:
        return subject
    if subject == 'worker_args':
        return 'launch'
    return flag(subject)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f'gluon-d2l: warning: {message}', file=sys.stderr if file is None else file)


def owns_its_threads(args, argv, environ):
    """Whether this command restarts itself with the program's thread defaults (:mod:`.threads`).

    Only a long command (its parser sets ``thread_defaults``) started as a process (``argv`` is
    ``None``: not a call of :func:`main` from Python code), and not a worker of a ``dist_sync`` job,
    which shares the machine with the job's other processes and keeps MXNet's defaults.
    """
    return argv is None and getattr(args, 'thread_defaults', False) and 'DMLC_ROLE' not in environ


def main(argv=None):
    """Entry point of the ``gluon-d2l`` console script."""
    import warnings
    try:
        threads.check_environment()     # before MXNet loads: it aborts the process on these
    except ConfigError as err:
        print(f'gluon-d2l: error: {err.subject}: {err}', file=sys.stderr)
        return EXIT_USAGE
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _main(argv)


def _main(argv):
    from .. import numpy_compat
    numpy_compat.install()
    from mxnet import npx
    npx.set_np()
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        if owns_its_threads(args, argv, os.environ):
            threads.reexec_with_defaults()
        return args.handler(args)
    except ConfigError as err:
        from .rundir import RunExistsError
        message = ' '.join(str(err).split())
        if isinstance(err, RunExistsError):
            message += f': continue it with --resume {shlex.quote(str(args.run_path))}, or choose another --out'
        if getattr(args, 'resume', None) is not None and err.subject in TrainConfig.names() \
                and err.subject not in RESUMABLE:
            message += f' (on --resume only {", ".join(flag(n) for n in RESUMABLE)} may change)'
        print(f'gluon-d2l: error: {_option(err, args)}: {message}', file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:  # a full disk, a read-only directory: say so in one line
        where = ' '.join(str(part) for part in (getattr(args, 'run_flag', None), getattr(args, 'run_path', None))
                         if part)
        print(f'gluon-d2l: error: {where + ": " if where else ""}{err.strerror or err}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('\ngluon-d2l: interrupted', file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == '__main__':
    sys.exit(main())
