"""Every public entry point refuses bad input with an error that names the argument."""
import mxnet as mx
import numpy as onp
import pytest
from mxnet import gluon, np

import gluon_d2l as d2l
from gluon_d2l import devices
from gluon_d2l.program import checkpoints
from gluon_d2l.models import build_model


def scratch(vocab=5, hiddens=4):
    return d2l.RNNModelScratch(vocab, hiddens, mx.cpu(), d2l.get_params, d2l.init_rnn_state, d2l.rnn)


def hybrid(vocab=5, hiddens=4):
    net = d2l.HybridRNNScratch(vocab, hiddens)
    net.initialize()
    return net


def concise(vocab=5, hiddens=4):
    net = d2l.RNNModel(gluon.rnn.RNN(hiddens), vocab)
    net.initialize()
    return net


def forward(make, X, state=None):
    net = make()
    state = net.begin_state(batch_size=X.shape[0] if X.ndim else 1, ctx=mx.cpu()) if state is None else state
    return net(X, state)


def initialized(layer, *args):
    block = layer(*args)
    block.initialize()
    return block


def tokens(rows):
    return np.array(rows, dtype='int32')


def text_file(tmp_path, name, payload):
    path = tmp_path / name
    path.write_bytes(payload)
    return path


def truncated_params(tmp_path):
    net = hybrid()
    checkpoints.save_params(net, tmp_path / 'p.npz')
    data = (tmp_path / 'p.npz').read_bytes()
    (tmp_path / 'p.npz').write_bytes(data[: len(data) // 2])
    return checkpoints.load_params(hybrid(), tmp_path / 'p.npz')


def foreign_params(tmp_path):
    checkpoints.save_params(hybrid(hiddens=6), tmp_path / 'p.npz')
    return checkpoints.load_params(hybrid(hiddens=4), tmp_path / 'p.npz')


def no_batches():
    return d2l.train_epoch_ch8(hybrid(), [], gluon.loss.SoftmaxCrossEntropyLoss(), lambda batch_size: None,
                               mx.cpu(), False)


def odd_split():
    X = tokens([[0, 1], [1, 2], [2, 3]])
    return d2l.train_epoch_ch8(hybrid(), [(X, X)], gluon.loss.SoftmaxCrossEntropyLoss(),
                               lambda batch_size: None, [mx.cpu(0), mx.cpu(1)], False)


VOCAB = d2l.Vocab([list('abc')])

CASES = [
    ('MyDense units=0', lambda t: d2l.MyDense(0, 5), ValueError, 'units'),
    ('MyDense in_units=-1', lambda t: d2l.MyDense(3, -1), ValueError, 'in_units'),
    ('MyDense units float', lambda t: d2l.MyDense(2.5, 5), ValueError, 'units'),
    ('MyDense units bool', lambda t: d2l.MyDense(True, 5), ValueError, 'units'),
    ('MyDense wrong features', lambda t: initialized(d2l.MyDense, 3, 5)(np.ones((2, 4))), ValueError, 'in_units'),
    ('MyDense scalar input', lambda t: initialized(d2l.MyDense, 3, 5)(np.array(1.0)), ValueError, 'in_units'),
    ('TensorReduction units=0', lambda t: d2l.TensorReductionLayer(0, 3), ValueError, 'units'),
    ('TensorReduction wrong features',
     lambda t: initialized(d2l.TensorReductionLayer, 2, 3)(np.ones((2, 4))), ValueError, 'in_units'),
    ('FourierHalf scalar', lambda t: d2l.FourierHalfLayer()(np.array(1.0)), ValueError, 'input shape'),
    ('get_params vocab_size=0', lambda t: d2l.get_params(0, 4, mx.cpu()), ValueError, 'vocab_size'),
    ('get_params num_hiddens=-4', lambda t: d2l.get_params(5, -4, mx.cpu()), ValueError, 'num_hiddens'),
    ('RNNModelScratch num_hiddens=0', lambda t: scratch(hiddens=0), ValueError, 'num_hiddens'),
    ('scratch X 1-D', lambda t: scratch()(tokens([1, 2]), (np.zeros((1, 4)),)), ValueError, 'X'),
    ('scratch X 3-D', lambda t: forward(scratch, np.zeros((1, 2, 3), dtype='int32')), ValueError, 'X'),
    ('scratch token id too big', lambda t: forward(scratch, tokens([[0, 5]])), ValueError, 'X'),
    ('scratch token id negative', lambda t: forward(scratch, tokens([[-1, 2]])), ValueError, 'X'),
    ('scratch state wrong batch', lambda t: forward(scratch, tokens([[0, 1]]), (np.zeros((2, 4)),)),
     ValueError, 'state'),
    ('scratch state not a tuple', lambda t: forward(scratch, tokens([[0, 1]]), np.zeros((1, 4))),
     ValueError, 'state'),
    ('scratch empty state', lambda t: forward(scratch, tokens([[0, 1]]), ()), ValueError, 'state'),
    ('HybridRNNScratch vocab_size=0', lambda t: d2l.HybridRNNScratch(0, 4), ValueError, 'vocab_size'),
    ('hybrid state wrong hiddens', lambda t: forward(hybrid, tokens([[0, 1]]), (np.zeros((1, 3)),)),
     ValueError, 'state'),
    ('hybrid token id too big', lambda t: forward(hybrid, tokens([[0, 9]])), ValueError, 'X'),
    ('RNNModel vocab_size=0', lambda t: d2l.RNNModel(gluon.rnn.RNN(4), 0), ValueError, 'vocab_size'),
    ('concise X 1-D', lambda t: concise()(tokens([1]), concise().begin_state(batch_size=1)), ValueError, 'X'),
    ('concise token id too big', lambda t: forward(concise, tokens([[7]])), ValueError, 'X'),
    ('grad_clipping theta=0', lambda t: d2l.grad_clipping(scratch(), 0), ValueError, 'theta'),
    ('grad_clipping theta<0', lambda t: d2l.grad_clipping(scratch(), -1.0), ValueError, 'theta'),
    ('grad_clipping theta=nan', lambda t: d2l.grad_clipping(scratch(), float('nan')), ValueError, 'theta'),
    ('grad_clipping theta=inf', lambda t: d2l.grad_clipping(scratch(), float('inf')), ValueError, 'theta'),
    ('grad_clipping theta str', lambda t: d2l.grad_clipping(scratch(), '1'), ValueError, 'theta'),
    ('make_updater lr=0', lambda t: d2l.training.make_updater(scratch(), 0, mx.cpu()), ValueError, 'lr'),
    ('train_ch8 num_epochs=0', lambda t: d2l.train_ch8(scratch(), [], VOCAB, 1, 0, mx.cpu()),
     ValueError, 'num_epochs'),
    ('train_epoch_ch8 no minibatch', lambda t: no_batches(), ValueError, 'train_iter'),
    ('train_epoch_ch8 uneven split', lambda t: odd_split(), ValueError, 'batch_size'),
    ('train_epoch_ch8 empty device list', lambda t: d2l.train_epoch_ch8(hybrid(), [], None, None, [], False),
     ValueError, 'device'),
    ('predict_ch8 empty prefix', lambda t: d2l.predict_ch8('', 3, scratch(4), VOCAB, mx.cpu()),
     ValueError, 'prefix'),
    ('predict_ch8 unknown chars', lambda t: d2l.predict_ch8('abz', 3, scratch(4), VOCAB, mx.cpu()),
     ValueError, 'prefix'),
    ('predict_ch8 num_preds<0', lambda t: d2l.predict_ch8('ab', -1, scratch(4), VOCAB, mx.cpu()),
     ValueError, 'num_preds'),
    ('predict_ch8 temperature=0', lambda t: d2l.predict_ch8('ab', 2, scratch(4), VOCAB, mx.cpu(), 0),
     ValueError, 'temperature'),
    ('tokenize unknown kind', lambda t: d2l.tokenize(['a'], 'bytes'), ValueError, 'token'),
    ('Vocab index out of range', lambda t: VOCAB.to_tokens(99), IndexError, 'index'),
    ('Vocab from empty list', lambda t: d2l.Vocab.from_idx_to_token([]), ValueError, 'idx_to_token'),
    ('Vocab from duplicates', lambda t: d2l.Vocab.from_idx_to_token(['<unk>', 'a', 'a']), ValueError,
     'idx_to_token'),
    ('load_data batch_size=0', lambda t: d2l.load_data_time_machine(0, 35), ValueError, 'batch_size'),
    ('load_data num_steps=-1', lambda t: d2l.load_data_time_machine(2, -1), ValueError, 'num_steps'),
    ('load_data corpus too short',
     lambda t: d2l.load_data_time_machine(4, 8, path=text_file(t, 's.txt', b'abc def')), ValueError, 'batch_size'),
    ('read missing corpus', lambda t: d2l.read_time_machine(t / 'nope.txt'), FileNotFoundError, 'corpus path'),
    ('read binary corpus', lambda t: d2l.read_time_machine(text_file(t, 'b.txt', b'\xff\xfe\xfa')), ValueError,
     'corpus'),
    ('empty corpus', lambda t: d2l.load_corpus_time_machine(path=text_file(t, 'e.txt', b'')), ValueError,
     'corpus'),
    ('device tpu', lambda t: devices.parse_device('tpu'), ValueError, 'device'),
    ('device missing gpu', lambda t: devices.parse_device('gpu:3'), ValueError, 'device'),
    ('device listed twice', lambda t: devices.parse_devices('cpu:0,cpu'), ValueError, 'device'),
    ('Accumulator wrong arity', lambda t: d2l.Accumulator(2).add(1), ValueError, 'Accumulator.add'),
    ('truncated parameter file', truncated_params, ValueError, 'parameter file'),
    ('parameters of another architecture', foreign_params, ValueError, 'parameter file'),
    ('build_model unknown kind', lambda t: build_model('lstm', 5, 4, [mx.cpu()]), ValueError, 'model'),
    ('build_model scratch on two devices', lambda t: build_model('scratch', 5, 4, [mx.cpu(0), mx.cpu(1)]),
     ValueError, 'model scratch'),
]


def test_the_table_is_large():
    assert len(CASES) >= 40


@pytest.mark.parametrize('name, call, error, argument', CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_an_error_naming_the_argument(name, call, error, argument, tmp_path):
    with pytest.raises(error) as info:
        call(tmp_path)
    assert argument in str(info.value), f'{name}: {info.value}'
    assert 'Traceback' not in str(info.value) and 'MXNetError' not in str(info.value)


def test_a_rejected_parameter_file_leaves_the_model_untouched(tmp_path):
    checkpoints.save_params(hybrid(hiddens=6), tmp_path / 'p.npz')
    net = hybrid(hiddens=4)
    before = {k: p.data().asnumpy().copy() for k, p in checkpoints.named_arrays(net).items()}
    with pytest.raises(ValueError):
        checkpoints.load_params(net, tmp_path / 'p.npz')
    for name, param in checkpoints.named_arrays(net).items():
        onp.testing.assert_array_equal(param.data().asnumpy(), before[name])
