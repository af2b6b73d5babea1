"""The d2l chapters' own MXNet code runs unchanged on ``import gluon_d2l as d2l``.

Every MXNet cell of every chapter export (the custom-layers chapter in three translations, one of
them d2l 1.0's, and RNN from scratch) runs in order in one namespace, as a notebook would run it.
The cells are read from the exports at test time (``tests/chapter_code.py`` says how cells are chosen
and how their lost whitespace is put back, and checks that nothing but whitespace changed). Two
edits are made, and the test checks that each is made exactly where expected:
``from d2l import mxnet as d2l`` becomes ``import gluon_d2l as d2l``, and the RNN chapter's
``num_epochs, lr = 500, 1`` trains for 11 epochs (one point of its ``Animator``, which starts at 10). A cell
whose printed output is a Python literal (a shape, say) must give that value again.
"""
import ast
import math
import re

import pytest

import chapter_code

IMPORT_LINE = 'from d2l import mxnet as d2l'
EPOCHS = ('num_epochs, lr = 500, 1', 'num_epochs, lr = 11, 1')


def chapter_files():
    try:
        return sorted(chapter_code.chapter_dir().glob('*.txt'))
    except FileNotFoundError as err:
        return [err]


def run_cell(source, namespace):
    """Run a cell like a notebook: return the value of its last line if that is an expression."""
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, '<cell>', 'exec'), namespace)
    return eval(compile(ast.Expression(last.value), '<cell>', 'eval'), namespace) if last else None


def as_literal(text):
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, (tuple, int)) and not isinstance(value, bool) else None


@pytest.mark.parametrize('path', chapter_files(), ids=lambda p: getattr(p, 'stem', 'missing'))
def test_the_chapters_mxnet_cells_run_unchanged(path, capsys):
    assert not isinstance(path, Exception), str(path)
    cells = chapter_code.mxnet_cells(path.read_text(encoding='utf-8'))
    assert len(cells) >= 7, f'{path.name}: only {len(cells)} MXNet cells found'
    namespace, edits, checked_outputs = {'__name__': '__chapter__'}, {'import': 0, 'epochs': 0}, 0
    for code, output in cells:
        source, dropped, _ = chapter_code.rebuild(code)
        chapter_code.check_whitespace_only(code, source, dropped)
        edits['import'] += source.count(IMPORT_LINE)
        edits['epochs'] += source.count(EPOCHS[0])
        source = source.replace(IMPORT_LINE, 'import gluon_d2l as d2l').replace(*EPOCHS)
        value = run_cell(source, namespace)
        expected = as_literal(output) if output else None
        if expected is not None:
            assert value == expected, f'{path.name}: {source!r} gave {value!r}, the chapter printed {output!r}'
            checked_outputs += 1
    uses_d2l = any('d2l' in code for code, _ in cells)
    assert edits['import'] == (1 if uses_d2l else 0)
    printed = capsys.readouterr().out
    if 'train_ch8' in namespace:                  # RNN from scratch: two trainings, as in the chapter
        assert edits['epochs'] == 1 and checked_outputs >= 2
        runs = re.findall(r'perplexity ([\d.]+), ([\d.]+) tokens/sec on cpu\(0\)', printed)
        assert len(runs) == 2, printed
        assert all(math.isfinite(float(ppl)) and float(ppl) < len(namespace['vocab']) for ppl, _ in runs), runs
        assert printed.count('time traveller') >= 2
    else:                                         # custom layers: the chapter's blocks exist and run
        assert {'CenteredLayer', 'MyDense'} <= set(namespace)


def all_cells():
    return [cell for path in chapter_files() if not isinstance(path, Exception)
            for cell in chapter_code.mxnet_cells(path.read_text(encoding='utf-8'))]


def test_every_dedent_entry_is_needed_and_used(monkeypatch):
    """Each ``DEDENT`` entry is used once, and without the table the rebuilt code nests differently."""
    cells = [code for code, _ in all_cells()]
    used = [entry for code in cells for entry in chapter_code.rebuild(code)[2]]
    assert sorted(used) == sorted(chapter_code.DEDENT)
    with_table = [chapter_code.rebuild(code)[0] for code in cells]
    monkeypatch.setattr(chapter_code, 'DEDENT', {})
    without = [chapter_code.rebuild(code)[0] for code in cells]
    changed = [a for a, b in zip(with_table, without) if a != b]
    assert len(changed) == 4      # predict_ch8, grad_clipping, train_epoch_ch8, train_ch8
    assert any('\n        for _ in range(num_preds):' in b for b in without)   # inside the warm-up loop


def test_the_whitespace_check_sees_any_other_change():
    code = next(code for code, _ in all_cells() if 'class MyDense' in code)
    source, dropped, _ = chapter_code.rebuild(code)
    chapter_code.check_whitespace_only(code, source, dropped)
    for planted in (source.replace('npx.relu', 'npx.sigmoid'), source.replace('units,', 'units'), source[:-20]):
        with pytest.raises(AssertionError, match='beyond whitespace'):
            chapter_code.check_whitespace_only(code, planted, dropped)
