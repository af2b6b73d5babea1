"""The ``gluon-d2l`` command line: ``train``, ``predict``, ``parity``, ``bench`` and ``launch``.

Bad input ends with one line, ``gluon-d2l: error: ...`` naming the option, and
exit status 2; an interrupted ``train`` keeps its last checkpoint and says how
to resume.
"""
import argparse
import pathlib
import sys

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

TRAIN_DEFAULTS = dict(model='hybrid', epochs=500, lr=1.0, batch_size=32, num_steps=35, hiddens=512,
                      random_iter=False, clip=1.0, device='auto', seed=0, max_tokens=10000, corpus=None,
                      kvstore='device')


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit with status 2."""

    def error(self, message):
        self.exit(EXIT_USAGE, f'gluon-d2l: error: {message} (see {self.prog} --help)\n')


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'expected a positive {kind.__name__}, got {text!r}') from None
        if not value > 0 or value == float('inf'):
            raise argparse.ArgumentTypeError(f'expected a positive {kind.__name__}, got {text!r}')
        return value
    return parse


def _add_train(sub):
    p = sub.add_parser('train', help='train the char-level RNN language model',
                       description='Train a character-level RNN on The Time Machine (or --corpus) and '
                                   'print the seeds\' summary: perplexity, tokens/sec and two predictions.')
    p.add_argument('--model', choices=('scratch', 'hybrid', 'concise'),
                   help='scratch: d2l functions; hybrid: the same math as one hybridized graph (default); '
                        'concise: gluon.rnn.RNN + Dense')
    p.add_argument('--epochs', type=_positive(int), help='epochs to train in total (default 500)')
    p.add_argument('--lr', type=_positive(float), help='SGD learning rate (default 1)')
    p.add_argument('--batch-size', dest='batch_size', type=_positive(int), help='sequences per minibatch (32)')
    p.add_argument('--num-steps', dest='num_steps', type=_positive(int), help='time steps per sequence (35)')
    p.add_argument('--hiddens', type=_positive(int), help='hidden units (512)')
    p.add_argument('--random-iter', dest='random_iter', action='store_const', const=True,
                   help='random sampling instead of sequential partitioning')
    p.add_argument('--clip', type=_positive(float), help='gradient clipping threshold theta (1)')
    p.add_argument('--device', help="auto (GPU if present), cpu, cpu:N, gpu:N, or a comma list for "
                                    "data-parallel training (default auto)")
    p.add_argument('--seed', type=int, help='random seed (0)')
    p.add_argument('--max-tokens', dest='max_tokens', type=int,
                   help='use only the first N tokens of the corpus; -1 for all (10000, as the seeds)')
    p.add_argument('--corpus', help='train on this UTF-8 text file instead of The Time Machine')
    p.add_argument('--kvstore', help="'device' (default; one process) or 'dist_sync': one worker of a job "
                                     "on MXNet's parameter server, started by 'gluon-d2l launch'")
    p.add_argument('--out', default='runs/char-rnn', help='run directory to write (default runs/char-rnn)')
    p.add_argument('--resume', metavar='DIR',
                   help='continue the run in DIR from its last checkpoint (--epochs may raise the total)')
    p.add_argument('--log-every', dest='log_every', type=_positive(int), default=10,
                   help='without a terminal, print a progress line every N epochs (10)')
    p.add_argument('--checkpoint-every', dest='checkpoint_every', type=_positive(int), default=1,
                   help='write a checkpoint every N epochs (1)')
    p.set_defaults(handler=_train)


def _add_predict(sub):
    p = sub.add_parser('predict', help='generate text with a trained run',
                       description='Continue a prefix with the model saved in a run directory.')
    p.add_argument('--run', required=True, metavar='DIR', help='run directory written by train')
    p.add_argument('--prefix', default='time traveller', help='text to continue (default "time traveller")')
    p.add_argument('--num-preds', dest='num_preds', type=_positive(int), default=50,
                   help='characters to generate (50)')
    p.add_argument('--temperature', type=_positive(float),
                   help='sample from p**(1/T) instead of taking the argmax; T<1 sharpens')
    p.add_argument('--seed', type=int, default=None, help='seed for --temperature sampling')
    p.add_argument('--device', default='cpu', help='cpu, cpu:N or gpu:N (default cpu)')
    p.set_defaults(handler=_predict)


def _add_parity(sub):
    from parity import cli as parity_cli
    p = sub.add_parser('parity', help='check MXNet against PyTorch/TensorFlow/JAX references',
                       description='Run every parity case with the same weights and inputs through MXNet and '
                                   'the reference frameworks (PyTorch, TensorFlow, JAX) and report the errors.')
    parity_cli.add_arguments(p)
    p.set_defaults(handler=parity_cli.run)


def _add_bench(sub):
    p = sub.add_parser('bench', help='training throughput of every RNN variant and its peers',
                       description='Measure tokens/s of the seed\'s MXNet loop, each gluon_d2l model and the '
                                   'PyTorch/TensorFlow references in one process, against a GEMM roofline.')
    p.add_argument('--epochs', type=_positive(int), default=3, help='timed epochs per variant (3)')
    p.add_argument('--hiddens', type=_positive(int), default=512, help='hidden units (512)')
    p.add_argument('--batch-size', dest='batch_size', type=_positive(int), default=32, help='batch size (32)')
    p.add_argument('--num-steps', dest='num_steps', type=_positive(int), default=35, help='time steps (35)')
    p.add_argument('--no-peers', dest='no_peers', action='store_true', help='skip PyTorch/TensorFlow')
    p.add_argument('--sweep', action='store_true',
                   help='instead: tokens/s and RSS of the hybrid model vs hiddens, batch size and steps')
    p.add_argument('--json', help='write the results as JSON here')
    p.add_argument('--png', help='write a bar chart here')
    p.set_defaults(handler=lambda args: __import__('gluon_d2l.bench', fromlist=['run']).run(args))


def _add_launch(sub):
    p = sub.add_parser('launch', help='run a dist_sync job (scheduler, servers, workers) on this machine',
                       description='Start a scheduler, SERVERS parameter servers and WORKERS workers on the '
                                   'loopback address, each worker running the gluon-d2l command after "--" '
                                   '(e.g. "train --kvstore dist_sync ..."). Output is prefixed by role; the '
                                   'first failure stops every process and gives the exit status.')
    p.add_argument('-n', '--workers', type=_positive(int), required=True, help='number of workers')
    p.add_argument('-s', '--servers', type=_positive(int), default=1, help='number of servers (1)')
    p.add_argument('--timeout', type=_positive(float), default=3600, help='seconds before the job is stopped')
    p.add_argument('worker_args', nargs=argparse.REMAINDER, help='-- then the gluon-d2l command of each worker')
    p.set_defaults(handler=_launch)


def _launch(args):
    from . import jobs
    from .launcher import launch
    worker_args = args.worker_args[1:] if args.worker_args[:1] == ['--'] else args.worker_args
    if not worker_args:
        raise jobs.UsageError('launch: give the workers\' command after "--", e.g. -- train --kvstore dist_sync')
    return launch(worker_args, args.workers, args.servers, args.timeout)


def build_parser():
    """The ``gluon-d2l`` argument parser."""
    parser = Parser(prog='gluon-d2l', description='d2l\'s char-RNN chapter on MXNet Gluon 1.9.1: train, '
                                                  'generate text, and check parity with other frameworks.')
    sub = parser.add_subparsers(dest='command', required=True, parser_class=Parser)
    _add_train(sub)
    _add_predict(sub)
    _add_parity(sub)
    _add_bench(sub)
    _add_launch(sub)
    return parser


def _train_config(args):
    from . import jobs
    if args.resume:
        config, _ = jobs.read_run(args.resume)
        config = dict(TRAIN_DEFAULTS, **config)
        config['epochs'] = args.epochs or config['epochs']
        return config, pathlib.Path(args.resume)
    out = pathlib.Path(args.out)
    if (out / 'config.json').exists():
        raise jobs.UsageError(f'--out {str(out)!r} already holds a run: use --resume {out} or another --out')
    config = {key: getattr(args, key) if getattr(args, key) is not None else default
              for key, default in TRAIN_DEFAULTS.items()}
    if config['corpus'] is not None:
        config['corpus'] = str(pathlib.Path(config['corpus']).resolve())
    return config, out


def _train(args):
    from . import jobs
    from .devices import parse_devices
    config, out = _train_config(args)
    try:
        devices = parse_devices(config['device'])
    except ValueError as err:
        raise jobs.UsageError(f'--device: {err}') from None
    if config['model'] == 'scratch' and len(devices) > 1:
        raise jobs.UsageError('--model scratch trains on one device; use --model hybrid or concise '
                              'with several --device entries')
    if config['kvstore'] not in ('device', 'local') and not config['kvstore'].startswith('dist'):
        raise jobs.UsageError(f"--kvstore {config['kvstore']!r}: expected device or dist_sync")
    if config['kvstore'].startswith('dist') and (config['model'] == 'scratch' or args.resume):
        raise jobs.UsageError('--kvstore dist_sync trains a new hybrid or concise model (no scratch, no --resume)')
    if config['batch_size'] % len(devices):
        raise jobs.UsageError(f'--batch-size {config["batch_size"]} must divide evenly over '
                              f'{len(devices)} devices')
    try:
        net, vocab, devices, ppl, speed = jobs.train(config, out, resume=bool(args.resume),
                                                     log_every=args.log_every,
                                                     checkpoint_every=args.checkpoint_every)
    except KeyboardInterrupt:
        print(f'\ninterrupted; the last checkpoint is kept. Resume with: gluon-d2l train --resume {out}',
              file=sys.stderr)
        return EXIT_INTERRUPTED
    where = devices[0] if len(devices) == 1 else ','.join(str(d) for d in devices)
    print(f'perplexity {ppl:.1f}, {speed:.1f} tokens/sec on {where}')
    from .training import predict_ch8
    for prefix in jobs.PREDICTION_PREFIXES:
        print(predict_ch8(prefix, 50, net, vocab, devices[0]))
    print(f'run directory: {out}', file=sys.stderr)
    return 0


def _predict(args):
    from . import jobs
    print(jobs.predict(args.run, args.prefix, args.num_preds, args.temperature, args.seed, args.device))
    return 0


def main(argv=None):
    """Entry point of the ``gluon-d2l`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from .jobs import UsageError
    try:
        return args.handler(args)
    except UsageError as err:
        print(f'gluon-d2l: error: {err}', file=sys.stderr)
        return EXIT_USAGE


if __name__ == '__main__':
    sys.exit(main())
