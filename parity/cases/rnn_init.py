"""get_params + init_rnn_state at the chapter's size (28, 512): shapes, zero biases and states, weight scale 0.01."""
import numpy

VOCAB, HIDDENS, BATCH = 28, 512, 2
#: the weights are random (seeded) in every framework: their standard deviation (0.01) is
#: compared; with 290k draws two estimates differ by about 2e-5 (one standard deviation)
TOLERANCE = {'float64': 1e-4, 'float32': 1e-4}


def inputs(rng):
    return {}


def summary(d2l, params, state):
    """Shapes, the largest |bias| and |state| entry, and the std of all weight entries."""
    params, state = [d2l.numpy(p) for p in params], [d2l.numpy(s) for s in state]
    weights = numpy.concatenate([params[i].ravel() for i in (0, 1, 3)])
    return {'shapes': [list(p.shape) + [0] * (2 - p.ndim) for p in params],
            'state_shapes': [list(s.shape) for s in state],
            'max_abs_bias': max(abs(params[i]).max() for i in (2, 4)),
            'max_abs_state': max(abs(s).max() for s in state),
            'weight_std': weights.std()}


def mxnet(d2l):
    d2l.mxnet.random.seed(0)
    return summary(d2l, d2l.get_params(VOCAB, HIDDENS, d2l.device), d2l.init_rnn_state(BATCH, HIDDENS, d2l.device))


def torch(d2l):
    d2l.torch.manual_seed(0)
    return summary(d2l, d2l.get_params(VOCAB, HIDDENS, d2l.device), d2l.init_rnn_state(BATCH, HIDDENS, d2l.device))


def tensorflow(d2l):
    d2l.tf.random.set_seed(0)
    return summary(d2l, d2l.get_params(VOCAB, HIDDENS), d2l.init_rnn_state(BATCH, HIDDENS))


def jax(d2l):
    key = d2l.jax.random.PRNGKey(0)
    return summary(d2l, d2l.get_params(VOCAB, HIDDENS, key), d2l.init_rnn_state(BATCH, HIDDENS))
