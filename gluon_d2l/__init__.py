"""gluon_d2l: the "Dive into Deep Learning" custom layers and RNN-from-scratch chapters for
MXNet Gluon 1.9.1, with the same names and signatures as ``d2l``'s mxnet module.

Importing it puts MXNet in NumPy mode (``npx.set_np()``), as ``d2l`` does, after
:mod:`gluon_d2l.numpy_compat` has made MXNet importable on the installed NumPy.
"""
from . import numpy_compat

numpy_compat.install()

from mxnet import npx  # noqa: E402  (MXNet must come after the NumPy shim)

npx.set_np()

from .counters import Accumulator, Timer  # noqa: E402
from .data import (DATA_ENV, TIME_MACHINE_SHA1, TIME_MACHINE_URL, SeqDataLoader, Vocab,  # noqa: E402
                   count_corpus, load_corpus_time_machine, load_data_time_machine,
                   read_time_machine, seq_data_iter_random, seq_data_iter_sequential, tokenize)
from .devices import num_gpus, try_all_gpus, try_gpu  # noqa: E402
from .layers import (CenteredLayer, FourierHalfLayer, HybridCenteredLayer, MyDense,  # noqa: E402
                     TensorReductionLayer)
from .models import (HybridRNNScratch, RNNModel, RNNModelScratch, get_params, init_rnn_state,  # noqa: E402
                     rnn)
from .training import (grad_clipping, predict_ch8, sgd, train_ch8, train_epoch_ch8)  # noqa: E402

__version__ = '0.1.0'

__all__ = [
    'Accumulator', 'CenteredLayer', 'DATA_ENV', 'FourierHalfLayer', 'HybridCenteredLayer',
    'HybridRNNScratch', 'MyDense', 'RNNModel', 'RNNModelScratch', 'SeqDataLoader',
    'TIME_MACHINE_SHA1', 'TIME_MACHINE_URL', 'TensorReductionLayer', 'Timer', 'Vocab',
    'count_corpus', 'get_params', 'grad_clipping', 'init_rnn_state', 'load_corpus_time_machine',
    'load_data_time_machine', 'num_gpus', 'predict_ch8', 'read_time_machine', 'rnn',
    'seq_data_iter_random', 'seq_data_iter_sequential', 'sgd', 'tokenize', 'train_ch8',
    'train_epoch_ch8', 'try_all_gpus', 'try_gpu',
]
