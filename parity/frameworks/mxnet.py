"""The system under test: ``gluon_d2l`` on MXNet, with the adapter helpers.

Cases call the library through this module (``d2l.CenteredLayer``, ``d2l.train_epoch_ch8``, ...),
so what they exercise is exactly what ``import gluon_d2l as d2l`` gives a user.
"""
import gluon_d2l  # noqa: F401  (applies the NumPy shim before MXNet is imported)
import mxnet
from gluon_d2l import (CenteredLayer, FourierHalfLayer, HybridCenteredLayer,  # noqa: F401
                       HybridRNNScratch, MyDense, RNNModel, RNNModelScratch, TensorReductionLayer,
                       Vocab, get_params, grad_clipping, init_rnn_state, load_corpus_time_machine,
                       predict_ch8, rnn, seq_data_iter_sequential, sgd, train_epoch_ch8)
from gluon_d2l.training import make_updater  # noqa: F401
from mxnet import autograd, gluon, init, np, npx  # noqa: F401

npx.set_np()   # the cases are written like the chapter's code, which runs in NumPy mode
VERSION = mxnet.__version__
device = mxnet.cpu()


def tensor(array):
    """A NumPy array as an ``mx.np`` array of the same dtype."""
    return np.array(array, dtype=array.dtype)


def numpy(x):
    """An ``mx.np`` array as a NumPy array."""
    return x.asnumpy()


def load(block, arrays):
    """Initialise ``block``, cast it to the arrays' dtype and set its parameters in order.

    ``arrays`` lists one NumPy value per parameter, in ``collect_params()`` order.
    """
    block.initialize(init.Zero())
    block.cast(arrays[0].dtype.name)
    params = list(block.collect_params().values())
    if len(params) != len(arrays):
        raise ValueError(f'{len(arrays)} arrays for the {len(params)} parameters of {block.name}')
    for param, value in zip(params, arrays):
        if param.shape != value.shape:
            raise ValueError(f'{param.name} has shape {param.shape}, the array {value.shape}')
        param.set_data(tensor(value))
    return block


def scratch_model(params, activation=None, embedded=False):
    """The d2l chapter's :class:`RNNModelScratch` with ``params`` (``W_xh, W_hh, b_h, W_hq, b_q``) as weights.

    ``activation`` is passed to the model; with ``embedded`` the last array of ``params`` is the
    embedding ``(vocab, dim)`` (``embedding=dim``).
    """
    rnn_params = params[:-1] if embedded else params

    def given_params(vocab_size, num_hiddens, device, num_inputs=None):
        arrays = [np.array(a, dtype=a.dtype, ctx=device) for a in rnn_params]
        for array in arrays:
            array.attach_grad()
        return arrays
    if not embedded:
        return RNNModelScratch(*params[0].shape, device, given_params, init_rnn_state, rnn, activation=activation)
    vocab_size, dim = params[-1].shape
    net = RNNModelScratch(vocab_size, params[0].shape[1], device, given_params, init_rnn_state, rnn,
                          embedding=dim, activation=activation)
    net.params[-1][:] = tensor(params[-1])
    return net


def params(net):
    """The parameter arrays of a scratch model or a Block, in order."""
    if isinstance(net, RNNModelScratch):
        return net.params
    return [p.data() for p in net.collect_params().values()]


def grads(block):
    """The gradients of a Block's parameters as NumPy arrays, in ``collect_params()`` order."""
    return [p.grad().asnumpy() for p in block.collect_params().values()]


class RecordingLoss:
    """``SoftmaxCrossEntropyLoss`` that also records each minibatch's mean loss."""

    def __init__(self):
        self.loss, self.means = gluon.loss.SoftmaxCrossEntropyLoss(), []

    def __call__(self, y_hat, y):
        l = self.loss(y_hat, y)
        self.means.append(float(l.mean().item()))
        return l
