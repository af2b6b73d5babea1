"""Parameter files (``.npz``) and the contents of one checkpoint, with their checks.

Everything is ``.npz`` (read with ``allow_pickle=False``) or JSON: no pickle. A
parameter file is checked member by member *before* anything is decompressed (names,
and sizes that must fit the model), so a small file holding a huge member is refused
at once. A checkpoint's ``state.json`` records the SHA-1 of every other file and is
validated field by field (:func:`read_state`).
"""
import contextlib
import hashlib
import math
import os
import pathlib
import signal
import threading
import zipfile

import numpy as onp
from mxnet import gluon, np
from mxnet.util import use_np

from . import files
from .config import strict_json

PARAMS_FILE = 'params.npz'
STATE_FILE = 'state.json'
#: room for the ``.npy`` header of one member
NPY_HEADER_BYTES = 4096


def named_arrays(net):
    """``{name: Parameter or array}`` of a model, named by its structure as ``save_parameters`` names
    them (``rnn.l0_i2h_weight``, ``dense.weight``, ``W_xh``, ``embed.weight``): the names do not
    depend on instance counters, and no two parameters share one.

    Gluon's ``_collect_params_with_prefix`` gives those names (``save_parameters`` uses it);
    cutting the Block's own prefix off ``collect_params()`` names does not: a child created
    outside the Block's name scope (the RNN layer given to ``RNNModel``) keeps its own prefix,
    and ``rnn0_l0_i2h_weight`` and ``rnn0_l0_h2h_weight`` both became ``h_weight``.
    """
    if isinstance(net, gluon.Block):
        named = net._collect_params_with_prefix()
        if len({id(p) for p in named.values()}) != len(list(net.collect_params().values())):
            raise ValueError(f'{type(net).__name__}: a parameter has no structural name (shared or unregistered)')
        return named
    from ..models import HybridRNNScratch
    return dict(zip(getattr(net, 'param_names', HybridRNNScratch.param_names), net.params))


def _host(value):
    return (value.data() if isinstance(value, gluon.Parameter) else value).asnumpy()


@contextlib.contextmanager
def interrupts_held():
    """Hold Ctrl-C while a parameter file is written; one that came meanwhile is raised right after.

    Interrupted inside ``numpy.savez``, the half-written zip file's ``__del__`` printed a
    traceback to stderr. A signal mask would not do: MXNet's threads would take the signal.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught and callable(previous):
        previous(signal.SIGINT, caught[0])      # Python's default handler raises KeyboardInterrupt
    elif caught and previous == signal.SIG_DFL:
        os.kill(os.getpid(), signal.SIGINT)


def save_params(net, path):
    """Save a model's parameters to an ``.npz`` file, atomically (a partial file is removed).

    Gluon's ``save_parameters`` is not used: in NumPy mode ``load_parameters``
    takes a Block without children (``HybridRNNScratch``) for the legacy
    format and fails with a TypeError.
    """
    path = pathlib.Path(path)
    arrays = {name: _host(value) for name, value in named_arrays(net).items()}
    with interrupts_held(), files.atomic_open(path, 'wb') as f:
        onp.savez(f, **arrays)


def _shape(target):
    return tuple(int(n) for n in target.shape)


def _check_members(path, handle, targets):
    """Refuse a file whose members are not exactly the model's, or larger than they can be."""
    with zipfile.ZipFile(handle) as archive:
        members = {info.filename: info for info in archive.infolist()}
    names = {name[:-len('.npy')] if name.endswith('.npy') else name for name in members}
    if names != set(targets) or len(names) != len(members):
        raise ValueError(f'parameter file {str(path)!r} holds {sorted(names)}, but the model has '
                         f'{sorted(targets)}: it is for another architecture')
    for name, target in targets.items():
        limit = math.prod(_shape(target)) * 8 + NPY_HEADER_BYTES
        if members[name + '.npy'].file_size > limit:
            raise ValueError(f'parameter file {str(path)!r} holds a member {name} of '
                             f'{members[name + ".npy"].file_size} bytes, more than shape {_shape(target)} needs')


@use_np
def load_params(net, path):
    """Load parameters saved by :func:`save_params`; a clear ``ValueError`` if they do not fit.

    Nothing is assigned unless every name and shape matches.
    """
    path = pathlib.Path(path)
    targets = named_arrays(net)
    try:
        with os.fdopen(files.open_regular(path, 'params'), 'rb') as handle:
            _check_members(path, handle, targets)
            handle.seek(0)
            with onp.load(handle, allow_pickle=False) as saved:
                arrays = {name: saved[name] for name in saved.files}
    except ValueError as err:
        if str(err).startswith(('parameter file', repr(str(path)))):
            raise
        raise ValueError(f'parameter file {str(path)!r} is unreadable ({err})') from None
    except Exception as err:  # zipfile.BadZipFile, OSError, EOFError for a truncated or foreign file
        raise ValueError(f'parameter file {str(path)!r} is unreadable ({type(err).__name__}: {err})') from None
    for name, target in targets.items():
        if arrays[name].shape != _shape(target):
            raise ValueError(f'parameter file {str(path)!r} holds {name} of shape {arrays[name].shape}, '
                             f'but the model has {_shape(target)}: it is for another architecture')
    for name, target in targets.items():
        if isinstance(target, gluon.Parameter):
            target.set_data(np.array(arrays[name], dtype=target.dtype))
        else:
            target[:] = np.array(arrays[name], dtype=target.dtype, ctx=target.ctx)


def sha1(path, subject='run'):
    """Hex SHA-1 of a regular file (no symlink followed), read in blocks."""
    digest = hashlib.sha1()
    with os.fdopen(files.open_regular(path, subject), 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def trainer_state(trainer):
    """Plain SGD keeps no per-parameter state: its learning rate and update count are all."""
    if trainer is None:
        return None
    return {'learning_rate': trainer.learning_rate, 'num_update': trainer.optimizer.num_update}


def restore_trainer(trainer, state):
    if trainer is not None and state is not None:
        trainer.set_learning_rate(state['learning_rate'])
        trainer.optimizer.num_update = state['num_update']


def _expect(condition, what):
    if not condition:
        raise ValueError(f'{STATE_FILE}: {what}')


def _python_random(saved):
    """Python's ``random`` state as JSON holds it: ``[version, [625 ints], gauss or null]``."""
    ok = (isinstance(saved, list) and len(saved) == 3 and isinstance(saved[0], int)
          and isinstance(saved[1], list) and len(saved[1]) == 625
          and all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2 ** 32 for x in saved[1])
          and (saved[2] is None or isinstance(saved[2], float)))
    _expect(ok, 'python_random is not a saved random state')


def read_state(checkpoint, epoch, lr=None):
    """The checked ``state.json`` of the checkpoint directory of ``epoch``; ``ValueError`` if damaged
    (with ``lr``: also when its SGD learning rate is not the run's)."""
    state = strict_json(files.read_text(checkpoint / STATE_FILE, 'run'))
    _expect(isinstance(state, dict), 'not an object')
    _expect(state.get('epoch') == epoch and type(state.get('epoch')) is int, f'epoch is not {epoch}')
    recorded = state.get('files')
    _expect(isinstance(recorded, dict) and PARAMS_FILE in recorded, f'files does not list {PARAMS_FILE}')
    for name, digest in recorded.items():
        _expect(isinstance(digest, str) and name == pathlib.Path(name).name and name != STATE_FILE,
                f'bad file entry {name!r}')
        if sha1(checkpoint / name) != digest:
            raise ValueError(f'{name} does not match its recorded SHA-1')
    trainer = state.get('trainer')
    _expect(trainer is None or (isinstance(trainer, dict) and set(trainer) == {'learning_rate', 'num_update'}
                                and isinstance(trainer['learning_rate'], float)
                                and math.isfinite(trainer['learning_rate'])
                                and type(trainer['num_update']) is int and trainer['num_update'] >= 0),
            'trainer is not a saved SGD state')
    _expect(lr is None or trainer is None or trainer['learning_rate'] == lr,
            f'its learning rate {trainer and trainer["learning_rate"]!r} is not the run\'s {lr!r} (config.json)')
    _python_random(state.get('python_random'))
    return state
