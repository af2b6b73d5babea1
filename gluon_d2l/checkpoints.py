"""Saving and restoring parameters and training checkpoints, atomically.

A checkpoint is a directory ``checkpoints/epoch-NNNNN`` written under a
temporary name and renamed into place, so it is either complete or absent.
Its ``state.json`` records the SHA-1 of every other file, so a file damaged
later is detected; loading then falls back to the previous checkpoint.
Everything is ``.npz`` (read with ``allow_pickle=False``) or JSON: no pickle.
"""
import hashlib
import json
import os
import pathlib
import shutil
import tempfile
import warnings

import numpy as onp
from mxnet import gluon, np

KEEP = 2


def atomic_write_bytes(path, payload):
    """Write ``payload`` to ``path`` through a temporary file and a rename."""
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}-')
    with os.fdopen(fd, 'wb') as f:
        f.write(payload)
    os.replace(tmp, path)


def atomic_write_json(path, obj):
    """Write ``obj`` as pretty JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + '\n').encode())


PARAMS_FILE = 'params.npz'


def named_arrays(net):
    """``{name: Parameter or array}`` of a model, with names that do not depend on instance counters."""
    if isinstance(net, gluon.Block):
        return {name[len(net.prefix):]: p for name, p in net.collect_params().items()}
    from .models import HybridRNNScratch
    return dict(zip(getattr(net, 'param_names', HybridRNNScratch.param_names), net.params))


def _host(value):
    return (value.data() if isinstance(value, gluon.Parameter) else value).asnumpy()


def save_params(net, path):
    """Save a model's parameters to an ``.npz`` file, atomically.

    Gluon's ``save_parameters`` is not used: in NumPy mode ``load_parameters``
    takes a Block without children (``HybridRNNScratch``) for the legacy
    format and fails with a TypeError.
    """
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}-', suffix='.npz')
    with os.fdopen(fd, 'wb') as f:
        onp.savez(f, **{name: _host(value) for name, value in named_arrays(net).items()})
    os.replace(tmp, path)


def load_params(net, path):
    """Load parameters saved by :func:`save_params`; a clear ``ValueError`` if they do not fit.

    Nothing is assigned unless every name and shape matches.
    """
    path = pathlib.Path(path)
    targets = named_arrays(net)
    try:
        with onp.load(path, allow_pickle=False) as saved:
            arrays = {name: saved[name] for name in saved.files}
    except Exception as err:  # zipfile/OSError/ValueError for a truncated or foreign file
        raise ValueError(f'parameter file {str(path)!r} is unreadable ({type(err).__name__}: {err})') from None
    if set(arrays) != set(targets):
        raise ValueError(f'parameter file {str(path)!r} holds {sorted(arrays)}, but the model has '
                         f'{sorted(targets)}: it is for another architecture')
    for name, target in targets.items():
        if arrays[name].shape != tuple(target.shape):
            raise ValueError(f'parameter file {str(path)!r} holds {name} of shape {arrays[name].shape}, '
                             f'but the model has {tuple(target.shape)}: it is for another architecture')
    for name, target in targets.items():
        if isinstance(target, gluon.Parameter):
            target.set_data(np.array(arrays[name], dtype=target.dtype))
        else:
            target[:] = np.array(arrays[name], dtype=target.dtype, ctx=target.ctx)


def _sha1(path):
    return hashlib.sha1(pathlib.Path(path).read_bytes()).hexdigest()


def _trainer_state(trainer):
    """Plain SGD keeps no per-parameter state: its learning rate and update count are all."""
    if trainer is None:
        return None
    return {'learning_rate': trainer.learning_rate, 'num_update': trainer.optimizer.num_update}


def save_checkpoint(run_dir, epoch, net, trainer, state):
    """Write checkpoint ``epoch`` (parameters, trainer state, ``state`` dict); keep the last two."""
    root = pathlib.Path(run_dir) / 'checkpoints'
    root.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(dir=root, prefix='.tmp-'))
    save_params(net, tmp / PARAMS_FILE)
    files = {p.name: _sha1(p) for p in tmp.iterdir()}
    atomic_write_json(tmp / 'state.json', dict(state, epoch=epoch, files=files, trainer=_trainer_state(trainer)))
    final = root / f'epoch-{epoch:05d}'
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    for old in sorted(root.glob('epoch-*'))[:-KEEP]:
        shutil.rmtree(old)
    return final


def _valid(checkpoint):
    state = json.loads((checkpoint / 'state.json').read_text())
    for name, digest in state['files'].items():
        if _sha1(checkpoint / name) != digest:
            raise ValueError(f'{name} does not match its recorded SHA-1')
    return state


def load_checkpoint(run_dir, net, trainer):
    """Restore the newest intact checkpoint into ``net``/``trainer``; return its state dict.

    A damaged checkpoint is skipped with a warning. Returns ``None`` if there is none.
    """
    root = pathlib.Path(run_dir) / 'checkpoints'
    for checkpoint in sorted(root.glob('epoch-*'), reverse=True):
        try:
            state = _valid(checkpoint)
        except (OSError, ValueError, KeyError) as err:
            warnings.warn(f'checkpoint {checkpoint} is damaged ({err}); trying the previous one')
            continue
        load_params(net, checkpoint / PARAMS_FILE)
        if trainer is not None:
            trainer.set_learning_rate(state['trainer']['learning_rate'])
            trainer.optimizer.num_update = state['trainer']['num_update']
        return state
    return None
