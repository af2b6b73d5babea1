"""Concise RNN trained by train_epoch_ch8 for 4 minibatches (gluon.Trainer vs torch.optim.SGD).

PyTorch only: Keras's SimpleRNN and Flax's SimpleCell have one bias where Gluon has two, so
SGD moves their sum by one step where Gluon moves it by two, and the clipping norm counts the
bias gradient once instead of twice. Their forward pass and gradients are compared in
concise_rnn; this case checks Gluon's Trainer, clipping of a Block and state detaching.
"""
import numpy

from .concise_rnn import GLUON_NAMES, gluon_model, gluon_weights, ordered
from ._rnn import tokens

TOLERANCE = {'float64': 1e-6, 'float32': 2e-4}  # float64: see concise_rnn (ReLU kernel)
LR = 1.0


def inputs(rng):
    return {'activation': numpy.array('relu'), 'X': tokens(rng, 4, 2, 35), 'Y': tokens(rng, 4, 2, 35),
            **gluon_weights(rng)}


def mxnet(d2l, activation, X, Y, **weights):
    net, loss = gluon_model(d2l, activation, weights), d2l.RecordingLoss()
    updater, _ = d2l.make_updater(net, LR, d2l.device)
    batches = [(d2l.tensor(x), d2l.tensor(y)) for x, y in zip(X, Y)]
    ppl, _ = d2l.train_epoch_ch8(net, batches, loss, updater, d2l.device, use_random_iter=False)
    return {'perplexity': ppl, 'losses': loss.means, 'params': dict(zip(GLUON_NAMES, d2l.params(net)))}


def torch(d2l, activation, X, Y, **weights):
    net = d2l.from_gluon_rnn(weights['dense_weight'].shape[0], str(activation), ordered(weights))
    batches = [(d2l.tensor(x), d2l.tensor(y)) for x, y in zip(X, Y)]
    updater = d2l.torch.optim.SGD(net.parameters(), LR)  # as the chapter's train_ch8 does for an nn.Module
    ppl, losses = d2l.train_epoch_ch8(net, batches, d2l.nn.CrossEntropyLoss(), updater, d2l.device, False)
    return {'perplexity': ppl, 'losses': losses, 'params': dict(zip(GLUON_NAMES, net.parameters()))}
