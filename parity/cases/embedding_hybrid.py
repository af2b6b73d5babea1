"""HybridRNNScratch with embedding=8 (an nn.Embedding feeding the fused npx.rnn), hybridized:
the references of embedding_rnn."""
from ._rnn import embedded_ordered
from .embedding_rnn import TOLERANCE, inputs, jax, mxnet_outputs, tensorflow, torch  # noqa: F401


def mxnet(d2l, X1, X2, Y2, **weights):
    vocab_size, dim = weights['E'].shape
    net = d2l.load(d2l.HybridRNNScratch(vocab_size, weights['W_hh'].shape[0], embedding=dim),
                   embedded_ordered(weights))
    net.hybridize()
    return mxnet_outputs(d2l, net, X1, X2, Y2)
