"""Shared by the RNN cases: sizes and weights in the d2l chapter's layout (not a case itself)."""
import math

VOCAB, HIDDENS = 28, 16
NAMES = ('W_xh', 'W_hh', 'b_h', 'W_hq', 'b_q')


def scratch_weights(rng, scale=1.0):
    """``W_xh, W_hh, b_h, W_hq, b_q`` large enough that tanh is far from linear and the logits far
    from ties; ``W_hh`` is scaled by 1/sqrt(hiddens), so errors neither vanish nor explode over
    35 steps. ``scale=0.02`` gives the d2l chapter's initial scale (0.01) for training runs."""
    return {'W_xh': rng.normal(size=(VOCAB, HIDDENS)) * 0.5 * scale,
            'W_hh': rng.normal(size=(HIDDENS, HIDDENS)) / math.sqrt(HIDDENS) * scale,
            'b_h': rng.normal(size=HIDDENS) * 0.1 * scale,
            'W_hq': rng.normal(size=(HIDDENS, VOCAB)) * 0.5 * scale,
            'b_q': rng.normal(size=VOCAB) * 0.1 * scale}


def tokens(rng, *shape):
    """Random token ids of ``shape`` in ``[0, VOCAB)``, as int32 (MXNet's index type)."""
    return rng.integers(0, VOCAB, size=shape).astype('int32')


def ordered(weights):
    """The weights as the d2l chapter's params list ``[W_xh, W_hh, b_h, W_hq, b_q]``."""
    return [weights[name] for name in NAMES]


EMBED = 8
EMBEDDED_NAMES = NAMES + ('E',)


def embedded_weights(rng):
    """The scratch weights with a learned embedding ``E (vocab, EMBED)`` last and ``W_xh`` reading
    ``EMBED`` features; ``E`` has unit-scale entries, so the lookup matters."""
    weights = scratch_weights(rng)
    weights['W_xh'] = rng.normal(size=(EMBED, HIDDENS)) * 0.5
    weights['E'] = rng.normal(size=(VOCAB, EMBED))
    return weights


def embedded_ordered(weights):
    """The weights in ``RNNModelScratch(embedding=EMBED).params`` order (``E`` last)."""
    return [weights[name] for name in EMBEDDED_NAMES]
