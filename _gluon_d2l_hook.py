"""gluon_d2l's import hook: makes ``import mxnet`` work on today's NumPy in any import order.

``gluon_d2l_hook.pth`` (installed with the package) puts a one-line finder first on
``sys.meta_path`` at interpreter start. It imports nothing, not even this module, and it
ignores every module except ``mxnet``. When ``mxnet`` is imported, it calls :func:`find_spec`,
which runs
``gluon_d2l.numpy_compat.before_mxnet()`` (the TensorFlow check and the NumPy shim) before
MXNet's code and ``after_mxnet()`` (NumPy scalars as operator arguments) after it. Then it removes
itself. ``GLUON_D2L_NO_HOOK=1`` turns it off. :func:`register` adds the same hook by hand
(for a source checkout or an editable install, which have no .pth file). The package's
``__init__`` is not imported: MXNet code that never uses gluon_d2l gets only the compatibility
layer.
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


def find_spec(fullname, path=None, target=None):
    """``mxnet``'s spec from the other finders, its loader wrapped; ``None`` for any other module."""
    if fullname != 'mxnet':
        return None
    if os.environ.get(DISABLE_ENV):
        unregister()
        return None
    for finder in list(sys.meta_path):
        if not _is_hook(finder) and hasattr(finder, 'find_spec'):
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _Loader(spec.loader)
                return spec
    return None


class MXNetFinder:
    """The hook as a ``sys.meta_path`` entry (what :func:`register` adds)."""

    find_spec = staticmethod(find_spec)


def _is_hook(finder):
    # the .pth file's one-line finder is an instance of a class named GluonD2LHook
    return finder is MXNetFinder or type(finder).__name__ == 'GluonD2LHook'


def installed():
    """Whether a hook (the .pth file's or :func:`register`'s) is on ``sys.meta_path``."""
    return any(_is_hook(finder) for finder in sys.meta_path)


def register():
    """Put the hook first on ``sys.meta_path`` (once; not if MXNet is loaded or the hook is off)."""
    if os.environ.get(DISABLE_ENV) or 'mxnet' in sys.modules or installed():
        return
    sys.meta_path.insert(0, MXNetFinder)


def unregister():
    """Take every hook off ``sys.meta_path``."""
    sys.meta_path[:] = [finder for finder in sys.meta_path if not _is_hook(finder)]
