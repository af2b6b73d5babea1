"""Training and prediction for the character-level language models (d2l chapter 8)."""
import math

import mxnet as mx
import numpy as onp
from mxnet import autograd, gluon, init, np
from mxnet.util import use_np

from .checks import (check_bool, check_callable, check_context, check_int, check_positive_int,
                     check_positive_number, check_vocab)
from .counters import Timer
from .data import TOKEN_RANGE_ATTR
from .modes import as_np, begin_model_state, call_model, callers_mode, is_library_model, library_entry


def _devices(device):
    devices = list(device) if isinstance(device, (list, tuple)) else [device]
    if not devices:
        raise ValueError('device must be a context or a non-empty list of contexts')
    for d in devices:
        check_context('device', d)
    return devices


def _check_net(net):
    """``net`` must be a model of this library or d2l's: callable, with ``begin_state``."""
    if not callable(net) or not hasattr(net, 'begin_state'):
        raise TypeError(f'net must be an RNN model with begin_state (RNNModelScratch, HybridRNNScratch, '
                        f'RNNModel), got {type(net).__name__}')
    return net


#: the most characters :func:`predict_ch8` generates in one call
MAX_PREDS = 10 ** 6


def _gradient_copies(net):
    """For each trainable parameter, the list of its gradient arrays (one per context), as ``mx.np``
    views: a legacy model's ``mx.nd`` gradients are measured and scaled in place through them."""
    if isinstance(net, gluon.Block):
        return [[as_np(g) for g in p.list_grad()] for p in net.collect_params().values() if p.grad_req != 'null']
    return [[as_np(p.grad)] for p in net.params]


def _global_norm(copies):
    """The L2 norm of all gradients (per-context copies summed first), as a 1-element array.

    Why not ``np.concatenate`` + ``np.dot`` (as before): measured here on the chapter's model,
    NumPy-mode ``concatenate`` alone takes 3-4 ms per step; one BLAS dot per flattened gradient
    (MXNet's ``nd.dot``, no copy), summed by ``add_n``, takes 0.4 ms and gives the same norm to
    rounding (float64 to the last bit).
    """
    home = copies[0][0].ctx
    reduced = [grads[0] if len(grads) == 1 else sum(g.as_in_ctx(home) for g in grads) for grads in copies]
    flats = [g.as_nd_ndarray().reshape((-1,)) for g in reduced]
    squares = [mx.nd.dot(f, f) for f in flats]
    return mx.nd.sqrt(squares[0] if len(squares) == 1 else mx.nd.add_n(*squares)).as_np_ndarray()


@use_np
def gradient_norm(net):
    """The global L2 norm of ``net``'s gradients (what :func:`grad_clipping` measures), unchanged."""
    copies = _gradient_copies(net)
    if not copies:
        raise ValueError('gradient_norm: net has no trainable parameters')
    return float(_global_norm(copies).item())


@use_np
def grad_clipping(net, theta):
    """Rescale all gradients so that their *global* L2 norm is at most ``theta``.

    Works for Gluon Blocks (all parameters, all contexts) and for scratch
    models with a ``params`` list, legacy (``mx.nd`` gradients) or NumPy-mode, in either mode.
    Copies of one parameter's gradient on several contexts are summed first, so the norm is that of the gradient the
    Trainer will apply. Returns that norm as a float; when it is NaN or
    infinite the gradients are left non-finite and the caller must skip the
    update (``train_epoch_ch8`` does and counts it).

    ``gluon.utils.clip_global_norm`` is not used: it rejects ``mx.np`` arrays,
    treats per-context copies as separate arrays (the wrong norm for data
    parallel training), and its ``1e-8`` in the divisor breaks float64 parity.
    The norm is one dot product over all gradients concatenated: 1.4 ms for the
    chapter's model here, against 5.4 ms for a square-and-sum per parameter.
    """
    theta = check_positive_number('theta', theta)
    if not isinstance(net, gluon.Block) and not isinstance(getattr(net, 'params', None), (list, tuple)):
        raise TypeError(f'net must be a Gluon Block or a scratch model with a params list, got {type(net).__name__}')
    copies = _gradient_copies(net)
    if not copies:
        raise ValueError('grad_clipping: net has no trainable parameters')
    norm = _global_norm(copies)
    scale = theta / np.maximum(norm, theta)
    for grads in copies:
        for g in grads:
            g *= scale.as_in_ctx(g.ctx)
    return float(norm.item())


class _DeviceTally:
    """The epoch's step statistics kept on the device, read to the host every ``READ_EVERY`` steps.

    Each step adds its gradient norm (a device array) and its per-device losses. Reading them in
    batches keeps the hot loop free of host reads while bounding what is held: an epoch of a large
    corpus would otherwise keep two arrays per step alive (and let Python queue the whole epoch).
    The loss total is summed as float32 arithmetic on the device would give it: per step the devices'
    losses summed, times the step's token count, then summed over steps, each operation rounded to
    the loss's dtype (correctly rounded, as MXNet's kernels round).
    """

    READ_EVERY = 64

    def __init__(self, theta):
        self.theta, self.pending = theta, []
        self.skipped, self.clipped, self.max_norm, self.loss_sum = 0, 0, 0.0, None

    def add(self, norm, losses, tokens):
        self.pending.append((norm, losses, tokens))
        if len(self.pending) >= self.READ_EVERY:
            self.read()

    def read(self):
        for norm, losses, tokens in self.pending:
            value = float(norm.item())
            if not math.isfinite(value):
                self.skipped += 1
            else:
                self.max_norm = max(self.max_norm, value)
                self.clipped += self.theta is not None and value > self.theta
            dtype = onp.dtype(losses[0].dtype).type
            batch = None
            for l in losses:
                batch = dtype(l.item()) if batch is None else dtype(batch + dtype(l.item()))
            batch = dtype(batch * dtype(tokens))
            self.loss_sum = batch if self.loss_sum is None else dtype(self.loss_sum + batch)
        self.pending = []


def _clip_on_device(copies, theta, zeros):
    """:func:`grad_clipping` without the host read, for the training loop's hot path.

    Returns the norm as a device array. When it is not finite, every gradient is set to zero
    and an updater marked ``zero_gradient_is_skip`` leaves the weights unchanged; a finite step
    is scaled exactly as :func:`grad_clipping` scales it (``theta=None``: not at all).
    ``zeros`` caches one zero array per gradient size for the epoch.

    Why MXNet's legacy ``nd.where`` (a 1-element condition selecting whole rows of the gradient
    viewed as one row), not ``np.where``: ``NaN * 0`` is NaN, so the zeroing must select, and
    NumPy-mode ``where`` took 2.8-3.7 ms per 512x512 gradient here (same-shape or broadcast),
    ``nd.where`` 0.2-0.5 ms.
    """
    if not copies:
        raise ValueError('train_epoch_ch8: net has no trainable parameters')
    norm = _global_norm(copies)
    home = norm.as_nd_ndarray().reshape((1,))
    ok = mx.nd.contrib.isfinite(home)
    scale = None if theta is None else theta / mx.nd.maximum(home, theta)
    for grads in copies:
        for g in grads:
            rows = g.as_nd_ndarray().reshape((1, -1))
            if scale is not None:
                mx.nd.broadcast_mul(rows, scale.as_in_context(g.ctx), out=rows)
            key = (rows.shape, g.ctx, rows.dtype)
            if key not in zeros:
                zeros[key] = mx.nd.zeros(rows.shape, ctx=g.ctx, dtype=rows.dtype)
            mx.nd.where(ok.as_in_context(g.ctx), rows, zeros[key], out=rows)
    return norm


@use_np
def sgd(params, lr, batch_size):
    """Minibatch stochastic gradient descent, updating ``params`` (``mx.np`` or ``mx.nd`` arrays) in place."""
    if not isinstance(params, (list, tuple)) or not all(hasattr(p, 'grad') for p in params):
        raise TypeError('params must be a list of arrays with gradients (attach_grad)')
    check_positive_number('lr', lr)
    check_positive_number('batch_size', batch_size)
    for param in params:
        param = as_np(param)
        param[:] = param - lr * param.grad / batch_size


@use_np
def make_updater(net, lr, device, kvstore='device'):
    """Return ``updater(batch_size)`` and the Trainer behind it (``None`` for scratch models).

    A Gluon Block gets a ``gluon.Trainer`` with SGD, which reduces gradients
    across contexts through its KVStore; a scratch model gets :func:`sgd`. Both are
    plain SGD (no momentum, no weight decay), so a zero gradient leaves every weight
    bit for bit as it was: the updater is marked ``zero_gradient_is_skip`` and
    :func:`train_epoch_ch8` skips a non-finite step on the device by zeroing its
    gradient instead of reading the norm to the host.
    """
    lr = check_positive_number('lr', lr)
    if isinstance(net, gluon.Block):
        trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': lr}, kvstore=kvstore)
        params = [p for p in net.collect_params().values() if p.grad_req != 'null']
        if len(_devices(device)) == 1 and kvstore == 'device':
            def updater(batch_size):
                """The Trainer's SGD as one ``sgd_update`` per parameter, the Trainer's count kept.

                Why not ``trainer.step``: its Python bookkeeping cost 3.3 ms per step of the chapter's
                hybrid model here, against 1.2 ms for the same kernels called directly (one context,
                no KVStore: nothing to reduce). Same formula, so the same weights bit for bit.
                """
                for p in params:
                    w = p.data().as_nd_ndarray()
                    mx.nd.sgd_update(w, p.grad().as_nd_ndarray(), lr=trainer.learning_rate, wd=0.0,
                                     rescale_grad=1.0 / batch_size, out=w)
                trainer.optimizer.num_update += 1
        else:
            def updater(batch_size):
                trainer.step(batch_size)
    else:
        trainer = None

        def updater(batch_size):
            sgd(net.params, lr, batch_size)
    updater.zero_gradient_is_skip = True
    return updater, trainer


def detach_state(state):
    """Return ``state`` cut from the autograd graph that produced it."""
    return type(state)(s.detach() for s in state)


def _begin_states(net, batch_size, devices):
    return [begin_model_state(net, batch_size // len(devices), d) for d in devices]


def _split(X, devices):
    """``X`` split along the batch axis, one part per device; the loader's id range goes along."""
    if len(devices) == 1:
        parts = [X.as_in_ctx(devices[0])]
    else:
        if X.shape[0] % len(devices):
            raise ValueError(f'batch_size {X.shape[0]} is not divisible by the {len(devices)} devices')
        # Not gluon.utils.split_and_load: under NumPy 2 it hands MXNet a NumPy integer it cannot parse.
        parts = [part.as_in_ctx(d) for part, d in zip(np.split(X, len(devices), axis=0), devices)]
    known = getattr(X, TOKEN_RANGE_ATTR, None)
    if known is not None:
        for part in parts:
            setattr(part, TOKEN_RANGE_ATTR, known)  # a part's ids lie within the whole batch's range
    return parts


#: the largest autograd graph ``detach=False`` may build, in bytes (see :func:`attached_graph_bytes`)
ATTACHED_GRAPH_LIMIT = 2 * 2 ** 30
#: bytes the graph keeps per time step and sequence, per hidden unit and per vocabulary entry
#: (float32). The attached graph of an epoch of 8 minibatches x 35 steps x batch 32 (vocabulary 28),
#: measured as the extra peak RSS of an attached epoch over a detached one, each in a fresh process
#: (tests/benchmarks/test_attached_memory.py): 198 MiB for the hybrid and concise models with 512
#: hiddens, 85 MiB for scratch; 36, 37 and 21 MiB with 128. That is at most 43 bytes per hidden
#: unit; the estimate rounds up to 64 (hidden states, pre-activations, their gradients, one-hot
#: inputs, logits and softmax): 295 MiB and 85 MiB for those settings.
GRAPH_BYTES_PER_HIDDEN, GRAPH_BYTES_PER_TOKEN = 64, 64


def attached_graph_bytes(num_minibatches, batch_size, num_steps, num_hiddens, vocab_size, itemsize=4):
    """Estimate the memory of the graph that ``detach=False`` holds at the last minibatch.

    The graph then spans every time step of the epoch, ``num_minibatches * num_steps``
    steps of ``batch_size`` sequences, each holding ``O(num_hiddens + vocab_size)`` values.
    """
    per_step = batch_size * (GRAPH_BYTES_PER_HIDDEN * num_hiddens + GRAPH_BYTES_PER_TOKEN * vocab_size)
    return int(num_minibatches * num_steps * per_step * itemsize / 4)


def check_attached_graph(num_minibatches, batch_size, num_steps, num_hiddens, vocab_size, itemsize=4,
                         limit=None):
    """Raise ``ValueError`` naming ``detach`` if the ``detach=False`` graph would exceed ``limit``."""
    limit = ATTACHED_GRAPH_LIMIT if limit is None else limit
    need = attached_graph_bytes(num_minibatches, batch_size, num_steps, num_hiddens, vocab_size, itemsize)
    if need > limit:
        raise ValueError(f'detach=False would hold a graph of about {need / 2 ** 20:.0f} MiB '
                         f'({num_minibatches} minibatches x {num_steps} steps x batch {batch_size}, '
                         f'{num_hiddens} hiddens), over the limit of {limit / 2 ** 20:.0f} MiB: use fewer '
                         'tokens (max_tokens), fewer hiddens, or detach')
    return need


def _num_hiddens(net):
    return getattr(net, 'num_hiddens', 0)


def _itemsize(net):
    params = net.params if not isinstance(net, gluon.Block) else [p.data() for p in net.collect_params().values()]
    return onp.dtype(params[0].dtype).itemsize if params else 4


@library_entry
def train_epoch_ch8(net, train_iter, loss, updater, device, use_random_iter, theta=1.0,
                    stats=None, reduce_gradients=None, num_workers=1, detach=True):
    """Train ``net`` for one epoch; return ``(perplexity, tokens_per_sec)``.

    ``device`` may be one context or a list for data-parallel training: each
    minibatch is split across the contexts, each keeps its own hidden state,
    and the loss is normalised by the *global* token count so the summed
    gradient equals that of one context. With sequential partitioning the state
    is detached between minibatches; with random sampling it is re-initialised.
    ``theta=None`` turns gradient clipping off. Steps whose gradient norm is not
    finite are skipped (the weights are not changed). With an updater from :func:`make_updater`
    (marked ``zero_gradient_is_skip``) no step reads the host: the norm check, the skip (the
    gradient is zeroed, the updater still runs) and the counts stay on the device, read every
    ``_DeviceTally.READ_EVERY`` (64) steps; any other updater is not called for a skipped
    step, which takes one host read of the norm per step. A ``stats`` dict, if given, receives
    ``skipped_steps``, ``num_tokens``, ``loss_sum``, ``max_grad_norm`` (before
    clipping) and ``clipped_steps``. For training across processes
    (:mod:`gluon_d2l.program.distributed`) each process holds ``1/num_workers`` of every
    global minibatch and ``reduce_gradients()`` sums the gradients of all workers
    before clipping.

    ``detach=False`` (sequential partitioning only) keeps the hidden state attached to
    everything before it in the epoch: the loss of minibatch ``k`` is differentiated
    through minibatches ``1..k``. MXNet frees a graph at ``backward()`` (and SGD updates
    the weights an older graph would reuse), so minibatch ``k`` re-runs ``1..k-1`` from
    the epoch's initial state with the current weights, recorded in one graph: exact
    gradients, ``k`` minibatches of work and memory at step ``k`` (quadratic time per
    epoch). The graph is bounded by :data:`ATTACHED_GRAPH_LIMIT`: past it, ``ValueError``.

    ``net`` runs in the caller's mode and gets the caller's kind of arrays (a legacy model
    ``mx.nd`` minibatches, whichever kind ``train_iter`` yields); the loss, the clipping and the
    update work on ``mx.np`` views of its outputs and gradients.
    """
    devices, use_random_iter, detach = _check_loop(net, train_iter, device, use_random_iter, detach)
    check_callable('loss', loss)
    check_callable('updater', updater)
    num_workers = check_positive_int('num_workers', num_workers)
    check_callable('reduce_gradients', reduce_gradients, optional=True)
    if stats is not None and not isinstance(stats, dict):
        raise TypeError(f'stats must be a dict or None, got {type(stats).__name__}')
    if theta is not None:
        theta = check_positive_number('theta', theta)
    if not detach and use_random_iter:
        raise ValueError('detach=False needs sequential partitioning (use_random_iter=False): '
                         'random sampling starts every minibatch from a fresh state')
    states, timer = None, Timer()
    loss_sum, num_tokens, skipped, clipped, max_norm = None, 0, 0, 0, 0.0
    # No host read per step when the updater treats a zero gradient as a skip: the check, the skip
    # and the counts stay on the device and are read every _DeviceTally.READ_EVERY steps.
    on_device = getattr(updater, 'zero_gradient_is_skip', False) and reduce_gradients is None
    tally, zeros, steps = _DeviceTally(theta), {}, 0
    history = []  # detach=False: this epoch's earlier minibatches, split per device
    for X, Y in train_iter:
        X, Y = as_np(X), as_np(Y)
        if len(devices) > 1 and X.shape[0] % len(devices):
            raise ValueError(f'batch_size {X.shape[0]} is not divisible by the {len(devices)} devices')
        if states is None or use_random_iter or not detach:
            states = _begin_states(net, X.shape[0], devices)
        else:
            states = [detach_state(s) for s in states]
        Xs, Ys = _split(X, devices), _split(Y, devices)
        if not detach:
            check_attached_graph(len(history) + 1, X.shape[0], X.shape[1], _num_hiddens(net),
                                 getattr(net, 'vocab_size', 0), _itemsize(net))
        batch_tokens = Y.size * num_workers
        with autograd.record():
            losses = []
            for k, (Xk, Yk) in enumerate(zip(Xs, Ys)):
                for earlier in history:
                    _, states[k] = call_model(net, earlier[k], states[k])
                y_hat, states[k] = call_model(net, Xk, states[k])
                losses.append(loss(y_hat, Yk.T.reshape(-1)).sum() / batch_tokens)
        if not detach:
            history.append(Xs)
        autograd.backward(losses)
        if reduce_gradients is not None:
            reduce_gradients()
        if on_device:
            norm = _clip_on_device(_gradient_copies(net), theta, zeros)
            updater(batch_size=1)
            tally.add(norm, losses, batch_tokens)
        else:
            norm = gradient_norm(net) if theta is None else grad_clipping(net, theta)
            if math.isfinite(norm):
                updater(batch_size=1)
                max_norm = max(max_norm, norm)
                clipped += theta is not None and norm > theta
            else:
                skipped += 1
            batch_loss = sum(l.as_in_ctx(devices[0]) for l in losses) * batch_tokens
            loss_sum = batch_loss if loss_sum is None else loss_sum + batch_loss
        num_tokens += Y.size
        steps += 1
    if not steps:
        raise ValueError('train_iter yielded no minibatch: the corpus is shorter than '
                         'one batch_size * num_steps block')
    # the reads wait for the epoch's last step: done before the clock stops
    if on_device:
        tally.read()
        skipped, clipped, max_norm, loss_sum = tally.skipped, tally.clipped, tally.max_norm, float(tally.loss_sum)
    else:
        loss_sum = float(loss_sum.item())
    seconds = timer.stop()
    if stats is not None:
        stats.update(skipped_steps=skipped, num_tokens=num_tokens, loss_sum=loss_sum,
                     max_grad_norm=max_norm, clipped_steps=int(clipped))
    return perplexity(loss_sum / num_tokens), num_tokens / seconds


def perplexity(mean_loss):
    """``exp(mean_loss)``; ``inf`` when that overflows a float (a diverging run), NaN stays NaN."""
    try:
        return math.exp(mean_loss)
    except OverflowError:
        return math.inf


def _check_loop(net, train_iter, device, use_random_iter, detach):
    """The arguments a training loop shares, checked: ``(devices, use_random_iter, detach)``."""
    devices = _devices(device)
    _check_net(net)
    if not hasattr(train_iter, '__iter__'):
        raise TypeError(f'train_iter must be an iterable of (X, Y) minibatches, got {type(train_iter).__name__}')
    return devices, check_bool('use_random_iter', use_random_iter), check_bool('detach', detach)


def _sampling_probabilities(logits, temperature):
    """``softmax(logits / temperature)`` in float64; with infinite logits, its limit (the +inf ones
    equally likely). NaN logits (a diverged model) are a ``ValueError``."""
    if onp.isnan(logits).any():
        raise ValueError('net: its output logits are NaN (the parameters have diverged); there is nothing '
                         'to sample from')
    if onp.isposinf(logits).any():
        weights = onp.isposinf(logits).astype('float64')
    else:
        weights = onp.exp((logits - logits.max()) / temperature)
    return weights / weights.sum()


@library_entry
def predict_ch8(prefix, num_preds, net, vocab, device, temperature=None, seed=None, strict=False):
    """Continue ``prefix`` by ``num_preds`` characters.

    Warms the state up on the prefix, then picks greedily (the argmax). With
    ``temperature`` it samples instead, from probabilities proportional to
    ``p ** (1 / temperature)``: below 1 sharpens, above 1 flattens; ``seed``
    makes sampling reproducible. Characters of the prefix outside the vocabulary
    are read as ``<unk>``, as in d2l; ``strict=True`` refuses them instead. A model that is not
    the library's runs in the caller's mode, fed the caller's kind of arrays.
    """
    if not isinstance(prefix, str):
        raise TypeError(f'prefix must be a str, got {type(prefix).__name__}')
    if not prefix:
        raise ValueError('prefix must be a non-empty string')
    num_preds = check_int('num_preds', num_preds, 0, MAX_PREDS)
    _check_net(net)
    check_vocab('vocab', vocab)
    strict = check_bool('strict', strict)
    if seed is not None:
        check_int('seed', seed, 0, 2 ** 32 - 1)
    unknown = sorted({ch for ch in prefix if ch not in vocab.token_to_idx})
    if unknown and strict:
        raise ValueError(f'prefix {prefix!r} has characters outside the vocabulary: {unknown}')
    if temperature is not None:
        temperature = check_positive_number('temperature', temperature)
    device = _devices(device)[0]
    rng = onp.random.RandomState(seed)
    state = begin_model_state(net, 1, device)
    outputs = [vocab[prefix[0]]]

    def get_input():
        return np.array([outputs[-1]], ctx=device, dtype='int32').reshape((1, 1))

    for y in prefix[1:]:
        _, state = call_model(net, get_input(), state)
        outputs.append(vocab[y])
    for _ in range(num_preds):
        y, state = call_model(net, get_input(), state)
        logits = y.reshape(-1).asnumpy().astype('float64')
        if temperature is None:
            outputs.append(int(logits.argmax()))
        else:
            outputs.append(int(rng.choice(len(logits), p=_sampling_probabilities(logits, temperature))))
    return ''.join(vocab.idx_to_token[i] for i in outputs)


@library_entry
def train_ch8(net, train_iter, vocab, lr, num_epochs, device, use_random_iter=False,
              theta=1.0, on_epoch=None, detach=True):
    """Train ``net`` for ``num_epochs`` epochs and print the d2l chapter's summary.

    Gluon Blocks are (re)initialised with ``Normal(0.01)`` on ``device`` (one
    context or a list) and trained with ``gluon.Trainer``; scratch models with
    :func:`sgd`. ``on_epoch(epoch, perplexity, tokens_per_sec)`` is called after
    every epoch. ``theta=None`` trains without clipping; ``detach=False`` keeps the
    state attached across an epoch's minibatches (see :func:`train_epoch_ch8`; a
    setting whose graph would pass :data:`ATTACHED_GRAPH_LIMIT` is refused before
    training). Returns the last ``(perplexity, tokens_per_sec)``.

    A model that is not the library's runs in the caller's mode: in a legacy-mode program it is
    initialised with ``mx.nd`` parameters and fed ``mx.nd`` minibatches and states (see
    :func:`gluon_d2l.modes.call_model`); the mode itself is never switched.
    """
    num_epochs = check_positive_int('num_epochs', num_epochs)
    devices, use_random_iter, detach = _check_loop(net, train_iter, device, use_random_iter, detach)
    check_vocab('vocab', vocab)
    check_positive_number('lr', lr)
    check_callable('on_epoch', on_epoch, optional=True)
    if theta is not None:
        theta = check_positive_number('theta', theta)
    if not detach:
        if use_random_iter:
            raise ValueError('detach=False needs sequential partitioning (use_random_iter=False)')
        if all(hasattr(train_iter, a) for a in ('corpus', 'batch_size', 'num_steps')):
            # the most minibatches seq_data_iter_sequential yields (offset 0)
            batches = (len(train_iter.corpus) - 1) // train_iter.batch_size // train_iter.num_steps
            check_attached_graph(batches, train_iter.batch_size, train_iter.num_steps, _num_hiddens(net),
                                 len(vocab))
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    if isinstance(net, gluon.Block):
        if is_library_model(net):
            net.initialize(ctx=devices, force_reinit=True, init=init.Normal(0.01))
        else:   # a model written in the caller's mode gets parameters of its kind
            with callers_mode():
                net.initialize(ctx=devices, force_reinit=True, init=init.Normal(0.01))
    updater, _ = make_updater(net, lr, devices)
    for epoch in range(num_epochs):
        ppl, speed = train_epoch_ch8(net, train_iter, loss, updater, devices, use_random_iter, theta,
                                     detach=detach)
        if on_epoch is not None:
            on_epoch(epoch + 1, ppl, speed)
    where = devices[0] if len(devices) == 1 else devices
    print(f'perplexity {ppl:.1f}, {speed:.1f} tokens/sec on {where}')
    for prefix in ('time traveller', 'traveller'):
        print(predict_ch8(prefix, 50, net, vocab, devices[0]))
    return ppl, speed
