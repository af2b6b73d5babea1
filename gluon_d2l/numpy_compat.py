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

Two more things stand between MXNet 1.9.1 and today's libraries, and this module handles both:

- NumPy 2 prints a scalar inside a tuple or list as ``np.int64(4)``; MXNet hands operator
  arguments to its C++ side as ``str(value)``, so ``x.reshape((np.int64(2), 4))`` fails.
  :func:`fix_operator_arguments` gives the few MXNet modules that stringify operator arguments
  a ``str`` that writes NumPy scalars inside containers the way NumPy 1 did. NumPy's own
  print options are left alone.
- TensorFlow 2.12-2.14 and 2.17, imported before MXNet, make ``import mxnet`` abort the
  process with no message. :func:`check_tensorflow` turns that into an ``ImportError``.

:func:`before_mxnet` and :func:`after_mxnet` run them at the right moments; the import hook
(``_gluon_d2l_hook``, installed with the package) calls them whenever ``mxnet`` is imported.
"""
import builtins
import math
import re
import sys
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


# --- NumPy 2 scalars as MXNet operator arguments ---------------------------------------------

#: The MXNet modules whose ``str()`` calls turn operator arguments, cached-op flags and symbol
#: attributes into the text MXNet's C++ side parses.
STRINGIFYING_MODULES = ('mxnet._ctypes.ndarray', 'mxnet._ctypes.symbol', 'mxnet.symbol.symbol')

_fixed_modules = []


def _argument_text(value):
    """``repr`` for the elements of a container, with NumPy scalars written as NumPy 1 did."""
    if isinstance(value, numpy.generic):
        return builtins.str(value)           # '4', '0.1', 'True' (what NumPy 1's repr gave)
    if isinstance(value, tuple):
        items = [_argument_text(v) for v in value]
        return '(' + items[0] + ',)' if len(items) == 1 else '(' + ', '.join(items) + ')'
    if isinstance(value, list):
        return '[' + ', '.join(_argument_text(v) for v in value) + ']'
    return repr(value)


def _holds_numpy_scalar(value):
    return any(isinstance(v, numpy.generic) or (isinstance(v, (tuple, list)) and _holds_numpy_scalar(v))
               for v in value)


class _StrType(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, builtins.str)

    def __subclasscheck__(cls, sub):
        return issubclass(sub, builtins.str)


class OperatorArgumentStr(builtins.str, metaclass=_StrType):
    """``str`` for MXNet's stringifying modules: ``str((np.int64(2), 4))`` gives ``'(2, 4)'``.

    Anything but a tuple or list holding NumPy scalars gets exactly ``builtins.str``; the
    result is always a plain ``str``, and ``isinstance(x, str)`` keeps its meaning.
    """

    def __new__(cls, value='', *args, **kwargs):
        if not args and not kwargs and isinstance(value, (tuple, list)) and _holds_numpy_scalar(value):
            return _argument_text(value)
        return builtins.str(value, *args, **kwargs)


def fix_operator_arguments():
    """On NumPy >= 2, let MXNet's operator arguments hold NumPy scalars; idempotent.

    Needs MXNet imported. Returns :func:`fixed_modules` (empty on NumPy 1, where ``str`` of a
    tuple of NumPy scalars is already what MXNet parses).
    """
    if int(numpy.__version__.split('.')[0]) >= 2:
        for name in STRINGIFYING_MODULES:
            module = sys.modules.get(name)
            if module is None:
                raise ImportError(f'fix_operator_arguments: import mxnet first ({name} is not loaded)')
            if vars(module).get('str') is not OperatorArgumentStr:
                module.str = OperatorArgumentStr
                _fixed_modules.append(name)
    return fixed_modules()


def fixed_modules():
    """The MXNet modules :func:`fix_operator_arguments` gave its ``str`` (empty on NumPy 1)."""
    return sorted(_fixed_modules)


# --- TensorFlow imported before MXNet ----------------------------------------------------------

#: TensorFlow releases after which ``import mxnet`` aborts the process (exit 255, no message),
#: measured with tensorflow-cpu: 2.12-2.14 and 2.17 (2.15 and 2.16 work in either order).
TENSORFLOW_BEFORE_MXNET_ABORTS = ((2, 12), (2, 13), (2, 14), (2, 17))


def check_tensorflow():
    """Raise ``ImportError`` if a TensorFlow that kills ``import mxnet`` is already imported.

    Call it before MXNet is loaded (once MXNet has loaded, the order no longer matters).
    """
    tf = sys.modules.get('tensorflow')
    if tf is None:
        return
    version = getattr(tf, '__version__', '')
    match = re.match(r'(\d+)\.(\d+)', version)
    if match and (int(match[1]), int(match[2])) in TENSORFLOW_BEFORE_MXNET_ABORTS:
        raise ImportError(
            f'mxnet is being imported after tensorflow {version}: with tensorflow 2.12-2.14 and 2.17 '
            'that aborts the whole process (exit status 255, no message). Import mxnet (or gluon_d2l) '
            'before tensorflow, or use tensorflow 2.15 or 2.16. '
            '(Raised by gluon_d2l\'s import hook; GLUON_D2L_NO_HOOK=1 turns the hook off.)')


def before_mxnet():
    """What must happen before MXNet's first import: the TensorFlow check, then :func:`install`."""
    check_tensorflow()
    return install()


def after_mxnet():
    """What must happen once MXNet is loaded: :func:`fix_operator_arguments`."""
    return fix_operator_arguments()
