"""TensorReductionLayer (exercise 1), y_k = sum_ij W_ijk x_i x_j: outputs and gradients."""

TOLERANCE = {'float64': 1e-12, 'float32': 1e-5}


def inputs(rng):
    return {'X': rng.normal(size=(4, 5)), 'W': rng.normal(size=(5, 5, 3)), 'G': rng.normal(size=(4, 3))}


def mxnet(d2l, X, W, G):
    net = d2l.load(d2l.TensorReductionLayer(3, 5), [W])
    X = d2l.tensor(X)
    X.attach_grad()
    with d2l.autograd.record():
        Y = net(X)
    Y.backward(d2l.tensor(G))
    return {'Y': Y, 'grad': {'X': X.grad, 'W': d2l.grads(net)[0]}}


def torch(d2l, X, W, G):
    net = d2l.load(d2l.TensorReductionLayer(5, 3), [W])
    X = d2l.tensor(X).requires_grad_()
    Y = net(X)
    Y.backward(d2l.tensor(G))
    return {'Y': Y, 'grad': {'X': X.grad, 'W': net.weight.grad}}


def tensorflow(d2l, X, W, G):
    net = d2l.TensorReductionLayer(3, dtype=X.dtype.name)
    X = d2l.tensor(X)
    net(X)
    net.set_weights([W])
    with d2l.tf.GradientTape() as tape:
        tape.watch(X)
        Y = net(X)
    dX, dW = tape.gradient(Y, [X, net.weight], output_gradients=d2l.tensor(G))
    return {'Y': Y, 'grad': {'X': dX, 'W': dW}}


def jax(d2l, X, W, G):
    net = d2l.TensorReductionLayer(5, 3)
    Y, vjp = d2l.jax.vjp(net.apply, {'params': {'weight': W}}, d2l.tensor(X))
    grads, dX = vjp(d2l.tensor(G))
    return {'Y': Y, 'grad': {'X': dX, 'W': grads['params']['weight']}}
