"""Propose a mapping from the two models' structure, parameter order and shapes."""
import re

import numpy

from ._gluon import _gluon_kind, _numpy_mode, _ready, gluon_parameters
from ._mapping import Entry, Mapping
from ._sides import _twin_side
from ._transforms import GATES, gates, hwio, merge, stack, transpose


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
