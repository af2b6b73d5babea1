"""The Gluon side of a twin comparison: the block's parameters by structural name, their other
names, the kind of layer that holds each, and a block with deferred shapes run once."""
from .. import graph as G


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
