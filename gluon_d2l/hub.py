"""d2l's data registry and downloaders: ``DATA_HUB``, ``DATA_URL``, ``download``, ``download_extract``.

The lookup is the corpus's (:mod:`gluon_d2l.data`). A file in ``$GLUON_D2L_DATA`` or in the cache
with the registered SHA-1 is used as is, with no network. A download is SHA-1 checked before
anything is written.
"""
import os
import pathlib
import shutil
import tarfile

from .data import DATA_ENV, TIME_MACHINE_SHA1, TIME_MACHINE_URL, cache_dir as _user_cache_dir, fetch, sha1_of

DATA_URL = TIME_MACHINE_URL.rsplit('/', 1)[0] + '/'

#: name -> (url, sha1): the data sets :func:`download` knows, as in d2l (add your own entries)
DATA_HUB = {'time_machine': (TIME_MACHINE_URL, TIME_MACHINE_SHA1)}


def download(name, cache_dir=None):
    """Return the local path of the :data:`DATA_HUB` entry ``name``, downloading it if needed.

    A file of the same name in ``$GLUON_D2L_DATA`` or in ``cache_dir`` (default: the user cache)
    with the registered SHA-1 is used without the network; otherwise the file is downloaded into
    ``cache_dir`` and checked.
    """
    if name not in DATA_HUB:
        raise ValueError(f'download: {name!r} is not in DATA_HUB (known: {", ".join(sorted(DATA_HUB))})')
    url, sha1 = DATA_HUB[name]
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
    that directory are refused.
    """
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
    """``shutil.unpack_archive``, after checking that no member escapes ``base``."""
    if fmt == 'zip':
        import zipfile
        with zipfile.ZipFile(archive) as z:
            names = z.namelist()
    else:
        with tarfile.open(archive) as t:
            names = [m.name for m in t.getmembers() if not (m.issym() or m.islnk())]
            if len(names) != len(t.getmembers()):
                raise ValueError(f'download_extract: {archive.name} holds links; refusing to unpack it')
    root = base.resolve()
    for member in names:
        if root not in (root / member).resolve().parents and (root / member).resolve() != root:
            raise ValueError(f'download_extract: {archive.name} has a member outside its folder: {member!r}')
    shutil.unpack_archive(str(archive), str(base), fmt)
