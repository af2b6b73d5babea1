"""Custom Gluon layers: the chapter's examples and its two exercises."""
import math

import numpy as onp
from mxnet import np, npx
from mxnet.gluon import nn
from mxnet.util import use_np

from .checks import check_array, check_feature_size, check_positive_int
from .modes import follows_caller


@follows_caller
@use_np
class CenteredLayer(nn.Block):
    """Subtract the mean of the whole input from every element."""

    def forward(self, X):
        _check_centered_input(X)
        return X - X.mean()


def _check_centered_input(X):
    """``X`` must be a non-empty array: the mean of nothing is NaN."""
    check_array('X', X)
    if hasattr(X, 'size') and X.size == 0:
        raise ValueError(f'X must have at least one element to center, got shape {tuple(X.shape)}')


@follows_caller
@use_np
class HybridCenteredLayer(nn.HybridBlock):
    """``CenteredLayer`` as a HybridBlock, so it can be ``hybridize()``-d."""

    def forward(self, X):
        _check_centered_input(X)
        return super().forward(X)

    def hybrid_forward(self, F, X):
        return X - X.mean(keepdims=True)


@follows_caller
@use_np
class MyDense(nn.Block):
    """A fully connected layer with ReLU whose parameters come from ``self.params.get``."""

    def __init__(self, units, in_units, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int('units', units)
        self.in_units = check_positive_int('in_units', in_units)
        self.weight = self.params.get('weight', shape=(in_units, units))
        self.bias = self.params.get('bias', shape=(units,))

    def forward(self, x):
        check_array('x', x)
        check_feature_size(type(self).__name__, x, self.in_units)
        linear = np.dot(x, self.weight.data(ctx=x.ctx)) + self.bias.data(ctx=x.ctx)
        return npx.relu(linear)


@follows_caller
@use_np
class TensorReductionLayer(nn.HybridBlock):
    """Exercise 1: ``y_k = sum_ij W_ijk x_i x_j`` for inputs of shape ``(batch, in_units)``."""

    def __init__(self, units, in_units, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int('units', units)
        self.in_units = check_positive_int('in_units', in_units)
        with self.name_scope():
            self.weight = self.params.get('weight', shape=(in_units, in_units, units))

    def forward(self, x, *args):
        check_array('x', x)
        if hasattr(x, 'shape'):  # an array; a symbol (inside a hybridized parent) has no shape to check
            if x.ndim != 2:
                raise ValueError(f'TensorReductionLayer: x must have shape (batch, in_units={self.in_units}), '
                                 f'got {tuple(x.shape)}')
            check_feature_size(type(self).__name__, x, self.in_units)
        return super().forward(x, *args)

    def hybrid_forward(self, F, x, weight):
        # (batch, i) @ (i, j*k) -> (batch, j, k); then contract j with x_j.
        partial = F.np.dot(x, weight.reshape((self.in_units, -1)))
        partial = partial.reshape((-1, self.in_units, self.units))
        return (partial * F.np.expand_dims(x, axis=-1)).sum(axis=1)


@follows_caller
@use_np
class FourierHalfLayer(nn.Block):
    """Exercise 2: the leading half of the discrete Fourier coefficients of the last axis.

    For an input of length ``n`` on its last axis it returns the coefficients
    ``k = 0 .. ceil(n/2) - 1`` of ``numpy.fft.fft`` as a real array of shape
    ``(..., ceil(n/2), 2)`` holding (real, imaginary) parts, the layout of
    ``torch.view_as_real``. MXNet has no complex dtype, so the transform is a
    matrix product with a cached cosine/sine basis.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._bases = {}

    def _basis(self, n, dtype, ctx):
        key = (n, onp.dtype(dtype).name, str(ctx))
        if key not in self._bases:
            half = (n + 1) // 2
            angle = -2.0 * math.pi * onp.outer(onp.arange(n), onp.arange(half)) / n
            basis = onp.concatenate([onp.cos(angle), onp.sin(angle)], axis=1)
            self._bases[key] = np.array(basis, dtype=dtype, ctx=ctx)
        return self._bases[key]

    def forward(self, x):
        check_array('x', x)
        if onp.dtype(x.dtype).kind != 'f':
            raise TypeError(f'FourierHalfLayer: x must be a float array, got dtype {onp.dtype(x.dtype).name}')
        if x.ndim < 1 or x.shape[-1] < 1:
            raise ValueError(f'FourierHalfLayer: input shape {x.shape} has no last axis to transform')
        n = x.shape[-1]
        coeffs = np.dot(x, self._basis(n, x.dtype, x.ctx))
        half = (n + 1) // 2
        return np.stack([coeffs[..., :half], coeffs[..., half:]], axis=-1)
