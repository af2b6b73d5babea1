"""The d2l API inside legacy ``mx.nd`` programs, and the same code in NumPy mode giving the same numbers.

The test session is in NumPy mode (conftest), so each mode runs in a fresh interpreter: the script
below trains models written in the legacy Gluon style (``hybrid_forward(self, F, ...)`` with
``F.one_hot``, a plain ``nn`` CNN fed ``nd`` arrays) with the library's functions, then their
NumPy-mode twins, from the same weights (an initializer drawing from one NumPy ``RandomState``).
"""
import json
import os
import subprocess
import sys

import mxnet as mx
import numpy as onp
import pytest
from mxnet import autograd, np

import gluon_d2l as d2l
from gluon_d2l.modes import as_nd, as_np

from conftest import REPO

SCRIPT = r'''
import hashlib, json, random, sys
import numpy as onp
import mxnet as mx
from mxnet import autograd, gluon, nd, npx
from mxnet.gluon import nn, rnn
LEGACY = sys.argv[1] == 'legacy'
if not LEGACY:
    npx.set_np()
import gluon_d2l as d2l
from mxnet import np
A = nd if LEGACY else np
mode = [mx.util.is_np_array(), mx.util.is_np_shape()]
out = {'types': {}, 'same': {}}


def kind(x):
    return type(x).__module__


def digest(x):
    return hashlib.sha1(x.asnumpy().tobytes()).hexdigest()


class Seeded(mx.init.Initializer):
    def __init__(self, rng):
        super().__init__()
        self.rng = rng

    def _init_weight(self, name, arr):
        arr[:] = self.rng.normal(0, 0.1, arr.shape).astype(arr.dtype)


def seeded(net, seed):
    rng = onp.random.RandomState(seed)
    for p in net.collect_params().values():
        p.init = Seeded(rng)
    return net


class LegacyLM(gluon.HybridBlock):
    def __init__(self, vocab_size, num_hiddens, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        with self.name_scope():
            self.rnn = rnn.RNN(num_hiddens)
            self.dense = nn.Dense(vocab_size, flatten=False)

    def hybrid_forward(self, F, X, state):
        Y, state = self.rnn(F.one_hot(F.transpose(X), self.vocab_size), state)
        return self.dense(Y).reshape((-1, self.vocab_size)), state

    def begin_state(self, *args, **kwargs):
        return self.rnn.begin_state(*args, **kwargs)


class NumpyLM(LegacyLM):
    def hybrid_forward(self, F, X, state):
        Y, state = self.rnn(F.npx.one_hot(F.np.transpose(X), self.vocab_size), state)
        return self.dense(Y).reshape((-1, self.vocab_size)), state


# (1) a char-RNN language model of the caller's style, trained and sampled by the chapter's functions
random.seed(0)
train_iter, vocab = d2l.load_data_time_machine(4, 8, max_tokens=600)
X0, _ = next(iter(train_iter))
out['types']['minibatch'] = kind(X0)
lm = seeded((LegacyLM if LEGACY else NumpyLM)(len(vocab), 16), 1)
lm.hybridize()
ppls = []
random.seed(0)
d2l.train_ch8(lm, train_iter, vocab, 1, 3, mx.cpu(), on_epoch=lambda e, p, s: ppls.append(p))
out['types']['lm parameter'] = kind(lm.dense.weight.data())
out['same']['lm perplexities'] = ppls
out['same']['lm weights'] = [digest(p.data()) for p in lm.collect_params().values()]
out['same']['lm predict'] = d2l.predict_ch8('time traveller', 20, lm, vocab, mx.cpu())

# (2) a plain CNN fed the mode's arrays, clipped by grad_clipping, stepped by gluon.Trainer
cnn = nn.HybridSequential()
cnn.add(nn.Conv2D(4, 3, activation='relu'), nn.MaxPool2D(), nn.Dense(3))
seeded(cnn, 2).initialize()
rng = onp.random.RandomState(3)
X = A.array(rng.normal(size=(8, 1, 8, 8)).astype('float32'))
y = A.array(rng.randint(0, 3, 8).astype('float32'))
trainer = gluon.Trainer(cnn.collect_params(), 'sgd', {'learning_rate': 0.5})
loss = gluon.loss.SoftmaxCrossEntropyLoss()
losses, norms = [], []
for _ in range(5):
    with autograd.record():
        l = loss(cnn(X), y)
    l.backward()
    norms.append(d2l.grad_clipping(cnn, 0.5))
    trainer.step(8)
    losses.append(l.mean().asnumpy().item())
out['types']['cnn gradient'] = kind(cnn[2].weight.grad())
out['same']['cnn losses'], out['same']['cnn norms'] = losses, norms
out['same']['cnn weights'] = [digest(p.data()) for p in cnn.collect_params().values()]

# (3) the chapter's layers on the mode's arrays, alone and inside a parent block of the mode
x = A.array(onp.random.RandomState(4).normal(size=(4, 5)).astype('float32'))
layers = {'MyDense': d2l.MyDense(3, 5), 'CenteredLayer': d2l.CenteredLayer(),
          'HybridCenteredLayer': d2l.HybridCenteredLayer(), 'TensorReductionLayer': d2l.TensorReductionLayer(2, 5),
          'FourierHalfLayer': d2l.FourierHalfLayer()}
for name, layer in layers.items():
    seeded(layer, 5).initialize()
    y = layer(x)
    out['types'][name], out['same'][name] = kind(y), digest(y)
for hybrid in (False, True):
    seq = nn.HybridSequential()
    seq.add(nn.Dense(6), d2l.TensorReductionLayer(3, 6), d2l.HybridCenteredLayer())
    seeded(seq, 6).initialize()
    if hybrid:
        seq.hybridize()
    trainer = gluon.Trainer(seq.collect_params(), 'sgd', {'learning_rate': 0.1})
    losses = []
    for _ in range(3):
        with autograd.record():
            l = (seq(x) ** 2).sum()
        l.backward()
        trainer.step(4)
        losses.append(l.asnumpy().item())
    out['types'][f'parent (hybridized {hybrid}) output'] = kind(seq(x))
    out['types'][f'library layer parameter in a parent (hybridized {hybrid})'] = kind(seq[1].weight.data())
    out['same'][f'parent (hybridized {hybrid}) losses'] = losses
dense = seeded(d2l.MyDense(3, 5), 7)
dense.initialize()
trainer = gluon.Trainer(dense.collect_params(), 'sgd', {'learning_rate': 0.1})
with autograd.record():
    l = dense(x).sum()
l.backward()
trainer.step(4)
out['types']['MyDense parameter'] = kind(dense.weight.data())
out['same']['MyDense after a Trainer step'] = digest(dense.weight.data())

# (4) the chapter's RNN models and functions on the mode's arrays
V = len(vocab)
for name, build in (('RNNModelScratch', lambda: d2l.RNNModelScratch(V, 16, mx.cpu(), d2l.get_params,
                                                                    d2l.init_rnn_state, d2l.rnn)),
                    ('HybridRNNScratch', lambda: d2l.HybridRNNScratch(V, 16)),
                    ('RNNModel', lambda: d2l.RNNModel(rnn.RNN(16), V))):
    mx.random.seed(0)
    net = build()
    if name != 'RNNModelScratch':
        net.initialize()
    state = net.begin_state(batch_size=4, ctx=mx.cpu())
    y, state = net(X0, state)
    out['types'][name + ' state'], out['types'][name + ' output'] = kind(state[0]), kind(y)
    random.seed(0)
    mx.random.seed(0)
    out['same'][name + ' perplexity'] = d2l.train_ch8(net, train_iter, vocab, 1, 2, mx.cpu())[0]
mx.random.seed(0)
params = d2l.get_params(V, 8, mx.cpu())
H = d2l.init_rnn_state(2, 8, mx.cpu())
with autograd.record():
    Y, (H,) = d2l.rnn(A.array([[1, 2], [3, 4]], dtype='int32'), H, params)
    s = Y.sum()
s.backward()
d2l.sgd(params, 0.1, 1)
out['types']['get_params'], out['types']['init_rnn_state'] = kind(params[0]), kind(H)
out['types']['rnn'], out['types']['rnn gradient'] = kind(Y), kind(params[0].grad)
out['same']['sgd'] = digest(params[0])
acc = d2l.Accumulator(2)
acc.add(s, Y.size)
out['same']['Accumulator'] = acc.data

# (5) a model written for the other mode: a one-line TypeError, and the workaround it names
other = seeded((NumpyLM if LEGACY else LegacyLM)(V, 16), 1)
try:
    d2l.train_ch8(other, train_iter, vocab, 1, 1, mx.cpu())
except TypeError as err:
    out['error'] = str(err)
if LEGACY:
    with mx.util.np_shape(True), mx.util.np_array(True):
        out['workaround perplexity'] = d2l.train_ch8(other, train_iter, vocab, 1, 1, mx.cpu())[0]
else:
    with mx.util.np_array(False), mx.util.np_shape(False):
        out['workaround perplexity'] = d2l.train_ch8(other, train_iter, vocab, 1, 1, mx.cpu())[0]
out['mode'] = [mode, [mx.util.is_np_array(), mx.util.is_np_shape()]]
print(json.dumps(out))
'''


@pytest.fixture(scope='module')
def runs():
    """The script's results in a legacy-mode and in a NumPy-mode interpreter."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    results = {}
    for mode in ('legacy', 'np'):
        done = subprocess.run([sys.executable, '-c', SCRIPT, mode], env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def test_the_library_leaves_the_callers_mode_as_it_was(runs):
    assert runs['legacy']['mode'] == [[False, False], [False, False]]
    assert runs['np']['mode'] == [[True, True], [True, True]]


@pytest.mark.parametrize('mode,module', [('legacy', 'mxnet.ndarray.ndarray'), ('np', 'mxnet.numpy')])
def test_every_array_the_library_hands_back_is_of_the_callers_kind(runs, mode, module):
    types = runs[mode]['types']
    assert len(types) >= 20
    assert {name: kind for name, kind in types.items() if kind != module} == {}


@pytest.mark.parametrize('result', ['lm perplexities', 'lm weights', 'lm predict', 'cnn losses', 'cnn norms',
                                    'cnn weights', 'MyDense', 'CenteredLayer', 'HybridCenteredLayer',
                                    'TensorReductionLayer', 'FourierHalfLayer', 'parent (hybridized False) losses',
                                    'parent (hybridized True) losses', 'MyDense after a Trainer step',
                                    'RNNModelScratch perplexity', 'HybridRNNScratch perplexity',
                                    'RNNModel perplexity', 'sgd', 'Accumulator'])
def test_legacy_code_and_its_numpy_twin_give_the_same_numbers_bit_for_bit(runs, result):
    assert runs['legacy']['same'][result] == runs['np']['same'][result]


def test_the_legacy_language_model_learns_and_samples_from_the_vocabulary(runs):
    ppls = runs['legacy']['same']['lm perplexities']
    assert len(ppls) == 3 and ppls[-1] < ppls[0] < 40
    assert runs['legacy']['same']['lm predict'].startswith('time traveller')


@pytest.mark.parametrize('mode,fix', [('legacy', 'call it in NumPy mode'), ('np', 'call it in legacy mode')])
def test_a_model_written_for_the_other_mode_gets_one_line_naming_the_fix_and_the_fix_works(runs, mode, fix):
    error = runs[mode]['error']
    assert '\n' not in error and fix in error, error
    assert 1.0 < runs[mode]['workaround perplexity'] < 40.0


def test_gradients_flow_through_the_views_between_the_two_kinds():
    w = mx.nd.array([[0.5, -1.0], [2.0, 0.25]])
    w.attach_grad()
    v = np.array([0.5, -1.0, 2.0, 0.25])
    v.attach_grad()
    with autograd.record():
        through_np = (np.tanh(as_np(w)) * 3).sum()                          # nd -> np
        through_nd = as_np(mx.nd.tanh(as_nd(v)) * 3).sum()                  # np -> nd -> np
    through_np.backward()
    through_nd.backward()
    expected = 3 * (1 - onp.tanh(onp.array([0.5, -1.0, 2.0, 0.25], dtype='float32')) ** 2)
    onp.testing.assert_allclose(w.grad.asnumpy().ravel(), expected, rtol=1e-6)
    onp.testing.assert_array_equal(w.grad.asnumpy().ravel(), v.grad.asnumpy())


@pytest.mark.parametrize('dtype', ['float32', 'float64'])
def test_hybrid_centered_layer_equals_x_minus_its_mean_bit_for_bit(dtype):
    X = np.array(onp.random.RandomState(0).normal(size=(7, 11)), dtype=dtype)
    for hybridize in (False, True):
        layer = d2l.HybridCenteredLayer()
        if hybridize:
            layer.hybridize()
        X.attach_grad()
        with autograd.record():
            Y = layer(X)
            (Y * Y).sum().backward()
        grad = X.grad.asnumpy().copy()
        X.attach_grad()
        with autograd.record():
            Z = X - X.mean()
            (Z * Z).sum().backward()
        onp.testing.assert_array_equal(Y.asnumpy(), Z.asnumpy())
        onp.testing.assert_array_equal(grad, X.grad.asnumpy())


REPORTED = {
    'grad_clipping on a legacy Dense': '''
net = gluon.nn.Dense(3)
net.initialize()
with autograd.record():
    l = net(nd.ones((4, 5))).sum()
l.backward()
print(d2l.grad_clipping(net, 1.0) > 1.0, type(net.weight.grad()).__name__)
''',
    'train_ch8 on a legacy HybridBlock language model': '''
class LM(gluon.HybridBlock):
    def __init__(self, vocab_size, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        with self.name_scope():
            self.rnn, self.dense = gluon.rnn.RNN(16), gluon.nn.Dense(vocab_size, flatten=False)

    def hybrid_forward(self, F, X, state):
        Y, state = self.rnn(F.one_hot(F.transpose(X), self.vocab_size), state)
        return self.dense(Y).reshape((-1, self.vocab_size)), state

    def begin_state(self, *args, **kwargs):
        return self.rnn.begin_state(*args, **kwargs)
train_iter, vocab = d2l.load_data_time_machine(4, 8, max_tokens=600)
net = LM(len(vocab))
print(d2l.train_ch8(net, train_iter, vocab, 1, 1, mx.cpu())[0] < 40, type(net.dense.weight.data()).__name__)
''',
    'MyDense on nd arrays trained by a legacy gluon.Trainer': '''
net = d2l.MyDense(3, 5)
net.initialize()
trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1})
before = net.weight.data().copy()
with autograd.record():
    y = net(nd.ones((4, 5)))
    l = y.sum()
l.backward()
trainer.step(4)
print(bool((net.weight.data() != before).sum().asscalar() > 0), type(y).__name__)
''',
}


@pytest.mark.parametrize('name', sorted(REPORTED))
def test_the_reported_legacy_mode_failure_works(name):
    script = 'import mxnet as mx\nfrom mxnet import autograd, gluon, nd\nimport gluon_d2l as d2l\n' + REPORTED[name]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    done = subprocess.run([sys.executable, '-c', script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == 'True NDArray'
