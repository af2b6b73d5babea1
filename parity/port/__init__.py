"""Port a Gluon HybridBlock, with its weights, to PyTorch, Keras or JAX/Flax, and prove it.

``trace`` reads the block's hybridized symbol graph and parameters (``graph.py``); each target
rebuilds it operator by operator from the converters in the registry (``registry.py``);
``compare`` runs the block and its port on the same inputs and reports outputs, gradients and
one SGD step, output by output; with ``mapping=`` it compares a twin written by hand (a torch
module or a Keras model, ``twins/``), and ``propose_mapping`` suggests that mapping.
Nothing here imports a framework until a target is used.
"""
from .compare import compare
from .graph import Graph, PortError, trace
from .registry import UnsupportedOperator, converter, lookup, supported
from .twins import compare_twin, load_twin, propose_mapping

__all__ = ['Graph', 'PortError', 'trace', 'UnsupportedOperator', 'converter', 'lookup', 'supported',
           'to_torch', 'to_keras', 'to_flax', 'to_onnx', 'compare', 'compare_twin', 'propose_mapping',
           'load_twin']


def to_torch(block, *example_inputs):
    """``block`` as a ``torch.nn.Module`` with its weights (see ``parity/port/torch.py``)."""
    from .torch import to_torch
    return to_torch(block, *example_inputs)


def to_keras(block, *example_inputs):
    """``block`` as a Keras model with its weights (see ``parity/port/keras.py``)."""
    from .keras import to_keras
    return to_keras(block, *example_inputs)


def to_flax(block, *example_inputs):
    """``block`` as a pure JAX function and its params pytree (see ``parity/port/flax.py``)."""
    from .flax import to_flax
    return to_flax(block, *example_inputs)


def to_onnx(block, *example_inputs, opset=18, batch_axes=None, dynamic_axes=None):
    """``block`` as a checked ``onnx.ModelProto``, weights as initializers (see ``parity/port/onnx.py``)."""
    from .onnx import to_onnx
    return to_onnx(block, *example_inputs, opset=opset, batch_axes=batch_axes, dynamic_axes=dynamic_axes)
