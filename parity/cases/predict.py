"""predict_ch8: greedy continuation of 'time traveller ' by 50 characters; the texts must be identical."""
import numpy

from parity import corpus

from ._rnn import ordered, scratch_weights

TOLERANCE = {'float64': 0.0, 'float32': 0.0}
PREFIX, NUM_PREDS = 'time traveller ', 50


def corpus_inputs():
    return {'idx_to_token': numpy.array(corpus.load_corpus_time_machine()[1].idx_to_token)}


def inputs(rng):
    return scratch_weights(rng, scale=2.0)


def mxnet(d2l, idx_to_token, **weights):
    vocab = d2l.Vocab.from_idx_to_token([str(t) for t in idx_to_token])
    return {'text': d2l.predict_ch8(PREFIX, NUM_PREDS, d2l.scratch_model(ordered(weights)), vocab, d2l.device)}


def torch(d2l, idx_to_token, **weights):
    net = d2l.scratch_model(ordered(weights))
    return {'text': d2l.predict_ch8(PREFIX, NUM_PREDS, net, corpus.vocab_from(idx_to_token), d2l.device)}


def tensorflow(d2l, idx_to_token, **weights):
    net = d2l.scratch_model(ordered(weights))
    return {'text': d2l.predict_ch8(PREFIX, NUM_PREDS, net, corpus.vocab_from(idx_to_token))}


def jax(d2l, idx_to_token, **weights):
    net = d2l.scratch_model(ordered(weights))
    return {'text': d2l.predict_ch8(PREFIX, NUM_PREDS, net, corpus.vocab_from(idx_to_token))}
