"""``import gluon_d2l`` changes no global MXNet state, and the library works in either mode.

Each test runs a fresh interpreter (the test session itself is in NumPy mode, like the d2l
chapters): MXNet starts in legacy mode, or in NumPy mode when the script calls ``npx.set_np()``
first. Without ``mxnet.util.use_np`` on the library's blocks and functions, ``MyDense`` and the
scratch and concise models fail in legacy mode (``_np_dot ... received a legacy ndarray``,
``log_softmax ... received an MXNet numpy ndarray``).
"""
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

SCRIPT = r'''
import json, sys
import mxnet as mx
from mxnet import autograd, gluon, nd, npx
if sys.argv[1] == 'np':
    npx.set_np()
before = [mx.util.is_np_array(), mx.util.is_np_shape()]
import gluon_d2l as d2l
after_import = [mx.util.is_np_array(), mx.util.is_np_shape()]
from mxnet import np
out = {'before': before, 'after_import': after_import, 'types': {}}
X = np.random.uniform(size=(2, 5))
blocks = {'CenteredLayer': d2l.CenteredLayer(), 'HybridCenteredLayer': d2l.HybridCenteredLayer(),
          'MyDense': d2l.MyDense(3, 5), 'TensorReductionLayer': d2l.TensorReductionLayer(2, 5),
          'FourierHalfLayer': d2l.FourierHalfLayer()}
for name, block in blocks.items():
    block.initialize()
    if isinstance(block, gluon.HybridBlock):
        block.hybridize()
    out['types'][name] = type(block(X)).__module__
train_iter, vocab = d2l.load_data_time_machine(4, 5, max_tokens=400)
X0, _ = next(iter(train_iter))
out['types']['iterator'] = type(X0).__module__
out['perplexity'] = {}
for kind in ('scratch', 'hybrid', 'concise'):
    net = d2l.models.build_model(kind, len(vocab), 16, [mx.cpu()])
    out['perplexity'][kind] = d2l.train_ch8(net, train_iter, vocab, 1, 2, mx.cpu())[0]
    out['types'][kind + ' predict_ch8'] = type(d2l.predict_ch8('time', 3, net, vocab, mx.cpu())).__name__
    with autograd.record():
        y, _ = net(X0, net.begin_state(batch_size=4, ctx=mx.cpu()))
        l = y.sum()
    l.backward()
    out['types'][kind + ' grad_clipping'] = type(d2l.grad_clipping(net, 1e-3)).__name__
out['after_library'] = [mx.util.is_np_array(), mx.util.is_np_shape()]
if sys.argv[1] == 'legacy':                 # legacy Gluon code in the same process still trains
    net = gluon.nn.Sequential()
    net.add(gluon.nn.Dense(8, activation='relu'), gluon.nn.Dense(1))
    net.initialize(mx.init.Normal(0.1))
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.05})
    x = nd.random.normal(shape=(64, 3))
    y = nd.dot(x, nd.array([[2.0], [-3.4], [1.0]])) + 4.2
    losses = []
    for _ in range(20):
        with autograd.record():
            l = gluon.loss.L2Loss()(net(x), y)
        l.backward()
        trainer.step(64)
        losses.append(float(l.mean().asscalar()))
    out['legacy'] = {'type': type(l).__module__, 'first': losses[0], 'last': losses[-1]}
print(json.dumps(out))
'''


def run_script(mode):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    result = subprocess.run([sys.executable, '-c', SCRIPT, mode], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('mode,expected', [('legacy', [False, False]), ('np', [True, True])])
def test_library_works_in_the_callers_mode_and_leaves_it_unchanged(mode, expected):
    out = run_script(mode)
    assert out['before'] == out['after_import'] == out['after_library'] == expected
    for name, module in out['types'].items():
        if name.endswith('predict_ch8'):
            assert module == 'str', name
        elif name.endswith('grad_clipping'):
            assert module == 'float', name
        elif name == 'iterator' and mode == 'legacy':     # minibatches of the mode they are read in
            assert module == 'mxnet.ndarray.ndarray', (name, module)
        else:
            assert module == 'mxnet.numpy', (name, module)   # mx.np.ndarray
    assert set(out['perplexity']) == {'scratch', 'hybrid', 'concise'}
    assert all(1.0 < ppl < 40.0 for ppl in out['perplexity'].values()), out['perplexity']
    if mode == 'legacy':
        assert out['legacy']['type'] == 'mxnet.ndarray.ndarray'
        assert out['legacy']['last'] < 0.25 * out['legacy']['first'], out['legacy']
