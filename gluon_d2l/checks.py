"""Argument checks that turn bad input into errors naming the argument.

They run on the host, before the library calls MXNet, so a bad argument never reaches an
MXNet operator: the error is a ``ValueError`` or ``TypeError`` whose message starts with the
argument's name.
"""
import math
import numbers
import os

import numpy as onp


def check_positive_int(name, value):
    """Return ``value`` if it is an int >= 1, else raise ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f'{name} must be a positive integer, got {value!r}')
    return int(value)


def check_int(name, value, low=None, high=None):
    """Return ``value`` as an int if it is an integer (not a bool) in ``[low, high]``, else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
            or (low is not None and value < low) or (high is not None and value > high):
        bounds = ('' if low is None else f' >= {low}') + ('' if high is None else f' and <= {high}')
        raise ValueError(f'{name} must be an integer{bounds}, got {value!r}')
    return int(value)


def check_positive_number(name, value):
    """Return ``value`` as float if it is a finite number > 0, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0 \
            or value == float('inf'):
        raise ValueError(f'{name} must be a positive finite number, got {value!r}')
    return float(value)


def check_bool(name, value):
    """Return ``value`` as a bool if it is one (Python's or NumPy's), else raise ``TypeError``."""
    if not isinstance(value, (bool, onp.bool_)):
        raise TypeError(f'{name} must be True or False, got {value!r}')
    return bool(value)


def check_callable(name, value, optional=False):
    """Return ``value`` if it is callable (or ``None`` when ``optional``), else raise ``TypeError``."""
    if not (callable(value) or (optional and value is None)):
        raise TypeError(f'{name} must be callable, got {type(value).__name__}')
    return value


def check_path(name, value):
    """Return ``value`` if it is ``None``, a ``str`` or an ``os.PathLike``, else raise ``TypeError``."""
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise TypeError(f'{name} must be a path (str or os.PathLike) or None, got {type(value).__name__}')
    return value


def check_context(name, value):
    """Return ``value`` if it is an ``mx.Context``, else raise ``TypeError``."""
    import mxnet as mx
    if not isinstance(value, mx.Context):
        raise TypeError(f'{name} must be an mx.Context such as mx.cpu() or mx.gpu(0), got {value!r}')
    return value


def check_array(name, value):
    """Return ``value`` if it is an MXNet array (or symbol), else raise ``TypeError``."""
    if not hasattr(value, 'shape') and not hasattr(value, 'list_outputs'):
        raise TypeError(f'{name} must be an mx.np array, got {type(value).__name__}')
    return value


def check_vocab(name, value):
    """Return ``value`` if it maps tokens both ways like :class:`gluon_d2l.Vocab`, else raise ``TypeError``."""
    if not all(hasattr(value, a) for a in ('idx_to_token', 'token_to_idx', '__getitem__', '__len__')):
        raise TypeError(f'{name} must be a Vocab (idx_to_token, token_to_idx), got {type(value).__name__}')
    return value


def check_figsize(name, value):
    """Return ``value`` as a tuple if it is two positive finite numbers (inches), else raise ``ValueError``."""
    try:
        width, height = value
        return check_positive_number(name, width), check_positive_number(name, height)
    except (TypeError, ValueError):
        raise ValueError(f'{name} must be (width, height) in inches, two positive numbers, got {value!r}') from None


def token_ids(name, values, dtype='int32'):
    """``values`` (a sequence or array of token ids) as a NumPy array of ``dtype``, checked on the host.

    Raises ``TypeError`` naming ``name`` for values that are not numbers (strings, bools, objects)
    and ``ValueError`` for ids that are not whole numbers (``1.5``, NaN), negative, or too large
    for ``dtype``.
    """
    host = values.asnumpy() if hasattr(values, 'asnumpy') else values
    try:
        ids = onp.asarray(host)
    except (TypeError, ValueError):
        raise TypeError(f'{name} must hold integer token ids, got {type(values).__name__}') from None
    if ids.dtype.kind not in 'iuf':
        raise TypeError(f'{name} must hold integer token ids, got {ids.dtype.name} values')
    if ids.size:
        low, high = ids.min(), ids.max()
        if ids.dtype.kind == 'f' and not (math.isfinite(low) and math.isfinite(high)
                                          and bool((ids == onp.floor(ids)).all())):
            raise ValueError(f'{name} must hold whole-number token ids, got non-integer or non-finite values')
        if low < 0 or high > onp.iinfo(dtype).max:
            raise ValueError(f'{name} holds token ids in [{low}, {high}], outside [0, {onp.iinfo(dtype).max}]')
    return ids.astype(dtype, copy=False)


def check_feature_size(layer, x, expected):
    """Raise ``ValueError`` unless the last axis of ``x`` has ``expected`` entries."""
    if x.ndim < 1 or x.shape[-1] != expected:
        raise ValueError(f'{layer}: input of shape {tuple(x.shape)} has {x.shape[-1] if x.ndim else 0} '
                         f'features on its last axis, expected in_units={expected}')


def check_state(name, state, batch_size, num_hiddens):
    """Raise ``ValueError`` unless ``state`` is a sequence of ``(batch_size, num_hiddens)`` arrays."""
    expected = (batch_size, num_hiddens)
    if not isinstance(state, (list, tuple)) or not state:
        raise ValueError(f'{name} must be a tuple of arrays of shape {expected}, got {type(state).__name__}')
    for s in state:
        if tuple(getattr(s, 'shape', ())) != expected:
            raise ValueError(f'{name} has an array of shape {tuple(getattr(s, "shape", ()))}, expected {expected} '
                             '(batch_size, num_hiddens)')
