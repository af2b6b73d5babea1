"""Concise RNN: RNNModel over gluon.rnn.RNN (ReLU, Gluon's default) vs nn.RNN, keras SimpleRNN and
flax SimpleCell with Gluon's weights mapped in: two chunks with the state carried, loss, gradients."""
import math

import numpy

from ._rnn import HIDDENS, VOCAB, tokens

#: float64 is held to float32 precision: MXNet 1.9.1's CPU ReLU-RNN kernel rounds each
#: pre-activation to float32 before the ReLU (its tanh kernel does not: concise_rnn_tanh
#: agrees to 1e-15), which tests/test_parity_golden.py pins down. float32: 2e-6 on CPU, but
#: cuDNN's fused RNN (TF32 off) was 3e-5 off on an H100.
TOLERANCE = {'float64': 1e-6, 'float32': 1e-4}
ACTIVATION = 'relu'
#: Gluon's parameters, in RNNModel.collect_params() order
GLUON_NAMES = ('l0_i2h_weight', 'l0_h2h_weight', 'l0_i2h_bias', 'l0_h2h_bias', 'dense_weight', 'dense_bias')


def gluon_weights(rng):
    return {'l0_i2h_weight': rng.normal(size=(HIDDENS, VOCAB)) * 0.5,
            'l0_h2h_weight': rng.normal(size=(HIDDENS, HIDDENS)) / math.sqrt(HIDDENS),
            'l0_i2h_bias': rng.normal(size=HIDDENS) * 0.1, 'l0_h2h_bias': rng.normal(size=HIDDENS) * 0.1,
            'dense_weight': rng.normal(size=(VOCAB, HIDDENS)) * 0.5, 'dense_bias': rng.normal(size=VOCAB) * 0.1}


def inputs(rng):
    return {'activation': numpy.array(ACTIVATION), 'X1': tokens(rng, 2, 35), 'X2': tokens(rng, 2, 35),
            'Y2': tokens(rng, 2, 35), **gluon_weights(rng)}


def ordered(weights):
    return [weights[name] for name in GLUON_NAMES]


def gluon_model(d2l, activation, weights):
    layer = d2l.gluon.rnn.RNN(HIDDENS, activation=str(activation), input_size=VOCAB)
    net = d2l.load(d2l.RNNModel(layer, VOCAB), ordered(weights))
    net.hybridize()
    return net


def mxnet(d2l, activation, X1, X2, Y2, **weights):
    net = gluon_model(d2l, activation, weights)
    _, state = net(d2l.tensor(X1), net.begin_state(batch_size=X1.shape[0], ctx=d2l.device))
    with d2l.autograd.record():
        Yhat, (H2,) = net(d2l.tensor(X2), state)
        l = d2l.gluon.loss.SoftmaxCrossEntropyLoss()(Yhat, d2l.tensor(Y2.T.reshape(-1))).mean()
    l.backward()
    return {'H1': state[0], 'Y2': Yhat, 'H2': H2, 'loss': l,
            'grad': dict(zip(GLUON_NAMES, d2l.grads(net)))}


def torch(d2l, activation, X1, X2, Y2, **weights):
    net = d2l.from_gluon_rnn(VOCAB, str(activation), ordered(weights))
    with d2l.torch.no_grad():
        _, state = net(d2l.tensor(X1), net.begin_state(d2l.device, batch_size=X1.shape[0]))
    Yhat, H2 = net(d2l.tensor(X2), state)
    l = d2l.nn.CrossEntropyLoss()(Yhat, d2l.tensor(Y2.T.reshape(-1)))
    l.backward()
    return {'H1': state, 'Y2': Yhat, 'H2': H2, 'loss': l,
            'grad': dict(zip(GLUON_NAMES, (p.grad for p in net.parameters())))}


def tensorflow(d2l, activation, X1, X2, Y2, **weights):
    net = d2l.from_gluon_rnn(VOCAB, str(activation), ordered(weights))
    _, state = net(d2l.tensor(X1), net.begin_state(X1.shape[0]))
    loss = d2l.tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=net.dtype)
    with d2l.tf.GradientTape() as tape:
        Yhat, (H2,) = net(d2l.tensor(X2), state)
        l = loss(Y2.T.reshape(-1), Yhat)
    grads = d2l.to_gluon_grads(net, tape.gradient(l, net.trainable_variables))
    return {'H1': d2l.numpy(state[0])[None], 'Y2': Yhat, 'H2': d2l.numpy(H2)[None], 'loss': l,
            'grad': dict(zip(GLUON_NAMES, grads))}


def jax(d2l, activation, X1, X2, Y2, **weights):
    net, params = d2l.RNNModel(VOCAB, HIDDENS, str(activation)), d2l.from_gluon_rnn(ordered(weights))
    zeros = d2l.jax.numpy.zeros((X1.shape[0], HIDDENS), dtype=weights['dense_bias'].dtype)
    _, H1 = net.apply(params, d2l.tensor(X1), zeros)

    def objective(params):
        Yhat, H2 = net.apply(params, d2l.tensor(X2), H1)
        return d2l.loss(Yhat, d2l.tensor(Y2.T.reshape(-1))), (Yhat, H2)
    (l, (Yhat, H2)), grads = d2l.jax.value_and_grad(objective, has_aux=True)(params)
    return {'H1': d2l.numpy(H1)[None], 'Y2': Yhat, 'H2': d2l.numpy(H2)[None], 'loss': l,
            'grad': dict(zip(GLUON_NAMES, d2l.to_gluon_grads(grads)))}
