"""Properties of the RNN models: shapes, splitting a sequence, hybridized == scratch."""
import mxnet as mx
import numpy as onp
import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from mxnet import np

import gluon_d2l as d2l
import strategies as S


@st.composite
def rnn_problems(draw):
    vocab, hiddens = draw(S.vocab_sizes), draw(S.num_hiddens)
    X = draw(S.token_batches(vocab, steps=draw(st.integers(2, 8))))
    scale = draw(st.sampled_from([0.01, 0.5, 3.0]))
    weights = [draw(S.arrays(shape, 'float64', scale)) for shape in
               [(vocab, hiddens), (hiddens, hiddens), (hiddens,), (hiddens, vocab), (vocab,)]]
    H0 = draw(S.arrays((X.shape[0], hiddens), 'float64', 1.0))
    return X, weights, H0


def scratch_with(weights):
    net = d2l.RNNModelScratch(weights[0].shape[0], weights[1].shape[0], mx.cpu(),
                              lambda *a: [np.array(w) for w in weights], d2l.init_rnn_state, d2l.rnn)
    return net


@given(problem=rnn_problems())
def test_scratch_output_and_state_shapes(problem):
    X, weights, H0 = problem
    note(f'X{X.shape} hiddens={H0.shape[1]} vocab={weights[0].shape[0]}')
    Y, (H,) = scratch_with(weights)(np.array(X), (np.array(H0),))
    assert Y.shape == (X.shape[1] * X.shape[0], weights[0].shape[0])
    assert H.shape == H0.shape


@given(problem=rnn_problems(), data=st.data())
def test_running_t_steps_equals_t1_then_t2_with_the_state_carried(problem, data):
    X, weights, H0 = problem
    split = data.draw(st.integers(1, X.shape[1] - 1))
    note(f'X{X.shape} split at {split}')
    net = scratch_with(weights)
    Y, (H,) = net(np.array(X), (np.array(H0),))
    Y1, state = net(np.array(X[:, :split]), (np.array(H0),))
    Y2, (H2,) = net(np.array(X[:, split:]), state)
    onp.testing.assert_allclose(onp.concatenate([Y1.asnumpy(), Y2.asnumpy()]), Y.asnumpy(), atol=1e-12)
    onp.testing.assert_allclose(H2.asnumpy(), H.asnumpy(), atol=1e-12)


@given(problem=rnn_problems())
def test_hybridized_scratch_equals_scratch(problem):
    X, weights, H0 = problem
    hybrid = d2l.HybridRNNScratch(weights[0].shape[0], weights[1].shape[0])
    hybrid.initialize()
    hybrid.cast('float64')
    for name, w in zip(hybrid.param_names, weights):
        getattr(hybrid, name).set_data(np.array(w))
    hybrid.hybridize(static_alloc=True)
    Y_h, (H_h,) = hybrid(np.array(X), (np.array(H0),))
    Y_s, (H_s,) = scratch_with(weights)(np.array(X), (np.array(H0),))
    onp.testing.assert_allclose(Y_h.asnumpy(), Y_s.asnumpy(), atol=1e-12)
    onp.testing.assert_allclose(H_h.asnumpy(), H_s.asnumpy(), atol=1e-12)


def one_hot_product(ids, w):
    return np.dot(mx.npx.one_hot(ids, w.shape[0], dtype=w.dtype), w)


def lookup(ids, w):
    return np.take(w, ids, axis=0)


def check_one_hot_is_lookup(X, W, G, lookup_fn=lookup):
    """``one_hot(X.T) @ W`` and ``lookup_fn(X.T, W)`` agree, forward and gradient (a scatter-add of G)."""
    results = []
    for product in (one_hot_product, lookup_fn):
        w = np.array(W)
        w.attach_grad()
        with mx.autograd.record():
            Y = product(np.array(X.T), w)
        Y.backward(np.array(G))
        results.append((Y.asnumpy(), w.grad.asnumpy()))
    (Y1, dW1), (Y2, dW2) = results
    onp.testing.assert_array_equal(Y1, Y2)  # one-hot rows pick W's rows exactly
    tol = 1e-12 if W.dtype == onp.float64 else 1e-5
    atol = tol * float(onp.abs(G).max(initial=1.0)) * X.size
    onp.testing.assert_allclose(dW1, dW2, rtol=tol, atol=atol)
    expected = onp.zeros_like(W)
    onp.add.at(expected, X.T, G)  # the scatter-add the gradient must be
    onp.testing.assert_allclose(dW2, expected, rtol=tol, atol=atol)


@given(problem=S.embedding_problems())
def test_one_hot_times_a_matrix_is_an_embedding_lookup_forward_and_gradient(problem):
    """Exercise 1: ``one_hot(X) @ W`` is the lookup ``W[X]``, and both give ``W`` the same gradient."""
    X, W, G = problem
    note(f'X{X.shape} W{W.shape} {W.dtype}')
    check_one_hot_is_lookup(X, W, G)


def test_the_lookup_property_catches_an_off_by_one_lookup():
    """Planted bug: looking up the next row (an off-by-one in the ids) must fail the check."""
    rng = onp.random.default_rng(0)
    X, W, G = rng.integers(0, 5, size=(2, 3)).astype('int32'), rng.normal(size=(5, 4)), rng.normal(size=(3, 2, 4))
    check_one_hot_is_lookup(X, W, G)
    with pytest.raises(AssertionError):
        check_one_hot_is_lookup(X, W, G, lambda ids, w: np.take(w, (ids + 1) % w.shape[0], axis=0))
