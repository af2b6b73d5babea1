"""``gluon-d2l port`` on bad input: every case is one line naming the option, exit 2, nothing written.

The table's cases fail before a target framework is imported, so they run with MXNet only; the
files the command writes go through private temporaries (a planted link is replaced, not followed).
"""
import os
import pickle
import sys
import traceback
import types
import zipfile

import pytest

from cli_support import _a_run, _tampered, check_error_path, exit_status
from gluon_d2l.program import files
from gluon_d2l.program.config import ConfigError
from parity.port import cli as port_cli

MODEL = '''
from mxnet import gluon
from mxnet.gluon import nn


def build():
    net = nn.HybridSequential()
    net.add(nn.Dense(8, in_units=4, activation='relu'), nn.Dense(3, in_units=8))
    return net


def wider():
    net = nn.HybridSequential()
    net.add(nn.Dense(5, in_units=4), nn.Dense(3, in_units=5))
    return net


def deeper():
    net = build()
    net.add(nn.Dense(2, in_units=3))
    return net


def plain():
    return nn.Sequential()


def boom():
    raise RuntimeError('no accelerator here')


class Refuses(gluon.HybridBlock):
    def hybrid_forward(self, F, x):
        raise KeyError('the block refuses every input')


def refuses():
    return Refuses()
'''
MODULES = ('portmodel', 'portbroken', 'portexits')
PORT = ['port', '--to', 'torch']
BLOCK = PORT + ['--block', 'portmodel:build', '--input-shape', '2,4']
OUT = ['--out', '{box}/net.pt']


def _model(box, run=None):
    (box / 'portmodel.py').write_text(MODEL)
    (box / 'portbroken.py').write_text('raise ValueError("broken at import")\n')
    (box / 'portexits.py').write_text('import sys\nsys.exit(3)\n')
    return {}


def _saved(factory, name='net.params'):
    """A sandbox with the model module and the parameters of ``factory()`` saved by save_parameters."""
    def setup(box, run):
        _model(box)
        namespace = {}
        exec(compile(MODEL, 'portmodel.py', 'exec'), namespace)
        net = namespace[factory]()
        net.initialize()
        net.save_parameters(str(box / name))
        return {}
    return setup


def _params_file(payload):
    def setup(box, run):
        _model(box)
        path = box / 'net.params'
        if callable(payload):
            payload(box, path)
        else:
            path.write_bytes(payload)
        return {}
    return setup


def _truncated(box, path):
    _saved('build', 'whole.params')(box, None)
    path.write_bytes((box / 'whole.params').read_bytes()[:100])


def _unnamed(box, path):
    import mxnet as mx
    mx.nd.save(str(path), [mx.nd.ones((2,))])


def _npz(box, path):
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr('weight.npy', b'\x93NUMPY')


def _params_dir(box, path):
    path.mkdir()


def _fifo_outside(box, run):
    """A FIFO next to the sandbox (reading one inside would block the sandbox's snapshot)."""
    _model(box)
    fifo = box.parent / 'params.fifo'
    os.mkfifo(fifo)
    return {'fifo': fifo}


def _existing(*names):
    def setup(box, run):
        _model(box)
        for name in names:
            (box / name).write_text('the user\'s own file')
        return {}
    return setup


def _linked_out(box, run):
    _model(box)
    (box / 'victim.txt').write_text('not to be overwritten')
    (box / 'net.pt').symlink_to(box / 'victim.txt')
    (box / 'gone.pt').symlink_to(box / 'nowhere')
    return {}


def _out_dir(box, run):
    _model(box)
    (box / 'net.pt').mkdir()
    return {}


def _user_file(box, run):
    _model(box)
    (box / 'file.txt').write_text('not a directory')
    return {}


def _model_and_run(box, run):
    _model(box)
    return _a_run(box, run)


# (argv with {names} for the sandbox's paths, the option named, sandbox set-up)
PORT_ERRORS = [
    # --out, checked before any work
    (BLOCK + ['--out', ''], '--out', _model),
    (BLOCK + OUT, '--out', _existing('net.pt')),
    (BLOCK + OUT, '--out', _existing('net.pt.graph.json')),
    (BLOCK + OUT, '--out', _linked_out),
    (BLOCK + ['--out', '{box}/gone.pt'], '--out', _linked_out),
    (BLOCK + OUT, '--out', _out_dir),
    (BLOCK + ['--out', '{box}/nodir/net.pt'], '--out', _model),
    (BLOCK + ['--out', '{box}/newdir/'], '--out', _model),
    (BLOCK + ['--out', '{box}/file.txt/net.pt'], '--out', _user_file),
    (BLOCK + ['--out', '{box}/' + 'n' * 300 + '.pt'], '--out', _model),
    (BLOCK + ['--out', '/proc/net.pt'], '--out', _model),  # not writable, even for root
    (['port', '--to', 'keras', '--block', 'portmodel:build', '--input-shape', '2,4', '--out', '{box}/net.h5'],
     '--out', _model),
    (['port', '--to', 'onnx', '--block', 'portmodel:build', '--input-shape', '2,4', '--out', '{box}/net.onnx'],
     '--out', _existing('net.onnx')),
    # --block
    (PORT + ['--block', 'os.path:join', '--input-shape', '2,4'] + OUT, '--block', _model),
    (PORT + ['--block', '../portmodel:build', '--input-shape', '2,4'] + OUT, '--block', _model),
    (PORT + ['--block', 'portmodel.py:build', '--input-shape', '2,4'] + OUT, '--block', _model),
    (PORT + ['--block', 'portmodel', '--input-shape', '2,4'] + OUT, '--block', _model),
    (PORT + ['--block', 'portmodel:', '--input-shape', '2,4'] + OUT, '--block', _model),
    (PORT + ['--block', 'portbroken:build', '--input-shape', '2,4'] + OUT, '--block', _model),
    (PORT + ['--block', 'portexits:build', '--input-shape', '2,4'] + OUT, '--block', _model),
    (PORT + ['--block', 'no_such_module:build', '--input-shape', '2,4'] + OUT, '--block', _model),
    (PORT + ['--block', 'portmodel:missing', '--input-shape', '2,4'] + OUT, '--block', _model),
    (PORT + ['--block', 'os:sep', '--input-shape', '2,4'] + OUT, '--block', _model),
    (PORT + ['--block', 'portmodel:boom', '--input-shape', '2,4'] + OUT, '--block', _model),
    (PORT + ['--block', 'portmodel:plain', '--input-shape', '2,4'] + OUT, '--block', _model),
    (PORT + ['--block', 'builtins:dict', '--input-shape', '2,4'] + OUT, '--block', _model),
    (PORT + ['--input-shape', '2,4'] + OUT, '--block', _model),
    # --params
    (BLOCK + ['--params', '{box}/net.params'] + OUT, '--params', _params_file(pickle.dumps({'weight': [1.0]}))),
    (BLOCK + ['--params', '{box}/net.params'] + OUT, '--params', _params_file(b'')),
    (BLOCK + ['--params', '{box}/net.params'] + OUT, '--params', _params_file(_truncated)),
    (BLOCK + ['--params', '{box}/net.params'] + OUT, '--params', _params_file(_unnamed)),
    (BLOCK + ['--params', '{box}/net.params'] + OUT, '--params', _params_file(_npz)),
    (BLOCK + ['--params', '{box}/net.params'] + OUT, '--params', _params_file(b'\x12\x01' + bytes(200))),
    (BLOCK + ['--params', '{box}/net.params'] + OUT, '--params', _saved('wider')),
    (BLOCK + ['--params', '{box}/net.params'] + OUT, '--params', _saved('deeper')),
    (BLOCK + ['--params', '{box}/missing.params'] + OUT, '--params', _model),
    (BLOCK + ['--params', '{box}/net.params'] + OUT, '--params', _params_file(_params_dir)),
    (BLOCK + ['--params', '{fifo}'] + OUT, '--params', _fifo_outside),
    (BLOCK + ['--params', ''] + OUT, '--params', _model),
    # --input-shape
    (PORT + ['--block', 'portmodel:build', '--input-shape', '2,4:complex64'] + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build', '--input-shape', '2,4:float'] + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build', '--input-shape', '100000,100000,1000'] + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build', '--input-shape', '2,4:int32:0'] + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build', '--input-shape', '2,4:int32:many'] + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build', '--input-shape', '2,4:int8:1000'] + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build', '--input-shape', '2,4:float32:3'] + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build', '--input-shape', '2,4:int32:5:6'] + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build', '--input-shape', '[]'] + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build', '--input-shape', '[2,4;]'] + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build', '--input-shape', '[2,4;[1,2]]'] + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build', '--input-shape', '[2,4'] + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build', '--input-shape', ''] + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build', '--input-shape', '2,,4'] + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build', '--input-shape', '2,0'] + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build', '--input-shape', '２,4'] + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build', '--input-shape', ','.join(['1'] * 5000)] + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build'] + ['--input-shape', '1'] * 300 + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build'] + ['--input-shape', '8192,8192'] * 3 + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build', '--input-shape', '2,5'] + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build', '--input-shape', '2,4', '--input-shape', '2,4'] + OUT, '--input-shape',
     _model),
    (PORT + ['--block', 'portmodel:refuses', '--input-shape', '2,4'] + OUT, '--input-shape', _model),
    (PORT + ['--block', 'portmodel:build'] + OUT, '--input-shape', _model),
    # the other options
    (BLOCK + OUT + ['--dtype', 'int8'], '--dtype', _model),
    (BLOCK + OUT + ['--dtype', 'bfloat16'], '--dtype', _model),
    (BLOCK + OUT + ['--rtol', 'nan'], '--rtol', _model),
    (BLOCK + OUT + ['--rtol', '-1'], '--rtol', _model),
    (BLOCK + OUT + ['--atol', 'inf'], '--atol', _model),
    (BLOCK + OUT + ['--atol', 'small'], '--atol', _model),
    (BLOCK + OUT + ['--seed', '-5'], '--seed', _model),
    (BLOCK + OUT + ['--seed', str(2 ** 32)], '--seed', _model),
    (BLOCK + OUT + ['--to', 'tvm'], '--to', _model),
    (['port', '--to', 'onnx', '--block', 'portmodel:build', '--input-shape', '2,4', '--out', '{box}/net.onnx',
      '--training'], '--training', _model),
    # --run
    (PORT + ['--run', '{box}/missing'] + OUT, '--run', _model),
    (PORT + ['--run', '{box}/file.txt'] + OUT, '--run', _user_file),
    (PORT + ['--run', '{box}'] + OUT, '--run', _model),
    (PORT + ['--run', ''] + OUT, '--run', _model),
    (PORT + ['--run', '{run}', '--params', '{box}/net.params'] + OUT, '--params', _model_and_run),
    (PORT + ['--run', '{run}', '--block', 'portmodel:build', '--input-shape', '2,4'] + OUT, '--block',
     _model_and_run),
    (PORT + ['--run', '{run}', '--input-shape', '2,x'] + OUT, '--input-shape', _model_and_run),
    (PORT + ['--run', '{run}', '--input-shape', '2,35:int32:28'] + OUT, '--input-shape', _model_and_run),  # no state
    (PORT + ['--run', '{run}'] + OUT, '--out', lambda box, run: (_existing('net.pt')(box, run), _a_run(box, run))[1]),
    (PORT + ['--run', '{run}'] + OUT, '--run', _tampered('params.npz', 'not parameters')),
    (PORT + ['--run', '{run}'] + OUT, '--run', _tampered('config.json', '{"model": "lstm"}')),
]


def case_id(i, argv):
    text = ' '.join(a if len(a) < 40 else a[:20] + '...' for a in argv[1:])
    return f'{i:02d} {text}'


@pytest.fixture
def sandboxed_imports(monkeypatch):
    """Imports of the sandbox's modules write no bytecode there and are forgotten afterwards."""
    monkeypatch.setattr(sys, 'dont_write_bytecode', True)
    yield
    for name in MODULES:
        sys.modules.pop(name, None)


@pytest.mark.parametrize('argv, option, setup', PORT_ERRORS,
                         ids=[case_id(i, a) for i, (a, _, _) in enumerate(PORT_ERRORS)])
def test_bad_port_input_is_one_line_naming_the_option_and_changes_nothing(argv, option, setup, short_run, tmp_path,
                                                                          monkeypatch, capsys, sandboxed_imports):
    check_error_path(argv, option, setup, short_run[0], tmp_path / 'box', monkeypatch, capsys)


def test_a_missing_target_framework_is_named_after_the_block_is_checked(tmp_path, monkeypatch, capsys,
                                                                        sandboxed_imports):
    from parity import frameworks
    monkeypatch.setattr(frameworks, 'available', lambda name: False)
    check_error_path(BLOCK + OUT, '--to', _model, None, tmp_path / 'box', monkeypatch, capsys)


def test_the_error_path_check_catches_planted_bugs_in_the_port_command(short_run, tmp_path, monkeypatch, capsys,
                                                                       sandboxed_imports):
    """Meta-test: the table's check fails when the port command blames the wrong option, skips the
    check of --out, or lets a traceback through."""
    real_load = port_cli.load_params

    def blamed_on_the_shapes(block, loaded, path):  # --params mapped to --input-shape, as it once was
        try:
            real_load(block, loaded, path)
        except ConfigError as err:
            raise ConfigError('input_shape', str(err)) from None

    with monkeypatch.context() as planted:
        planted.setattr(port_cli, 'load_params', blamed_on_the_shapes)
        with pytest.raises(AssertionError):
            check_error_path(BLOCK + ['--params', '{box}/net.params'] + OUT, '--params', _saved('wider'),
                             short_run[0], tmp_path / 'a', planted, capsys)
    with monkeypatch.context() as planted:
        planted.setattr(files, 'check_output', lambda path, subject, force=False, **kwargs: path)
        with pytest.raises(AssertionError):
            check_error_path(BLOCK + OUT, '--out', _existing('net.pt'), short_run[0], tmp_path / 'b', planted,
                             capsys)
    with monkeypatch.context() as planted:
        planted.setattr(port_cli, '_first_line', lambda err: traceback.format_exc())
        with pytest.raises(AssertionError):
            check_error_path(PORT + ['--block', 'portmodel:boom', '--input-shape', '2,4'] + OUT, '--block', _model,
                             short_run[0], tmp_path / 'c', planted, capsys)


def test_port_help_says_what_it_writes_and_that_it_keeps_existing_files(capsys):
    assert exit_status(['port', '--help']) == 0
    text = ' '.join(capsys.readouterr().out.split())
    for words in ('OUT.graph.json', 'PATH.graph.json', '.onnx', '--force', 'refused unless --force',
                  'float16, float32, float64'):
        assert words in text, words


def test_an_onnx_save_replaces_a_link_planted_at_its_temporary_name_without_following_it(tmp_path, monkeypatch):
    """``parity.port.onnx.save`` writes through a private temporary: a symlink at ``OUT.tmp`` is
    neither followed nor removed, and a user's own ``OUT.tmp`` is kept."""
    from parity.port import onnx as onnx_port
    model = types.SimpleNamespace(SerializeToString=lambda: b'the onnx model')
    monkeypatch.setattr(onnx_port, '_onnx', lambda: None)
    monkeypatch.setattr(onnx_port, 'to_onnx', lambda block, *inputs, **options: model)
    monkeypatch.setattr(onnx_port, 'compare', lambda *args, **kwargs: types.SimpleNamespace(ok=True))
    victim = tmp_path / 'victim.txt'
    victim.write_text('precious')
    out = tmp_path / 'net.onnx'
    (tmp_path / 'net.onnx.tmp').symlink_to(victim)
    onnx_port.save(None, str(out))
    assert out.read_bytes() == b'the onnx model' and not out.is_symlink()
    assert victim.read_text() == 'precious' and os.readlink(tmp_path / 'net.onnx.tmp') == str(victim)
    (tmp_path / 'net.onnx.tmp').unlink()
    (tmp_path / 'net.onnx.tmp').write_text('the user\'s own file')
    onnx_port.save(None, str(out))
    assert (tmp_path / 'net.onnx.tmp').read_text() == 'the user\'s own file'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['net.onnx', 'net.onnx.tmp', 'victim.txt']


def test_a_failed_write_leaves_the_target_and_no_temporary(tmp_path):
    out = tmp_path / 'net.weights.h5'
    out.write_text('the old weights')
    with pytest.raises(OSError):
        with files.atomic_path(out, suffix='.weights.h5') as tmp:
            assert tmp.endswith('.weights.h5') and os.path.dirname(tmp) == str(tmp_path)
            raise OSError(28, 'No space left on device')
    with pytest.raises(RuntimeError):
        with files.atomic_open(out) as f:
            f.write(b'half')
            raise RuntimeError('interrupted')
    assert out.read_text() == 'the old weights' and [p.name for p in tmp_path.iterdir()] == ['net.weights.h5']


def test_a_writer_that_takes_a_file_name_replaces_a_planted_link_and_keeps_its_target(tmp_path):
    victim = tmp_path / 'victim.txt'
    victim.write_text('precious')
    out = tmp_path / 'net.weights.h5'
    out.symlink_to(victim)
    with files.atomic_path(out, suffix='.weights.h5') as tmp:
        with open(tmp, 'wb') as f:
            f.write(b'new weights')
    assert out.read_bytes() == b'new weights' and not out.is_symlink() and victim.read_text() == 'precious'


def test_a_long_output_name_keeps_its_temporary_within_the_name_limit(tmp_path):
    out = tmp_path / ('w' * 250)
    files.atomic_write(out, 'fits')
    assert out.read_text() == 'fits'
