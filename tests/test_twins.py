"""A Gluon block compared with a twin written by hand, as a user writes one: a torch module or a Keras
model with its own names and layouts, its weights loaded through a mapping (``parity.port.twins``).

Three models (a small CNN, an LSTM language model, multi-head self-attention), each twinned in torch
and Keras, agree with Gluon in float64 and float32: outputs, input and parameter gradients,
BatchNorm's running statistics and one SGD step. Then the classic twin mistakes are planted and the
comparison fails naming the parameter. The CNN is compared in training mode: MXNet 1.9.1's BatchNorm
backward in inference mode (and its float32 pooling backward after an inference-mode forward) is
wrong, so an inference-mode comparison would blame the twin for MXNet.
"""
import math

import numpy
import pytest
from mxnet.gluon import nn, rnn

from parity.port import compare, propose_mapping, twins
from parity.port.graph import mode
from parity.port.twins import concat, gates, merge, permute, transpose
from parity_support import need

DTYPES = ('float64', 'float32')
#: Gluon's BatchNorm momentum as MXNet uses it: a C float, 0.89999997615814..., so a float64 twin
#: agrees to 1e-12 in the running statistics with this value, and to ~6e-8 with 0.9 itself
MOMENTUM = float(numpy.float32(0.9))
SIZES = {'batch': 3, 'channels': 2, 'side': 8, 'vocab': 11, 'embed': 5, 'hidden': 6, 'steps': 7, 'width': 8,
         'heads': 2}


def gluon_block(build, dtype, seed=0):
    with mode(True):
        block = build()
        block.initialize()
        block.cast(dtype)
        rng = numpy.random.default_rng(seed)
        import mxnet as mx
        for name, param in block.collect_params().items():
            if name.endswith('running_var'):
                value = rng.uniform(0.5, 2.0, size=param.shape)
            elif name.endswith('gamma'):
                value = rng.uniform(0.5, 1.5, size=param.shape)
            else:
                value = rng.normal(scale=0.4, size=param.shape)
            param.set_data(mx.np.array(value, dtype=dtype))
    return block


# --- the Gluon models ------------------------------------------------------------------------------

def gluon_cnn():
    net = nn.HybridSequential()
    c, s = SIZES['channels'], SIZES['side']
    net.add(nn.Conv2D(4, 3, padding=1, in_channels=c), nn.BatchNorm(in_channels=4), nn.Activation('relu'),
            nn.MaxPool2D(2), nn.Dense(3, in_units=4 * (s // 2) ** 2))
    return net


class LanguageModel(nn.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.embedding = nn.Embedding(SIZES['vocab'], SIZES['embed'])
        self.lstm = rnn.LSTM(SIZES['hidden'], layout='NTC', input_size=SIZES['embed'])
        self.dense = nn.Dense(SIZES['vocab'], flatten=False, in_units=SIZES['hidden'])

    def hybrid_forward(self, F, tokens):
        return self.dense(self.lstm(self.embedding(tokens)))


class SelfAttention(nn.HybridBlock):
    """Multi-head self-attention: Dense q, k, v and out, scaled dot products, softmax."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        d = SIZES['width']
        self.q = nn.Dense(d, flatten=False, in_units=d)
        self.k = nn.Dense(d, flatten=False, in_units=d)
        self.v = nn.Dense(d, flatten=False, in_units=d)
        self.out = nn.Dense(d, flatten=False, in_units=d)

    def hybrid_forward(self, F, x):
        n, t, d = x.shape
        h = SIZES['heads']

        def heads(y):
            return F.np.transpose(y.reshape(n, t, h, d // h), (0, 2, 1, 3))
        q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
        weights = F.npx.softmax(F.np.matmul(q, F.np.swapaxes(k, -1, -2)) / math.sqrt(d // h), axis=-1)
        return self.out(F.np.transpose(F.np.matmul(weights, v), (0, 2, 1, 3)).reshape(n, t, d))


def inputs_of(model, dtype, seed=1):
    rng = numpy.random.default_rng(seed)
    if model == 'cnn':
        return [rng.normal(size=(SIZES['batch'], SIZES['channels'], SIZES['side'], SIZES['side'])).astype(dtype)]
    if model == 'lm':
        return [rng.integers(0, SIZES['vocab'], size=(SIZES['batch'], SIZES['steps'])).astype('int32')]
    return [rng.normal(size=(SIZES['batch'], SIZES['steps'], SIZES['width'])).astype(dtype)]


GLUON = {'cnn': gluon_cnn, 'lm': LanguageModel, 'attention': SelfAttention}


# --- the torch twins (written by hand) ------------------------------------------------------------

def torch_twins():
    import torch
    from torch import nn as tnn
    from torch.nn import functional as F

    class BatchNorm2d(tnn.BatchNorm2d):
        """torch's BatchNorm2d, but the running variance takes the *biased* batch variance, as
        MXNet's does (torch's own takes the unbiased one)."""

        def forward(self, x):
            if not self.training:
                return super().forward(x)
            mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False)
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var, self.momentum)
            shape = (1, -1, 1, 1)
            return (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + self.eps) * \
                self.weight.reshape(shape) + self.bias.reshape(shape)

    class CNN(tnn.Module):
        def __init__(self, momentum=1 - MOMENTUM, batch_norm=BatchNorm2d, bias=True):  # torch's is 1 - Gluon's
            super().__init__()
            self.conv = tnn.Conv2d(SIZES['channels'], 4, 3, padding=1)
            self.bn = batch_norm(4, momentum=momentum, eps=1e-5)
            self.fc = tnn.Linear(4 * (SIZES['side'] // 2) ** 2, 3, bias=bias)

        def forward(self, x):
            return self.fc(torch.flatten(F.max_pool2d(F.relu(self.bn(self.conv(x))), 2), 1))

    class LM(tnn.Module):
        def __init__(self):
            super().__init__()
            self.emb = tnn.Embedding(SIZES['vocab'], SIZES['embed'])
            self.lstm = tnn.LSTM(SIZES['embed'], SIZES['hidden'], batch_first=True)
            self.fc = tnn.Linear(SIZES['hidden'], SIZES['vocab'])

        def forward(self, tokens):
            return self.fc(self.lstm(self.emb(tokens.long()))[0])

    class Attention(tnn.Module):
        def __init__(self):
            super().__init__()
            self.attn = tnn.MultiheadAttention(SIZES['width'], SIZES['heads'], batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x, need_weights=False)[0]

    return {'cnn': CNN, 'lm': LM, 'attention': Attention}


def torch_twin(model, dtype, **kwargs):
    import torch
    return torch_twins()[model](**kwargs).to(getattr(torch, dtype))


TORCH_MAPPINGS = {
    'cnn': {'0.weight': 'conv.weight', '0.bias': 'conv.bias', '1.gamma': 'bn.weight', '1.beta': 'bn.bias',
            '1.running_mean': 'bn.running_mean', '1.running_var': 'bn.running_var',
            '4.weight': 'fc.weight', '4.bias': 'fc.bias'},
    'lm': {'embedding.weight': 'emb.weight',
           'lstm.l0_i2h_weight': ('lstm.weight_ih_l0', gates('lstm')),
           'lstm.l0_h2h_weight': ('lstm.weight_hh_l0', gates('lstm')),
           'lstm.l0_i2h_bias': ('lstm.bias_ih_l0', gates('lstm')),
           'lstm.l0_h2h_bias': ('lstm.bias_hh_l0', gates('lstm')),
           'dense.weight': 'fc.weight', 'dense.bias': 'fc.bias'},
    'attention': {('q.weight', 'k.weight', 'v.weight'): ('attn.in_proj_weight', concat()),
                  ('q.bias', 'k.bias', 'v.bias'): ('attn.in_proj_bias', concat()),
                  'out.weight': 'attn.out_proj.weight', 'out.bias': 'attn.out_proj.bias'},
}


# --- the Keras twins (written by hand) ------------------------------------------------------------

def keras_twin(model, dtype, bn_momentum=MOMENTUM):
    from parity.port.keras import keras
    layers = keras.layers
    if model == 'cnn':
        s = SIZES['side']
        inp = keras.Input((s, s, SIZES['channels']), dtype=dtype)            # channels last
        x = layers.Conv2D(4, 3, padding='same', name='conv', dtype=dtype)(inp)
        x = layers.BatchNormalization(momentum=bn_momentum, epsilon=1e-5, name='bn', dtype=dtype)(x)
        x = layers.MaxPooling2D(2, dtype=dtype)(layers.ReLU(dtype=dtype)(x))
        x = layers.Flatten(dtype=dtype)(layers.Permute((3, 1, 2), dtype=dtype)(x))  # flatten as Gluon: C, H, W
        return keras.Model(inp, layers.Dense(3, name='fc', dtype=dtype)(x), name='cnn')

    if model == 'lm':
        class LM(keras.Model):
            def __init__(self):
                super().__init__(name='lm', dtype=dtype)
                self.emb = layers.Embedding(SIZES['vocab'], SIZES['embed'], name='emb', dtype=dtype)
                self.lstm = layers.LSTM(SIZES['hidden'], return_sequences=True, name='lstm', dtype=dtype)
                self.fc = layers.Dense(SIZES['vocab'], name='fc', dtype=dtype)

            def call(self, tokens, training=False):
                return self.fc(self.lstm(self.emb(tokens), training=training))
        net = LM()
        net(numpy.zeros((1, 2), 'int32'))
        return net

    class Attention(keras.Model):
        def __init__(self):
            super().__init__(name='attention', dtype=dtype)
            d = SIZES['width']
            self.q, self.k, self.v, self.o = (layers.Dense(d, name=n, dtype=dtype) for n in 'qkvo')

        def call(self, x, training=False):
            ops = keras.ops
            n, t, d = x.shape
            h = SIZES['heads']

            def heads(y):
                return ops.transpose(ops.reshape(y, (n, t, h, d // h)), (0, 2, 1, 3))
            q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
            weights = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(d // h), axis=-1)
            return self.o(ops.reshape(ops.transpose(ops.matmul(weights, v), (0, 2, 1, 3)), (n, t, d)))
    net = Attention()
    net(numpy.zeros((1, 2, SIZES['width']), dtype))
    return net


KERAS_MAPPINGS = {
    'cnn': {'0.weight': ('conv/kernel', twins.hwio), '0.bias': 'conv/bias', '1.gamma': 'bn/gamma',
            '1.beta': 'bn/beta', '1.running_mean': 'bn/moving_mean', '1.running_var': 'bn/moving_variance',
            '4.weight': ('fc/kernel', transpose), '4.bias': 'fc/bias'},
    'lm': {'embedding.weight': 'emb/embeddings',
           'lstm.l0_i2h_weight': ('lstm/lstm_cell/kernel', gates('lstm'), transpose),
           'lstm.l0_h2h_weight': ('lstm/lstm_cell/recurrent_kernel', gates('lstm'), transpose),
           ('lstm.l0_i2h_bias', 'lstm.l0_h2h_bias'): ('lstm/lstm_cell/bias', gates('lstm'), merge),
           'dense.weight': ('fc/kernel', transpose), 'dense.bias': 'fc/bias'},
    'attention': {**{f'{g}.weight': (f'{k}/kernel', transpose) for g, k in zip(('q', 'k', 'v', 'out'), 'qkvo')},
                  **{f'{g}.bias': f'{k}/bias' for g, k in zip(('q', 'k', 'v', 'out'), 'qkvo')}},
}
#: the options each model is compared with: the CNN in training mode (see the module's docstring)
OPTIONS = {'cnn': {'training': True}, 'lm': {}, 'attention': {}}
KERAS_OPTIONS = {'cnn': {'twin_inputs': [permute(0, 2, 3, 1)]}}


def twin_of(framework, model, dtype, **kwargs):
    need('mxnet', framework)
    if framework == 'torch':
        return torch_twin(model, dtype, **kwargs), TORCH_MAPPINGS[model], OPTIONS[model]
    options = {**OPTIONS[model], **KERAS_OPTIONS.get(model, {})}
    return keras_twin(model, dtype, **kwargs), KERAS_MAPPINGS[model], options


def relative_error(result):
    """The largest relative error over the rows whose expected values reach 100 x atol (below that atol
    decides: the key bias's gradient in attention is zero up to rounding on both sides)."""
    return max((r.rel_err for r in result.rows
                if r.abs_err == 0 or r.abs_err / r.rel_err >= 100 * result.atol), default=0.0)


def compared(framework, model, dtype, mapping=None, **kwargs):
    block = gluon_block(GLUON[model], dtype)
    twin, default, options = twin_of(framework, model, dtype, **kwargs)
    return compare(block, twin, *inputs_of(model, dtype), mapping=mapping or default, **options)


# --- the twins agree --------------------------------------------------------------------------------

@pytest.mark.parity
@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('model', sorted(GLUON))
@pytest.mark.parametrize('framework', ('torch', 'tensorflow'))
def test_a_hand_written_twin_agrees_in_outputs_gradients_running_stats_and_one_step(framework, model, dtype):
    result = compared(framework, model, dtype).assert_ok()
    kinds = {r.kind for r in result.rows}
    assert {'output', 'grad', 'after step'} <= kinds, result
    if model != 'lm':
        assert 'input grad' in kinds, result
    if model == 'cnn':
        assert {'1.running_mean', '1.running_var'} <= {r.name for r in result.rows if r.kind == 'aux'}, result
    if dtype == 'float64':
        assert relative_error(result) < 1e-11, result
    if framework == 'tensorflow' and model == 'lm':  # Keras's one LSTM bias: SGD on the sum, not comparable
        assert {r.name for r in result.skipped} == {'lstm.l0_i2h_bias', 'lstm.l0_h2h_bias'}, result


@pytest.mark.parity
@pytest.mark.parametrize('model', sorted(GLUON))
@pytest.mark.parametrize('framework', ('torch', 'tensorflow'))
def test_propose_mapping_finds_the_mapping_written_by_hand(framework, model):
    block = gluon_block(GLUON[model], 'float64')
    twin, mapping, options = twin_of(framework, model, 'float64')
    if framework == 'torch' and model == 'attention':  # q, k, v in one in_proj_weight: no order pairs them
        with pytest.raises(ValueError, match=r"q\.weight .*attn\.in_proj_weight"):
            propose_mapping(block, twin)
        return
    proposed = propose_mapping(block, twin)
    code = proposed.code()
    namespace = {}
    exec(code, namespace)                                          # the printed code is the mapping
    assert {k: repr(v) for k, v in namespace['mapping'].items()} == {k: repr(v) for k, v in proposed.items()}
    compare(block, twin, *inputs_of(model, 'float64'), mapping=namespace['mapping'], **options).assert_ok()


@pytest.mark.parity
def test_propose_mapping_prints_python_with_the_transforms_and_full_names():
    need('mxnet', 'tensorflow')
    block = gluon_block(LanguageModel, 'float64')
    code = propose_mapping(block, keras_twin('lm', 'float64')).code()
    assert code.startswith('from parity.port.twins import gates, merge, transpose\n'), code
    assert "('lstm.l0_i2h_bias', 'lstm.l0_h2h_bias'): ('lm/lstm/lstm_cell/bias', gates('lstm'), merge)," in code
    assert "'dense.weight': ('lm/fc/kernel', transpose)," in code


# --- the classic twin mistakes, named ----------------------------------------------------------------

def suspects(result):
    return '\n'.join(n for n in result.notes if n.startswith('suspect'))


@pytest.mark.parity
@pytest.mark.parametrize('framework', ('torch', 'tensorflow'))
def test_an_untransposed_dense_weight_fails_and_is_named(framework):
    mapping = dict((TORCH_MAPPINGS if framework == 'torch' else KERAS_MAPPINGS)['attention'])
    if framework == 'torch':
        mapping['out.weight'] = ('attn.out_proj.weight', transpose)    # torch's Linear is Gluon's layout
    else:
        mapping['out.weight'] = 'o/kernel'                              # Keras's kernel is (in, out)
    result = compared(framework, 'attention', 'float64', mapping=mapping)
    assert not result.ok
    assert 'out.weight' in suspects(result), result
    assert 'out.weight' in str(result).splitlines()[1], result


@pytest.mark.parity
@pytest.mark.parametrize('framework', ('torch', 'tensorflow'))
def test_lstm_gates_out_of_order_fail_and_are_named(framework):
    wrong = gates('lstm', 'ifoc')                                       # o and c swapped
    mapping = {k: ((v[0], wrong) + v[2:] if isinstance(v, tuple) and 'gates' in repr(v) else v)
               for k, v in (TORCH_MAPPINGS if framework == 'torch' else KERAS_MAPPINGS)['lm'].items()}
    result = compared(framework, 'lm', 'float64', mapping=mapping)
    assert not result.ok
    found = suspects(result)
    assert 'lstm.l0_i2h_weight' in found and "gates('lstm', 'ifco')" in found, result


@pytest.mark.parity
def test_a_torch_twin_without_its_bias_fails_naming_the_gluon_bias():
    block = gluon_block(gluon_cnn, 'float64')
    twin, mapping, options = twin_of('torch', 'cnn', 'float64', bias=False)
    with pytest.raises(ValueError, match=r"4\.bias -> 'fc\.bias': the twin has no parameter 'fc\.bias'"):
        compare(block, twin, *inputs_of('cnn', 'float64'), mapping=mapping, **options)
    with pytest.raises(ValueError, match=r"4\.bias \(3,\)"):
        propose_mapping(block, twin)


@pytest.mark.parity
def test_a_torch_twin_that_ignores_its_bias_fails_in_the_rows_of_that_bias():
    need('mxnet', 'torch')
    import torch
    block = gluon_block(gluon_cnn, 'float64')
    twin, mapping, options = twin_of('torch', 'cnn', 'float64')
    twin.forward = lambda x: torch.flatten(torch.nn.functional.max_pool2d(
        torch.relu(twin.bn(twin.conv(x))), 2), 1) @ twin.fc.weight.T         # the bias left out
    result = compare(block, twin, *inputs_of('cnn', 'float64'), mapping=mapping, **options)
    assert {('grad', '4.bias'), ('after step', '4.bias')} <= {(r.kind, r.name) for r in result.failures}, result


@pytest.mark.parity
def test_a_keras_lstm_bias_merged_wrong_is_refused_naming_the_biases():
    need('mxnet', 'tensorflow')
    block = gluon_block(LanguageModel, 'float64')
    twin = keras_twin('lm', 'float64')
    only_one = dict(KERAS_MAPPINGS['lm'])
    del only_one[('lstm.l0_i2h_bias', 'lstm.l0_h2h_bias')]
    only_one['lstm.l0_i2h_bias'] = ('lstm/lstm_cell/bias', gates('lstm'))           # h2h bias forgotten
    with pytest.raises(ValueError, match=r'without a target in the twin: lstm\.l0_h2h_bias'):
        compare(block, twin, *inputs_of('lm', 'float64'), mapping=only_one)
    twice = dict(only_one, **{'lstm.l0_h2h_bias': ('lstm/lstm_cell/bias', gates('lstm'))})  # not merged
    with pytest.raises(ValueError, match=r"used twice: 'lm/lstm/lstm_cell/bias' \(from lstm\.l0_i2h_bias and "
                                         r"lstm\.l0_h2h_bias\)"):
        compare(block, twin, *inputs_of('lm', 'float64'), mapping=twice)


@pytest.mark.parity
@pytest.mark.parametrize('framework', ('torch', 'tensorflow'))
def test_batchnorm_momentum_taken_the_wrong_way_round_fails_in_the_running_statistics(framework):
    momentum = {'momentum': 0.9} if framework == 'torch' else {'bn_momentum': 0.1}  # Gluon's 0.9 is torch's 0.1
    result = compared(framework, 'cnn', 'float64', **momentum)
    failed = {(r.kind, r.name) for r in result.failures}
    assert failed == {('aux', '1.running_mean'), ('aux', '1.running_var')}, result  # forward and step agree


@pytest.mark.parity
def test_torchs_own_batchnorm_fails_only_the_running_variance_it_updates_unbiased():
    need('mxnet', 'torch')
    import torch
    result = compared('torch', 'cnn', 'float64', batch_norm=torch.nn.BatchNorm2d)
    assert {(r.kind, r.name) for r in result.failures} == {('aux', '1.running_var')}, result


# --- mappings that cannot be right are errors naming the parameters ---------------------------------

@pytest.mark.parity
def test_an_incomplete_or_ambiguous_mapping_is_an_error_naming_the_parameters():
    need('mxnet', 'torch')
    block = gluon_block(gluon_cnn, 'float64')
    twin = torch_twin('cnn', 'float64')
    x = inputs_of('cnn', 'float64')
    mapping = dict(TORCH_MAPPINGS['cnn'])
    del mapping['1.beta']
    with pytest.raises(ValueError, match=r'Gluon parameters without a target in the twin: 1\.beta;'
                                         r' twin parameters without a Gluon source: bn\.bias'):
        compare(block, twin, *x, mapping=mapping, training=True)
    with pytest.raises(ValueError, match=r"twin parameters used twice: 'bn\.weight' \(from 1\.gamma and 1\.beta\)"):
        compare(block, twin, *x, mapping=dict(TORCH_MAPPINGS['cnn'], **{'1.beta': 'bn.weight'}), training=True)
    with pytest.raises(ValueError, match=r"4\.weight \(3, 64\) -> fc\.weight \(3, 64\): transpose gives \(64, 3\)"):
        compare(block, twin, *x, mapping=dict(TORCH_MAPPINGS['cnn'], **{'4.weight': ('fc.weight', transpose)}))
    with pytest.raises(ValueError, match=r"'5\.weight' is not a parameter of the block"):
        compare(block, twin, *x, mapping=dict(TORCH_MAPPINGS['cnn'], **{'5.weight': 'fc.weight'}))


def test_transforms_are_invertible_and_print_as_their_code():
    rng = numpy.random.default_rng(0)
    w = rng.normal(size=(12, 5))
    kernel = rng.normal(size=(4, 2, 3, 3))
    for t, a in ((transpose, w), (twins.hwio, kernel), (permute(1, 0), w), (gates('lstm', 'icfo'), w),
                 (gates('gru', 'zrh'), w), (twins.split(3), w)):
        out = t.to_twin([a])
        back = t.to_gluon(out, [a])
        numpy.testing.assert_array_equal(back[0], a)
        assert eval(repr(t), vars(twins)).code == t.code                       # the printed form is the transform
    parts = [w[:4], w[4:]]
    joined = concat().to_twin(parts)
    assert [p.shape for p in concat().to_gluon(joined, parts)] == [(4, 5), (8, 5)]
    assert twins.hwio.to_twin([kernel])[0].shape == (3, 3, 2, 4)
    numpy.testing.assert_array_equal(gates('gru', 'zrn').to_twin([numpy.arange(6)])[0], [2, 3, 0, 1, 4, 5])
    numpy.testing.assert_array_equal(merge.to_twin([numpy.ones(2), numpy.ones(2)])[0], [2, 2])
    with pytest.raises(ValueError, match="names each of 'ifco' once"):
        gates('lstm', 'iffo')


@pytest.mark.parity
def test_the_readme_twin_example_runs():
    """parity/README.md's complete pytest example of a twin, executed as written."""
    need('mxnet', 'torch')
    import pathlib
    text = (pathlib.Path(__file__).resolve().parents[1] / 'parity' / 'README.md').read_text()
    start = text.index('# test_my_twin.py')
    namespace = {}
    exec(compile(text[start:text.index('```', start)], 'parity/README.md', 'exec'), namespace)
    namespace['test_the_twin_matches_the_gluon_model']()


@pytest.mark.parity
def test_a_mapping_may_name_gluon_parameters_as_mxnet_does():
    block = gluon_block(LanguageModel, 'float64')
    twin, mapping, options = twin_of('torch', 'lm', 'float64')
    structural = twins.gluon_parameters(block)
    by_mxnet = {structural[k].name: v for k, v in mapping.items()}                  # collect_params() names
    by_mxnet['lstm._unfused.0.i2h_weight'] = by_mxnet.pop(structural['lstm.l0_i2h_weight'].name)  # old format
    result = compare(block, twin, *inputs_of('lm', 'float64'), mapping=by_mxnet, **options).assert_ok()
    assert 'lstm.l0_i2h_weight' in {r.name for r in result.rows}                  # rows use structural names
