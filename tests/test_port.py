"""The port (parity/port): every zoo model x target x dtype matches Gluon forward, backward and
after one SGD step; the comparison's own behaviour; the MXNet 1.9.1 quirks the comparison found."""
import importlib

import mxnet as mx
import numpy
import pytest
from mxnet import autograd, gluon

from parity import port
from parity.port import graph as G
from parity.port import zoo

from parity_support import need

compare_module = importlib.import_module('parity.port.compare')
#: port target -> the framework (parity/frameworks) it needs
TARGETS = {'torch': 'torch', 'keras': 'tensorflow', 'flax': 'jax'}


def ported(name, target, dtype):
    """``(block, port, inputs, zoo entry)`` of zoo model ``name``."""
    need('mxnet', TARGETS[target])
    block, inputs, entry = zoo.build(name, dtype)
    flat, fmt = G.flatten(inputs)
    with G.mode(entry.numpy_mode):
        example = G.regroup([G.to_mxnet(a, entry.numpy_mode) for a in flat], fmt)
    return block, getattr(port, f'to_{target}')(block, *example), inputs, entry


ZOO = [pytest.param(name, target, dtype, id=f'{name}-{target}-{dtype}')
       for name, entry in zoo.MODELS.items() for target in TARGETS for dtype in entry.dtypes]


@pytest.mark.parity
@pytest.mark.parametrize('name, target, dtype', ZOO)
def test_zoo_model_ports_and_matches(name, target, dtype):
    block, model, inputs, entry = ported(name, target, dtype)
    result = port.compare(block, model, *inputs, **entry.compare_options(dtype))
    result.assert_ok()
    kinds = {r.kind for r in result.rows}
    assert 'output' in kinds
    if entry.gradients:
        assert {'grad', 'after step'} <= kinds
        assert {r.name for r in result.rows if r.kind == 'grad'} == set(model.graph.trainable)


def test_zoo_has_ten_architectures_mostly_custom_hybrid_blocks():
    assert len(zoo.MODELS) >= 10
    assert any(not entry.numpy_mode for entry in zoo.MODELS.values())     # legacy F style too


@pytest.mark.parity
def test_compare_leaves_block_and_port_as_found():
    block, model, inputs, _ = ported('batchnorm_train', 'torch', 'float64')
    before = {n: p.data().asnumpy().copy() for n, p in block.collect_params().items()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    port.compare(block, model, *inputs, training=True).assert_ok()
    for n, p in block.collect_params().items():
        numpy.testing.assert_array_equal(p.data().asnumpy(), before[n])
    for k, v in model.state_dict().items():
        assert bool((v == state[k]).all()), k


@pytest.mark.parity
def test_compare_reports_a_wrong_weight_by_layer_and_parameter():
    block, model, inputs, _ = ported('mlp', 'torch', 'float64')
    name = next(n for n in model.graph.params if 'dense1_weight' in n)
    with __import__('torch').no_grad():
        getattr(model, name).mul_(1.01)
    result = port.compare(block, model, *inputs)
    assert not result.ok
    text = str(result)
    assert 'dense1_fwd' in text and 'FAIL' in text
    assert result.worst.layer.endswith('dense1_fwd') or result.worst.kind == 'output'
    with pytest.raises(AssertionError, match='FAIL'):
        result.assert_ok()


@pytest.mark.parity
def test_compare_tolerances_default_per_dtype_and_can_be_overridden():
    block, model, inputs, _ = ported('mlp', 'torch', 'float32')
    result = port.compare(block, model, *inputs)
    assert (result.rtol, result.atol) == compare_module.TOLERANCES['float32']
    assert port.compare(block, model, *inputs, rtol=1e-12, atol=0.0).ok is False   # float32 is not exact


def test_compare_rejects_something_that_is_not_a_port():
    with pytest.raises(TypeError, match='to_torch'):
        port.compare(gluon.nn.Dense(2), object(), numpy.ones((1, 2)))


@pytest.mark.parity
def test_unsupported_operator_fails_when_porting_and_names_it():
    need('torch')

    class Odd(gluon.nn.HybridBlock):
        def hybrid_forward(self, F, x):
            return F.np.cumsum(x, axis=0)
    with pytest.raises(port.UnsupportedOperator, match=r"'_np_cumsum'.*torch.*@parity.port.converter"):
        port.to_torch(Odd(), mx.np.ones((2, 3)))


@pytest.mark.parity
def test_torch_port_is_a_module_with_gluon_named_weights():
    block, model, inputs, _ = ported('lstm_lm', 'torch', 'float32')
    import torch
    assert isinstance(model, torch.nn.Module)
    assert set(model.state_dict()) == set(block.collect_params())
    fresh = port.to_torch(G.from_json(model.graph.to_json(), {k: v.numpy() for k, v in model.state_dict().items()}))
    x = [torch.from_numpy(numpy.asarray(a)) for a in G.flatten(inputs)[0]]
    for a, b in zip(G.flatten(model(x[0], x[1], x[2]))[0], G.flatten(fresh(x[0], x[1], x[2]))[0]):
        assert torch.equal(a, b)


# --- what the comparison found in MXNet 1.9.1 (pinned: if MXNet changes, these tell) -----------

def gluon_run(name, dtype, training):
    block, inputs, entry = zoo.build(name, dtype)
    graph = port.trace(block, *[G.to_mxnet(a, True) if not isinstance(a, list) else [G.to_mxnet(b, True) for b in a]
                                for a in inputs])
    run = compare_module._gluon_run(block, graph, G.flatten(inputs)[0], dtype, training, 0.125, 0)
    return {kind: {n.split('_', 1)[-1]: v for n, v in values.items()} if isinstance(values, dict) else values
            for kind, values in run.items()}  # keyed without the block's numbered prefix


@pytest.mark.parity
def test_mxnet_float32_pooling_backward_after_an_inference_forward_is_wrong():
    """LeNet has no dropout or BatchNorm, so inference and training mode compute the same function;
    MXNet's float32 pooling gradients differ between them (its float64 ones do not)."""
    train, infer = gluon_run('lenet', 'float32', True), gluon_run('lenet', 'float32', False)
    name = next(n for n in train['grad'] if n.endswith('conv0_weight'))
    assert numpy.abs(train['grad'][name] - infer['grad'][name]).max() > 1e-2
    train, infer = gluon_run('lenet', 'float64', True), gluon_run('lenet', 'float64', False)
    name = next(n for n in train['grad'] if n.endswith('conv0_weight'))
    numpy.testing.assert_allclose(train['grad'][name], infer['grad'][name], rtol=1e-12, atol=1e-12)


@pytest.mark.parity
def test_mxnet_batchnorm_backward_in_inference_mode_uses_batch_statistics():
    """In inference mode BatchNorm is ``(x - mean) / sqrt(var + eps) * gamma + beta`` with the running
    statistics, so d sum(y) / dx = gamma / sqrt(var + eps); MXNet's gradient is another one."""
    with G.mode(True):
        bn = gluon.nn.BatchNorm(in_channels=3)
        bn.initialize()
        bn.cast('float64')
        bn.running_var.set_data(mx.np.array([0.5, 1.0, 2.0], dtype='float64'))
        bn.gamma.set_data(mx.np.array([1.5, 0.5, 1.0], dtype='float64'))
        bn.hybridize()
        x = mx.np.array(numpy.random.default_rng(0).normal(size=(4, 3)), dtype='float64')
        x.attach_grad()
        with autograd.record(train_mode=False):
            y = bn(x)
        y.backward()
    expected = numpy.broadcast_to(numpy.array([1.5, 0.5, 1.0]) / numpy.sqrt(numpy.array([0.5, 1.0, 2.0]) + 1e-5),
                                  (4, 3))
    assert numpy.abs(x.grad.asnumpy() - expected).max() > 1e-2


@pytest.mark.parity
def test_mxnet_float64_three_layer_rnn_middle_layer_gradient_disagrees_with_float32():
    f64, f32 = gluon_run('deep_tanh_rnn', 'float64', False), gluon_run('deep_tanh_rnn', 'float32', False)
    assert numpy.abs(f64['grad']['rnn0_l1_i2h_weight'] - f32['grad']['rnn0_l1_i2h_weight']).max() > 1e-1
    for name in ('rnn0_l0_i2h_weight', 'rnn0_l2_i2h_weight', 'rnn0_l1_h2h_weight'):
        numpy.testing.assert_allclose(f64['grad'][name], f32['grad'][name], rtol=1e-4, atol=1e-4)


@pytest.mark.parity
def test_the_readme_pytest_example_runs():
    """parity/README.md's complete pytest example of a port, executed as written."""
    need('mxnet', 'torch', 'tensorflow')
    import pathlib
    text = (pathlib.Path(__file__).resolve().parents[1] / 'parity' / 'README.md').read_text()
    start = text.index('# test_my_model_port.py')
    namespace = {}
    exec(compile(text[start:text.index('```', start)], 'parity/README.md', 'exec'), namespace)
    namespace['test_tagger_ports_to_torch_and_keras']()


def test_rows_compare_shape_finiteness_and_tolerance():
    row, Comparison = compare_module.row, compare_module.Comparison
    e = numpy.array([1.0, -2.0, 4.0])
    assert row('output', 'y', 'l', e + 3e-10, e, 1e-10, 1e-10).ok                 # 3e-10 <= 1e-10 + 4e-10
    assert not row('output', 'y', 'l', e + 6e-10, e, 1e-10, 1e-10).ok
    assert row('output', 'y', 'l', e[:2], e, 1e-10, 1e-10).problem.startswith('shape')
    assert not row('grad', 'w', 'l', numpy.array([1.0, numpy.nan, 4.0]), e, 1, 1).ok
    assert row('grad', 'w', 'l', numpy.array([numpy.inf]), numpy.array([numpy.inf]), 0, 0).ok
    rows = [row('output', 'y', 'dense0_fwd', e, e, 1e-10, 1e-10),
            row('grad', 'dense1_weight', 'dense1_fwd', e * 1.1, e, 1e-10, 1e-10)]
    result = Comparison('torch', 'float64', 1e-10, 1e-10, rows)
    assert not result.ok and result.worst.name == 'dense1_weight' and result.failures == rows[1:]
    assert 'worst: grad dense1_weight in layer dense1_fwd' in str(result)
    with pytest.raises(AssertionError, match='dense1_fwd'):
        result.assert_ok()
    assert not Comparison('torch', 'float64', 0, 0, []).ok                        # nothing compared is no pass
