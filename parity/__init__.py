"""Parity harness: the same inputs and weights through MXNet (``gluon_d2l``), PyTorch,
TensorFlow and JAX, compared output by output.

``parity.frameworks`` is the registry (frameworks are imported only when a case runs),
``parity.cases`` holds one module per component, ``parity.harness`` runs and compares them,
``parity.golden`` records and replays golden vectors, ``parity.report`` and ``parity.cli``
print the results. ``python -m parity --help`` (or ``gluon-d2l parity``) runs it.
"""
from .harness import DTYPES, Case, Result, check, discover, run  # noqa: F401
