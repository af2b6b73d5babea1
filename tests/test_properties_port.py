"""Property: a random stack of the layers the port supports (with transposes, reshapes and
concatenations between them) ports to PyTorch, Keras and JAX/Flax and matches Gluon, forward, backward
and after one SGD step, in float64."""
import os

import numpy
import pytest
from hypothesis import given, settings
from mxnet.gluon import nn, rnn

from parity import port
from parity.port import graph as G
from parity.port import zoo

from parity_support import need
from strategies import layer_stacks

pytestmark = pytest.mark.parity


class Stack(nn.HybridBlock):
    """The layers of a :func:`strategies.layer_stacks` spec, applied in order in ``hybrid_forward``."""

    def __init__(self, specs, **kwargs):
        super().__init__(**kwargs)
        self.specs = specs
        self.blocks = []
        with self.name_scope():
            for i, (kind, p) in enumerate(specs):
                block = None
                if kind == 'dense':
                    block = nn.Dense(p['units'], activation=p['activation'], flatten=p['flatten'],
                                     in_units=p['in_units'])
                elif kind == 'conv1d':
                    block = nn.Conv1D(p['channels'], p['kernel'], strides=p['stride'], padding=p['padding'],
                                      dilation=p['dilation'], groups=p['groups'], in_channels=p['in_channels'])
                elif kind == 'pool1d':
                    block = (nn.MaxPool1D if p['max'] else nn.AvgPool1D)(pool_size=p['size'], strides=p['stride'])
                elif kind == 'rnn':
                    cls = {'lstm': rnn.LSTM, 'gru': rnn.GRU, 'rnn_tanh': rnn.RNN}[p['mode']]
                    extra = {'activation': 'tanh'} if p['mode'] == 'rnn_tanh' else {}
                    block = cls(p['hidden'], num_layers=p['num_layers'], bidirectional=p['bidirectional'],
                                layout='NTC', input_size=p['input_size'], **extra)
                elif kind == 'layernorm':
                    block = nn.LayerNorm(in_channels=p['in_channels'])
                elif kind == 'batchnorm':
                    block = nn.BatchNorm(in_channels=p['in_channels'])
                if block is not None:
                    setattr(self, f'layer{i}', block)
                self.blocks.append(block)

    def hybrid_forward(self, F, x):
        for (kind, p), block in zip(self.specs, self.blocks):
            if kind == 'rnn':
                states = (2 if p['mode'] == 'lstm' else 1)
                shape = (p['num_layers'] * (2 if p['bidirectional'] else 1), p['batch'], p['hidden'])
                x, _ = block(x, [F.np.zeros(shape, dtype='float64') for _ in range(states)])
            elif block is not None:
                x = block(x)
            elif kind == 'scalar':
                x = x * p['mul'] + p['add']
            elif kind == 'softmax':
                x = (F.npx.log_softmax if p['log'] else F.npx.softmax)(x, axis=p['axis'])
            elif kind == 'concat_self':
                x = F.np.concatenate([x, F.np.tanh(x)], axis=p['axis'])
            elif kind == 'reduce':
                x = getattr(F.np, p['op'])(x, axis=p['axis'], keepdims=True)
            elif kind == 'transpose':
                x = F.np.transpose(x, (0, 2, 1))
            elif kind == 'flatten':
                x = F.npx.reshape(x, (-2, -5))
            elif kind == 'split_features':
                x = F.npx.reshape(x, (-2, -6, p['channels'], -1))
        return x


#: float64, looser than the zoo's 1e-10: a random stack can be ill-conditioned (LayerNorm over two nearly
#: equal features amplifies rounding ~1e4 times); a porting bug is off by O(1), far above this
RTOL, ATOL = 1e-7, 1e-9


EXAMPLES = int(os.environ.get('PORT_EXAMPLES', 15))


def check_stack(stack, targets):
    """Build the stack in float64, port it to each of ``targets`` and compare."""
    input_shape, specs = stack
    with G.mode(True):
        block = Stack(specs)
        block.initialize()
        block.cast('float64')
        zoo.randomize(block, numpy.random.default_rng(0))
    x = numpy.random.default_rng(1).normal(size=input_shape)
    # training mode with BatchNorm: MXNet's own inference-mode BatchNorm gradient is not its forward's
    # (tests/test_port.py); the stacks have no dropout, so otherwise inference mode
    training = any(kind == 'batchnorm' for kind, _ in specs)
    for target in targets:
        model = getattr(port, f'to_{target}')(block, G.to_mxnet(x, True))
        port.compare(block, model, x, dtype='float64', training=training, rtol=RTOL, atol=ATOL).assert_ok()


@settings(max_examples=EXAMPLES, deadline=None)
@given(layer_stacks())
def test_random_layer_stacks_port_and_match(stack):
    need('mxnet', 'torch', 'tensorflow')
    check_stack(stack, ('torch', 'keras'))


@settings(max_examples=EXAMPLES, deadline=None)
@given(layer_stacks())
def test_random_layer_stacks_port_to_flax_and_match(stack):
    need('mxnet', 'jax')
    check_stack(stack, ('flax',))
