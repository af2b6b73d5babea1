"""``python -m parity``: the same as ``gluon-d2l parity``."""
import argparse
import sys

from . import cli

parser = argparse.ArgumentParser(prog='python -m parity', description=cli.__doc__.split(':', 1)[1].strip())
cli.add_arguments(parser)
sys.exit(cli.run(parser.parse_args()))
