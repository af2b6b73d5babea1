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

#: text files for the corpus reader: letters, non-letters, non-ASCII, and every kind of line break
corpus_texts = st.lists(st.sampled_from(list('aBzQ !\t\r\n\x0b\x0c\x1c\x85\u2028éſK\xa0') + ['x y', '\r\n']),
                        min_size=1, max_size=150).map(''.join)


@st.composite
def embedding_problems(draw):
    """Token ids ``X (batch, steps)``, a weight ``W (vocab, dim)`` and an upstream gradient
    ``G (steps, batch, dim)``: the pieces of ``one_hot(X.T) @ W`` versus ``W[X.T]``."""
    vocab, dim = draw(vocab_sizes), draw(num_hiddens)
    X = draw(token_batches(vocab))
    dtype = draw(float_dtypes)
    W = draw(arrays((vocab, dim), dtype))
    G = draw(arrays((X.shape[1], X.shape[0], dim), dtype, 1.0))
    return X, W, G
