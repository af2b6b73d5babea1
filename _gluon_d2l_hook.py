"""gluon_d2l's import hook: makes ``import mxnet`` work on today's NumPy in any import order.

``gluon_d2l_hook.pth`` (installed with the package) calls :func:`register` at interpreter start.
That adds one finder to ``sys.meta_path`` and imports nothing else. The finder ignores every
module except ``mxnet``. When ``mxnet`` is imported, the finder runs
``gluon_d2l.numpy_compat.before_mxnet()`` (the TensorFlow check and the NumPy shim) before MXNet's
code and ``after_mxnet()`` (NumPy scalars as operator arguments) after it. Then it removes
itself. ``GLUON_D2L_NO_HOOK=1`` turns it off. The package's ``__init__`` is not imported: MXNet
code that never uses gluon_d2l gets only the compatibility layer.
"""
import os
import sys

DISABLE_ENV = 'GLUON_D2L_NO_HOOK'


def _compat():
    """``gluon_d2l.numpy_compat``, loaded from its file without running ``gluon_d2l/__init__``."""
    name = 'gluon_d2l.numpy_compat'
    if name not in sys.modules:
        import importlib.util
        package = importlib.util.find_spec('gluon_d2l')
        if package is None or not package.submodule_search_locations:
            return None
        path = os.path.join(list(package.submodule_search_locations)[0], 'numpy_compat.py')
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]


class _Loader:
    """Wraps MXNet's own loader with the compatibility layer's two steps."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        compat = _compat()
        if compat is not None:
            compat.before_mxnet()
        self.loader.exec_module(module)
        if compat is not None:
            compat.after_mxnet()
        unregister()                        # kept until MXNet loaded, so a retry is checked again

    def __getattr__(self, name):           # get_source, get_filename, ... for tools that ask
        return getattr(self.loader, name)


class MXNetFinder:
    """A ``sys.meta_path`` finder that acts once, for the top-level module ``mxnet``."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname != 'mxnet':
            return None
        if os.environ.get(DISABLE_ENV):
            unregister()
            return None
        for finder in sys.meta_path:
            if finder is not cls and hasattr(finder, 'find_spec'):
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    if spec.loader is not None:
                        spec.loader = _Loader(spec.loader)
                    return spec
        return None


def register():
    """Put the finder first on ``sys.meta_path`` (once; not if MXNet is already loaded or the hook is off)."""
    if os.environ.get(DISABLE_ENV) or 'mxnet' in sys.modules or MXNetFinder in sys.meta_path:
        return
    sys.meta_path.insert(0, MXNetFinder)


def unregister():
    """Take the finder off ``sys.meta_path``."""
    while MXNetFinder in sys.meta_path:
        sys.meta_path.remove(MXNetFinder)
