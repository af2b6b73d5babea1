"""The error-path check every command's table uses: exit 2, one line naming the option, nothing
outside the target changed, no process left; and the sandboxes the cases set up."""
import contextlib
import errno
import json
import os
import shutil
import stat
import subprocess
import sys

import numpy as onp

from gluon_d2l.program import cli

SMALL = ['--hiddens', '48', '--batch-size', '8', '--num-steps', '10', '--max-tokens', '3000']


def gluon_d2l(*args, timeout=300):
    """Run the CLI in a fresh process; return the CompletedProcess."""
    return subprocess.run([sys.executable, '-m', 'gluon_d2l', *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONWARNINGS='ignore'))


def exit_status(argv):
    """Run the CLI in-process and return its exit status, however it exits."""
    try:
        return cli.main(argv)
    except SystemExit as stop:
        return stop.code


def snapshot(root):
    """``{path: (kind, mtime, bytes or target or mode)}`` of everything under ``root`` (symlinks not followed)."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            if os.path.islink(path):
                state[path] = ('link', os.readlink(path))
            elif os.path.isdir(path):
                state[path] = ('dir', info.st_mode)
            elif not stat.S_ISREG(info.st_mode):  # a FIFO: reading it would wait for a writer
                state[path] = ('special', info.st_mode, info.st_mtime_ns)
            else:
                state[path] = ('file', info.st_mtime_ns, open(path, 'rb').read())
    return state


def child_processes():
    me = str(os.getpid())
    found = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    if f.read().rsplit(')', 1)[1].split()[1] == me:
                        found.append(int(entry))
            except (OSError, IndexError):
                continue
    return found


# --- how each case prepares the sandbox: returns the paths its argv refers to ----------------

def _user_dir(box, run):
    (box / 'mine').mkdir()
    (box / 'mine' / 'params.npz').write_bytes(b'my own parameters')
    (box / 'mine' / 'checkpoints').mkdir()
    (box / 'mine' / 'checkpoints' / 'epoch-00001').mkdir()
    (box / 'mine' / 'checkpoints' / 'epoch-00001' / 'notes.txt').write_text('keep me')
    return {'mine': box / 'mine'}


def _user_file(box, run):
    (box / 'file.txt').write_text('not a directory')
    return {'file': box / 'file.txt'}


def _corpora(box, run):
    (box / 'empty.txt').write_text('')
    (box / 'binary.txt').write_bytes(b'\x80\x81\x82' * 100)
    (box / 'short.txt').write_text('a few words only')
    return {}


def _a_run(box, run):
    shutil.copytree(run, box / 'run')
    return {'run': box / 'run'}


def _tampered(name, payload):
    def setup(box, run):
        paths = _a_run(box, run)
        target = box / 'run' / name
        target.write_text(payload) if isinstance(payload, str) else payload(target)
        return paths
    return setup


def _config_with(**changes):
    def payload(path):
        config = json.loads(path.read_text())
        config.update(changes)
        path.write_text(json.dumps(config))
    return payload


def _damage_every_checkpoint(box, run):
    paths = _a_run(box, run)
    for checkpoint in (box / 'run' / 'checkpoints').iterdir():
        params = checkpoint / 'params.npz'
        params.write_bytes(params.read_bytes()[:64])
    return paths


def _tampered_states(box, run):
    paths = _a_run(box, run)
    for checkpoint in (box / 'run' / 'checkpoints').iterdir():
        (checkpoint / 'state.json').write_text('{"epoch": "3", "files": [], "trainer": "sgd"}')
    return paths


def _no_checkpoints(box, run):
    paths = _a_run(box, run)
    shutil.rmtree(box / 'run' / 'checkpoints')
    return paths


def _params_bomb(box, run):
    import zipfile
    paths = _a_run(box, run)
    names = onp.load(run / 'params.npz').files
    with zipfile.ZipFile(box / 'run' / 'params.npz', 'w', zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            with archive.open(name + '.npy', 'w', force_zip64=True) as member:
                for _ in range(64):
                    member.write(bytes(1 << 20))
    return paths


def _env_is_a_file(box, run):
    (box / 'data').write_text('a file, not a directory')
    return {'env': box / 'data'}


def _env_tampered(box, run):
    (box / 'data').mkdir()
    (box / 'data' / 'timemachine.txt').write_text('not the book')
    return {'env': box / 'data'}


def _offline(box, run):
    return {'env': box / 'nowhere', 'offline': True}


def _nothing(box, run):
    return {}


def _environ(**variables):
    def setup(box, run):
        return {'environ': variables}
    return setup


def _special_in_run(name, kind):
    """A run whose ``name`` is a FIFO, or a symlink / hard link to the user's ``victim.txt``."""
    def setup(box, run):
        paths = _a_run(box, run)
        target = box / 'run' / name
        if target.exists():
            target.unlink()
        (box / 'victim.txt').write_text('the user\'s own file\n')
        if kind == 'fifo':
            os.mkfifo(target)
        elif kind == 'symlink':
            target.symlink_to(box / 'victim.txt')
        else:
            os.link(box / 'victim.txt', target)
        return paths
    return setup


def _states_with_lr(lr):
    def setup(box, run):
        paths = _a_run(box, run)
        for checkpoint in (box / 'run' / 'checkpoints').iterdir():
            state = json.loads((checkpoint / 'state.json').read_text())
            state['trainer']['learning_rate'] = lr
            (checkpoint / 'state.json').write_text(json.dumps(state))
        return paths
    return setup


def _corpus_changed(box, run):
    """A run recorded as trained on ``corpus.txt``, which has changed since."""
    paths = _a_run(box, run)
    (box / 'corpus.txt').write_text('a corpus that is not the one the run started on\n' * 100)
    _config_with(corpus=str(box / 'corpus.txt'), corpus_sha1='0' * 40)(box / 'run' / 'config.json')
    return paths


TRAIN = ['train', '--hiddens', '16', '--batch-size', '4', '--num-steps', '5', '--max-tokens', '500', '--epochs', '1']


def check_error_path(argv, option, setup, run, box, monkeypatch, capsys):
    """Run one error case in the sandbox ``box``; fail unless it is exit 2 with one line naming ``option``,
    nothing in ``box`` changed (but the run's own marker) and no child process is left."""
    box.mkdir()
    monkeypatch.chdir(box)
    paths = setup(box, run)
    for name, value in paths.get('environ', {}).items():
        monkeypatch.setenv(name, value)
    if 'env' in paths:
        monkeypatch.setenv('GLUON_D2L_DATA', str(paths['env']))
        monkeypatch.setenv('XDG_CACHE_HOME', str(box / 'cache'))
    if paths.get('offline'):
        import mxnet.gluon.utils

        def offline(*args, **kwargs):
            raise OSError('network is unreachable')
        monkeypatch.setattr(mxnet.gluon.utils, 'download', offline)
    argv = [a.format(box=box, **{k: v for k, v in paths.items() if isinstance(v, os.PathLike)}) for a in argv]
    before, children = snapshot(box), set(child_processes())
    capsys.readouterr()
    assert exit_status(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith('gluon-d2l: error:'), err
    assert err.split(': ')[2].startswith(option), err
    assert 'Traceback' not in err
    after = snapshot(box)
    marker = os.path.join(str(box / 'run'), '.gluon-d2l-run')
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p) and p != marker)
    assert not changed, f'touched: {changed}'
    assert not set(child_processes()) - children, 'a child process is left running'


# --- a small disk, and a result of each command to read back -----------------------------------

@contextlib.contextmanager
def small_disk(directory, monkeypatch):
    """``directory`` as a 64 KiB tmpfs (as root), unmounted after the block; yields ``fill()``, which
    takes the disk's last free byte. Where mounting is not permitted, ``fill()`` makes every
    ``fsync`` fail with ENOSPC instead."""
    directory.mkdir()
    done = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', str(directory)],
                          capture_output=True, text=True)
    mounted = done.returncode == 0
    if not mounted and not any(word in done.stderr.lower() for word in ('permission', 'not permitted', 'superuser')):
        raise AssertionError(f'mount failed: {done.stderr}')

    def fill():
        if not mounted:
            def full(fd):
                raise OSError(errno.ENOSPC, 'No space left on device')
            monkeypatch.setattr(os, 'fsync', full)
            return
        with open(directory / 'filler', 'wb', buffering=0) as f:
            try:
                while True:
                    f.write(b'\0' * 1024)
            except OSError as err:
                assert err.errno == errno.ENOSPC, err
    try:
        yield fill
    finally:
        if mounted:
            subprocess.run(['umount', str(directory)], check=True)


def bench_result():
    """The ``--json`` of a measuring ``bench`` run, made up: five variants, one peer."""
    def row(name, speed, spread=1000):
        return dict(variant=name, tokens_per_sec=speed, min=speed - spread, max=speed + spread,
                    samples=[speed - spread, speed, speed + spread], rss_mib=None)
    rows = [row('d2l chapter scratch (imperative MXNet)', 20000), row('gluon_d2l hybrid', 70000),
            row('gluon_d2l concise', 90000), row('gluon_d2l concise (before: host read per step)', 95000),
            row('torch nn.RNN', 75000)]
    roofline = 100000
    for r in rows:
        r.update(vs_chapter=r['tokens_per_sec'] / 20000, vs_best_peer=r['tokens_per_sec'] / 75000,
                 vs_roofline=r['tokens_per_sec'] / roofline)
    machine = dict(cpu='Test CPU', cores=2, cores_usable=2, python='3.11', mxnet='1.9.1', numpy='1.23.5',
                   mxnet_blas=['BLAS_OPEN', 'MKLDNN'], thread_env={'OMP_NUM_THREADS': '2'},
                   loadavg_before=[0.1, 0, 0], loadavg_after=[1.9, 0, 0], peers={'torch': {'version': '2.13.0'}})
    return dict(rows=rows, machine=machine, epochs=3, repeats=5, tokens_per_epoch=8960, batch_size=32,
                num_steps=35, hiddens=512, gemm_gflops=200.0, roofline_tokens_per_sec=roofline,
                command='OMP_NUM_THREADS=2 gluon-d2l bench --epochs 3 --repeats 5')


def parity_result():
    """The ``--json`` of a parity run, made up: one case through torch in both dtypes."""
    item = dict(case='tensor_reduction', framework='torch', status='pass', abs_err=0.0, rel_err=0.0, tolerance=1e-6,
                detail='', outputs={})
    return dict(mode='live against MXNet', versions={'python': '3.11', 'torch': '2.13.0'},
                results=[dict(item, dtype='float64'), dict(item, dtype='float32')])


def markdown_with(begin, end, lines=40):
    """A Markdown file's text with a marked section between ``lines`` lines before and after."""
    before = ''.join(f'line {i} before the section\n' for i in range(lines))
    after = ''.join(f'line {i} after the section\n' for i in range(lines))
    return f'{before}{begin}\nold section\n{end}\n{after}'
