"""Hypothesis strategies for what users vary: sizes, dtypes, magnitudes, corpora, weights."""
import numpy as onp
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

batch_sizes = st.integers(1, 6)
feature_counts = st.integers(1, 9)
vocab_sizes = st.integers(2, 30)
num_steps = st.integers(1, 8)
num_hiddens = st.integers(1, 24)
float_dtypes = st.sampled_from(['float32', 'float64'])
magnitudes = st.sampled_from([1e-6, 1e-2, 1.0, 1e2, 1e4])


def bounded_floats(dtype, scale=1.0):
    """Finite floats in ``[-scale, scale]`` representable in ``dtype``."""
    width = onp.dtype(dtype).itemsize * 8
    bound = float(onp.asarray(scale, dtype=dtype))
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=width)


@st.composite
def arrays(draw, shape, dtype=None, scale=None):
    """A float array of ``shape`` with a drawn dtype and magnitude."""
    dtype = dtype or draw(float_dtypes)
    scale = scale if scale is not None else draw(magnitudes)
    return draw(hnp.arrays(dtype, shape, elements=bounded_floats(dtype, scale)))


@st.composite
def matrices(draw, rows=batch_sizes, cols=feature_counts, dtype=None, scale=None):
    """A 2-D float array with drawn row and column counts."""
    return draw(arrays((draw(rows), draw(cols)), dtype, scale))


@st.composite
def gradient_lists(draw):
    """One to four gradient arrays of assorted shapes, some possibly all-zero."""
    shapes = draw(st.lists(hnp.array_shapes(min_dims=1, max_dims=2, max_side=5), min_size=1, max_size=4))
    scale = draw(magnitudes)
    return [draw(arrays(shape, 'float64', scale)) for shape in shapes]


@st.composite
def token_batches(draw, vocab_size, batch_size=None, steps=None):
    """A ``(batch, steps)`` int32 array of token ids below ``vocab_size``."""
    shape = (batch_size or draw(batch_sizes), steps or draw(num_steps))
    return draw(hnp.arrays('int32', shape, elements=st.integers(0, vocab_size - 1)))


@st.composite
def distinct_corpora(draw, min_size=2, max_size=300):
    """A corpus of distinct token ids in random order, so every position is identifiable."""
    size = draw(st.integers(min_size, max_size))
    return draw(st.permutations(range(size)))


token_lines = st.lists(st.lists(st.sampled_from(list('abcdefgh ')), max_size=12), max_size=8)
texts = st.text(alphabet=st.characters(codec='utf-8', exclude_categories=('Cs',)), max_size=200)


@st.composite
def onnx_stacks(draw):
    """A random stack of supported layers for the ONNX export property: ``(specs, input shape,
    numpy_mode, dtype)``; each spec is ``(layer kind, kwargs)`` with sizes that keep every shape valid
    (transposes and reshapes between the layers included)."""
    rank = draw(st.sampled_from([3, 4]))
    channels = draw(st.integers(1, 4))
    spatial = [draw(st.integers(5, 9)) for _ in range(rank - 2)]
    shape = (3, channels, *spatial)
    specs = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(['conv', 'pool', 'batchnorm', 'activation', 'dropout', 'transpose', 'reshape']))
        if kind == 'conv':
            kernel, stride = draw(st.integers(1, 3)), draw(st.integers(1, 2))
            padding, dilation = draw(st.integers(0, 1)), draw(st.integers(1, 2))
            groups = draw(st.sampled_from([g for g in (1, 2, channels) if channels % g == 0]))
            out = groups * draw(st.integers(1, 3))
            size = [(n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1 for n in spatial]
            if min(size) < 1:
                continue
            specs.append(('conv', dict(channels=out, kernel_size=kernel, strides=stride, padding=padding,
                                       dilation=dilation, groups=groups)))
            channels, spatial = out, size
        elif kind == 'pool':
            pool, stride = draw(st.integers(1, 3)), draw(st.integers(1, 2))
            padding = draw(st.integers(0, pool // 2))
            ceil = draw(st.booleans())
            size = [(-(-(n + 2 * padding - pool) // stride) if ceil else (n + 2 * padding - pool) // stride) + 1
                    for n in spatial]
            if min(size) < 1 or any(pool > n + 2 * padding for n in spatial) or \
                    (ceil and any((o - 1) * stride >= n + padding for o, n in zip(size, spatial))):
                continue
            specs.append(('pool', dict(kind=draw(st.sampled_from(['max', 'avg'])), pool_size=pool, strides=stride,
                                       padding=padding, ceil_mode=ceil)))
            spatial = size
        elif kind == 'activation':
            specs.append(('activation', dict(act=draw(st.sampled_from(
                ['relu', 'sigmoid', 'tanh', 'softrelu', 'softsign', 'leaky', 'elu', 'selu', 'gelu', 'swish'])))))
        elif kind == 'transpose':  # swap the last two axes (channels and length for 1-D)
            specs.append(('transpose', {}))
            if rank == 3:
                channels, spatial = spatial[0], [channels]
            else:
                spatial = spatial[::-1]
        elif kind == 'reshape':  # merge the spatial axes into one and split them back (reshape codes)
            specs.append(('reshape', dict(spatial=tuple(spatial))))
        else:
            specs.append((kind, {}))
    if not specs or draw(st.booleans()):
        specs.append(('dense', dict(units=draw(st.integers(1, 6)), flatten=True)))
    return specs, shape, draw(st.booleans()), draw(st.sampled_from(['float32', 'float32', 'float64']))
