"""Make a local MXNet 1.9.1 wheel that pip may install next to NumPy 2.

MXNet 1.9.1 declares ``numpy<2.0.0``, so no resolver (pip, pip-tools, Poetry, PDM) can put it
next to NumPy 2, although gluon_d2l's NumPy compatibility layer runs it there. This command
takes the registry's own wheel and changes its metadata only:

- ``Requires-Dist: numpy`` loses its upper bound (the lower bound stays);
- the version gets a local label, ``1.9.1+numpy2``: ``mxnet==1.9.1`` still matches it
  (PEP 440 ignores local labels in a specifier without one), and nobody mistakes it for the
  registry's file;
- ``RECORD`` is rewritten with the new dist-info directory and the new hashes.

Every other file is copied byte for byte. The input's ``RECORD`` is checked first and the
output is checked again after writing (every hash, and that nothing but the metadata
differs), then the file is moved into place. The module uses the standard library only, so
it runs before MXNet or NumPy 2 are installed::

    python gluon_d2l/mxnet_wheel.py --out wheels          # from a checkout or an sdist
    python -m gluon_d2l.mxnet_wheel --out wheels          # where gluon-d2l is installed
    pip install ./wheels/mxnet-1.9.1+numpy2-py3-none-manylinux2014_x86_64.whl gluon-d2l "numpy>=2"
"""
import argparse
import base64
import email.parser
import hashlib
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import zipfile

NAME, VERSION, LABEL = 'mxnet', '1.9.1', 'numpy2'
#: ``Requires-Dist: numpy (<2.0.0,>1.16.0)`` as MXNet 1.9.1 writes it (older metadata syntax)
NUMPY_REQUIREMENT = re.compile(r'^Requires-Dist: numpy\s*\(?([^);]*)\)?\s*(;.*)?$', re.MULTILINE)


class WheelError(ValueError):
    """The input is not the wheel expected, or the output failed its check."""


def _digest(payload):
    """A RECORD hash: ``sha256=`` and the urlsafe base64 digest without padding."""
    return 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(payload).digest()).rstrip(b'=').decode()


def _record_rows(text):
    rows = {}
    for line in text.splitlines():
        if line.strip():
            path, digest, size = line.rsplit(',', 2)
            rows[path] = (digest, size)
    return rows


def check_wheel(path):
    """Verify every file of a wheel against its RECORD; return ``(dist_info_dir, metadata)``."""
    with zipfile.ZipFile(path) as wheel:
        dist_infos = {n.split('/', 1)[0] for n in wheel.namelist() if n.split('/', 1)[0].endswith('.dist-info')}
        if len(dist_infos) != 1:
            raise WheelError(f'{path}: expected one .dist-info directory, found {sorted(dist_infos)}')
        dist_info = dist_infos.pop()
        rows = _record_rows(wheel.read(f'{dist_info}/RECORD').decode())
        names = set(wheel.namelist()) - {f'{dist_info}/RECORD'}
        if names != set(rows) - {f'{dist_info}/RECORD'}:
            missing = sorted(names.symmetric_difference(set(rows) - {f'{dist_info}/RECORD'}))[:5]
            raise WheelError(f'{path}: RECORD and the archive list different files (e.g. {missing})')
        for name in sorted(names):
            payload = wheel.read(name)
            digest, size = rows[name]
            if digest != _digest(payload) or int(size) != len(payload):
                raise WheelError(f'{path}: {name} does not match its RECORD entry')
        metadata = email.parser.Parser().parsestr(wheel.read(f'{dist_info}/METADATA').decode())
    return dist_info, metadata


def relax_metadata(text, version):
    """METADATA with the new version and no upper bound on NumPy; raise if either is not found."""
    text, versions = re.subn(r'^Version: .*$', f'Version: {version}', text, count=1, flags=re.MULTILINE)

    def lower_bounds_only(match):
        kept = [s.strip() for s in match.group(1).split(',') if s.strip().startswith('>')]
        return f'Requires-Dist: numpy{",".join(kept)}{match.group(2) or ""}'
    text, numpys = NUMPY_REQUIREMENT.subn(lower_bounds_only, text)
    if versions != 1 or numpys != 1:
        raise WheelError('METADATA has no Version line or no NumPy requirement to relax')
    return text


def relabel(source, out_dir, label=LABEL):
    """Write the relabelled copy of MXNet wheel ``source`` into ``out_dir``; return its path."""
    source = pathlib.Path(source)
    old_info, metadata = check_wheel(source)
    if (metadata['Name'], metadata['Version']) != (NAME, VERSION):
        raise WheelError(f'{source} is {metadata["Name"]} {metadata["Version"]}, expected {NAME} {VERSION}')
    version = f'{VERSION}+{label}'
    new_info = f'{NAME}-{version}.dist-info'
    tags = source.name[len(f'{NAME}-{VERSION}-'):]
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f'{NAME}-{version}-{tags}'
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f'.{target.name}-')
    os.close(fd)
    try:
        with zipfile.ZipFile(source) as old, zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as new:
            record = []
            for info in old.infolist():
                name = info.filename
                if name == f'{old_info}/RECORD':
                    continue
                payload = old.read(name)
                if name == f'{old_info}/METADATA':
                    payload = relax_metadata(payload.decode(), version).encode()
                if name.startswith(f'{old_info}/'):
                    name = new_info + name[len(old_info):]
                entry = zipfile.ZipInfo(name, info.date_time)
                entry.external_attr, entry.create_system = info.external_attr, info.create_system
                new.writestr(entry, payload, compress_type=info.compress_type)
                record.append(f'{name},{_digest(payload)},{len(payload)}')
            record.append(f'{new_info}/RECORD,,')
            new.writestr(f'{new_info}/RECORD', '\n'.join(record) + '\n')
        _, written = check_wheel(tmp)
        if written['Version'] != version or any('<' in r for r in written.get_all('Requires-Dist') if 'numpy' in r):
            raise WheelError(f'{tmp}: the written METADATA is not what was meant')
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def download(directory):
    """The registry's MXNet 1.9.1 wheel for this platform, fetched with this Python's pip."""
    subprocess.run([sys.executable, '-m', 'pip', 'download', '--quiet', '--no-deps', '--only-binary=:all:',
                    '--dest', str(directory), f'{NAME}=={VERSION}'], check=True)
    found = sorted(pathlib.Path(directory).glob(f'{NAME}-{VERSION}-*.whl'))
    if not found:
        raise WheelError(f'pip download left no {NAME}-{VERSION} wheel in {directory}')
    return found[0]


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m gluon_d2l.mxnet_wheel',
        description='Write mxnet-1.9.1+numpy2, the registry\'s MXNet 1.9.1 wheel with its NumPy upper bound '
                    'removed (metadata only, every other file unchanged), so that pip installs it with NumPy 2.')
    parser.add_argument('--out', default='wheels', help='directory to write the wheel into (default: wheels)')
    parser.add_argument('--from', dest='source', metavar='WHEEL',
                        help='an mxnet-1.9.1 wheel already downloaded (default: pip download it)')
    parser.add_argument('--label', default=LABEL, help=f'local version label (default: {LABEL})')
    parser.add_argument('--force', action='store_true',
                        help='write it again even if --out already holds a wheel of that label that passes the check')
    args = parser.parse_args(argv)
    if not re.fullmatch(r'[a-z0-9]+(\.[a-z0-9]+)*', args.label):
        parser.error(f'--label {args.label!r}: use lower-case letters and digits separated by dots')
    done = sorted(pathlib.Path(args.out).glob(f'{NAME}-{VERSION}+{args.label}-*.whl'))
    try:
        if done and not args.force:
            check_wheel(done[0])
            print(done[0])
            return 0
        if args.source:
            target = relabel(args.source, args.out, args.label)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                target = relabel(download(tmp), args.out, args.label)
    except (WheelError, OSError, zipfile.BadZipFile, subprocess.CalledProcessError) as err:
        print(f'mxnet_wheel: error: {err}', file=sys.stderr)
        return 2
    print(target)
    return 0


if __name__ == '__main__':
    sys.exit(main())
