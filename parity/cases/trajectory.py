"""train_epoch_ch8 on The Time Machine: 71 minibatches (batch 4 x 35 steps of the first 10,000
characters), each side with its own data pipeline, the chapter's init scale, clipping, SGD with lr 1."""
import random

import numpy

from parity import corpus

from ._rnn import NAMES, ordered, scratch_weights

TOLERANCE = {'float64': 1e-12, 'float32': 1e-4}
BATCH, STEPS, MAX_TOKENS, LR = 4, 35, 10000, 1.0
OFFSET_SEED = 0  # Python's random picks the offset of the first minibatch, as in d2l


def corpus_inputs():
    return {'tokens': numpy.array(corpus.load_corpus_time_machine(MAX_TOKENS)[0], dtype='int32')}


def inputs(rng):
    return scratch_weights(rng, scale=0.02)


def mxnet(d2l, tokens, **weights):
    return train(d2l, d2l.scratch_model(ordered(weights)))


def train(d2l, net):
    """Train ``net`` with gluon_d2l's own pipeline (``tokens`` is only for the references)."""
    corpus_ids, _ = d2l.load_corpus_time_machine(MAX_TOKENS)
    random.seed(OFFSET_SEED)
    train_iter = d2l.seq_data_iter_sequential(corpus_ids, BATCH, STEPS)
    loss = d2l.RecordingLoss()
    updater, _ = d2l.make_updater(net, LR, d2l.device)
    ppl, _ = d2l.train_epoch_ch8(net, train_iter, loss, updater, d2l.device, use_random_iter=False)
    return {'perplexity': ppl, 'losses': loss.means, 'params': dict(zip(NAMES, d2l.params(net)))}


def batches(d2l, tokens):
    random.seed(OFFSET_SEED)
    return d2l.seq_data_iter_sequential(tokens.tolist(), BATCH, STEPS)


def torch(d2l, tokens, **weights):
    net = d2l.scratch_model(ordered(weights))
    updater = lambda batch_size: d2l.sgd(net.params, LR, batch_size)  # noqa: E731  (the chapter's train_ch8)
    ppl, losses = d2l.train_epoch_ch8(net, batches(d2l, tokens), d2l.nn.CrossEntropyLoss(), updater,
                                      d2l.device, False)
    return {'perplexity': ppl, 'losses': losses, 'params': dict(zip(NAMES, net.params))}


def tensorflow(d2l, tokens, **weights):
    net = d2l.scratch_model(ordered(weights))
    loss = d2l.tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=weights['W_xh'].dtype)
    ppl, losses = d2l.train_epoch_ch8(net, batches(d2l, tokens), loss, d2l.tf.keras.optimizers.SGD(LR), False)
    return {'perplexity': ppl, 'losses': losses, 'params': dict(zip(NAMES, net.trainable_variables))}


def jax(d2l, tokens, **weights):
    net = d2l.scratch_model(ordered(weights))
    ppl, losses = d2l.train_epoch_ch8(net, batches(d2l, tokens), LR, False)
    return {'perplexity': ppl, 'losses': losses, 'params': dict(zip(NAMES, net.params))}
