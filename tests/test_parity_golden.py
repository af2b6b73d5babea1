"""Golden vectors: today's gluon_d2l and every reference against the recorded MXNet outputs.

The MXNet replay and the checks of the files themselves need no other framework, so they run in
the core environments too: that is the regression test across MXNet, NumPy and Python versions.
"""
import numpy
import pytest

from parity import frameworks, golden, harness

from parity_support import explain, need

CASES = harness.discover()


def replay(case, framework, dtype):
    inputs, expected = golden.load(case, dtype)
    result = harness.check(case, framework, dtype, inputs, expected)
    assert result.ok, explain(result)


@pytest.mark.parametrize('dtype', harness.DTYPES)
@pytest.mark.parametrize('case', CASES, ids=lambda case: case.name)
def test_mxnet_matches_its_recording(case, dtype):
    need(frameworks.SYSTEM)
    replay(case, frameworks.SYSTEM, dtype)


@pytest.mark.parity
@pytest.mark.parametrize('case, framework, dtype', [
    pytest.param(case, name, dtype, id=f'{case.name}-{name}-{dtype}')
    for case in CASES for name in case.frameworks if name != frameworks.SYSTEM for dtype in harness.DTYPES])
def test_reference_matches_the_recording(case, framework, dtype):
    need(framework)
    replay(case, framework, dtype)


def test_every_case_has_a_golden_file_and_every_file_a_case():
    recorded = sorted(p.stem for p in golden.DIRECTORY.glob('*.npz'))
    assert recorded == [case.name for case in CASES]


def test_golden_files_are_small_plain_arrays():
    assert sum(p.stat().st_size for p in golden.DIRECTORY.glob('*.npz')) < 1024 * 1024
    for case in CASES:
        assert all(a.dtype != object for a in golden.read(case).values())  # read with allow_pickle=False
        assert set(golden.meta(case)) == {'mxnet', 'numpy', 'python'}


@pytest.mark.parametrize('case', CASES, ids=lambda case: case.name)
def test_recorded_inputs_are_what_the_case_builds_today(case):
    """A case whose inputs changed since it was recorded needs ``python -m parity --record``."""
    stored, _ = case.raw_inputs()
    recorded = {k[len('input/'):]: v for k, v in golden.read(case).items() if k.startswith('input/')}
    assert sorted(recorded) == sorted(stored)
    for name, value in stored.items():
        numpy.testing.assert_array_equal(recorded[name], value, err_msg=name)


def test_mxnet_relu_rnn_kernel_rounds_float64_to_float32():
    """Why concise_rnn's float64 tolerance is 1e-6: MXNet 1.9.1's CPU ``rnn_relu`` kernel rounds the
    pre-activation to float32 (``rnn_tanh`` does not). If this fails, MXNet was fixed: tighten it."""
    need(frameworks.SYSTEM)
    d2l = frameworks.load(frameworks.SYSTEM)
    rng = numpy.random.default_rng(0)
    x, w_i, w_h, b = rng.normal(size=(3, 2, 5)), rng.normal(size=(4, 5)), rng.normal(size=(4, 4)), rng.normal(size=8)
    params = d2l.tensor(numpy.concatenate([w_i.ravel(), w_h.ravel(), b]))
    for mode, activation, rounding in (('rnn_relu', lambda z: numpy.maximum(z, 0), 'float32'),
                                       ('rnn_tanh', numpy.tanh, 'float64')):
        out = d2l.npx.rnn(d2l.tensor(x), params, d2l.np.zeros((1, 2, 4), dtype='float64'), state_size=4,
                          num_layers=1, mode=mode)
        h, expected = numpy.zeros((2, 4)), []
        for x_t in x:
            z = x_t @ w_i.T + b[:4] + h @ w_h.T + b[4:]
            h = activation(z.astype(rounding).astype('float64'))
            expected.append(h)
        numpy.testing.assert_allclose(d2l.numpy(out), numpy.stack(expected), rtol=0, atol=1e-15, err_msg=mode)
