"""Properties of global-norm gradient clipping, and a planted per-parameter bug they catch."""
import numpy as onp
import pytest
from hypothesis import Phase, given, note, settings
from hypothesis import strategies as st
from mxnet import np

import gluon_d2l as d2l
import strategies as S

thetas = st.floats(1e-3, 1e3)


class Grads:
    """A scratch-model stand-in whose ``params`` carry the given gradients."""

    def __init__(self, grads):
        self.params = []
        for g in grads:
            p = np.zeros(g.shape, dtype=g.dtype)
            p.attach_grad()
            p.grad[:] = np.array(g)
            self.params.append(p)

    def grads(self):
        return [p.grad.asnumpy() for p in self.params]


def clipping_holds(clip, grads, theta):
    """Global norm after <= theta, direction kept, no-op below theta, zeros stay zero."""
    note(f'shapes={[g.shape for g in grads]} theta={theta}')
    net = Grads(grads)
    clip(net, theta)
    after = net.grads()
    before_norm = onp.sqrt(sum((g ** 2).sum() for g in grads))
    after_norm = onp.sqrt(sum((g ** 2).sum() for g in after))
    assert after_norm <= theta * (1 + 1e-9) + 1e-300
    if before_norm <= theta:
        for a, g in zip(after, grads):
            onp.testing.assert_array_equal(a, g)
    else:
        scale = theta / before_norm
        for a, g in zip(after, grads):
            onp.testing.assert_allclose(a, g * scale, rtol=1e-9, atol=1e-300)
    for a, g in zip(after, grads):
        assert ((g == 0) <= (a == 0)).all()


@given(grads=S.gradient_lists(), theta=thetas)
def test_grad_clipping_properties(grads, theta):
    clipping_holds(d2l.grad_clipping, grads, theta)


@given(grads=S.gradient_lists(), theta=thetas)
def test_grad_clipping_returns_the_global_norm(grads, theta):
    norm = d2l.grad_clipping(Grads(grads), theta)
    assert norm == pytest.approx(onp.sqrt(sum((g ** 2).sum() for g in grads)), rel=1e-12, abs=1e-300)


@given(grads=S.gradient_lists(), theta=thetas, data=st.data())
def test_a_non_finite_gradient_gives_a_non_finite_norm(grads, theta, data):
    index = data.draw(st.integers(0, len(grads) - 1))
    grads[index].flat[0] = data.draw(st.sampled_from([onp.nan, onp.inf, -onp.inf]))
    assert not onp.isfinite(d2l.grad_clipping(Grads(grads), theta))


def per_parameter_clipping(net, theta):
    """A planted bug: each parameter clipped on its own norm."""
    for p in net.params:
        norm = float(onp.sqrt((p.grad.asnumpy() ** 2).sum()))
        if norm > theta:
            p.grad[:] *= theta / norm


def test_the_properties_catch_per_parameter_clipping():
    @settings(database=None, derandomize=True, max_examples=200, phases=[Phase.generate])
    @given(grads=S.gradient_lists(), theta=thetas)
    def run(grads, theta):
        clipping_holds(per_parameter_clipping, grads, theta)
    with pytest.raises(AssertionError):
        run()
