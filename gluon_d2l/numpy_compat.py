"""Let MXNet 1.9.1 import and run on NumPy releases newer than it was built for.

MXNet 1.9.1 (built against NumPy 1.x) looks up NumPy names, at import time and in a few
operators, that NumPy 1.24 and 2.x removed. :data:`REPLACEMENTS` lists every such name
(found by scanning MXNet's sources for attributes of ``numpy`` and for the name lists it
resolves with ``getattr``) and what stands in for it.

:func:`install` adds the names that the installed NumPy lacks: it never replaces an
attribute NumPy still has, so on NumPy <= 1.23 it adds nothing. Restored functions are
thin wrappers that call today's NumPy function: an ``mx.np`` array passed to, say,
``numpy.product`` still reaches MXNet's operator through ``__array_function__``.
:func:`restored_names` lists what was added (audit it with
``python -c "import gluon_d2l.numpy_compat as c; print(c.restored_names())"``).
"""
import math
import types
import warnings

import numpy


def _calls(modern, **fixed):
    """A stand-in that calls ``numpy.<modern>`` (looked up at call time) with ``fixed`` kwargs."""
    def wrapper(*args, **kwargs):
        return getattr(numpy, modern)(*args, **fixed, **kwargs)
    wrapper.__doc__ = f'Removed from NumPy; calls ``numpy.{modern}``' + (f' with {fixed}.' if fixed else '.')
    return wrapper


def _in1d(ar1, ar2, assume_unique=False, invert=False, **kwargs):
    """Removed from NumPy 2.4; ``numpy.isin``, flattened."""
    return numpy.ravel(numpy.isin(ar1, ar2, assume_unique=assume_unique, invert=invert, **kwargs))


def _financial(name):
    """The stub NumPy 1.20-1.26 had for a financial function (NEP 32): calling it raises."""
    def stub(*args, **kwargs):
        raise RuntimeError(f'In accordance with NEP 32, the function {name} was removed from NumPy version '
                           '1.20. A replacement for this function is available in the numpy_financial '
                           'library: https://pypi.org/project/numpy-financial')
    stub.__name__ = stub.__qualname__ = name
    return stub


#: name -> stand-in, for every removed NumPy name MXNet 1.9.1 uses (the comments say where).
REPLACEMENTS = {
    # removed in NumPy 1.24: the aliases of builtins (2.0 brought ``bool`` back, as ``bool_``)
    'bool': bool,                                       # mx.np dtypes, mx.test_utils
    'int': int,                                         # mx.test_utils.verify_generator
    # removed in NumPy 2.0
    'PZERO': 0.0, 'NZERO': -0.0, 'PINF': math.inf, 'NINF': -math.inf,   # mxnet.numpy, at import
    'NAN': math.nan, 'NaN': math.nan,                   # mxnet.numpy, at import
    'Inf': math.inf,                                    # gluon.contrib.estimator
    'sometrue': _calls('any'), 'product': _calls('prod'),  # MXNet's __array_function__ table,
    'round_': _calls('round'),                          # at import
    'alltrue': _calls('all'), 'msort': _calls('sort', axis=0),          # mx.np fallbacks, at import
    'compat': types.SimpleNamespace(basestring=str),    # mx.np.pad (numpy.compat: no longer loaded)
    # removed in NumPy 2.4 (deprecated in 2.0)
    'in1d': _in1d, 'trapz': _calls('trapezoid'),        # mx.np fallbacks, at import
    # NumPy 1.20 made the financial functions stubs that raise; 2.0 removed the stubs
    **{name: _financial(name) for name in ('mirr', 'npv', 'pmt', 'ppmt', 'pv', 'rate')},  # mx.np fallbacks
}
for _name, _value in REPLACEMENTS.items():
    if isinstance(_value, types.FunctionType):
        _value.__name__ = _value.__qualname__ = _name

_restored = set()


def _has(name):
    """Whether NumPy still provides ``name`` (NumPy <= 1.23 warns for its deprecated aliases)."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return hasattr(numpy, name)


def install():
    """Add each name of :data:`REPLACEMENTS` that NumPy lacks; idempotent. Returns :func:`restored_names`."""
    for name, value in REPLACEMENTS.items():
        if not _has(name):
            setattr(numpy, name, value)
            _restored.add(name)
    return restored_names()


def restored_names():
    """The sorted names :func:`install` added to ``numpy`` (empty on NumPy <= 1.23)."""
    return sorted(_restored)
