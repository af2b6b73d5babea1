"""Shared fixtures: the corpus location and a seeded RNG for every test."""
import os
import pathlib
import random

import numpy
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
os.environ.setdefault('GLUON_D2L_DATA', str(REPO.parent / 'shared' / 'data'))

import gluon_d2l  # noqa: E402,F401  (applies the NumPy shim before mxnet is imported below)
import mxnet as mx  # noqa: E402


def seed_everything(seed):
    """Seed Python, NumPy and MXNet."""
    random.seed(seed)
    numpy.random.seed(seed)
    mx.random.seed(seed)


@pytest.fixture(autouse=True)
def seeded(request):
    """Seed every test with 0 so failures reproduce."""
    seed_everything(0)
    yield 0


@pytest.fixture(scope='session')
def corpus_dir():
    """The directory holding timemachine.txt (fails if the corpus is not available)."""
    path = pathlib.Path(os.environ['GLUON_D2L_DATA'])
    assert (path / 'timemachine.txt').is_file(), f'set GLUON_D2L_DATA: no timemachine.txt in {path}'
    return path
