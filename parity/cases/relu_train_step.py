"""One training step of the scratch RNN with activation='relu' (exercise 6): loss, gradients,
global norm, clipped gradients, params after SGD."""
from ._rnn import NAMES, ordered, scratch_weights, tokens

TOLERANCE = {'float64': 1e-12, 'float32': 2e-5}
LR = 1.0


def inputs(rng):
    # the d2l chapter's weight scale would leave ReLU nearly linear; these reach negative and large
    # pre-activations, so a tanh or a missing ReLU would show
    return {'X': tokens(rng, 2, 35), 'Y': tokens(rng, 2, 35), **scratch_weights(rng, scale=0.6)}


def mxnet(d2l, X, Y, **weights):
    net = d2l.scratch_model(ordered(weights), activation='relu')
    with d2l.autograd.record():
        y_hat, (H,) = net(d2l.tensor(X), net.begin_state(X.shape[0], d2l.device))
        l = d2l.gluon.loss.SoftmaxCrossEntropyLoss()(y_hat, d2l.tensor(Y.T.reshape(-1))).mean()
    l.backward()
    grads = [d2l.numpy(p.grad) for p in net.params]
    norm = d2l.grad_clipping(net, 1)
    clipped = [d2l.numpy(p.grad) for p in net.params]
    d2l.sgd(net.params, LR, batch_size=1)
    return {'H': H, 'loss': l, 'norm': norm, 'grad': dict(zip(NAMES, grads)),
            'clipped': dict(zip(NAMES, clipped)), 'updated': dict(zip(NAMES, net.params))}


def torch(d2l, X, Y, **weights):
    net = d2l.scratch_model(ordered(weights), d2l.rnn_relu)
    y_hat, (H,) = net(d2l.tensor(X), net.begin_state(X.shape[0], d2l.device))
    l = d2l.nn.CrossEntropyLoss()(y_hat, d2l.tensor(Y.T.reshape(-1)))
    l.backward()
    grads = [d2l.numpy(p.grad).copy() for p in net.params]
    norm = d2l.grad_clipping(net, 1)
    clipped = [d2l.numpy(p.grad).copy() for p in net.params]
    d2l.sgd(net.params, LR, batch_size=1)
    return {'H': H, 'loss': l, 'norm': norm, 'grad': dict(zip(NAMES, grads)),
            'clipped': dict(zip(NAMES, clipped)), 'updated': dict(zip(NAMES, net.params))}


def tensorflow(d2l, X, Y, **weights):
    net = d2l.scratch_model(ordered(weights), d2l.rnn_relu)
    loss = d2l.tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=weights['W_xh'].dtype)
    with d2l.tf.GradientTape() as tape:
        y_hat, (H,) = net(d2l.tensor(X), net.begin_state(X.shape[0]))
        l = loss(Y.T.reshape(-1), y_hat)
    grads = tape.gradient(l, net.trainable_variables)
    clipped, norm = d2l.grad_clipping(grads, 1)
    d2l.tf.keras.optimizers.SGD(LR).apply_gradients(zip(clipped, net.trainable_variables))
    return {'H': H, 'loss': l, 'norm': norm, 'grad': dict(zip(NAMES, grads)),
            'clipped': dict(zip(NAMES, clipped)), 'updated': dict(zip(NAMES, net.trainable_variables))}


def jax(d2l, X, Y, **weights):
    net = d2l.scratch_model(ordered(weights), d2l.rnn_relu)
    (l, (H,)), grads = d2l.loss_and_grads(net)(net.params, net.begin_state(X.shape[0]), d2l.tensor(X),
                                               d2l.tensor(Y))
    clipped, norm = d2l.grad_clipping(grads, 1)
    return {'H': H, 'loss': l, 'norm': norm, 'grad': dict(zip(NAMES, grads)), 'clipped': dict(zip(NAMES, clipped)),
            'updated': dict(zip(NAMES, d2l.sgd(net.params, clipped, LR, batch_size=1)))}
