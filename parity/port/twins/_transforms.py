"""The named invertible transforms that turn a Gluon array into a twin's, and back.

Each is a :class:`Transform`: ``to_twin`` (Gluon's layout to the twin's) and ``to_gluon`` (gradients
and stepped values back); it prints as the code that makes it.
"""
import numpy


class Transform:
    """One step from Gluon's arrays to the twin's: ``to_twin(arrays)`` and its inverse
    ``to_gluon(arrays, like)`` (``like``: the arrays ``to_twin`` was given). Lists in, lists out."""
    #: whether ``to_gluon`` of values is exact (``False`` for a sum: its terms cannot be recovered)
    exact = True
    code = '?'

    def to_twin(self, arrays):
        raise NotImplementedError

    def to_gluon(self, arrays, like):
        raise NotImplementedError

    def resolve(self, framework):
        """This transform with the defaults of the twin's ``framework`` filled in."""
        return self

    def __repr__(self):
        return self.code


class _Each(Transform):
    """A permutation of each array's entries (so gradients map back as values do)."""

    def __init__(self, code, forward, backward):
        self.code, self.forward, self.backward = code, forward, backward

    def to_twin(self, arrays):
        return [self.forward(a) for a in arrays]

    def to_gluon(self, arrays, like):
        return [self.backward(a) for a in arrays]


def _transpose(a):
    if a.ndim != 2:
        raise ValueError(f'transpose takes a matrix, got shape {a.shape}')
    return a.T


#: a Dense weight: Gluon (out, in) <-> Keras kernel / ``x @ W`` (in, out)
transpose = _Each('transpose', _transpose, _transpose)


def _hwio(a):
    if a.ndim < 3:
        raise ValueError(f'hwio takes a convolution kernel (out, in, k...), got shape {a.shape}')
    return numpy.transpose(a, tuple(range(2, a.ndim)) + (1, 0))


def _oihw(a):
    n = a.ndim
    return numpy.transpose(a, (n - 1, n - 2) + tuple(range(n - 2)))


#: a convolution kernel: Gluon (out, in/groups, k...) <-> Keras (k..., in/groups, out)
hwio = _Each('hwio', _hwio, _oihw)


def permute(*axes):
    """The axes of the Gluon array in the twin's order (``numpy.transpose(array, axes)``)."""
    axes = tuple(int(a) for a in axes)
    if sorted(axes) != list(range(len(axes))):
        raise ValueError(f'permute{axes}: not a permutation of 0..{len(axes) - 1}')
    inverse = tuple(int(i) for i in numpy.argsort(axes))

    def forward(a):
        if a.ndim != len(axes):
            raise ValueError(f'permute{axes} takes {len(axes)} axes, got shape {a.shape}')
        return numpy.transpose(a, axes)
    return _Each(f'permute{axes}' if len(axes) != 1 else f'permute({axes[0]})', forward,
                 lambda a: numpy.transpose(a, inverse))


#: Gluon's gate letters per RNN kind (PyTorch calls the LSTM's ``c`` ``g``, Keras the GRU's ``n`` ``h``)
GATES = {'lstm': 'ifco', 'gru': 'rzn'}
ALIASES = {'g': 'c', 'h': 'n'}
#: each framework's own gate order, in Gluon's letters
NATIVE_GATES = {'torch': {'lstm': 'ifco', 'gru': 'rzn'}, 'keras': {'lstm': 'ifco', 'gru': 'zrn'}}


class _Gates(Transform):
    def __init__(self, kind, order):
        self.kind, self.order = kind, order
        self.code = f'gates({kind!r})' if order is None else f'gates({kind!r}, {order!r})'

    def resolve(self, framework):
        if self.order is not None:
            return self
        return _Gates(self.kind, NATIVE_GATES[framework][self.kind])

    def _perm(self):
        if self.order is None:
            raise ValueError(f'{self.code}: the gate order is only known once the twin is')
        gluon = GATES[self.kind]
        return [gluon.index(letter) for letter in self.order]

    def to_twin(self, arrays):
        perm = self._perm()
        return [numpy.concatenate([numpy.split(a, len(perm), axis=0)[i] for i in perm], axis=0) for a in arrays]

    def to_gluon(self, arrays, like):
        back = list(numpy.argsort(self._perm()))
        return [numpy.concatenate([numpy.split(a, len(back), axis=0)[i] for i in back], axis=0) for a in arrays]


def gates(kind, order=None):
    """An RNN weight's or bias's gate blocks (stacked along Gluon's first axis) in the twin's order.

    ``kind`` is ``'lstm'`` (Gluon's gates ``i, f, c, o``) or ``'gru'`` (``r, z, n``); ``order`` is the
    twin's order in those letters (``g`` and ``h`` accepted for ``c`` and ``n``), by default the twin
    framework's own: PyTorch ``'ifco'``/``'rzn'`` (Gluon's), Keras ``'ifco'``/``'zrn'``. Put it
    before :data:`transpose` (it reorders the first axis of Gluon's layout).
    """
    if kind not in GATES:
        raise ValueError(f'gates({kind!r}): kind is one of {sorted(GATES)}')
    if order is not None:
        order = ''.join(ALIASES.get(c, c) for c in order.lower())
        if sorted(order) != sorted(GATES[kind]):
            raise ValueError(f'gates({kind!r}, {order!r}): the order names each of {GATES[kind]!r} once')
    return _Gates(kind, order)


class _Merge(Transform):
    code = 'merge'
    exact = False

    def to_twin(self, arrays):
        return [sum(arrays[1:], arrays[0])]

    def to_gluon(self, arrays, like):
        return [arrays[0]] * len(like)  # d(sum)/d(term) = 1: each term gets the sum's gradient


#: several Gluon arrays as their sum (Gluon's ``i2h`` + ``h2h`` biases as Keras LSTM's one bias)
merge = _Merge()


class _Join(Transform):
    def __init__(self, code, axis, stacked):
        self.code, self.axis, self.stacked = code, axis, stacked

    def to_twin(self, arrays):
        return [(numpy.stack if self.stacked else numpy.concatenate)(arrays, axis=self.axis)]

    def to_gluon(self, arrays, like):
        if self.stacked:
            return [numpy.take(arrays[0], i, axis=self.axis) for i in range(len(like))]
        bounds = numpy.cumsum([a.shape[self.axis] for a in like])[:-1]
        return numpy.split(arrays[0], bounds, axis=self.axis)


#: several Gluon arrays stacked on a new first axis (Gluon's two GRU biases as Keras's ``(2, 3H)``)
stack = _Join('stack', 0, True)


def concat(axis=0):
    """Several Gluon arrays joined along ``axis`` (torch ``MultiheadAttention``'s ``in_proj_weight``)."""
    return _Join(f'concat({axis})' if axis else 'concat()', axis, False)


class _Split(Transform):
    def __init__(self, sections, axis):
        self.sections, self.axis = sections, axis
        self.code = f'split({sections}, axis={axis})' if axis else f'split({sections})'

    def to_twin(self, arrays):
        if len(arrays) != 1:
            raise ValueError(f'{self.code} takes one Gluon array, got {len(arrays)}')
        return list(numpy.split(arrays[0], self.sections, axis=self.axis))

    def to_gluon(self, arrays, like):
        return [numpy.concatenate(arrays, axis=self.axis)]


def split(sections, axis=0):
    """One Gluon array as ``sections`` equal twin arrays along ``axis`` (Gluon's fused ``i2h_weight``
    as one twin weight per gate)."""
    return _Split(int(sections), int(axis))
