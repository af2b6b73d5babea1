"""The array aliases of d2l 0.17's mxnet module, so the book's code can say ``d2l.reshape(...)``.

Each alias is a function or dtype of ``mxnet.numpy`` or a method of its arrays. They create and
return ``mx.np`` arrays whatever mode the caller is in.
"""
from mxnet import np

#: alias -> the ``mxnet.numpy`` attribute it stands for (``random.normal`` is ``np.random.normal``)
FUNCTIONS = {
    'ones': 'ones', 'zeros': 'zeros', 'arange': 'arange', 'meshgrid': 'meshgrid', 'linspace': 'linspace',
    'sin': 'sin', 'sinh': 'sinh', 'cos': 'cos', 'cosh': 'cosh', 'tanh': 'tanh', 'exp': 'exp', 'log': 'log',
    'abs': 'abs', 'eye': 'eye', 'tensor': 'array', 'normal': 'random.normal', 'rand': 'random.rand',
    'matmul': 'dot', 'concat': 'concatenate', 'stack': 'stack', 'int32': 'int32', 'float32': 'float32',
}

#: alias -> the array method it calls: ``d2l.reshape(x, (2, 5))`` is ``x.reshape((2, 5))``
METHODS = {
    'numpy': 'asnumpy', 'reshape': 'reshape', 'to': 'as_in_context', 'reduce_sum': 'sum',
    'reduce_mean': 'mean', 'argmax': 'argmax', 'astype': 'astype',
}


def _resolve(path):
    target = np
    for part in path.split('.'):
        target = getattr(target, part)
    return target


def _check_array(alias, x):
    if not hasattr(x, 'asnumpy'):
        raise TypeError(f'{alias}: x must be an mx.np array, got {type(x).__name__}')


def _method(alias, method):
    def call(x, *args, **kwargs):
        _check_array(alias, x)
        return getattr(x, method)(*args, **kwargs)
    call.__name__ = call.__qualname__ = alias
    call.__doc__ = f'``x.{method}(*args, **kwargs)``.'
    return call


def size(x):
    """The number of elements of ``x``."""
    _check_array('size', x)
    return x.size


def transpose(x):
    """``x.T``."""
    _check_array('transpose', x)
    return x.T


ALIASES = {**{alias: _resolve(path) for alias, path in FUNCTIONS.items()},
           **{alias: _method(alias, method) for alias, method in METHODS.items()},
           'size': size, 'transpose': transpose}
globals().update(ALIASES)
__all__ = sorted(ALIASES)
