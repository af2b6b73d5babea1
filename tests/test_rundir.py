"""The run directory and the config: ownership, locking, atomic files, checkpoints, strict JSON."""
import errno
import json
import os
import zipfile

import mxnet as mx
import pytest
from hypothesis import given, strategies as st

from gluon_d2l.models import build_model
from gluon_d2l.program import checkpoints, config as config_module, jobs, rundir
from gluon_d2l.program.config import ConfigError, TrainConfig
from gluon_d2l.program.rundir import RunDir, RunDirError, RunExistsError


def small_net(hiddens=4):
    return build_model('hybrid', 5, hiddens, [mx.cpu()])


def state():
    return {'python_random': jobs._random_state()}


@pytest.fixture
def run(tmp_path):
    with RunDir.create(tmp_path / 'run') as opened:
        yield opened


def test_create_refuses_a_directory_that_is_not_a_run_and_touches_nothing(tmp_path):
    mine = tmp_path / 'mine'
    (mine / 'checkpoints' / 'epoch-00001').mkdir(parents=True)
    (mine / 'params.npz').write_bytes(b'mine')
    before = sorted(p.relative_to(mine) for p in mine.rglob('*'))
    with pytest.raises(RunDirError, match='not a gluon-d2l run'):
        RunDir.create(mine)
    assert sorted(p.relative_to(mine) for p in mine.rglob('*')) == before
    assert (mine / 'params.npz').read_bytes() == b'mine'
    with pytest.raises(RunDirError, match='empty path'):
        RunDir.create('')


def test_open_recognises_only_its_own_runs(tmp_path, run):
    run.close()
    with pytest.raises(RunExistsError):
        RunDir.create(run.path)
    RunDir.open(run.path).close()
    (tmp_path / 'other').mkdir()
    (tmp_path / 'other' / 'config.json').write_text('{}')
    with pytest.raises(RunDirError, match='not a gluon-d2l run'):
        RunDir.open(tmp_path / 'other')


def test_two_writers_cannot_share_a_run(run):
    with pytest.raises(RunDirError, match='in use'):
        RunDir.open(run.path)
    RunDir.open(run.path, lock=False)  # a reader (predict) is fine
    run.close()
    RunDir.open(run.path).close()


def test_checkpoints_compare_as_numbers_past_99999(run):
    net = small_net()
    for epoch in (99998, 99999, 100000, 100001):
        run.save_checkpoint(epoch, net, None, state())
    assert [e for e, _ in run.checkpoints()] == [100000, 100001]
    assert run.load_checkpoint(net, None)['epoch'] == 100001


def test_pruning_never_follows_a_symlink(tmp_path, run):
    outside = tmp_path / 'outside'
    (outside / 'epoch-00001').mkdir(parents=True)
    (outside / 'epoch-00001' / 'precious.txt').write_text('keep')
    root = run.path / 'checkpoints'
    root.mkdir()
    os.symlink(outside / 'epoch-00001', root / 'epoch-00000')
    net = small_net()
    for epoch in (1, 2, 3, 4):
        run.save_checkpoint(epoch, net, None, state())
    assert (root / 'epoch-00000').is_symlink() and (outside / 'epoch-00001' / 'precious.txt').exists()
    assert [e for e, _ in run.checkpoints()] == [3, 4]


def test_a_checkpoints_symlink_is_refused(tmp_path, run):
    outside = tmp_path / 'outside'
    (outside / 'epoch-00001').mkdir(parents=True)
    os.symlink(outside, run.path / 'checkpoints')
    with pytest.raises(RunDirError, match='symlink'):
        run.save_checkpoint(5, small_net(), None, state())
    assert (outside / 'epoch-00001').is_dir()


def test_a_file_in_checkpoints_is_left_alone_and_does_not_cost_a_checkpoint(run):
    net = small_net()
    run.save_checkpoint(1, net, None, state())
    root = run.path / 'checkpoints'
    (root / 'notes.txt').write_text('mine')
    (root / 'epoch-00009').write_text('a file with a checkpoint name')
    run.save_checkpoint(2, net, None, state())
    run.save_checkpoint(3, net, None, state())
    assert [e for e, _ in run.checkpoints()] == [2, 3]
    assert (root / 'notes.txt').read_text() == 'mine' and (root / 'epoch-00009').is_file()
    with pytest.raises(RunDirError, match='in the way'):
        run.save_checkpoint(9, net, None, state())
    assert [e for e, _ in run.checkpoints()] == [2, 3]


def test_every_checkpoint_damaged_refuses_to_resume(run):
    net = small_net()
    for epoch in (1, 2):
        run.save_checkpoint(epoch, net, None, state())
    for _, path in run.checkpoints():
        (path / 'params.npz').write_bytes(b'torn')
    with pytest.raises(RunDirError, match='every checkpoint'):
        run.load_checkpoint(net, None)


def test_a_full_disk_leaves_no_temporary_files(run, monkeypatch):
    net = small_net()
    run.save_checkpoint(1, net, None, state())

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(checkpoints.onp, 'savez', full)
    with pytest.raises(OSError):
        run.save_checkpoint(2, net, None, state())
    monkeypatch.undo()
    monkeypatch.setattr(rundir.os, 'fsync', full)
    with pytest.raises(OSError):
        run.write_json('config.json', {'a': 1})
    leftovers = [p for p in run.path.rglob('*') if p.name.startswith('.') and p.name != rundir.MARKER]
    assert leftovers == []
    assert [e for e, _ in run.checkpoints()] == [1] and not (run.path / 'config.json').exists()


def test_stale_temporaries_of_a_killed_writer_are_cleaned_on_open(run):
    stale = run.path / 'checkpoints' / '.tmp-abc'
    stale.mkdir(parents=True)
    (stale / 'params.npz').write_bytes(b'half')
    (run.path / '.metrics.jsonl-xyz.tmp').write_text('half')
    (run.path / 'checkpoints' / 'keep.txt').write_text('not ours to clean')
    run.close()
    RunDir.open(run.path).close()
    assert not stale.exists() and not (run.path / '.metrics.jsonl-xyz.tmp').exists()
    assert (run.path / 'checkpoints' / 'keep.txt').exists()


def test_a_torn_last_metrics_line_is_dropped_a_torn_middle_one_is_an_error(run):
    (run.path / 'metrics.jsonl').write_text('{"epoch": 1}\n{"epoch": 2}\n{"epo')
    with pytest.warns(UserWarning, match='torn'):
        assert [r['epoch'] for r in run.read_metrics(5)] == [1, 2]
    (run.path / 'metrics.jsonl').write_text('{"epoch": 1}\n{"epo\n{"epoch": 3}\n')
    with pytest.raises(RunDirError, match='line 2'):
        run.read_metrics(5)


def test_a_parameter_file_with_a_huge_member_is_refused_before_decompressing(tmp_path):
    net = small_net()
    path = tmp_path / 'bomb.npz'
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as archive:
        for name in checkpoints.named_arrays(net):
            with archive.open(name + '.npy', 'w', force_zip64=True) as member:
                member.write(bytes(1 << 24))
    assert path.stat().st_size < 1 << 20
    with pytest.raises(ValueError, match='more than shape'):
        checkpoints.load_params(net, path)


# --- TrainConfig -------------------------------------------------------------------------

def test_the_defaults_are_the_chapter_settings():
    c = TrainConfig()
    assert (c.epochs, c.lr, c.batch_size, c.num_steps, c.hiddens, c.clip, c.max_tokens, c.model) == \
        (500, 1.0, 32, 35, 512, 1.0, 10000, 'hybrid')


configs = st.builds(TrainConfig, model=st.sampled_from(config_module.MODEL_KINDS), epochs=st.integers(1, 10 ** 6),
                    lr=st.floats(1e-6, 1e6), batch_size=st.integers(1, 512), hiddens=st.integers(1, 4096),
                    random_iter=st.booleans(), seed=st.integers(0, config_module.MAX_SEED),
                    max_tokens=st.one_of(st.just(-1), st.integers(1, 10 ** 9)),
                    corpus=st.one_of(st.none(), st.text(max_size=20)))


@given(configs)
def test_json_round_trip(config):
    assert TrainConfig.from_json(config.to_json()) == config


TAMPERED = [
    ({'hiddens': '512'}, 'hiddens'), ({'hiddens': [512]}, 'hiddens'), ({'hiddens': 10 ** 40}, 'hiddens'),
    ({'hiddens': 512.0}, 'hiddens'), ({'epochs': True}, 'epochs'), ({'lr': 'fast'}, 'lr'),
    ({'model': 'lstm'}, 'model'), ({'device': 'cpu:99999999'}, 'device'), ({'seed': -1}, 'seed'),
    ({'random_iter': 1}, 'random_iter'), ({'corpus': 5}, 'corpus'), ({'surprise': 1}, 'surprise'),
    ({'max_tokens': 0}, 'max_tokens'), ({'kvstore': 'dist_async'}, 'kvstore'),
]


@pytest.mark.parametrize('change, field', TAMPERED, ids=[json.dumps(c) for c, _ in TAMPERED])
def test_a_tampered_config_is_refused_naming_the_field(change, field):
    data = dict(TrainConfig().to_dict(), **change)
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_json(json.dumps(data))
    assert info.value.subject == field


def test_nan_huge_floats_and_non_objects_are_refused():
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_json('{"lr": 1e400}')
    assert info.value.subject == 'lr'
    for text in ('{"lr": NaN}', '[1, 2]', '"config"', '{"hiddens": 1' + '0' * 5000 + '}'):
        with pytest.raises(ValueError):
            TrainConfig.from_json(text)


def test_a_missing_field_takes_its_default_and_a_field_is_one_line():
    assert TrainConfig.from_json('{"hiddens": 64}') == TrainConfig(hiddens=64)
    source = open(config_module.__file__).read()
    for name in TrainConfig.names():
        assert sum(line.strip().startswith(f'{name}: ') for line in source.splitlines()) == 1, name


def test_the_corpus_is_read_once_whatever_max_tokens_says(tmp_path, monkeypatch):
    from gluon_d2l import data
    corpus = tmp_path / 'big.txt'
    corpus.write_text('the quick brown fox jumps over the lazy dog\n' * 20000)
    calls = []
    original = data._clean_batches
    monkeypatch.setattr(data, '_clean_batches', lambda *a, **k: calls.append(a) or original(*a, **k))
    ids, vocab = jobs.load_corpus(TrainConfig(corpus=str(corpus), max_tokens=2000, batch_size=4, num_steps=5))
    assert len(calls) == 1 and len(ids) == 2000 and len(vocab) == 28


def test_a_create_that_loses_a_race_leaves_no_marker_behind(tmp_path, monkeypatch):
    mine = tmp_path / 'mine'
    mine.mkdir()
    (mine / 'notes.txt').write_text('mine')
    monkeypatch.setattr(rundir, 'check_new', lambda path: None)  # as if the files appeared after the look
    with pytest.raises(RunExistsError):
        RunDir.create(mine)
    assert sorted(p.name for p in mine.iterdir()) == ['notes.txt']


def test_a_ctrl_c_while_parameters_are_written_arrives_after_a_complete_file(tmp_path, monkeypatch):
    """The interrupt is held while numpy.savez writes, then raised: the file is whole, nothing half-written."""
    import signal
    import numpy
    net = build_model('hybrid', 28, 16, [mx.cpu()])
    real_savez = numpy.savez

    def interrupted_savez(f, **arrays):
        os.kill(os.getpid(), signal.SIGINT)       # Ctrl-C in the middle of the write
        real_savez(f, **arrays)
    monkeypatch.setattr(checkpoints.onp, 'savez', interrupted_savez)
    # Python's own Ctrl-C handler, even where this process was started with SIGINT ignored (a job of a
    # background shell): that is the handler a user's terminal gives the program
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            checkpoints.save_params(net, tmp_path / 'params.npz')
    finally:
        signal.signal(signal.SIGINT, previous)
    with numpy.load(tmp_path / 'params.npz') as saved:
        assert sorted(saved.files) == sorted(checkpoints.named_arrays(net))
    assert [p.name for p in tmp_path.iterdir()] == ['params.npz']
