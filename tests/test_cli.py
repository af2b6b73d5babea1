"""The gluon-d2l command line: artefacts, predict, resume after an interruption, bad input."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as onp
import pytest

from gluon_d2l.program import cli

SMALL = ['--hiddens', '48', '--batch-size', '8', '--num-steps', '10', '--max-tokens', '3000']


def gluon_d2l(*args, timeout=300):
    """Run the CLI in a fresh process; return the CompletedProcess."""
    return subprocess.run([sys.executable, '-m', 'gluon_d2l', *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONWARNINGS='ignore'))


@pytest.fixture(scope='module')
def short_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('runs') / 'short'
    done = gluon_d2l('train', '--epochs', '3', '--out', str(out), *SMALL)
    assert done.returncode == 0, done.stderr
    return out, done.stdout


def test_train_writes_every_artefact(short_run):
    out, stdout = short_run
    for name in ('config.json', 'vocab.json', 'metrics.jsonl', 'perplexity.png', 'params.npz'):
        assert (out / name).is_file(), name
    rows = [json.loads(line) for line in (out / 'metrics.jsonl').read_text().splitlines()]
    assert [r['epoch'] for r in rows] == [1, 2, 3]
    assert all(set(r) == {'epoch', 'perplexity', 'tokens_per_sec', 'seconds'} for r in rows)
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

    cut = tmp_path / 'cut'
    proc = subprocess.Popen([sys.executable, '-m', 'gluon_d2l', 'train', '--out', str(cut), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_ctrl_c)
    _wait_for_epochs(cut / 'metrics.jsonl', 2, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.fail('the run finished before the interrupt arrived; make it longer')
    assert proc.returncode == cli.EXIT_INTERRUPTED, stderr
    assert f'gluon-d2l train --resume {cut}' in stderr and 'Traceback' not in stderr
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


BAD_INPUTS = [
    (['train', '--device', 'tpu:0'], '--device'),
    (['train', '--device', 'gpu:7'], '--device'),
    (['train', '--batch-size', '0'], '--batch-size'),
    (['train', '--num-steps', '-3'], '--num-steps'),
    (['train', '--hiddens', 'many'], '--hiddens'),
    (['train', '--epochs', '0'], '--epochs'),
    (['train', '--lr', '-1'], '--lr'),
    (['train', '--clip', '0'], '--clip'),
    (['train', '--model', 'lstm'], '--model'),
    (['train', '--batch-size', '500', '--num-steps', '500'], '--batch-size'),
    (['predict', '--run', '.', '--prefix', 'x'], '--run'),
    (['predict', '--num-preds', '0', '--run', '.'], '--num-preds'),
    (['predict', '--temperature', '0', '--run', '.'], '--temperature'),
]


def exit_status(argv):
    """Run the CLI in-process and return its exit status, however it exits."""
    try:
        return cli.main(argv)
    except SystemExit as stop:
        return stop.code


@pytest.mark.parametrize('argv, option', BAD_INPUTS, ids=[' '.join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_naming_the_option_with_status_2(argv, option, tmp_path, capsys):
    if argv[0] == 'train':
        argv = argv + ['--out', str(tmp_path / 'run')]
    assert exit_status(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith('gluon-d2l: error:') and option in err, err
    assert not (tmp_path / 'run' / 'params.npz').exists()


def test_corpus_errors_name_the_corpus_option(tmp_path, capsys):
    empty = tmp_path / 'empty.txt'
    empty.write_text('', encoding='utf-8')
    binary = tmp_path / 'binary.txt'
    binary.write_bytes(b'\x80\x81\x82' * 100)
    short = tmp_path / 'short.txt'
    short.write_text('a few words only', encoding='utf-8')
    for corpus, words in ((empty, 'no letters'), (binary, 'not UTF-8'), (short, 'need a corpus'),
                          (tmp_path / 'missing.txt', 'not a file')):
        code = exit_status(['train', '--corpus', str(corpus), '--out', str(tmp_path / corpus.stem)])
        err = capsys.readouterr().err.strip()
        assert code == 2 and words in err and len(err.splitlines()) == 1, err
        assert '--corpus' in err or '--batch-size' in err


def test_prefix_outside_the_vocabulary_and_existing_out_are_refused(short_run, capsys):
    out, _ = short_run
    assert exit_status(['predict', '--run', str(out), '--prefix', 'Time!']) == 2
    assert "--prefix" in capsys.readouterr().err
    assert exit_status(['train', '--out', str(out)]) == 2
    assert '--resume' in capsys.readouterr().err


def test_help_explains_every_train_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(['train', '--help'])
    text = capsys.readouterr().out
    for option in ('--model', '--epochs', '--lr', '--batch-size', '--num-steps', '--hiddens', '--random-iter',
                   '--clip', '--device', '--seed', '--out', '--resume', '--corpus'):
        assert option in text
