"""Let MXNet 1.9.1 import on NumPy releases newer than it was built for.

MXNet 1.9.1 looks up NumPy names at import time that NumPy 1.24 and 2.0
removed. :func:`install` adds back only the names that are missing (it never
replaces an attribute NumPy still has) and is a no-op on old NumPy.
:func:`restored_names` lists what it added.
"""
import numpy

_ALIASES = {'bool': bool, 'int': int, 'float': float, 'complex': complex, 'object': object, 'str': str}
_restored = []


def install():
    """Add the removed NumPy names MXNet needs; safe to call more than once."""
    for name, value in _ALIASES.items():
        if name not in numpy.__dict__:
            setattr(numpy, name, value)
            _restored.append(name)
    return restored_names()


def restored_names():
    """Return the sorted names this module added to ``numpy``."""
    return sorted(_restored)
