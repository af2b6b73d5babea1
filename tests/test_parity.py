"""Every parity case through every reference framework, in float64 and float32, against live MXNet."""
import pytest

from parity import frameworks, harness

from parity_support import explain, need

PAIRS = [pytest.param(case, name, dtype, id=f'{case.name}-{name}-{dtype}')
         for case in harness.discover() for name in case.frameworks if name != frameworks.SYSTEM
         for dtype in harness.DTYPES]


@pytest.mark.parity
@pytest.mark.parametrize('case, framework, dtype', PAIRS)
def test_reference_matches_mxnet(case, framework, dtype):
    need(frameworks.SYSTEM, framework)
    inputs, expected = harness.live(case, dtype)
    result = harness.check(case, framework, dtype, inputs, expected)
    assert result.ok, explain(result)
