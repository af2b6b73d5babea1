"""Compare a Gluon block with a twin written by hand: a ``torch.nn.Module`` or a Keras model.

A port from ``to_torch``/``to_keras`` holds its weights under the Gluon names; a twin has its own
names and layouts, so :func:`compare_twin` (also ``compare(block, twin, *inputs, mapping=...)``)
takes a *mapping*: for each Gluon parameter, the twin parameter it becomes and the transforms, from
a small named set, that turn Gluon's array into the twin's::

    mapping = {
        '0.weight': 'conv.weight',                                  # same layout
        '3.weight': ('fc.weight', transpose),                       # Dense: (out, in) -> (in, out)
        'lstm.l0_i2h_weight': ('lstm/lstm_cell/kernel', gates('lstm'), transpose),
        ('lstm.l0_i2h_bias', 'lstm.l0_h2h_bias'): ('lstm/lstm_cell/bias', gates('lstm'), merge),
    }

Keys are Gluon parameters by structural name (the attribute path: ``0.weight``, ``lstm.l0_i2h_weight``;
MXNet's own ``_collect_params_with_prefix()`` names such as ``lstm._unfused.0.i2h_weight`` and the
``collect_params()`` names such as ``dense0_weight`` are accepted too), or a tuple of them for a
transform that joins several. Values are a twin parameter (a torch ``named_parameters()``/
``named_buffers()`` name; a Keras variable ``path``, or its unique tail such as ``fc/kernel``), or a
tuple ``(twin name or tuple of names, *transforms)``; the transforms apply left to right, from
Gluon's array to the twin's. Every transform is invertible, so the twin's gradients and stepped
weights come back to the Gluon names and layout and the rows are those of :func:`compare`:
outputs, input and parameter gradients, auxiliary states (BatchNorm's running statistics), and
every parameter after one SGD step taken by the twin's own optimizer.

The transforms: :data:`transpose` (Dense), :data:`hwio` (a convolution kernel ``(out, in, k...)``
-> Keras's ``(k..., in, out)``), :func:`permute`, :func:`gates` (an RNN's gate blocks in the twin's
order), :data:`merge` (several Gluon arrays summed into one: Gluon's two RNN biases as Keras's one;
SGD on a sum is not SGD on its terms, so those parameters are not compared after the step),
:data:`stack` (Gluon's two GRU biases as Keras's ``(2, 3H)`` bias), :func:`concat` (several Gluon
arrays in one twin array, such as torch ``MultiheadAttention``'s ``in_proj_weight``) and
:func:`split` (one Gluon array as several twin arrays).

:func:`propose_mapping` suggests a mapping from the two models' structure, parameter order and
shapes; ``print(propose_mapping(block, twin).code())`` writes it as Python to paste and edit. A
mapping that leaves a Gluon parameter or a twin parameter out, uses a twin parameter twice, or
whose transforms do not give the twin's shape is a ``ValueError`` naming the parameters.

When the outputs differ, :func:`compare_twin` looks for the cause: it tries, one mapping entry (or
one RNN layer's gate order) at a time, the other transforms of the set that fit the shapes, and names
the parameters whose changed transform makes the outputs agree (an untransposed Dense weight, gates
out of order) in the comparison's notes.
"""
import dataclasses
import itertools
import re
import types

import numpy

from . import graph as G
from .compare import Comparison, _gluon_run, assemble, cotangent, flat_inputs, row, tolerances

__all__ = ['compare_twin', 'propose_mapping', 'load_twin', 'Mapping', 'transpose', 'hwio', 'permute', 'gates',
           'merge', 'stack', 'concat', 'split', 'gluon_parameters']

# --- transforms ----------------------------------------------------------------------------------


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


# --- mappings ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Entry:
    """Gluon parameters (structural names) -> twin parameters, through ``transforms``."""
    gluon: tuple
    twin: tuple
    transforms: tuple

    @property
    def exact(self):
        return all(t.exact for t in self.transforms)

    def to_twin(self, arrays):
        for t in self.transforms:
            arrays = t.to_twin(list(arrays))
        return list(arrays)

    def to_gluon(self, arrays, gluon_arrays):
        likes = [list(gluon_arrays)]
        for t in self.transforms[:-1]:
            likes.append(t.to_twin(likes[-1]))
        arrays = list(arrays)
        for t, like in zip(reversed(self.transforms), reversed(likes)):
            arrays = t.to_gluon(arrays, like)
        return list(arrays)

    def code(self):
        key = repr(self.gluon[0]) if len(self.gluon) == 1 else '(' + ', '.join(map(repr, self.gluon)) + ')'
        target = repr(self.twin[0]) if len(self.twin) == 1 else '(' + ', '.join(map(repr, self.twin)) + ')'
        value = target if not self.transforms else f'({target}, ' + ', '.join(map(repr, self.transforms)) + ')'
        return f'{key}: {value},'


class Mapping(dict):
    """A mapping (a ``dict`` as :mod:`parity.port.twins` describes) that prints itself as Python:
    ``print(mapping.code())``. :func:`propose_mapping` returns one; notes say what was guessed."""

    def __init__(self, *args, notes=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.notes = list(notes)

    def code(self, name='mapping'):
        """The mapping as Python code: paste it into a test and edit it."""
        entries = [_entry(k, v) for k, v in self.items()]
        used = sorted({type(t).__name__ for e in entries for t in e.transforms})
        names = sorted({t.code.split('(')[0] for e in entries for t in e.transforms})
        lines = [f'from parity.port.twins import {", ".join(names)}', ''] if used else []
        lines += [f'# {n}' for n in self.notes]
        lines.append(f'{name} = {{')
        lines += [f'    {e.code()}' for e in entries]
        lines.append('}')
        return '\n'.join(lines)

    def __str__(self):
        return self.code()


def _entry(key, value):
    gluon = tuple(key) if isinstance(key, (tuple, list)) else (key,)
    if isinstance(value, (tuple, list)):
        if not value:
            raise ValueError(f'mapping: {key!r} maps to an empty tuple')
        target, transforms = value[0], tuple(value[1:])
    else:
        target, transforms = value, ()
    twin = tuple(target) if isinstance(target, (tuple, list)) else (target,)
    bad = [t for t in transforms if not isinstance(t, Transform)]
    if bad or not all(isinstance(n, str) for n in gluon + twin):
        raise ValueError(f'mapping: {key!r}: {value!r} is not (twin name, *transforms) with transforms from '
                         f'parity.port.twins (transpose, hwio, permute, gates, merge, stack, concat, split)')
    return Entry(gluon, twin, transforms)


# --- the Gluon side ------------------------------------------------------------------------------


def gluon_parameters(block):
    """``{structural name: Parameter}`` in registration order: ``0.weight``, ``lstm.l0_i2h_weight``
    (a parameter shared by several blocks appears once, under its first name)."""
    out, seen = {}, set()

    def walk(b, prefix):
        for key, param in b._reg_params.items():
            if id(param) not in seen:
                seen.add(id(param))
                out[prefix + key] = param
        for name, child in b._children.items():
            walk(child, f'{prefix}{name}.')
    walk(block, '')
    return out


def _aliases(block, params):
    """Other names of the parameters -> structural name (``_collect_params_with_prefix``, ``collect_params``)."""
    by_id = {id(p): name for name, p in params.items()}
    aliases = {}
    for name, p in block._collect_params_with_prefix().items():
        aliases.setdefault(name, by_id.get(id(p)))
    for name, p in block.collect_params().items():
        aliases.setdefault(name, by_id.get(id(p)))
    return {k: v for k, v in aliases.items() if v is not None}


def _owner(block, name):
    """The Gluon block that holds structural parameter ``name``."""
    owner = block
    for part in name.split('.')[:-1]:
        owner = owner._children[part]
    return owner


def _gluon_kind(block, name):
    from mxnet.gluon import nn
    from mxnet.gluon.nn.conv_layers import _Conv
    from mxnet.gluon.rnn import rnn_layer
    owner = _owner(block, name)
    if isinstance(owner, rnn_layer._RNNLayer):
        return 'rnn', owner._mode
    for cls, kind in ((nn.Dense, 'dense'), (nn.Embedding, 'embedding'), (_Conv, 'conv')):
        if isinstance(owner, cls):
            return kind, None
    return 'other', None


def _ready(block, numpy_mode, inputs):
    """Run the block once if a parameter still waits for its shape (deferred initialization)."""
    from mxnet.gluon.parameter import DeferredInitializationError
    try:
        for p in block.collect_params().values():
            p.data()
    except DeferredInitializationError:
        if not inputs:
            raise ValueError('the block has parameters without a shape yet: pass example inputs') from None
        with G.mode(numpy_mode):
            flat, fmt = G.flatten(list(inputs))
            block(*G.regroup([G.to_mxnet(a, numpy_mode) for a in flat], fmt))


def _numpy_mode(block):
    import mxnet as mx
    for p in block.collect_params().values():
        try:
            return isinstance(p.data(), mx.np.ndarray)
        except Exception:  # deferred: the current mode
            break
    return bool(mx.util.is_np_array())


# --- the twin side -------------------------------------------------------------------------------


def _framework(twin):
    for cls in type(twin).__mro__:
        module = cls.__module__ or ''
        if module.startswith('torch'):
            return 'torch'
        if module.startswith(('keras', 'tf_keras', 'tensorflow')):
            return 'keras'
    raise TypeError(f'the twin is a {type(twin).__name__}: a torch.nn.Module or a Keras model is expected')


class _TorchTwin:
    framework = 'torch'

    def __init__(self, module):
        import torch
        self.torch, self.module = torch, module
        self.params = dict(module.named_parameters())
        self.buffers = {n: b for n, b in module.named_buffers() if b.is_floating_point()}

    def variables(self):
        """``[(name, shape, dtype, trainable)]`` in the twin's order: parameters, then float buffers."""
        return ([(n, tuple(p.shape), str(p.dtype).replace('torch.', ''), p.requires_grad)
                 for n, p in self.params.items()] +
                [(n, tuple(b.shape), str(b.dtype).replace('torch.', ''), False) for n, b in self.buffers.items()])

    def lookup(self, name):
        return name if name in self.params or name in self.buffers else None

    def get(self, name):
        return (self.params.get(name) if name in self.params else self.buffers[name]).detach().cpu().numpy().copy()

    def set(self, name, array):
        with self.torch.no_grad():
            (self.params.get(name) if name in self.params else self.buffers[name]).copy_(self.torch.from_numpy(
                numpy.ascontiguousarray(array)))

    def save(self):
        return {k: v.detach().clone() for k, v in self.module.state_dict(keep_vars=True).items()}, self.module.training

    def restore(self, saved):
        state, training = saved
        self.module.load_state_dict(state)
        self.module.train(training)

    def _call(self, xs, fmt, training):
        self.module.train(training)
        outs, _ = G.flatten(self.module(*G.regroup(xs, fmt)))
        return outs

    def forward(self, inputs, fmt, training):
        with self.torch.no_grad():
            return [o.detach().numpy() for o in self._call([self._tensor(a) for a in inputs], fmt, training)]

    def _tensor(self, a):
        return self.torch.from_numpy(numpy.ascontiguousarray(a))

    def run(self, inputs, fmt, cotangents, training, lr):
        """Forward, backward, buffers, one ``torch.optim.SGD`` step: ``{kind: ...}`` keyed by twin names."""
        torch = self.torch
        xs = [self._tensor(a) for a in inputs]
        for x in xs:
            if x.is_floating_point():
                x.requires_grad_(True)
        self.module.zero_grad(set_to_none=True)
        outs = self._call(xs, fmt, training)
        total = sum((o * self._tensor(cotangents(k, tuple(o.shape), str(o.dtype).replace('torch.', '')))).sum()
                    for k, o in enumerate(outs))
        total.backward()
        result = {'output': [o.detach().numpy() for o in outs],
                  'input grad': {i: x.grad.numpy() for i, x in enumerate(xs) if x.grad is not None},
                  'grad': {n: p.grad.detach().numpy().copy() for n, p in self.params.items() if p.grad is not None},
                  'aux': {n: b.detach().numpy().copy() for n, b in self.buffers.items()}}
        trainable = [p for p in self.params.values() if p.requires_grad]
        if trainable:
            torch.optim.SGD(trainable, lr=lr).step()
        result['after step'] = {n: p.detach().numpy().copy() for n, p in self.params.items()}
        self.module.zero_grad(set_to_none=True)
        return result


class _KerasTwin:
    framework = 'keras'

    def __init__(self, model):
        from . import keras as K  # imports MXNet before TensorFlow
        self.tf, self.keras, self.model = K.tf, K.keras, model
        if not model.built or not model.weights:
            raise ValueError('the Keras twin has no weights yet: build it (call it once on an example input)')
        self.vars = {v.path: v for v in model.weights if self.tf.as_dtype(v.dtype).is_floating}

    def variables(self):
        return [(p, tuple(v.shape), self.tf.as_dtype(v.dtype).name, bool(v.trainable)) for p, v in self.vars.items()]

    def lookup(self, name):
        if name in self.vars:
            return name
        tails = [p for p in self.vars if p.endswith('/' + name)]
        return tails[0] if len(tails) == 1 else None

    def get(self, name):
        return numpy.array(self.vars[name].numpy())

    def set(self, name, array):
        self.vars[name].assign(numpy.ascontiguousarray(array))

    def save(self):
        return [numpy.array(v.numpy()) for v in self.model.variables]

    def restore(self, saved):
        for v, value in zip(self.model.variables, saved):
            v.assign(value)

    def _call(self, xs, fmt, training):
        args = G.regroup(xs, fmt)
        functional = isinstance(getattr(self.model, 'inputs', None), (list, tuple)) and len(self.model.inputs) > 1
        if functional and len(args) > 1:
            args = (list(args),)
        outs, _ = G.flatten(self.model(*args, training=training))
        return outs

    def forward(self, inputs, fmt, training):
        return [numpy.asarray(o) for o in self._call([self.tf.constant(a) for a in inputs], fmt, training)]

    def run(self, inputs, fmt, cotangents, training, lr):
        """Forward, backward, non-trainable variables, one ``keras.optimizers.SGD`` step, by variable path."""
        tf = self.tf
        xs = [tf.constant(a) for a in inputs]
        floating = [i for i, a in enumerate(inputs) if a.dtype.kind == 'f']
        trainable = [v for v in self.model.trainable_variables if v.path in self.vars]
        with tf.GradientTape() as tape:
            for i in floating:
                tape.watch(xs[i])
            outs = self._call(xs, fmt, training)
            total = tf.add_n([tf.reduce_sum(o * cotangents(k, tuple(o.shape), o.dtype.name))
                              for k, o in enumerate(outs)])
        grads = [None if g is None else tf.convert_to_tensor(g)  # Embedding's gradient is IndexedSlices
                 for g in tape.gradient(total, [xs[i] for i in floating] + trainable)]
        in_grads, var_grads = grads[:len(floating)], grads[len(floating):]
        result = {'output': [numpy.asarray(o) for o in outs],
                  'input grad': {i: g.numpy() for i, g in zip(floating, in_grads) if g is not None},
                  'grad': {v.path: g.numpy() for v, g in zip(trainable, var_grads) if g is not None},
                  'aux': {p: numpy.array(v.numpy()) for p, v in self.vars.items() if not v.trainable}}
        pairs = [(g, v) for g, v in zip(var_grads, trainable) if g is not None]
        if pairs:
            self.keras.optimizers.SGD(learning_rate=lr).apply_gradients(pairs)
        result['after step'] = {v.path: numpy.array(v.numpy()) for v in trainable}
        return result


def _twin_side(twin):
    return (_TorchTwin if _framework(twin) == 'torch' else _KerasTwin)(twin)


# --- checking a mapping --------------------------------------------------------------------------


def _resolve(mapping, block, side, params):
    """The mapping as checked :class:`Entry` objects with structural Gluon names and the twin's full names."""
    if not isinstance(mapping, dict):
        raise TypeError(f'mapping must be a dict (see parity.port.twins), got {type(mapping).__name__}')
    aliases = _aliases(block, params)
    entries, problems = [], []
    for key, value in mapping.items():
        entry = _entry(key, value)
        gluon = []
        for name in entry.gluon:
            found = name if name in params else aliases.get(name)
            if found is None:
                problems.append(f'{name!r} is not a parameter of the block (its parameters: '
                                f'{", ".join(list(params)[:12])}{", ..." if len(params) > 12 else ""})')
            gluon.append(found or name)
        twin = []
        for name in entry.twin:
            found = side.lookup(name)
            if found is None:
                problems.append(f'{"/".join(entry.gluon)} -> {name!r}: the twin has no parameter {name!r}')
            twin.append(found or name)
        entries.append(Entry(tuple(gluon), tuple(twin), tuple(t.resolve(side.framework) for t in entry.transforms)))
    if problems:
        raise ValueError('mapping: ' + '; '.join(problems))
    sources, targets = {}, {}
    for e in entries:
        for n in e.gluon:
            sources.setdefault(n, []).append(e)
        for n in e.twin:
            targets.setdefault(n, []).append(e)
    twice = [f'{n!r} (from {" and ".join("+".join(e.gluon) for e in es)})' for n, es in targets.items() if len(es) > 1]
    if twice:
        problems.append(f'twin parameters used twice: {", ".join(twice)} (several Gluon parameters in one twin '
                        f'parameter are one entry with a tuple key and merge, stack or concat)')
    twice = [n for n, es in sources.items() if len(es) > 1]
    if twice:
        problems.append(f'Gluon parameters mapped twice: {", ".join(twice)}')
    unmapped = [n for n in params if n not in sources]
    if unmapped:
        problems.append(f'Gluon parameters without a target in the twin: {", ".join(unmapped)}')
    variables = {name: (shape, dtype, trainable) for name, shape, dtype, trainable in side.variables()}
    left = [n for n in variables if n not in targets]
    if left:
        problems.append(f'twin parameters without a Gluon source: {", ".join(left)}')
    for e in entries:
        try:
            shapes = [a.shape for a in e.to_twin([numpy.zeros(params[n].shape) for n in e.gluon])]
        except ValueError as err:
            problems.append(f'{"+".join(e.gluon)} -> {"+".join(e.twin)}: {err}')
            continue
        want = [variables[n][0] for n in e.twin]
        if len(shapes) != len(want) or any(tuple(s) != tuple(w) for s, w in zip(shapes, want)):
            have = ', '.join(str(tuple(params[n].shape)) for n in e.gluon)
            problems.append(f'{"+".join(e.gluon)} {have} -> {"+".join(e.twin)} {", ".join(map(str, want))}: '
                            f'{", ".join(map(repr, e.transforms)) or "no transform"} gives '
                            f'{", ".join(str(tuple(s)) for s in shapes)}')
        aux = {params[n].grad_req == 'null' for n in e.gluon}
        if aux == {True} and any(variables[n][2] for n in e.twin):
            problems.append(f'{"+".join(e.gluon)} is an auxiliary state (no gradient) but twin '
                            f'{"+".join(e.twin)} is trainable')
    if problems:
        raise ValueError('mapping: ' + '; '.join(problems))
    return entries


def _load(entries, side, arrays):
    for e in entries:
        for name, value in zip(e.twin, e.to_twin([arrays[n] for n in e.gluon])):
            side.set(name, value)


def load_twin(block, twin, mapping):
    """Load ``block``'s weights into ``twin`` through ``mapping`` (checked as :func:`compare_twin` does)."""
    params = gluon_parameters(block)
    side = _twin_side(twin)
    entries = _resolve(mapping, block, side, params)
    _load(entries, side, {n: p.data().asnumpy() for n, p in params.items()})
    return twin


# --- comparing -----------------------------------------------------------------------------------


def _io(transforms, count, what):
    if transforms is None:
        return [None] * count
    transforms = list(transforms)
    if len(transforms) != count:
        raise ValueError(f'{what}: {len(transforms)} transforms for {count} arrays (None leaves one as it is)')
    for t in transforms:
        if t is not None and not isinstance(t, _Each):
            raise ValueError(f'{what}: {t!r} is not a permutation (transpose, hwio, permute, gates)')
    return transforms


def _apply(t, a):
    return a if t is None else t.to_twin([a])[0]


def _unapply(t, a):
    return a if t is None else t.to_gluon([a], None)[0]


def compare_twin(block, twin, *inputs, mapping, dtype=None, rtol=None, atol=None, training=False, lr=0.1, seed=0,
                 gradients=True, check_step=True, twin_inputs=None, twin_outputs=None, diagnose=True):
    """Compare Gluon ``block`` with ``twin`` (a ``torch.nn.Module`` or a built Keras model written by
    hand) on ``inputs`` (NumPy arrays, nested like the block's arguments), after loading the block's
    weights into the twin through ``mapping`` (see :mod:`parity.port.twins`).

    The twin is called with the same arguments, nested the same way (a Keras functional model with
    several inputs gets them as a list; ``training=`` goes to Keras, ``train()``/``eval()`` to torch).
    ``twin_inputs``/``twin_outputs``: per flat input/output, a permutation (``permute(0, 2, 3, 1)`` for a
    channels-last Keras twin) from Gluon's layout to the twin's, or ``None``. The other arguments are
    :func:`parity.port.compare`'s. The twin's weights are restored afterwards, the block's too.
    Rows are named by the Gluon parameters, with the twin's parameter as the layer. When outputs
    differ and ``diagnose``, the notes name the parameters whose transform, changed, makes them agree.
    Returns a :class:`~parity.port.compare.Comparison`.
    """
    side = _twin_side(twin)
    numpy_mode = _numpy_mode(block)
    _ready(block, numpy_mode, inputs)
    params = gluon_parameters(block)
    if dtype is None:
        floats = [p.data().dtype for p in params.values() if numpy.dtype(p.data().dtype).kind == 'f']
        dtype = str(numpy.dtype(floats[0])) if floats else 'float32'
    dtype, rtol, atol = tolerances(dtype, rtol, atol)
    entries = _resolve(mapping, block, side, params)
    wrong = [f'{name} ({dt})' for name, _, dt, _ in side.variables() if dt != dtype]
    if wrong:
        raise ValueError(f'the twin runs in another dtype than {dtype}: {", ".join(wrong[:6])} '
                         f'(torch: module.to(torch.{dtype}); Keras: layers built with dtype={dtype!r})')
    lr = float(numpy.float32(lr))  # MXNet's sgd_update keeps the learning rate as a C float
    flat, fmt = G.flatten(list(inputs))
    flat = flat_inputs(flat, dtype)
    in_t = _io(twin_inputs, len(flat), 'twin_inputs')
    full = {p.name: name for name, p in params.items()}
    names = [f'input {i}' for i in range(len(flat))]
    gluon_side = types.SimpleNamespace(
        numpy_mode=numpy_mode, in_format=fmt, inputs=names,
        trainable=[p.name for p in params.values() if p.grad_req != 'null'],
        aux=[p.name for p in params.values() if p.grad_req == 'null'])
    run = _gluon_run(block, gluon_side, flat, dtype, training, lr, seed)
    expected = {'output': run['output'], 'input grad': run['input grad']}
    for kind in ('grad', 'aux', 'after step'):
        expected[kind] = {full[n]: v for n, v in run[kind].items()}
    out_t = _io(twin_outputs, len(expected['output']), 'twin_outputs')
    arrays = {n: p.data().asnumpy() for n, p in params.items()}
    twin_flat = [_apply(t, a) for t, a in zip(in_t, flat)]

    def twin_cotangent(k, shape, dt):
        t = out_t[k] if k < len(out_t) else None
        gluon_shape = expected['output'][k].shape if k < len(out_t) else shape
        return _apply(t, cotangent(k, gluon_shape, dt, seed))

    saved = side.save()
    try:
        _load(entries, side, arrays)
        got = side.run(twin_flat, fmt, twin_cotangent, training, lr)
    finally:
        side.restore(saved)
    actual = {'output': [_unapply(out_t[k] if k < len(out_t) else None, o) for k, o in enumerate(got['output'])],
              'input grad': {names[i]: _unapply(in_t[i], g) for i, g in got['input grad'].items()},
              'grad': {}, 'aux': {}, 'after step': {}, 'not comparable': {}}
    for e in entries:
        gluon_values = [arrays[n] for n in e.gluon]
        for kind in ('grad', 'aux', 'after step'):
            if all(n in got[kind] for n in e.twin):
                actual[kind].update(zip(e.gluon, e.to_gluon([got[kind][n] for n in e.twin], gluon_values)))
        if not e.exact:
            for n in e.gluon:
                actual['not comparable'][n] = (f'{" + ".join(e.gluon)} -> {"+".join(e.twin)} through '
                                               f'{", ".join(map(repr, e.transforms))}: SGD on the sum is not '
                                               f'SGD on its terms')
    twin_of = {n: '+'.join(e.twin) for e in entries for n in e.gluon}
    kinds = (('input grad', 'grad') if gradients else ()) + ('aux',) + \
        (('after step',) if gradients and check_step else ())
    rows, skipped = assemble(expected, actual, kinds, rtol, atol, ['twin'] * len(expected['output']),
                             lambda kind, name: 'input' if kind == 'input grad' else f'twin {twin_of[name]}',
                             'the twin has no value for it (not used in its forward?)')
    result = Comparison(f'{side.framework} twin', dtype, rtol, atol, rows, skipped)
    if diagnose and any(not r.ok for r in rows if r.kind == 'output'):
        result.notes = _diagnose(entries, side, arrays, params, twin_flat, fmt, expected['output'], out_t,
                                 training, rtol, atol)
    return result


# --- finding the cause of a difference -----------------------------------------------------------


def _alternatives(entry, params, side):
    """Other transform chains of ``entry`` that give the twin's shapes: transpose toggled, a square
    kernel's other layouts."""
    variables = {name: shape for name, shape, _, _ in side.variables()}
    found = []
    base = [t for t in entry.transforms if t is not transpose]
    candidates = [tuple(base) if transpose in entry.transforms else tuple(base) + (transpose,)]
    for chain in candidates:
        trial = Entry(entry.gluon, entry.twin, chain)
        try:
            shapes = [a.shape for a in trial.to_twin([numpy.zeros(params[n].shape) for n in entry.gluon])]
        except ValueError:
            continue
        if [tuple(s) for s in shapes] == [tuple(variables[n]) for n in entry.twin]:
            found.append(trial)
    return found


def _diagnose(entries, side, arrays, params, twin_flat, fmt, expected, out_t, training, rtol, atol):
    """Try other transforms one entry (or one RNN layer's gate order) at a time; name those that fix the outputs."""
    def outputs_match(trial_entries):
        saved = side.save()
        try:
            _load(trial_entries, side, arrays)
            outs = side.forward(twin_flat, fmt, training)
        except Exception:  # a trial the twin cannot run is not the cause
            return False
        finally:
            side.restore(saved)
        outs = [_unapply(out_t[k] if k < len(out_t) else None, o) for k, o in enumerate(outs)]
        return len(outs) == len(expected) and all(row('output', '', '', a, e, rtol, atol).ok
                                                  for a, e in zip(outs, expected))

    notes = []
    for i, e in enumerate(entries):
        for alt in _alternatives(e, params, side):
            if outputs_match(entries[:i] + [alt] + entries[i + 1:]):
                notes.append(f'suspect: {"+".join(e.gluon)} -> {"+".join(e.twin)}: the outputs agree with '
                             f'({", ".join(map(repr, alt.transforms)) or "no transform"}) in place of '
                             f'({", ".join(map(repr, e.transforms)) or "no transform"})')
    layers = {}
    for i, e in enumerate(entries):
        for t in e.transforms:
            if isinstance(t, _Gates):
                layers.setdefault((re.sub(r'[lr]\d+_(i2h|h2h)_(weight|bias)$', '', e.gluon[0]), t.kind, t.order),
                                  []).append(i)
    for (layer, kind, order), members in layers.items():
        for perm in itertools.permutations(GATES[kind]):
            other = ''.join(perm)
            if other == order:
                continue
            trial = list(entries)
            for i in members:
                trial[i] = Entry(entries[i].gluon, entries[i].twin, tuple(
                    _Gates(kind, other) if isinstance(t, _Gates) else t for t in entries[i].transforms))
            if outputs_match(trial):
                notes.append(f'suspect: the gates of {", ".join(n for i in members for n in entries[i].gluon)}: '
                             f'the outputs agree with gates({kind!r}, {other!r}) in place of '
                             f'gates({kind!r}, {order!r})')
                break
    return notes or ['no single changed transform makes the outputs agree: compare the twin layer by layer']


# --- proposing a mapping -------------------------------------------------------------------------


def _expected_chains(kind, mode, local, framework):
    """The transform chains a Gluon parameter likely needs in ``framework``, most likely first."""
    if kind == 'dense' and local == 'weight':
        return [(transpose,), ()] if framework == 'keras' else [(), (transpose,)]
    if kind == 'conv' and local == 'weight':
        return [(hwio,), ()] if framework == 'keras' else [(), (hwio,)]
    if kind == 'rnn' and mode in GATES:
        if local.endswith('weight'):
            return [(gates(mode), transpose)] if framework == 'keras' else [(gates(mode),)]
        return [(gates(mode),)]
    if kind == 'rnn' and local.endswith('weight'):
        return [(transpose,)] if framework == 'keras' else [()]
    return [(), (transpose,)]


def propose_mapping(block, twin, *inputs):
    """A mapping of ``block``'s parameters to ``twin``'s, by structure, order and shape.

    The Gluon parameters (registration order) pair with the twin's (torch: parameters then float
    buffers; Keras: ``model.weights``) in order, trainable with trainable and auxiliary states with
    non-trainable ones; each pair gets the transforms its Gluon layer needs in the twin's framework
    (a Dense weight transposed for Keras, a convolution kernel to ``hwio``, an RNN's gates in the
    twin's order, Gluon's two RNN biases merged into Keras's one) if they give the twin's shape.
    ``inputs`` (optional) run the block once when its shapes are deferred. Returns a :class:`Mapping`
    (``print(m.code())``); a Gluon parameter that no twin parameter fits, or twin parameters left
    over, raise ``ValueError`` naming them.
    """
    side = _twin_side(twin)
    _ready(block, _numpy_mode(block), inputs)
    params = gluon_parameters(block)
    variables = side.variables()
    mapping, notes, problems = Mapping(), [], []
    queues = {flag: [v for v in variables if v[3] == flag] for flag in (True, False)}
    done = set()
    for name, param in params.items():
        if name in done:
            continue
        trainable = param.grad_req != 'null'
        queue = queues[trainable]
        kind, mode = _gluon_kind(block, name)
        local = name.rsplit('.', 1)[-1]
        group = (name,)
        chains = _expected_chains(kind, mode, local, side.framework)
        partner = name.replace('_i2h_bias', '_h2h_bias')
        two = len(queue) > 1 and all('bias' in re.split(r'[./]', v[0])[-1] and tuple(v[1]) == tuple(param.shape)
                                     for v in queue[:2])
        if kind == 'rnn' and local.endswith('i2h_bias') and partner in params and not two:
            # one twin bias for Gluon's two: their sum (Keras LSTM, SimpleRNN) or stacked (Keras GRU)
            group = (name, partner)
            chains = [c + (stack if mode == 'gru' else merge,) for c in chains]
        if not queue:
            which = 'trainable' if trainable else 'non-trainable'
            problems.append(f'{name} {tuple(param.shape)}: the twin has no {which} parameter left for it')
            continue
        target, shape = queue[0][0], tuple(queue[0][1])
        fit = None
        for chain in chains:
            trial = Entry(group, (target,), tuple(t.resolve(side.framework) for t in chain))
            try:
                shapes = [tuple(a.shape) for a in trial.to_twin([numpy.zeros(params[n].shape) for n in group])]
            except ValueError:
                continue
            if shapes == [shape]:
                fit = chain
                break
        if fit is None:
            problems.append(f'{name} {tuple(param.shape)}: the twin\'s next '
                            f'{"trainable" if trainable else "non-trainable"} parameter {target} {shape} fits no '
                            f'transform ({", ".join(" + ".join(map(repr, c)) or "none" for c in chains)})')
            break
        if fit != chains[0]:
            notes.append(f'{name}: only {", ".join(map(repr, fit)) or "no transform"} fits {target}; check it')
        if len(shape) == 2 and shape[0] == shape[1] and any(t in (transpose,) for c in chains for t in c):
            notes.append(f'{name} is square: {", ".join(map(repr, fit)) or "no transform"} is a guess from its '
                         f'layer type; check it')
        queue.pop(0)
        done.update(group)
        mapping[group if len(group) > 1 else name] = (target,) + fit if fit else target
    left = [v[0] for flag in (True, False) for v in queues[flag]]
    if left and not problems:
        problems.append(f'twin parameters without a Gluon source: {", ".join(left)}')
    if problems:
        raise ValueError('propose_mapping: ' + '; '.join(problems))
    mapping.notes = notes
    return mapping
