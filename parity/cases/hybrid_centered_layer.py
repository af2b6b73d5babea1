"""HybridCenteredLayer, hybridized, after a Dense(128): the references of centered_layer."""
from .centered_layer import TOLERANCE, inputs, jax, tensorflow, torch  # noqa: F401


def mxnet(d2l, X, W, b, G):
    net = d2l.gluon.nn.HybridSequential()
    net.add(d2l.gluon.nn.Dense(128, in_units=8), d2l.HybridCenteredLayer())
    d2l.load(net, [W, b])
    net.hybridize()
    X = d2l.tensor(X)
    X.attach_grad()
    with d2l.autograd.record():
        Y = net(X)
    Y.backward(d2l.tensor(G))
    dW, db = d2l.grads(net)
    return {'Y': Y, 'grad': {'X': X.grad, 'weight': dW, 'bias': db}}
