"""``gluon-d2l exercises``: every bad option or path is one line naming the option, before the first
exercise runs or the first file is written; ``--readme`` never leaves a README cut; an earlier
report is replaced only with ``--force``."""
import os
import shutil

import pytest

from cli_support import check_error_path, exit_status, gluon_d2l, markdown_with, small_disk
from gluon_d2l.program import exercises, files

BEGIN, END = exercises.README_START, exercises.README_END


def _readme(text=None, raw=None):
    def setup(box, run):
        path = box / 'README.md'
        if raw is not None:
            path.write_bytes(raw)
        else:
            path.write_text(markdown_with(BEGIN, END) if text is None else text)
        return {'readme': path}
    return setup


def _results(**written):
    """An --out directory holding files of the given names and contents."""
    def setup(box, run):
        (box / 'res').mkdir()
        for name, data in written.items():
            name = name.replace('__', '.')
            (box / 'res' / name).write_bytes(data if isinstance(data, bytes) else data.encode())
        return {'res': box / 'res'}
    return setup


def _special(box, run):
    (box / 'file.txt').write_text('not a directory')
    (box / 'dir').mkdir()
    os.mkfifo(box / 'fifo')
    os.symlink(box / 'nowhere', box / 'dangling')
    paths = _readme()(box, run)
    os.symlink(paths['readme'], box / 'link.md')
    (box / 'book.txt').write_text('a book ' * 2000)
    os.symlink(box / 'book.txt', box / 'book-link.txt')
    return paths


QUICK = ['exercises', '--quick', '--out', '{box}/res']  # quick: a case that regresses costs seconds, not minutes
RENDER = ['exercises', '--render', '--out', '{res}']


def case_id(i, argv):
    return f'{i:02d} ' + ' '.join(argv[1:])


# (argv with {names} for the sandbox's paths, the option named, sandbox set-up)
ERRORS = [
    (['exercises', '--quick', '--out', ''], '--out', _special),
    (['exercises', '--quick', '--out', '{box}/file.txt'], '--out', _special),
    (['exercises', '--quick', '--out', '{box}/file.txt/sub'], '--out', _special),
    (['exercises', '--quick', '--out', '{box}/fifo'], '--out', _special),
    (['exercises', '--quick', '--out', '{box}/dangling'], '--out', _special),
    (['exercises', '--quick', '--out', '/proc/gluon-d2l-exercises'], '--out', _special),
    (QUICK + ['--readme', '{box}/missing.md'], '--readme', _special),
    (QUICK + ['--readme', '{box}/dir'], '--readme', _special),
    (QUICK + ['--readme', '{box}/fifo'], '--readme', _special),
    (QUICK + ['--readme', '{box}/link.md'], '--readme', _special),
    (QUICK + ['--readme', '{readme}'], '--readme', _readme(markdown_with(BEGIN, 'no end'))),
    (QUICK + ['--readme', '{readme}'], '--readme', _readme(markdown_with(END, BEGIN))),  # reverse order
    (QUICK + ['--readme', '{readme}'], '--readme', _readme(markdown_with(BEGIN, END) + END + '\n')),
    (QUICK + ['--readme', '{readme}'], '--readme', _readme(f'text {BEGIN} and {END} inside lines\n')),
    (QUICK + ['--readme', '{readme}'], '--readme', _readme(raw=markdown_with(BEGIN, END).encode() + b'\xe9t\xe9\n')),
    (QUICK + ['--readme', '{readme}'], '--readme', _readme('')),
    (QUICK + ['--corpus', '{box}/missing.txt'], '--corpus', _special),
    (QUICK + ['--corpus', '{box}/fifo'], '--corpus', _special),
    (QUICK + ['--corpus', '{box}/dir'], '--corpus', _special),
    (['exercises', '--quick', '--out', '{res}'], '--out', _results(exercises__md='my own notes')),
    (['exercises', '--quick', '--out', '{res}'], '--out', _results(ex4_clipping__png=b'my own plot')),
    (['exercises', '--quick', '--out', '{res}'], '--out', _results(exercises__json='{}')),
    (RENDER, '--out', _results()),
    (RENDER, '--out', _results(exercises__json='')),
    (RENDER, '--out', _results(exercises__json='{"settings": ')),
    (RENDER, '--out', _results(exercises__json=b'\xff\xfe{}')),
    (RENDER, '--out', _results(exercises__json='[]')),
    (RENDER, '--out', _results(exercises__json='{"settings": {}, "quick": true}')),
    (RENDER, '--out', _results(exercises__json='{"settings": {"max_tokens": 1}, "quick": true, "1": {}}')),
    (['exercises', '--render', '--out', '{box}/missing'], '--out', _special),
    (RENDER + ['--quick'], '--render', _results(exercises__json='{}')),
    (RENDER + ['--corpus', '{box}/book.txt'], '--render', _results(exercises__json='{}')),
]


@pytest.mark.parametrize('argv, option, setup', ERRORS, ids=[case_id(i, a) for i, (a, _, _) in enumerate(ERRORS)])
def test_bad_exercises_input_is_one_line_naming_the_option_and_changes_nothing(argv, option, setup, tmp_path,
                                                                               monkeypatch, capsys):
    check_error_path(argv, option, setup, None, tmp_path / 'box', monkeypatch, capsys)


def test_the_table_check_catches_a_readme_whose_markers_are_not_checked_first(tmp_path, monkeypatch, capsys):
    """Meta-test: with the marker check planted away, the reversed-marker case must fail the check."""
    with monkeypatch.context() as planted:
        planted.setattr(files, 'check_splice', lambda path, begin, end, subject: ('', ''))
        with pytest.raises(AssertionError):
            check_error_path(QUICK + ['--readme', '{readme}'], '--readme', _readme(markdown_with(END, BEGIN)), None,
                             tmp_path / 'a', planted, capsys)


@pytest.fixture(scope='module')
def quick_report(tmp_path_factory, corpus_dir):
    """One ``exercises --quick`` run: its directory."""
    out = tmp_path_factory.mktemp('exercises') / 'res'
    done = gluon_d2l('exercises', '--quick', '--out', str(out))
    assert done.returncode == 0, done.stderr
    return out


def test_an_earlier_report_survives_without_force_and_is_replaced_with_it(quick_report, tmp_path, capsys):
    out = tmp_path / 'res'
    shutil.copytree(quick_report, out)
    (out / exercises.REPORT).write_text('my own notes')
    capsys.readouterr()
    assert exit_status(['exercises', '--render', '--out', str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith('gluon-d2l: error: --out:') and 'exercises.md' in err and '--force' in err
    assert (out / exercises.REPORT).read_text() == 'my own notes'
    assert exit_status(['exercises', '--render', '--force', '--out', str(out)]) == 0
    assert (out / exercises.REPORT).read_text() == (quick_report / exercises.REPORT).read_text()
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in quick_report.iterdir())


def test_a_full_disk_during_readme_leaves_the_readme_whole(quick_report, tmp_path, monkeypatch, capsys):
    out = tmp_path / 'res'
    shutil.copytree(quick_report, out)
    with small_disk(tmp_path / 'disk', monkeypatch) as fill:
        readme = tmp_path / 'disk' / 'README.md'
        readme.write_text(markdown_with(BEGIN, END, lines=500))
        before = readme.read_bytes()
        fill()
        assert exit_status(['exercises', '--render', '--force', '--out', str(out), '--readme', str(readme)]) == 1
        assert readme.read_bytes() == before
        assert sorted(p.name for p in readme.parent.iterdir()) in (['README.md'], ['README.md', 'filler'])
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith('gluon-d2l: error:') and 'No space left' in err[-1], err


def test_the_readme_section_is_replaced_and_the_rest_kept(quick_report, tmp_path):
    readme = tmp_path / 'README.md'
    readme.write_text(markdown_with(BEGIN, END))
    assert exit_status(['exercises', '--render', '--force', '--out', str(quick_report), '--readme', str(readme)]) == 0
    text = readme.read_text()
    assert 'old section' not in text and f'{BEGIN}\n## Exercises\n' in text and text.count(END) == 1
    assert text.startswith('line 0 before the section\n') and text.endswith('line 39 after the section\n')


def test_help_says_what_exercises_writes_and_the_force_rule(capsys):
    assert exit_status(['exercises', '--help']) == 0
    text = ' '.join(capsys.readouterr().out.split())
    assert '--force' in text and 'exercises.md' in text and 'refused before anything runs, unless --force' in text
