"""The operator registry: one small converter per (target, MXNet operator).

A converter is registered with the decorator, for every name the operator has in legacy and
NumPy mode::

    @converter('FullyConnected', '_npx_fully_connected', target='torch')
    def fully_connected(ctx, node, x, weight, bias=None):
        ...

What a converter receives and returns is the target's convention (for the interpreting targets
``torch``, ``keras`` and ``flax``: ``(ctx, node, *input values)`` -> one value or a tuple of the
node's outputs). :func:`lookup` raises :class:`UnsupportedOperator`, whose message names the
operator and the target and shows the decorator call that adds it.
"""
import contextlib

__all__ = ['TARGETS', 'converter', 'lookup', 'supported', 'replaced', 'UnsupportedOperator']

#: the targets a converter can be registered for (``onnx``: the ONNX exporter)
TARGETS = ('torch', 'keras', 'flax', 'onnx')
#: where each target's converters live (imported by :func:`lookup`, so registration happens on first use)
MODULES = {'torch': 'parity.port.torch', 'keras': 'parity.port.keras', 'flax': 'parity.port.flax',
           'onnx': 'parity.port.onnx'}
_REGISTRY = {target: {} for target in TARGETS}


class UnsupportedOperator(NotImplementedError):
    """An MXNet operator with no converter for a target."""

    def __init__(self, op, target, node=None):
        self.op, self.target, self.node = op, target, node
        where = f' (node {node!r})' if node else ''
        super().__init__(
            f'MXNet operator {op!r}{where} has no {target} converter; register one with '
            f'@parity.port.converter({op!r}, target={target!r}) on a function '
            f'(ctx, node, *inputs) -> output(s), see {MODULES[target].replace(".", "/")}.py')


def _check_target(target):
    if target not in TARGETS:
        raise ValueError(f'unknown port target {target!r}; known: {", ".join(TARGETS)}')


def converter(*ops, target):
    """Register the decorated function as ``target``'s converter for each operator in ``ops``.

    Registering an operator again replaces its converter (so a user can override ours).
    """
    _check_target(target)
    if not ops:
        raise ValueError('converter() needs at least one MXNet operator name')

    def register(fn):
        for op in ops:
            _REGISTRY[target][op] = fn
        return fn
    return register


def _load(target):
    import importlib
    try:
        importlib.import_module(MODULES[target])
    except ModuleNotFoundError as err:
        if err.name and err.name.startswith('parity.port.'):
            return  # that target has no module yet: only user-registered converters
        raise ModuleNotFoundError(f'the {target} port target needs {err.name}, which is not installed',
                                  name=err.name) from err


def lookup(target, op, node=None):
    """The converter of ``op`` for ``target``; :class:`UnsupportedOperator` if there is none."""
    _check_target(target)
    if op not in _REGISTRY[target]:
        _load(target)
    try:
        return _REGISTRY[target][op]
    except KeyError:
        raise UnsupportedOperator(op, target, node) from None


def supported(target):
    """The operators ``target`` has converters for, sorted."""
    _check_target(target)
    _load(target)
    return sorted(_REGISTRY[target])


@contextlib.contextmanager
def replaced(target, op, fn):
    """Temporarily use ``fn`` as ``target``'s converter for ``op`` (``None`` removes it)."""
    _check_target(target)
    _load(target)
    table = _REGISTRY[target]
    missing = object()
    old = table.get(op, missing)
    if fn is None:
        table.pop(op, None)
    else:
        table[op] = fn
    try:
        yield
    finally:
        if old is missing:
            table.pop(op, None)
        else:
            table[op] = old
