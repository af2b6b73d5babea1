"""CenteredLayer after a Dense(128), as in the d2l chapter: outputs and gradients."""

TOLERANCE = {'float64': 1e-12, 'float32': 1e-5}


def inputs(rng):
    return {'X': rng.uniform(size=(4, 8)), 'W': rng.normal(size=(128, 8)) * 0.3,
            'b': rng.normal(size=128) * 0.1, 'G': rng.normal(size=(4, 128))}


def mxnet(d2l, X, W, b, G):
    net = d2l.gluon.nn.Sequential()
    net.add(d2l.gluon.nn.Dense(128, in_units=8), d2l.CenteredLayer())
    d2l.load(net, [W, b])
    return mxnet_outputs(d2l, net, X, G)


def mxnet_outputs(d2l, net, X, G):
    """Outputs of ``net`` (weights loaded) and the gradients of ``sum(G * net(X))``."""
    X = d2l.tensor(X)
    X.attach_grad()
    with d2l.autograd.record():
        Y = net(X)
    Y.backward(d2l.tensor(G))
    dW, db = d2l.grads(net)
    return {'Y': Y, 'grad': {'X': X.grad, 'weight': dW, 'bias': db}}


def torch(d2l, X, W, b, G):
    net = d2l.load(d2l.nn.Sequential(d2l.nn.Linear(8, 128), d2l.CenteredLayer()), [W, b])
    X = d2l.tensor(X).requires_grad_()
    Y = net(X)
    Y.backward(d2l.tensor(G))
    return {'Y': Y, 'grad': {'X': X.grad, 'weight': net[0].weight.grad, 'bias': net[0].bias.grad}}


def tensorflow(d2l, X, W, b, G):
    keras, dtype = d2l.tf.keras, X.dtype.name
    net = keras.Sequential([keras.layers.Dense(128, dtype=dtype), d2l.CenteredLayer(dtype=dtype)])
    X = d2l.tensor(X)
    net(X)
    net.layers[0].set_weights([W.T, b])  # Keras kernels are (in, out): Gluon's weight transposed
    with d2l.tf.GradientTape() as tape:
        tape.watch(X)
        Y = net(X)
    dX, dW, db = tape.gradient(Y, [X, *net.layers[0].trainable_variables], output_gradients=d2l.tensor(G))
    return {'Y': Y, 'grad': {'X': dX, 'weight': d2l.numpy(dW).T, 'bias': db}}


def jax(d2l, X, W, b, G):
    net = d2l.nn.Sequential([d2l.nn.Dense(128), d2l.CenteredLayer()])
    params = {'params': {'layers_0': {'kernel': W.T, 'bias': b}}}  # Flax kernels are (in, out)
    Y, vjp = d2l.jax.vjp(net.apply, params, d2l.tensor(X))
    grads, dX = vjp(d2l.tensor(G))
    dense = grads['params']['layers_0']
    return {'Y': Y, 'grad': {'X': dX, 'weight': dense['kernel'].T, 'bias': dense['bias']}}
