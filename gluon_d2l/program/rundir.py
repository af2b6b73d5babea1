"""``RunDir``: the run directory a ``train`` job owns.

A run directory is recognised by its marker file ``.gluon-d2l-run``. ``RunDir.create``
makes a new one only where nothing is (a missing or empty directory) and refuses any
other path, so nothing of the user's is overwritten; ``RunDir.open`` opens only a
directory with the marker. A writer holds an exclusive ``fcntl`` lock on the marker for
its lifetime, so two trainers never share a run. Files are written through a
temporary file and a rename (a failed write leaves no temporary file behind).

Checkpoints are directories ``checkpoints/epoch-<n>`` (``n`` zero-padded to 5 digits
for reading, compared as an integer). Only real directories with that name are the
run's own: a symlink, a file or any other name in ``checkpoints/`` is never followed,
pruned or deleted, and ``checkpoints`` itself must not be a symlink. The newest
``KEEP`` are kept. ``metrics.jsonl`` has one JSON line per epoch; a torn last line
(a kill in the middle of an append) is dropped when the run is resumed.

Every file of the run is read and appended to as a regular file of its own (:mod:`.files`): a
symlink, a hard link to another file or a FIFO in its place is refused, naming the file.
"""
import errno
import fcntl
import io
import json
import os
import pathlib
import re
import shutil
import stat
import tempfile
import warnings

from . import checkpoints, files
from .config import ConfigError, TrainConfig, strict_json

MARKER = '.gluon-d2l-run'
MARKER_HEADER = 'gluon-d2l run directory'
CONFIG, VOCAB, METRICS, HISTORY, PLOT = 'config.json', 'vocab.json', 'metrics.jsonl', 'history.jsonl', 'perplexity.png'
CHECKPOINTS = 'checkpoints'
CHECKPOINT_NAME = re.compile(r'epoch-(\d{1,15})')
TEMP_PREFIX = '.tmp-'
KEEP = 2


class RunDirError(ConfigError):
    """A run directory that cannot be used as asked (subject ``run``: the option that named it)."""

    def __init__(self, message):
        super().__init__('run', message)


class RunExistsError(RunDirError):
    """A new run was asked for where a run already is."""


def _lstat(path):
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _is_real_dir(path):
    info = _lstat(path)
    return info is not None and stat.S_ISDIR(info.st_mode)


def _is_marked(path):
    info = _lstat(path / MARKER)
    if info is None or not stat.S_ISREG(info.st_mode):
        return False
    try:
        with open(path / MARKER, encoding='utf-8') as f:
            return f.readline().rstrip('\n') == MARKER_HEADER
    except (OSError, UnicodeDecodeError):
        return False


def _os_message(err):
    return err.strerror or str(err)


def check_new(path):
    """Raise ``RunDirError`` unless a new run may be created at ``path``; write nothing."""
    if str(path) == '':
        raise RunDirError('an empty path is not a directory')
    path = pathlib.Path(path)
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise RunDirError(f'{str(path)!r} exists and is not a directory')
        if _is_marked(path):
            raise RunExistsError(f'{str(path)!r} already holds a run')
        try:
            entries = os.listdir(path)
        except OSError as err:
            raise RunDirError(f'cannot read {str(path)!r}: {_os_message(err)}') from None
        if entries:
            raise RunDirError(f'{str(path)!r} is not empty and is not a gluon-d2l run directory; '
                              'nothing was written (choose a new or empty directory)')
    else:
        parent = next((p for p in path.absolute().parents if p.exists()), None)
        if parent is None or not parent.is_dir():
            raise RunDirError(f'cannot create {str(path)!r}: {str(parent)!r} is not a directory')
        if not os.access(parent, os.W_OK | os.X_OK):
            raise RunDirError(f'cannot create {str(path)!r}: {str(parent)!r} is not writable')


class RunDir:
    """An open run directory; a writer (``locked``) holds its lock until :meth:`close`."""

    def __init__(self, path, lock_fd=None):
        self.path = pathlib.Path(path)
        self._lock_fd = lock_fd

    # --- opening -----------------------------------------------------------------------

    @classmethod
    def create(cls, path):
        """Create a new run at ``path`` (missing or empty directory) and lock it."""
        check_new(path)
        path = pathlib.Path(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise RunDirError(f'cannot create {str(path)!r}: {_os_message(err)}') from None
        had_marker = _lstat(path / MARKER) is not None
        run = cls(path, cls._lock(path, create=True))
        try:
            others = [e for e in os.listdir(path) if e != MARKER]
            if others or _is_marked(path):
                raise RunExistsError(f'{str(path)!r} was taken by another process while this one started')
            run._write_marker()
        except BaseException:
            run.close()
            if not had_marker and not _is_marked(path):  # leave nothing behind in a directory that is not ours
                try:
                    os.unlink(path / MARKER)
                except OSError:
                    pass
            raise
        return run

    @classmethod
    def open(cls, path, lock=True):
        """Open an existing run; with ``lock``, as its only writer (and clean its stale temporaries)."""
        if str(path) == '':
            raise RunDirError('an empty path is not a run directory')
        path = pathlib.Path(path)
        if not path.is_dir():
            raise RunDirError(f'{str(path)!r} is not a directory')
        if not _is_marked(path):
            raise RunDirError(f'{str(path)!r} is not a gluon-d2l run directory (it has no {MARKER})')
        if not lock:
            return cls(path)
        run = cls(path, cls._lock(path, create=False))
        try:
            run._check_logs()
            run._write_marker()
            run._clean_temporaries()
        except BaseException:
            run.close()
            raise
        return run

    @staticmethod
    def _lock(path, create):
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_CREAT if create else 0)
        try:
            fd = os.open(path / MARKER, flags, 0o644)
        except OSError as err:
            raise RunDirError(f'cannot write in {str(path)!r}: {_os_message(err)}') from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                raise RunDirError(f'{str(path)!r} is in use by another gluon-d2l process') from None
            raise
        return fd

    def _write_marker(self):
        payload = f'{MARKER_HEADER}\nwriter pid {os.getpid()}\n'.encode()
        os.ftruncate(self._lock_fd, 0)
        os.pwrite(self._lock_fd, payload, 0)

    def _check_logs(self):
        """Refuse, before anything is written, logs that an append would not write as the run's own file."""
        for name in (METRICS, HISTORY):
            if os.path.lexists(self.path / name):
                self._append(name, None)

    def _clean_temporaries(self):
        """Remove what an earlier writer of this run left half-written (its own names only)."""
        for root in (self.path, self.path / CHECKPOINTS):
            if not _is_real_dir(root):
                continue
            for entry in os.listdir(root):
                target = root / entry
                if entry.startswith(TEMP_PREFIX) and _is_real_dir(target):
                    shutil.rmtree(target)
                elif entry.startswith('.') and entry.endswith('.tmp') and stat.S_ISREG(os.lstat(target).st_mode):
                    os.unlink(target)

    def close(self):
        """Release the lock."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- files ---------------------------------------------------------------------------

    def write_bytes(self, name, payload, directory=None):
        """Write ``payload`` to ``name`` atomically (temporary file, fsync, rename)."""
        files.atomic_write((self.path if directory is None else directory) / name, payload)

    def write_json(self, name, obj, directory=None):
        self.write_bytes(name, (json.dumps(obj, indent=2, allow_nan=False) + '\n').encode(), directory)

    def write_figure(self, fig, name=PLOT):
        """Save a matplotlib figure as PNG, atomically (no 0-byte file on a full disk)."""
        buffer = io.BytesIO()
        fig.savefig(buffer, format='png', dpi=100)
        self.write_bytes(name, buffer.getvalue())

    def _read(self, name):
        try:
            return files.read_text(self.path / name, 'run')
        except ConfigError as err:
            raise RunDirError(str(err)) from None

    def read_json(self, name):
        """A JSON file of the run, strictly parsed (``RunDirError`` if unreadable)."""
        try:
            return strict_json(self._read(name))
        except ValueError as err:
            raise RunDirError(f'{str(self.path / name)!r} is damaged: {err}') from None

    def read_config(self):
        """The run's ``TrainConfig`` (strictly checked)."""
        try:
            return TrainConfig.from_json(self._read(CONFIG))
        except ConfigError as err:
            raise RunDirError(f'{str(self.path / CONFIG)!r} is damaged: {err.subject}: {err}') from None
        except ValueError as err:
            raise RunDirError(f'{str(self.path / CONFIG)!r} is damaged: {err}') from None

    def read_vocab(self):
        """The run's vocabulary."""
        from ..data import Vocab
        try:
            tokens = strict_json(self._read(VOCAB))
            if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens) or len(tokens) > 1 << 20:
                raise ValueError('expected a list of strings')
            return Vocab.from_idx_to_token(tokens)
        except ValueError as err:
            raise RunDirError(f'{str(self.path / VOCAB)!r} is damaged: {err}') from None

    def read_metrics(self, upto):
        """The rows of ``metrics.jsonl`` up to epoch ``upto``; a torn last line is dropped."""
        if not (self.path / METRICS).exists():
            return []
        lines = self._read(METRICS).splitlines()
        rows = []
        for number, line in enumerate(lines, 1):
            try:
                row = strict_json(line)
                if not isinstance(row, dict) or type(row.get('epoch')) is not int:
                    raise ValueError('not a metrics row')
            except ValueError:
                if number == len(lines):
                    warnings.warn(f'{self.path / METRICS}: dropped a torn last line')
                    break
                raise RunDirError(f'{str(self.path / METRICS)!r} line {number} is damaged') from None
            rows.append(row)
        return [row for row in rows if row['epoch'] <= upto]

    def write_metrics(self, rows):
        self.write_bytes(METRICS, ''.join(json.dumps(row, allow_nan=False) + '\n' for row in rows).encode())

    def _append(self, name, row):
        """Append ``row`` as one JSON line (``None``: only check that ``name`` is the run's own file)."""
        try:
            with files.open_append(self.path / name, 'run') as f:
                if row is not None:
                    f.write(json.dumps(row, allow_nan=False) + '\n')
        except ConfigError as err:
            raise RunDirError(str(err)) from None

    def append_metric(self, row):
        self._append(METRICS, row)

    def append_history(self, entry):
        self._append(HISTORY, entry)

    # --- checkpoints ---------------------------------------------------------------------

    def _checkpoint_root(self, create=False):
        root = self.path / CHECKPOINTS
        info = _lstat(root)
        if info is None:
            if create:
                root.mkdir()
            return root
        if not stat.S_ISDIR(info.st_mode):
            raise RunDirError(f'{str(root)!r} is not a directory (a symlink or a file); '
                              'gluon-d2l keeps checkpoints only in its own directory')
        return root

    def checkpoints(self):
        """``[(epoch, path)]`` of the run's own checkpoints, oldest first."""
        root = self._checkpoint_root()
        if not root.exists():
            return []
        found = []
        for entry in os.listdir(root):
            match = CHECKPOINT_NAME.fullmatch(entry)
            if match and _is_real_dir(root / entry):
                found.append((int(match.group(1)), root / entry))
        return sorted(found)

    def save_checkpoint(self, epoch, net, trainer, state):
        """Write checkpoint ``epoch`` (parameters, trainer state, ``state``); keep the newest ``KEEP``."""
        root = self._checkpoint_root(create=True)
        final = root / f'epoch-{epoch:05d}'
        if _lstat(final) is not None and not _is_real_dir(final):
            raise RunDirError(f'{str(final)!r} is in the way and is not a checkpoint; move it away')
        tmp = pathlib.Path(tempfile.mkdtemp(dir=root, prefix=TEMP_PREFIX))
        try:
            checkpoints.save_params(net, tmp / checkpoints.PARAMS_FILE)
            files = {p.name: checkpoints.sha1(p) for p in tmp.iterdir()}
            self.write_json(checkpoints.STATE_FILE, dict(state, epoch=epoch, files=files,
                                                         trainer=checkpoints.trainer_state(trainer)), tmp)
            if _is_real_dir(final):
                shutil.rmtree(final)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        for _, old in self.checkpoints()[:-KEEP]:
            shutil.rmtree(old)
        return final

    def load_checkpoint(self, net, trainer, lr=None):
        """Restore the newest intact checkpoint; return its state, or ``None`` if there is none.

        A damaged checkpoint (one whose SGD state has another learning rate than ``lr``, the
        run's own, included) is skipped with a warning; when every one is damaged the run is
        refused (``RunDirError``) rather than retrained over its final results.
        """
        found = self.checkpoints()
        problems = []
        for epoch, path in reversed(found):
            try:
                state = checkpoints.read_state(path, epoch, lr)
                checkpoints.load_params(net, path / checkpoints.PARAMS_FILE)
            except (OSError, ValueError) as err:
                problems.append((path, err))
                continue
            for damaged, err in problems:
                warnings.warn(f'checkpoint {damaged} is damaged ({err}); resuming from {path.name}')
            checkpoints.restore_trainer(trainer, state['trainer'])
            return state
        if found:
            details = '; '.join(f'{p.name}: {err}' for p, err in problems)
            raise RunDirError(f'every checkpoint of {str(self.path)!r} is damaged ({details}); '
                              'refusing to resume over the run')
        return None
