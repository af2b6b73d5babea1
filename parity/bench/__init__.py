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

from gluon_d2l.program import files, threads
from gluon_d2l.program.config import MAX_HIDDENS, MAX_SIZE, ConfigError
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


def before_variants(batches, vocab_size, hiddens):
    """The hybrid and concise models on the step as it was before the device-side skip: the
    gradient norm read to the host every step (the updater is not marked ``zero_gradient_is_skip``)
    and each input copied to the host for its id check (the batches carry no id range)."""
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    plain = [(mx.np.array(X.asnumpy(), dtype=X.dtype), mx.np.array(Y.asnumpy(), dtype=Y.dtype)) for X, Y in batches]
    variants = {}
    for kind in ('hybrid', 'concise'):
        net = build_model(kind, vocab_size, hiddens, [mx.cpu()])
        marked, _ = make_updater(net, 1.0, mx.cpu())
        variants[f'gluon_d2l {kind} (before: host read per step)'] = (
            lambda net=net, step=(lambda batch_size, marked=marked: marked(batch_size)): train_epoch_ch8(
                net, plain, loss, step, mx.cpu(), False))
    return variants


class PeerProcess:
    """One framework's variants in a child process (``peers.py``), timed on request."""

    def __init__(self, framework, batches_file, vocab_size, hiddens):
        python = os.environ.get(f'GLUON_D2L_BENCH_PYTHON_{framework.upper()}', sys.executable)
        self.framework = framework
        self.stderr = open(f'{batches_file}.{framework}.stderr', 'w+')  # a file: a full pipe would block it
        self.proc = subprocess.Popen([python, bench_peers.__file__, framework, batches_file, str(vocab_size),
                                      str(hiddens)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, env=self.environment())

    @staticmethod
    def environment():
        """The user's environment: without the thread defaults gluon_d2l set for MXNet in this process."""
        return dict(threads.user_environment(), TF_CPP_MIN_LOG_LEVEL='2')

    def ready(self):
        """``(variants, failed, environment)``; ``None`` if the framework could not start."""
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self.stderr.seek(0)
            err = self.stderr.read().strip().splitlines()
            print(f'bench: {self.framework} not measured: {err[-1] if err else "no output"}', file=sys.stderr)
            return None
        hello = json.loads(line)
        for name, why in hello['failed'].items():
            print(f'bench: {name} not measured: {why}', file=sys.stderr)
        return hello['ready'], hello['failed'], hello['environment']

    def time(self, variant, epochs):
        self.proc.stdin.write(f'{variant} {epochs}\n')
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())['tokens_per_sec']

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.write('\n')
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)
        self.stderr.close()


def _cpu_model():
    try:
        with open('/proc/cpuinfo') as f:
            return next(ln.split(':', 1)[1].strip() for ln in f if ln.startswith('model name'))
    except (OSError, StopIteration):
        import platform
        return platform.processor() or 'unknown'


def _numpy_blas():
    """NumPy's BLAS as threadpoolctl reports it (if installed), else NumPy's build config."""
    try:
        from threadpoolctl import threadpool_info
        return threadpool_info()
    except ImportError:
        import contextlib
        import io
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            onp.show_config()
        return [ln.strip() for ln in out.getvalue().splitlines() if 'libraries' in ln or 'blas' in ln.lower()][:6]


def openblas_builds():
    """``{library path: (core, config)}`` of every OpenBLAS loaded in this process (MXNet bundles its own,
    NumPy another): the core it picked at run time (``DYNAMIC_ARCH``) decides which GEMM kernels run."""
    import ctypes
    found = {}
    with open('/proc/self/maps') as f:
        paths = sorted({ln.split()[-1] for ln in f if 'openblas' in ln.lower() and ln.split()[-1].startswith('/')})
    for path in paths:
        lib = ctypes.CDLL(path)
        for suffix in ('', '64_'):
            try:
                core = getattr(lib, f'openblas_get_corename{suffix}')
                config = getattr(lib, f'openblas_get_config{suffix}')
            except AttributeError:
                continue
            core.restype = config.restype = ctypes.c_char_p
            found[os.path.basename(path)] = dict(core=core().decode(), config=config().decode().strip())
            break
    return found


#: environment variables that set threads, placement or kernels, recorded in the JSON
THREAD_ENV = ('OMP_', 'KMP_', 'GOMP_', 'MXNET_', 'MKL_', 'OPENBLAS_', 'XLA_', 'TF_ENABLE_ONEDNN_OPTS',
              'TF_NUM_INTRAOP_THREADS', 'TF_NUM_INTEROP_THREADS')


def machine():
    """The machine and software the numbers were measured on."""
    import platform
    import gluon_d2l
    features = mx.runtime.Features()
    return dict(cpu=_cpu_model(), cores=os.cpu_count(), cores_usable=len(os.sched_getaffinity(0)),
                python=platform.python_version(), mxnet=mx.__version__, numpy=onp.__version__,
                gluon_d2l=getattr(gluon_d2l, '__version__', 'checkout'),
                mxnet_features=sorted(name for name, f in features.items() if f.enabled),
                mxnet_blas=[name for name in ('BLAS_OPEN', 'BLAS_ATLAS', 'BLAS_MKL', 'BLAS_APPLE', 'MKLDNN')
                            if features.is_enabled(name)],
                numpy_blas=_numpy_blas(), openblas=openblas_builds(),
                thread_env={k: v for k, v in sorted(os.environ.items()) if k.startswith(THREAD_ENV)},
                thread_defaults_by_gluon_d2l=threads.applied(),
                loadavg_before=os.getloadavg())


def _summary(samples):
    ordered = sorted(samples)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return dict(tokens_per_sec=median, min=ordered[0], max=ordered[-1], samples=samples)


def paired_ratio(samples, reference):
    """The median over the rounds of ``samples[i] / reference[i]`` (NaN without a reference).

    Why not the ratio of the two medians: the variants of one round run within a minute of each
    other, while this machine's speed drifts by a quarter between minutes (other tenants): the
    ratio within a round cancels the drift that the medians keep.
    """
    if not reference:
        return float('nan')
    return _summary([a / b for a, b in zip(samples, reference)])['tokens_per_sec']


def is_peer(variant):
    return not variant.startswith(('gluon_d2l', 'd2l chapter'))


def measure(epochs=3, hiddens=512, batch_size=32, num_steps=35, max_tokens=10000, peers=True, repeats=5,
            progress=True):
    """Time every variant in ``repeats`` interleaved rounds (A B C ... A B C ...); return rows and meta.

    MXNet variants run in this process; each peer framework in a child process that stays up for
    the whole run and trains only when asked, so one variant runs at a time. Every variant is
    warmed up once first. A row's ``tokens_per_sec`` is the median over the rounds, with ``min``,
    ``max`` and every ``samples``; the GEMM rate is measured once per round, its median gives the
    roofline.
    """
    about = machine()
    train_iter, vocab = load_data_time_machine(batch_size, num_steps, max_tokens=max_tokens)
    batches = list(train_iter)
    tokens = sum(Y.size for _, Y in batches)
    flops_per_token = 3 * 2 * (hiddens * hiddens + hiddens * len(vocab))
    timers = {}
    for name, run_epoch in dict(mxnet_variants(batches, len(vocab), hiddens),
                                **before_variants(batches, len(vocab), hiddens)).items():
        timers[name] = (lambda run_epoch=run_epoch: bench_peers.timed(run_epoch, epochs, tokens, mx.nd.waitall))
        run_epoch()  # warm-up
    mx.nd.waitall()
    children, peer_env, tmp = [], {}, tempfile.mkdtemp(prefix='gluon-d2l-bench-')
    try:
        if peers:
            batches_file = os.path.join(tmp, 'batches.npz')
            onp.savez(batches_file, X=onp.stack([X.asnumpy() for X, _ in batches]),
                      Y=onp.stack([Y.asnumpy() for _, Y in batches]))
            children = [PeerProcess(fw, batches_file, len(vocab), hiddens) for fw in bench_peers.PEERS]
            for child in children:
                hello = child.ready()
                if hello is None:
                    continue
                names, failed, env = hello
                peer_env[child.framework] = dict(env, not_measured=failed)
                for name in names:
                    timers[name] = (lambda child=child, name=name: child.time(name, epochs))
        samples, gemm = {name: [] for name in timers}, []
        for round_ in range(repeats):
            gemm.append(gemm_gflops(hiddens))
            for name, timer in timers.items():
                samples[name].append(timer())
            if progress:
                print(f'bench: round {round_ + 1}/{repeats} done', file=sys.stderr, flush=True)
    finally:
        for child in children:
            child.close()
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    gflops = _summary(gemm)['tokens_per_sec']
    roofline = gflops * 1e9 / flops_per_token
    rows = [dict(variant=name, **_summary(got), rss_mib=_rss_mib() if not is_peer(name) else None)
            for name, got in samples.items()]
    peer_rows = [r for r in rows if is_peer(r['variant'])]
    best_peer = max(peer_rows, key=lambda r: r['tokens_per_sec'])['samples'] if peer_rows else None
    chapter = next(r['samples'] for r in rows if r['variant'] == CHAPTER_VARIANT)
    rooflines = [g * 1e9 / flops_per_token for g in gemm]
    for r in rows:
        r.update(vs_best_peer=paired_ratio(r['samples'], best_peer), vs_chapter=paired_ratio(r['samples'], chapter),
                 vs_roofline=paired_ratio(r['samples'], rooflines))
    about.update(loadavg_after=os.getloadavg(), peers=peer_env)
    return rows, dict(gemm_gflops=gflops, gemm_gflops_samples=gemm, roofline_tokens_per_sec=roofline,
                      hiddens=hiddens, batch_size=batch_size, num_steps=num_steps, epochs=epochs,
                      repeats=repeats, tokens_per_epoch=tokens, machine=about)


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


def profile(epochs=2, hiddens=512, batch_size=32, num_steps=35, max_tokens=10000, top=12):
    """Where a training step of each gluon_d2l model spends its time: MXNet's profiler, per operator.

    ``{model: {'ms_per_step': wall ms, 'operators': [(name, ms per step), ...]}}``, the operators
    sorted by time, ``top`` of them and the rest summed as ``(others)``. A hybridized graph shows as
    one entry per fused segment (e.g. ``RNN,_np_reshape,_np_dot``). The wall time is longer than
    without the profiler, and operators overlap with Python's dispatch of the next ones.
    """
    from mxnet import profiler
    train_iter, vocab = load_data_time_machine(batch_size, num_steps, max_tokens=max_tokens)
    batches = list(train_iter)
    variants = mxnet_variants(batches, len(vocab), hiddens)
    result = {}
    for name in ('gluon_d2l hybrid', 'gluon_d2l concise'):
        variants[name]()  # warm-up
        mx.nd.waitall()
        with tempfile.TemporaryDirectory(prefix='gluon-d2l-profile-') as tmp:
            profiler.set_config(profile_all=True, aggregate_stats=True, filename=os.path.join(tmp, 'trace.json'))
            profiler.set_state('run')
            tic = time.perf_counter()
            for _ in range(epochs):
                variants[name]()
            mx.nd.waitall()
            wall = time.perf_counter() - tic
            profiler.set_state('stop')
            stats = json.loads(profiler.dumps(reset=True, format='json'))
        steps = epochs * len(batches)
        ops = sorted(((op, v['Total'] / steps) for op, v in stats['Time'].get('operator', {}).items()),
                     key=lambda item: -item[1])
        shown = [(op, round(ms, 3)) for op, ms in ops[:top]]
        rest = sum(ms for _, ms in ops[top:])
        result[name] = dict(ms_per_step=round(wall / steps * 1e3, 3),
                            operators=shown + [('(others)', round(rest, 3))])
    return result


def print_profile(result):
    for name, got in result.items():
        total = sum(ms for _, ms in got['operators'])
        print(f"{name}: {got['ms_per_step']:.1f} ms per step (wall, under the profiler); operators "
              f"{total:.1f} ms per step")
        for op, ms in got['operators']:
            print(f'  {ms:8.2f} ms  {ms / total:6.1%}  {op}')


def _ratio(x):
    return '' if x is None or x != x else f'{x:.2f}'


def markdown_table(rows):
    """The results as a Markdown table: medians, and the range over the rounds."""
    lines = ['| variant | tokens/s (median) | min–max | × chapter | × best peer | of roofline |',
             '|---|---|---|---|---|---|']
    for r in rows:
        lines.append(f"| {r['variant']} | {r['tokens_per_sec']:.0f} | {r['min']:.0f}–{r['max']:.0f} | "
                     f"{_ratio(r['vs_chapter'])} | {_ratio(r['vs_best_peer'])} | {_ratio(r['vs_roofline'])} |")
    return '\n'.join(lines)


def bar_chart(rows, meta, path):
    """Save a horizontal bar chart of the median tokens/s, the min–max range as error bars,
    the GEMM roofline as a line; ``path`` is a file name (replaced atomically) or a binary file."""
    import matplotlib
    import matplotlib.ticker
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(rows) + 1.4))
    med = [r['tokens_per_sec'] for r in rows]
    err = [[m - r['min'] for m, r in zip(med, rows)], [r['max'] - m for m, r in zip(med, rows)]]
    colors = ['tab:gray' if is_peer(r['variant']) else 'tab:blue' for r in rows]
    ax.barh([r['variant'] for r in rows], med, xerr=err, color=colors, capsize=3)
    ax.axvline(meta['roofline_tokens_per_sec'], color='tab:red', linestyle='--', label='GEMM roofline')
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f'{x / 1000:.0f}k'))
    ax.set_xlabel(f"tokens/s (training; median of {meta['repeats']} interleaved rounds, bars: min–max)")
    ax.invert_yaxis()
    ax.legend(loc='lower right')
    fig.tight_layout()
    try:
        if isinstance(path, (str, os.PathLike)):
            with files.atomic_open(path) as f:
                fig.savefig(f, format='png', dpi=100)
        else:
            fig.savefig(path, format='png', dpi=100)
    finally:
        plt.close(fig)


#: the section that ``--render`` rewrites (in docs/benchmarks.md) lies between these two lines
RENDER_BEGIN = '<!-- gluon-d2l bench --render: begin (generated from the JSON, do not edit) -->'
RENDER_END = '<!-- gluon-d2l bench --render: end -->'


def fastest(rows, prefix='gluon_d2l '):
    return max((r for r in rows if r['variant'].startswith(prefix) and '(before' not in r['variant']),
               key=lambda r: r['tokens_per_sec'])


def targets(rows):
    """The issue's targets, each as ``(text, met)``, from the rows' (paired) ratios."""
    best = fastest(rows)
    hybrid = next(r for r in rows if r['variant'] == 'gluon_d2l hybrid')
    return [(f"fastest gluon_d2l path ({best['variant']}) ≥ 1.10× the best peer: "
             f"{best['vs_best_peer']:.2f}×", best['vs_best_peer'] >= 1.10),
            (f"fastest path ≥ 0.8 of the GEMM roofline: {best['vs_roofline']:.2f}", best['vs_roofline'] >= 0.8),
            (f"hybrid ≥ 3× the chapter's imperative loop: {hybrid['vs_chapter']:.2f}×", hybrid['vs_chapter'] >= 3),
            (f"hybrid ≥ 1.0× the best peer: {hybrid['vs_best_peer']:.2f}×", hybrid['vs_best_peer'] >= 1.0)]


def render_markdown(result, json_path='tests/benchmarks/results/bench.json',
                    png_path='../tests/benchmarks/results/bench.png', markdown='docs/benchmarks.md'):
    """The benchmark section of ``markdown`` (the docs page), from a ``--json`` result; ``png_path`` is
    relative to ``markdown``'s folder, ``json_path`` and ``markdown`` as the command names them."""
    rows, m = result['rows'], result['machine']
    applied = m.get('thread_defaults_by_gluon_d2l', {})
    peers = ', '.join(f"{fw} {env.get('version', '?')}" for fw, env in m.get('peers', {}).items())
    settings = ', '.join(f'{k}={v}' for k, v in m['thread_env'].items() if k not in applied) or 'none'
    settings += f" (set by the user); set by gluon_d2l for MXNet: {', '.join(f'{k}={v}' for k, v in applied.items())}" \
        if applied else ''
    best_peer = max((r for r in rows if is_peer(r['variant'])), key=lambda r: r['tokens_per_sec'], default=None)
    command = ' '.join(w for w in result.get('command', 'gluon-d2l bench').split()
                       if w.split('=', 1)[0] not in applied)
    # before the run only: the load average after it counts the benchmark's own two threads
    load = m['loadavg_before'][0] / m['cores_usable']
    busy = [] if load < 0.5 else [
        f"**The machine was busy** (load average {load:.1f} per usable core before the run): "
        'spinning OpenMP peers collapse under load and the GEMM rate is below a quiet machine\'s, so these '
        'figures are not a valid test of the targets; re-run on a quiet machine.', '']
    lines = [f"Measured by `{command}` → `{json_path}` "
             f"(rendered by `gluon-d2l bench --render {markdown} --json {json_path}`).",
             '',
             f"Machine: {m['cpu']}, {m['cores_usable']} of {m['cores']} cores usable, load average "
             f"{m['loadavg_before'][0]:.2f} before and {m['loadavg_after'][0]:.2f} after; Python {m['python']}, "
             f"MXNet {m['mxnet']} ({', '.join(m['mxnet_blas']) or 'no BLAS feature flag'}), NumPy {m['numpy']}"
             f"{', ' + peers if peers else ''}; thread settings: {settings}.",
             '',
             f"Each variant trains {result['epochs']} epoch(s) of the chapter's workload ({result['tokens_per_epoch']} "
             f"tokens, batch {result['batch_size']} × {result['num_steps']} steps, {result['hiddens']} hiddens) "
             f"per round, after one warm-up epoch; {result['repeats']} rounds, interleaved (every variant once per "
             'round, in turn). Tokens/s: the median and the range over the rounds; the ratio columns: the median '
             "over the rounds of the ratio within a round (to the best peer's, the chapter loop's and the GEMM "
             "roofline's figure of the same round), which cancels the machine's drift between rounds. "
             'The float32 GEMM rate (NumPy) is '
             f"{result['gemm_gflops']:.1f} GFLOP/s (median), a roofline of "
             f"{result['roofline_tokens_per_sec']:.0f} tokens/s at three times the forward FLOPs per token.",
             '']
    best_text = f"; best peer: {best_peer['variant']}, {best_peer['tokens_per_sec']:.0f} tokens/s" if best_peer else ''
    lines += busy + [markdown_table(rows), '', f'![tokens/s per variant]({png_path})', '',
                     f'Against the targets (medians of this run{best_text}):', '']
    lines += [f"- {text}: **{'met' if ok else 'not met'}**" for text, ok in targets(rows)]
    return '\n'.join(lines)


def _shown(path):
    """``path`` relative to the current directory when it lies below it (tox passes absolute paths)."""
    rel = os.path.relpath(os.path.abspath(path))
    return path if rel.startswith('..') else rel.replace(os.sep, '/')


def render_into(readme, result, json_path):
    """Replace the marked section of ``readme`` with :func:`render_markdown`, atomically (the marker
    lines each once and in order, else ``ConfigError('render')``)."""
    png = os.path.relpath(os.path.abspath(os.path.splitext(json_path)[0] + '.png'),
                          os.path.dirname(os.path.abspath(readme)))
    body = render_markdown(result, _shown(json_path), png.replace(os.sep, '/'), _shown(readme))
    files.splice(readme, RENDER_BEGIN, RENDER_END, body, 'render')


MAX_EPOCHS, MAX_REPEATS = 1000, 1000
MAX_TOKENS = 10000  # the characters a measuring run trains on

#: the numbers of a ``--json`` result that ``--render`` reads: top level, machine, each row
RESULT_NUMBERS = ('epochs', 'repeats', 'tokens_per_epoch', 'batch_size', 'num_steps', 'hiddens', 'gemm_gflops',
                  'roofline_tokens_per_sec')
MACHINE_KEYS = {'cpu': str, 'cores': int, 'cores_usable': int, 'python': str, 'mxnet': str, 'numpy': str,
                'mxnet_blas': list, 'thread_env': dict, 'loadavg_before': list, 'loadavg_after': list}
ROW_NUMBERS = ('tokens_per_sec', 'min', 'max', 'vs_chapter', 'vs_best_peer', 'vs_roofline')


def _is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def result_problem(result):
    """What is wrong with ``result`` as the JSON of a measuring ``bench`` run (``None``: nothing)."""
    if isinstance(result, list):
        return 'a list (the JSON of --sweep?), not the result of a measuring run'
    if not isinstance(result, dict):
        return f'a JSON {type(result).__name__}, not an object'
    if 'rows' not in result and 'gluon_d2l hybrid' in result:
        return 'the JSON of --profile, not the result of a measuring run'
    missing = [k for k in ('rows', 'machine') + RESULT_NUMBERS if k not in result]
    if missing:
        return f'no {", ".join(missing)}'
    wrong = [k for k in RESULT_NUMBERS if not _is_number(result[k])]
    if wrong or not (isinstance(result['rows'], list) and isinstance(result['machine'], dict)):
        return f'not numbers: {", ".join(wrong)}' if wrong else 'rows must be a list and machine an object'
    for key, kind in MACHINE_KEYS.items():
        if not isinstance(result['machine'].get(key), kind) or isinstance(result['machine'].get(key), bool):
            return f'machine.{key} must be a {kind.__name__}'
    if result['machine']['cores_usable'] < 1:
        return 'machine.cores_usable must be positive'
    if len(result['machine']['loadavg_before']) < 1 or len(result['machine']['loadavg_after']) < 1 or \
            not all(_is_number(x) for x in result['machine']['loadavg_before'] + result['machine']['loadavg_after']):
        return 'machine.loadavg_before and machine.loadavg_after must be lists of numbers'
    if not isinstance(result['machine'].get('peers', {}), dict) or \
            not all(isinstance(v, dict) for v in result['machine'].get('peers', {}).values()):
        return 'machine.peers must map each framework to an object'
    for i, row in enumerate(result['rows']):
        if not isinstance(row, dict) or not isinstance(row.get('variant'), str):
            return f'rows[{i}] has no variant name'
        wrong = [k for k in ROW_NUMBERS if not _is_number(row.get(k))]
        if wrong:
            return f'rows[{i}] ({row["variant"]}): not numbers: {", ".join(wrong)}'
    names = [r['variant'] for r in result['rows']]
    if 'gluon_d2l hybrid' not in names:
        return 'no row for gluon_d2l hybrid'
    if not isinstance(result.get('command', ''), str) or \
            not isinstance(result['machine'].get('thread_defaults_by_gluon_d2l', {}), dict):
        return 'command must be a string and machine.thread_defaults_by_gluon_d2l an object'
    try:  # what the checks above miss, the rendering itself finds
        render_markdown(result)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, ZeroDivisionError) as err:
        return f'{type(err).__name__}: {err}'
    return None


def load_result(path):
    """The ``--json`` result at ``path``, checked; ``ConfigError('json')`` naming the file otherwise."""
    try:
        result = json.loads(files.read_text(path, 'json'))
    except json.JSONDecodeError as err:
        raise ConfigError('json', f'{path!r} is not JSON ({err})') from None
    problem = result_problem(result)
    if problem:
        raise ConfigError('json', f'{path!r} is not the result of a measuring gluon-d2l bench run: {problem}')
    return result


def register(subparsers):
    """Add ``bench`` to the ``gluon-d2l`` command line."""
    p = subparsers.add_parser('bench', help='training throughput of every RNN variant and its peers',
                              description="Measure tokens/s of the d2l chapter's MXNet loop, each gluon_d2l model "
                                          'and the PyTorch/TensorFlow/JAX references (each in its own process), '
                                          'in interleaved rounds, against a GEMM roofline. It writes only the '
                                          'files named by --json and --png (and, with --render, the marked '
                                          'section of MARKDOWN): an existing --json or --png file is refused '
                                          'unless --force, and every option and path is checked before anything '
                                          'is measured. Files are replaced whole or not at all (a temporary file, '
                                          'then renamed).')
    p.add_argument('--epochs', type=int, default=None, help=f'timed epochs per variant and round, 1 to {MAX_EPOCHS} '
                                                            '(3)')
    p.add_argument('--repeats', type=int, default=None,
                   help=f'interleaved rounds, 1 to {MAX_REPEATS}; the table shows their median (5)')
    p.add_argument('--quick', action='store_true',
                   help='a short run: 1 epoch, 3 rounds (about 100 s with every peer on 2 cores)')
    p.add_argument('--hiddens', type=int, default=512, help=f'hidden units, 1 to {MAX_HIDDENS} (512)')
    p.add_argument('--batch-size', dest='batch_size', type=int, default=32, help='batch size (32)')
    p.add_argument('--num-steps', dest='num_steps', type=int, default=35,
                   help=f'time steps (35); batch size x steps must fit the first {MAX_TOKENS} characters')
    p.add_argument('--no-peers', dest='no_peers', action='store_true', help='skip PyTorch/TensorFlow/JAX')
    mode = p.add_mutually_exclusive_group()
    mode.add_argument('--sweep', action='store_true',
                      help='instead: tokens/s and RSS of the hybrid model vs hiddens, batch size and steps')
    mode.add_argument('--profile', action='store_true',
                      help="instead: MXNet's profiler over 2 epochs of each gluon_d2l model, milliseconds per "
                           'step for each operator (where the time goes)')
    mode.add_argument('--render', metavar='MARKDOWN',
                      help='measure nothing: rewrite the section of MARKDOWN (docs/benchmarks.md) between its marker '
                           'lines (each once, in order) from the --json file, and redraw --png')
    p.add_argument('--json', metavar='FILE',
                   help='write the results as JSON to this new file (with --render: read them from here)')
    p.add_argument('--png', metavar='FILE.png', help='write a bar chart to this new .png file')
    p.add_argument('--force', action='store_true', help='replace an existing --json or --png file')
    p.set_defaults(handler=run, thread_defaults=True)


def _check(args):
    """Check every option and path before anything is measured or written (``ConfigError`` naming the
    option); return the result to render (``--render``) or ``None``."""
    from gluon_d2l.data import min_corpus_length
    if args.quick:
        for name in ('epochs', 'repeats'):
            if getattr(args, name) is not None:
                raise ConfigError('quick', f'--quick sets 1 epoch and 3 rounds: drop --{name}')
    args.epochs = 3 if args.epochs is None else args.epochs
    args.repeats = 5 if args.repeats is None else args.repeats
    for name, high in (('epochs', MAX_EPOCHS), ('repeats', MAX_REPEATS), ('hiddens', MAX_HIDDENS),
                       ('batch_size', MAX_SIZE), ('num_steps', MAX_SIZE)):
        if not 1 <= getattr(args, name) <= high:
            raise ConfigError(name, f'expected 1 to {high}, got {getattr(args, name)}')
    if args.sweep or args.profile or args.render is not None:
        mode = '--sweep' if args.sweep else '--profile' if args.profile else '--render'
        given = [f'--{k.replace("_", "-")}' for k, d in (('hiddens', 512), ('batch_size', 32), ('num_steps', 35))
                 if getattr(args, k) != d] + (['--no-peers'] if args.no_peers else []) + \
            (['--quick'] if args.quick else [])
        if given:
            raise ConfigError(given[0][2:], f'{mode} uses its own settings: drop {given[0]}')
    elif min_corpus_length(args.batch_size, args.num_steps) > MAX_TOKENS:
        raise ConfigError('batch_size', f'{args.batch_size} x {args.num_steps} steps needs '
                                        f'{min_corpus_length(args.batch_size, args.num_steps)} characters; a run '
                                        f'trains on {MAX_TOKENS}')
    if args.png is not None and (args.sweep or args.profile):
        raise ConfigError('png', f'--{"sweep" if args.sweep else "profile"} draws no chart: drop --png')
    if args.png is not None:
        files.check_output(args.png, 'png', force=args.force, suffixes=('.png',))
    if args.render is None:
        if args.json is not None:
            files.check_output(args.json, 'json', force=args.force)
        return None
    if args.json is None:
        raise ConfigError('render', 'needs --json naming the result file to render')
    files.check_output(args.render, 'render', force=True)
    files.check_splice(args.render, RENDER_BEGIN, RENDER_END, 'render')
    result = load_result(args.json)
    if args.png is not None and os.path.abspath(args.png) in (os.path.abspath(args.render),
                                                              os.path.abspath(args.json)):
        raise ConfigError('png', f'{args.png!r} is also the file --render or --json names')
    return result


def _command_line(args):
    timing = ['--quick'] if args.quick else [f'--epochs {args.epochs}', f'--repeats {args.repeats}']
    parts = ['gluon-d2l bench'] + timing
    parts += [f'--{k.replace("_", "-")} {getattr(args, k)}' for k, d in
              (('hiddens', 512), ('batch_size', 32), ('num_steps', 35)) if getattr(args, k) != d]
    parts += ['--no-peers'] if args.no_peers else []
    env = ' '.join(f'{k}={v}' for k, v in sorted(threads.user_environment().items())
                   if k.startswith(('OMP_', 'MXNET_', 'KMP_')))
    return f'{env} {" ".join(parts)}'.strip()


def _render(args, result):
    """``--render``: the chart (in memory) and the section, both made before either file is written."""
    import io
    json_path = os.path.relpath(args.json, os.path.dirname(os.path.abspath(args.render)))
    png = os.path.splitext(json_path)[0].replace(os.sep, '/') + '.png'
    body = render_markdown(result, _shown(args.json), png, _shown(args.render))
    chart = None
    if args.png:
        chart = io.BytesIO()
        bar_chart(result['rows'], result, chart)
    files.splice(args.render, RENDER_BEGIN, RENDER_END, body, 'render')
    if chart is not None:
        files.atomic_write(args.png, chart.getvalue())
    print(f'bench: {args.render}: benchmark section rewritten from {args.json}')
    return 0


def _write_json(path, data):
    files.atomic_write(path, json.dumps(data, indent=2))


def run(args):
    """The ``bench`` subcommand: print the table, optionally write JSON and a PNG, or render."""
    result = _check(args)
    if args.render is not None:
        return _render(args, result)
    if args.profile:
        result = profile()
        print_profile(result)
        if args.json:
            _write_json(args.json, dict(result, machine=machine(), command='gluon-d2l bench --profile'))
        return 0
    if args.sweep:
        rows = sweep()
        if args.json:
            _write_json(args.json, rows)
        return 0
    epochs, repeats = (1, 3) if args.quick else (args.epochs, args.repeats)
    rows, meta = measure(epochs=epochs, hiddens=args.hiddens, batch_size=args.batch_size,
                         num_steps=args.num_steps, peers=not args.no_peers, repeats=repeats)
    meta['command'] = _command_line(args)
    print(f"float32 GEMM {meta['gemm_gflops']:.1f} GFLOP/s -> roofline "
          f"{meta['roofline_tokens_per_sec']:.0f} tokens/s")
    print(markdown_table(rows))
    if args.png:
        bar_chart(rows, meta, args.png)
    if args.json:
        _write_json(args.json, dict(meta, rows=rows))
    return 0
