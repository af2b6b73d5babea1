"""Training and prediction for the character-level language models (d2l chapter 8)."""
import math

import numpy as onp
from mxnet import autograd, gluon, init, np
from mxnet.util import use_np

from .checks import check_positive_int, check_positive_number
from .counters import Timer


def _devices(device):
    devices = list(device) if isinstance(device, (list, tuple)) else [device]
    if not devices:
        raise ValueError('device must be a context or a non-empty list of contexts')
    return devices


def _gradient_copies(net):
    """For each trainable parameter, the list of its gradient arrays (one per context)."""
    if isinstance(net, gluon.Block):
        return [p.list_grad() for p in net.collect_params().values() if p.grad_req != 'null']
    return [[p.grad] for p in net.params]


@use_np
def grad_clipping(net, theta):
    """Rescale all gradients so that their *global* L2 norm is at most ``theta``.

    Works for Gluon Blocks (all parameters, all contexts) and for scratch
    models with a ``params`` list. Copies of one parameter's gradient on
    several contexts are summed first, so the norm is that of the gradient the
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
    copies = _gradient_copies(net)
    if not copies:
        raise ValueError('grad_clipping: net has no trainable parameters')
    home = copies[0][0].ctx
    reduced = [grads[0] if len(grads) == 1 else sum(g.as_in_ctx(home) for g in grads) for grads in copies]
    flat = np.concatenate([g.reshape(-1) for g in reduced])
    norm = np.sqrt(np.dot(flat, flat))
    scale = theta / np.maximum(norm, theta)
    for grads in copies:
        for g in grads:
            g *= scale.as_in_ctx(g.ctx)
    return float(norm.item())


@use_np
def sgd(params, lr, batch_size):
    """Minibatch stochastic gradient descent, updating ``params`` in place."""
    for param in params:
        param[:] = param - lr * param.grad / batch_size


@use_np
def make_updater(net, lr, device, kvstore='device'):
    """Return ``updater(batch_size)`` and the Trainer behind it (``None`` for scratch models).

    A Gluon Block gets a ``gluon.Trainer`` with SGD, which reduces gradients
    across contexts through its KVStore; a scratch model gets :func:`sgd`.
    """
    lr = check_positive_number('lr', lr)
    if isinstance(net, gluon.Block):
        trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': lr}, kvstore=kvstore)
        return trainer.step, trainer
    return (lambda batch_size: sgd(net.params, lr, batch_size)), None


def detach_state(state):
    """Return ``state`` cut from the autograd graph that produced it."""
    return type(state)(s.detach() for s in state)


def _begin_states(net, batch_size, devices):
    return [net.begin_state(batch_size=batch_size // len(devices), ctx=d) for d in devices]


def _split(X, devices):
    if len(devices) == 1:
        return [X.as_in_ctx(devices[0])]
    if X.shape[0] % len(devices):
        raise ValueError(f'batch_size {X.shape[0]} is not divisible by the {len(devices)} devices')
    # Not gluon.utils.split_and_load: under NumPy 2 it hands MXNet a NumPy integer it cannot parse.
    return [part.as_in_ctx(d) for part, d in zip(np.split(X, len(devices), axis=0), devices)]


@use_np
def train_epoch_ch8(net, train_iter, loss, updater, device, use_random_iter, theta=1.0,
                    stats=None, reduce_gradients=None, num_workers=1):
    """Train ``net`` for one epoch; return ``(perplexity, tokens_per_sec)``.

    ``device`` may be one context or a list for data-parallel training: each
    minibatch is split across the contexts, each keeps its own hidden state,
    and the loss is normalised by the *global* token count so the summed
    gradient equals that of one context. With sequential partitioning the state
    is detached between minibatches; with random sampling it is re-initialised.
    Steps whose gradient norm is not finite are skipped (no update); a
    ``stats`` dict, if given, receives ``skipped_steps``, ``num_tokens`` and
    ``loss_sum``. For training across processes (:mod:`gluon_d2l.program.distributed`)
    each process holds ``1/num_workers`` of every global minibatch and
    ``reduce_gradients()`` sums the gradients of all workers before clipping.
    """
    devices = _devices(device)
    states, timer = None, Timer()
    loss_sum, num_tokens, skipped = None, 0, 0
    for X, Y in train_iter:
        if states is None or use_random_iter:
            states = _begin_states(net, X.shape[0], devices)
        else:
            states = [detach_state(s) for s in states]
        Xs, Ys = _split(X, devices), _split(Y, devices)
        batch_tokens = Y.size * num_workers
        with autograd.record():
            losses = []
            for k, (Xk, Yk) in enumerate(zip(Xs, Ys)):
                y_hat, states[k] = net(Xk, states[k])
                losses.append(loss(y_hat, Yk.T.reshape(-1)).sum() / batch_tokens)
        autograd.backward(losses)
        if reduce_gradients is not None:
            reduce_gradients()
        if math.isfinite(grad_clipping(net, theta)):
            updater(batch_size=1)
        else:
            skipped += 1
        batch_loss = sum(l.as_in_ctx(devices[0]) for l in losses) * batch_tokens
        loss_sum = batch_loss if loss_sum is None else loss_sum + batch_loss
        num_tokens += Y.size
    if loss_sum is None:
        raise ValueError('train_iter yielded no minibatch: the corpus is shorter than '
                         'one batch_size * num_steps block')
    seconds = timer.stop()
    loss_sum = float(loss_sum.item())
    if stats is not None:
        stats.update(skipped_steps=skipped, num_tokens=num_tokens, loss_sum=loss_sum)
    return perplexity(loss_sum / num_tokens), num_tokens / seconds


def perplexity(mean_loss):
    """``exp(mean_loss)``; ``inf`` when that overflows a float (a diverging run), NaN stays NaN."""
    try:
        return math.exp(mean_loss)
    except OverflowError:
        return math.inf


@use_np
def predict_ch8(prefix, num_preds, net, vocab, device, temperature=None, seed=None, strict=False):
    """Continue ``prefix`` by ``num_preds`` characters.

    Warms the state up on the prefix, then picks greedily (the argmax). With
    ``temperature`` it samples instead, from probabilities proportional to
    ``p ** (1 / temperature)``: below 1 sharpens, above 1 flattens; ``seed``
    makes sampling reproducible. Characters of the prefix outside the vocabulary
    are read as ``<unk>``, as in d2l; ``strict=True`` refuses them instead.
    """
    if not prefix:
        raise ValueError('prefix must be a non-empty string')
    num_preds = int(num_preds)
    if num_preds < 0:
        raise ValueError(f'num_preds must be >= 0, got {num_preds}')
    unknown = sorted({ch for ch in prefix if ch not in vocab.token_to_idx})
    if unknown and strict:
        raise ValueError(f'prefix {prefix!r} has characters outside the vocabulary: {unknown}')
    if temperature is not None:
        temperature = check_positive_number('temperature', temperature)
    device = _devices(device)[0]
    rng = onp.random.RandomState(seed)
    state = net.begin_state(batch_size=1, ctx=device)
    outputs = [vocab[prefix[0]]]

    def get_input():
        return np.array([outputs[-1]], ctx=device, dtype='int32').reshape((1, 1))

    for y in prefix[1:]:
        _, state = net(get_input(), state)
        outputs.append(vocab[y])
    for _ in range(num_preds):
        y, state = net(get_input(), state)
        logits = y.reshape(-1).asnumpy().astype('float64')
        if temperature is None:
            outputs.append(int(logits.argmax()))
        else:
            weights = onp.exp((logits - logits.max()) / temperature)
            outputs.append(int(rng.choice(len(weights), p=weights / weights.sum())))
    return ''.join(vocab.idx_to_token[i] for i in outputs)


@use_np
def train_ch8(net, train_iter, vocab, lr, num_epochs, device, use_random_iter=False,
              theta=1.0, on_epoch=None):
    """Train ``net`` for ``num_epochs`` epochs and print the d2l chapter's summary.

    Gluon Blocks are (re)initialised with ``Normal(0.01)`` on ``device`` (one
    context or a list) and trained with ``gluon.Trainer``; scratch models with
    :func:`sgd`. ``on_epoch(epoch, perplexity, tokens_per_sec)`` is called after
    every epoch. Returns the last ``(perplexity, tokens_per_sec)``.
    """
    num_epochs = check_positive_int('num_epochs', num_epochs)
    devices = _devices(device)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    if isinstance(net, gluon.Block):
        net.initialize(ctx=devices, force_reinit=True, init=init.Normal(0.01))
    updater, _ = make_updater(net, lr, devices)
    for epoch in range(num_epochs):
        ppl, speed = train_epoch_ch8(net, train_iter, loss, updater, devices, use_random_iter, theta)
        if on_epoch is not None:
            on_epoch(epoch + 1, ppl, speed)
    where = devices[0] if len(devices) == 1 else devices
    print(f'perplexity {ppl:.1f}, {speed:.1f} tokens/sec on {where}')
    for prefix in ('time traveller', 'traveller'):
        print(predict_ch8(prefix, 50, net, vocab, devices[0]))
    return ppl, speed
