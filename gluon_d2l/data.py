"""The Time Machine pipeline: find the corpus, tokenize, build a vocabulary, batch it.

The corpus is looked up in this order:

1. an explicit ``path`` argument (any UTF-8 text file);
2. ``$GLUON_D2L_DATA/timemachine.txt`` (the variable names a directory; if the
   file is not there the lookup goes on);
3. the user cache, ``$XDG_CACHE_HOME/gluon_d2l`` or ``~/.cache/gluon_d2l``;
4. a download from d2l's data URL into that cache.

Copies found in 2-4 must have the published SHA-1.
"""
import collections
import hashlib
import numbers
import os
import pathlib
import random
import re
import tempfile
import urllib.request

import numpy as onp
from mxnet import np
from mxnet.util import is_np_array

from .checks import check_bool, check_int, check_path, check_positive_int, token_ids

DATA_ENV = 'GLUON_D2L_DATA'
TIME_MACHINE_FILE = 'timemachine.txt'
TIME_MACHINE_URL = 'http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt'
TIME_MACHINE_SHA1 = '090b5e7e70c295757f55df93cb0a180b9691891a'


def sha1_of(path):
    """Return the hex SHA-1 of a file's bytes."""
    return hashlib.sha1(pathlib.Path(path).read_bytes()).hexdigest()


def cache_dir():
    """Return the directory where downloaded data is cached."""
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return pathlib.Path(base) / 'gluon_d2l'


def _verified(path, origin):
    digest = sha1_of(path)
    if digest != TIME_MACHINE_SHA1:
        raise ValueError(f'{path} (from {origin}) has SHA-1 {digest}, expected '
                         f'{TIME_MACHINE_SHA1}: the file is corrupt or not The Time Machine')
    return path


def fetch(url, sha1, target, hint):
    """Download ``url`` to ``target`` (SHA-1 checked) and return ``target``; ``hint`` ends the offline error.

    ``mxnet.gluon.utils.download`` fetches and checks the SHA-1, into a private temporary
    directory: it renames its download into place *before* checking the hash, so a bad
    payload never reaches ``target``'s directory. Only a checked file is written there
    (through a temporary name); offline, nothing is created. ``file://`` URLs (local
    mirrors), which ``requests`` cannot open, are read with ``urllib`` and checked the same way.
    """
    from mxnet.gluon.utils import download
    target = pathlib.Path(target)
    with tempfile.TemporaryDirectory(prefix='gluon-d2l-download-') as tmp:
        fetched = os.path.join(tmp, target.name)
        try:
            if url.startswith('file:'):
                with urllib.request.urlopen(url) as response, open(fetched, 'wb') as f:
                    f.write(response.read())
                if sha1_of(fetched) != sha1:
                    raise UserWarning(url)
            else:
                download(url, path=fetched, sha1_hash=sha1, retries=1)
        except UserWarning:
            raise ValueError(f'download from {url} has SHA-1 {sha1_of(fetched)}, expected {sha1}; '
                             'nothing was written') from None
        except Exception as err:  # requests' connection errors, HTTP status, OSError
            raise RuntimeError(f'no local copy of {target.name} and cannot download {url} '
                               f'({type(err).__name__}: {err}); {hint}') from None
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f'.{target.name}-')
        with os.fdopen(fd, 'wb') as f, open(fetched, 'rb') as payload:
            f.write(payload.read())
        os.replace(partial, target)
    return target


def download_time_machine(target_dir):
    """Download the corpus into ``target_dir`` with :func:`fetch` and return its path."""
    return fetch(TIME_MACHINE_URL, TIME_MACHINE_SHA1, pathlib.Path(target_dir) / TIME_MACHINE_FILE,
                 f'set {DATA_ENV} to a directory holding {TIME_MACHINE_FILE}, or pass a corpus path')


def find_time_machine(path=None):
    """Return the path of the corpus to read, following the module's lookup order."""
    if path is not None:
        path = pathlib.Path(path)
        if not path.is_file():
            raise FileNotFoundError(f'corpus path {str(path)!r} is not a file')
        return path
    env_dir = os.environ.get(DATA_ENV)
    if env_dir is not None and not os.path.isdir(env_dir):
        raise ValueError(f'{DATA_ENV}={env_dir!r} is not a directory (it must name the directory '
                         f'holding {TIME_MACHINE_FILE})')
    if env_dir and (pathlib.Path(env_dir) / TIME_MACHINE_FILE).is_file():
        return _verified(pathlib.Path(env_dir) / TIME_MACHINE_FILE, DATA_ENV)
    cached = cache_dir() / TIME_MACHINE_FILE
    if cached.is_file():
        return _verified(cached, 'the cache')
    return download_time_machine(cache_dir())


def read_time_machine(path=None):
    """Read the corpus as lines: non-letters become spaces, then strip and lower-case.

    The lines are those of ``str.splitlines`` and each is d2l's
    ``re.sub('[^A-Za-z]+', ' ', line).strip().lower()``. The file is read in chunks of
    characters whatever its line lengths (see :class:`_LineCleaner`), so the memory is that
    of the cleaned lines plus one chunk.
    """
    source = find_time_machine(check_path('path', path))
    lines, line = [], []
    cleaner = _LineCleaner()
    for pieces in _cleaned_chunks(source, cleaner):
        line.append(pieces[0])
        for piece in pieces[1:]:
            lines.append(b''.join(line).decode('ascii'))
            line = [piece]
    if cleaner.open_line_has_chars:
        lines.append(b''.join(line).decode('ascii'))
    return lines


def tokenize(lines, token='word'):
    """Split each line into word or character tokens."""
    if token not in ('word', 'char'):
        raise ValueError(f"token must be 'word' or 'char', got {token!r}")
    if isinstance(lines, str) or not isinstance(lines, (list, tuple)) \
            or not all(isinstance(line, str) for line in lines):
        raise TypeError('lines must be a list of strings (one per line)'
                        + (', got one string' if isinstance(lines, str) else ''))
    if token == 'word':
        return [line.split() for line in lines]
    return [list(line) for line in lines]


def count_corpus(tokens):
    """Count token frequencies in a flat or nested (list of lines) token list."""
    if not isinstance(tokens, (list, tuple)):
        raise TypeError(f'tokens must be a list of tokens or a list of lines of tokens, got {type(tokens).__name__}')
    if len(tokens) == 0 or isinstance(tokens[0], list):
        if not all(isinstance(line, (list, tuple)) for line in tokens):
            raise TypeError('tokens mixes lines (lists) and single tokens')
        tokens = [token for line in tokens for token in line]
    try:
        return collections.Counter(tokens)
    except TypeError:
        raise TypeError('tokens must be hashable (strings), got an unhashable token') from None


class Vocab:
    """Map tokens to indices; index 0 is the unknown token ``<unk>``."""

    def __init__(self, tokens=None, min_freq=0, reserved_tokens=None):
        """``reserved_tokens`` follow ``<unk>`` in order; ``<unk>`` itself among them stays index 0.

        A token listed twice in ``reserved_tokens`` is refused (``ValueError``), so that no
        token has two indices.
        """
        if isinstance(min_freq, bool) or not isinstance(min_freq, numbers.Real) or not min_freq >= 0 \
                or min_freq == float('inf'):
            raise ValueError(f'min_freq must be a finite number >= 0, got {min_freq!r}')
        reserved = self._check_reserved(reserved_tokens)
        counter = count_corpus([] if tokens is None else tokens)
        self._token_freqs = sorted(counter.items(), key=lambda x: x[1], reverse=True)
        self.idx_to_token = ['<unk>'] + reserved
        self.token_to_idx = {token: idx for idx, token in enumerate(self.idx_to_token)}
        for token, freq in self._token_freqs:
            if freq < min_freq:
                break
            if token not in self.token_to_idx:
                self.idx_to_token.append(token)
                self.token_to_idx[token] = len(self.idx_to_token) - 1

    @staticmethod
    def _check_reserved(reserved_tokens):
        """The reserved tokens after ``<unk>``, as a list; ``ValueError`` naming them for a duplicate."""
        if reserved_tokens is None:
            return []
        if isinstance(reserved_tokens, str) or not isinstance(reserved_tokens, (list, tuple)):
            raise TypeError(f'reserved_tokens must be a list of tokens, got {reserved_tokens!r}')
        try:
            repeated = [t for t, n in collections.Counter(reserved_tokens).items() if n > 1]
        except TypeError:
            raise TypeError('reserved_tokens must be hashable tokens (strings)') from None
        if repeated:
            raise ValueError(f'reserved_tokens lists {repeated} more than once: each token has one index')
        return [t for t in reserved_tokens if t != '<unk>']

    @classmethod
    def _from_counter(cls, counter):
        """The vocabulary of ``Vocab(tokens)`` from the ``Counter`` of those tokens."""
        vocab = cls()
        vocab._token_freqs = sorted(counter.items(), key=lambda x: x[1], reverse=True)
        for token, _ in vocab._token_freqs:
            vocab.idx_to_token.append(token)
            vocab.token_to_idx[token] = len(vocab.idx_to_token) - 1
        return vocab

    @classmethod
    def from_idx_to_token(cls, idx_to_token):
        """Rebuild a vocabulary from its saved ``idx_to_token`` list."""
        if not idx_to_token or idx_to_token[0] != '<unk>' or len(set(idx_to_token)) != len(idx_to_token):
            raise ValueError("idx_to_token must be a list of unique tokens starting with '<unk>'")
        vocab = cls()
        vocab.idx_to_token = list(idx_to_token)
        vocab.token_to_idx = {token: idx for idx, token in enumerate(vocab.idx_to_token)}
        return vocab

    def __len__(self):
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        if not isinstance(tokens, (list, tuple)):
            try:
                return self.token_to_idx.get(tokens, self.unk)
            except TypeError:
                raise TypeError(f'tokens must be a token or a list of tokens, got {type(tokens).__name__}') from None
        return [self.__getitem__(token) for token in tokens]

    def to_tokens(self, indices):
        """Map an index or a sequence (list, tuple, array) of indices back to tokens.

        Indices must be whole numbers in ``[0, len(self))``: ``1.5``, NaN or a bool raise an
        error naming ``indices``.
        """
        if isinstance(indices, (bool, onp.bool_)):
            raise TypeError(f'indices must be integers, got {indices!r}')
        scalar = not isinstance(indices, (list, tuple)) and getattr(indices, 'ndim', 0) == 0
        ids = token_ids('indices', [indices] if scalar and not hasattr(indices, 'ndim') else indices, 'int64')
        if isinstance(indices, (list, tuple)) and any(isinstance(i, (bool, onp.bool_)) for i in indices):
            raise TypeError('indices must be integers, got a bool')
        if ids.ndim > 1:
            raise ValueError(f'indices must be an index or a 1-D sequence of indices, got shape {ids.shape}')
        if ids.size and ids.max() >= len(self):
            raise IndexError(f'indices: token index {ids.max()} is outside the vocabulary of size {len(self)}')
        if scalar:
            return self.idx_to_token[int(ids.reshape(-1)[0])]
        return [self.idx_to_token[i] for i in ids.tolist()]

    @property
    def unk(self):
        """The index of the unknown token."""
        return 0

    @property
    def token_freqs(self):
        """``(token, count)`` pairs, most frequent first."""
        return self._token_freqs


#: what ``str.splitlines`` splits on besides the newlines that text mode already turns into ``\n``
_LINE_BREAKS = re.compile('[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]')


#: bytes -> what preprocessing keeps: ASCII letters lower-cased, ``\n``; anything else (UTF-8's
#: multi-byte characters included) a space
_KEEP = bytes(c + 32 if 65 <= c <= 90 else c if 97 <= c <= 122 or c == 10 else 32 for c in range(256))


def _collapse_spaces(data):
    """``data`` with each run of spaces replaced by one space (NumPy masks: no object per word)."""
    if not data:
        return data
    codes = onp.frombuffer(data, dtype='uint8')
    space = codes == 32
    keep = ~space
    keep[1:] |= ~space[:-1]
    keep[0] = True
    return codes[keep].tobytes()


class _LineCleaner:
    """d2l's per-line preprocessing applied to a text that arrives in chunks of any size.

    Each line becomes ``re.sub('[^A-Za-z]+', ' ', line).strip().lower()``: its runs of letters,
    lower-cased, joined by single spaces. A chunk may end inside a line, a word or a run of
    non-letters; the cleaner keeps three facts about the line still open (whether it has
    output, whether a run of non-letters follows that output, whether it has any character),
    which is all that the rest of the line needs. Not ``re.sub`` per line: translating the
    bytes and collapsing runs of spaces with NumPy is
    4x faster, for the same result.
    """

    def __init__(self):
        self.open_line_has_words = False
        self.open_line_has_gap = False
        self.open_line_has_chars = False

    def feed(self, text):
        """Clean ``text``: a list of byte strings, the first continuing the open line; each later
        one starts a new line (so the lines between are complete and the last one is open)."""
        data = _LINE_BREAKS.sub('\n', text).encode('utf-8').translate(_KEEP)
        segments = _collapse_spaces(data).split(b'\n')
        first, last = segments[0], segments[-1]
        if len(segments) == 1:
            self.open_line_has_chars = self.open_line_has_chars or bool(data)
            return [self._continue(first)]
        pieces = [self._continue(first)] + [line.strip(b' ') for line in segments[1:-1]]
        self.open_line_has_words = self.open_line_has_gap = False
        self.open_line_has_chars = bool(last)
        pieces.append(self._continue(last))
        return pieces

    def _continue(self, segment):
        """The output of ``segment`` (spaces collapsed) appended to the open line."""
        words = segment.strip(b' ')
        if not words:
            self.open_line_has_gap = self.open_line_has_words and (self.open_line_has_gap or bool(segment))
            return b''
        if self.open_line_has_words and (self.open_line_has_gap or segment[:1] == b' '):
            words = b' ' + words
        self.open_line_has_words, self.open_line_has_gap = True, segment[-1:] == b' '
        return words


def _cleaned_chunks(source, cleaner, chunk_chars=1 << 22):
    """Yield ``cleaner.feed`` of each chunk of ``chunk_chars`` characters of the file ``source``."""
    try:
        with open(source, encoding='utf-8') as f:
            while True:
                chunk = f.read(chunk_chars)
                if not chunk:
                    return
                yield cleaner.feed(chunk)
    except UnicodeDecodeError as err:
        raise ValueError(f'corpus {str(source)!r} is not UTF-8 text ({err.reason})') from None


def _clean_batches(source, chunk_chars=1 << 22):
    """Yield the preprocessed corpus, its lines concatenated, as ASCII bytes, one chunk of the file
    (``chunk_chars`` characters, whatever the line lengths) at a time."""
    for pieces in _cleaned_chunks(source, _LineCleaner(), chunk_chars):
        yield b''.join(pieces)


def _check_max_tokens(max_tokens):
    return check_int('max_tokens', max_tokens)


def load_corpus_time_machine(max_tokens=-1, path=None):
    """Return the character-index corpus and its vocabulary.

    As in d2l, the vocabulary is that of the whole file (``<unk>``, then characters by
    decreasing count, ties in order of first appearance) and the corpus is its first
    ``max_tokens`` characters (all for ``max_tokens <= 0``). The file is read once, in
    chunks of characters whatever its line lengths: characters are counted as they stream
    by and only the first ``max_tokens`` are kept (one byte each until the end), so a large
    file costs one pass and, beyond the returned list, the memory of one chunk.
    """
    max_tokens = _check_max_tokens(max_tokens)
    source = find_time_machine(check_path('path', path))
    counts = onp.zeros(256, dtype='int64')
    first_seen, offset, kept, room = {}, 0, bytearray(), max_tokens if max_tokens > 0 else None
    for text in _clean_batches(source):
        batch_counts = onp.bincount(onp.frombuffer(text, dtype='uint8'), minlength=256)
        for code in onp.flatnonzero((batch_counts > 0) & (counts == 0)):
            first_seen[chr(code)] = offset + text.index(int(code))
        counts += batch_counts
        offset += len(text)
        if room is None:
            kept += text
        elif room > 0:
            kept += text[:room]
            room -= min(room, len(text))
    counter = collections.Counter({ch: int(counts[ord(ch)]) for ch in sorted(first_seen, key=first_seen.get)})
    vocab = Vocab._from_counter(counter)
    if not kept:
        raise ValueError(f'corpus {str(source)!r} has no letters to train on')
    to_ids = bytes(vocab.token_to_idx.get(chr(c), vocab.unk) for c in range(256))
    corpus, step = [], 1 << 20
    for i in range(0, len(kept), step):  # one slice at a time: no second copy of the whole text
        corpus.extend(kept[i: i + step].translate(to_ids))
    return corpus, vocab


#: attribute the loaders set on each batch they build: ``(min, max)`` of its token ids,
#: computed on the host before the device array exists, so that the models can check the
#: ids against their vocabulary without copying the batch back (see ``check_token_batch``)
TOKEN_RANGE_ATTR = '_gluon_d2l_token_range'


def _batch(rows):
    """The minibatch as an int32 array of the kind of the mode it is read in: ``mx.np`` in NumPy
    mode (carrying its id range), a legacy ``mx.nd`` view in legacy mode."""
    ids = onp.asarray(rows, dtype='int32')
    batch = np.array(ids, dtype='int32')
    setattr(batch, TOKEN_RANGE_ATTR, (int(ids.min()), int(ids.max())) if ids.size else (0, -1))
    return batch if is_np_array() else batch.as_nd_ndarray()


def _check_iter_args(corpus, batch_size, num_steps):
    """The checked ``batch_size`` and ``num_steps``, and the corpus as an int32 NumPy array."""
    batch_size = check_positive_int('batch_size', batch_size)
    num_steps = check_positive_int('num_steps', num_steps)
    if isinstance(corpus, str):
        raise TypeError('corpus must be a sequence of token ids, got a string (map it with a Vocab first)')
    ids = token_ids('corpus', corpus)
    if ids.ndim != 1:
        raise ValueError(f'corpus must be a flat sequence of token ids, got shape {ids.shape}')
    return ids, batch_size, num_steps


def seq_data_iter_random(corpus, batch_size, num_steps):
    """Return an iterator over minibatches of random, non-overlapping subsequences (Python ``random``).

    The arguments are checked when it is called, the random offset is drawn at the first minibatch.
    Minibatches are ``mx.np`` arrays when read in NumPy mode, ``mx.nd`` arrays in legacy mode.
    """
    ids, batch_size, num_steps = _check_iter_args(corpus, batch_size, num_steps)
    return _random_batches(ids, batch_size, num_steps)


def _random_batches(corpus, batch_size, num_steps):
    corpus = corpus[random.randint(0, num_steps - 1):]
    num_subseqs = (len(corpus) - 1) // num_steps
    initial_indices = list(range(0, num_subseqs * num_steps, num_steps))
    random.shuffle(initial_indices)
    num_batches = num_subseqs // batch_size
    window = onp.arange(num_steps)
    for i in range(0, batch_size * num_batches, batch_size):
        starts = onp.asarray(initial_indices[i: i + batch_size])[:, None] + window
        yield _batch(corpus[starts]), _batch(corpus[starts + 1])


def seq_data_iter_sequential(corpus, batch_size, num_steps):
    """Return an iterator over minibatches whose rows continue where the previous minibatch's rows ended.

    The arguments are checked when it is called, the random offset is drawn at the first minibatch.
    Minibatches are ``mx.np`` arrays when read in NumPy mode, ``mx.nd`` arrays in legacy mode.
    """
    ids, batch_size, num_steps = _check_iter_args(corpus, batch_size, num_steps)
    return _sequential_batches(ids, batch_size, num_steps)


def _sequential_batches(corpus, batch_size, num_steps):
    offset = random.randint(0, num_steps)
    num_tokens = max(0, ((len(corpus) - offset - 1) // batch_size) * batch_size)
    Xs = corpus[offset: offset + num_tokens].reshape(batch_size, -1)
    Ys = corpus[offset + 1: offset + 1 + num_tokens].reshape(batch_size, -1)
    num_batches = Xs.shape[1] // num_steps
    for i in range(0, num_steps * num_batches, num_steps):
        yield _batch(Xs[:, i: i + num_steps]), _batch(Ys[:, i: i + num_steps])


def min_corpus_length(batch_size, num_steps):
    """The fewest tokens that give both iterators at least one minibatch for any offset."""
    return batch_size * num_steps + num_steps + 1


class SeqDataLoader:
    """An iterable over minibatches of the corpus, sequential or random.

    Each minibatch is made when it is read, of the kind of the mode it is read in: ``mx.np``
    arrays in NumPy mode (and inside the library's functions), legacy ``mx.nd`` arrays in a
    legacy-mode program. The iterator functions behave the same way.
    """

    def __init__(self, batch_size, num_steps, use_random_iter, max_tokens, path=None):
        self.batch_size = check_positive_int('batch_size', batch_size)
        self.num_steps = check_positive_int('num_steps', num_steps)
        use_random_iter = check_bool('use_random_iter', use_random_iter)
        _check_max_tokens(max_tokens)
        check_path('path', path)
        self.data_iter_fn = seq_data_iter_random if use_random_iter else seq_data_iter_sequential
        self.corpus, self.vocab = load_corpus_time_machine(max_tokens, path)
        needed = min_corpus_length(batch_size, num_steps)
        if len(self.corpus) < needed:
            raise ValueError(f'the corpus has {len(self.corpus)} tokens, but batch_size={batch_size} '
                             f'and num_steps={num_steps} need at least {needed}')

    def __iter__(self):
        return self.data_iter_fn(self.corpus, self.batch_size, self.num_steps)


def load_data_time_machine(batch_size, num_steps, use_random_iter=False, max_tokens=10000, path=None):
    """Return the minibatch iterator and the vocabulary of the corpus."""
    data_iter = SeqDataLoader(batch_size, num_steps, use_random_iter, max_tokens, path)
    return data_iter, data_iter.vocab
