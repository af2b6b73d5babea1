"""d2l 0.17's helpers that the book's code calls: array aliases, plotting, ``predict_ch8`` on any prefix."""
import os
import subprocess
import sys
import types

import mxnet as mx
import numpy as onp
import pytest
from mxnet import np

import gluon_d2l as d2l
from gluon_d2l import aliases, plotting

from conftest import REPO


@pytest.mark.parametrize('alias,target', sorted(aliases.FUNCTIONS.items()))
def test_function_aliases_are_mxnet_numpy(alias, target):
    obj = np
    for part in target.split('.'):
        obj = getattr(obj, part)
    assert getattr(d2l, alias) is obj and alias in d2l.__all__


def test_method_aliases_and_size_and_transpose_on_mx_np_arrays():
    x = d2l.reshape(d2l.arange(10), (2, 5))
    assert isinstance(x, np.ndarray) and x.shape == (2, 5) and d2l.size(x) == 10
    onp.testing.assert_array_equal(d2l.numpy(x), onp.arange(10).reshape(2, 5))
    assert d2l.transpose(x).shape == (5, 2)
    assert float(d2l.reduce_sum(x)) == 45 and float(d2l.reduce_mean(x)) == 4.5
    assert int(d2l.argmax(d2l.tensor([1, 5, 2]))) == 1
    assert d2l.astype(x, 'float64').dtype == onp.float64
    assert d2l.to(x, mx.cpu()).ctx == mx.cpu()
    assert d2l.matmul(d2l.ones((2, 3)), d2l.ones((3, 4))).shape == (2, 4)
    assert d2l.concat([d2l.zeros(2), d2l.ones(3)]).shape == (5,) and d2l.stack([x, x]).shape == (2, 2, 5)
    assert d2l.normal(0, 1, (3, 2)).shape == (3, 2)


def test_predict_ch8_reads_unknown_characters_as_unk_like_d2l():
    vocab = d2l.Vocab([list('abc')])
    net = d2l.RNNModelScratch(len(vocab), 8, mx.cpu(), d2l.get_params, d2l.init_rnn_state, d2l.rnn)
    text = d2l.predict_ch8('ab?z', 3, net, vocab, mx.cpu())
    assert text.startswith('ab<unk><unk>') and len(text) >= len('ab<unk><unk>') + 3
    with pytest.raises(ValueError, match=r"outside the vocabulary: \['\?', 'z'\]"):
        d2l.predict_ch8('ab?z', 3, net, vocab, mx.cpu(), strict=True)


HEADLESS_PLOT = r'''
import sys
import gluon_d2l as d2l
assert 'matplotlib' not in sys.modules            # import gluon_d2l does not load matplotlib
x = d2l.arange(0, 3, 0.1)
axes = d2l.plot(x, [d2l.sin(x), d2l.cos(x)], 'x', 'f(x)', legend=['sin', 'cos'])
axes.figure.savefig(sys.argv[1])
animator = d2l.Animator(xlabel='epoch', ylabel='perplexity', legend=['train'], xlim=[1, 3])
for epoch in range(3):
    animator.add(epoch + 1, [10.0 / (epoch + 1)])
animator.fig.savefig(sys.argv[2])
import matplotlib
line, = animator.axes[0].get_lines()
print(matplotlib.get_backend(), [float(v) for v in line.get_xdata()], [float(v) for v in line.get_ydata()],
      [t.get_text() for t in axes.get_legend().get_texts()], axes.get_xlabel())
'''


def test_plot_and_animator_save_pngs_with_no_display(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ('MPLBACKEND', 'DISPLAY', 'WAYLAND_DISPLAY')}
    env.update(PYTHONPATH=str(REPO), MPLCONFIGDIR=str(tmp_path / 'mpl'))
    pngs = [str(tmp_path / 'plot.png'), str(tmp_path / 'anim.png')]
    result = subprocess.run([sys.executable, '-c', HEADLESS_PLOT, *pngs], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split(' ', 1)[0].lower() == 'agg'
    assert "[1.0, 2.0, 3.0] [10.0, 5.0, 3.3333333333333335] ['sin', 'cos'] x" in result.stdout
    for name in ('plot.png', 'anim.png'):
        png = (tmp_path / name).read_bytes()
        assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 5000


def test_animator_redraws_in_place_in_a_notebook(monkeypatch):
    """In a notebook kernel each ``add`` shows the figure and clears the previous output."""
    calls = []
    display = types.SimpleNamespace(display=lambda fig: calls.append(('display', fig)),
                                    clear_output=lambda wait: calls.append(('clear', wait)))
    monkeypatch.setattr(plotting, '_notebook_display', lambda: display)
    monkeypatch.setattr(plotting, 'use_svg_display', lambda: calls.append(('svg',)))
    animator = d2l.Animator(legend=['a', 'b'])
    animator.add(1, [2.0, 3.0])
    animator.add(2, [1.0, None])
    assert calls == [('svg',), ('display', animator.fig), ('clear', True), ('display', animator.fig), ('clear', True)]
    assert animator.Y == [[2.0, 1.0], [3.0]]


def test_use_svg_display_does_nothing_outside_a_notebook():
    assert plotting._in_notebook() is False
    assert d2l.use_svg_display() is None
