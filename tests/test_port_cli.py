"""``gluon-d2l port``: build, load, port, check, write only when the check passes; and the round trip."""
import argparse
import json

import numpy
import pytest

from parity.port import cli, registry

from cli_support import exit_status
from parity_support import need

pytestmark = pytest.mark.parity

MODEL = '''
from mxnet.gluon import rnn
import gluon_d2l as d2l


def build():
    return d2l.RNNModel(rnn.LSTM(16, input_size=28), 28)
'''


def port_command(argv):
    parser = argparse.ArgumentParser(prog='gluon-d2l')
    cli.register(parser.add_subparsers(dest='command', required=True))
    args = parser.parse_args(['port'] + argv)
    return args.handler(args)


@pytest.fixture
def trained(tmp_path, monkeypatch):
    """A char-RNN (RNNModel over an LSTM) with trained-looking weights saved by save_parameters."""
    import mxnet as mx
    need('mxnet')
    (tmp_path / 'charmodel.py').write_text(MODEL)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    import charmodel
    net = charmodel.build()
    net.initialize()
    rng = numpy.random.default_rng(3)
    for p in net.collect_params().values():
        p.set_data(mx.np.array(rng.normal(size=p.shape) * 0.4, dtype=p.dtype))
    net.save_parameters(str(tmp_path / 'net.params'))
    return net, tmp_path


ARGS = ['--block', 'charmodel:build', '--params', 'net.params', '--input-shape', '2,9:int32:28',
        '--input-shape', '[1,2,16;1,2,16]']


def test_port_to_torch_round_trip_same_next_character_distribution(trained, capsys):
    need('torch')
    import mxnet as mx
    import torch
    from parity.port import graph, to_torch
    net, tmp = trained
    assert port_command(ARGS + ['--to', 'torch', '--out', 'net.pt']) == 0
    assert 'port to torch' in capsys.readouterr().out
    weights = {k: v.numpy() for k, v in torch.load(tmp / 'net.pt').items()}
    fresh = to_torch(graph.from_json((tmp / 'net.pt.graph.json').read_text(), weights))
    prefix = numpy.array([[3, 1, 4, 1, 5]], dtype='int32')
    state = net.begin_state(batch_size=1)
    Y, _ = net(mx.np.array(prefix, dtype='int32'), state)
    Yt, _ = fresh(torch.from_numpy(prefix), [torch.zeros(1, 1, 16), torch.zeros(1, 1, 16)])
    expected = mx.npx.softmax(Y[-1]).asnumpy()
    actual = torch.softmax(Yt[-1], dim=-1).detach().numpy()
    numpy.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)
    assert actual.argmax() == expected.argmax()


@pytest.mark.parametrize('target, out, framework', [('keras', 'net.weights.h5', 'tensorflow'),
                                                    ('flax', 'net.msgpack', 'jax')])
def test_port_writes_native_weights(trained, target, out, framework):
    need(framework)
    _, tmp = trained
    assert port_command(ARGS + ['--to', target, '--out', out]) == 0
    assert (tmp / out).stat().st_size > 0
    assert json.loads((tmp / f'{out}.graph.json').read_text())['inputs'] == ['inputs', 'state0', 'state1']


def test_port_writes_nothing_when_the_check_fails(trained, capsys):
    need('torch')
    _, tmp = trained
    wrong = registry.lookup('torch', 'FullyConnected')
    with registry.replaced('torch', 'FullyConnected', lambda ctx, node, x, w, b=None: wrong(ctx, node, x, w, b) * 1.01):
        assert port_command(ARGS + ['--to', 'torch', '--out', 'net.pt']) == 1
    captured = capsys.readouterr()
    assert 'dense0_fwd' in captured.out and 'nothing written' in captured.err
    assert not (tmp / 'net.pt').exists()


@pytest.mark.parametrize('argv, message', [
    (['--input-shape', '2,x'], '--input-shape'),
    (['--input-shape', '0,3'], 'positive'),
    (['--block', 'nomodule:build'], '--block'),
    (['--block', 'charmodel'], 'MODULE:FACTORY'),
    (['--params', 'missing.params'], '--params'),
    (['--out', 'nodir/net.pt'], 'no such directory'),
])
def test_port_bad_input_is_one_line_naming_the_option(trained, capsys, argv, message):
    base = dict(zip(ARGS[::2], ARGS[1::2]))
    base.update({'--to': 'torch', '--out': 'net.pt'})
    base.update(dict(zip(argv[::2], argv[1::2])))
    flat = [x for pair in base.items() for x in pair]
    if '--input-shape' in argv:
        flat = [x for x in flat if x not in ('[1,2,16;1,2,16]',)]
    assert exit_status(['port'] + flat) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('gluon-d2l: error:') and message in err and len(err.splitlines()) == 1


def test_an_existing_out_is_refused_without_force_and_replaced_whole_with_it(trained, capsys):
    need('torch')
    import torch
    _, tmp = trained
    (tmp / 'victim.txt').write_text('not to be overwritten')
    (tmp / 'net.pt').symlink_to(tmp / 'victim.txt')
    (tmp / 'net.pt.graph.json').write_text('the user\'s own notes')
    argv = ['port'] + ARGS + ['--to', 'torch', '--out', 'net.pt']
    assert exit_status(argv) == 2
    assert '--force' in capsys.readouterr().err
    assert (tmp / 'net.pt').is_symlink() and (tmp / 'net.pt.graph.json').read_text() == 'the user\'s own notes'
    assert exit_status(argv + ['--force']) == 0
    assert not (tmp / 'net.pt').is_symlink() and (tmp / 'victim.txt').read_text() == 'not to be overwritten'
    assert set(torch.load(tmp / 'net.pt')) and json.loads((tmp / 'net.pt.graph.json').read_text())['inputs']
    assert not [p.name for p in tmp.iterdir() if p.name.startswith('.')]


@pytest.mark.parametrize('model', ['concise', 'hybrid'])
def test_port_a_trained_run_directory_to_torch_same_next_character_distribution(tmp_path, monkeypatch, model):
    need('mxnet')
    need('torch')
    import mxnet as mx
    import torch
    from gluon_d2l.program import cli as program
    from gluon_d2l.program.jobs import load_trained
    from parity.port import graph, to_torch
    monkeypatch.chdir(tmp_path)
    run = tmp_path / 'run'
    assert program.main(['train', '--model', model, '--epochs', '2', '--hiddens', '16', '--batch-size', '4',
                         '--num-steps', '8', '--max-tokens', '2000', '--device', 'cpu', '--out', str(run)]) == 0
    assert port_command(['--run', str(run), '--to', 'torch', '--out', 'net.pt']) == 0
    net, vocab, device, _ = load_trained(run)
    weights = {k: v.numpy() for k, v in torch.load(tmp_path / 'net.pt').items()}
    fresh = to_torch(graph.from_json((tmp_path / 'net.pt.graph.json').read_text(), weights))
    prefix = numpy.array([vocab[list('time traveller')]], dtype='int32')
    state = net.begin_state(batch_size=1, ctx=device)
    Y, _ = net(mx.np.array(prefix, dtype='int32'), state)
    torch_state = [torch.from_numpy(s.asnumpy()) for s in state]
    Yt, _ = fresh(torch.from_numpy(prefix), tuple(torch_state) if isinstance(state, tuple) else torch_state)
    expected = mx.npx.softmax(Y[-1]).asnumpy()
    actual = torch.softmax(Yt[-1], dim=-1).detach().numpy()
    numpy.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)
    assert actual.argmax() == expected.argmax()


@pytest.mark.parametrize('argv, message', [
    (['--run', 'missing'], '--run'),
    (['--run', 'run', '--block', 'charmodel:build'], 'either --block'),
    (['--block', 'charmodel:build'], '--input-shape'),
])
def test_port_run_bad_input_is_one_line_naming_the_option(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert exit_status(['port'] + argv + ['--to', 'torch', '--out', 'net.pt']) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('gluon-d2l: error:') and message in err and len(err.splitlines()) == 1
