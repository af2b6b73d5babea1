"""The port's tracing (parity/port/graph.py) and operator registry (parity/port/registry.py)."""
import mxnet as mx
import numpy
import pytest
from mxnet import gluon
from mxnet.gluon import nn

from parity import port
from parity.port import graph as G
from parity.port import registry


class TwoInputs(nn.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.dense = nn.Dense(3, in_units=4, flatten=False)
            self.bn = nn.BatchNorm(in_channels=3, axis=-1)

    def hybrid_forward(self, F, x, y):
        return self.bn(self.dense(x)) + y, F.np.transpose(x) if mx.util.is_np_array() else F.transpose(x)


def test_attrs_parse_what_mxnet_stores():
    a = G.Attrs({'kernel': '(3, 3)', 'one': '5', 'flag': 'True', 'off': 'False', 'eps': '1e-05',
                 'none': 'None', 'axis': '(0, 2)', 'single': '1', 'list': '[1,2]', 'mode': 'lstm'})
    assert a.tuple('kernel') == (3, 3) and a.tuple('one') == (5,) and a.tuple('list') == (1, 2)
    assert a.bool('flag') is True and a.bool('off') is False and a.bool('absent', True) is True
    assert a.float('eps') == 1e-5 and a.int('one') == 5 and a.int('none', 7) == 7
    assert a.optional('none') is None and a.optional('mode') == 'lstm' and a.optional('one') == 5
    assert a.axes('axis') == (0, 2) and a.axes('single') == (1,) and a.axes('none') is None
    with pytest.raises(G.PortError, match='mode'):
        a.bool('mode')


@pytest.mark.parametrize('shape, spec, kind, expected', [
    ((2, 3, 4), (-1, 4), 'np', (6, 4)),
    ((2, 3, 4), (0, -1), 'legacy', (2, 12)),
    ((2, 3, 4), (-3, 0), 'legacy', (6, 4)),
    ((2, 3, 4), (0, -2), 'legacy', (2, 3, 4)),
    ((2, 6), (0, -4, 2, -1), 'legacy', (2, 2, 3)),
    ((2, 3, 4), (-2, -5), 'npx', (2, 12)),
    ((2, 1, 4), (-2, -3, -2), 'npx', (2, 4)),
    ((2, 3, 4), (-4,), 'npx', (2, 3, 4)),
    ((6, 4), (-6, 2, -1, -2), 'npx', (2, 3, 4)),
])
def test_reshape_codes(shape, spec, kind, expected):
    assert G.reshape_shape(shape, spec, kind) == expected
    assert numpy.zeros(shape).reshape(expected).size == numpy.prod(shape)


@pytest.mark.parametrize('numpy_mode', [True, False], ids=['numpy-mode', 'legacy'])
def test_trace_reads_nodes_params_aux_and_inputs(numpy_mode):
    with G.mode(numpy_mode):
        net = TwoInputs()
        net.initialize()
    x, y = numpy.ones((2, 5, 4), 'float32'), numpy.zeros((2, 5, 3), 'float32')
    if not numpy_mode:
        x, y = mx.nd.array(x), mx.nd.array(y)
    else:
        x, y = mx.np.array(x), mx.np.array(y)
    g = port.trace(net, x, y)
    assert g.numpy_mode is numpy_mode
    assert g.inputs == ['x', 'y']
    assert set(g.params) == set(net.collect_params())
    assert g.aux == sorted(n for n in g.params if 'running' in n)
    assert set(g.trainable) == set(g.params) - set(g.aux)
    ops = g.ops()
    assert 'FullyConnected' in ops and 'BatchNorm' in ops
    assert any(op.startswith('_np') for op in ops) == numpy_mode
    assert len(g.outputs) == 2 and g.out_format == [0, 0]
    for i, node in enumerate(g.nodes):  # topological: every input comes earlier
        assert all(src < i for src, _ in node.inputs)
    weight = net.collect_params()[[n for n in g.params if n.endswith('dense0_weight') or 'dense' in n][0]]
    numpy.testing.assert_array_equal(g.params[weight.name], weight.data().asnumpy())
    again = G.from_json(g.to_json(), g.params)
    assert again.nodes == g.nodes and again.inputs == g.inputs and again.outputs == g.outputs


def test_trace_names_nested_state_inputs():
    import gluon_d2l as d2l
    net = d2l.RNNModel(gluon.rnn.LSTM(4, input_size=6), 6)
    net.initialize()
    X = mx.np.array(numpy.zeros((2, 3)), dtype='int32')
    g = port.trace(net, X, net.begin_state(batch_size=2))
    assert g.inputs == ['inputs', 'state0', 'state1']
    assert g.in_format == [0, [0, 0]] and 'RNN' in g.ops()


def test_plain_block_is_refused_with_the_reason():
    import gluon_d2l as d2l
    with pytest.raises(G.PortError, match='CenteredLayer is a plain gluon.Block.*HybridBlock'):
        port.trace(d2l.CenteredLayer(), numpy.ones((2, 3), 'float32'))


def test_flatten_regroup_round_trip():
    nested = [1, [2, 3], 4]
    flat, fmt = G.flatten(nested)
    assert flat == [1, 2, 3, 4] and G.regroup(flat, fmt) == (1, (2, 3), 4)


def test_unsupported_operator_names_it_and_how_to_register():
    message = str(port.UnsupportedOperator('NoSuchOp', 'torch', 'layer0_fwd'))
    assert "'NoSuchOp'" in message and 'torch' in message and 'layer0_fwd' in message
    assert "@parity.port.converter('NoSuchOp', target='torch')" in message
    with pytest.raises(ValueError, match='unknown port target'):
        registry.lookup('caffe', 'FullyConnected')


def test_a_target_whose_framework_is_missing_says_so(monkeypatch):
    import importlib

    def missing(name):
        raise ModuleNotFoundError("No module named 'keras'", name='keras')
    monkeypatch.setattr(importlib, 'import_module', missing)
    with pytest.raises(ModuleNotFoundError, match='the keras port target needs keras'):
        registry.lookup('keras', 'NoSuchOp')


def test_converter_registers_every_name_and_replaced_restores():
    @port.converter('_TestOpA', '_test_op_a', target='onnx')
    def fn(ctx, node, x):
        return x
    assert registry.lookup('onnx', '_TestOpA') is fn and registry.lookup('onnx', '_test_op_a') is fn
    with registry.replaced('onnx', '_TestOpA', None):
        with pytest.raises(port.UnsupportedOperator):
            registry.lookup('onnx', '_TestOpA')
    assert registry.lookup('onnx', '_TestOpA') is fn
    for op in ('_TestOpA', '_test_op_a'):
        registry._REGISTRY['onnx'].pop(op)


class StatelessLSTM(nn.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.lstm = gluon.rnn.LSTM(4, num_layers=2, bidirectional=True, layout='NTC', input_size=3)

    def hybrid_forward(self, F, x):
        return self.lstm(x)


def _zeros_shapes(graph):
    return [node.attrs.tuple('shape') for node in graph.nodes if node.op in ('_zeros', '_npi_zeros')]


def test_an_rnn_without_begin_state_starts_from_zeros_sized_by_its_data():
    with G.mode(False):
        block = StatelessLSTM()
        block.initialize()
        graph = G.trace(block, numpy.ones((2, 5, 3), 'float32'))
    assert all(0 not in shape for shape in _zeros_shapes(graph))       # no batch left for MXNet to infer
    rnn = graph.nodes[next(i for i, n in enumerate(graph.nodes) if n.op == 'RNN')]
    states = {graph.nodes[src].name for src, _ in rnn.inputs[2:]}
    assert states == {rnn.name + '_begin_zeros'}                       # h and c: (4, batch, 4) zeros
    assert (4, 1, 4) in _zeros_shapes(graph) and graph.inputs == ['x']


def test_an_rnn_layer_called_with_its_data_only_is_traced_without_state_inputs():
    layer = gluon.rnn.GRU(4, num_layers=2, input_size=3)
    layer.initialize()
    layer.cast('float64')
    with G.mode(True):
        graph = G.trace(layer, numpy.ones((5, 2, 3), 'float64'))
    assert graph.inputs == ['inputs'] and list(graph.input_nodes) == ['inputs']
    zeros = next(n for n in graph.nodes if n.name.endswith('_begin_shape'))
    assert zeros.attrs.tuple('shape') == (2, 1, 4) and zeros.attrs.str('dtype') == 'float64'
    assert sum(n.op == 'null' and n.name not in graph.params for n in graph.nodes) == 1
