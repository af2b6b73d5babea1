"""``gluon_d2l.program.files``: outputs checked before work, written whole or not at all, inputs read
without following links or blocking, Markdown sections spliced atomically."""
import errno
import os

import pytest

from cli_support import markdown_with, small_disk
from gluon_d2l.program import files
from gluon_d2l.program.config import ConfigError

BEGIN, END = '<!-- begin -->', '<!-- end -->'


def test_check_output_refuses_what_it_must_not_replace_and_writes_nothing(tmp_path):
    (tmp_path / 'mine.txt').write_text('mine')
    (tmp_path / 'dir').mkdir()
    os.mkfifo(tmp_path / 'fifo')
    for path, force, words in ((tmp_path / 'mine.txt', False, 'give --force'), (tmp_path / 'dir', True, 'directory'),
                               (tmp_path / 'fifo', True, 'not a regular file'), ('', True, 'empty path'),
                               (tmp_path / 'no' / 'x', True, 'no such directory'),
                               ('/proc/x.json', True, 'cannot create a file'),
                               (tmp_path / 'chart.txt', True, 'ending in .png')):
        with pytest.raises(ConfigError, match=words) as caught:
            files.check_output(path, 'out', force=force, suffixes=('.png',) if 'png' in words else None)
        assert caught.value.subject == 'out'
    assert files.check_output(tmp_path / 'mine.txt', 'out', force=True) == tmp_path / 'mine.txt'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['dir', 'fifo', 'mine.txt']


def test_check_directory_accepts_a_directory_to_create_and_refuses_files_on_the_way(tmp_path):
    (tmp_path / 'file').write_text('x')
    os.symlink(tmp_path / 'nowhere', tmp_path / 'dangling')
    assert files.check_directory(tmp_path / 'a' / 'b', 'out') == tmp_path / 'a' / 'b'
    assert files.check_directory(tmp_path, 'out') == tmp_path
    for path, words in ((tmp_path / 'file', 'not a directory'), (tmp_path / 'file' / 'sub', 'ancestor'),
                        (tmp_path / 'dangling', 'not a directory'), ('', 'empty path'),
                        ('/proc/gluon-d2l', 'cannot create a file')):
        with pytest.raises(ConfigError, match=words):
            files.check_directory(path, 'out')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['dangling', 'file']


def test_atomic_write_replaces_a_planted_symlink_instead_of_writing_through_it(tmp_path):
    (tmp_path / 'target').write_text('keep')
    os.symlink(tmp_path / 'target', tmp_path / 'out')
    files.atomic_write(tmp_path / 'out', 'new ✓')
    assert not os.path.islink(tmp_path / 'out') and (tmp_path / 'out').read_text() == 'new ✓'
    assert (tmp_path / 'target').read_text() == 'keep'


def test_a_failed_atomic_write_leaves_the_target_and_no_temporary(tmp_path):
    (tmp_path / 'out').write_text('before')
    with pytest.raises(RuntimeError):
        with files.atomic_open(tmp_path / 'out') as f:
            f.write(b'half')
            raise RuntimeError('interrupted')
    assert (tmp_path / 'out').read_text() == 'before' and sorted(os.listdir(tmp_path)) == ['out']


def test_a_full_disk_leaves_the_file_whole_and_no_temporary(tmp_path, monkeypatch):
    with small_disk(tmp_path / 'disk', monkeypatch) as fill:
        path = tmp_path / 'disk' / 'README.md'
        path.write_text(markdown_with(BEGIN, END, lines=500))
        before = path.read_bytes()
        fill()
        with pytest.raises(OSError) as caught:
            files.splice(path, BEGIN, END, 'new section\n' * 100, 'readme')
        assert caught.value.errno == errno.ENOSPC
        assert path.read_bytes() == before
        assert sorted(os.listdir(path.parent)) in (['README.md'], ['README.md', 'filler'])


def test_read_text_refuses_links_fifos_non_utf8_and_oversized_files(tmp_path):
    (tmp_path / 'ok.txt').write_text('déjà vu')
    os.symlink(tmp_path / 'ok.txt', tmp_path / 'link.txt')
    os.mkfifo(tmp_path / 'fifo')
    (tmp_path / 'latin1.txt').write_bytes(b'caf\xe9')
    assert files.read_text(tmp_path / 'ok.txt', 'corpus') == 'déjà vu'
    for path, limit, words in ((tmp_path / 'link.txt', None, 'symbolic link'), (tmp_path / 'fifo', None, 'regular'),
                               (tmp_path / 'latin1.txt', None, 'not UTF-8'), (tmp_path / 'ok.txt', 4, 'larger'),
                               (tmp_path / 'missing', None, 'cannot open'), (tmp_path, None, 'regular')):
        with pytest.raises(ConfigError, match=words):
            files.read_text(path, 'corpus', **({} if limit is None else dict(limit=limit)))


def test_splice_replaces_only_the_section_and_checks_the_markers_first(tmp_path):
    path = tmp_path / 'README.md'
    path.write_text(markdown_with(BEGIN, END))
    files.splice(path, BEGIN, END, 'new\n\n', 'readme')
    assert path.read_text() == markdown_with(BEGIN, END).replace('old section', 'new')
    for text, words in ((markdown_with(END, BEGIN), 'comes before'), (markdown_with(BEGIN, 'x'), 'once'),
                        (markdown_with(BEGIN, END) + BEGIN + '\n', r'once \(found 2\)'),
                        (f'a {BEGIN} b {END}\n', 'once')):
        path.write_text(text)
        with pytest.raises(ConfigError, match=words):
            files.splice(path, BEGIN, END, 'new', 'readme')
        assert path.read_text() == text


def test_open_append_refuses_a_hard_linked_file(tmp_path):
    (tmp_path / 'log').write_text('one\n')
    with files.open_append(tmp_path / 'log', 'run') as f:
        f.write('two\n')
    assert (tmp_path / 'log').read_text() == 'one\ntwo\n'
    os.link(tmp_path / 'log', tmp_path / 'other')
    with pytest.raises(ConfigError, match='hard links'):
        files.open_append(tmp_path / 'log', 'run')
