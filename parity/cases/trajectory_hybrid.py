"""trajectory with HybridRNNScratch, hybridized, trained through gluon.Trainer: the references of trajectory."""
from ._rnn import ordered
from .trajectory import TOLERANCE, corpus_inputs, inputs, jax, tensorflow, torch, train  # noqa: F401


def mxnet(d2l, tokens, **weights):
    net = d2l.load(d2l.HybridRNNScratch(*weights['W_xh'].shape), ordered(weights))
    net.hybridize()
    return train(d2l, net)
