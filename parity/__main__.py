"""``python -m parity``: the same as ``gluon-d2l parity``."""
import sys

from . import cli

sys.exit(cli.main())
