"""``gluon-d2l exercises --quick``: every exercise answered with a table of measured numbers and plots."""
import json
import math
import os
import re
import subprocess
import sys

import pytest

from gluon_d2l.program import exercises

SECTIONS = ('1. One-hot encoding is an embedding', '2. Hyperparameters and learned embeddings',
            '3. Sampling instead of the most likely character', '4. Without gradient clipping',
            '5. Not detaching the hidden state', '6. ReLU instead of tanh')
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


OTHER_BOOK = ('The chapter asks how well the model does on another book by the same author. '
              'Any UTF-8 text will do for the command line, even with accents: déjà vu. ') * 40


@pytest.fixture(scope='module')
def report(tmp_path_factory, corpus_dir):
    """One quick run through the command line, with another book for exercise 2."""
    out = tmp_path_factory.mktemp('exercises')
    book = out.parent / 'other-book.txt'
    book.write_text(OTHER_BOOK, encoding='utf-8')
    done = subprocess.run([sys.executable, '-m', 'gluon_d2l', 'exercises', '--out', str(out), '--quick',
                           '--corpus', str(book)], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out / exercises.REPORT)
    path = out / exercises.REPORT
    return out, path.read_text(), json.loads((out / exercises.NUMBERS).read_text()), done.stderr.splitlines()


def sections(text):
    parts = re.split(r'^## ', text, flags=re.M)[1:]
    return {part.split('\n', 1)[0]: part for part in parts}


def numbers_in_tables(section):
    rows = [line for line in section.splitlines() if line.startswith('|') and not line.startswith('|---')]
    cells = [c.strip() for row in rows[1:] for c in row.strip('|').split('|')]
    number = r'-?\d+(\.\d+)?(e[-+]\d+)?'
    return [float(re.match(number, c).group()) for c in cells if re.fullmatch(f'{number}( %|/\\d+)?', c)]


def test_each_exercise_has_a_table_of_numbers_and_an_answer(report):
    _, text, _, _ = report
    found = sections(text)
    assert tuple(found) == SECTIONS
    for title, body in found.items():
        assert len(numbers_in_tables(body)) >= 4, title
        assert '**Answer.**' in body, title


def test_every_plot_is_a_png_next_to_the_report(report):
    out, text, _, _ = report
    plots = re.findall(r'!\[\]\(([^)]+)\)', text)
    assert tuple(plots) == exercises.PLOTS  # exercises 1, 2, 4, 5, 6 have curves; 3 is text
    for name in plots:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, name


def test_the_numbers_answer_the_questions(report):
    _, _, numbers, lines = report
    one = numbers['1']
    assert all(p['forward'] == 0.0 for p in one['products'])  # one-hot rows select W's rows exactly
    assert max(p['gradient'] for p in one['products']) < 1e-4
    assert one['max_rel_diff'] < 1e-5  # exercise 1: the same trajectory
    curves = list(one['curves'].values())
    assert curves[0][-1] < curves[0][0]  # and it trains
    two = numbers['2']
    assert {r['embedding'] for r in two['rows']} == {None, exercises.QUICK.embedding}
    assert set(two['best']) == {'one-hot', 'embedding'}
    assert two['other']['path'].endswith('other-book.txt') and set(two['other']['runs']) == {'one-hot', 'embedding'}
    three = {r['setting']: r for r in numbers['3']['rows']}
    assert len(three) == 4 and all(r['text'].startswith(numbers['3']['prefix']) for r in three.values())
    for key, runs in (('4', ('clip theta=1', 'no clipping')), ('5', ('detached (d2l)', 'attached (detach=False)'))):
        assert set(numbers[key]['runs']) == set(runs)
        assert all(len(r['curve']) >= 2 and all(math.isfinite(p) for p in r['curve'])
                   for r in numbers[key]['runs'].values())
    five = numbers['5']['runs']
    assert all(r['seconds_per_epoch'] > 0 and r['rss_peak'] > 0 for r in five.values())
    assert len(numbers['6']['runs']) == 4
    assert any('exercise 5' in line for line in lines)  # progress was reported


def test_readme_section_is_the_report_one_level_down(report, tmp_path):
    out, text, _, _ = report
    readme = tmp_path / 'README.md'
    readme.write_text(f'# Project\n\nintro\n\n{exercises.README_START}\nold\n{exercises.README_END}\n\n## After\n')
    exercises.update_readme(readme, out / exercises.REPORT)
    new = readme.read_text()
    assert new.startswith('# Project\n\nintro\n\n') and new.endswith('\n\n## After\n') and 'old' not in new
    assert '## Exercises' in new and '### 1. One-hot encoding is an embedding' in new
    assert f'![]({(out / "ex4_clipping.png").as_posix()})' in new or 'ex4_clipping.png)' in new
    with pytest.raises(ValueError, match='must have the line'):
        exercises.update_readme(out / exercises.REPORT, out / exercises.REPORT)


def test_the_report_is_rebuilt_from_its_numbers(report):
    out, text, _, _ = report
    assert exercises.rerender(out).read_text() == text
