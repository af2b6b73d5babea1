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

The modules: ``_transforms`` (the named transforms), ``_gluon`` (the block's parameters),
``_sides`` (the torch and Keras twins behind one interface), ``_mapping`` (entries, :class:`Mapping`,
the check of a mapping), ``_compare`` (loading, comparing, the diagnosis), ``_propose``.
"""
from ._compare import compare_twin, load_twin
from ._gluon import gluon_parameters
from ._mapping import Mapping
from ._propose import propose_mapping
from ._transforms import concat, gates, hwio, merge, permute, split, stack, transpose

__all__ = ['compare_twin', 'propose_mapping', 'load_twin', 'Mapping', 'transpose', 'hwio', 'permute', 'gates',
           'merge', 'stack', 'concat', 'split', 'gluon_parameters']
