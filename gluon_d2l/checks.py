"""Argument checks that turn bad input into errors naming the argument."""
import numbers


def check_positive_int(name, value):
    """Return ``value`` if it is an int >= 1, else raise ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f'{name} must be a positive integer, got {value!r}')
    return int(value)


def check_positive_number(name, value):
    """Return ``value`` as float if it is a finite number > 0, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0 \
            or value == float('inf'):
        raise ValueError(f'{name} must be a positive finite number, got {value!r}')
    return float(value)


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
        if tuple(s.shape) != expected:
            raise ValueError(f'{name} has an array of shape {tuple(s.shape)}, expected {expected} '
                             '(batch_size, num_hiddens)')
