"""HybridCenteredLayer, hybridized, after a Dense(128): the references of centered_layer."""
from .centered_layer import TOLERANCE, inputs, jax, mxnet_outputs, tensorflow, torch  # noqa: F401


def mxnet(d2l, X, W, b, G):
    net = d2l.gluon.nn.HybridSequential()
    net.add(d2l.gluon.nn.Dense(128, in_units=8), d2l.HybridCenteredLayer())
    d2l.load(net, [W, b])
    net.hybridize()
    return mxnet_outputs(d2l, net, X, G)
