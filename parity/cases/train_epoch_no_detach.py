"""train_epoch_ch8 with detach=False (exercise 5): 3 minibatches whose state stays attached, so the
gradient of minibatch k flows back through minibatches 1..k; clipping, SGD."""
from ._rnn import NAMES, ordered, scratch_weights, tokens

TOLERANCE = {'float64': 1e-12, 'float32': 2e-4}
LR = 0.5


def inputs(rng):
    return {'X': tokens(rng, 3, 2, 35), 'Y': tokens(rng, 3, 2, 35), **scratch_weights(rng, scale=0.7)}


def mxnet(d2l, X, Y, **weights):
    net, loss = d2l.scratch_model(ordered(weights)), d2l.RecordingLoss()
    updater, _ = d2l.make_updater(net, LR, d2l.device)
    batches = [(d2l.tensor(x), d2l.tensor(y)) for x, y in zip(X, Y)]
    ppl, _ = d2l.train_epoch_ch8(net, batches, loss, updater, d2l.device, use_random_iter=False, detach=False)
    return {'perplexity': ppl, 'losses': loss.means, 'params': dict(zip(NAMES, net.params))}


def torch(d2l, X, Y, **weights):
    net = d2l.scratch_model(ordered(weights))
    updater = lambda batch_size: d2l.sgd(net.params, LR, batch_size)  # noqa: E731
    batches = [(d2l.tensor(x), d2l.tensor(y)) for x, y in zip(X, Y)]
    ppl, losses = d2l.train_epoch_ch8(net, batches, d2l.nn.CrossEntropyLoss(), updater, d2l.device, False,
                                      detach=False)
    return {'perplexity': ppl, 'losses': losses, 'params': dict(zip(NAMES, net.params))}


def tensorflow(d2l, X, Y, **weights):
    net = d2l.scratch_model(ordered(weights))
    loss = d2l.tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=weights["W_xh"].dtype)
    batches = [(d2l.tensor(x), d2l.tensor(y)) for x, y in zip(X, Y)]
    ppl, losses = d2l.train_epoch_ch8(net, batches, loss, d2l.tf.keras.optimizers.SGD(LR), False, detach=False)
    return {'perplexity': ppl, 'losses': losses, 'params': dict(zip(NAMES, net.trainable_variables))}


def jax(d2l, X, Y, **weights):
    net = d2l.scratch_model(ordered(weights))
    batches = [(d2l.tensor(x), d2l.tensor(y)) for x, y in zip(X, Y)]
    ppl, losses = d2l.train_epoch_ch8(net, batches, LR, False, detach=False)
    return {'perplexity': ppl, 'losses': losses, 'params': dict(zip(NAMES, net.params))}
