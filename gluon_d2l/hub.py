"""d2l's data registry and downloaders: ``DATA_HUB``, ``DATA_URL``, ``download``, ``download_extract``.

The lookup is the corpus's (:mod:`gluon_d2l.data`). A file in ``$GLUON_D2L_DATA`` or in the cache
with the registered SHA-1 is used as is, with no network. A download is SHA-1 checked before
anything is written.
"""
import os
import pathlib
import tarfile

from .checks import check_path
from .data import DATA_ENV, TIME_MACHINE_SHA1, TIME_MACHINE_URL, cache_dir as _user_cache_dir, fetch, sha1_of

DATA_URL = TIME_MACHINE_URL.rsplit('/', 1)[0] + '/'

#: name -> (url, sha1): the data sets :func:`download` knows, as in d2l (add your own entries)
DATA_HUB = {'time_machine': (TIME_MACHINE_URL, TIME_MACHINE_SHA1)}


def _check_name(name):
    if not isinstance(name, str):
        raise TypeError(f'name must be the str key of a DATA_HUB entry, got {type(name).__name__}')
    if name not in DATA_HUB:
        raise ValueError(f'download: name {name!r} is not in DATA_HUB (known: {", ".join(sorted(DATA_HUB))})')
    return name


def download(name, cache_dir=None):
    """Return the local path of the :data:`DATA_HUB` entry ``name``, downloading it if needed.

    A file of the same name in ``$GLUON_D2L_DATA`` or in ``cache_dir`` (default: the user cache)
    with the registered SHA-1 is used without the network; otherwise the file is downloaded into
    ``cache_dir`` and checked.
    """
    url, sha1 = DATA_HUB[_check_name(name)]
    check_path('cache_dir', cache_dir)
    filename = url.rstrip('/').split('/')[-1]
    cache = pathlib.Path(cache_dir) if cache_dir is not None else _user_cache_dir()
    env_dir = os.environ.get(DATA_ENV)
    for folder in ([pathlib.Path(env_dir)] if env_dir else []) + [cache]:
        candidate = folder / filename
        if candidate.is_file() and sha1_of(candidate) == sha1:
            return str(candidate)
    return str(fetch(url, sha1, cache / filename,
                     f'put {filename} (SHA-1 {sha1}) in {DATA_ENV} or in {cache}'))


def download_extract(name, folder=None):
    """Download and unpack a ``.zip``, ``.tar`` or ``.tar.gz``/``.tgz`` entry of :data:`DATA_HUB`.

    Unpacks next to the archive and returns the directory named after the archive, or
    ``folder`` inside the archive's directory when given. Members that would land outside
    that directory are refused. A tar archive is unpacked as Python's ``tarfile`` ``'data'``
    filter unpacks it: regular files and directories only (links, devices and FIFOs are
    refused), no setuid, setgid or sticky bit, no write permission for group or others.
    """
    _check_name(name)
    if folder is not None:
        if not isinstance(folder, str) or not folder or os.path.isabs(folder) \
                or '..' in pathlib.PurePath(folder).parts:
            raise ValueError(f'folder must be a relative path inside the archive, got {folder!r}')
    archive = pathlib.Path(download(name))
    base = archive.parent
    lower = archive.name.lower()
    if lower.endswith('.zip'):
        fmt, stem = 'zip', archive.name[:-4]
    elif lower.endswith(('.tar.gz', '.tgz', '.tar')):
        fmt = 'tar'
        stem = archive.name[:-7] if lower.endswith('.tar.gz') else archive.name.rsplit('.', 1)[0]
    else:
        raise ValueError(f'download_extract: {archive.name} is not a .zip, .tar or .tar.gz archive')
    _unpack(archive, base, fmt)
    return str(base / folder) if folder else str(base / stem)


def _unpack(archive, base, fmt):
    """Unpack ``archive`` into ``base`` after checking every member (see :func:`download_extract`)."""
    root = base.resolve()

    def check_inside(member):
        target = (root / member).resolve()
        if target != root and root not in target.parents:
            raise ValueError(f'download_extract: {archive.name} has a member outside its folder: {member!r}')

    if fmt == 'zip':
        import zipfile
        with zipfile.ZipFile(archive) as z:
            for member in z.namelist():
                check_inside(member)
            z.extractall(root)
        return
    with tarfile.open(archive) as t:
        members = t.getmembers()
        for member in members:
            check_inside(member.name)
            if not (member.isreg() or member.isdir()):
                kind = 'a link' if member.issym() or member.islnk() else 'a device, FIFO or other special file'
                raise ValueError(f'download_extract: {archive.name} holds {kind}, {member.name!r}; '
                                 'only regular files and directories are unpacked')
            member.mode = _safe_mode(member)
            if not hasattr(tarfile, 'data_filter'):
                member.uid, member.gid, member.uname, member.gname = os.getuid(), os.getgid(), '', ''
        if hasattr(tarfile, 'data_filter'):
            t.extractall(root, members=members, filter='data')
        else:  # Python < 3.8.17/3.9.17/3.10.12/3.11.4: the checks above are the filter
            t.extractall(root, members=members)


def _safe_mode(member):
    """The member's permission bits as the ``'data'`` filter leaves them: no setuid, setgid or sticky
    bit, no write for group or others; files readable and writable by their owner."""
    mode = member.mode & 0o755
    if member.isreg():
        mode |= 0o600
        if not mode & 0o100:
            mode &= ~0o111
    else:
        mode |= 0o700
    return mode
