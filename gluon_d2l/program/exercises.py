"""``gluon-d2l exercises``: the six exercises of the chapter *RNN from scratch*, run and answered.

Each exercise is one function that trains what its question needs at reduced settings,
returns its measurements, and becomes a section of ``DIR/exercises.md``: a table (or two)
of measured numbers, a PNG plot of perplexity per epoch where there are curves, and an
answer whose every number comes from that table. ``DIR/exercises.json`` holds the same
numbers for machines. The exercises:

1. one-hot encoding is an embedding: ``one_hot(X) @ W == W[X]`` (forward and gradient),
   and the scratch model trained both ways follows the same perplexity curve;
2. a small hyperparameter grid (epochs, hiddens, num_steps, lr), with and without a learned
   embedding, on The Time Machine and, given ``--corpus``, another book;
3. sampling: greedy against ``q ∝ p**alpha`` for ``alpha`` in 0.5, 1, 2;
4. training without gradient clipping;
5. not detaching the hidden state between minibatches: time, memory and perplexity;
6. ReLU instead of tanh, with and without clipping.

``--quick`` shrinks everything so the whole report takes seconds (the test suite runs it);
its numbers answer the questions only roughly. The program runs the library API
(:mod:`gluon_d2l.models`, :mod:`gluon_d2l.training`) and nothing else.
"""
import dataclasses
import json
import math
import multiprocessing
import pathlib
import random
import re
import resource
import sys
import time

REPORT, NUMBERS = 'exercises.md', 'exercises.json'
#: the plots of the report, written next to it
PLOTS = ('ex1_one_hot_vs_lookup.png', 'ex2_best_settings.png', 'ex4_clipping.png', 'ex5_detach.png',
         'ex6_relu_tanh.png')
README_START, README_END = '<!-- exercises:start -->', '<!-- exercises:end -->'


@dataclasses.dataclass(frozen=True)
class Settings:
    """The sizes of one report (``FULL`` or ``QUICK``)."""
    max_tokens: int
    batch_size: int
    num_steps: int
    hiddens: int
    epochs: int          # exercises 4 and 6 (long enough for gradient norms to pass 1)
    lr: float
    embedding: int       # the learned embedding's size in exercise 2
    grid_hiddens: tuple
    grid_steps: tuple
    grid_lrs: tuple
    grid_epochs: tuple   # the perplexity after each of these epochs (one run per grid point)
    detach_epochs: int   # exercise 5 (an attached epoch costs ~ (minibatches + 1) / 2 times more)
    scratch_hiddens: int  # exercise 1
    scratch_epochs: int
    sample_length: int   # exercise 3
    property_draws: int  # exercise 1


FULL = Settings(max_tokens=10000, batch_size=32, num_steps=35, hiddens=256, epochs=150, lr=1.0, embedding=32,
                grid_hiddens=(128, 256), grid_steps=(16, 35), grid_lrs=(1.0, 2.0), grid_epochs=(20, 40),
                detach_epochs=12, scratch_hiddens=128, scratch_epochs=8, sample_length=200, property_draws=200)
QUICK = Settings(max_tokens=2000, batch_size=8, num_steps=10, hiddens=32, epochs=3, lr=1.0, embedding=8,
                 grid_hiddens=(16, 32), grid_steps=(10,), grid_lrs=(1.0,), grid_epochs=(1, 2),
                 detach_epochs=2, scratch_hiddens=16, scratch_epochs=2, sample_length=60, property_draws=20)


class Log:
    """Progress lines on stderr, each with the seconds since the start."""

    def __init__(self, stream=None):
        self.start, self.stream = time.perf_counter(), stream or sys.stderr

    def __call__(self, message):
        print(f'[{time.perf_counter() - self.start:6.1f} s] {message}', file=self.stream, flush=True)


# --- training runs ---------------------------------------------------------------------------

def seed_everything(seed):
    import mxnet as mx
    import numpy as onp
    random.seed(seed)
    onp.random.seed(seed)
    mx.random.seed(seed)


def run_epochs(net, corpus, batch_size, num_steps, lr, epochs, clip=1.0, detach=True, device=None):
    """Train ``net`` for ``epochs`` sequential epochs; return the per-epoch measurements."""
    import mxnet as mx
    from mxnet import gluon
    from ..data import seq_data_iter_sequential
    from ..training import make_updater, train_epoch_ch8
    device = device or mx.cpu()
    updater, _ = make_updater(net, lr, [device])
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    rows = []
    for epoch in range(1, epochs + 1):
        stats, tic = {}, time.perf_counter()
        try:
            ppl, _ = train_epoch_ch8(net, seq_data_iter_sequential(corpus, batch_size, num_steps), loss, updater,
                                     [device], False, clip, stats=stats, detach=detach)
        except OverflowError:  # the mean loss is above ~709 nats: perplexity beyond a float
            ppl = None
        rows.append(dict(epoch=epoch, perplexity=math.inf if ppl is None else ppl, seconds=time.perf_counter() - tic,
                         skipped=stats['skipped_steps'], clipped=stats['clipped_steps'],
                         max_grad_norm=stats['max_grad_norm'],
                         steps=-(-stats['num_tokens'] // (batch_size * num_steps))))
    return rows


def train_model(kind, corpus, vocab_size, s, *, hiddens=None, num_steps=None, lr=None, epochs=None,
                embedding=None, activation=None, clip=1.0, detach=True, seed=0):
    """Build a model (seeded), train it; return ``(net, rows)``."""
    import mxnet as mx
    from ..models import build_model
    seed_everything(seed)
    net = build_model(kind, vocab_size, hiddens or s.hiddens, [mx.cpu()], embedding=embedding, activation=activation)
    rows = run_epochs(net, corpus, s.batch_size, num_steps or s.num_steps, lr or s.lr, epochs or s.epochs,
                      clip=clip, detach=detach)
    return net, rows


def curve(rows):
    return [r['perplexity'] for r in rows]


def summary(rows):
    """Final and best perplexity, and what happened to the gradients, over a run."""
    ppl = [p for p in curve(rows) if math.isfinite(p)]
    total_steps = sum(r['steps'] for r in rows)
    return dict(final=rows[-1]['perplexity'], best=min(ppl) if ppl else math.nan,
                skipped=sum(r['skipped'] for r in rows), clipped=sum(r['clipped'] for r in rows),
                steps=total_steps, max_grad_norm=max(r['max_grad_norm'] for r in rows),
                rises=sum(1 for a, b in zip(curve(rows), curve(rows)[1:]) if not b <= a),
                seconds_per_epoch=_mean([r['seconds'] for r in rows[1:]] or [rows[0]['seconds']]))


def _mean(values):
    return sum(values) / len(values)


# --- the exercises ---------------------------------------------------------------------------

def exercise_1(data, s, log):
    """One-hot encoding is an embedding: the product, its gradient, and a whole training run."""
    import mxnet as mx
    import numpy as onp
    from mxnet import autograd, np, npx
    from .. import models
    corpus, vocab = data['corpus'], data['vocab']
    rng = onp.random.default_rng(0)
    products = []
    for dtype in ('float32', 'float64'):
        fwd = grad = 0.0
        for _ in range(s.property_draws):
            V, D, B, T = (int(rng.integers(2, 40)), int(rng.integers(1, 33)), int(rng.integers(1, 9)),
                          int(rng.integers(1, 13)))
            X, W = rng.integers(0, V, size=(B, T)), rng.normal(size=(V, D)).astype(dtype)
            G = rng.normal(size=(T, B, D)).astype(dtype)
            outs = []
            for product in (lambda ids, w: np.dot(npx.one_hot(ids, V, dtype=dtype), w),
                            lambda ids, w: np.take(w, ids, axis=0)):
                w = np.array(W, dtype=dtype)
                w.attach_grad()
                with autograd.record():
                    Y = product(np.array(X.T, dtype='int32'), w)
                Y.backward(np.array(G, dtype=dtype))
                outs.append((Y.asnumpy(), w.grad.asnumpy()))
            fwd = max(fwd, float(onp.abs(outs[0][0] - outs[1][0]).max()))
            grad = max(grad, float(onp.abs(outs[0][1] - outs[1][1]).max()))
        products.append(dict(dtype=dtype, draws=s.property_draws, forward=fwd, gradient=grad))
    log(f'exercise 1: one_hot(X) @ W vs W[X] over {s.property_draws} draws per dtype')
    runs = {}
    for name, cls in (('one-hot @ W_xh', models.RNNModelScratch), ('lookup W_xh[X]', models.LookupRNNScratch)):
        seed_everything(0)
        initial = models.get_params(len(vocab), s.scratch_hiddens, mx.cpu())

        def given(*args, **kwargs):
            copies = [p.copy() for p in initial]
            for p in copies:
                p.attach_grad()
            return copies
        net = cls(len(vocab), s.scratch_hiddens, mx.cpu(), given, models.init_rnn_state, models.rnn)
        seed_everything(0)
        runs[name] = run_epochs(net, corpus, s.batch_size, s.num_steps, s.lr, s.scratch_epochs)
        log(f'exercise 1: scratch model, {name}: perplexity {runs[name][-1]["perplexity"]:.4f}')
    a, b = (curve(r) for r in runs.values())
    worst = max(abs(x - y) / abs(x) for x, y in zip(a, b))
    return dict(products=products, curves={k: curve(v) for k, v in runs.items()},
                seconds={k: summary(v)['seconds_per_epoch'] for k, v in runs.items()}, max_rel_diff=worst)


def _grid_points(s):
    return [(h, n, lr) for h in s.grid_hiddens for n in s.grid_steps for lr in s.grid_lrs]


def exercise_2(data, s, log, corpus_file=None):
    """Tune epochs, hiddens, num_steps and lr, with and without a learned embedding."""
    corpus, vocab = data['corpus'], data['vocab']
    rows, best = [], {}
    points = _grid_points(s)
    for embedding in (None, s.embedding):
        for i, (hiddens, steps, lr) in enumerate(points, 1):
            net, run = train_model('hybrid', corpus, len(vocab), s, hiddens=hiddens, num_steps=steps, lr=lr,
                                   epochs=max(s.grid_epochs), embedding=embedding)
            row = dict(embedding=embedding, hiddens=hiddens, num_steps=steps, lr=lr,
                       at={str(e): run[e - 1]['perplexity'] for e in s.grid_epochs},
                       seconds_per_epoch=summary(run)['seconds_per_epoch'], curve=curve(run))
            rows.append(row)
            key = 'embedding' if embedding else 'one-hot'
            final = row['at'][str(max(s.grid_epochs))]
            if key not in best or final < best[key]['row']['at'][str(max(s.grid_epochs))]:
                best[key] = dict(row=row, net=net)
            log(f'exercise 2: {key} {i}/{len(points)} (hiddens {hiddens}, steps {steps}, lr {lr:g}): '
                f'perplexity {final:.3f}')
    other = None
    if corpus_file is not None:
        from ..data import load_corpus_time_machine
        book, book_vocab = load_corpus_time_machine(s.max_tokens, corpus_file)
        other = dict(path=str(corpus_file), tokens=len(book), vocab=len(book_vocab), runs={})
        for key, b in best.items():
            r = b['row']
            _, run = train_model('hybrid', book, len(book_vocab), s, hiddens=r['hiddens'], num_steps=r['num_steps'],
                                 lr=r['lr'], epochs=max(s.grid_epochs), embedding=r['embedding'])
            other['runs'][key] = dict(final=run[-1]['perplexity'], curve=curve(run))
            log(f'exercise 2: {corpus_file}, best {key} setting: perplexity {run[-1]["perplexity"]:.3f}')
    return dict(rows=rows, best={k: v['row'] for k, v in best.items()}, nets={k: v['net'] for k, v in best.items()},
                other=other)


def exercise_3(data, s, log, net):
    """Greedy choice against sampling from ``p**alpha`` (``temperature = 1/alpha``)."""
    from ..training import predict_ch8
    import mxnet as mx
    vocab, words = data['vocab'], data['words']
    prefix = 'time traveller' if all(ch in vocab.token_to_idx for ch in 'time traveller') else \
        vocab.idx_to_token[1]
    rows = []
    for label, alpha in (('greedy (argmax)', None), ('alpha 0.5', 0.5), ('alpha 1', 1.0), ('alpha 2', 2.0)):
        text = predict_ch8(prefix, s.sample_length, net, vocab, mx.cpu(),
                           temperature=None if alpha is None else 1 / alpha, seed=0)
        generated = text[len(prefix):]
        tokens = generated.split()[:-1] or generated.split()  # the last word may be cut off
        real = sum(1 for w in tokens if w in words) / len(tokens) if tokens else 0.0
        grams = [generated[i:i + 4] for i in range(len(generated) - 3)]
        rows.append(dict(setting=label, alpha=alpha, temperature=None if alpha is None else 1 / alpha,
                         text=text, real_words=real, distinct_4grams=len(set(grams)) / max(len(grams), 1)))
    log('exercise 3: samples drawn')
    return dict(prefix=prefix, rows=rows)


def exercise_4(data, s, log):
    """Training with and without gradient clipping."""
    corpus, vocab = data['corpus'], data['vocab']
    runs = {}
    for label, clip in (('clip theta=1', 1.0), ('no clipping', None)):
        _, run = train_model('hybrid', corpus, len(vocab), s, clip=clip)
        runs[label] = run
        log(f'exercise 4: {label}: perplexity {run[-1]["perplexity"]:.3f}')
    return dict(runs={k: dict(summary(v), curve=curve(v)) for k, v in runs.items()})


def _rss_bytes():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _reset_peak():
    """Restart the kernel's peak-RSS count (``VmHWM``) here; ``False`` where that is not possible."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def _peak_bytes(reset):
    """The peak RSS since :func:`_reset_peak` (or since the process started, if it could not reset)."""
    if reset:
        with open('/proc/self/status') as f:
            return int(re.search(r'VmHWM:\s+(\d+)', f.read()).group(1)) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _detach_worker(settings, detach, queue, kind='hybrid'):
    """In a fresh process: train with ``detach``; report the curve, seconds and peak memory."""
    try:
        from .. import numpy_compat
        numpy_compat.install()
        from mxnet import npx
        npx.set_np()
        from ..data import load_corpus_time_machine
        s = Settings(**settings)
        corpus, vocab = load_corpus_time_machine(s.max_tokens)
        import mxnet as mx
        from ..models import build_model
        seed_everything(0)
        net = build_model(kind, len(vocab), s.hiddens, [mx.cpu()])
        reset = _reset_peak()  # importing MXNet peaks higher than training a small model
        before = _rss_bytes()
        rows = run_epochs(net, corpus, s.batch_size, s.num_steps, s.lr, s.detach_epochs, detach=detach)
        queue.put(dict(rows=rows, rss_before=before, rss_peak=_peak_bytes(reset), peak_since_start=reset))
    except BaseException as err:  # the parent reports it
        queue.put(dict(error=f'{type(err).__name__}: {err}'))


def train_in_child(s, detach, kind='hybrid'):
    """Train ``kind`` with settings ``s`` in a fresh (spawned) process; return its rows and memory."""
    context = multiprocessing.get_context('spawn')
    queue = context.Queue()
    worker = context.Process(target=_detach_worker, args=(dataclasses.asdict(s), detach, queue, kind))
    worker.start()
    result = queue.get()
    worker.join()
    if 'error' in result:
        raise RuntimeError(f'{kind}, detach={detach}: {result["error"]}')
    return result


def exercise_5(data, s, log):
    """Detached against attached hidden state: seconds per epoch, peak memory, perplexity.

    Each variant trains in a fresh process, so its peak resident memory is its own.
    """
    from ..training import attached_graph_bytes
    runs = {}
    for label, detach in (('detached (d2l)', True), ('attached (detach=False)', False)):
        result = train_in_child(s, detach)
        runs[label] = dict(summary(result['rows']), curve=curve(result['rows']),
                           rss_peak=result['rss_peak'], rss_growth=result['rss_peak'] - result['rss_before'])
        log(f'exercise 5: {label}: {runs[label]["seconds_per_epoch"]:.2f} s/epoch, '
            f'peak RSS +{runs[label]["rss_growth"] / 2 ** 20:.0f} MiB')
    minibatches = (len(data['corpus']) - 1) // s.batch_size // s.num_steps
    estimate = attached_graph_bytes(minibatches, s.batch_size, s.num_steps, s.hiddens, len(data['vocab']))
    return dict(runs=runs, minibatches=minibatches, estimate=estimate)


def exercise_6(data, s, log, tanh_runs=None):
    """ReLU against tanh, each with and without clipping.

    ``tanh_runs`` (exercise 4's two runs: the same model, settings and seed, hence the same
    numbers: training here is deterministic) saves training tanh twice.
    """
    corpus, vocab = data['corpus'], data['vocab']
    runs = {}
    for activation in ('tanh', 'relu'):
        for clip in (1.0, None):
            clip_label = 'clip theta=1' if clip else 'no clipping'
            label = f'{activation}, {clip_label}'
            if activation == 'tanh' and tanh_runs and clip_label in tanh_runs:
                runs[label] = dict(tanh_runs[clip_label], activation=activation, clip=clip)
                continue
            _, run = train_model('hybrid', corpus, len(vocab), s, activation=activation, clip=clip)
            runs[label] = dict(summary(run), curve=curve(run), activation=activation, clip=clip)
            log(f'exercise 6: {label}: perplexity {run[-1]["perplexity"]:.3f}')
    return dict(runs=runs)


# --- the report ------------------------------------------------------------------------------

def _num(x, digits=3):
    if x is None:
        return '-'
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, float) and x != 0 and (abs(x) < 10 ** -digits or abs(x) >= 1e6):
        return f'{x:.2e}'
    return f'{x:.{digits}f}' if isinstance(x, float) else str(x)


def table(headers, rows):
    lines = ['| ' + ' | '.join(headers) + ' |', '|' + '---|' * len(headers)]
    lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return '\n'.join(lines)


class Plots:
    """The plots a report refers to, drawn into ``out`` by :meth:`draw` once the whole text has rendered."""

    def __init__(self, out):
        self.out, self.pending = pathlib.Path(out), []

    def add(self, name, curves, title, log_scale=False):
        """Note the plot ``name``; return the name the report links to."""
        self.pending.append((name, curves, title, log_scale))
        return name

    def draw(self):
        for name, curves, title, log_scale in self.pending:
            plot_curves(self.out / name, curves, title, log_scale)


def plot_curves(path, curves, title, log_scale=False):
    """Perplexity per epoch of each labelled curve, as a PNG (replacing ``path`` atomically)."""
    from .files import atomic_open
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, values in curves.items():
        ys = [v if v is not None and math.isfinite(v) else math.nan for v in values]
        dashed = any(word in label for word in ('no clipping', 'attached (', 'lookup'))
        ax.plot(range(1, len(ys) + 1), ys, '--' if dashed else '-', marker='.' if len(ys) < 15 else None,
                label=label)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel('epoch')
    ax.set_ylabel('perplexity (training)')
    if log_scale:
        ax.set_yscale('log')
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        with atomic_open(path) as f:
            fig.savefig(f, format='png', dpi=100)
    finally:
        plt.close(fig)
    return path.name


def _rel(x):
    return '0' if x == 0 else f'{x:.1e}'


def _pct(x):
    return f'{100 * x:.1f} %'


def _section_1(r, s, out):
    plot = out.add('ex1_one_hot_vs_lookup.png', r['curves'],
                   f'Exercise 1: scratch RNN ({s.scratch_hiddens} hiddens), one-hot vs lookup')
    products = table(['dtype', 'random draws', 'max abs diff, forward', 'max abs diff, gradient of W'],
                     [[p['dtype'], p['draws'], _num(p['forward'], 3), _num(p['gradient'], 3)]
                      for p in r['products']])
    names = list(r['curves'])
    epochs = table(['epoch'] + names + ['relative difference'],
                   [[e + 1] + [_num(r['curves'][n][e], 6) for n in names]
                    + [_rel(abs(r['curves'][names[0]][e] - r['curves'][names[1]][e]) / r['curves'][names[0]][e])]
                    for e in range(len(r['curves'][names[0]]))])
    f32 = r['products'][0]
    answer = (f'**Answer.** Multiplying a one-hot row by `W` selects a row of `W`: over {f32["draws"]} random '
              f'draws the two products differ by at most {_rel(f32["forward"])} (forward) and '
              f'{_rel(f32["gradient"])} (gradient; the scatter-add may sum in another order) in float32, so the '
              f'one-hot model is a model with a learned embedding `W_xh` of size `num_hiddens`, one vector per '
              f'character. Trained both ways from the same weights, the perplexity curves agree to a relative '
              f'{_rel(r["max_rel_diff"])} over {len(r["curves"][names[0]])} epochs'
              + (' (bit for bit).' if r['max_rel_diff'] == 0 else ' (float32 rounding).'))
    return '\n\n'.join(['## 1. One-hot encoding is an embedding', products, epochs, f'![]({plot})', answer])


def _section_2(r, s, out):
    marks = list(s.grid_epochs)
    rows = [[('embedding ' + str(x['embedding'])) if x['embedding'] else 'one-hot', x['hiddens'], x['num_steps'],
             _num(x['lr'], 1)] + [_num(x['at'][str(e)]) for e in marks] + [_num(x['seconds_per_epoch'], 2)]
            for x in sorted(r['rows'], key=lambda x: x['at'][str(marks[-1])])]
    grid = table(['input', 'hiddens', 'num_steps', 'lr'] + [f'perplexity @ {e} epochs' for e in marks]
                 + ['s/epoch'], rows)
    best = r['best']
    plot = out.add('ex2_best_settings.png',
                   {f'{k}: hiddens {b["hiddens"]}, steps {b["num_steps"]}, lr {b["lr"]:g}': b['curve']
                    for k, b in best.items()}, 'Exercise 2: the best setting with each input')
    bo, be = best['one-hot'], best['embedding']
    fo, fe = bo['at'][str(marks[-1])], be['at'][str(marks[-1])]
    verdict = 'lower' if fe < fo else 'higher'
    parts = ['## 2. Hyperparameters and learned embeddings',
             f'The hybrid model (the scratch math as one graph), the first {s.max_tokens} characters, batch '
             f'{s.batch_size}, clipping at 1; every grid point is one run of {marks[-1]} epochs, read after '
             f'{" and ".join(map(str, marks))} epochs (the epochs axis of the grid).', grid, f'![]({plot})']
    effects = _effects(r['rows'], marks)
    name, (low, high, worst, best_value) = max(effects.items(), key=lambda kv: kv[1][1] - kv[1][0])
    answer = (f'**Answer.** The lowest perplexity found is {_num(min(fo, fe))} ('
              f'{"embedding" if fe < fo else "one-hot"}). One-hot input: {_num(fo)} with {bo["hiddens"]} hiddens, '
              f'{bo["num_steps"]} steps, lr {bo["lr"]:g}; a learned {s.embedding}-dimensional embedding: {_num(fe)} '
              f'with {be["hiddens"]} hiddens, {be["num_steps"]} steps, lr {be["lr"]:g}, i.e. {verdict} by '
              f'{_pct(abs(fe - fo) / fo)}. '
              + ('The embedding does not help here: with 28 characters the one-hot input already gives each '
                 'character its own learned vector (the rows of `W_xh`, exercise 1); the embedding only adds a '
                 'bottleneck and a second factor to learn. ' if fe >= fo else
                 f'The embedding helps by {marks[-1]} epochs, although the one-hot input already gives each '
                 'character its own learned vector (exercise 1), so it is not more expressive; the product '
                 '`E W_xh` changes how fast SGD moves those vectors (our reading, not tested here). ')
              + (f'It starts slower: after {marks[0]} epochs the same settings give {_num(be["at"][str(marks[0])])} '
                 f'with the embedding and {_num(bo["at"][str(marks[0])])} one-hot. '
                 if be['at'][str(marks[0])] > bo['at'][str(marks[0])] and len(marks) > 1 else '')
              + f'Of the grid\'s dimensions, {name} moves perplexity most: averaged over the other settings, '
                f'{_num(high)} at {name} {worst} against {_num(low)} at {best_value}.')
    if r['other']:
        o = r['other']
        parts.append(table(['corpus', 'characters used', 'vocabulary', 'input', 'perplexity'],
                           [[o['path'], o['tokens'], o['vocab'], k, _num(v['final'])] for k, v in o['runs'].items()]))
        answer += (f' On `{o["path"]}` the best settings reach ' + ', '.join(
            f'{_num(v["final"])} ({k})' for k, v in o['runs'].items()) + '.')
    else:
        answer += ' (Run with `--corpus FILE` to add another book, e.g. *The War of the Worlds*, to this table.)'
    parts.append(answer)
    return '\n\n'.join(parts)


def _effects(rows, marks):
    """For each grid dimension: (mean perplexity at its best value, at its worst, worst, best value)."""
    dims = {'hiddens': lambda x: x['hiddens'], 'num_steps': lambda x: x['num_steps'], 'lr': lambda x: x['lr'],
            'input': lambda x: f'embedding {x["embedding"]}' if x['embedding'] else 'one-hot'}
    effects = {}
    for name, key in dims.items():
        groups = {}
        for x in rows:
            groups.setdefault(key(x), []).append(x['at'][str(marks[-1])])
        if len(groups) > 1:
            means = {k: _mean(v) for k, v in groups.items()}
            lo, hi = min(means, key=means.get), max(means, key=means.get)
            effects[name] = (means[lo], means[hi], _fmt_value(hi), _fmt_value(lo))
    by_epochs = [_mean([x['at'][str(m)] for x in rows]) for m in marks]
    effects['epochs'] = (by_epochs[-1], by_epochs[0], marks[0], marks[-1])
    return effects


def _fmt_value(v):
    return f'{v:g}' if isinstance(v, float) else v


def _section_3(r, s, out):
    rows = [[x['setting'], _num(x['temperature'], 2) if x['temperature'] else '-',
             '`' + x['text'][:70].replace('|', '/') + '`', _pct(x['real_words']), _pct(x['distinct_4grams'])]
            for x in r['rows']]
    by = {x['setting']: x for x in r['rows']}
    g, a2, a05 = by['greedy (argmax)'], by['alpha 2'], by['alpha 0.5']
    a1 = by['alpha 1']
    answer = (f'**Answer.** Greedy decoding is deterministic: {_pct(g["distinct_4grams"])} of its 4-grams are '
              f'distinct' + (', it falls into a loop. ' if g['distinct_4grams'] < a1['distinct_4grams'] else '. ')
              + f'Sampling from `p` itself (alpha 1) gives {_pct(a1["distinct_4grams"])} distinct 4-grams and '
                f'{_pct(a1["real_words"])} real words. Biasing towards likely characters, alpha 2 '
                f'(`predict_ch8(temperature=0.5)`) gives {_pct(a2["real_words"])} real words, alpha 0.5 '
                f'(flatter than `p`) {_pct(a05["real_words"])}'
              + ('; so alpha > 1 trades variety for plausible text, as the chapter suggests. '
                 if a2['real_words'] >= a1['real_words'] >= a05['real_words'] else
                 '; at this model size the ordering is not clean, the samples are short. ')
              + 'Real words: the share of generated words (the last, cut-off one excluded) found in the book.')
    return '\n\n'.join(['## 3. Sampling instead of the most likely character',
                        f'The best one-hot model of exercise 2, prefix `{r["prefix"]}`, {s.sample_length} characters, '
                        'seed 0; `alpha` is the exponent of `q ∝ p**alpha`, i.e. `temperature = 1/alpha`.',
                        table(['decoding', 'temperature', 'text (first 70 characters)', 'real words',
                               'distinct 4-grams'], rows), answer])


def _run_rows(runs, extra=()):
    return [[label, _num(v['final']), _num(v['best']), _num(v['max_grad_norm'], 2),
             f'{v["clipped"]}/{v["steps"]}', v['skipped'], v['rises']] + [f(v) for _, f in extra]
            for label, v in runs.items()]


RUN_HEADERS = ['run', 'final perplexity', 'best perplexity', 'largest gradient norm', 'steps clipped',
               'steps skipped (non-finite)', 'epochs whose perplexity rose']


def _wild(runs):
    values = [p for v in runs.values() for p in v['curve'] if p is not None and math.isfinite(p)]
    return bool(values) and max(values) / max(min(values), 1e-12) > 50


def _section_4(r, s, out):
    runs = r['runs']
    plot = out.add('ex4_clipping.png', {k: v['curve'] for k, v in runs.items()},
                   f'Exercise 4: hybrid RNN, {s.hiddens} hiddens, lr {s.lr:g}', log_scale=_wild(runs))
    c, n = runs['clip theta=1'], runs['no clipping']
    happened = (f'without clipping the largest gradient norm was {_num(n["max_grad_norm"], 2)} (with clipping '
                f'{_num(c["max_grad_norm"], 2)} before rescaling, and {c["clipped"]} of {c["steps"]} steps were '
                f'rescaled to 1), {n["skipped"]} steps were skipped for a non-finite gradient, and the perplexity '
                f'rose in {n["rises"]} of {len(n["curve"]) - 1} epochs (clipped: {c["rises"]})')
    worse = n['skipped'] > 0 or not n['final'] <= c['final'] * 1.02 or n['rises'] > c['rises']
    if worse:
        what = ('Without clipping training is worse: the steps taken along the largest gradients throw the '
                'weights off the path the clipped run follows.')
    elif c['clipped'] == 0:
        what = ('Here clipping never acted (no gradient norm above 1), so both runs are the same run: at this '
                'size, learning rate and number of epochs the gradients did not explode.')
    else:
        what = 'Without clipping the run still trains about as well at these settings.'
    answer = (f'**Answer.** After {len(n["curve"])} epochs the unclipped run ends at perplexity {_num(n["final"])} '
              f'against {_num(c["final"])} with clipping; {happened}. {what}')
    setup = (f'The hybrid model (tanh), {s.hiddens} hiddens, lr {s.lr:g}, {len(c["curve"])} epochs, with '
             '`theta=1` and with `theta=None`; a step whose gradient norm is not finite is skipped and counted.')
    return '\n\n'.join(['## 4. Without gradient clipping', setup, table(RUN_HEADERS, _run_rows(runs)),
                        f'![]({plot})', answer])


def _section_5(r, s, out):
    runs = r['runs']
    plot = out.add('ex5_detach.png', {k: v['curve'] for k, v in runs.items()},
                   f'Exercise 5: hybrid RNN, {s.hiddens} hiddens, {r["minibatches"]} minibatches/epoch')
    rows = [[label, _num(v['seconds_per_epoch'], 3), f'{v["rss_growth"] / 2 ** 20:.1f}',
             f'{v["rss_peak"] / 2 ** 20:.1f}', _num(v['final']), _num(v['max_grad_norm'], 2),
             f'{v["clipped"]}/{v["steps"]}'] for label, v in runs.items()]
    d, a = runs['detached (d2l)'], runs['attached (detach=False)']
    ratio = a['seconds_per_epoch'] / d['seconds_per_epoch']
    k = r['minibatches']
    verdict = 'Yes, the running time changes' if ratio > 1.2 else 'Barely, at this size'
    answer = (f'**Answer.** {verdict}: keeping the state attached makes an epoch {ratio:.1f} '
              f'times slower ({_num(a["seconds_per_epoch"], 3)} s against {_num(d["seconds_per_epoch"], 3)} s). '
              f'Minibatch k backpropagates through all k minibatches before it, so an epoch of {k} minibatches '
              f'does {k * (k + 1) // 2} minibatches of work instead of {k}, {(k + 1) / 2:.1f} times as much'
              + (' (fixed costs per step make the measured ratio smaller). ' if ratio < (k + 1) / 2 else
                 ' (the measured ratio is higher still). ')
              + f'Peak memory grows by {a["rss_growth"] / 2 ** 20:.0f} MiB against '
              f'{d["rss_growth"] / 2 ** 20:.0f} MiB detached; the bound on `detach=False` estimates the graph at '
              f'{r["estimate"] / 2 ** 20:.0f} MiB. Perplexity after {len(a["curve"])} epochs: {_num(a["final"])} '
              f'attached against {_num(d["final"])} detached ('
              + ('lower' if a['final'] < d['final'] else 'not lower')
              + f'); the attached gradients are {"larger" if a["max_grad_norm"] > d["max_grad_norm"] else "not larger"}'
                f' (norm up to {_num(a["max_grad_norm"], 2)} against {_num(d["max_grad_norm"], 2)}, clipped in '
                f'{a["clipped"]} steps against {d["clipped"]}): they carry the dependencies on earlier minibatches, '
                'and with them the products of Jacobians that explode or vanish.')
    return '\n\n'.join(['## 5. Not detaching the hidden state',
                        'Each variant trains in its own process, so the peak resident memory is its own: the kernel\'s '
                        'peak count is restarted when training starts (after MXNet\'s import, which peaks '
                        'higher); "growth" is that peak minus the memory when training started.',
                        table(['run', 's/epoch', 'peak RSS growth (MiB)', 'peak RSS (MiB)', 'final perplexity',
                               'largest gradient norm', 'steps clipped'], rows), f'![]({plot})', answer])


def _section_6(r, s, out):
    runs = r['runs']
    plot = out.add('ex6_relu_tanh.png', {k: v['curve'] for k, v in runs.items()},
                   f'Exercise 6: hybrid RNN, {s.hiddens} hiddens, lr {s.lr:g}', log_scale=_wild(runs))
    rc, rn = runs['relu, clip theta=1'], runs['relu, no clipping']
    tc, tn = runs['tanh, clip theta=1'], runs['tanh, no clipping']
    need = rn['skipped'] > 0 or not rn['final'] <= rc['final'] * 1.05 or rn['rises'] > rc['rises']
    answer = (f'**Answer.** ReLU reaches {_num(rc["final"])} with clipping and {_num(rn["final"])} without '
              f'(tanh: {_num(tc["final"])} and {_num(tn["final"])}). Its largest unclipped gradient norm is '
              f'{_num(rn["max_grad_norm"], 2)} against {_num(tn["max_grad_norm"], 2)} for tanh, and with clipping '
              f'{rc["clipped"]} of {rc["steps"]} ReLU steps needed rescaling (tanh: {tc["clipped"]}). '
              + ('So yes, ReLU still needs clipping. Why: ' if need else 'In this short run ReLU did without clipping, '
                 'but in general ')
              + 'ReLU does not saturate: the hidden state and the product of Jacobians through time are '
                'unbounded (tanh keeps both within [-1, 1] and shrinks the Jacobians), so gradients can explode '
              + ('more easily, as the larger norm shows.' if rn['max_grad_norm'] > tn['max_grad_norm'] else
                 'more easily, although in this run they did not grow larger than tanh\'s.'))
    setup = (f'The hybrid model with `activation=\'relu\'` (`npx.rnn` in `rnn_relu` mode) and with tanh, '
             f'{s.hiddens} hiddens, lr {s.lr:g}, {len(rc["curve"])} epochs; the tanh rows are exercise 4\'s runs '
             '(same model, settings and seed: training is deterministic).')
    return '\n\n'.join(['## 6. ReLU instead of tanh', setup, table(RUN_HEADERS, _run_rows(runs)), f'![]({plot})',
                        answer])


def render(results, s, out, quick):
    """The text of ``exercises.md``; ``out`` (:class:`Plots`) collects the plots it links to."""
    head = ['# The RNN chapter\'s exercises, measured',
            f'Written by `gluon-d2l exercises{" --quick" if quick else ""}` in {results["seconds"]:.0f} s '
            f'(MXNet {results["mxnet"]}, {results["threads"]} threads, load average {results["load"]:.1f} on '
            f'{results["cpus"]} CPUs: timings are as noisy as that): The Time Machine, first {s.max_tokens} '
            f'characters, batch {s.batch_size} x {s.num_steps} steps, sequential partitioning, seed 0.'
            + (' Quick settings: tiny models and a few epochs, so the numbers only sketch the answers.'
               if quick else '')
            + (f' Exercise 5 was then run again alone, {results["exercise_5_rerun"]}.'
               if results.get('exercise_5_rerun') else '')]
    sections = [_section_1(results['1'], s, out), _section_2(results['2'], s, out), _section_3(results['3'], s, out),
                _section_4(results['4'], s, out), _section_5(results['5'], s, out), _section_6(results['6'], s, out)]
    return '\n\n'.join(head + sections) + '\n'


def _jsonable(x):
    """The results without the trained models (non-finite floats stay: Python's json reads them back)."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items() if k != 'nets'}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def load_report(out):
    """``(text, plots)`` of the report rendered from ``out/exercises.json``, nothing written yet;
    ``ConfigError('out')`` naming the file if it is not the numbers of an ``exercises`` run."""
    from . import files
    from .config import ConfigError
    path = pathlib.Path(out) / NUMBERS
    try:
        results = json.loads(files.read_text(path, 'out'))
    except json.JSONDecodeError as err:
        raise ConfigError('out', f'{str(path)!r} is not JSON ({err})') from None
    plots = Plots(out)
    try:
        s = Settings(**{k: tuple(v) if isinstance(v, list) else v for k, v in results['settings'].items()})
        text = render(results, s, plots, results['quick'])
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, ZeroDivisionError) as err:
        raise ConfigError('out', f'{str(path)!r} is not the numbers of a gluon-d2l exercises run '
                                 f'({type(err).__name__}: {err})') from None
    return text, plots


def write_report(out, text, plots, numbers=None):
    """Write the plots, ``exercises.json`` (given ``numbers``) and ``exercises.md``, each atomically."""
    from .files import atomic_write
    out = pathlib.Path(out)
    plots.draw()
    if numbers is not None:
        atomic_write(out / NUMBERS, json.dumps(_jsonable(numbers), indent=1) + '\n')
    atomic_write(out / REPORT, text)
    return out / REPORT


def rerender(out):
    """Rewrite ``exercises.md`` and the plots of ``out`` from its ``exercises.json`` (no training)."""
    return write_report(out, *load_report(out))


def run(out, quick=False, corpus=None, log=None):
    """Run all six exercises into directory ``out``; return the path of ``exercises.md``."""
    import os
    import mxnet as mx
    from ..data import load_corpus_time_machine
    log = log or Log()
    s = QUICK if quick else FULL
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tic = time.perf_counter()
    corpus_ids, vocab = load_corpus_time_machine(s.max_tokens)
    full, _ = load_corpus_time_machine(-1)
    words = set(''.join(vocab.idx_to_token[i] for i in full).split())
    data = dict(corpus=corpus_ids, vocab=vocab, words=words)
    results = {'1': exercise_1(data, s, log)}
    results['2'] = exercise_2(data, s, log, corpus)
    results['3'] = exercise_3(data, s, log, results['2']['nets']['one-hot'])
    results['4'] = exercise_4(data, s, log)
    results['5'] = exercise_5(data, s, log)
    results['6'] = exercise_6(data, s, log, results['4']['runs'])
    results.update(seconds=time.perf_counter() - tic, mxnet=mx.__version__,
                   threads=os.environ.get('OMP_NUM_THREADS', 'default'), load=os.getloadavg()[0],
                   cpus=os.cpu_count(), quick=quick, settings=dataclasses.asdict(s))
    plots = Plots(out)
    report = write_report(out, render(results, s, plots, quick), plots, results)
    log(f'wrote {report} and {len(plots.pending)} plots')
    return report


def readme_section(report_text, report_path):
    """The README's Exercises section (between the markers) from ``exercises.md``: its text,
    headings one level down, images pointing next to the report."""
    body = report_text.split('\n', 1)[1].strip()  # drop the report's title
    body = re.sub(r'^## ', '### ', body, flags=re.M)
    folder = pathlib.PurePosixPath(report_path).parent
    body = re.sub(r'!\[\]\(([^)/]+\.png)\)', lambda m: f'![]({folder / m.group(1)})', body)
    return f'## Exercises\n\n{body}\n'


def update_readme(readme, report_path):
    """Replace the README's Exercises section (between the marker lines, each there once and in
    order: else ``ConfigError('readme')``) by the report's text, atomically."""
    import os
    from . import files
    readme, report_path = pathlib.Path(readme), pathlib.Path(report_path)
    rel = pathlib.Path(os.path.relpath(report_path.resolve(), readme.resolve().parent))
    section = readme_section(files.read_text(report_path, 'out'), rel.as_posix())
    files.splice(readme, README_START, README_END, section, 'readme')
    return readme


# --- the command -----------------------------------------------------------------------------

def register(subparsers):
    """Add ``gluon-d2l exercises`` to the program's command line."""
    written = ', '.join((REPORT, NUMBERS) + PLOTS)
    p = subparsers.add_parser('exercises', help="run the RNN chapter's six exercises and write the answers",
                              description="Run the six exercises of the chapter 'RNN from scratch' at reduced "
                                          'settings (a few minutes on two cores; --quick: seconds) and write '
                                          'DIR/exercises.md (a table per exercise, measured numbers, answers), '
                                          'DIR/exercises.json and PNG plots of perplexity per epoch. '
                                          f'It writes into DIR: {written}; a file of these that already '
                                          'exists there is refused before anything runs, unless --force. '
                                          'Every file is written whole or not at all (a temporary file, then '
                                          'renamed), and every option is checked before the first exercise.')
    p.add_argument('--out', required=True, metavar='DIR',
                   help='directory for exercises.md, exercises.json and the plots (created if missing)')
    p.add_argument('--force', action='store_true',
                   help='replace the files of an earlier report in DIR (without it an existing one is refused)')
    p.add_argument('--quick', action='store_true', help='tiny models and a few epochs (seconds; for tests)')
    p.add_argument('--corpus', metavar='FILE', help='exercise 2 also trains the best settings on this UTF-8 book')
    p.add_argument('--readme', metavar='FILE',
                   help=f'then replace the section between the lines {README_START} and {README_END} in FILE '
                        '(each once, in that order; checked first) by the report; the rest of FILE is kept')
    p.add_argument('--render', action='store_true',
                   help='only rewrite exercises.md and the plots from DIR/exercises.json (no training; '
                        'needs --force to replace them)')
    p.set_defaults(handler=handle, thread_defaults=True)


def _check_corpus(path, quick):
    """The absolute path of the ``--corpus`` book, checked to be long enough; ``ConfigError('corpus')``."""
    import os
    from . import files
    from .config import ConfigError
    from ..data import load_corpus_time_machine, min_corpus_length
    s = QUICK if quick else FULL
    corpus = pathlib.Path(path).resolve()
    os.close(files.open_regular(corpus, 'corpus'))  # a FIFO or a device would block or never end
    try:
        book, _ = load_corpus_time_machine(s.max_tokens, corpus)
    except (OSError, ValueError) as err:
        raise ConfigError('corpus', str(err)) from None
    needed = min_corpus_length(s.batch_size, max(s.grid_steps))
    if len(book) < needed:
        raise ConfigError('corpus', f'{str(corpus)!r} has {len(book)} letters; the exercises need {needed}')
    return corpus


def handle(args):
    """Run the ``exercises`` command; bad input is a ``ConfigError`` naming the option's setting,
    raised before the first exercise runs or the first file is written."""
    from . import files
    from .config import ConfigError
    out = files.check_directory(args.out, 'out')
    if args.render:
        for name in ('quick', 'corpus'):
            if getattr(args, name):
                raise ConfigError('render', f'--render trains nothing: drop --{name}')
    corpus = None if args.corpus is None else _check_corpus(args.corpus, args.quick)
    if args.readme is not None:
        files.check_output(args.readme, 'readme', force=True)
        files.check_splice(args.readme, README_START, README_END, 'readme')
    if args.render:
        if not out.is_dir():
            raise ConfigError('out', f'{str(out)!r} is not a directory with an {NUMBERS} to render from')
        text, plots = load_report(out)
        names = (REPORT,) + PLOTS
    else:
        names = (REPORT, NUMBERS) + PLOTS
    if out.is_dir():
        for name in names:
            files.check_output(out / name, 'out', force=args.force)
    if args.render:
        report = write_report(out, text, plots)
    else:
        report = run(out, quick=args.quick, corpus=corpus)
    if args.readme is not None:
        update_readme(args.readme, report)
    print(report)
    return 0
