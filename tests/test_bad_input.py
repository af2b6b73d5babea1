"""Every public entry point refuses bad input with an error that names the argument."""
import contextlib
import re

import mxnet as mx
import numpy as onp
import pytest
from mxnet import gluon, np

import gluon_d2l as d2l
from gluon_d2l import aliases, devices
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
    checkpoints.save_params(hybrid(), tmp_path / 'p.npz')
    data = (tmp_path / 'p.npz').read_bytes()
    (tmp_path / 'p.npz').write_bytes(data[: len(data) // 2])
    return call(checkpoints.load_params, hybrid(), tmp_path / 'p.npz')


def foreign_params(tmp_path):
    checkpoints.save_params(hybrid(hiddens=6), tmp_path / 'p.npz')
    return call(checkpoints.load_params, hybrid(hiddens=4), tmp_path / 'p.npz')


def no_batches():
    return call(d2l.train_epoch_ch8, hybrid(), [], gluon.loss.SoftmaxCrossEntropyLoss(), lambda batch_size: None,
                mx.cpu(), False)


def odd_split():
    X = tokens([[0, 1], [1, 2], [2, 3]])
    return call(d2l.train_epoch_ch8, hybrid(), [(X, X)], gluon.loss.SoftmaxCrossEntropyLoss(),
                lambda batch_size: None, [mx.cpu(0), mx.cpu(1)], False)


VOCAB = d2l.Vocab([list('abc')])


def corpus_file(t):
    return text_file(t, 'c.txt', b'abc abd abe ' * 50)


def call(fn, *args, **kwargs):
    """The bad call, its arguments built beforehand (building them may use MXNet; the call may not)."""
    return lambda: fn(*args, **kwargs)


def a_scratch_params():
    return d2l.get_params(5, 4, mx.cpu())


#: public name -> rows ``(case id, make, error type, argument)``: ``make(tmp_path)`` builds the bad call
#: (MXNet may run while it is built) and returns it; the call must raise ``error`` naming ``argument``
#: before any MXNet operator runs.
TABLE = {
    'Accumulator': [
        ('n=-1', lambda t: call(d2l.Accumulator, -1), ValueError, 'n'),
        ('n=2.5', lambda t: call(d2l.Accumulator, 2.5), ValueError, 'n'),
        ('add with the wrong arity', lambda t: call(d2l.Accumulator(2).add, 1), ValueError, 'Accumulator.add'),
        ('add a string', lambda t: call(d2l.Accumulator(1).add, 'x'), TypeError, 'args'),
    ],
    'Timer': [
        ('avg with no time recorded', lambda t: call(d2l.Timer().avg), ValueError, 'times'),
    ],
    'CenteredLayer': [
        ('X a list', lambda t: call(d2l.CenteredLayer(), [1.0, 2.0]), TypeError, 'X'),
        ('X empty', lambda t: call(d2l.CenteredLayer(), np.zeros((0, 3))), ValueError, 'X'),
    ],
    'HybridCenteredLayer': [
        ('X a list', lambda t: call(d2l.HybridCenteredLayer(), [1.0]), TypeError, 'X'),
        ('X empty', lambda t: call(d2l.HybridCenteredLayer(), np.zeros((2, 0))), ValueError, 'X'),
    ],
    'MyDense': [
        ('units=0', lambda t: call(d2l.MyDense, 0, 5), ValueError, 'units'),
        ('in_units=-1', lambda t: call(d2l.MyDense, 3, -1), ValueError, 'in_units'),
        ('units float', lambda t: call(d2l.MyDense, 2.5, 5), ValueError, 'units'),
        ('units bool', lambda t: call(d2l.MyDense, True, 5), ValueError, 'units'),
        ('wrong features', lambda t: call(initialized(d2l.MyDense, 3, 5), np.ones((2, 4))), ValueError, 'in_units'),
        ('scalar input', lambda t: call(initialized(d2l.MyDense, 3, 5), np.array(1.0)), ValueError, 'in_units'),
        ('x a list', lambda t: call(initialized(d2l.MyDense, 3, 5), [[1.0] * 5]), TypeError, 'x'),
    ],
    'TensorReductionLayer': [
        ('units=0', lambda t: call(d2l.TensorReductionLayer, 0, 3), ValueError, 'units'),
        ('in_units str', lambda t: call(d2l.TensorReductionLayer, 2, '3'), ValueError, 'in_units'),
        ('wrong features', lambda t: call(initialized(d2l.TensorReductionLayer, 2, 3), np.ones((2, 4))),
         ValueError, 'in_units'),
        ('3-D input', lambda t: call(initialized(d2l.TensorReductionLayer, 2, 3), np.ones((2, 5, 3))),
         ValueError, 'x'),
        ('1-D input', lambda t: call(initialized(d2l.TensorReductionLayer, 2, 3), np.ones(3)), ValueError, 'x'),
    ],
    'FourierHalfLayer': [
        ('scalar', lambda t: call(d2l.FourierHalfLayer(), np.array(1.0)), ValueError, 'input shape'),
        ('integer input', lambda t: call(d2l.FourierHalfLayer(), np.array([1, 2], dtype='int32')), TypeError, 'x'),
        ('x a list', lambda t: call(d2l.FourierHalfLayer(), [1.0, 2.0]), TypeError, 'x'),
    ],
    'get_params': [
        ('vocab_size=0', lambda t: call(d2l.get_params, 0, 4, mx.cpu()), ValueError, 'vocab_size'),
        ('num_hiddens=-4', lambda t: call(d2l.get_params, 5, -4, mx.cpu()), ValueError, 'num_hiddens'),
        ('device a string', lambda t: call(d2l.get_params, 5, 4, 'cpu'), TypeError, 'device'),
    ],
    'init_rnn_state': [
        ('batch_size=0', lambda t: call(d2l.init_rnn_state, 0, 4, mx.cpu()), ValueError, 'batch_size'),
        ('num_hiddens 2.5', lambda t: call(d2l.init_rnn_state, 2, 2.5, mx.cpu()), ValueError, 'num_hiddens'),
        ('device None', lambda t: call(d2l.init_rnn_state, 2, 4, None), TypeError, 'device'),
    ],
    'rnn': [
        ('params of four', lambda t: call(d2l.rnn, np.zeros((2, 1, 5)), (np.zeros((1, 4)),), a_scratch_params()[:4]),
         ValueError, 'params'),
        ('inputs 2-D floats', lambda t: call(d2l.rnn, np.zeros((2, 5)), (np.zeros((1, 4)),), a_scratch_params()),
         ValueError, 'inputs'),
        ('inputs of the wrong width', lambda t: call(d2l.rnn, np.zeros((2, 1, 6)), (np.zeros((1, 4)),),
                                                     a_scratch_params()), ValueError, 'inputs'),
        ('state of the wrong batch', lambda t: call(d2l.rnn, np.zeros((2, 3, 5)), (np.zeros((1, 4)),),
                                                    a_scratch_params()), ValueError, 'state'),
        ('state not a 1-tuple', lambda t: call(d2l.rnn, np.zeros((2, 1, 5)), np.zeros((1, 4)), a_scratch_params()),
         ValueError, 'state'),
        ('activation sigmoid', lambda t: call(d2l.rnn, np.zeros((2, 1, 5)), (np.zeros((1, 4)),), a_scratch_params(),
                                              'sigmoid'), ValueError, 'activation'),
    ],
    'RNNModelScratch': [
        ('num_hiddens=0', lambda t: call(scratch, hiddens=0), ValueError, 'num_hiddens'),
        ('device a string', lambda t: call(d2l.RNNModelScratch, 5, 4, 'cpu', d2l.get_params, d2l.init_rnn_state,
                                           d2l.rnn), TypeError, 'device'),
        ('forward_fn None', lambda t: call(d2l.RNNModelScratch, 5, 4, mx.cpu(), d2l.get_params, d2l.init_rnn_state,
                                           None), TypeError, 'forward_fn'),
        ('X 1-D', lambda t: call(scratch(), tokens([1, 2]), (np.zeros((1, 4)),)), ValueError, 'X'),
        ('X 3-D', lambda t: call(scratch(), np.zeros((1, 2, 3), dtype='int32'), (np.zeros((1, 4)),)),
         ValueError, 'X'),
        ('token id too big', lambda t: call(scratch(), tokens([[0, 5]]), (np.zeros((1, 4)),)), ValueError, 'X'),
        ('token id negative', lambda t: call(scratch(), tokens([[-1, 2]]), (np.zeros((1, 4)),)), ValueError, 'X'),
        ('token id 1.5', lambda t: call(scratch(), np.array([[0, 1.5]]), (np.zeros((1, 4)),)), ValueError, 'X'),
        ('token id NaN', lambda t: call(scratch(), np.array([[0, float('nan')]]), (np.zeros((1, 4)),)),
         ValueError, 'X'),
        ('X a list', lambda t: call(scratch(), [[0, 1]], (np.zeros((1, 4)),)), TypeError, 'X'),
        ('state wrong batch', lambda t: call(scratch(), tokens([[0, 1]]), (np.zeros((2, 4)),)), ValueError, 'state'),
        ('state not a tuple', lambda t: call(scratch(), tokens([[0, 1]]), np.zeros((1, 4))), ValueError, 'state'),
        ('empty state', lambda t: call(scratch(), tokens([[0, 1]]), ()), ValueError, 'state'),
        ('begin_state batch_size=0', lambda t: call(scratch().begin_state, 0, mx.cpu()), ValueError, 'batch_size'),
    ],
    'HybridRNNScratch': [
        ('vocab_size=0', lambda t: call(d2l.HybridRNNScratch, 0, 4), ValueError, 'vocab_size'),
        ('activation sigmoid', lambda t: call(d2l.HybridRNNScratch, 5, 4, activation='sigmoid'), ValueError,
         'activation'),
        ('state wrong hiddens', lambda t: call(hybrid(), tokens([[0, 1]]), (np.zeros((1, 3)),)), ValueError, 'state'),
        ('token id too big', lambda t: call(hybrid(), tokens([[0, 9]]), (np.zeros((1, 4)),)), ValueError, 'X'),
        ('token id 1.5', lambda t: call(hybrid(), np.array([[0.0, 1.5]]), (np.zeros((1, 4)),)), ValueError, 'X'),
        ('begin_state ctx a string', lambda t: call(hybrid().begin_state, 1, 'cpu'), TypeError, 'ctx'),
    ],
    'RNNModel': [
        ('vocab_size=0', lambda t: call(d2l.RNNModel, gluon.rnn.RNN(4), 0), ValueError, 'vocab_size'),
        ('rnn_layer a Dense', lambda t: call(d2l.RNNModel, gluon.nn.Dense(4), 5), TypeError, 'rnn_layer'),
        ('X 1-D', lambda t: call(concise(), tokens([1]), concise().begin_state(batch_size=1)), ValueError, 'X'),
        ('token id too big', lambda t: call(concise(), tokens([[7]]), concise().begin_state(batch_size=1)),
         ValueError, 'X'),
        ('state of another batch', lambda t: call(concise(), tokens([[1]]), concise().begin_state(batch_size=3)),
         ValueError, 'state'),
    ],
    'grad_clipping': [
        ('theta=0', lambda t: call(d2l.grad_clipping, scratch(), 0), ValueError, 'theta'),
        ('theta<0', lambda t: call(d2l.grad_clipping, scratch(), -1.0), ValueError, 'theta'),
        ('theta=nan', lambda t: call(d2l.grad_clipping, scratch(), float('nan')), ValueError, 'theta'),
        ('theta=inf', lambda t: call(d2l.grad_clipping, scratch(), float('inf')), ValueError, 'theta'),
        ('theta str', lambda t: call(d2l.grad_clipping, scratch(), '1'), ValueError, 'theta'),
        ('net a list', lambda t: call(d2l.grad_clipping, [1, 2], 1.0), TypeError, 'net'),
    ],
    'sgd': [
        ('lr=0', lambda t: call(d2l.sgd, scratch().params, 0, 1), ValueError, 'lr'),
        ('batch_size=0', lambda t: call(d2l.sgd, scratch().params, 0.1, 0), ValueError, 'batch_size'),
        ('params not arrays', lambda t: call(d2l.sgd, [1.0], 0.1, 1), TypeError, 'params'),
    ],
    'train_ch8': [
        ('num_epochs=0', lambda t: call(d2l.train_ch8, scratch(), [], VOCAB, 1, 0, mx.cpu()), ValueError,
         'num_epochs'),
        ('lr=0', lambda t: call(d2l.train_ch8, hybrid(), [], VOCAB, 0, 1, mx.cpu()), ValueError, 'lr'),
        ('vocab a dict', lambda t: call(d2l.train_ch8, hybrid(), [], {'a': 1}, 1, 1, mx.cpu()), TypeError, 'vocab'),
        ('device a string', lambda t: call(d2l.train_ch8, hybrid(), [], VOCAB, 1, 1, 'gpu'), TypeError, 'device'),
        ('use_random_iter a string', lambda t: call(d2l.train_ch8, hybrid(), [], VOCAB, 1, 1, mx.cpu(), 'no'),
         TypeError, 'use_random_iter'),
    ],
    'train_epoch_ch8': [
        ('no minibatch', lambda t: no_batches(), ValueError, 'train_iter'),
        ('uneven split', lambda t: odd_split(), ValueError, 'batch_size'),
        ('empty device list', lambda t: call(d2l.train_epoch_ch8, hybrid(), [], None, None, [], False), ValueError,
         'device'),
        ('loss None', lambda t: call(d2l.train_epoch_ch8, hybrid(), [], None, None, mx.cpu(), False), TypeError,
         'loss'),
        ('net a function', lambda t: call(d2l.train_epoch_ch8, len, [], len, len, mx.cpu(), False), TypeError, 'net'),
        ('train_iter an int', lambda t: call(d2l.train_epoch_ch8, hybrid(), 3, len, len, mx.cpu(), False), TypeError,
         'train_iter'),
        ('num_workers=0', lambda t: call(d2l.train_epoch_ch8, hybrid(), [], len, len, mx.cpu(), False,
                                         num_workers=0), ValueError, 'num_workers'),
    ],
    'predict_ch8': [
        ('empty prefix', lambda t: call(d2l.predict_ch8, '', 3, scratch(4), VOCAB, mx.cpu()), ValueError, 'prefix'),
        ('prefix a list', lambda t: call(d2l.predict_ch8, ['a', 'b'], 3, scratch(4), VOCAB, mx.cpu()), TypeError,
         'prefix'),
        ('unknown chars', lambda t: call(d2l.predict_ch8, 'abz', 3, scratch(4), VOCAB, mx.cpu(), strict=True),
         ValueError, 'prefix'),
        ('num_preds<0', lambda t: call(d2l.predict_ch8, 'ab', -1, scratch(4), VOCAB, mx.cpu()), ValueError,
         'num_preds'),
        ('num_preds=2.5', lambda t: call(d2l.predict_ch8, 'ab', 2.5, scratch(4), VOCAB, mx.cpu()), ValueError,
         'num_preds'),
        ('num_preds bool', lambda t: call(d2l.predict_ch8, 'ab', True, scratch(4), VOCAB, mx.cpu()), ValueError,
         'num_preds'),
        ('num_preds huge', lambda t: call(d2l.predict_ch8, 'ab', 10 ** 12, scratch(4), VOCAB, mx.cpu()), ValueError,
         'num_preds'),
        ('temperature=0', lambda t: call(d2l.predict_ch8, 'ab', 2, scratch(4), VOCAB, mx.cpu(), 0), ValueError,
         'temperature'),
        ('seed negative', lambda t: call(d2l.predict_ch8, 'ab', 2, scratch(4), VOCAB, mx.cpu(), 1.0, -1), ValueError,
         'seed'),
        ('vocab a list', lambda t: call(d2l.predict_ch8, 'ab', 2, scratch(4), list('abc'), mx.cpu()), TypeError,
         'vocab'),
        ('device a string', lambda t: call(d2l.predict_ch8, 'ab', 2, scratch(4), VOCAB, 'cpu'), TypeError, 'device'),
    ],
    'tokenize': [
        ('unknown kind', lambda t: call(d2l.tokenize, ['a'], 'bytes'), ValueError, 'token'),
        ('one string for lines', lambda t: call(d2l.tokenize, 'a b', 'word'), TypeError, 'lines'),
        ('lines of numbers', lambda t: call(d2l.tokenize, [1, 2]), TypeError, 'lines'),
    ],
    'count_corpus': [
        ('tokens None', lambda t: call(d2l.count_corpus, None), TypeError, 'tokens'),
        ('unhashable tokens', lambda t: call(d2l.count_corpus, [[['a']]]), TypeError, 'tokens'),
    ],
    'Vocab': [
        ('index out of range', lambda t: call(VOCAB.to_tokens, 99), IndexError, 'indices'),
        ('index 1.5', lambda t: call(VOCAB.to_tokens, 1.5), ValueError, 'indices'),
        ('index NaN', lambda t: call(VOCAB.to_tokens, [0, float('nan')]), ValueError, 'indices'),
        ('index negative', lambda t: call(VOCAB.to_tokens, [-1]), ValueError, 'indices'),
        ('index bool', lambda t: call(VOCAB.to_tokens, True), TypeError, 'indices'),
        ('index a string', lambda t: call(VOCAB.to_tokens, ['a']), TypeError, 'indices'),
        ('reserved token twice', lambda t: call(d2l.Vocab, [list('ab')], reserved_tokens=['<pad>', '<pad>']),
         ValueError, 'reserved_tokens'),
        ('<unk> reserved twice', lambda t: call(d2l.Vocab, [list('ab')], reserved_tokens=['<unk>', '<unk>']),
         ValueError, 'reserved_tokens'),
        ('reserved_tokens a string', lambda t: call(d2l.Vocab, [list('ab')], reserved_tokens='<pad>'), TypeError,
         'reserved_tokens'),
        ('min_freq negative', lambda t: call(d2l.Vocab, [list('ab')], min_freq=-1), ValueError, 'min_freq'),
        ('tokens an int', lambda t: call(d2l.Vocab, 5), TypeError, 'tokens'),
        ('lookup of an unhashable token', lambda t: call(VOCAB.__getitem__, {'a': 1}), TypeError, 'tokens'),
        ('from an empty list', lambda t: call(d2l.Vocab.from_idx_to_token, []), ValueError, 'idx_to_token'),
        ('from duplicates', lambda t: call(d2l.Vocab.from_idx_to_token, ['<unk>', 'a', 'a']), ValueError,
         'idx_to_token'),
    ],
    'seq_data_iter_random': [
        ('batch_size=0', lambda t: call(d2l.seq_data_iter_random, list(range(50)), 0, 5), ValueError, 'batch_size'),
        ('num_steps=0', lambda t: call(d2l.seq_data_iter_random, list(range(50)), 2, 0), ValueError, 'num_steps'),
        ('num_steps negative', lambda t: call(d2l.seq_data_iter_random, list(range(50)), 2, -3), ValueError,
         'num_steps'),
        ('batch_size float', lambda t: call(d2l.seq_data_iter_random, list(range(50)), 2.0, 5), ValueError,
         'batch_size'),
        ('batch_size bool', lambda t: call(d2l.seq_data_iter_random, list(range(50)), True, 5), ValueError,
         'batch_size'),
        ('token id 1.5', lambda t: call(d2l.seq_data_iter_random, [0, 1.5] * 20, 2, 5), ValueError, 'corpus'),
        ('token id NaN', lambda t: call(d2l.seq_data_iter_random, [0.0, float('nan')] * 20, 2, 5), ValueError,
         'corpus'),
        ('corpus of strings', lambda t: call(d2l.seq_data_iter_random, list('abcdef') * 10, 2, 5), TypeError,
         'corpus'),
    ],
    'seq_data_iter_sequential': [
        ('batch_size=0', lambda t: call(d2l.seq_data_iter_sequential, list(range(50)), 0, 5), ValueError,
         'batch_size'),
        ('num_steps=0', lambda t: call(d2l.seq_data_iter_sequential, list(range(50)), 2, 0), ValueError,
         'num_steps'),
        ('batch_size negative', lambda t: call(d2l.seq_data_iter_sequential, list(range(50)), -2, 5), ValueError,
         'batch_size'),
        ('num_steps float', lambda t: call(d2l.seq_data_iter_sequential, list(range(50)), 2, 5.5), ValueError,
         'num_steps'),
        ('token id negative', lambda t: call(d2l.seq_data_iter_sequential, [-1] * 50, 2, 5), ValueError, 'corpus'),
        ('token id too large for int32', lambda t: call(d2l.seq_data_iter_sequential, [2 ** 40] * 50, 2, 5),
         ValueError, 'corpus'),
        ('corpus 2-D', lambda t: call(d2l.seq_data_iter_sequential, [[1, 2]] * 30, 2, 5), ValueError, 'corpus'),
        ('corpus a string', lambda t: call(d2l.seq_data_iter_sequential, 'abc' * 30, 2, 5), TypeError, 'corpus'),
    ],
    'SeqDataLoader': [
        ('batch_size=0', lambda t: call(d2l.SeqDataLoader, 0, 5, False, 100, corpus_file(t)), ValueError,
         'batch_size'),
        ('num_steps bool', lambda t: call(d2l.SeqDataLoader, 2, True, False, 100, corpus_file(t)), ValueError,
         'num_steps'),
        ('use_random_iter a string', lambda t: call(d2l.SeqDataLoader, 2, 5, 'yes', 100, corpus_file(t)), TypeError,
         'use_random_iter'),
        ('max_tokens 1.5', lambda t: call(d2l.SeqDataLoader, 2, 5, False, 1.5, corpus_file(t)), ValueError,
         'max_tokens'),
        ('path an int', lambda t: call(d2l.SeqDataLoader, 2, 5, False, 100, 7), TypeError, 'path'),
    ],
    'load_data_time_machine': [
        ('batch_size=0', lambda t: call(d2l.load_data_time_machine, 0, 35), ValueError, 'batch_size'),
        ('num_steps=-1', lambda t: call(d2l.load_data_time_machine, 2, -1), ValueError, 'num_steps'),
        ('corpus too short', lambda t: call(d2l.load_data_time_machine, 4, 8, path=text_file(t, 's.txt', b'abc def')),
         ValueError, 'batch_size'),
        ('max_tokens a string', lambda t: call(d2l.load_data_time_machine, 2, 5, max_tokens='100'), ValueError,
         'max_tokens'),
    ],
    'load_corpus_time_machine': [
        ('empty corpus', lambda t: call(d2l.load_corpus_time_machine, path=text_file(t, 'e.txt', b'')), ValueError,
         'corpus'),
        ('max_tokens float', lambda t: call(d2l.load_corpus_time_machine, 2.5), ValueError, 'max_tokens'),
        ('path a list', lambda t: call(d2l.load_corpus_time_machine, 10, ['c.txt']), TypeError, 'path'),
    ],
    'read_time_machine': [
        ('missing corpus', lambda t: call(d2l.read_time_machine, t / 'nope.txt'), FileNotFoundError, 'corpus path'),
        ('binary corpus', lambda t: call(d2l.read_time_machine, text_file(t, 'b.txt', b'\xff\xfe\xfa')), ValueError,
         'corpus'),
        ('path bytes', lambda t: call(d2l.read_time_machine, 3.5), TypeError, 'path'),
    ],
    'num_gpus': [
        ('an argument', lambda t: call(d2l.num_gpus, 1), TypeError, 'num_gpus'),
    ],
    'try_gpu': [
        ('i=-1', lambda t: call(d2l.try_gpu, -1), ValueError, 'i'),
        ('i=1.5', lambda t: call(d2l.try_gpu, 1.5), ValueError, 'i'),
        ('i huge', lambda t: call(d2l.try_gpu, 10 ** 9), ValueError, 'i'),
    ],
    'try_all_gpus': [
        ('an argument', lambda t: call(d2l.try_all_gpus, 0), TypeError, 'try_all_gpus'),
    ],
    'download': [
        ('unknown name', lambda t: call(d2l.download, 'nope'), ValueError, 'name'),
        ('name a list', lambda t: call(d2l.download, ['time_machine']), TypeError, 'name'),
        ('cache_dir an int', lambda t: call(d2l.download, 'time_machine', 3), TypeError, 'cache_dir'),
    ],
    'download_extract': [
        ('unknown name', lambda t: call(d2l.download_extract, 'nope'), ValueError, 'name'),
        ('folder escaping', lambda t: call(d2l.download_extract, 'time_machine', '../x'), ValueError, 'folder'),
        ('folder absolute', lambda t: call(d2l.download_extract, 'time_machine', '/etc'), ValueError, 'folder'),
    ],
    'plot': [
        ('figsize negative', lambda t: call(d2l.plot, [1, 2], figsize=(-1, 2)), ValueError, 'figsize'),
        ('xscale unknown', lambda t: call(d2l.plot, [1, 2], xscale='loglog'), ValueError, 'xscale'),
        ('series of another length', lambda t: call(d2l.plot, [1, 2, 3], [1, 2]), ValueError, 'Y'),
        ('fmts a string', lambda t: call(d2l.plot, [1, 2], fmts='-'), TypeError, 'fmts'),
    ],
    'set_axes': [
        ('axes None', lambda t: call(d2l.set_axes, None, 'x', 'y', None, None, 'linear', 'linear', []), TypeError,
         'axes'),
    ],
    'set_figsize': [
        ('figsize one number', lambda t: call(d2l.set_figsize, 3), ValueError, 'figsize'),
        ('figsize NaN', lambda t: call(d2l.set_figsize, (float('nan'), 2)), ValueError, 'figsize'),
    ],
    'use_svg_display': [
        ('an argument', lambda t: call(d2l.use_svg_display, 'svg'), TypeError, 'use_svg_display'),
    ],
    'Animator': [
        ('nrows=0', lambda t: call(d2l.Animator, nrows=0), ValueError, 'nrows'),
        ('figsize a string', lambda t: call(d2l.Animator, figsize='big'), ValueError, 'figsize'),
        ('add y of another length', lambda t: call(d2l.Animator().add, [1, 2], [3.0]), ValueError, 'y'),
        ('add a string', lambda t: call(d2l.Animator().add, 1, 'high'), TypeError, 'x and y'),
    ],
    **{alias: [('x a list', lambda t, alias=alias: call(getattr(d2l, alias), [1, 2]), TypeError, 'x')]
       for alias in sorted(aliases.METHODS) + ['size', 'transpose']},
    # not in gluon_d2l.__all__: the helpers of the program and the training loop
    'devices.parse_device': [
        ('tpu', lambda t: call(devices.parse_device, 'tpu'), ValueError, 'device'),
        ('missing gpu', lambda t: call(devices.parse_device, 'gpu:3'), ValueError, 'device'),
        ('listed twice', lambda t: call(devices.parse_devices, 'cpu:0,cpu'), ValueError, 'device'),
    ],
    'models.build_model': [
        ('unknown kind', lambda t: call(build_model, 'lstm', 5, 4, [mx.cpu()]), ValueError, 'model'),
        ('scratch on two devices', lambda t: call(build_model, 'scratch', 5, 4, [mx.cpu(0), mx.cpu(1)]), ValueError,
         'model scratch'),
    ],
    'training.make_updater': [
        ('lr=0', lambda t: call(d2l.training.make_updater, scratch(), 0, mx.cpu()), ValueError, 'lr'),
    ],
}


#: the program's parameter files (gluon_d2l/program/checkpoints.py): refused naming the file, MXNet may
#: have read it first
PROGRAM_CASES = [
    ('truncated parameter file', truncated_params, ValueError, 'parameter file'),
    ('parameters of another architecture', foreign_params, ValueError, 'parameter file'),
]

CASES = [(f'{name}: {case}', make, error, argument)
         for name, rows in TABLE.items() for case, make, error, argument in rows]

#: public names that need no row: constants, and the array aliases that *are* MXNet's own functions and
#: dtypes (``d2l.ones is mxnet.np.ones``, tests/test_d2l_api.py), whose argument checks are MXNet's
NO_ROW = {'DATA_ENV': 'a constant', 'DATA_HUB': 'a dict', 'DATA_URL': 'a constant',
          'TIME_MACHINE_SHA1': 'a constant', 'TIME_MACHINE_URL': 'a constant',
          **{alias: 'an mxnet.numpy function or dtype' for alias in aliases.FUNCTIONS}}


class NoOperators:
    """MXNet's library handle, refusing to run an operator or a cached graph while a bad call is made."""

    def __init__(self, lib):
        self._lib = lib

    def __getattr__(self, name):
        if name in ('MXImperativeInvokeEx', 'MXInvokeCachedOpEx', 'MXNetFuncCall'):
            raise AssertionError(f'an MXNet operator ran ({name}) before the argument was refused')
        return getattr(self._lib, name)


@contextlib.contextmanager
def no_mxnet_operators():
    """No MXNet operator may run inside (host copies such as ``asnumpy`` may): neither the legacy
    operator calls nor the NumPy-mode FFI calls (``np.zeros`` and most of ``mx.np``)."""
    from mxnet._ctypes import ndarray as legacy
    from mxnet._ffi._ctypes import function as ffi
    libs = legacy._LIB, ffi._LIB
    legacy._LIB, ffi._LIB = NoOperators(libs[0]), NoOperators(libs[1])
    try:
        yield
    finally:
        legacy._LIB, ffi._LIB = libs


def names_argument(message, argument):
    """Whether ``message`` names ``argument`` as a word (``'X'`` is not found in ``'MXNet'``)."""
    return re.search(rf'(?<![\w.]){re.escape(argument)}(?!\w)', message) is not None


def check_row(make, error, argument, tmp_path, guard=no_mxnet_operators):
    """Fail (``AssertionError``) unless the bad call raises ``error`` naming ``argument`` before MXNet runs."""
    bad_call = make(tmp_path)
    mx.nd.waitall()
    with guard():
        try:
            bad_call()
        except error as raised:
            message = str(raised)
        else:
            raise AssertionError(f'the call returned instead of raising {error.__name__}')
    assert names_argument(message, argument), f'{error.__name__} does not name {argument!r}: {message}'
    assert 'Traceback' not in message and 'MXNetError' not in message, message


def test_the_table_has_a_row_for_every_public_name():
    missing = sorted(set(d2l.__all__) - set(TABLE) - set(NO_ROW))
    assert not missing, f'public names without a row of bad arguments: {missing}'
    for name in NO_ROW:
        assert not callable(getattr(d2l, name)) or getattr(d2l, name) is aliases._resolve(aliases.FUNCTIONS[name])
    assert len(CASES) >= 150


@pytest.mark.parametrize('case, make, error, argument', CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_an_error_naming_the_argument_before_mxnet_runs(case, make, error, argument, tmp_path):
    check_row(make, error, argument, tmp_path)


@pytest.mark.parametrize('case, make, error, argument', PROGRAM_CASES, ids=[c[0] for c in PROGRAM_CASES])
def test_a_bad_parameter_file_is_refused_naming_it(case, make, error, argument, tmp_path):
    check_row(make, error, argument, tmp_path, guard=contextlib.nullcontext)


def test_a_row_whose_call_succeeds_fails_its_check(tmp_path):
    with pytest.raises(AssertionError, match='returned instead of raising'):
        check_row(lambda t: call(d2l.Accumulator, 2), ValueError, 'n', tmp_path)


def test_a_row_whose_error_names_another_argument_fails_its_check(tmp_path):
    with pytest.raises(AssertionError, match="does not name 'num_steps'"):
        check_row(lambda t: call(d2l.seq_data_iter_random, [1] * 20, 0, 5), ValueError, 'num_steps', tmp_path)


def test_a_check_planted_away_fails_the_rows_that_need_it(tmp_path, monkeypatch):
    """Without the iterators' batch_size check, a batch size of 0 is not refused when the iterator is made."""
    from gluon_d2l import data
    make, error, argument = next((m, e, a) for c, m, e, a in TABLE['seq_data_iter_sequential'] if c == 'batch_size=0')
    check_row(make, error, argument, tmp_path)
    monkeypatch.setattr(data, 'check_positive_int', lambda name, value: value)
    with pytest.raises(AssertionError, match='returned instead of raising'):
        check_row(make, error, argument, tmp_path)


def test_a_check_after_an_mxnet_operator_fails_its_row(tmp_path):
    """A bad argument refused only after an operator ran (here: an array is made first) fails the row."""
    def late_check(n):
        np.zeros(3)
        return d2l.Accumulator(n)

    with pytest.raises(AssertionError, match='an MXNet operator ran'):
        check_row(lambda t: call(late_check, -1), ValueError, 'n', tmp_path)


def test_unk_among_the_reserved_tokens_keeps_index_0_and_no_token_twice():
    vocab = d2l.Vocab([list('abca')], reserved_tokens=['<unk>', '<pad>'])
    assert vocab.idx_to_token == ['<unk>', '<pad>', 'a', 'b', 'c']
    assert vocab.token_to_idx == {t: i for i, t in enumerate(vocab.idx_to_token)}
    assert vocab['<unk>'] == vocab.unk == 0 and vocab['zz'] == 0
    assert d2l.Vocab(reserved_tokens=['<unk>']).idx_to_token == ['<unk>']


def test_to_tokens_takes_whole_numbers_of_any_kind_and_arrays():
    vocab = d2l.Vocab([list('abc')])
    assert vocab.to_tokens(onp.int64(1)) == vocab.to_tokens(1.0) == vocab.idx_to_token[1]
    assert vocab.to_tokens(np.array([1, 2], dtype='int32')) == vocab.idx_to_token[1:3]
    assert vocab.to_tokens((0, 2)) == ['<unk>', vocab.idx_to_token[2]] and vocab.to_tokens([]) == []


def test_float_token_batches_of_whole_numbers_are_accepted_as_in_d2l():
    net = d2l.RNNModelScratch(5, 4, mx.cpu(), d2l.get_params, d2l.init_rnn_state, d2l.rnn)
    Y, _ = net(np.array([[0.0, 4.0]]), net.begin_state(1, mx.cpu()))
    assert Y.shape == (2, 5)


def test_a_rejected_parameter_file_leaves_the_model_untouched(tmp_path):
    checkpoints.save_params(hybrid(hiddens=6), tmp_path / 'p.npz')
    net = hybrid(hiddens=4)
    before = {k: p.data().asnumpy().copy() for k, p in checkpoints.named_arrays(net).items()}
    with pytest.raises(ValueError):
        checkpoints.load_params(net, tmp_path / 'p.npz')
    for name, param in checkpoints.named_arrays(net).items():
        onp.testing.assert_array_equal(param.data().asnumpy(), before[name])
