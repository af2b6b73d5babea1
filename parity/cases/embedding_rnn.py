"""Scratch RNN with embedding=8 (exercise 2): a learned embedding in place of the one-hot input,
two 35-step chunks with the state carried, loss and gradients (the embedding's included)."""
from ._rnn import EMBEDDED_NAMES, embedded_ordered, embedded_weights, tokens

TOLERANCE = {'float64': 1e-12, 'float32': 2e-5}


def inputs(rng):
    return {'X1': tokens(rng, 2, 35), 'X2': tokens(rng, 2, 35), 'Y2': tokens(rng, 2, 35),
            **embedded_weights(rng)}


def mxnet(d2l, X1, X2, Y2, **weights):
    return mxnet_outputs(d2l, d2l.scratch_model(embedded_ordered(weights), embedded=True), X1, X2, Y2)


def mxnet_outputs(d2l, net, X1, X2, Y2):
    """Run chunk 1, then chunk 2 recorded from its state; gradients of the mean loss of chunk 2."""
    _, state = net(d2l.tensor(X1), net.begin_state(X1.shape[0], d2l.device))
    with d2l.autograd.record():
        Yhat, (H2,) = net(d2l.tensor(X2), state)
        l = d2l.gluon.loss.SoftmaxCrossEntropyLoss()(Yhat, d2l.tensor(Y2.T.reshape(-1))).mean()
    l.backward()
    grads = [p.grad for p in net.params] if isinstance(net, d2l.RNNModelScratch) else d2l.grads(net)
    return {'H1': state[0], 'Y2': Yhat, 'H2': H2, 'loss': l, 'grad': dict(zip(EMBEDDED_NAMES, grads))}


def torch(d2l, X1, X2, Y2, **weights):
    net = d2l.scratch_model(embedded_ordered(weights), embedded=True)
    with d2l.torch.no_grad():
        _, state = net(d2l.tensor(X1), net.begin_state(X1.shape[0], d2l.device))
    Yhat, (H2,) = net(d2l.tensor(X2), state)
    l = d2l.nn.CrossEntropyLoss()(Yhat, d2l.tensor(Y2.T.reshape(-1)))
    l.backward()
    return {'H1': state[0], 'Y2': Yhat, 'H2': H2, 'loss': l,
            'grad': dict(zip(EMBEDDED_NAMES, (p.grad for p in net.params)))}


def tensorflow(d2l, X1, X2, Y2, **weights):
    net = d2l.scratch_model(embedded_ordered(weights), embedded=True)
    _, state = net(d2l.tensor(X1), net.begin_state(X1.shape[0]))
    loss = d2l.tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=weights['W_xh'].dtype)
    with d2l.tf.GradientTape() as tape:
        Yhat, (H2,) = net(d2l.tensor(X2), state)
        l = loss(Y2.T.reshape(-1), Yhat)
    grads = [d2l.tf.convert_to_tensor(g) for g in tape.gradient(l, net.trainable_variables)]  # E's: IndexedSlices
    return {'H1': state[0], 'Y2': Yhat, 'H2': H2, 'loss': l, 'grad': dict(zip(EMBEDDED_NAMES, grads))}


def jax(d2l, X1, X2, Y2, **weights):
    net = d2l.scratch_model(embedded_ordered(weights), embedded=True)
    _, state = net(d2l.tensor(X1), net.begin_state(X1.shape[0]))
    Yhat, (H2,) = net(d2l.tensor(X2), state)
    (l, _), grads = d2l.loss_and_grads(net)(net.params, state, d2l.tensor(X2), d2l.tensor(Y2))
    return {'H1': state[0], 'Y2': Yhat, 'H2': H2, 'loss': l, 'grad': dict(zip(EMBEDDED_NAMES, grads))}
