"""The port's checks test themselves: each test plants a classic porting bug by swapping one
converter (or one convention) of a target and shows that ``compare`` fails and names the layer."""
import importlib

import numpy
import pytest
from mxnet.gluon import nn

from parity import port
from parity.port import graph as G
from parity.port import registry, zoo

from parity_support import need

pytestmark = pytest.mark.parity
DTYPES = ('float64', 'float32')
FRAMEWORK = {'torch': 'torch', 'keras': 'tensorflow', 'flax': 'jax'}


def compared(name, target, dtype, build=None):
    """Port zoo model ``name`` (or the ``build()`` one) to ``target`` with the current registry and compare."""
    need('mxnet', FRAMEWORK[target])
    if build is None:
        block, inputs, entry = zoo.build(name, dtype)
        options = entry.compare_options(dtype)
    else:
        block, inputs = build(dtype)
        options = {}
    flat, fmt = G.flatten(inputs)
    numpy_mode = zoo.MODELS[name].numpy_mode if name in zoo.MODELS else True
    with G.mode(numpy_mode):
        example = G.regroup([G.to_mxnet(a, numpy_mode) for a in flat], fmt)
    model = getattr(port, f'to_{target}')(block, *example)
    return port.compare(block, model, *inputs, **options)


def caught(result, layer_part, kind='output'):
    """The comparison failed, in a row of ``kind``, and its failures name a layer containing ``layer_part``."""
    assert not result.ok, f'the planted bug passed:\n{result}'
    assert kind in {r.kind for r in result.failures}, result
    layers = {r.layer for r in result.failures}
    assert any(layer_part in layer for layer in layers), f'no failure names {layer_part!r}: {layers}\n{result}'
    assert layer_part in str(result)
    return result


def target_module(name):
    need(FRAMEWORK[name])
    return importlib.import_module(f'parity.port.{name}')


def square_dense(dtype):
    with G.mode(True):
        net = nn.HybridSequential()
        net.add(nn.Dense(4, in_units=4, activation='tanh'), nn.Dense(4, in_units=4))
        net.initialize()
        net.cast(dtype)
        zoo.randomize(net, numpy.random.default_rng(1))
    return net, [numpy.random.default_rng(2).normal(size=(3, 4)).astype(dtype)]


def test_the_unplanted_ports_pass():
    for target in ('torch', 'keras'):
        for name in ('lstm_lm', 'bigru', 'legacy_residual', 'batchnorm_train', 'concise_rnn'):
            compared(name, target, 'float64').assert_ok()
        assert compared('square', target, 'float64', build=square_dense).ok


@pytest.mark.parametrize('dtype', DTYPES)
def test_lstm_gates_in_the_wrong_order_are_caught(dtype):
    torch_port = target_module('torch')

    def gates_swapped(ctx, node, x, params, state, cell=None):
        weights = torch_port.split_rnn_params(node.attrs, params, x.shape[-1])
        for key, value in weights.items():  # Gluon's i, f, g, o read as i, g, f, o
            i, f, g, o = value.chunk(4, dim=0)
            weights[key] = torch_port.torch.cat([i, g, f, o])
        return torch_port.run_rnn(ctx, node, x, weights, state, cell)
    with registry.replaced('torch', 'RNN', gates_swapped):
        caught(compared('lstm_lm', 'torch', dtype), 'lstm0_rnn0')


@pytest.mark.parametrize('dtype', DTYPES)
def test_keras_lstm_gates_in_the_wrong_order_are_caught(monkeypatch, dtype):
    keras_port = target_module('keras')
    monkeypatch.setitem(keras_port.KERAS_GATE_ORDER, 'lstm', [0, 2, 1, 3])
    caught(compared('lstm_lm', 'keras', dtype), 'lstm0_rnn0')


@pytest.mark.parametrize('dtype', DTYPES)
def test_keras_gru_with_reset_after_false_is_caught(monkeypatch, dtype):
    """Keras's ``reset_after=False`` (the reset gate applied to ``h`` before the product, one bias)
    is not Gluon's GRU: the port with it (biases summed, as a porter would) must fail."""
    keras_port = target_module('keras')
    make_layer, make_weights = keras_port.keras_rnn_layer, keras_port.keras_rnn_weights

    def layer(mode, hidden, dtype_, backwards):
        if mode != 'gru':
            return make_layer(mode, hidden, dtype_, backwards)
        return keras_port.keras.layers.GRU(hidden, reset_after=False, return_sequences=True, return_state=True,
                                           go_backwards=backwards, dtype=dtype_)

    def weights(mode, w_i2h, w_h2h, b_i2h, b_h2h):
        kernel, recurrent, bias = make_weights(mode, w_i2h, w_h2h, b_i2h, b_h2h)
        return [kernel, recurrent, bias.sum(axis=0) if mode == 'gru' else bias]
    monkeypatch.setattr(keras_port, 'keras_rnn_layer', layer)
    monkeypatch.setattr(keras_port, 'keras_rnn_weights', weights)
    monkeypatch.setattr(keras_port, 'gluon_values', lambda model, arrays: {})  # its one bias maps back to neither
    caught(compared('bigru', 'keras', dtype), 'gru0_rnn0')


@pytest.mark.parametrize('target', ['torch', 'keras'])
@pytest.mark.parametrize('dtype', DTYPES)
def test_dense_weight_not_transposed_is_caught(target, dtype):
    module = target_module(target)
    if target == 'torch':
        def untransposed(ctx, node, x, weight, bias=None):
            return x @ weight + bias                                    # Gluon's (out, in) used as (in, out)
    else:
        def untransposed(ctx, node, x, kernel, bias=None):
            return module.tf.matmul(x, kernel, transpose_b=True) + bias   # Keras's (in, out) transposed again
    with registry.replaced(target, 'FullyConnected', untransposed):
        caught(compared('square', target, dtype, build=square_dense), 'dense')


@pytest.mark.parametrize('target', ['torch', 'keras'])
@pytest.mark.parametrize('dtype', DTYPES)
def test_conv_kernel_in_the_wrong_layout_is_caught(target, dtype):
    module = target_module(target)
    original = registry.lookup(target, 'Convolution')
    if target == 'torch':
        def wrong_layout(ctx, node, x, weight, bias=None):
            return original(ctx, node, x, weight.transpose(0, 1), bias)       # (in, out, kh, kw) for (out, in, ...)
    else:
        def wrong_layout(ctx, node, x, kernel, bias=None):
            perm = list(range(kernel.shape.rank - 2)) + [kernel.shape.rank - 1, kernel.shape.rank - 2]
            return original(ctx, node, x, module.tf.transpose(kernel, perm), bias)   # (k, out, in) for (k, in, out)
    with registry.replaced(target, 'Convolution', wrong_layout):
        caught(compared('legacy_residual', target, dtype), 'conv')


@pytest.mark.parametrize('dtype', DTYPES)
def test_batchnorm_momentum_not_complemented_is_caught(dtype):
    torch_port = target_module('torch')
    torch = torch_port.torch

    def torch_convention(ctx, node, x, gamma, beta, running_mean, running_var):
        """MXNet's momentum passed as PyTorch's (which is its complement)."""
        axis, momentum, eps = node.attrs.int('axis', 1), node.attrs.float('momentum', 0.9), node.attrs.float('eps')
        dims = [d for d in range(x.dim()) if d != axis]
        mean, var = x.mean(dim=dims), x.var(dim=dims, unbiased=False)
        with torch.no_grad():
            running_mean.lerp_(mean, momentum)
            running_var.lerp_(var, momentum)
        shape = [1] * x.dim()
        shape[axis] = -1
        return (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps) * gamma.reshape(shape) + \
            beta.reshape(shape)
    with registry.replaced('torch', 'BatchNorm', torch_convention):
        result = caught(compared('batchnorm_train', 'torch', dtype), 'batchnorm', kind='aux')
    assert {r.kind for r in result.failures} == {'aux'}   # the outputs and gradients are right: only the stats


@pytest.mark.parametrize('target', ['torch', 'keras'])
@pytest.mark.parametrize('dtype', DTYPES)
def test_missing_second_bias_is_caught(monkeypatch, target, dtype):
    module = target_module(target)
    if target == 'torch':
        def one_bias(ctx, node, x, params, state, cell=None):
            weights = module.split_rnn_params(node.attrs, params, x.shape[-1])
            for key in weights:
                if key.startswith('bias_hh'):
                    weights[key] = module.torch.zeros_like(weights[key])
            return module.run_rnn(ctx, node, x, weights, state, cell)
        with registry.replaced('torch', 'RNN', one_bias):
            caught(compared('concise_rnn', target, dtype), 'rnn0')
    else:
        make_weights = module.keras_rnn_weights
        monkeypatch.setattr(module, 'keras_rnn_weights', lambda mode, wi, wh, bi, bh: make_weights(
            mode, wi, wh, bi, numpy.zeros_like(bh)))                          # Keras's bias = b_i2h only
        caught(compared('concise_rnn', target, dtype), 'rnn0')


@pytest.mark.parametrize('dtype', DTYPES)
def test_flax_gru_gates_in_the_wrong_order_and_untransposed_dense_are_caught(monkeypatch, dtype):
    flax_port = target_module('flax')
    jnp = flax_port.jnp
    compared('bigru', 'flax', dtype).assert_ok()
    cell = flax_port._cell

    def swapped(mode):  # the input gates of Gluon's r, z, n read as z, r, n (Keras's order)
        step = cell(mode)

        def wrong(carry, gi, Wh, bh):
            r, z, n = jnp.split(gi, 3, axis=-1)
            return step(carry, jnp.concatenate([z, r, n], axis=-1), Wh, bh)
        return wrong
    monkeypatch.setattr(flax_port, '_cell', swapped)
    caught(compared('bigru', 'flax', dtype), 'gru0_rnn0')
    with registry.replaced('flax', 'FullyConnected', lambda ctx, node, x, w, b=None: x @ w + b):
        caught(compared('square', 'flax', dtype, build=square_dense), 'dense')
