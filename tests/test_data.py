"""The Time Machine pipeline: corpus lookup, preprocessing, vocabulary, minibatch iterators."""
import hashlib
import pathlib
import random
import shutil

import numpy as onp
import pytest

import gluon_d2l as d2l
from gluon_d2l import data


class FakeResponse:
    """What ``requests.get`` returns to ``mxnet.gluon.utils.download``, holding ``payload``."""

    status_code = 200

    def __init__(self, payload):
        self.payload = payload

    def iter_content(self, chunk_size):
        for i in range(0, len(self.payload), chunk_size):
            yield self.payload[i: i + chunk_size]


def serve(monkeypatch, respond):
    """Answer the HTTP requests of ``gluon.utils.download`` with ``respond(url)``."""
    import requests
    monkeypatch.setattr(requests, 'get', lambda url, stream, verify: respond(url))


def test_real_corpus_has_the_published_checksum_and_d2l_statistics(corpus_dir):
    assert data.sha1_of(corpus_dir / 'timemachine.txt') == d2l.TIME_MACHINE_SHA1
    lines = d2l.read_time_machine()
    assert len(lines) == 3221
    assert lines[0] == 'the time machine by h g wells'
    corpus, vocab = d2l.load_corpus_time_machine()
    assert (len(corpus), len(vocab)) == (170580, 28)


def test_preprocessing_replaces_non_letters_strips_and_lowers(tmp_path):
    path = tmp_path / 'tiny.txt'
    path.write_text('Hello, World!\n  42 Über-Cats \n', encoding='utf-8')
    assert d2l.read_time_machine(path) == ['hello world', 'ber cats']


def test_any_utf8_file_is_a_corpus_but_binary_is_refused(tmp_path):
    good = tmp_path / 'good.txt'
    good.write_text('abc abd\n' * 3, encoding='utf-8')
    corpus, vocab = d2l.load_corpus_time_machine(path=good)
    assert vocab.to_tokens(corpus[:3]) == ['a', 'b', 'c']
    bad = tmp_path / 'bad.bin'
    bad.write_bytes(b'\xff\xfe\x00binary')
    with pytest.raises(ValueError, match='not UTF-8'):
        d2l.read_time_machine(bad)


def test_a_data_variable_that_names_a_file_is_an_error_naming_it(tmp_path, monkeypatch):
    (tmp_path / 'file').write_text('x')
    monkeypatch.setenv(d2l.DATA_ENV, str(tmp_path / 'file'))
    with pytest.raises(ValueError, match=d2l.DATA_ENV):
        d2l.read_time_machine()


def test_explicit_path_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        d2l.read_time_machine(tmp_path / 'missing.txt')


def test_lookup_goes_env_then_cache_then_download(tmp_path, monkeypatch, corpus_dir):
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
    (tmp_path / 'empty').mkdir()
    monkeypatch.setenv(d2l.DATA_ENV, str(tmp_path / 'empty'))
    payload = (corpus_dir / 'timemachine.txt').read_bytes()
    calls = []

    def fake_get(url):
        calls.append(url)
        return FakeResponse(payload)

    serve(monkeypatch, fake_get)
    found = data.find_time_machine()
    assert calls == [d2l.TIME_MACHINE_URL]
    assert found == tmp_path / 'cache' / 'gluon_d2l' / 'timemachine.txt'
    assert data.find_time_machine() == found and len(calls) == 1, 'the cached copy is reused'
    monkeypatch.setenv(d2l.DATA_ENV, str(corpus_dir))
    assert data.find_time_machine() == corpus_dir / 'timemachine.txt'


def test_offline_without_a_copy_names_the_variable_and_the_url(tmp_path, monkeypatch):
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    monkeypatch.delenv(d2l.DATA_ENV)

    def offline(url):
        raise OSError('network is unreachable')

    serve(monkeypatch, offline)
    with pytest.raises(RuntimeError) as err:
        d2l.read_time_machine()
    assert d2l.DATA_ENV in str(err.value) and d2l.TIME_MACHINE_URL in str(err.value)
    assert len(str(err.value).splitlines()) == 1 and err.value.__cause__ is None
    assert not (tmp_path / 'gluon_d2l').exists(), 'nothing is created offline'


def test_a_tampered_copy_is_refused(tmp_path, monkeypatch, corpus_dir):
    shutil.copy(corpus_dir / 'timemachine.txt', tmp_path / 'timemachine.txt')
    with open(tmp_path / 'timemachine.txt', 'a') as f:
        f.write('tampered')
    monkeypatch.setenv(d2l.DATA_ENV, str(tmp_path))
    with pytest.raises(ValueError, match='SHA-1'):
        d2l.read_time_machine()


def test_tokenize_words_and_chars_and_rejects_other_kinds():
    assert d2l.tokenize(['a bc'], 'word') == [['a', 'bc']]
    assert d2l.tokenize(['a bc'], 'char') == [['a', ' ', 'b', 'c']]
    with pytest.raises(ValueError, match='token'):
        d2l.tokenize(['a'], 'byte')


def test_vocab_orders_by_frequency_and_maps_unknowns():
    vocab = d2l.Vocab([['b', 'a', 'a'], ['c', 'a', 'b']], min_freq=2, reserved_tokens=['<pad>'])
    assert vocab.idx_to_token == ['<unk>', '<pad>', 'a', 'b']
    assert vocab['a'] == 2 and vocab[['b', 'zz']] == [3, vocab.unk]
    assert vocab.to_tokens([2, 3]) == ['a', 'b'] and vocab.to_tokens(0) == '<unk>'
    assert vocab.token_freqs[0] == ('a', 3)
    assert d2l.Vocab.from_idx_to_token(vocab.idx_to_token).token_to_idx == vocab.token_to_idx
    with pytest.raises(IndexError, match='outside the vocabulary'):
        vocab.to_tokens(4)


def _rows(X):
    return X.asnumpy().tolist()


def test_sequential_iterator_shifts_by_one_and_continues_across_minibatches():
    corpus = list(range(100))
    random.seed(3)
    batches = list(d2l.seq_data_iter_sequential(corpus, batch_size=2, num_steps=5))
    assert batches
    for X, Y in batches:
        onp.testing.assert_array_equal(Y.asnumpy(), X.asnumpy() + 1)
        assert X.dtype == onp.int32
    for (X0, _), (X1, _) in zip(batches, batches[1:]):
        onp.testing.assert_array_equal(X1.asnumpy()[:, 0], X0.asnumpy()[:, -1] + 1)


def test_random_iterator_gives_disjoint_subsequences():
    corpus = list(range(100))
    random.seed(5)
    starts = []
    for X, Y in d2l.seq_data_iter_random(corpus, batch_size=2, num_steps=5):
        onp.testing.assert_array_equal(Y.asnumpy(), X.asnumpy() + 1)
        starts += [row[0] for row in _rows(X)]
    offset = min(starts) % 5
    assert all(s % 5 == offset for s in starts), 'subsequences start on the num_steps grid'
    assert len(starts) == len(set(starts)) == 2 * (((100 - offset - 1) // 5) // 2)


def test_load_data_time_machine_matches_d2l_defaults(corpus_dir):
    train_iter, vocab = d2l.load_data_time_machine(32, 35)
    assert len(train_iter.corpus) == 10000 and len(vocab) == 28
    X, Y = next(iter(train_iter))
    assert X.shape == Y.shape == (32, 35)


def test_a_corpus_too_short_for_one_minibatch_is_an_error(tmp_path):
    path = tmp_path / 'short.txt'
    path.write_text('abc ' * 20, encoding='utf-8')
    with pytest.raises(ValueError, match=r'batch_size=4 and num_steps=35 need at least'):
        d2l.load_data_time_machine(4, 35, path=path)


def test_an_empty_corpus_is_an_error(tmp_path):
    path = tmp_path / 'empty.txt'
    path.write_text('1234 !!\n', encoding='utf-8')
    with pytest.raises(ValueError, match='no letters'):
        d2l.load_corpus_time_machine(path=path)


def test_download_refuses_a_payload_with_the_wrong_checksum(tmp_path, monkeypatch):
    serve(monkeypatch, lambda url: FakeResponse(b'not the book'))
    with pytest.raises(ValueError, match=hashlib.sha1(b'not the book').hexdigest()):
        data.download_time_machine(tmp_path)
    assert not (tmp_path / 'timemachine.txt').exists()


# --- d2l's DATA_HUB, download and download_extract -----------------------------------------------

def register(monkeypatch, name, path, sha1):
    """A DATA_HUB entry pointing at a local file through a file:// URL."""
    monkeypatch.setitem(d2l.DATA_HUB, name, (path.resolve().as_uri(), sha1))


def test_download_fetches_a_file_url_and_checks_its_sha1(tmp_path, monkeypatch):
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    source = tmp_path / 'mirror' / 'numbers.csv'
    source.parent.mkdir()
    source.write_bytes(b'1,2,3\n')
    register(monkeypatch, 'numbers', source, hashlib.sha1(b'1,2,3\n').hexdigest())
    got = d2l.download('numbers', cache_dir=tmp_path / 'cache')
    assert got == str(tmp_path / 'cache' / 'numbers.csv') and open(got, 'rb').read() == b'1,2,3\n'
    source.unlink()                                    # offline now: the checked copy in the cache is used
    assert d2l.download('numbers', cache_dir=tmp_path / 'cache') == got


def test_download_with_a_wrong_checksum_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    source = tmp_path / 'numbers.csv'
    source.write_bytes(b'1,2,3\n')
    register(monkeypatch, 'numbers', source, '0' * 40)
    with pytest.raises(ValueError, match='has SHA-1 .* expected 0{40}; nothing was written'):
        d2l.download('numbers', cache_dir=tmp_path / 'cache')
    assert not (tmp_path / 'cache').exists()  # nothing created, not even the directory


def test_download_uses_a_checked_copy_in_the_data_directory_without_the_network(tmp_path, monkeypatch):
    import urllib.request
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / 'data'))
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'table.csv').write_bytes(b'a,b\n')
    monkeypatch.setitem(d2l.DATA_HUB, 'table', (d2l.DATA_URL + 'table.csv', hashlib.sha1(b'a,b\n').hexdigest()))
    monkeypatch.setattr(urllib.request, 'urlopen', lambda *a, **k: pytest.fail('went to the network'))
    assert d2l.download('table', cache_dir=tmp_path / 'cache') == str(tmp_path / 'data' / 'table.csv')


def test_download_offline_and_unknown_names_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    register(monkeypatch, 'gone', tmp_path / 'gone.zip', '0' * 40)
    with pytest.raises(RuntimeError, match=f'cannot download .*gone.zip.*put gone.zip .*{data.DATA_ENV}'):
        d2l.download('gone', cache_dir=tmp_path / 'cache')
    with pytest.raises(ValueError, match="'nope' is not in DATA_HUB"):
        d2l.download('nope')
    assert d2l.DATA_HUB['time_machine'] == (d2l.DATA_URL + 'timemachine.txt', d2l.TIME_MACHINE_SHA1)


@pytest.mark.parametrize('fmt,suffix', [('zip', '.zip'), ('gztar', '.tar.gz')])
def test_download_extract_unpacks_next_to_the_archive(tmp_path, monkeypatch, fmt, suffix):
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    (tmp_path / 'src' / 'kit').mkdir(parents=True)
    (tmp_path / 'src' / 'kit' / 'a.txt').write_text('A')
    archive = pathlib.Path(shutil.make_archive(str(tmp_path / 'kit'), fmt, tmp_path / 'src', 'kit'))
    assert archive.name == 'kit' + suffix
    register(monkeypatch, 'kit', archive, data.sha1_of(archive))
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    folder = d2l.download_extract('kit')
    assert folder == str(tmp_path / 'xdg' / 'gluon_d2l' / 'kit')
    assert (pathlib.Path(folder) / 'a.txt').read_text() == 'A'
    assert d2l.download_extract('kit', 'kit') == folder


def test_download_extract_refuses_members_outside_its_folder(tmp_path, monkeypatch):
    import zipfile
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    archive = tmp_path / 'evil.zip'
    with zipfile.ZipFile(archive, 'w') as z:
        z.writestr('../outside.txt', 'x')
    register(monkeypatch, 'evil', archive, data.sha1_of(archive))
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    with pytest.raises(ValueError, match='outside its folder'):
        d2l.download_extract('evil')
    assert not (tmp_path / 'outside.txt').exists()


@pytest.mark.parametrize('newline', [' ', '\n'], ids=['one line', 'many lines'])
def test_the_corpus_is_read_in_bounded_chunks_whatever_the_line_lengths(tmp_path, monkeypatch, newline):
    """A 4 MB corpus read in 64 KiB chunks: the peak of Python's allocations stays near a few chunks."""
    import tracemalloc
    path = tmp_path / 'big.txt'
    path.write_text(('the time traveller, for so it will be convenient to speak of him' + newline) * 62000)
    monkeypatch.setattr(data._clean_batches, '__defaults__', (1 << 16,))
    tracemalloc.start()
    try:
        corpus, vocab = d2l.load_corpus_time_machine(1000, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(corpus) == 1000 and len(vocab) == 20
    assert peak < 2 * 2 ** 20, f'peak {peak} bytes for a {path.stat().st_size} byte corpus'


def _tar_with(tmp_path, name, member, payload=b''):
    """A tar archive holding ``kit/ok.txt`` and ``member`` (a ``TarInfo``), registered in DATA_HUB as ``name``."""
    import io
    import tarfile
    archive = tmp_path / f'{name}.tar'
    with tarfile.open(archive, 'w') as t:
        ok = tarfile.TarInfo('kit/ok.txt')
        ok.size = 2
        t.addfile(ok, io.BytesIO(b'ok'))
        member.size = len(payload) if member.isreg() else 0
        t.addfile(member, io.BytesIO(payload) if member.isreg() else None)
    return archive


def _special(name, kind, **fields):
    import tarfile
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def _special_members():
    import tarfile
    return [
        ('fifo', _special('kit/pipe', tarfile.FIFOTYPE)),
        ('char device', _special('kit/null', tarfile.CHRTYPE, devmajor=1, devminor=3)),
        ('block device', _special('kit/disk', tarfile.BLKTYPE, devmajor=8, devminor=0)),
        ('symlink escaping', _special('kit/link', tarfile.SYMTYPE, linkname='../../../outside.txt')),
        ('symlink inside', _special('kit/link', tarfile.SYMTYPE, linkname='ok.txt')),
        ('hardlink', _special('kit/hard', tarfile.LNKTYPE, linkname='kit/ok.txt')),
        ('hardlink escaping', _special('kit/hard', tarfile.LNKTYPE, linkname='/etc/passwd')),
    ]


@pytest.mark.parametrize('label, member', _special_members(), ids=[m[0] for m in _special_members()])
def test_download_extract_refuses_a_tar_with_links_devices_or_fifos_and_creates_nothing(
        tmp_path, monkeypatch, label, member):
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    archive = _tar_with(tmp_path, 'kit', member)
    register(monkeypatch, 'kit', archive, data.sha1_of(archive))
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    with pytest.raises(ValueError, match='only regular files and directories'):
        d2l.download_extract('kit')
    unpacked = tmp_path / 'xdg' / 'gluon_d2l' / 'kit'
    assert not unpacked.exists(), f'{label}: something was unpacked'
    assert not (tmp_path / 'outside.txt').exists()


def test_download_extract_clears_setuid_and_group_and_other_write_bits(tmp_path, monkeypatch):
    import stat
    import tarfile
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    member = tarfile.TarInfo('kit/run.sh')
    member.mode = 0o6777                      # setuid, setgid, world-writable
    archive = _tar_with(tmp_path, 'kit', member, b'#!/bin/sh\n')
    register(monkeypatch, 'kit', archive, data.sha1_of(archive))
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    folder = pathlib.Path(d2l.download_extract('kit'))
    mode = stat.S_IMODE((folder / 'run.sh').stat().st_mode)
    assert mode == 0o755, oct(mode)
    assert (folder / 'ok.txt').read_text() == 'ok'


def test_download_extract_without_the_tarfile_data_filter_makes_the_same_safe_files(tmp_path, monkeypatch):
    """The Pythons of the matrix without ``tarfile.data_filter`` (3.8 before 3.8.17, ...) get the same result."""
    import stat
    import tarfile
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    monkeypatch.delattr(tarfile, 'data_filter', raising=False)
    member = tarfile.TarInfo('kit/data.bin')
    member.mode = 0o4666
    archive = _tar_with(tmp_path, 'kit', member, b'\x00\x01')
    register(monkeypatch, 'kit', archive, data.sha1_of(archive))
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    folder = pathlib.Path(d2l.download_extract('kit'))
    assert stat.S_IMODE((folder / 'data.bin').stat().st_mode) == 0o644
    fifo = _tar_with(tmp_path / 'xdg', 'pipe', _special('kit/pipe', tarfile.FIFOTYPE))
    register(monkeypatch, 'pipe', fifo, data.sha1_of(fifo))
    with pytest.raises(ValueError, match='device, FIFO'):
        d2l.download_extract('pipe')
