"""grad_clipping: global-norm clipping of the scratch RNN's gradients (theta=1 clips, theta=100 does not)."""
from ._rnn import NAMES, ordered, scratch_weights

TOLERANCE = {'float64': 1e-12, 'float32': 1e-5}


def inputs(rng):
    # Every gradient has norm above 1 on its own, so clipping each separately would differ.
    grads = {f'grad_{name}': rng.normal(size=w.shape) * 0.2 for name, w in scratch_weights(rng).items()}
    return {**scratch_weights(rng), **grads}


def split(arrays):
    return ordered(arrays), [arrays[f'grad_{name}'] for name in NAMES]


def mxnet(d2l, **arrays):
    weights, grads = split(arrays)
    out = {}
    for theta in (1, 100):
        net = d2l.scratch_model(weights)
        for param, grad in zip(net.params, grads):
            param.grad[:] = d2l.tensor(grad)
        norm = d2l.grad_clipping(net, theta)
        out[f'theta={theta}'] = {'norm': norm, 'grad': dict(zip(NAMES, (p.grad for p in net.params)))}
    return out


def torch(d2l, **arrays):
    weights, grads = split(arrays)
    out = {}
    for theta in (1, 100):
        net = d2l.scratch_model(weights)
        for param, grad in zip(net.params, grads):
            param.grad = d2l.tensor(grad)
        norm = d2l.grad_clipping(net, theta)
        out[f'theta={theta}'] = {'norm': norm, 'grad': dict(zip(NAMES, (p.grad for p in net.params)))}
    return out


def functional(d2l, **arrays):
    """TensorFlow and JAX clip a list of gradients and return it with the norm."""
    _, grads = split(arrays)
    out = {}
    for theta in (1, 100):
        clipped, norm = d2l.grad_clipping([d2l.tensor(g) for g in grads], theta)
        out[f'theta={theta}'] = {'norm': norm, 'grad': dict(zip(NAMES, clipped))}
    return out


tensorflow = jax = functional
