"""HybridRNNScratch, hybridized (one fused npx.rnn call): the references of rnn_scratch."""
from ._rnn import NAMES, ordered
from .rnn_scratch import TOLERANCE, inputs, jax, tensorflow, torch  # noqa: F401


def mxnet(d2l, X1, X2, Y2, **weights):
    net = d2l.load(d2l.HybridRNNScratch(*weights['W_xh'].shape), ordered(weights))
    net.hybridize()
    _, state = net(d2l.tensor(X1), net.begin_state(X1.shape[0], d2l.device))
    with d2l.autograd.record():
        Yhat, (H2,) = net(d2l.tensor(X2), state)
        l = d2l.gluon.loss.SoftmaxCrossEntropyLoss()(Yhat, d2l.tensor(Y2.T.reshape(-1))).mean()
    l.backward()
    return {'H1': state[0], 'Y2': Yhat, 'H2': H2, 'loss': l, 'grad': dict(zip(NAMES, d2l.grads(net)))}
