"""``python -m gluon_d2l`` runs the ``gluon-d2l`` command line."""
import sys

from .program.cli import main

sys.exit(main())
