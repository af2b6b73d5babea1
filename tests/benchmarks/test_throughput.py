"""pytest-benchmark: one training epoch of each variant on the seeds' workload (``tox -e bench``).

Not part of the default test run (``testpaths`` excludes nothing, so ``tox -e bench`` selects this
directory and the other envs deselect it with ``-m "not bench"``).
"""
import mxnet as mx
import pytest

from gluon_d2l import bench
from gluon_d2l.data import load_data_time_machine

pytestmark = pytest.mark.bench


@pytest.fixture(scope='module')
def workload(corpus_dir):
    train_iter, vocab = load_data_time_machine(32, 35)
    batches = list(train_iter)
    variants = bench.mxnet_variants(batches, len(vocab), 512)
    variants.update(bench.peer_variants(batches, len(vocab), 512))
    return variants


@pytest.mark.parametrize('variant', ['mxnet seed scratch (imperative)', 'gluon_d2l scratch', 'gluon_d2l hybrid',
                                     'gluon_d2l concise', 'torch scratch', 'torch nn.RNN',
                                     'tensorflow keras SimpleRNN (tf.function)'])
def test_training_epoch(benchmark, workload, variant):
    if variant not in workload:
        pytest.fail(f'{variant}: its framework is not installed in this environment')
    run = workload[variant]

    def epoch():
        run()
        mx.nd.waitall()
    benchmark.pedantic(epoch, rounds=3, warmup_rounds=1)
