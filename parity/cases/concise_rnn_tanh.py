"""Concise RNN with activation='tanh': the references of concise_rnn."""
import numpy

from . import concise_rnn
from .concise_rnn import jax, mxnet, tensorflow, torch  # noqa: F401

TOLERANCE = {'float64': 1e-12, 'float32': 1e-4}  # float32: see concise_rnn (cuDNN)


def inputs(rng):
    return {**concise_rnn.inputs(rng), 'activation': numpy.array('tanh')}
