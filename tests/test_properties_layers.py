"""Properties of the custom layers against NumPy oracles, for drawn shapes, dtypes and magnitudes."""
import numpy as onp
import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from mxnet import np

import gluon_d2l as d2l
import strategies as S


@given(X=S.matrices())
def test_centered_layer_preserves_shape_and_centres(X):
    note(f'shape={X.shape} dtype={X.dtype}')
    out = d2l.CenteredLayer()(np.array(X, dtype=X.dtype)).asnumpy()
    assert out.shape == X.shape
    eps = onp.finfo(X.dtype).eps
    assert abs(out.mean()) <= 8 * eps * max(1.0, onp.abs(X).max()) * X.size


@given(X=S.matrices(dtype='float64', scale=10.0), shift=st.floats(-100, 100))
def test_centered_layer_ignores_a_constant_shift(X, shift):
    layer = d2l.CenteredLayer()
    onp.testing.assert_allclose(layer(np.array(X + shift)).asnumpy(), layer(np.array(X)).asnumpy(), atol=1e-9)


@given(X=S.matrices())
def test_hybridized_centered_layer_equals_imperative(X):
    hybrid = d2l.HybridCenteredLayer()
    hybrid.hybridize()
    x = np.array(X, dtype=X.dtype)
    onp.testing.assert_array_equal(hybrid(x).asnumpy(), d2l.CenteredLayer()(x).asnumpy())


@st.composite
def dense_problems(draw):
    batch, in_units, units = draw(S.batch_sizes), draw(S.feature_counts), draw(S.feature_counts)
    dtype = draw(S.float_dtypes)
    return (draw(S.arrays((batch, in_units), dtype, 10.0)), draw(S.arrays((in_units, units), dtype, 1.0)),
            draw(S.arrays((units,), dtype, 1.0)))


@given(problem=dense_problems())
def test_mydense_equals_relu_of_the_affine_oracle(problem):
    X, W, b = problem
    note(f'X{X.shape} W{W.shape} dtype={X.dtype}')
    layer = d2l.MyDense(W.shape[1], W.shape[0])
    layer.initialize()
    layer.cast(X.dtype)
    layer.weight.set_data(np.array(W, dtype=X.dtype))
    layer.bias.set_data(np.array(b, dtype=X.dtype))
    out = layer(np.array(X, dtype=X.dtype)).asnumpy()
    assert out.shape == (X.shape[0], W.shape[1]) and (out >= 0).all()
    tol = 1e-4 if X.dtype == onp.float32 else 1e-10
    onp.testing.assert_allclose(out, onp.maximum(X @ W + b, 0), rtol=tol, atol=tol * (1 + onp.abs(X).max()))


@given(in_units=S.feature_counts, wrong=S.feature_counts)
def test_mydense_rejects_any_other_feature_count(in_units, wrong):
    layer = d2l.MyDense(2, in_units)
    layer.initialize()
    if wrong == in_units:
        wrong += 1
    with pytest.raises(ValueError, match=f'in_units={in_units}'):
        layer(np.ones((1, wrong)))


@given(X=S.matrices(dtype='float64', scale=2.0), units=S.feature_counts, data=st.data())
def test_tensor_reduction_equals_einsum(X, units, data):
    W = data.draw(S.arrays((X.shape[1], X.shape[1], units), 'float64', 1.0))
    layer = d2l.TensorReductionLayer(units, X.shape[1])
    layer.initialize()
    layer.cast('float64')
    layer.weight.set_data(np.array(W))
    onp.testing.assert_allclose(layer(np.array(X)).asnumpy(), onp.einsum('bi,ijk,bj->bk', X, W, X), atol=1e-9)


@given(X=S.matrices(dtype='float64', cols=st.integers(1, 16), scale=10.0))
def test_fourier_half_equals_numpy_fft(X):
    out = d2l.FourierHalfLayer()(np.array(X)).asnumpy()
    expected = onp.fft.fft(X, axis=-1)[:, : (X.shape[1] + 1) // 2]
    onp.testing.assert_allclose(out[..., 0] + 1j * out[..., 1], expected, atol=1e-9 * (1 + onp.abs(X).sum()))
