"""pytest-benchmark: training epochs on the d2l chapter's workload (``tox -e bench``, not the default run).

MXNet variants are timed in this process; the PyTorch, TensorFlow and JAX references run in child
processes (one per framework, as ``gluon-d2l bench`` does) and every variant's tokens/s from one
round of ``bench.measure`` is attached to the benchmark record as ``extra_info``.
"""
import mxnet as mx
import pytest

from parity import bench
from gluon_d2l.data import load_data_time_machine

pytestmark = pytest.mark.bench

MXNET_VARIANTS = [bench.CHAPTER_VARIANT, 'gluon_d2l scratch', 'gluon_d2l hybrid', 'gluon_d2l concise']


@pytest.fixture(scope='module')
def batches(corpus_dir):
    train_iter, vocab = load_data_time_machine(32, 35)
    return list(train_iter), len(vocab)


@pytest.mark.parametrize('variant', MXNET_VARIANTS)
def test_mxnet_training_epoch(benchmark, batches, variant):
    run = bench.mxnet_variants(*batches, 512)[variant]

    def epoch():
        run()
        mx.nd.waitall()
    benchmark.pedantic(epoch, rounds=3, warmup_rounds=1)


def test_every_variant_is_measured_in_one_round(benchmark, corpus_dir):
    rows, _ = benchmark.pedantic(bench.measure, kwargs=dict(epochs=1, repeats=1, progress=False), rounds=1)
    speeds = {r['variant']: r['tokens_per_sec'] for r in rows}
    benchmark.extra_info.update(speeds)
    missing = {name for variants in bench.bench_peers.PEERS.values() for name in variants} - set(speeds)
    assert not missing, f'not measured (framework missing?): {sorted(missing)}'
