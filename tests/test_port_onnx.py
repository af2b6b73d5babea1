"""The ONNX target of the port (parity/port/onnx.py): export, checks at creation, compare in
onnxruntime (float32) and the ONNX reference evaluator (float64), planted export bugs, a property.

Run by ``tox -e onnx`` (``GLUON_D2L_REQUIRE=onnx``: a missing onnx/onnxruntime fails the tests).
"""
import math

import mxnet as mx
import numpy as onp
import pytest
from hypothesis import given, settings
from mxnet.gluon import nn, rnn

import onnx_models as models
from parity.port import registry
from parity.port.graph import Attrs, Node, PortError, mode, trace
from parity_support import need
from strategies import layer_stacks, onnx_stacks
from test_properties_port import RTOL, Stack

pytestmark = pytest.mark.onnx


@pytest.fixture(autouse=True)
def _onnx_installed():
    need('onnx')


def _port():
    from parity.port import onnx as port_onnx
    return port_onnx


#: models in which MXNet itself computes float64 at float32 precision (measured: its LeakyReLU
#: returns float32(x) * float32(slope), and its rnn_relu recurrence is ~1e-9 off an exact
#: NumPy float64 one); test_float64_exactness_where_mxnet_is_not checks the export against exact math
MXNET_FLOAT32_IN_FLOAT64 = {'rnn_relu_deep': 1e-6, 'd2l_concise_rnn': 1e-6, 'mobilenetv3_se_hswish': 1e-6}
#: float32 precision, as the port zoo holds MXNet's float64 relu RNN
MXNET_FLOAT32_RTOL = 1e-6
ALL = list(models.NUMPY_ZOO) + list(models.LEGACY_ZOO)


def _export(name, dtype='float32', **kwargs):
    net, inputs = models.build(name, dtype)
    model = _port().to_onnx(net, *inputs, batch_axes=models.batch_axes(name, inputs), **kwargs)
    return net, inputs, model


@pytest.mark.parametrize('name', ALL)
def test_zoo_float32_matches_in_onnxruntime_at_another_batch_size(name):
    net, inputs, model = _export(name)
    report = _port().compare(net, model, *models.resample(name, inputs, 5))
    assert report.runtime == 'onnxruntime' and report.rtol == 1e-5
    assert report.ok, str(report)


@pytest.mark.parametrize('name', ALL)
def test_zoo_float64_matches_in_the_reference_evaluator(name):
    net, inputs, model = _export(name, 'float64')
    tolerance = MXNET_FLOAT32_IN_FLOAT64.get(name, 1e-10)
    report = _port().compare(net, model, *models.resample(name, inputs, 2), rtol=tolerance)
    assert report.runtime == 'reference' and report.dtype == 'float64'
    assert report.ok, str(report)


def _port_zoo():
    from parity.port import zoo as port_zoo
    return port_zoo


@pytest.mark.parametrize('dtype', ['float32', 'float64'])
@pytest.mark.parametrize('name', sorted(_port_zoo().MODELS))
def test_the_porting_zoo_exports_and_matches(name, dtype):
    """The porting zoo (parity/port/models.py), through parity.port.to_onnx and parity.port.compare."""
    from parity import port
    block, inputs, entry = _port_zoo().build(name, dtype)
    rtol, atol = entry.tolerance.get(dtype, (None, None))  # the zoo's declared exceptions, with reasons
    with mode(entry.numpy_mode):
        model = port.to_onnx(block, *inputs)
        report = port.compare(block, model, *inputs, rtol=rtol, atol=atol)
    assert report.target == 'onnx' and report.runtime == ('reference' if dtype == 'float64' else 'onnxruntime')
    if rtol is None:
        assert report.rtol == {'float32': 1e-5, 'float64': 1e-10}[dtype] and report.atol == 0
    else:
        assert dtype == 'float64' and 'float32 even in float64' in entry.note
    assert report.ok, str(report)


@pytest.mark.parametrize('case', ['batchnorm_fix_gamma', 'lstm_3_layers', 'gru_bidirectional'])
def test_where_mx_onnx_is_wrong_or_refuses(case):
    """The legacy models MXNet's own exporter gets wrong (fix_gamma, apache/mxnet#15717) or refuses
    (more than 2 RNN layers, a bidirectional GRU) export and match here."""
    rng = onp.random.RandomState(0)
    with mode(False):
        if case == 'batchnorm_fix_gamma':
            net = nn.HybridSequential()
            net.add(nn.Conv2D(4, 3), nn.BatchNorm(scale=False))
            net.initialize()
            inputs = [mx.nd.array(rng.normal(0, 1, (3, 2, 6, 6)))]
            net(*inputs)
            net[1].gamma.set_data(mx.nd.full((4,), 2.5))
        else:
            net = rnn.LSTM(5, num_layers=3, input_size=4) if case == 'lstm_3_layers' else \
                rnn.GRU(5, bidirectional=True, input_size=4)
            net.initialize()
            inputs = [mx.nd.array(rng.normal(0, 1, (6, 3, 4))), net.begin_state(batch_size=3)]
        model = _port().to_onnx(net, *inputs, batch_axes=None if case == 'batchnorm_fix_gamma' else
                                [1] * (1 + len(inputs[1])))
    assert _port().compare(net, model, *inputs).ok


def test_float64_exactness_where_mxnet_is_not():
    """The exported relu RNN, LeakyReLU, erf, gelu and elu agree with exact float64 math to 1e-14
    (MXNet's own float64 kernels for them are float32-precise: it is MXNet that is off)."""
    port = _port()
    rng = onp.random.RandomState(0)
    with mode(True):
        layer = rnn.RNN(4, activation='relu', input_size=3)
        layer.initialize()
        layer.cast('float64')
        x, h = rng.normal(0, 1, (5, 2, 3)), rng.normal(0, 1, (1, 2, 4))
        model = port.to_onnx(layer, mx.np.array(x), [mx.np.array(h)], batch_axes=[1, 1])
        p = {k.split('_', 1)[1]: v.data().asnumpy() for k, v in layer.collect_params().items()}
    state, steps = h[0], []
    for t in range(5):
        state = onp.maximum(x[t] @ p['l0_i2h_weight'].T + p['l0_i2h_bias'] + state @ p['l0_h2h_weight'].T
                            + p['l0_h2h_bias'], 0)
        steps.append(state)
    got = list(port.run(model, x, [h], runtime='reference').values())
    assert onp.abs(got[0] - onp.stack(steps)).max() < 1e-14
    with mode(False):
        leaky = nn.LeakyReLU(0.1)
        model = port.to_onnx(leaky, mx.nd.array(x, dtype='float64'))
    want = onp.where(x > 0, x, x * float(onp.float32(0.1)))  # MXNet holds the slope as a float32
    assert onp.abs(list(port.run(model, x, runtime='reference').values())[0] - want).max() < 1e-15
    with mode(True):
        net = nn.HybridLambda(lambda F, v: (F.npx.erf(v), F.npx.leaky_relu(v, act_type='gelu'),
                                            F.npx.leaky_relu(v, act_type='elu', slope=0.5)))
        model = port.to_onnx(net, mx.np.array(x))
    erf = onp.vectorize(math.erf)(x)
    want = [erf, 0.5 * x * (1 + onp.vectorize(math.erf)(x / math.sqrt(2))),
            onp.where(x > 0, x, 0.5 * (onp.exp(x) - 1))]
    got = list(port.run(model, x, runtime='reference').values())
    assert max(onp.abs(g - w).max() for g, w in zip(got, want)) < 1e-14


#: cases MXNet 1.9.1 itself cannot run: SoftmaxActivation and InstanceNorm have no float64 kernel,
#: InstanceNorm is a legacy-only operator
MXNET_CANNOT = {('softmax_activation', 'float64'), ('instance_norm', 'float64'), ('instance_norm', True),
                ('legacy constants', 'float64')}  # legacy F.zeros/ones/full are float32 and do not promote
#: float64 cases where MXNet computes at float32 precision: its LeakyReLU leaky, selu, gelu and prelu
#: (measured against exact math; see test_float64_exactness_where_mxnet_is_not)
MXNET_FLOAT32_PRECISION = {'leaky_variants', 'prelu_channels'}
CASES = [(m, name, dtype) for m, name in
         [(True, name) for name in models.OPERATORS_NUMPY] + [(False, name) for name in models.OPERATORS_LEGACY]
         + [(m, name) for name in models.LAYER_CASES for m in (True, False)]
         for dtype in ('float32', 'float64')
         if not {(name, dtype), (name, m), (f'{"numpy" if m else "legacy"} {name}', dtype)} & MXNET_CANNOT]


@pytest.mark.parametrize('numpy_mode, case, dtype', CASES)
def test_operator_families_export_and_match(numpy_mode, case, dtype):
    rng = onp.random.RandomState(0)
    array = mx.np.array if numpy_mode else mx.nd.array
    with mode(numpy_mode):
        if case in models.LAYER_CASES:
            make, shape = models.LAYER_CASES[case]
            net = make(nn)
            net.initialize(mx.init.Xavier())
            x = array(rng.normal(0, 1, shape).astype('float32'))
            net(x)
            net.cast(dtype)
            x = x.astype(dtype)
        else:
            fn = (models.OPERATORS_NUMPY if numpy_mode else models.OPERATORS_LEGACY)[case]
            net = nn.HybridLambda(fn)
            x = array(rng.normal(0, 1, (5, 4)).astype(dtype), dtype=dtype)
        model = _port().to_onnx(net, x)
    rtol = MXNET_FLOAT32_RTOL if dtype == 'float64' and case in MXNET_FLOAT32_PRECISION else None
    report = _port().compare(net, model, x, rtol=rtol)
    assert report.ok, str(report)


@pytest.mark.parametrize('name', ['lstm_lm_2layer', 'resnet_bn', 'layernorm_mlp', 'text_cnn', 'squeezenet_fire'])
def test_opsets_13_to_21_export_and_match(name):
    for opset in (13, 17, 21):
        net, inputs, model = _export(name, opset=opset)
        assert model.opset_import[0].version == opset
        assert _port().compare(net, model, *inputs).ok


def test_the_model_is_checked_and_named_after_the_block():
    import onnx
    net, inputs, model = _export('d2l_concise_rnn')
    assert model.opset_import[0].version == 18
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ['inputs', 'state0']
    assert [o.name for o in model.graph.output] == net._cached_graph[1].list_outputs()
    assert model.graph.output[0].name.endswith('_dense0_fwd_output')
    initializers = {t.name for t in model.graph.initializer}
    assert set(net.collect_params()) <= initializers
    assert not initializers & {i.name for i in model.graph.input}
    # the batch is symbolic on every input (axis 1 of the RNN state), and flows to the outputs
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input]
    assert dims == [['batch', 6], [1, 'batch', 16]]
    state_dims = [d.dim_param or d.dim_value for d in model.graph.output[1].type.tensor_type.shape.dim]
    assert state_dims == [1, 'batch', 16]


@pytest.mark.parametrize('name', ['lstm_lm_2layer', 'd2l_hybrid_scratch', 'text_cnn', 'attention'])
def test_a_dynamic_sequence_length(name):
    """dynamic_axes makes the time axis symbolic: one export runs any batch size and length."""
    import onnx
    net, inputs = models.build(name)
    first = trace(net, *inputs).inputs[0]  # tokens/inputs/X/x: named after hybrid_forward's argument
    model = _port().to_onnx(net, *inputs, dynamic_axes={first: {1: 'steps'}})
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims[:2]] == ['batch', 'steps']
    onnx.checker.check_model(model, full_check=True)
    for batch, steps in ((2, 3), (4, 11)):
        longer = models.resample(name, inputs, batch)
        x = longer[0].asnumpy()
        rng = onp.random.RandomState(steps)
        if name in ('text_cnn', 'lstm_lm_2layer', 'd2l_hybrid_scratch'):
            x = rng.randint(0, int(x.max()) + 1, (batch, steps)).astype(x.dtype)
        else:
            x = rng.normal(0, 1, (batch, steps) + x.shape[2:]).astype(x.dtype)
        longer[0] = mx.np.array(x, dtype=x.dtype)
        assert _port().compare(net, model, *longer).ok


def test_dynamic_axes_must_name_inputs_and_axes():
    net, inputs = models.build('mlp')
    with pytest.raises(PortError, match=r"dynamic_axes names \['tokens'\], which are not inputs; "
                                        r"the inputs are \['x'\]"):
        _port().to_onnx(net, *inputs, dynamic_axes={'tokens': {1: 'steps'}})
    with pytest.raises(PortError, match=r"dynamic_axes\['x'\] has axes \[2\] outside 0..1"):
        _port().to_onnx(net, *inputs, dynamic_axes={'x': {2: 'steps'}})


@pytest.mark.parametrize('opset', [12, 22, '18', 18.0, True])
def test_an_opset_outside_13_to_21_is_a_clear_error(opset):
    net, inputs = models.build('mlp')
    with pytest.raises(ValueError, match='opset must be an integer from 13 to 21'):
        _port().to_onnx(net, *inputs, opset=opset)


def test_an_operator_without_converter_names_it_and_how_to_register():
    net, inputs = models.build('mlp')
    with registry.replaced('onnx', 'FullyConnected', None):
        with pytest.raises(registry.UnsupportedOperator, match=r"'FullyConnected'.*no onnx converter.*"
                           r"@parity\.port\.converter\('FullyConnected', target='onnx'\)"):
            _port().to_onnx(net, *inputs)


def test_an_lstm_layer_called_with_its_data_only_exports_and_a_plain_block_is_a_clear_error():
    with mode(True):
        layer = rnn.LSTM(3, input_size=2)
        layer.initialize()
        model = _port().to_onnx(layer, mx.np.ones((2, 4, 2)))
        assert [i.name for i in model.graph.input] == ['inputs']     # the zero states are made inside
    with pytest.raises(PortError, match='plain gluon.Block'):
        _port().to_onnx(nn.Block(), mx.np.ones((2, 2)))


def test_a_wrong_output_shape_fails_the_check_at_creation():
    with mode(True):
        net = nn.MaxPool2D(2, 2)
        x = mx.np.ones((models.BATCH, 1, 5, 5))

    def valid_as_full(ctx, node, x):  # a 'valid' MaxPool written with ceil_mode: 3x3, not 2x2
        attrs = Attrs(node.attrs, pooling_convention='full')
        return _port().pooling(ctx, Node(node.op, node.name, attrs, node.inputs), x)
    with registry.replaced('onnx', 'Pooling', valid_as_full):
        with pytest.raises(PortError, match=r'ONNX infers shape \[.batch., 1, 3, 3\], MXNet computes \[3, 1, 2, 2\]'):
            _port().to_onnx(net, x)


def test_save_writes_only_a_model_that_matches(tmp_path):
    import onnx
    net, inputs = models.build('resnet_bn')
    path = tmp_path / 'resnet.onnx'
    reports = _port().save(net, str(path), *inputs, check_inputs=[models.resample('resnet_bn', inputs, 7)])
    assert len(reports) == 2 and all(r.ok for r in reports)
    loaded = onnx.load(str(path))
    assert _port().compare(net, loaded, *models.resample('resnet_bn', inputs, 2)).ok
    bad = tmp_path / 'bad.onnx'
    with _planted('BatchNorm', _with_attr('eps', '0.5')):
        with pytest.raises(_port().Mismatch, match=r'does not match the block; .*bad.onnx not written\n.*FAIL') as err:
            _port().save(net, str(bad), *inputs)
    assert not err.value.report.ok and err.value.report.first_bad_node.endswith('(BatchNorm)')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['resnet.onnx']


def test_check_model_refuses_weights_as_inputs_and_invalid_models():
    import onnx
    net, inputs, model = _export('mlp')
    weight = model.graph.initializer[0]
    leaky = onnx.ModelProto()
    leaky.CopyFrom(model)
    leaky.graph.input.append(onnx.helper.make_tensor_value_info(weight.name, weight.data_type, list(weight.dims)))
    with pytest.raises(PortError, match=f"weights \\['{weight.name}'\\] are graph inputs, not initializers"):
        _port().check_model(leaky, {})
    broken = onnx.ModelProto()
    broken.CopyFrom(model)
    broken.graph.node[0].input[0] = 'nowhere'
    with pytest.raises(PortError, match='fails the ONNX checker'):
        _port().check_model(broken, {})


# --- meta-tests: classic export bugs are caught, and the node is named ------------------------

def _planted(op, wrap):
    """Replace ``op``'s converter by ``wrap(original)`` for the block of the test."""
    return registry.replaced('onnx', op, wrap(registry.lookup('onnx', op)))


def _caught(name, op, wrap, culprit, dtype='float32'):
    net, inputs = models.build(name, dtype) if isinstance(name, str) else name
    port = _port()
    assert port.compare(net, port.to_onnx(net, *inputs, batch_axes=models.batch_axes(name, inputs)
                                          if isinstance(name, str) else None), *inputs).ok
    with _planted(op, wrap):
        model = port.to_onnx(net, *inputs, batch_axes=models.batch_axes(name, inputs) if isinstance(name, str)
                             else None)
    report = port.compare(net, model, *inputs)
    assert not report.ok, 'the planted bug went unnoticed'
    nodes = [n for n in trace(net, *inputs).nodes if n.op == op]
    assert nodes[0].name.startswith(culprit)
    assert report.first_bad_node == f'{nodes[0].name} ({op})', str(report)
    return report


def _with_attr(key, value):
    def wrap(convert):
        def buggy(ctx, node, *inputs):
            return convert(ctx, Node(node.op, node.name, Attrs(node.attrs, **{key: value}), node.inputs), *inputs)
        return buggy
    return wrap


def _gate_order(mode_name, order):
    def wrap(convert):
        def buggy(ctx, node, *inputs):
            saved = dict(_port().GATE_ORDER)
            _port().GATE_ORDER[mode_name] = order
            try:
                return convert(ctx, node, *inputs)
            finally:
                _port().GATE_ORDER.update(saved)
        return buggy
    return wrap


def test_meta_lstm_gates_in_mxnet_order():
    _caught('lstm_lm_2layer', 'RNN', _gate_order('lstm', [0, 1, 2, 3]), 'lstm')


def test_meta_gru_gates_in_mxnet_order():
    _caught('gru_bidirectional_ntc', 'RNN', _gate_order('gru', [0, 1, 2]), 'gru')


def test_meta_gru_linear_before_reset_off():
    def wrap(convert):
        def buggy(ctx, node, *inputs):
            start = len(ctx.nodes)
            result = convert(ctx, node, *inputs)
            for n in ctx.nodes[start:]:
                for a in n.attribute:
                    if a.name == 'linear_before_reset':
                        a.i = 0
            return result
        return buggy
    _caught('gru_bidirectional_ntc', 'RNN', wrap, 'gru')


def test_meta_batchnorm_fix_gamma_ignored():
    # bn2 of the zoo's BatchNorm CNN has scale=False (fix_gamma) and a gamma far from 1
    net, inputs = models.build('batchnorm_cnn')
    assert net.bn2._kwargs['fix_gamma']
    net.bn2.gamma.set_data(mx.np.full(net.bn2.gamma.shape, 2.5))  # what MXNet ignores
    with _planted('BatchNorm', _with_attr('fix_gamma', 'False')):
        model = _port().to_onnx(net, *inputs)
    report = _port().compare(net, model, *inputs)
    bn2 = [n.name for n in trace(net, *inputs).nodes if n.op == 'BatchNorm'][1]
    assert not report.ok and report.first_bad_node == f'{bn2} (BatchNorm)', str(report)
    assert _port().compare(net, _port().to_onnx(net, *inputs), *inputs).ok


def test_meta_dense_weight_not_transposed():
    with mode(True):
        net = nn.Dense(6, in_units=6, flatten=False)
        net.initialize(mx.init.Normal(1))
        inputs = [mx.np.array(onp.random.RandomState(0).normal(0, 1, (models.BATCH, 4, 6)).astype('float32'))]

    def wrap(convert):
        def buggy(ctx, node, x, weight, bias=None):
            return ctx.op('Add', [ctx.op('MatMul', [x, weight]), bias])
        return buggy
    _caught((net, inputs), 'FullyConnected', wrap, 'dense')


def test_meta_pooling_full_as_floor():
    # the SqueezeNet's ceil_mode max pools change size; its global average head keeps the shapes equal
    with mode(False):
        net = nn.HybridSequential()
        net.add(nn.MaxPool2D(3, 2, ceil_mode=True), nn.GlobalAvgPool2D())
        inputs = [mx.nd.array(onp.random.RandomState(0).normal(0, 1, (models.BATCH, 2, 8, 8)).astype('float32'))]
    _caught((net, inputs), 'Pooling', _with_attr('pooling_convention', 'valid'), 'pool')


def test_meta_a_broken_intermediate_is_named_not_just_the_output():
    """Swap LSTM gates in a 2-layer LM: the first node named is the RNN, not the Dense after it."""
    report = _caught('lstm_lm_2layer', 'RNN', _gate_order('lstm', [0, 2, 1, 3]), 'lstm')
    assert 'dense' not in report.first_bad_node


# --- property: random stacks of the supported layers ---------------------------------------

def _layer(kind, rank, kwargs):
    dims = rank - 2
    if kind == 'conv':
        return (nn.Conv1D if dims == 1 else nn.Conv2D)(**kwargs)
    if kind == 'pool':
        kwargs = dict(kwargs)
        cls = {('max', 1): nn.MaxPool1D, ('max', 2): nn.MaxPool2D, ('avg', 1): nn.AvgPool1D,
               ('avg', 2): nn.AvgPool2D}[kwargs.pop('kind'), dims]
        return cls(**kwargs)
    if kind == 'activation':
        act = kwargs['act']
        special = {'leaky': lambda: nn.LeakyReLU(0.2), 'elu': lambda: nn.ELU(0.7), 'selu': nn.SELU,
                   'gelu': nn.GELU, 'swish': lambda: nn.Swish(1.5)}
        return special[act]() if act in special else nn.Activation(act)
    if kind == 'transpose':
        perm = (0, 1, 3, 2) if rank == 4 else (0, 2, 1)
        return nn.HybridLambda(lambda F, x: F.np.transpose(x, perm) if hasattr(F, 'np') and mx.util.is_np_array()
                               else F.transpose(x, axes=perm))
    if kind == 'reshape':
        sizes = kwargs['spatial']
        if mx.util.is_np_array():  # npx.reshape: -2 copies, -5 merges two, -6 splits one
            merge, split = (-2, -2, -5) if rank == 4 else (-2, -2, -2), (-2, -2, -6) + sizes if rank == 4 else None
            return nn.HybridLambda(lambda F, x: F.npx.reshape(F.npx.reshape(x, merge), split)
                                   if split else F.npx.reshape(x, (-2, -1, -2)))
        # legacy Reshape: 0 copies, -3 merges two, -4 splits one
        return nn.HybridLambda(lambda F, x: F.Reshape(F.Reshape(x, shape=(0, 0, -3)), shape=(0, 0, -4) + sizes)
                               if rank == 4 else F.Reshape(x, shape=(0, -1, 0)))
    if kind == 'batchnorm':
        return nn.BatchNorm()
    if kind == 'dropout':
        return nn.Dropout(0.3)
    return nn.Dense(**kwargs)


@given(onnx_stacks())
def test_property_random_stacks_export_and_match(stack):
    specs, shape, numpy_mode, dtype = stack
    rng = onp.random.RandomState(0)
    array = mx.np.array if numpy_mode else mx.nd.array
    with mode(numpy_mode):
        net = nn.HybridSequential()
        for kind, kwargs in specs:
            net.add(_layer(kind, len(shape), kwargs))
        net.initialize(mx.init.Xavier())
        x = array(rng.normal(0, 1, shape).astype('float32'))
        net(x)
        net.cast(dtype)
        x = x.astype(dtype)
        for name, p in net.collect_params().items():
            if name.endswith(('running_var', 'running_mean', 'gamma', 'beta')):
                low = 0.5 if name.endswith(('var', 'gamma')) else -0.5
                p.set_data(array(rng.uniform(low, low + 1, p.shape).astype(dtype)))
    port = _port()
    model = port.to_onnx(net, x)
    # MXNet's LeakyReLU family computes float64 at float32 precision (see MXNET_FLOAT32_PRECISION)
    leaky = any(k == 'activation' and kw['act'] in ('leaky', 'selu', 'gelu') for k, kw in specs)
    report = port.compare(net, model, x, rtol=MXNET_FLOAT32_RTOL if dtype == 'float64' and leaky else None)
    assert report.ok, f'{specs} on {shape} ({"NumPy" if numpy_mode else "legacy"} mode, {dtype}):\n{report}'


def test_an_unsupported_option_is_named_with_its_node():
    with mode(True):
        net = nn.HybridLambda(lambda F, x, length: F.npx.softmax(x, length, axis=-1, use_length=True))
        x, length = mx.np.ones((2, 5)), mx.np.array([3, 5], dtype='int32')
    with pytest.raises(PortError, match=r"node 'hybridlambda\d+_softmax0' \(softmax\): softmax use_length"):
        _port().to_onnx(net, x, length)


def test_onnx_is_listed_as_an_exporter_that_can_be_required(monkeypatch):
    from parity import frameworks
    monkeypatch.setenv(frameworks.REQUIRE_ENV, 'onnx')
    assert frameworks.required() == ['onnx'] and frameworks.available('onnx')
    assert 'onnx' not in frameworks.REFERENCES


def _onnx_greedy(model, prefix, num_preds, vocab, num_hiddens):
    """predict_ch8's greedy loop, run by onnxruntime on the exported model."""
    port = _port()
    state = onp.zeros((1, 1, num_hiddens), 'float32')
    outputs = [vocab[prefix[0]]]

    def step(state):
        logits, state = port.run(model, onp.array([[outputs[-1]]], 'int32'), [state]).values()
        return logits, state
    for y in prefix[1:]:
        _, state = step(state)
        outputs.append(vocab[y])
    for _ in range(num_preds):
        logits, state = step(state)
        outputs.append(int(logits.reshape(-1).astype('float64').argmax()))
    return ''.join(vocab.idx_to_token[i] for i in outputs)


def test_trained_char_rnn_continues_like_predict_ch8(corpus_dir, capsys):
    import gluon_d2l as d2l
    from gluon_d2l.models import build_model
    train_iter, vocab = d2l.load_data_time_machine(32, 35)
    device = mx.cpu()
    net = build_model('concise', len(vocab), 64, [device])
    d2l.train_ch8(net, train_iter, vocab, 1, 40, device)
    assert 'perplexity' in capsys.readouterr().out
    tokens = mx.np.array([[vocab['t']]], dtype='int32')
    model = _port().to_onnx(net, tokens, net.begin_state(batch_size=1, ctx=device), batch_axes=[0, 1])
    for prefix in ('time traveller', 'traveller'):
        want = d2l.predict_ch8(prefix, 50, net, vocab, device)
        assert _onnx_greedy(model, prefix, 50, vocab, 64) == want
        assert len(want) == len(prefix) + 50 and len(set(want[len(prefix):])) > 3  # trained, not constant


@settings(max_examples=int(__import__("os").environ.get("PORT_EXAMPLES", 15)), deadline=None)
@given(layer_stacks())
def test_property_the_ports_random_stacks_export_and_match(stack):
    """The port's own random float64 stacks (RNN/LSTM/GRU layers, norms, concatenations, reshape codes;
    tests/test_properties_port.py builds them) through ONNX, held to that property's tolerance."""
    input_shape, specs = stack
    with mode(True):
        block = Stack(specs)
        block.initialize()
        block.cast('float64')
        _port_zoo().randomize(block, onp.random.default_rng(0))
    x = onp.random.default_rng(1).normal(size=input_shape)
    port = _port()
    with mode(True):
        model = port.to_onnx(block, mx.np.array(x, dtype='float64'))
    report = port.compare(block, model, x, rtol=RTOL)
    assert report.ok, f'{specs} on {input_shape}:\n{report}'


CHAR_MODEL = '''
from mxnet.gluon import rnn
import gluon_d2l as d2l


def build():
    return d2l.RNNModel(rnn.GRU(16, num_layers=2, input_size=28), 28)
'''


def _port_command(argv):
    """``gluon-d2l port ARGV`` in-process, as the program runs it (bad input: one line, exit 2)."""
    from cli_support import exit_status
    return exit_status(['port'] + argv)


def test_cli_port_to_onnx_writes_only_a_model_that_matches(tmp_path, monkeypatch, capsys):
    (tmp_path / 'charmodel.py').write_text(CHAR_MODEL)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    import charmodel
    with mode(True):
        net = charmodel.build()
        net.initialize()
        rng = onp.random.default_rng(3)
        for p in net.collect_params().values():
            p.set_data(mx.np.array(rng.normal(size=p.shape) * 0.4, dtype=p.dtype))
        net.save_parameters(str(tmp_path / 'net.params'))
    args = ['--block', 'charmodel:build', '--params', 'net.params', '--input-shape', '3,9:int32:28',
            '--input-shape', '[2,3,16]', '--to', 'onnx']
    assert _port_command(args + ['--out', 'net.onnx']) == 0
    out = capsys.readouterr().out
    assert 'port to onnx (onnxruntime), float32' in out and 'wrote net.onnx' in out
    import onnx
    model = onnx.load(str(tmp_path / 'net.onnx'))
    tokens = onp.random.default_rng(5).integers(0, 28, (4, 9)).astype('int32')
    state = onp.random.default_rng(6).normal(size=(2, 4, 16)).astype('float32')
    with mode(True):
        assert _port().compare(net, model, mx.np.array(tokens, dtype='int32'), [mx.np.array(state)]).ok
    with _planted('RNN', _gate_order('gru', [0, 1, 2])):
        assert _port_command(args + ['--out', 'bad.onnx']) == 1
    captured = capsys.readouterr()
    assert 'FAIL' in captured.out and 'nothing written' in captured.err
    assert _port_command(args + ['--out', 'train.onnx', '--training']) == 2
    assert '--training: the ONNX export runs in inference mode' in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.glob('*.onnx')) == ['net.onnx']


def test_a_trained_run_directory_exported_continues_like_gluon_d2l_predict(tmp_path, monkeypatch, capsys, corpus_dir):
    """``gluon-d2l port --run DIR --to onnx``, then predict_ch8's greedy loop in onnxruntime: the same
    50 characters as ``gluon-d2l predict --run DIR``."""
    import onnx
    from gluon_d2l.program import cli as program
    monkeypatch.chdir(tmp_path)
    run = tmp_path / 'run'
    assert program.main(['train', '--model', 'concise', '--epochs', '40', '--hiddens', '64', '--device', 'cpu',
                         '--out', str(run)]) == 0
    capsys.readouterr()
    vocab = __import__('gluon_d2l').Vocab.from_idx_to_token(__import__('json').loads((run / 'vocab.json').read_text()))
    assert _port_command(['--run', str(run), '--to', 'onnx', '--out', 'lm.onnx', '--input-shape',
                          f'1,1:int32:{len(vocab)}', '--input-shape', '[1,1,64]']) == 0
    model = onnx.load(str(tmp_path / 'lm.onnx'))
    capsys.readouterr()
    for prefix in ('time traveller', 'traveller'):
        assert program.main(['predict', '--run', str(run), '--prefix', prefix]) == 0
        want = capsys.readouterr().out.strip()
        assert len(want) == len(prefix) + 50 and len(set(want[len(prefix):])) > 3  # trained, not constant
        assert _onnx_greedy(model, prefix, 50, vocab, 64) == want


@pytest.mark.parametrize('name, batch_axis', [('stateless_lstm_tagger', 0), ('bare_gru', 1)])
def test_an_rnn_without_begin_state_runs_in_onnxruntime_at_another_batch_size(name, batch_axis):
    from parity import port
    block, inputs, entry = _port_zoo().build(name, 'float32')
    with mode(entry.numpy_mode):
        model = port.to_onnx(block, *inputs, batch_axes=[batch_axis])
        shape = list(inputs[0].shape)
        shape[batch_axis] = 7
        report = port.compare(block, model, onp.random.default_rng(1).normal(size=shape).astype('float32'))
    assert report.runtime == 'onnxruntime'
    assert report.ok, str(report)
