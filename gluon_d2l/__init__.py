"""gluon_d2l: the "Dive into Deep Learning" custom layers and RNN-from-scratch chapters for
MXNet Gluon 1.9.1, with the same names and signatures as ``d2l``'s mxnet module.

Importing it changes no global MXNet state: it does not call ``npx.set_np()``. Every block
and function of the library computes in MXNet's NumPy mode whatever mode the caller is in
(``mxnet.util.use_np``) and takes and returns the caller's kind of arrays and models: legacy
``mx.nd`` arrays and Gluon blocks in a legacy-mode program, ``mx.np`` in NumPy mode
(:mod:`gluon_d2l.modes`, docs/legacy.md). The d2l chapters' code, which calls ``npx.set_np()``
itself, runs unchanged.
:mod:`gluon_d2l.numpy_compat` makes MXNet importable on the installed NumPy first.
"""
import sys

from . import _mxnet_env, numpy_compat

_PROBLEM = _mxnet_env.problem()
if _PROBLEM is not None:
    # MXNet would abort this process on import: name the variable on first use instead
    def __getattr__(name):
        raise ImportError(f'gluon_d2l cannot load MXNet: {_PROBLEM[1]}')
else:
    if 'mxnet' not in sys.modules:      # else the import hook (or NumPy <= 1.23) has let MXNet load
        numpy_compat.before_mxnet()

    import mxnet  # noqa: E402,F401  (after the NumPy shim)

    numpy_compat.after_mxnet()

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
    from .aliases import *  # noqa: E402,F401,F403  (d2l's array aliases: ones, reshape, size, ...)
    from .aliases import ALIASES  # noqa: E402
    from .hub import DATA_HUB, DATA_URL, download, download_extract  # noqa: E402
    from .plotting import Animator, plot, set_axes, set_figsize, use_svg_display  # noqa: E402

__version__ = '0.1.0'

__all__ = [
    'Accumulator', 'CenteredLayer', 'DATA_ENV', 'FourierHalfLayer', 'HybridCenteredLayer',
    'HybridRNNScratch', 'MyDense', 'RNNModel', 'RNNModelScratch', 'SeqDataLoader',
    'TIME_MACHINE_SHA1', 'TIME_MACHINE_URL', 'TensorReductionLayer', 'Timer', 'Vocab',
    'count_corpus', 'get_params', 'grad_clipping', 'init_rnn_state', 'load_corpus_time_machine',
    'load_data_time_machine', 'num_gpus', 'predict_ch8', 'read_time_machine', 'rnn',
    'seq_data_iter_random', 'seq_data_iter_sequential', 'sgd', 'tokenize', 'train_ch8',
    'train_epoch_ch8', 'try_all_gpus', 'try_gpu',
    'Animator', 'DATA_HUB', 'DATA_URL', 'download', 'download_extract', 'plot', 'set_axes', 'set_figsize',
    'use_svg_display',
]
if _PROBLEM is None:
    __all__ += sorted(ALIASES)
