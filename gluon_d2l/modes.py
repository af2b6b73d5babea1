"""The caller's MXNet mode at the library's boundary.

The library computes in MXNet's NumPy mode (``mxnet.util.use_np``) and never switches the
global mode. At its boundary it meets the caller's kind of array and model:

* a block or function given a legacy ``mx.nd`` array (or legacy symbol) computes on an
  ``mx.np`` view of it and hands back legacy views of its results; given ``mx.np`` arrays it
  returns ``mx.np`` arrays. With no array argument (``begin_state``, ``get_params``,
  ``init_rnn_state``) the kind follows the caller's mode at the call (``is_np_array()``).
* a library block's :class:`Parameter` hands out arrays of the kind of the mode it is read
  in, so a legacy ``gluon.Trainer`` or a legacy parent block sees ``mx.nd`` arrays.
* the training functions call a model that is not the library's in the caller's mode, with
  the caller's kind of arrays, and work on ``mx.np`` views of its outputs and gradients.

The views share memory and the autograd graph (``as_np_ndarray``/``as_nd_ndarray`` are
shallow copies of the array handle): gradients flow through them and in-place updates reach
the original array.
"""
import contextlib
import functools
import threading

import mxnet as mx
from mxnet.gluon import Parameter
from mxnet.util import is_np_array, is_np_shape, np_array, np_shape

#: attribute set on the library's model and layer classes (see :func:`follows_caller`)
LIBRARY_BLOCK_ATTR = '_gluon_d2l_follows_caller'


def is_legacy(x):
    """True for a legacy ``mx.nd`` array or legacy ``mx.sym`` symbol (not their NumPy-mode kinds)."""
    if isinstance(x, mx.nd.NDArray):
        return not isinstance(x, mx.np.ndarray)
    if isinstance(x, mx.sym.Symbol):
        return not isinstance(x, mx.sym.np._Symbol)
    return False


def is_numpy_kind(x):
    """True for an ``mx.np`` array or NumPy-mode symbol."""
    return isinstance(x, (mx.np.ndarray, mx.sym.np._Symbol))


def as_np(x):
    """``x`` as an ``mx.np`` view (same memory, same graph); anything else unchanged."""
    return x.as_np_ndarray() if is_legacy(x) else x


def as_nd(x):
    """``x`` as a legacy ``mx.nd`` view (same memory, same graph); anything else unchanged."""
    return x.as_nd_ndarray() if is_numpy_kind(x) else x


def to_kind(x, legacy):
    """``x`` as a legacy view when ``legacy``, else as an ``mx.np`` view."""
    return as_nd(x) if legacy else as_np(x)


def map_arrays(fn, obj):
    """``fn`` applied to every array in ``obj``, through lists and tuples (their types kept)."""
    if isinstance(obj, list):
        return [map_arrays(fn, o) for o in obj]
    if isinstance(obj, tuple):
        mapped = [map_arrays(fn, o) for o in obj]
        return type(obj)(*mapped) if hasattr(obj, '_fields') else type(obj)(mapped)
    return fn(obj)


def _holds(test, obj):
    """True when ``test`` holds for ``obj`` or for a leaf of its lists, tuples and dict values."""
    if isinstance(obj, (list, tuple)):
        return any(_holds(test, o) for o in obj)
    if isinstance(obj, dict):
        return any(_holds(test, o) for o in obj.values())
    return test(obj)


def any_legacy(obj):
    """True when ``obj`` (an array, or lists and tuples of them) holds a legacy array or symbol."""
    return _holds(is_legacy, obj)


def any_array(obj):
    """True when ``obj`` (an array, or lists and tuples of them) holds an MXNet array or symbol."""
    return _holds(lambda x: isinstance(x, (mx.nd.NDArray, mx.sym.Symbol)), obj)


def wants_legacy(args, kwargs):
    """The kind a call returns: legacy if an array argument is legacy; with no array argument,
    legacy when the caller is in legacy mode."""
    if any_array(args) or any_array(kwargs):
        return any_legacy(args) or any_legacy(kwargs)
    return not is_np_array()


def returns_callers_kind(func):
    """Wrap ``func`` (run in NumPy mode) to take and return the caller's kind of arrays (see :func:`wants_legacy`)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return _call_as(func, wants_legacy(args, kwargs), args, kwargs)
    return wrapper


def _call_as(func, legacy, args, kwargs):
    """``func`` on ``mx.np`` views of the arguments, its results as legacy views when ``legacy``."""
    if not legacy:
        return func(*args, **kwargs)
    args = map_arrays(as_np, args)
    kwargs = {k: map_arrays(as_np, v) for k, v in kwargs.items()}
    return map_arrays(as_nd, func(*args, **kwargs))


class ModeParameter(Parameter):
    """A Parameter that hands out its data and gradients as arrays of the kind of the mode they
    are read in: ``mx.np`` in NumPy mode, ``mx.nd`` in legacy mode, whatever kind it stores.

    Views are made at each read, after the arrays are marked for autograd, so they share the
    stored arrays' memory and gradient buffers. Only the public readers convert; MXNet's
    internal ``_check_and_get`` (used to mark the arrays) sees the stored arrays.
    """

    def data(self, ctx=None):
        return _in_mode(super().data(ctx))

    def list_data(self):
        return [_in_mode(a) for a in super().list_data()]

    def grad(self, ctx=None):
        return _in_mode(super().grad(ctx))

    def list_grad(self):
        return [_in_mode(a) for a in super().list_grad()]

    def zero_grad(self):
        if self._grad is None:
            return
        for g in self.list_grad():
            g[:] = 0


def _in_mode(x):
    return as_np(x) if is_np_array() else as_nd(x)


def adopt_parameters(params):
    """Make every plain ``gluon.Parameter`` of ``params`` (a ParameterDict) a :class:`ModeParameter`."""
    for p in params.values():
        if type(p) is Parameter:
            p.__class__ = ModeParameter
    return params


def follows_caller(cls):
    """Class decorator, applied on top of ``use_np``: the class's instances take and return the
    caller's kind of arrays (``__call__``, ``begin_state``) and their parameters are
    :class:`ModeParameter` s."""
    call = cls.__call__
    setattr(cls, LIBRARY_BLOCK_ATTR, True)

    @functools.wraps(call)
    def __call__(self, *args, **kwargs):
        return _call_as(call, any_legacy(args) or any_legacy(kwargs), (self,) + args, kwargs)
    cls.__call__ = __call__
    if hasattr(cls, 'begin_state'):
        cls.begin_state = returns_callers_kind(cls.begin_state)
    if hasattr(cls, 'collect_params'):
        collect = cls.collect_params
        init = cls.__init__

        @functools.wraps(collect)
        def collect_params(self, *args, **kwargs):
            return adopt_parameters(collect(self, *args, **kwargs))

        @functools.wraps(init)
        def __init__(self, *args, **kwargs):
            init(self, *args, **kwargs)
            adopt_parameters(collect(self))
        cls.collect_params, cls.__init__ = collect_params, __init__
    return cls


def is_library_model(net):
    """True for the library's own models and layers (they convert arrays themselves)."""
    return getattr(type(net), LIBRARY_BLOCK_ATTR, False)


_caller = threading.local()


def library_entry(func):
    """``use_np`` for a public function that calls the caller's own code (a model).

    The outermost such call records the caller's mode, which :func:`callers_mode` restores
    around the caller's code; nested calls (``train_ch8`` calling ``predict_ch8``) keep it.
    """
    in_np = mx.util.use_np(func)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if getattr(_caller, 'mode', None) is not None:
            return in_np(*args, **kwargs)
        _caller.mode = (is_np_shape(), is_np_array())
        try:
            return in_np(*args, **kwargs)
        finally:
            _caller.mode = None
    return wrapper


def caller_is_legacy():
    """True when the outermost :func:`library_entry` call came from legacy (``mx.nd``) mode."""
    mode = getattr(_caller, 'mode', None)
    return mode is not None and not mode[1]


@contextlib.contextmanager
def mode(shape, array):
    """Run the block in the given NumPy-shape and NumPy-array modes (in the order MXNet allows)."""
    with contextlib.ExitStack() as stack:
        if array:
            stack.enter_context(np_shape(shape))
            stack.enter_context(np_array(array))
        else:
            stack.enter_context(np_array(array))
            stack.enter_context(np_shape(shape))
        yield


@contextlib.contextmanager
def callers_mode():
    """Run the caller's code (its model) in the caller's mode, as a fresh caller of the library."""
    saved = getattr(_caller, 'mode', None)
    shape, array = saved if saved is not None else (is_np_shape(), is_np_array())
    _caller.mode = None
    try:
        with mode(shape, array):
            yield
    finally:
        _caller.mode = saved


def call_model(net, *args):
    """``net(*args)`` as the training functions call it: the library's own models in NumPy mode
    as they are; any other model in the caller's mode, given the caller's kind of arrays, its
    outputs returned as ``mx.np`` views. A model written for the other mode is a ``TypeError``
    saying which mode to call the library in."""
    if is_library_model(net):
        return net(*args)
    legacy = caller_is_legacy()
    with callers_mode(), _mode_hint(net, legacy):
        out = net(*map_arrays(lambda a: to_kind(a, legacy), args))
    return map_arrays(as_np, out)


def begin_model_state(net, batch_size, ctx):
    """``net.begin_state`` in the caller's mode for a model that is not the library's."""
    if is_library_model(net):
        return net.begin_state(batch_size=batch_size, ctx=ctx)
    with callers_mode(), _mode_hint(net, caller_is_legacy()):
        return net.begin_state(batch_size=batch_size, ctx=ctx)


@contextlib.contextmanager
def _mode_hint(net, legacy):
    """Turn MXNet's operator-kind ``TypeError`` inside ``net`` into one line naming the fix."""
    try:
        yield
    except (TypeError, mx.MXNetError) as err:
        text, name = str(err), type(net).__name__
        if legacy and 'is a numpy operator' in text:
            raise TypeError(f'{name} uses mx.np operators but the library was called in legacy mode: call it in '
                            'NumPy mode (npx.set_np(), or inside `with mx.util.np_shape(True), '
                            'mx.util.np_array(True):`) or decorate the model class with mxnet.util.use_np') from err
        if not legacy and 'is a legacy operator' in text:
            raise TypeError(f'{name} uses legacy mx.nd operators but the library was called in NumPy mode: call '
                            'it in legacy mode (without npx.set_np(), or inside `with mx.util.np_array(False), '
                            'mx.util.np_shape(False):`)') from err
        raise
