"""Read the MXNet code cells of a d2l chapter from its reStructuredText export, as written.

The exports under ``$GLUON_D2L_CHAPTERS`` (default ``../shared/seeds``) are rendered pages in
which every cell's code lost its indentation, and in most of them its line breaks as well.
Only whitespace was lost, so this module puts it back:

1. **Which cells.** The page is cut at its ``.. raw:: html`` markers. A run of pieces that hold
   ``.. code:: python`` with nothing but whitespace between them is one group of framework tabs.
   The tab header before the group (``mxnetpytorchtensorflow``, ``pytorchmxnetjaxtensorflow``)
   gives the order; a page without headers uses d2l 0.17's order (mxnet, pytorch, tensorflow). The
   MXNet tab's cells are taken, and cells that stand outside the tabs (shared by all frameworks).
   Prose that ran into a cell (it holds RST ````literals````) is cut off there.
2. **Statements.** A cell that kept its line breaks is read line by line. Otherwise, a new
   statement starts at a statement keyword, after the colon of a compound header, and where two operands meet
   (``f(x) y = 1``). A comment ends where the text that follows reads as code: a statement keyword,
   an assignment, a call of a dotted name, a docstring, or the next ``#``. IPython magics
   (``%matplotlib inline``) are dropped.
3. **Indentation.** A compound header opens a block; ``else``/``elif`` close the innermost
   ``if``/``for``/``try``; ``def`` inside a class is a method; ``return`` ends its function. Where
   the text alone cannot say whether a statement leaves a loop or a branch, ``DEDENT`` gives its
   level. That table is the only input not read from the chapter.

:func:`check_whitespace_only` proves the rebuilt code differs from the chapter's text by whitespace
alone.
"""
import os
import pathlib
import re

CHAPTERS_ENV = 'GLUON_D2L_CHAPTERS'
DEFAULT_DIR = pathlib.Path(__file__).resolve().parents[2] / 'shared' / 'seeds'
DEFAULT_TAB_ORDER = ('mxnet', 'pytorch', 'tensorflow')
TAB_HEADER = re.compile(r'\b((?:mxnet|pytorch|tensorflow|jax){2,})\b')

#: statement start -> indentation level (0 = the cell's top level), where a statement leaves a block
DEDENT = {
    'for _ in range(num_preds):': 1,            # predict_ch8: the prediction loop follows the warm-up loop
    'norm = math.sqrt(': 1,                     # grad_clipping: after the if/else choosing the parameters
    'y = Y.T.reshape(-1)': 2,                   # train_epoch_ch8: after the state's if/else
    'l.backward()': 2,                          # train_epoch_ch8: outside autograd.record()
    'predict = lambda prefix:': 1,              # train_ch8: after the if/else choosing the updater
    "print(f'perplexity": 1,                    # train_ch8: after the epoch loop
}

KEYWORDS_STARTING = {'def', 'class', 'for', 'while', 'with', 'if', 'elif', 'else', 'try', 'except', 'finally',
                     'return', 'raise', 'assert', 'del', 'pass', 'break', 'continue', 'import', 'from',
                     'global', 'nonlocal'}
COMPOUND = {'def', 'class', 'for', 'while', 'with', 'if', 'elif', 'else', 'try', 'except', 'finally'}
OPERATOR_WORDS = {'in', 'is', 'not', 'and', 'or', 'lambda', 'as', 'if', 'else', 'for'}
CODE_AFTER_COMMENT = re.compile(
    r'(?:(?:' + '|'.join(sorted(KEYWORDS_STARTING)) + r')\b'          # a statement keyword
    r'|"""'                                                            # a docstring
    r'|[^\W\d]\w*(?:\.\w+)*(?:\[[^\]]*\])?(?:\s*,\s*[^\W\d]\w*)*\s*(?:=(?!=)|[-+*/]=)'   # an assignment
    r'|[^\W\d]\w*(?:\.\w+)+\(|#)')                                     # a dotted call; another comment


def chapter_dir():
    path = pathlib.Path(os.environ.get(CHAPTERS_ENV) or DEFAULT_DIR)
    if not path.is_dir():
        raise FileNotFoundError(f'no d2l chapter exports at {path}: set {CHAPTERS_ENV}')
    return path


# --- 1. the MXNet cells ------------------------------------------------------------------------

def mxnet_cells(text):
    """``[(code, printed output or None)]`` for the MXNet tab's cells, in page order."""
    pieces = re.split(r'\.\. raw:: html', text)
    cells, group, order = [], [], DEFAULT_TAB_ORDER

    def close_group():
        if group:
            if len(group) != len(order):
                raise ValueError(f'a tab group has {len(group)} tabs, its header {order} says {len(order)}: '
                                 + group[0][:80])
            cells.extend(_cells_of(group[order.index('mxnet')]))
        group.clear()

    for piece in pieces:
        text = piece.strip()
        if text.startswith(('.. raw:: latex', '.. code::')):
            group.append(piece)
        elif text:
            close_group()
            header = TAB_HEADER.fullmatch(text)
            if header:
                order = tuple(re.findall('mxnet|pytorch|tensorflow|jax', header[1]))
            elif '.. code:: python' in piece:       # a cell outside the tabs: every framework runs it
                cells.extend(_cells_of(piece))
    close_group()
    return cells


def _cells_of(tab):
    found = []
    for part in tab.split('.. code:: python')[1:]:
        end = re.search(r'\.\. raw:: latex|\.\. parsed-literal::', part)
        literal = re.search(r'\.\. parsed-literal::\s*:class: output\s*(.*)', part, re.S)
        found.append((part[:end.start()] if end else part, literal[1].strip() if literal else None))
    return found


# --- 2. statements -------------------------------------------------------------------------------

def _scan_string(text, i):
    """Index just past the string literal starting at ``text[i]`` (a quote)."""
    quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else text[i]
    j = i + len(quote)
    while j < len(text):
        if text[j] == '\\':
            j += 2
            continue
        if text.startswith(quote, j):
            return j + len(quote)
        j += 1
    raise ValueError(f'unterminated string at {text[i:i + 40]!r}')


def _tokens(text, keeps_lines):
    """``(kind, start, end)`` for each token; kinds: name, number, string, op, comment, newline."""
    i, out = 0, []
    while i < len(text):
        ch = text[i]
        if ch == '\n':
            out.append(('newline', i, i + 1))
            i += 1
        elif ch.isspace():
            i += 1
        elif ch == '#':
            end = text.find('\n', i)
            end = len(text) if end < 0 else end
            if not keeps_lines:
                end = min(end, _comment_end(text, i))
            out.append(('comment', i, end))
            i = end
        elif ch in '"\'':
            j = _scan_string(text, i)
            out.append(('string', i, j))
            i = j
        elif ch.isalpha() or ch == '_':
            j = i
            while j < len(text) and (text[j].isalnum() or text[j] == '_'):
                j += 1
            if j < len(text) and text[j] in '"\'' and text[i:j].lower() in ('f', 'r', 'b', 'rb', 'br', 'u', 'fr', 'rf'):
                k = _scan_string(text, j)
                out.append(('string', i, k))
                i = k
                continue
            out.append(('name', i, j))
            i = j
        elif ch.isdigit():
            m = re.match(r'\d[\w.]*', text[i:])
            out.append(('number', i, i + m.end()))
            i += m.end()
        else:
            m = re.match(r'\*\*=?|//=?|[-+*/%@&|^<>=!]=|->|<<|>>|.', text[i:])
            out.append(('op', i, i + m.end()))
            i += m.end()
    return out


def statements(code, keeps_lines=None):
    """Split one cell's code into logical lines (comments are lines of their own)."""
    if keeps_lines is None:
        keeps_lines = '\n' in code.strip()
    toks = _tokens(code, keeps_lines)
    lines, start, depth, k = [], None, 0, 0
    first, header_done = None, False

    def flush(end):
        nonlocal start, first, header_done
        if start is not None:
            lines.append(code[start:end].strip())
        start, first, header_done = None, None, False

    while k < len(toks):
        kind, a, b = toks[k]
        word = code[a:b]
        if kind == 'newline':
            if keeps_lines and depth == 0:
                flush(a)
            k += 1
            continue
        if kind == 'comment':
            if depth > 0 and not code.startswith('\n', b):   # inside brackets: its line must end there
                return statements(code[:a] + code[a:b].rstrip() + '\n' + code[b:], keeps_lines)
            if depth == 0:
                flush(a)
                lines.append(word.strip())
            k += 1
            continue
        if start is not None and depth == 0 and not keeps_lines and \
                _starts_statement(code, toks, k, first, header_done):
            flush(a)
        if start is None:
            start, first = a, word
        if word in ('(', '[', '{'):
            depth += 1
        elif word in (')', ']', '}'):
            depth -= 1
        elif word == ':' and depth == 0 and first in COMPOUND and not header_done and _no_open_lambda(code[start:a]):
            header_done = True
        k += 1
    flush(len(code))
    return [line for line in lines if line]


def _starts_statement(code, toks, k, first, header_done):
    """Whether token ``k`` (at bracket depth 0, in a cell that lost its line breaks) begins a statement."""
    kind, a, b = toks[k]
    word = code[a:b]
    prev_kind, pa, pb = toks[k - 1]
    prev = code[pa:pb]
    if header_done:
        return True
    if kind == 'name' and word in KEYWORDS_STARTING:
        return not (word == 'import' and first == 'from')
    operand = kind in ('number', 'string') or (kind == 'name' and word not in OPERATOR_WORDS)
    ends_operand = prev_kind in ('number', 'string') or prev in (')', ']', '}') or (
        prev_kind == 'name' and prev not in OPERATOR_WORDS | KEYWORDS_STARTING)
    return operand and ends_operand


def _no_open_lambda(text):
    return not re.search(r'\blambda\b', re.sub(r'\([^()]*\)', '', text))


def _comment_end(code, i):
    """Where a comment that lost its line break ends: the first word after it that reads as code."""
    for m in re.finditer(r'\s(?=\S)', code[i + 1:]):
        if CODE_AFTER_COMMENT.match(code, i + 1 + m.end()):
            return i + 1 + m.start()
    return len(code)


# --- 3. indentation ------------------------------------------------------------------------------

def indent(lines):
    """Python source for the logical lines, indented by the rules in the module docstring."""
    out, blocks, level, used = [], [], 0, set()     # blocks: [(keyword, header level)]
    for line in lines:
        if line.startswith('#'):
            out.append('    ' * level + line)
            continue
        word = re.match(r'[\w"\']+', line)
        word = word[0] if word else ''
        if word in ('else', 'elif', 'except', 'finally'):
            while blocks and blocks[-1][0] not in ('if', 'elif', 'for', 'while', 'try', 'except'):
                blocks.pop()
            level = blocks.pop()[1]
        elif word == 'def' and any(b[0] == 'class' for b in blocks):
            while blocks[-1][0] != 'class':
                blocks.pop()
            level = blocks[-1][1] + 1
        elif word == 'return':
            while blocks[-1][0] != 'def':
                blocks.pop()
            level = blocks[-1][1] + 1
        for start, hinted in DEDENT.items():
            if line.startswith(start):
                used.add(start)
                level = hinted
                while blocks and blocks[-1][1] >= level:
                    blocks.pop()
        out.append('    ' * level + line)
        if word in COMPOUND and line.endswith(':'):
            blocks.append((word, level))
            level += 1
        elif word == 'return':
            level = blocks.pop()[1]
    return '\n'.join(out) + '\n', used


def rebuild(code):
    """``(source, dropped, dedents_used)``: the cell as runnable Python, the text left out
    (IPython magics, prose that ran into the cell) and the ``DEDENT`` entries it needed."""
    magic = re.match(r'\s*(%\w+(?:[ \t]+[\w.-]+)*?)(?=\s+(?:import|from|def|class)\b|\s*\n|\s*$)', code)
    dropped = [magic[1]] if magic else []
    lines = statements(code[magic.end():] if magic else code)
    for i, line in enumerate(lines):
        if '``' in line:                         # prose from here on, with its first words before it
            j = i
            while j > 0 and re.fullmatch(r'[^\W\d]\w*(\s*,\s*[^\W\d]\w*)*\.?', lines[j - 1]):
                j -= 1
            dropped += lines[j:]
            lines = lines[:j]
            break
    source, used = indent(lines)
    return source, dropped, used


def check_whitespace_only(original, source, dropped):
    """Raise unless ``source`` and ``dropped`` together are ``original`` up to whitespace."""
    def squash(text):
        return re.sub(r'\s+', '', text)
    magics = [d for d in dropped if d.startswith('%')]
    prose = [d for d in dropped if not d.startswith('%')]
    if squash(original) != squash(''.join(magics) + source + ''.join(prose)):
        raise AssertionError(f'the rebuilt cell differs from the chapter beyond whitespace:\n{source}')
