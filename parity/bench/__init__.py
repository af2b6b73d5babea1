"""``gluon-d2l bench``: training throughput of every RNN variant and its peers.

Each variant runs the d2l chapter's workload (vocab 28, batch 32, 35 steps, 512 hiddens,
SGD lr 1, global-norm clipping at 1) over the same minibatches: a warm-up epoch,
then timed ones. Peers (PyTorch, TensorFlow) are measured if installed. The
float32 GEMM rate measured here gives a roofline: a training step costs about
three times the forward FLOPs, ``2 * (H*H + H*V)`` per token. MXNet variants run
in this process, each peer framework in a child process of its own: measured here,
importing PyTorch and TensorFlow into MXNet's process cut MXNet's throughput by a
third (their thread pools compete for the two cores).
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as onp

from gluon_d2l.data import load_data_time_machine  # first: gluon_d2l makes MXNet importable on new NumPy
from gluon_d2l.models import build_model
from gluon_d2l.training import make_updater, train_epoch_ch8

import mxnet as mx
from mxnet import autograd, gluon

from . import peers as bench_peers

CHAPTER_VARIANT = 'd2l chapter scratch (imperative MXNet)'


def gemm_gflops(n=512, rows=1120, repeats=50):
    """Measured float32 GEMM rate (GFLOP/s) of a ``(rows, n) @ (n, n)`` product, NumPy's BLAS."""
    a, b = onp.random.rand(rows, n).astype('float32'), onp.random.rand(n, n).astype('float32')
    a @ b
    tic = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * rows * n * n * repeats / (time.perf_counter() - tic) / 1e9


def _rss_mib():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


def _chapter_epoch(net, batches, lr, theta):
    """The d2l chapter's imperative MXNet loop: per-parameter host syncs in clipping and accounting."""
    loss, state, total = gluon.loss.SoftmaxCrossEntropyLoss(), None, 0.0
    for X, Y in batches:
        state = net.begin_state(X.shape[0], mx.cpu()) if state is None else state
        for s in state:
            s.detach()
        with autograd.record():
            y_hat, state = net(X, state)
            l = loss(y_hat, Y.T.reshape(-1)).mean()
        l.backward()
        norm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in net.params))
        if norm > theta:
            for p in net.params:
                p.grad[:] *= theta / norm
        for p in net.params:
            p[:] = p - lr * p.grad
        total += float(l) * Y.size


def mxnet_variants(batches, vocab_size, hiddens):
    """``{name: run_one_epoch}`` for the chapter's loop and each gluon_d2l model."""
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    chapter_net = build_model('scratch', vocab_size, hiddens, [mx.cpu()])
    variants = {CHAPTER_VARIANT: lambda: _chapter_epoch(chapter_net, batches, 1.0, 1.0)}
    for kind in ('scratch', 'hybrid', 'concise'):
        net = build_model(kind, vocab_size, hiddens, [mx.cpu()])
        updater, _ = make_updater(net, 1.0, mx.cpu())
        variants[f'gluon_d2l {kind}'] = (lambda net=net, updater=updater: train_epoch_ch8(
            net, batches, loss, updater, mx.cpu(), False))
    return variants


def peer_speeds(batches, vocab_size, hiddens, epochs):
    """``{variant: tokens/s}`` of the PyTorch, TensorFlow and JAX references, one child process each.

    ``$GLUON_D2L_BENCH_PYTHON_JAX`` (likewise ``_TORCH``, ``_TENSORFLOW``) names another Python for a
    framework, e.g. one with JAX and NumPy 2 that MXNet's environment cannot hold. A framework that is
    not installed is left out, with a note on stderr.
    """
    speeds = {}
    with tempfile.TemporaryDirectory() as tmp:
        batches_file = os.path.join(tmp, 'batches.npz')
        onp.savez(batches_file, X=onp.stack([X.asnumpy() for X, _ in batches]),
                  Y=onp.stack([Y.asnumpy() for _, Y in batches]))
        for framework in bench_peers.PEERS:
            python = os.environ.get(f'GLUON_D2L_BENCH_PYTHON_{framework.upper()}', sys.executable)
            done = subprocess.run([python, bench_peers.__file__, framework, batches_file, str(vocab_size),
                                   str(hiddens), str(epochs)], capture_output=True, text=True,
                                  env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
            if done.returncode:
                print(f'bench: {framework} not measured: {done.stderr.strip().splitlines()[-1]}', file=sys.stderr)
                continue
            speeds.update(json.loads(done.stdout.strip().splitlines()[-1]))
    return speeds


def measure(epochs=3, hiddens=512, batch_size=32, num_steps=35, max_tokens=10000, peers=True):
    """Run every variant in one command; return the result rows and the roofline.

    MXNet variants run in this process; each peer framework in a child process.
    """
    train_iter, vocab = load_data_time_machine(batch_size, num_steps, max_tokens=max_tokens)
    batches = list(train_iter)
    tokens = sum(Y.size for _, Y in batches)
    flops_per_token = 3 * 2 * (hiddens * hiddens + hiddens * len(vocab))
    gflops = gemm_gflops(hiddens)
    roofline = gflops * 1e9 / flops_per_token
    rows = []
    for name, run_epoch in mxnet_variants(batches, len(vocab), hiddens).items():
        speed = bench_peers.time_epochs(run_epoch, epochs, tokens, sync=mx.nd.waitall)
        rows.append(dict(variant=name, tokens_per_sec=speed, rss_mib=_rss_mib()))
    if peers:
        rows += [dict(variant=name, tokens_per_sec=speed, rss_mib=float('nan'))
                 for name, speed in peer_speeds(batches, len(vocab), hiddens, epochs).items()]
    best_peer = max((r['tokens_per_sec'] for r in rows if not r['variant'].startswith(('gluon_d2l', 'd2l chapter'))),
                    default=float('nan'))
    chapter = next(r['tokens_per_sec'] for r in rows if r['variant'] == CHAPTER_VARIANT)
    for r in rows:
        r.update(vs_best_peer=r['tokens_per_sec'] / best_peer, vs_chapter=r['tokens_per_sec'] / chapter,
                 vs_roofline=r['tokens_per_sec'] / roofline)
    return rows, dict(gemm_gflops=gflops, roofline_tokens_per_sec=roofline, hiddens=hiddens,
                      batch_size=batch_size, num_steps=num_steps, epochs=epochs)


SWEEP = [dict(hiddens=h) for h in (128, 256, 512, 1024)] + [dict(batch_size=b) for b in (64, 128, 256)] \
    + [dict(num_steps=t) for t in (70, 140)]


def sweep(epochs=2, model='hybrid'):
    """Tokens/s and RSS of one model as hiddens, batch size and steps vary from the chapter's setting."""
    rows = []
    for change in [{}] + SWEEP:
        setting = dict(dict(hiddens=512, batch_size=32, num_steps=35), **change)
        train_iter, vocab = load_data_time_machine(setting['batch_size'], setting['num_steps'], max_tokens=20000)
        batches = list(train_iter)
        run_epoch = mxnet_variants(batches, len(vocab), setting['hiddens'])[f'gluon_d2l {model}']
        speed = bench_peers.time_epochs(run_epoch, epochs, sum(Y.size for _, Y in batches), sync=mx.nd.waitall)
        rows.append(dict(setting, tokens_per_sec=speed, rss_mib=_rss_mib()))
        print(f"hiddens {setting['hiddens']:5d}  batch {setting['batch_size']:4d}  steps {setting['num_steps']:4d}: "
              f"{speed:9.0f} tokens/s  RSS {rows[-1]['rss_mib']:.0f} MiB", flush=True)
    return rows


def markdown_table(rows):
    """The results as a Markdown table."""
    lines = ['| variant | tokens/s | × chapter | × best peer | of roofline | RSS MiB (MXNet process) |',
             '|---|---|---|---|---|---|']
    for r in rows:
        lines.append(f"| {r['variant']} | {r['tokens_per_sec']:.0f} | {r['vs_chapter']:.2f} | "
                     f"{r['vs_best_peer']:.2f} | {r['vs_roofline']:.2f} | {r['rss_mib']:.0f} |")
    return '\n'.join(lines)


def bar_chart(rows, meta, path):
    """Save a horizontal bar chart of tokens/s, with the roofline as a line."""
    import matplotlib
    import matplotlib.ticker
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    ax.barh([r['variant'] for r in rows], [r['tokens_per_sec'] for r in rows], color='tab:blue')
    ax.axvline(meta['roofline_tokens_per_sec'], color='tab:red', linestyle='--', label='GEMM roofline')
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f'{x / 1000:.0f}k'))
    ax.set_xlabel('tokens/s (training)')
    ax.invert_yaxis()
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def register(subparsers):
    """Add ``bench`` to the ``gluon-d2l`` command line."""
    p = subparsers.add_parser('bench', help='training throughput of every RNN variant and its peers',
                              description="Measure tokens/s of the d2l chapter's MXNet loop, each gluon_d2l model "
                                          'and the PyTorch/TensorFlow/JAX references (each in its own process), '
                                          'against a GEMM roofline.')
    p.add_argument('--epochs', type=int, default=3, help='timed epochs per variant (3)')
    p.add_argument('--hiddens', type=int, default=512, help='hidden units (512)')
    p.add_argument('--batch-size', dest='batch_size', type=int, default=32, help='batch size (32)')
    p.add_argument('--num-steps', dest='num_steps', type=int, default=35, help='time steps (35)')
    p.add_argument('--no-peers', dest='no_peers', action='store_true', help='skip PyTorch/TensorFlow/JAX')
    p.add_argument('--sweep', action='store_true',
                   help='instead: tokens/s and RSS of the hybrid model vs hiddens, batch size and steps')
    p.add_argument('--json', help='write the results as JSON here')
    p.add_argument('--png', help='write a bar chart here')
    p.set_defaults(handler=run)


def _check(args):
    """One line naming the option, before anything is measured."""
    for name in ('epochs', 'hiddens', 'batch_size', 'num_steps'):
        if not 1 <= getattr(args, name) <= 1 << 14:
            return f"--{name.replace('_', '-')}: expected 1 to {1 << 14}, got {getattr(args, name)}"
    for name in ('json', 'png'):
        path = getattr(args, name)
        if path is not None and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            return f'--{name}: {path!r}: no such directory'
    return None


def run(args):
    """The ``bench`` subcommand: print the table, optionally write JSON and a PNG."""
    problem = _check(args)
    if problem:
        print(f'gluon-d2l bench: error: {problem}', file=sys.stderr)
        return 2
    if args.sweep:
        rows = sweep()
        if args.json:
            with open(args.json, 'w') as f:
                json.dump(rows, f, indent=2)
        return 0
    rows, meta = measure(epochs=args.epochs, hiddens=args.hiddens, batch_size=args.batch_size,
                         num_steps=args.num_steps, peers=not args.no_peers)
    print(f"float32 GEMM {meta['gemm_gflops']:.1f} GFLOP/s -> roofline "
          f"{meta['roofline_tokens_per_sec']:.0f} tokens/s")
    print(markdown_table(rows))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(meta, rows=rows), f, indent=2)
    if args.png:
        bar_chart(rows, meta, args.png)
    return 0
