"""Custom layers: the seeds' printed results, composition, persistence, contexts, exercises."""
import mxnet as mx
import numpy as onp
import pytest
from mxnet import np
from mxnet.gluon import nn

import gluon_d2l as d2l


def test_centered_layer_matches_seed_output():
    out = d2l.CenteredLayer()(np.array([1, 2, 3, 4, 5]))
    onp.testing.assert_array_equal(out.asnumpy(), [-2, -1, 0, 1, 2])


def test_centered_layer_in_a_network_has_zero_mean():
    net = nn.Sequential()
    net.add(nn.Dense(128), d2l.CenteredLayer())
    net.initialize()
    Y = net(np.random.uniform(size=(4, 8)))
    assert abs(float(Y.mean())) < 1e-6


def test_hybrid_centered_layer_equals_imperative_after_hybridize():
    X = np.random.uniform(-3, 3, size=(6, 7))
    layer = d2l.HybridCenteredLayer()
    before = layer(X).asnumpy()
    layer.hybridize()
    mx.test_utils.assert_almost_equal(layer(X).asnumpy(), before, rtol=0, atol=1e-6)
    mx.test_utils.assert_almost_equal(before, d2l.CenteredLayer()(X).asnumpy(), rtol=0, atol=0)


def test_mydense_parameters_are_named_as_mxnet_prefixes_them():
    dense = d2l.MyDense(units=3, in_units=5)
    listing = str(dense.params)
    assert f'{dense.prefix}weight (shape=(5, 3)' in listing
    assert f'{dense.prefix}bias (shape=(3,)' in listing
    assert dense.prefix.startswith('mydense') and dense.prefix.endswith('_')


def test_first_mydense_in_a_fresh_name_scope_is_mydense0():
    with mx.name.NameManager():
        dense = d2l.MyDense(units=3, in_units=5)
    assert 'mydense0_weight (shape=(5, 3)' in str(dense.params)
    assert 'mydense0_bias (shape=(3,)' in str(dense.params)


def test_mydense_computes_relu_of_affine_map():
    dense = d2l.MyDense(units=3, in_units=5)
    dense.initialize(init=mx.init.Normal(1.0))
    X = np.random.uniform(-1, 1, size=(4, 5))
    W, b = dense.weight.data().asnumpy(), dense.bias.data().asnumpy()
    expected = onp.maximum(X.asnumpy() @ W + b, 0)
    mx.test_utils.assert_almost_equal(dense(X).asnumpy(), expected, rtol=1e-5, atol=1e-6)
    assert (dense(X).asnumpy() >= 0).all()


def test_mydense_composes_with_dense_and_round_trips_parameters(tmp_path):
    def build():
        net = nn.Sequential()
        net.add(d2l.MyDense(8, in_units=64), nn.Dense(4, in_units=8), d2l.MyDense(1, in_units=4))
        return net
    net = build()
    net.initialize(init=mx.init.Normal(0.5))
    X = np.random.uniform(size=(2, 64))
    Y = net(X)
    assert Y.shape == (2, 1)
    net.save_parameters(str(tmp_path / 'net.params'))
    clone = build()
    clone.load_parameters(str(tmp_path / 'net.params'))
    onp.testing.assert_array_equal(clone(X).asnumpy(), Y.asnumpy())


def test_mydense_runs_on_a_non_default_context():
    ctx = mx.cpu(1)
    dense = d2l.MyDense(units=3, in_units=5)
    dense.initialize(ctx=ctx)
    Y = dense(np.random.uniform(size=(2, 5), ctx=ctx))
    assert Y.ctx == ctx
    assert all(p.list_ctx() == [ctx] for p in dense.collect_params().values())


def test_mydense_rejects_wrong_in_units_with_a_clear_message():
    dense = d2l.MyDense(units=3, in_units=5)
    dense.initialize()
    with pytest.raises(ValueError, match=r'in_units=5'):
        dense(np.ones((2, 4)))


def test_tensor_reduction_layer_matches_einsum_oracle_imperative_and_hybridized():
    layer = d2l.TensorReductionLayer(units=3, in_units=4)
    layer.initialize(init=mx.init.Normal(1.0))
    X = np.random.uniform(-1, 1, size=(5, 4))
    W = layer.weight.data().asnumpy()
    x = X.asnumpy()
    expected = onp.einsum('bi,ijk,bj->bk', x, W, x)
    mx.test_utils.assert_almost_equal(layer(X).asnumpy(), expected, rtol=1e-5, atol=1e-5)
    layer.hybridize()
    mx.test_utils.assert_almost_equal(layer(X).asnumpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('n', [1, 2, 7, 8])
def test_fourier_half_layer_matches_numpy_fft(n):
    x = onp.random.uniform(-1, 1, size=(3, n))
    out = d2l.FourierHalfLayer()(np.array(x, dtype='float64')).asnumpy()
    coeffs = onp.fft.fft(x, axis=-1)[:, : (n + 1) // 2]
    assert out.shape == (3, (n + 1) // 2, 2)
    onp.testing.assert_allclose(out[..., 0], coeffs.real, atol=1e-10)
    onp.testing.assert_allclose(out[..., 1], coeffs.imag, atol=1e-10)


def test_tensor_reduction_layer_nested_in_a_hybridized_block():
    from mxnet import np as mnp
    from mxnet.gluon import nn

    class Outer(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.inner = d2l.TensorReductionLayer(2, 3)

        def hybrid_forward(self, F, x):
            return self.inner(x) * 2

    net = Outer()
    net.initialize()
    x = mnp.random.uniform(size=(4, 3))
    eager = net(x)
    net.hybridize()
    mx.test_utils.assert_almost_equal(net(x).asnumpy(), eager.asnumpy(), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match='in_units=3'):
        net.inner(mnp.ones((4, 5)))
