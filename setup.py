"""Everything is in setup.cfg; this file only adds the import hook's .pth file to the wheel and the sdist."""
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


setup(cmdclass={'build_py': BuildWithHook, 'sdist': SdistWithHook})
