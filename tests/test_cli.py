"""The gluon-d2l command line: artefacts, predict, resume, any corpus, and every bad input as one line."""
import json
import os
import pathlib
import shlex
import shutil
import signal
import subprocess
import sys
import time

import numpy as onp
import pytest

from cli_support import (SMALL, TRAIN, _a_run, _config_with, _corpora, _damage_every_checkpoint, _env_is_a_file,
                         _env_tampered, _no_checkpoints, _nothing, _offline, _params_bomb, _tampered,
                         _tampered_states, _user_dir, _user_file, check_error_path, exit_status, gluon_d2l,
                         _corpus_changed, _environ, _special_in_run, _states_with_lr)
from gluon_d2l.program import cli


def test_train_writes_every_artefact(short_run):
    out, stdout = short_run
    for name in ('config.json', 'vocab.json', 'metrics.jsonl', 'perplexity.png', 'params.npz', 'samples.json',
                 'history.jsonl', '.gluon-d2l-run'):
        assert (out / name).is_file(), name
    rows = [json.loads(line) for line in (out / 'metrics.jsonl').read_text().splitlines()]
    assert [r['epoch'] for r in rows] == [1, 2, 3]
    assert all(set(r) == {'epoch', 'perplexity', 'tokens_per_sec', 'seconds', 'skipped_steps'} for r in rows)
    config = json.loads((out / 'config.json').read_text())
    assert (config['hiddens'], config['batch_size'], config['num_steps']) == (48, 8, 10)
    assert json.loads((out / 'vocab.json').read_text())[0] == '<unk>'
    assert (out / 'perplexity.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert sorted(p.name for p in (out / 'checkpoints').iterdir()) == ['epoch-00002', 'epoch-00003']
    lines = stdout.splitlines()
    assert lines[0].startswith('perplexity ') and ' tokens/sec on cpu(0)' in lines[0]
    assert lines[1].startswith('time traveller') and lines[2].startswith('traveller')


def test_predict_reproduces_the_text_train_printed(short_run):
    out, stdout = short_run
    for prefix, printed in zip(('time traveller', 'traveller'), stdout.splitlines()[1:3]):
        done = gluon_d2l('predict', '--run', str(out), '--prefix', prefix, '--num-preds', '50')
        assert done.returncode == 0, done.stderr
        assert done.stdout.rstrip('\n') == printed


def test_sampling_is_reproducible_with_a_seed(short_run):
    out, _ = short_run
    args = ('predict', '--run', str(out), '--temperature', '1.5', '--seed', '7', '--num-preds', '40')
    first, second = gluon_d2l(*args), gluon_d2l(*args)
    assert first.returncode == 0 and first.stdout == second.stdout
    assert len(first.stdout.rstrip('\n')) == len('time traveller') + 40


def _wait_for_epochs(path, n, proc, limit=120):
    deadline = time.time() + limit
    while time.time() < deadline and proc.poll() is None:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f'training did not reach epoch {n}')


def _default_ctrl_c():
    """A shell starts background jobs with SIGINT ignored and Python keeps that; restore what a terminal gives."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_resume_after_ctrl_c_matches_an_uninterrupted_run(tmp_path):
    args = ['--epochs', '6', '--hiddens', '256', '--max-tokens', '6000', '--seed', '3']
    whole = gluon_d2l('train', '--out', str(tmp_path / 'whole'), *args)
    assert whole.returncode == 0, whole.stderr

    cut = tmp_path / 'cut; echo $HOME'
    proc = subprocess.Popen([sys.executable, '-m', 'gluon_d2l', 'train', '--out', str(cut), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_ctrl_c)
    _wait_for_epochs(cut / 'metrics.jsonl', 2, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.fail('the run finished before the interrupt arrived; make it longer')
    assert proc.returncode == cli.EXIT_INTERRUPTED, stderr
    assert f'gluon-d2l train --resume {shlex.quote(str(cut))}' in stderr and 'Traceback' not in stderr
    assert not (cut / 'params.npz').exists()

    resumed = gluon_d2l('train', '--resume', str(cut))
    assert resumed.returncode == 0, resumed.stderr
    with onp.load(tmp_path / 'whole' / 'params.npz') as a, onp.load(cut / 'params.npz') as b:
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:
            onp.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert resumed.stdout.splitlines()[1:] == whole.stdout.splitlines()[1:], 'same predictions'

    def curve(run):
        return [(r['epoch'], r['perplexity']) for r in map(json.loads, (run / 'metrics.jsonl').open())]
    assert curve(cut) == curve(tmp_path / 'whole') and len(curve(cut)) == 6


# (argv with {names} for the sandbox's paths, the option named, sandbox set-up)
ERRORS = [
    (TRAIN + ['--device', 'tpu:0', '--out', '{box}/r'], '--device', _nothing),
    (TRAIN + ['--device', 'gpu:7', '--out', '{box}/r'], '--device', _nothing),
    (TRAIN + ['--device', 'cpu:100000000', '--out', '{box}/r'], '--device', _nothing),
    (TRAIN + ['--device', 'cpu,cpu', '--out', '{box}/r'], '--device', _nothing),
    (TRAIN + ['--batch-size', '0', '--out', '{box}/r'], '--batch-size', _nothing),
    (TRAIN + ['--num-steps', '-3', '--out', '{box}/r'], '--num-steps', _nothing),
    (TRAIN + ['--hiddens', 'many', '--out', '{box}/r'], '--hiddens', _nothing),
    (TRAIN + ['--hiddens', '10000000', '--out', '{box}/r'], '--hiddens', _nothing),
    (TRAIN + ['--epochs', '0', '--out', '{box}/r'], '--epochs', _nothing),
    (TRAIN + ['--lr', '-1', '--out', '{box}/r'], '--lr', _nothing),
    (TRAIN + ['--lr', 'nan', '--out', '{box}/r'], '--lr', _nothing),
    (TRAIN + ['--clip', '0', '--out', '{box}/r'], '--clip', _nothing),
    (TRAIN + ['--clip', 'inf', '--out', '{box}/r'], '--clip', _nothing),
    (TRAIN + ['--model', 'lstm', '--out', '{box}/r'], '--model', _nothing),
    (TRAIN + ['--embedding', '0', '--out', '{box}/r'], '--embedding', _nothing),
    (TRAIN + ['--embedding', 'wide', '--out', '{box}/r'], '--embedding', _nothing),
    (TRAIN + ['--activation', 'sigmoid', '--out', '{box}/r'], '--activation', _nothing),
    (TRAIN + ['--clip', 'off', '--out', '{box}/r'], '--clip', _nothing),
    (TRAIN + ['--clip', '-1', '--out', '{box}/r'], '--clip', _nothing),
    (TRAIN + ['--no-detach', '--random-iter', '--out', '{box}/r'], '--no-detach', _nothing),
    (TRAIN + ['--no-detach', '--max-tokens', '-1', '--hiddens', '4096', '--out', '{box}/r'], '--no-detach',
     _nothing),  # the attached graph of the whole book would not fit
    (['exercises', '--out', '{file}'], '--out', _user_file),
    (['exercises', '--out', '{box}/x', '--corpus', '{box}/missing.txt'], '--corpus', _nothing),
    (['exercises', '--out', '{box}/x', '--corpus', '{box}/short.txt'], '--corpus', _corpora),
    (['exercises', '--out', '{box}/x', '--readme', '{file}'], '--readme', _user_file),
    (['exercises', '--out', '{box}', '--render'], '--out', _nothing),
    (TRAIN + ['--kvstore', 'nccl', '--out', '{box}/r'], '--kvstore', _nothing),
    (TRAIN + ['--kvstore', 'dist_sync', '--out', '{box}/r'], '--kvstore', _nothing),  # not started by launch
    (TRAIN + ['--seed', '-1', '--out', '{box}/r'], '--seed', _nothing),
    (TRAIN + ['--max-tokens', '0', '--out', '{box}/r'], '--max-tokens', _nothing),
    (TRAIN + ['--model', 'scratch', '--device', 'cpu:0,cpu:1', '--out', '{box}/r'], '--model', _nothing),
    (TRAIN + ['--batch-size', '5', '--device', 'cpu:0,cpu:1', '--out', '{box}/r'], '--batch-size', _nothing),
    (TRAIN + ['--batch-size', '500', '--num-steps', '500', '--out', '{box}/r'], '--batch-size', _nothing),
    (TRAIN + ['--prefix', 'Time!', '--out', '{box}/r'], '--prefix', _nothing),
    (TRAIN + ['--out', ''], '--out', _nothing),
    (TRAIN + ['--out', '{file}'], '--out', _user_file),
    (TRAIN + ['--out', '{file}/sub'], '--out', _user_file),
    (TRAIN + ['--out', '{mine}'], '--out', _user_dir),
    (TRAIN + ['--out', '/proc/gluon-d2l-run'], '--out', _nothing),  # read-only even for root
    (TRAIN + ['--out', '{run}'], '--out', _a_run),
    (TRAIN + ['--corpus', '{box}/missing.txt', '--out', '{box}/r'], '--corpus', _corpora),
    (TRAIN + ['--corpus', '{box}/empty.txt', '--out', '{box}/r'], '--corpus', _corpora),
    (TRAIN + ['--corpus', '{box}/binary.txt', '--out', '{box}/r'], '--corpus', _corpora),
    (TRAIN + ['--corpus', '{box}/short.txt', '--out', '{box}/r'], '--batch-size', _corpora),
    (TRAIN + ['--out', '{box}/r'], 'GLUON_D2L_DATA', _env_is_a_file),
    (TRAIN + ['--out', '{box}/r'], 'GLUON_D2L_DATA', _env_tampered),
    (TRAIN + ['--out', '{box}/r'], 'GLUON_D2L_DATA', _offline),
    (['train', '--resume', '{box}/missing'], '--resume', _nothing),
    (['train', '--resume', '{mine}'], '--resume', _user_dir),
    (['train', '--resume', '{run}', '--hiddens', '64'], '--hiddens', _a_run),
    (['train', '--resume', '{run}', '--lr', '0.5'], '--lr', _a_run),
    (['train', '--resume', '{run}', '--model', 'concise'], '--model', _a_run),
    (['train', '--resume', '{run}', '--device', 'cpu:1'], '--device', _a_run),
    (['train', '--resume', '{run}', '--epochs', '5', '--clip', 'none'], '--clip', _a_run),
    (['train', '--resume', '{run}', '--epochs', '5', '--embedding', '8'], '--embedding', _a_run),
    (['train', '--resume', '{run}', '--epochs', '5', '--activation', 'relu'], '--activation', _a_run),
    (['train', '--resume', '{run}', '--epochs', '5', '--no-detach'], '--no-detach', _a_run),
    (['train', '--resume', '{run}', '--epochs', '2'], '--epochs', _a_run),
    (['train', '--resume', '{run}'], '--epochs', _a_run),
    (['train', '--resume', '{run}', '--out', '{box}/elsewhere'], '--out', _a_run),
    (['train', '--resume', '{run}', '--continue'], '--continue', _a_run),
    (TRAIN + ['--out', '{mine}', '--continue'], '--out', _user_dir),
    (TRAIN + ['--out', '{run}', '--continue'], '--out', _tampered('config.json', 'not json')),
    (['train', '--resume', '{run}', '--epochs', '5'], '--resume', _tampered('config.json', '{"hiddens": "48"}')),
    (['train', '--resume', '{run}', '--epochs', '5'], '--resume', _tampered('config.json', '[1, 2]')),
    (['train', '--resume', '{run}', '--epochs', '5'], '--resume', _tampered('config.json', 'not json')),
    (['train', '--resume', '{run}', '--epochs', '5'], '--resume',
     _tampered('config.json', _config_with(hiddens=10 ** 30))),
    (['train', '--resume', '{run}', '--epochs', '5'], '--resume', _tampered('config.json', _config_with(model='lstm'))),
    (['train', '--resume', '{run}', '--epochs', '5'], '--resume', _tampered('config.json', _config_with(extra=1))),
    (['train', '--resume', '{run}', '--epochs', '5'], '--resume', _tampered('config.json', _config_with(lr=True))),
    (['train', '--resume', '{run}', '--epochs', '5'], '--resume',
     _tampered('config.json', lambda p: p.write_text(p.read_text().replace('1.0', 'NaN', 1)))),
    (['train', '--resume', '{run}', '--epochs', '5'], '--resume', _tampered('vocab.json', '{"a": 1}')),
    (['train', '--resume', '{run}', '--epochs', '5'], '--resume', _damage_every_checkpoint),
    (['train', '--resume', '{run}', '--epochs', '5'], '--resume', _tampered_states),
    (['train', '--resume', '{run}', '--epochs', '5'], '--resume', _no_checkpoints),
    (['predict', '--run', '{box}', '--prefix', 'x'], '--run', _nothing),
    (['predict', '--run', '{run}', '--prefix', 'Time!'], '--prefix', _a_run),
    (['predict', '--run', '{run}', '--num-preds', '-1'], '--num-preds', _a_run),
    (['predict', '--run', '{run}', '--num-preds', '1000000000'], '--num-preds', _a_run),
    (['predict', '--run', '{run}', '--temperature', '0'], '--temperature', _a_run),
    (['predict', '--run', '{run}', '--temperature', '1', '--seed', '-1'], '--seed', _a_run),
    (['predict', '--run', '{run}', '--device', 'gpu:0'], '--device', _a_run),
    (['predict', '--run', '{run}', '--device', 'foo'], '--device', _a_run),
    (['predict', '--run', '{run}', '--device', 'cpu:0,cpu:1'], '--device', _a_run),
    (['predict', '--run', '{run}'], '--run', _tampered('config.json', _config_with(model='lstm'))),
    (['predict', '--run', '{run}'], '--run', _tampered('vocab.json', '["<unk>", "a", "a"]')),
    (['predict', '--run', '{run}'], '--run', _params_bomb),
    (TRAIN + ['--lr', '1e39', '--out', '{box}/r'], '--lr', _nothing),  # beyond float32
    (TRAIN + ['--lr', '1e-40', '--out', '{box}/r'], '--lr', _nothing),  # below float32's normal numbers
    (TRAIN + ['--clip', '1e39', '--out', '{box}/r'], '--clip', _nothing),
    (TRAIN + ['--corpus', '{box}', '--out', '{box}/r'], '--corpus', _nothing),
    (TRAIN + ['--out', '{box}/r'], 'OMP_NUM_THREADS', _environ(OMP_NUM_THREADS='abc')),
    (TRAIN + ['--out', '{box}/r'], 'OMP_NUM_THREADS', _environ(OMP_NUM_THREADS='4,2')),
    (TRAIN + ['--out', '{box}/r'], 'MXNET_OMP_MAX_THREADS', _environ(MXNET_OMP_MAX_THREADS='-5')),
    (['predict', '--run', '{box}'], 'MXNET_CPU_WORKER_NTHREADS', _environ(MXNET_CPU_WORKER_NTHREADS='0')),
    (TRAIN + ['--out', '{box}/r'], 'GLUON_D2L_DATA', _environ(GLUON_D2L_DATA='/nonexistent/data')),
    (TRAIN + ['--out', '{box}/r'], 'GLUON_D2L_DATA', _environ(GLUON_D2L_DATA='')),
    (['train', '--resume', '{run}', '--epochs', '5'], '--resume', _special_in_run('history.jsonl', 'symlink')),
    (['train', '--resume', '{run}', '--epochs', '5'], '--resume', _special_in_run('history.jsonl', 'hardlink')),
    (['train', '--resume', '{run}', '--epochs', '5'], '--resume', _special_in_run('metrics.jsonl', 'symlink')),
    (['train', '--resume', '{run}', '--epochs', '5'], '--resume', _special_in_run('config.json', 'fifo')),
    (['train', '--resume', '{run}', '--epochs', '5'], '--resume', _special_in_run('vocab.json', 'symlink')),
    (['train', '--resume', '{run}', '--epochs', '5'], '--resume', _states_with_lr(-50.0)),
    (['train', '--resume', '{run}', '--epochs', '5'], '--resume', _corpus_changed),
    (['predict', '--run', '{run}'], '--run', _special_in_run('params.npz', 'fifo')),
    (['predict', '--run', '{run}'], '--run', _special_in_run('vocab.json', 'fifo')),
    (['predict', '--run', '{run}'], '--run', _special_in_run('config.json', 'symlink')),
    (['predict', '--run', '{run}'], '--run', _special_in_run('samples.json', 'fifo')),
    (['predict', '--run', '{run}'], '--run', _tampered('samples.json', '[1, 2]')),
    (['predict', '--run', '{run}'], '--run', _tampered('samples.json', '{"time": 3}')),
    (['predict', '--run', '{run}', '--temperature', 'nan'], '--temperature', _a_run),
    (['predict', '--run', '{run}', '--seed', '5'], '--seed', _a_run),
    (['launch', '-n', '2'], 'launch', _nothing),
    (['launch', '-n', '2', '--', 'train', '--out', '{box}/r'], 'launch', _nothing),
    (['launch', '-n', '0', '--', 'train'], '--workers', _nothing),
    (['launch', '-n', '1', '--timeout', '-5', '--', 'train'], '--timeout', _nothing),
    (['launch', '-n', '65', '--', 'train', '--kvstore', 'dist_sync'], '--workers', _nothing),
    (['launch', '-n', '1', '-s', '0', '--', 'train', '--kvstore', 'dist_sync'], '--servers', _nothing),
    (['launch', '-n', '1', '--timeout', 'nan', '--', 'train', '--kvstore', 'dist_sync'], '--timeout', _nothing),
    (['launch', '-n', '1', '--', 'predict', '--run', '{run}'], 'launch', _a_run),
    (['launch', '-n', '1', '--', 'train', '--kvstore', 'device'], 'launch', _nothing),
    (['launch', '-n', '2', '--', 'train', '--kvstore', 'dist_sync', '--hiddens', '0', '--out', '{box}/r'], '--hiddens',
     _nothing),
    (['launch', '-n', '2', '--', 'train', '--kvstore', 'dist_sync', '--model', 'scratch', '--out', '{box}/r'],
     '--kvstore', _nothing),
    (['launch', '-n', '2', '--', 'train', '--kvstore', 'dist_sync', '--out', '{run}'], '--out', _a_run),
    (['launch', '-n', '2', '--', 'train', '--kvstore', 'dist_sync', '--out', '{mine}'], '--out', _user_dir),
    (['launch', '-n', '2', '--', 'train', '--kvstore', 'dist_sync', '--resume', '{run}'], 'launch', _a_run),
]


def case_id(i, argv):
    return f'{i:02d} ' + ' '.join(argv[len(TRAIN):] if argv[:len(TRAIN)] == TRAIN else argv)


@pytest.mark.parametrize('argv, option, setup', ERRORS, ids=[case_id(i, a) for i, (a, _, _) in enumerate(ERRORS)])
def test_bad_input_is_one_line_naming_the_option_and_changes_nothing(argv, option, setup, short_run, tmp_path,
                                                                     monkeypatch, capsys):
    check_error_path(argv, option, setup, short_run[0], tmp_path / 'box', monkeypatch, capsys)


def test_the_error_path_check_catches_a_wrong_option_and_a_touched_user_directory(short_run, tmp_path, monkeypatch,
                                                                                  capsys):
    """Meta-test: planted bugs that the table's check must catch."""
    from gluon_d2l.program import jobs, rundir
    with monkeypatch.context() as planted:
        planted.setattr(cli, '_option', lambda err, args: '--run')  # every error blames --run
        with pytest.raises(AssertionError, match='--run'):
            check_error_path(TRAIN + ['--hiddens', '0', '--out', '{box}/r'], '--hiddens', _nothing, short_run[0],
                             tmp_path / 'a', planted, capsys)
    with monkeypatch.context() as planted:
        for module in (rundir, jobs):  # no look before creating the run, and a create that checks nothing
            planted.setattr(module, 'check_new', lambda path: None)
        planted.setattr(rundir.RunDir, 'create', classmethod(lambda cls, path: cls(pathlib.Path(path))))
        with pytest.raises(AssertionError, match='touched|assert 0 == 2'):
            check_error_path(TRAIN + ['--out', '{mine}'], '--out', _user_dir, short_run[0], tmp_path / 'b', planted,
                             capsys)


def test_help_explains_every_train_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(['train', '--help'])
    text = capsys.readouterr().out
    for option in ('--model', '--epochs', '--lr', '--batch-size', '--num-steps', '--hiddens', '--random-iter',
                   '--clip', '--device', '--seed', '--out', '--resume', '--corpus', '--prefix', '--max-tokens',
                   '--kvstore', '--log-every', '--checkpoint-every', '--embedding', '--activation', '--no-detach',
                   '--continue'):
        assert option in text
    assert 'seeds' not in text


def strict_rows(path):
    """Every line of metrics.jsonl as strict JSON (NaN and Infinity are refused)."""
    def refuse(name):
        raise ValueError(f'{name} is not JSON')
    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


def test_any_utf8_corpus_trains_and_samples_from_its_own_words(tmp_path):
    corpus = tmp_path / 'zen.txt'
    corpus.write_text('Bob bakes bread; Ada adds data. ' * 60 + 'Ünïcode ✓ ok\n', encoding='utf-8')
    done = gluon_d2l('train', '--corpus', str(corpus), '--out', str(tmp_path / 'run'), '--epochs', '2', *SMALL)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith('perplexity ')
    assert lines[1].startswith('bob bakes') and lines[2].startswith('bob') and len(lines) == 3
    given = gluon_d2l('train', '--corpus', str(corpus), '--out', str(tmp_path / 'run2'), '--epochs', '1',
                      '--prefix', 'ada', '--prefix', 'data', *SMALL)
    assert given.returncode == 0, given.stderr
    assert [line.split()[0] for line in given.stdout.splitlines()[1:]] == ['ada', 'data']
    predicted = gluon_d2l('predict', '--run', str(tmp_path / 'run'), '--num-preds', '5')
    assert predicted.returncode == 0 and predicted.stdout.startswith('bob bakes'), predicted.stderr


def test_a_diverging_run_ends_with_json_metrics_and_reports_skipped_steps(tmp_path):
    done = gluon_d2l('train', '--lr', '3e38', '--epochs', '2', '--out', str(tmp_path / 'run'), *SMALL)
    assert done.returncode == 0, done.stderr
    rows = strict_rows(tmp_path / 'run' / 'metrics.jsonl')
    assert len(rows) == 2
    skipped = sum(r['skipped_steps'] for r in rows)
    assert skipped > 0 and any(r['perplexity'] is None for r in rows), rows
    assert f'{skipped} steps were skipped' in done.stderr and 'steps skipped (non-finite gradient)' in done.stderr
    sampled = gluon_d2l('predict', '--run', str(tmp_path / 'run'), '--temperature', '1', '--seed', '3')
    assert sampled.returncode == 0 and sampled.stdout.startswith('time traveller'), sampled.stderr
    big = gluon_d2l('train', '--lr', '1000', '--epochs', '1', '--out', str(tmp_path / 'big'), *SMALL)
    assert big.returncode == 0 and 'Traceback' not in big.stderr, big.stderr
    strict_rows(tmp_path / 'big' / 'metrics.jsonl')


def test_the_exercise_options_round_trip_through_config_checkpoints_resume_and_predict(tmp_path):
    """--embedding, --activation, --clip none and --no-detach are saved, resumed with, and predicted with."""
    out = tmp_path / 'run'
    options = ['--model', 'hybrid', '--embedding', '6', '--activation', 'relu', '--clip', 'none', '--no-detach']
    done = gluon_d2l('train', '--epochs', '2', '--out', str(out), *SMALL, *options)
    assert done.returncode == 0, done.stderr
    config = json.loads((out / 'config.json').read_text())
    assert (config['embedding'], config['activation'], config['clip'], config['detach']) == (6, 'relu', None, False)
    params = onp.load(out / 'params.npz')
    assert any(params[name].shape == (len(json.loads((out / 'vocab.json').read_text())), 6) for name in params.files)
    done = gluon_d2l('train', '--resume', str(out), '--epochs', '3')
    assert done.returncode == 0, done.stderr
    assert json.loads((out / 'config.json').read_text()) == dict(config, epochs=3)
    assert [r['epoch'] for r in strict_rows(out / 'metrics.jsonl')] == [1, 2, 3]
    printed = done.stdout.splitlines()[1]
    done = gluon_d2l('predict', '--run', str(out), '--prefix', 'time traveller')
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip('\n') == printed  # the same model, rebuilt from config.json


def test_resume_may_raise_the_epochs_and_records_it(short_run, tmp_path):
    run = tmp_path / 'run'
    shutil.copytree(short_run[0], run)
    done = gluon_d2l('train', '--resume', str(run), '--epochs', '4', '--log-every', '1')
    assert done.returncode == 0, done.stderr
    assert json.loads((run / 'config.json').read_text())['epochs'] == 4
    assert [r['epoch'] for r in strict_rows(run / 'metrics.jsonl')] == [1, 2, 3, 4]
    history = [json.loads(line) for line in (run / 'history.jsonl').read_text().splitlines()]
    assert history[0]['event'] == 'start' and history[1] == dict(event='resume', epoch=3, changed=dict(
        epochs=[3, 4], log_every=[10, 1]))


def test_a_torn_last_metrics_line_does_not_block_resume(short_run, tmp_path):
    run = tmp_path / 'run'
    shutil.copytree(short_run[0], run)
    with open(run / 'metrics.jsonl', 'a') as f:
        f.write('{"epoch": 4, "perpl')
    done = gluon_d2l('train', '--resume', str(run), '--epochs', '4')
    assert done.returncode == 0, done.stderr
    assert [r['epoch'] for r in strict_rows(run / 'metrics.jsonl')] == [1, 2, 3, 4]


def test_a_second_trainer_on_the_same_run_is_refused_while_the_first_goes_on(tmp_path):
    out = tmp_path / 'run'
    first = subprocess.Popen([sys.executable, '-m', 'gluon_d2l', 'train', '--out', str(out), '--epochs', '40', *SMALL],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_epochs(out / 'metrics.jsonl', 1, first)
    for argv in (['train', '--resume', str(out), '--epochs', '50'], ['train', '--out', str(out)]):
        second = gluon_d2l(*argv)
        assert second.returncode == 2, second.stderr
        assert ('in use by another' in second.stderr or 'already holds a run' in second.stderr), second.stderr
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert [r['epoch'] for r in strict_rows(out / 'metrics.jsonl')] == list(range(1, 41))


def test_importing_the_library_loads_neither_the_program_nor_parity():
    code = ('import sys, gluon_d2l, gluon_d2l.data, gluon_d2l.models, gluon_d2l.training, gluon_d2l.layers, '
            'gluon_d2l.devices, gluon_d2l.counters, gluon_d2l.checks, gluon_d2l.numpy_compat; '
            'print(sorted(m for m in sys.modules if m == "parity" or m.startswith(("parity.", "gluon_d2l.program"))))')
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '[]'


def test_train_loads_no_plugin_and_the_plugins_are_registered(monkeypatch):
    loaded = []
    monkeypatch.setattr(cli, 'plugin_entry_points', lambda: {'parity': type('EP', (), {
        'load': lambda self: (lambda sub: loaded.append(sub.add_parser('parity')))})()})
    cli.build_parser(['train', '--epochs', '1'])
    assert loaded == []
    cli.build_parser(['parity', '--help'])
    assert len(loaded) == 1


def test_the_installed_entry_points_name_the_parity_commands():
    import configparser
    setup = configparser.ConfigParser()
    setup.read(os.path.join(os.path.dirname(__file__), '..', 'setup.cfg'))
    lines = [line.strip() for line in setup['options.entry_points'][cli.PLUGIN_GROUP].strip().splitlines()]
    assert lines == ['parity = parity.cli:register', 'bench = parity.bench:register', 'port = parity.port.cli:register']
    found = cli.plugin_entry_points()
    if found:  # installed from this checkout (tox, CI): the metadata has the group
        assert {'parity', 'bench', 'port'} <= set(found)
        for name in ('parity', 'bench', 'port'):
            assert callable(found[name].load())


def test_a_full_disk_while_training_is_one_line_and_leaves_no_partial_file(tmp_path, monkeypatch, capsys):
    import errno
    from gluon_d2l.program import rundir

    def full(self, row):
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(rundir.RunDir, 'append_metric', full)
    out = tmp_path / 'run'
    assert exit_status(TRAIN + ['--out', str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f'gluon-d2l: error: --out {out}: No space left on device', err
    leftovers = [p.name for p in out.rglob('*') if p.name.startswith('.') and p.name != '.gluon-d2l-run']
    assert leftovers == [] and not (out / 'params.npz').exists()
    assert (out / 'perplexity.png').read_bytes()[:4] == b'\x89PNG'


def test_a_run_on_a_relative_corpus_resumes_from_another_directory_and_records_its_sha1(tmp_path):
    import hashlib
    (tmp_path / 'data').mkdir()
    corpus = tmp_path / 'data' / 'zen.txt'
    corpus.write_text('Bob bakes bread; Ada adds data. ' * 80, encoding='utf-8')
    train = subprocess.run([sys.executable, '-m', 'gluon_d2l', 'train', '--corpus', 'data/zen.txt', '--out', 'run',
                            '--epochs', '1', *SMALL], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, PYTHONWARNINGS='ignore', PYTHONPATH=os.pathsep.join(sys.path)))
    assert train.returncode == 0, train.stderr
    config = json.loads((tmp_path / 'run' / 'config.json').read_text())
    assert config['corpus'] == str(corpus)
    assert config['corpus_sha1'] == hashlib.sha1(corpus.read_bytes()).hexdigest()
    resumed = gluon_d2l('train', '--resume', str(tmp_path / 'run'), '--epochs', '2')
    assert resumed.returncode == 0, resumed.stderr
    corpus.write_text('Bob bakes bread; Ada adds data! ' * 80, encoding='utf-8')
    changed = gluon_d2l('train', '--resume', str(tmp_path / 'run'), '--epochs', '3')
    assert changed.returncode == 2
    assert changed.stderr.startswith('gluon-d2l: error: --resume: ') and str(corpus) in changed.stderr, changed.stderr


def test_a_thread_variable_mxnet_would_abort_on_is_named_by_the_library_and_the_program():
    env = dict(os.environ, OMP_NUM_THREADS='abc')
    code = ('import gluon_d2l\ntry:\n    gluon_d2l.Vocab\nexcept ImportError as err:\n    print(err)')
    library = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, timeout=120)
    assert library.returncode == 0, library.stderr
    assert "OMP_NUM_THREADS='abc'" in library.stdout
    program = subprocess.run([sys.executable, '-m', 'gluon_d2l', 'predict', '--run', 'x'], env=env,
                             capture_output=True, text=True, timeout=120)
    assert program.returncode == 2
    assert program.stderr.startswith("gluon-d2l: error: OMP_NUM_THREADS: OMP_NUM_THREADS='abc'"), program.stderr


def test_continue_keeps_a_finished_run_and_resumes_an_unfinished_one(tmp_path):
    """What the main job (``tox -e train``) does when run again: nothing of the earlier run is lost."""
    out = tmp_path / 'main'
    first = gluon_d2l('train', '--epochs', '2', '--out', str(out), '--continue', *SMALL)
    assert first.returncode == 0, first.stderr
    kept = (out / 'params.npz').read_bytes()
    again = gluon_d2l('train', '--epochs', '2', '--out', str(out), '--continue', *SMALL)
    assert again.returncode == 0, again.stderr
    assert f'keeping the run in {out}' in again.stderr and f'training a new run in {out}-2' in again.stderr
    assert (out / 'params.npz').read_bytes() == kept and (tmp_path / 'main-2' / 'params.npz').is_file()
    (out / 'params.npz').unlink()  # as if it was stopped after its first epoch
    shutil.rmtree(out / 'checkpoints' / 'epoch-00002')
    resumed = gluon_d2l('train', '--epochs', '2', '--out', str(out), '--continue', *SMALL)
    assert resumed.returncode == 0, resumed.stderr
    assert f'resuming the unfinished run in {out}' in resumed.stderr
    assert [r['epoch'] for r in strict_rows(out / 'metrics.jsonl')] == [1, 2]
    other = gluon_d2l('train', '--epochs', '2', '--out', str(out), '--continue', *SMALL[:-1], '4000')
    assert other.returncode == 0 and f'training a new run in {out}-3' in other.stderr, other.stderr
