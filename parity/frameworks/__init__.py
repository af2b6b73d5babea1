"""The framework registry: each framework is one adapter module, imported on first use.

An adapter ``parity/frameworks/NAME.py`` holds that framework's version of the d2l chapter's code and
the same three helpers everywhere: ``VERSION``, ``tensor(array)`` (NumPy to framework, dtype
kept) and ``numpy(tensor)`` (back). ``mxnet`` is the system under test (``gluon_d2l``); the
others are the references. Adding a framework means adding its adapter and one line below.
"""
import importlib
import importlib.util
import os

SYSTEM = 'mxnet'
#: framework name -> the packages its adapter imports
PACKAGES = {
    'mxnet': ('mxnet',),
    'torch': ('torch',),
    'tensorflow': ('tensorflow', 'keras'),
    'jax': ('jax', 'flax'),
}
REFERENCES = tuple(name for name in PACKAGES if name != SYSTEM)
#: export targets of ``parity.port`` that have no case adapter: ``available``/``required`` know them
EXPORTERS = {
    'onnx': ('onnx', 'onnxruntime'),
}
REQUIRE_ENV = 'GLUON_D2L_REQUIRE'


def available(name):
    """Whether the packages of framework (or exporter) ``name`` are installed (nothing is imported)."""
    packages = PACKAGES.get(name) or EXPORTERS[name]
    return all(importlib.util.find_spec(package) is not None for package in packages)


def load(name):
    """Import and return the adapter module of framework ``name``."""
    if name not in PACKAGES:
        raise ValueError(f'unknown framework {name!r}; known: {", ".join(PACKAGES)}')
    return importlib.import_module(f'{__name__}.{name}')


def required():
    """The frameworks listed in ``$GLUON_D2L_REQUIRE`` (comma-separated): missing ones are failures."""
    names = [n.strip() for n in os.environ.get(REQUIRE_ENV, '').split(',') if n.strip()]
    known = {**PACKAGES, **EXPORTERS}
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f'{REQUIRE_ENV} names unknown frameworks {unknown}; known: {", ".join(known)}')
    return names
