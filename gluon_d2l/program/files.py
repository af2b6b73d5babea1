"""The files a command writes and reads, one set of rules for every command.

- :func:`check_output`: before any work, an output path is checked (its directory exists and is
  writable, it is not a directory, it has the expected suffix, and an existing file is kept unless
  the user said ``--force``). A bad path is a :class:`ConfigError` naming the option.
- :func:`atomic_write` / :func:`atomic_open` / :func:`atomic_path`: a private ``mkstemp`` temporary in
  the target's directory, ``fsync``, then a rename over the target; on any failure (a full disk, Ctrl-C)
  the temporary is removed and the target is left as it was. The target's name is replaced, never
  written through: a symlink planted at the target is replaced, not followed. :func:`atomic_path`
  serves writers that take a file name rather than a file object.
- :func:`check_directory`: before any work, an output directory is checked: an existing writable
  directory, or a missing one whose nearest existing ancestor is a writable directory.
- :func:`read_regular`: a file a command reads from a run directory or the user names is opened
  without blocking on a FIFO and must be a regular file; a symlink is not followed unless the
  caller asks (``follow=True``, for a file the user names on the command line).
- :func:`open_append`: appending to a run's own log refuses a symlink, a hard link or a special file.
- :func:`check_splice` / :func:`splice`: a generated section between two marker lines of a Markdown
  file, checked before any work and written through :func:`atomic_write`.
"""
import contextlib
import errno
import os
import pathlib
import stat
import tempfile

from .config import ConfigError

#: the most a command reads of a small file it is given (JSON, a README): far above any real one
MAX_SMALL_FILE = 64 << 20
#: how much of a target's name a temporary's name repeats (``.NAME-XXXXXXXX.tmp`` fits in NAME_MAX = 255)
TEMP_STEM_BYTES = 200


def _umask_mode():
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _strerror(err):
    return err.strerror or str(err)


def _temporary(path, suffix='.tmp'):
    """``(fd, name)`` of a new private temporary next to ``path``; its name stays within NAME_MAX."""
    path = pathlib.Path(path)
    stem = path.name.encode('utf-8', 'surrogateescape')[:TEMP_STEM_BYTES].decode('utf-8', 'ignore')
    return tempfile.mkstemp(dir=path.absolute().parent, prefix=f'.{stem}-', suffix=suffix)


def _check_writable(directory, path, subject):
    """``ConfigError(subject)`` unless a file can be created in ``directory``: permissions do not tell
    (root passes ``os.access`` on ``/proc``), so a private empty file is created there and removed."""
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(subject, f'{str(path)!r}: the directory {str(directory)!r} is not writable')
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix='.gluon-d2l-probe-')
    except OSError as err:
        raise ConfigError(subject, f'{str(path)!r}: cannot create a file in {str(directory)!r}: '
                                   f'{_strerror(err)}') from None
    os.close(fd)
    os.unlink(probe)


def check_output(path, subject, force=False, suffixes=None, what='file'):
    """Check that ``path`` may be written as an output of the option ``subject``; write nothing.

    Refused (``ConfigError(subject)``): an empty path or one that names a directory (``x/``), a
    missing or unwritable directory (a private temporary is created there and removed), a directory
    or special file at ``path``, a suffix outside ``suffixes``, and an existing file (a symlink
    too, never followed) unless ``force``. Returns ``path`` as a ``pathlib.Path``.
    """
    if path is None or str(path).strip() == '':
        raise ConfigError(subject, f'an empty path is not a {what}')
    raw = str(path)
    if '\0' in raw:
        raise ConfigError(subject, f'{raw!r}: a path cannot hold a NUL character')
    if raw.endswith(os.sep) or raw.rsplit(os.sep, 1)[-1] in ('.', '..'):
        raise ConfigError(subject, f'{raw!r} names a directory, not a {what}')
    path = pathlib.Path(path)
    if suffixes and not str(path).lower().endswith(tuple(suffixes)):
        raise ConfigError(subject, f'{str(path)!r}: expected a name ending in {" or ".join(suffixes)}')
    parent = path.absolute().parent
    if not parent.is_dir():
        raise ConfigError(subject, f'{str(path)!r}: no such directory {str(parent)!r}')
    _check_writable(parent, path, subject)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return path
    except OSError as err:  # a name too long for the file system, a loop of links
        raise ConfigError(subject, f'{str(path)!r}: {_strerror(err)}') from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(subject, f'{str(path)!r} is a directory')
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
        raise ConfigError(subject, f'{str(path)!r} exists and is not a regular file')
    if not force:
        raise ConfigError(subject, f'{str(path)!r} exists; give --force to replace it')
    return path


def check_directory(path, subject):
    """Check that ``path`` is a directory a command may write into, or may create; write nothing.

    Refused (``ConfigError(subject)``): an empty path, a file or special file at ``path`` or at one
    of its ancestors, and a directory (or the nearest existing ancestor of a missing one) that is not
    writable. Returns ``path`` as a ``pathlib.Path``.
    """
    if path is None or str(path).strip() == '':
        raise ConfigError(subject, 'an empty path is not a directory')
    path = pathlib.Path(path)
    probe = path.absolute()
    while not os.path.lexists(probe):
        probe = probe.parent
    if not probe.is_dir():
        where = '' if probe == path.absolute() else f' (its ancestor {str(probe)!r} is not a directory)'
        raise ConfigError(subject, f'{str(path)!r} is not a directory{where}')
    _check_writable(probe, path, subject)
    return path


@contextlib.contextmanager
def atomic_open(path, mode='wb', encoding=None):
    """A file object whose contents replace ``path`` when the block ends without an exception.

    The temporary file is private (``mkstemp``) in ``path``'s directory and takes the umask's
    permissions; it is ``fsync``'d before the rename and removed on failure.
    """
    path = pathlib.Path(path)
    fd, tmp = _temporary(path)
    try:
        os.fchmod(fd, _umask_mode())
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path, suffix='.tmp'):
    """The name of a private temporary file next to ``path`` for a writer that takes a file name (it
    may replace the empty file there); when the block ends without an exception the temporary is
    ``fsync``'d and renamed over ``path``, otherwise removed. ``suffix`` ends the temporary's name,
    for writers that insist on one (Keras: ``.weights.h5``)."""
    path = pathlib.Path(path)
    fd, tmp = _temporary(path, suffix)
    try:
        os.fchmod(fd, _umask_mode())
        os.close(fd)
        yield tmp
        fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, f'{tmp!r} is not a regular file after writing')
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write(path, data):
    """Replace ``path`` with ``data`` (``bytes``, or ``str`` written as UTF-8) atomically."""
    if isinstance(data, str):
        data = data.encode('utf-8')
    with atomic_open(path, 'wb') as f:
        f.write(data)


def open_regular(path, subject, flags=os.O_RDONLY, follow=False):
    """A file descriptor of the regular file ``path``, opened without blocking on a FIFO and, unless
    ``follow``, without following a symlink; ``ConfigError(subject)`` naming the file otherwise."""
    if path is None or str(path) == '' or '\0' in str(path):
        raise ConfigError(subject, f'{str(path)!r} is not a file name')
    try:
        fd = os.open(path, flags | (0 if follow else os.O_NOFOLLOW) | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        if not follow and os.path.islink(path):
            raise ConfigError(subject, f'{str(path)!r} is a symbolic link; gluon-d2l reads and writes only '
                                       'regular files there') from None
        raise ConfigError(subject, f'cannot open {str(path)!r}: {_strerror(err)}') from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ConfigError(subject, f'{str(path)!r} is not a regular file')
    os.set_blocking(fd, True)
    return fd


def read_regular(path, subject, limit=MAX_SMALL_FILE, follow=False):
    """The bytes of the regular file ``path`` (see :func:`open_regular`), at most ``limit`` of them."""
    fd = open_regular(path, subject, follow=follow)
    with os.fdopen(fd, 'rb') as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ConfigError(subject, f'{str(path)!r} is larger than {limit} bytes')
    return data


def read_text(path, subject, limit=MAX_SMALL_FILE):
    """The UTF-8 text of the regular file ``path``; ``ConfigError(subject)`` if it is not UTF-8."""
    try:
        return read_regular(path, subject, limit).decode('utf-8')
    except UnicodeDecodeError as err:
        raise ConfigError(subject, f'{str(path)!r} is not UTF-8 text ({err.reason} at byte {err.start})') from None


def open_append(path, subject):
    """A text file to append to: a regular file with one link, created if missing (never a
    symlink, a hard link to another file, or a FIFO)."""
    fd = open_regular(path, subject, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    if os.fstat(fd).st_nlink != 1:
        os.close(fd)
        raise ConfigError(subject, f'{str(path)!r} has other hard links; gluon-d2l appends only to its own file')
    return os.fdopen(fd, 'a', encoding='utf-8')


def check_splice(path, begin, end, subject):
    """``(head, tail)`` of the Markdown file ``path`` around the section between the lines ``begin``
    and ``end``; ``ConfigError(subject)`` naming the file unless each marker is there once, in order."""
    text = read_text(path, subject)
    lines = text.splitlines(keepends=True)
    found = {marker: [i for i, line in enumerate(lines) if line.rstrip('\r\n') == marker] for marker in (begin, end)}
    for marker, where in found.items():
        if len(where) != 1:
            raise ConfigError(subject, f'{str(path)!r} must have the line {marker!r} once (found {len(where)})')
    first, last = found[begin][0], found[end][0]
    if last < first:
        raise ConfigError(subject, f'{str(path)!r}: the line {end!r} comes before {begin!r}')
    return ''.join(lines[:first + 1]), ''.join(lines[last:])


def splice(path, begin, end, body, subject):
    """Replace the section between the marker lines of ``path`` with ``body``, atomically."""
    head, tail = check_splice(path, begin, end, subject)
    atomic_write(path, head + body.rstrip('\n') + '\n' + tail)
