"""FourierHalfLayer (exercise 2): the leading ceil(n/2) DFT coefficients, odd and even n, and gradients."""

TOLERANCE = {'float64': 1e-12, 'float32': 1e-5}


def inputs(rng):
    return {'X_odd': rng.normal(size=(3, 7)), 'X_even': rng.normal(size=(2, 8)),
            'G_odd': rng.normal(size=(3, 4, 2)), 'G_even': rng.normal(size=(2, 4, 2))}


def mxnet(d2l, X_odd, X_even, G_odd, G_even):
    out = {}
    for name, X, G in (('odd', X_odd, G_odd), ('even', X_even, G_even)):
        X = d2l.tensor(X)
        X.attach_grad()
        with d2l.autograd.record():
            Y = d2l.FourierHalfLayer()(X)
        Y.backward(d2l.tensor(G))
        out[name] = {'Y': Y, 'grad_X': X.grad}
    return out


def torch(d2l, X_odd, X_even, G_odd, G_even):
    out = {}
    for name, X, G in (('odd', X_odd, G_odd), ('even', X_even, G_even)):
        X = d2l.tensor(X).requires_grad_()
        Y = d2l.FourierHalfLayer()(X)
        Y.backward(d2l.tensor(G))
        out[name] = {'Y': Y, 'grad_X': X.grad}
    return out


def tensorflow(d2l, X_odd, X_even, G_odd, G_even):
    out = {}
    for name, X, G in (('odd', X_odd, G_odd), ('even', X_even, G_even)):
        X = d2l.tensor(X)
        with d2l.tf.GradientTape() as tape:
            tape.watch(X)
            Y = d2l.FourierHalfLayer(dtype=X.dtype)(X)
        out[name] = {'Y': Y, 'grad_X': tape.gradient(Y, X, output_gradients=d2l.tensor(G))}
    return out


def jax(d2l, X_odd, X_even, G_odd, G_even):
    out = {}
    for name, X, G in (('odd', X_odd, G_odd), ('even', X_even, G_even)):
        Y, vjp = d2l.jax.vjp(lambda x: d2l.FourierHalfLayer().apply({}, x), d2l.tensor(X))
        out[name] = {'Y': Y, 'grad_X': vjp(d2l.tensor(G))[0]}
    return out
