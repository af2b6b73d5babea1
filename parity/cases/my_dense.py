"""MyDense (PyTorch: MyLinear), two stacked as in the d2l chapter (64 -> 8 -> 1): outputs and gradients."""

TOLERANCE = {'float64': 1e-12, 'float32': 1e-5}
NAMES = ('weight1', 'bias1', 'weight2', 'bias2')


def inputs(rng):
    # The second layer's weights and bias are positive so its output, hence every gradient, is not 0.
    return {'X': rng.uniform(size=(2, 64)), 'weight1': rng.normal(size=(64, 8)) * 0.3,
            'bias1': rng.normal(size=8) * 0.1, 'weight2': abs(rng.normal(size=(8, 1))), 'bias2': [0.5]}


def mxnet(d2l, X, weight1, bias1, weight2, bias2):
    net = d2l.gluon.nn.Sequential()
    net.add(d2l.MyDense(8, in_units=64), d2l.MyDense(1, in_units=8))
    d2l.load(net, [weight1, bias1, weight2, bias2])
    X = d2l.tensor(X)
    X.attach_grad()
    with d2l.autograd.record():
        Y = net(X)
    Y.backward()
    return {'Y': Y, 'grad': {'X': X.grad, **dict(zip(NAMES, d2l.grads(net)))}}


def torch(d2l, X, weight1, bias1, weight2, bias2):
    net = d2l.load(d2l.nn.Sequential(d2l.MyLinear(64, 8), d2l.MyLinear(8, 1)),
                   [weight1, bias1, weight2, bias2])
    X = d2l.tensor(X).requires_grad_()
    Y = net(X)
    Y.sum().backward()
    return {'Y': Y, 'grad': {'X': X.grad, **dict(zip(NAMES, (p.grad for p in net.parameters())))}}


def tensorflow(d2l, X, weight1, bias1, weight2, bias2):
    dtype = X.dtype.name
    net = d2l.tf.keras.models.Sequential([d2l.MyDense(8, dtype=dtype), d2l.MyDense(1, dtype=dtype)])
    X = d2l.tensor(X)
    net(X)
    net.set_weights([weight1, bias1, weight2, bias2])
    with d2l.tf.GradientTape() as tape:
        tape.watch(X)
        Y = net(X)
    grads = tape.gradient(Y, [X, *net.trainable_variables])
    return {'Y': Y, 'grad': {'X': grads[0], **dict(zip(NAMES, grads[1:]))}}


def jax(d2l, X, weight1, bias1, weight2, bias2):
    net = d2l.nn.Sequential([d2l.MyDense(64, 8), d2l.MyDense(8, 1)])
    params = {'params': {'layers_0': {'weight': weight1, 'bias': bias1},
                         'layers_1': {'weight': weight2, 'bias': bias2}}}
    Y, vjp = d2l.jax.vjp(net.apply, params, d2l.tensor(X))
    grads, dX = vjp(d2l.jax.numpy.ones_like(Y))
    layers = grads['params']
    return {'Y': Y, 'grad': {'X': dX, 'weight1': layers['layers_0']['weight'],
                             'bias1': layers['layers_0']['bias'], 'weight2': layers['layers_1']['weight'],
                             'bias2': layers['layers_1']['bias']}}
