"""Cross-framework property: for random weights and inputs, MXNet and each installed reference agree.

It reuses the parity cases (their ``inputs(rng)`` draws every weight and input from a generator), so
nothing is written twice: hypothesis varies the generator's seed, the dtype and the case.
"""
import numpy
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from parity import frameworks, harness
from parity_support import explain, need

pytestmark = pytest.mark.parity

REFERENCES = ('torch', 'tensorflow', 'jax')
# Left out: rnn_init compares the statistics of a seeded draw, not given weights; the ReLU concise cases
# carry MXNet's float32 rounding inside its float64 rnn_relu kernel (pinned by its own test), and random
# weights let ReLU activations grow until that rounding exceeds any fixed absolute tolerance;
# train_epoch_no_clip's inputs are chosen so that clipping would act (the case asserts it), which
# random weights need not satisfy.
EXCLUDED = {'rnn_init', 'concise_rnn', 'concise_rnn_step', 'train_epoch_no_clip'}
CASES = [case for case in harness.discover()
         if not hasattr(case.module, 'corpus_inputs') and case.name not in EXCLUDED]


@pytest.mark.parametrize('framework', REFERENCES)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from(harness.DTYPES))
def test_mxnet_and_the_reference_agree_for_random_weights(framework, data, seed, dtype):
    need(framework)
    case = data.draw(st.sampled_from([c for c in CASES if framework in c.frameworks]), label='case')
    note(f'case={case.name} seed={seed} dtype={dtype}')
    inputs = harness.cast({k: numpy.asarray(v) for k, v in case.module.inputs(numpy.random.default_rng(seed)).items()},
                          dtype)
    expected = case.run(frameworks.SYSTEM, inputs)
    result = harness.check(case, framework, dtype, inputs, expected)
    assert result.ok, explain(result)
