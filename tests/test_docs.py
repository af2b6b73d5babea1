"""Every ```python block of README.md and docs/*.md runs as written, each in a fresh interpreter in an
empty folder with the test corpus (``GLUON_D2L_DATA``, as conftest sets it): a block that raises fails.
A block fenced ```python no-run is shown and not run; it is for long-running snippets only, at most 2."""
import os
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
PAGES = [REPO / 'README.md'] + sorted((REPO / 'docs').glob('*.md'))
FENCE = re.compile(r'^```python([^\n]*)\n(.*?)^```\s*$', re.MULTILINE | re.DOTALL)
MAX_NO_RUN = 2


def blocks():
    for page in PAGES:
        text = page.read_text(encoding='utf-8')
        for match in FENCE.finditer(text):
            line = text.count('\n', 0, match.start()) + 1
            yield page.relative_to(REPO).as_posix(), line, match.group(1).strip(), match.group(2)


EXAMPLES = [(f'{page}:{line}', code) for page, line, info, code in blocks() if info != 'no-run']


def test_the_pages_have_examples_and_few_are_left_unrun():
    infos = [info for *_, info, _ in blocks()]
    assert EXAMPLES, 'README.md has its drop-in example'
    assert set(infos) <= {'', 'no-run'}, f'unknown fence info: {set(infos)}'
    assert infos.count('no-run') <= MAX_NO_RUN


@pytest.mark.parametrize('where, code', EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_example_runs(where, code, tmp_path):
    env = dict(os.environ, MPLBACKEND='Agg', PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
    done = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f'{where} failed:\n{done.stdout}\n{done.stderr}'
