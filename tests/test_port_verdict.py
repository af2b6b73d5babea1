"""``compare``'s verdict in its default (inference) mode is the port's: where MXNet 1.9.1's own
inference-mode backward is wrong (BatchNorm, float32 pooling) the expected gradients come from a
path MXNet gets right; floating ids and ``None`` arguments are run as the block runs them."""
import importlib

import mxnet as mx
import numpy
import pytest
from mxnet import autograd, gluon
from mxnet.gluon import nn

from parity import port
from parity.port import graph as G
from parity.port import zoo

from parity_support import need

compare_module = importlib.import_module('parity.port.compare')
DTYPES = ('float64', 'float32')


def batchnorm_mlp(dtype):
    """Dense, BatchNorm (running statistics away from 0 and 1), ReLU, Dense, and a batch of inputs."""
    with G.mode(True):
        net = nn.HybridSequential()
        net.add(nn.Dense(8, in_units=5), nn.BatchNorm(in_channels=8), nn.Activation('relu'), nn.Dense(3, in_units=8))
        net.initialize()
        net.cast(dtype)
        zoo.randomize(net, numpy.random.default_rng(1))
        rng = numpy.random.default_rng(3)
        net[1].running_mean.set_data(mx.np.array(rng.normal(size=8), dtype=dtype))
        net[1].running_var.set_data(mx.np.array(rng.uniform(0.5, 2.0, size=8), dtype=dtype))
    return net, [numpy.random.default_rng(2).normal(size=(6, 5)).astype(dtype)]


class TextCNN(gluon.HybridBlock):
    """Embedding, Conv1D, global max pooling over time, Dense."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.embed = nn.Embedding(20, 6)
            self.conv = nn.Conv1D(4, 3, in_channels=6, activation='relu')
            self.pool = nn.GlobalMaxPool1D()
            self.out = nn.Dense(2, in_units=4)

    def hybrid_forward(self, F, ids):
        x = F.np.transpose(self.embed(ids), (0, 2, 1))
        return self.out(F.npx.batch_flatten(self.pool(self.conv(x))))


def text_cnn(dtype, ids_dtype='int32'):
    with G.mode(True):
        net = TextCNN()
        net.initialize()
        net.cast(dtype)
        zoo.randomize(net, numpy.random.default_rng(1))
    return net, [numpy.random.default_rng(2).integers(0, 20, size=(3, 9)).astype(ids_dtype)]


class Masked(gluon.HybridBlock):
    """A Dense layer whose output an optional mask multiplies."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.dense = nn.Dense(3, in_units=4)

    def hybrid_forward(self, F, x, mask=None):
        y = self.dense(x)
        return y if mask is None else y * mask


def torch_port(build, dtype):
    need('mxnet', 'torch')
    block, inputs = build(dtype)
    with G.mode(True):
        model = port.to_torch(block, *[None if a is None else G.to_mxnet(a, True) for a in inputs])
    return block, model, inputs


def reference_gradients(block, inputs):
    """The default reference's parameter gradients of ``block`` (float64, inference mode)."""
    with G.mode(True):
        graph = port.trace(block, *[G.to_mxnet(a, True) for a in inputs])
    return compare_module._reference_run(block, graph, inputs, False, 0, ['float64'], 'float64')['grad']


def directional_derivative(block, inputs, name, direction, eps=1e-6):
    """Central finite difference of the compared scalar along ``direction`` of parameter ``name``, inference mode."""
    param = block.collect_params()[name]
    start = param.data().asnumpy()
    values = []
    with G.mode(True):
        for sign in (1, -1):
            param.set_data(mx.np.array(start + sign * eps * direction, dtype='float64'))
            with autograd.predict_mode():
                out = block(*[G.to_mxnet(a, True) for a in inputs]).asnumpy()
            values.append(float((out * compare_module.cotangent(0, out.shape, 'float64', 0)).sum()))
        param.set_data(mx.np.array(start, dtype='float64'))
    return (values[0] - values[1]) / (2 * eps)


@pytest.mark.parity
@pytest.mark.parametrize('build', [batchnorm_mlp, text_cnn], ids=['batchnorm_mlp', 'text_cnn'])
def test_the_reference_gradients_are_the_inference_functions_finite_differences(build):
    block, inputs = build('float64')
    grads = reference_gradients(block, inputs)
    rng = numpy.random.default_rng(9)
    for name, grad in grads.items():
        for _ in range(2):
            direction = rng.standard_normal(grad.shape)
            expected = directional_derivative(block, inputs, name, direction)
            assert abs(float((grad * direction).sum()) - expected) <= 1e-6 * max(1.0, abs(expected)), name


@pytest.mark.parity
def test_mxnet_own_inference_mode_backward_of_the_batchnorm_mlp_is_the_wrong_one():
    """``reference='block'`` takes MXNet's inference-mode backward: a correct port fails against it."""
    block, model, inputs = torch_port(batchnorm_mlp, 'float64')
    assert port.compare(block, model, *inputs, reference='block').max_error('grad') > 0.5
    assert port.compare(block, model, *inputs).max_error('grad') < 1e-10


@pytest.mark.parity
@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('build', [batchnorm_mlp, text_cnn], ids=['batchnorm_mlp', 'text_cnn'])
def test_a_correct_torch_port_passes_in_the_default_mode(build, dtype):
    block, model, inputs = torch_port(build, dtype)
    result = port.compare(block, model, *inputs)
    assert result.failures == [], str(result)
    assert {'output', 'grad', 'after step'} <= {r.kind for r in result.rows}
    assert any(note.startswith('reference gradients: MXNet, float64') for note in result.notes), result.notes


@pytest.mark.parity
def test_the_notes_say_where_mxnet_own_backward_is_wrong():
    block, model, inputs = torch_port(batchnorm_mlp, 'float32')
    result = port.compare(block, model, *inputs)
    assert any("MXNet's own float32 backward is wrong" in note for note in result.notes), result.notes
    assert result.ok


@pytest.mark.parity
@pytest.mark.parametrize('dtype', DTYPES)
def test_a_scaled_weight_in_the_batchnorm_mlp_port_fails_in_the_default_mode(dtype):
    block, model, inputs = torch_port(batchnorm_mlp, dtype)
    name = next(n for n in model.graph.trainable if 'dense' in n and n.endswith('_weight'))
    with __import__('torch').no_grad():
        getattr(model, name).mul_(1.01)
    result = port.compare(block, model, *inputs)
    assert not result.ok
    assert {'output', 'grad'} <= {r.kind for r in result.failures}, str(result)


@pytest.mark.parity
@pytest.mark.parametrize('dtype', DTYPES)
def test_a_wrong_running_mean_in_the_batchnorm_mlp_port_fails_in_the_default_mode(dtype):
    block, model, inputs = torch_port(batchnorm_mlp, dtype)
    name = next(n for n in model.graph.aux if n.endswith('running_mean'))
    with __import__('torch').no_grad():
        getattr(model, name).add_(0.1)
    result = port.compare(block, model, *inputs)
    assert not result.ok
    assert 'output' in {r.kind for r in result.failures}, str(result)
    assert any(name in r.name for r in result.failures if r.kind == 'aux'), str(result)


@pytest.mark.parity
@pytest.mark.parametrize('dtype', DTYPES)
def test_floating_ids_feeding_an_embedding_get_no_gradient_row(dtype):
    block, model, inputs = torch_port(lambda d: text_cnn(d, ids_dtype=d), dtype)
    assert inputs[0].dtype == numpy.dtype(dtype)
    assert compare_module.index_inputs(model.graph) == {'ids'}
    result = port.compare(block, model, *inputs)
    assert result.failures == [], str(result)
    assert 'input grad' not in {r.kind for r in result.rows}
    assert any(r.kind == 'grad' and r.name.endswith('embedding0_weight') for r in result.rows)


@pytest.mark.parity
def test_an_optional_none_argument_is_traced_and_compared_as_mxnet_runs_it():
    def build(dtype):
        with G.mode(True):
            block = Masked()
            block.initialize()
            block.cast(dtype)
        return block, [numpy.random.default_rng(0).normal(size=(2, 4)).astype(dtype), None]
    block, model, inputs = torch_port(build, 'float64')
    assert model.graph.inputs == ['x']
    result = port.compare(block, model, *inputs)
    assert result.failures == [], str(result)
    assert [r.name for r in result.rows if r.kind == 'input grad'] == ['x']
    import torch
    x = torch.from_numpy(inputs[0])
    assert torch.equal(model(x, None), model(x))
    with G.mode(True):
        expected = block(G.to_mxnet(inputs[0], True), None).asnumpy()
    numpy.testing.assert_allclose(model(x).detach().numpy(), expected, rtol=1e-12)
