"""HybridRNNScratch with activation='relu' (the fused npx.rnn in rnn_relu mode), one step through
gluon.Trainer: the references of relu_train_step."""
from ._rnn import NAMES, ordered
from .relu_train_step import LR, inputs, jax, tensorflow, torch  # noqa: F401

#: float64 is held to float32 precision: MXNet 1.9.1's CPU ReLU-RNN kernel rounds each
#: pre-activation to float32 (see concise_rnn); float32 as relu_train_step
TOLERANCE = {'float64': 1e-6, 'float32': 2e-5}


def mxnet(d2l, X, Y, **weights):
    net = d2l.load(d2l.HybridRNNScratch(*weights['W_xh'].shape, activation='relu'), ordered(weights))
    net.hybridize()
    with d2l.autograd.record():
        y_hat, (H,) = net(d2l.tensor(X), net.begin_state(X.shape[0], d2l.device))
        l = d2l.gluon.loss.SoftmaxCrossEntropyLoss()(y_hat, d2l.tensor(Y.T.reshape(-1))).mean()
    l.backward()
    grads = d2l.grads(net)
    norm = d2l.grad_clipping(net, 1)
    clipped = d2l.grads(net)
    updater, _ = d2l.make_updater(net, LR, d2l.device)
    updater(batch_size=1)
    return {'H': H, 'loss': l, 'norm': norm, 'grad': dict(zip(NAMES, grads)),
            'clipped': dict(zip(NAMES, clipped)), 'updated': dict(zip(NAMES, d2l.params(net)))}
