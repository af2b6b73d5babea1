"""Everything is in setup.cfg; this file only adds the import hook's .pth file to the wheel, the sdist and an
editable install."""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

PTH = 'gluon_d2l_hook.pth'


class BuildWithHook(build_py):
    """Copies ``gluon_d2l_hook.pth`` to the top of the build tree, so it lands in site-packages.

    A .pth at the top of a wheel is installed next to the packages, and Python runs its
    ``import`` line at start-up (see ``_gluon_d2l_hook``).
    """

    def run(self):
        super().run()
        here = os.path.dirname(os.path.abspath(__file__))
        self.mkpath(self.build_lib)
        shutil.copyfile(os.path.join(here, PTH), os.path.join(self.build_lib, PTH))

    def get_outputs(self, include_bytecode=True):
        return super().get_outputs(include_bytecode) + [os.path.join(self.build_lib, PTH)]


class SdistWithHook(sdist):
    """Puts ``gluon_d2l_hook.pth`` (no module, no package data) into the sdist, so the wheel built
    from the sdist carries the hook too."""

    def make_distribution(self):
        self.filelist.append(PTH)
        super().make_distribution()


try:
    from setuptools.command.editable_wheel import editable_wheel
except ImportError:  # setuptools < 64 builds editable installs another way (setup.py develop)
    editable_wheel = None


if editable_wheel is not None:
    class EditableWithHook(editable_wheel):
        """Puts ``gluon_d2l_hook.pth`` into the editable wheel (``pip install -e .``, ``uv pip install -e .``)
        next to setuptools' own ``.pth``, so ``import mxnet`` first works from a checkout too.

        ``_install_namespaces`` is the step that writes into the editable wheel's top directory; on a
        setuptools that does not call it the hook is simply missing (tests/test_install.py checks it).
        """

        def _install_namespaces(self, installation_dir, pth_prefix):
            super()._install_namespaces(installation_dir, pth_prefix)
            shutil.copyfile(os.path.join(os.path.dirname(os.path.abspath(__file__)), PTH),
                            os.path.join(installation_dir, PTH))


setup(cmdclass={'build_py': BuildWithHook, 'sdist': SdistWithHook,
                **({'editable_wheel': EditableWithHook} if editable_wheel is not None else {})})
