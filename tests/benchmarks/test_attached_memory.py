"""The memory bound of ``detach=False``: the estimate is above what an attached epoch really adds.

Each run trains in a fresh process (peak RSS restarted when training starts); the extra peak of
the attached run over the detached one is the graph's memory. Measured, not asserted in the
core suite (``tox -e bench``).
"""
import dataclasses

import pytest

from gluon_d2l.program import exercises
from gluon_d2l.training import attached_graph_bytes

pytestmark = pytest.mark.bench


@pytest.mark.parametrize('kind', ['scratch', 'hybrid', 'concise'])
@pytest.mark.parametrize('hiddens', [128, 512])
def test_the_estimate_bounds_the_attached_graph(kind, hiddens, corpus_dir):
    s = dataclasses.replace(exercises.FULL, hiddens=hiddens, detach_epochs=1)
    detached, attached = (exercises.train_in_child(s, detach, kind) for detach in (True, False))
    extra = (attached['rss_peak'] - attached['rss_before']) - (detached['rss_peak'] - detached['rss_before'])
    minibatches = (s.max_tokens - 1) // s.batch_size // s.num_steps
    estimate = attached_graph_bytes(minibatches, s.batch_size, s.num_steps, hiddens, 28)
    print(f'{kind} {hiddens}: attached graph {extra / 2 ** 20:.1f} MiB, estimate {estimate / 2 ** 20:.1f} MiB')
    assert extra <= estimate
