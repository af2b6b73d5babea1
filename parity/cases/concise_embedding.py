"""Concise RNN with embedding=8 (an nn.Embedding feeding gluon.rnn.RNN, tanh) vs nn.Embedding + nn.RNN:
two chunks with the state carried, loss, gradients (the embedding's included)."""
import numpy

from . import concise_rnn
from ._rnn import EMBED, HIDDENS, VOCAB

TOLERANCE = {'float64': 1e-12, 'float32': 1e-4}  # float32: see concise_rnn (cuDNN)
NAMES = concise_rnn.GLUON_NAMES + ('embedding_weight',)


def inputs(rng):
    arrays = concise_rnn.inputs(rng)
    arrays['l0_i2h_weight'] = rng.normal(size=(HIDDENS, EMBED)) * 0.5
    return {**arrays, 'activation': numpy.array('tanh'), 'embedding_weight': rng.normal(size=(VOCAB, EMBED))}


def mxnet(d2l, activation, X1, X2, Y2, **weights):
    layer = d2l.gluon.rnn.RNN(HIDDENS, activation=str(activation), input_size=EMBED)
    net = d2l.load(d2l.RNNModel(layer, VOCAB, embedding=EMBED), [weights[name] for name in NAMES])
    net.hybridize()
    _, state = net(d2l.tensor(X1), net.begin_state(batch_size=X1.shape[0], ctx=d2l.device))
    with d2l.autograd.record():
        Yhat, (H2,) = net(d2l.tensor(X2), state)
        l = d2l.gluon.loss.SoftmaxCrossEntropyLoss()(Yhat, d2l.tensor(Y2.T.reshape(-1))).mean()
    l.backward()
    return {'H1': state[0], 'Y2': Yhat, 'H2': H2, 'loss': l, 'grad': dict(zip(NAMES, d2l.grads(net)))}


def torch(d2l, activation, X1, X2, Y2, **weights):
    net = d2l.from_gluon_rnn(VOCAB, str(activation), [weights[name] for name in NAMES])
    with d2l.torch.no_grad():
        _, state = net(d2l.tensor(X1), net.begin_state(d2l.device, batch_size=X1.shape[0]))
    Yhat, H2 = net(d2l.tensor(X2), state)
    l = d2l.nn.CrossEntropyLoss()(Yhat, d2l.tensor(Y2.T.reshape(-1)))
    l.backward()
    return {'H1': state, 'Y2': Yhat, 'H2': H2, 'loss': l,
            'grad': dict(zip(NAMES, (p.grad for p in net.parameters())))}
