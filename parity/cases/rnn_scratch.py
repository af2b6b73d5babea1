"""Scratch RNN (RNNModelScratch + rnn): two 35-step chunks with the state carried, loss and gradients."""
from ._rnn import NAMES, ordered, scratch_weights, tokens

TOLERANCE = {'float64': 1e-12, 'float32': 2e-5}


def inputs(rng):
    return {'X1': tokens(rng, 2, 35), 'X2': tokens(rng, 2, 35), 'Y2': tokens(rng, 2, 35),
            **scratch_weights(rng)}


def mxnet(d2l, X1, X2, Y2, **weights):
    net = d2l.scratch_model(ordered(weights))
    _, state = net(d2l.tensor(X1), net.begin_state(X1.shape[0], d2l.device))
    with d2l.autograd.record():
        Yhat, (H2,) = net(d2l.tensor(X2), state)
        l = d2l.gluon.loss.SoftmaxCrossEntropyLoss()(Yhat, d2l.tensor(Y2.T.reshape(-1))).mean()
    l.backward()
    return {'H1': state[0], 'Y2': Yhat, 'H2': H2, 'loss': l,
            'grad': dict(zip(NAMES, (p.grad for p in net.params)))}


def torch(d2l, X1, X2, Y2, **weights):
    net = d2l.scratch_model(ordered(weights))
    with d2l.torch.no_grad():
        _, state = net(d2l.tensor(X1), net.begin_state(X1.shape[0], d2l.device))
    Yhat, (H2,) = net(d2l.tensor(X2), state)
    l = d2l.nn.CrossEntropyLoss()(Yhat, d2l.tensor(Y2.T.reshape(-1)))
    l.backward()
    return {'H1': state[0], 'Y2': Yhat, 'H2': H2, 'loss': l,
            'grad': dict(zip(NAMES, (p.grad for p in net.params)))}


def tensorflow(d2l, X1, X2, Y2, **weights):
    net = d2l.scratch_model(ordered(weights))
    _, state = net(d2l.tensor(X1), net.begin_state(X1.shape[0]))
    loss = d2l.tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=weights['W_xh'].dtype)
    with d2l.tf.GradientTape() as tape:
        Yhat, (H2,) = net(d2l.tensor(X2), state)
        l = loss(Y2.T.reshape(-1), Yhat)
    grads = tape.gradient(l, net.trainable_variables)
    return {'H1': state[0], 'Y2': Yhat, 'H2': H2, 'loss': l, 'grad': dict(zip(NAMES, grads))}


def jax(d2l, X1, X2, Y2, **weights):
    net = d2l.scratch_model(ordered(weights))
    _, state = net(d2l.tensor(X1), net.begin_state(X1.shape[0]))
    Yhat, (H2,) = net(d2l.tensor(X2), state)
    (l, _), grads = d2l.loss_and_grads(net)(net.params, state, d2l.tensor(X2), d2l.tensor(Y2))
    return {'H1': state[0], 'Y2': Yhat, 'H2': H2, 'loss': l, 'grad': dict(zip(NAMES, grads))}
