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


# --- random stacks of layers for the port (tests/test_properties_port.py builds the block) -----

@st.composite
def layer_stacks(draw, max_layers=5):
    """``(input shape, [layer spec, ...])``: a random stack of the layers the port supports, with
    transposes, reshapes, concatenations and elementwise arithmetic between them. Each spec is a
    tuple ``(kind, params)`` valid for the shape the previous layers produce (tracked here)."""
    batch = draw(st.integers(1, 4))
    shape = input_shape = (batch, draw(st.integers(1, 4)), draw(st.integers(2, 6)))      # (N, C, L)
    layers = []
    for _ in range(draw(st.integers(1, max_layers))):
        choices = ['dense', 'scalar', 'softmax', 'concat_self', 'reduce']
        if len(shape) == 3:
            choices += ['conv1d', 'pool1d', 'transpose', 'rnn', 'flatten', 'layernorm', 'batchnorm']
        else:
            choices += ['split_features', 'layernorm', 'batchnorm']
        kind = draw(st.sampled_from(choices))
        n, c, rest = shape[0], shape[1], shape[2:]
        if kind == 'dense':
            units = draw(st.integers(1, 6))
            flatten = len(shape) == 2 or draw(st.booleans())
            act = draw(st.sampled_from([None, 'relu', 'tanh', 'sigmoid', 'softrelu']))
            in_units = int(onp.prod(shape[1:])) if flatten else shape[-1]
            layers.append((kind, dict(units=units, flatten=flatten, activation=act, in_units=in_units)))
            shape = (n, units) if flatten else shape[:-1] + (units,)
        elif kind == 'scalar':
            layers.append((kind, dict(mul=draw(st.sampled_from([-2.0, 0.5, 3.0])),
                                      add=draw(st.sampled_from([-1.0, 0.0, 0.25])))))
        elif kind == 'softmax':
            layers.append((kind, dict(log=draw(st.booleans()), axis=draw(st.integers(1, len(shape) - 1)))))
        elif kind == 'concat_self':
            axis = draw(st.integers(1, len(shape) - 1))
            layers.append((kind, dict(axis=axis)))
            shape = shape[:axis] + (shape[axis] * 2,) + shape[axis + 1:]
        elif kind == 'reduce':
            axis = draw(st.integers(1, len(shape) - 1))
            layers.append((kind, dict(op=draw(st.sampled_from(['sum', 'mean', 'max'])), axis=axis)))
            shape = shape[:axis] + (1,) + shape[axis + 1:]                  # keepdims
        elif kind == 'conv1d':
            length = rest[0]
            kernel = draw(st.integers(1, min(3, length)))
            dilation = draw(st.integers(1, max(1, (length - 1) // max(kernel - 1, 1)))) if kernel > 1 else 1
            padding = draw(st.integers(0, 1))
            stride = draw(st.integers(1, 2))
            groups = draw(st.sampled_from([g for g in (1, 2) if c % g == 0]))
            channels = groups * draw(st.integers(1, 3))
            out = (length + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
            if out < 1:
                continue
            layers.append((kind, dict(channels=channels, kernel=kernel, padding=padding, stride=stride,
                                      dilation=dilation, groups=groups, in_channels=c)))
            shape = (n, channels, out)
        elif kind == 'pool1d':
            if rest[0] < 2:
                continue
            layers.append((kind, dict(max=draw(st.booleans()), size=2, stride=draw(st.integers(1, 2)))))
            shape = (n, c, (rest[0] - 2) // layers[-1][1]['stride'] + 1)
        elif kind == 'transpose':
            layers.append((kind, {}))
            shape = (n, rest[0], c)
        elif kind == 'rnn':
            mode = draw(st.sampled_from(['lstm', 'gru', 'rnn_tanh']))
            hidden = draw(st.integers(1, 5))
            bidirectional = draw(st.booleans())
            num_layers = draw(st.integers(1, 2))
            layers.append((kind, dict(mode=mode, hidden=hidden, bidirectional=bidirectional, num_layers=num_layers,
                                      input_size=rest[0], batch=n)))
            shape = (n, c, hidden * (2 if bidirectional else 1))            # NTC: C is time
        elif kind == 'flatten':
            layers.append((kind, {}))
            shape = (n, c * rest[0])
        elif kind == 'split_features':
            f = shape[1]
            divisors = [d for d in range(1, f + 1) if f % d == 0]
            d = draw(st.sampled_from(divisors))
            layers.append((kind, dict(channels=d)))
            shape = (n, d, f // d)
        elif kind == 'layernorm':
            layers.append((kind, dict(in_channels=shape[-1])))
        elif kind == 'batchnorm':
            layers.append((kind, dict(in_channels=shape[1])))
    return input_shape, layers or [('scalar', dict(mul=2.0, add=0.0))]
