"""Every benchmark peer trains: one process per framework in the bench, here in-process (parity envs)."""
import math

import numpy as onp
import pytest

from parity.bench import peers

from parity_support import need

VARIANTS = [pytest.param(framework, name, id=name) for framework, variants in peers.PEERS.items() for name in variants]


def _loss_of(result):
    """The chapter loops return ``(perplexity, losses)``, the idiomatic ones the epoch's summed loss."""
    return float(result[0] if isinstance(result, tuple) else result)


@pytest.mark.parity
@pytest.mark.parametrize('framework, name', VARIANTS)
def test_every_peer_trains_the_chapters_model(framework, name):
    need(framework)
    rng = onp.random.RandomState(0)
    ids = rng.randint(0, 6, size=(3, 4, 6)).astype('int32')  # 3 batches, a repeating pattern to learn
    batches = [(X, onp.roll(X, -1, axis=1)) for X in ids]
    epoch = peers.PEERS[framework][name](batches, 6, 16)
    first = [_loss_of(epoch()) for _ in range(8)]
    assert all(math.isfinite(v) and v > 0 for v in first), first
    assert first[-1] < first[0], first  # SGD at lr 1 on a tiny corpus: the loss goes down
