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
import os
import pathlib
import random
import re
import tempfile
import urllib.request

import numpy as onp
from mxnet import np

from .checks import check_positive_int

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
    """Read the corpus as lines: non-letters become spaces, then strip and lower-case."""
    source = find_time_machine(path)
    try:
        text = source.read_text(encoding='utf-8')
    except UnicodeDecodeError as err:
        raise ValueError(f'corpus {str(source)!r} is not UTF-8 text ({err.reason} at byte {err.start})') from None
    return [re.sub('[^A-Za-z]+', ' ', line).strip().lower() for line in text.splitlines()]


def tokenize(lines, token='word'):
    """Split each line into word or character tokens."""
    if token == 'word':
        return [line.split() for line in lines]
    if token == 'char':
        return [list(line) for line in lines]
    raise ValueError(f"token must be 'word' or 'char', got {token!r}")


def count_corpus(tokens):
    """Count token frequencies in a flat or nested (list of lines) token list."""
    if len(tokens) == 0 or isinstance(tokens[0], list):
        tokens = [token for line in tokens for token in line]
    return collections.Counter(tokens)


class Vocab:
    """Map tokens to indices; index 0 is the unknown token ``<unk>``."""

    def __init__(self, tokens=None, min_freq=0, reserved_tokens=None):
        counter = count_corpus(tokens or [])
        self._token_freqs = sorted(counter.items(), key=lambda x: x[1], reverse=True)
        self.idx_to_token = ['<unk>'] + list(reserved_tokens or [])
        self.token_to_idx = {token: idx for idx, token in enumerate(self.idx_to_token)}
        for token, freq in self._token_freqs:
            if freq < min_freq:
                break
            if token not in self.token_to_idx:
                self.idx_to_token.append(token)
                self.token_to_idx[token] = len(self.idx_to_token) - 1

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
            return self.token_to_idx.get(tokens, self.unk)
        return [self.__getitem__(token) for token in tokens]

    def to_tokens(self, indices):
        """Map an index or a list of indices back to tokens."""
        if not isinstance(indices, (list, tuple)):
            return self._token_at(indices)
        return [self._token_at(index) for index in indices]

    def _token_at(self, index):
        if not 0 <= int(index) < len(self):
            raise IndexError(f'token index {index} is outside the vocabulary of size {len(self)}')
        return self.idx_to_token[int(index)]

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


def _clean_lines(text):
    """Whole lines of text, preprocessed as :func:`read_time_machine` does, then concatenated.

    Not ``re.sub`` per line: translating the bytes and splitting on spaces is 4x faster on a
    large corpus, for the same result.
    """
    data = _LINE_BREAKS.sub('\n', text).encode('utf-8').translate(_KEEP)
    return b''.join(b' '.join(line.split()) for line in data.split(b'\n')).decode('ascii')


def _clean_batches(source, chunk_chars=1 << 22):
    """Yield the preprocessed text of the corpus, some 4 MiB of whole lines at a time."""
    carry = ''
    try:
        with open(source, encoding='utf-8') as f:
            while True:
                chunk = f.read(chunk_chars)
                text = _LINE_BREAKS.sub('\n', carry + chunk)
                cut = text.rfind('\n') + 1 if chunk else len(text)
                text, carry = text[:cut], text[cut:]
                if text:
                    yield _clean_lines(text)
                if not chunk:
                    return
    except UnicodeDecodeError as err:
        raise ValueError(f'corpus {str(source)!r} is not UTF-8 text ({err.reason})') from None


def load_corpus_time_machine(max_tokens=-1, path=None):
    """Return the character-index corpus and its vocabulary.

    As in d2l, the vocabulary is that of the whole file (``<unk>``, then characters by
    decreasing count, ties in order of first appearance) and the corpus is its first
    ``max_tokens`` characters (all for ``max_tokens <= 0``). The file is read once, in
    batches of lines: characters are counted as they stream by and only the first
    ``max_tokens`` are kept, so a large file with a small ``max_tokens`` costs one pass
    and little memory.
    """
    source = find_time_machine(path)
    counts = onp.zeros(128, dtype='int64')
    first_seen, offset, kept, room = {}, 0, [], max_tokens if max_tokens > 0 else None
    for text in _clean_batches(source):
        codes = onp.frombuffer(text.encode('ascii'), dtype='uint8')
        batch_counts = onp.bincount(codes, minlength=128)
        for code in onp.flatnonzero((batch_counts > 0) & (counts == 0)):
            first_seen[chr(code)] = offset + text.index(chr(code))
        counts += batch_counts
        offset += len(text)
        if room is None:
            kept.append(text)
        elif room > 0:
            kept.append(text[:room])
            room -= len(kept[-1])
    counter = collections.Counter({ch: int(counts[ord(ch)]) for ch in sorted(first_seen, key=first_seen.get)})
    vocab = Vocab._from_counter(counter)
    corpus = [vocab.token_to_idx[ch] for ch in ''.join(kept)]
    if not corpus:
        raise ValueError(f'corpus {str(source)!r} has no letters to train on')
    return corpus, vocab


#: attribute the loaders set on each batch they build: ``(min, max)`` of its token ids,
#: computed on the host before the device array exists, so that the models can check the
#: ids against their vocabulary without copying the batch back (see ``check_token_batch``)
TOKEN_RANGE_ATTR = '_gluon_d2l_token_range'


def _batch(rows):
    ids = onp.asarray(rows, dtype='int32')
    batch = np.array(ids, dtype='int32')
    setattr(batch, TOKEN_RANGE_ATTR, (int(ids.min()), int(ids.max())) if ids.size else (0, -1))
    return batch


def seq_data_iter_random(corpus, batch_size, num_steps):
    """Yield minibatches of random, non-overlapping subsequences (Python ``random``)."""
    corpus = corpus[random.randint(0, num_steps - 1):]
    num_subseqs = (len(corpus) - 1) // num_steps
    initial_indices = list(range(0, num_subseqs * num_steps, num_steps))
    random.shuffle(initial_indices)
    num_batches = num_subseqs // batch_size
    for i in range(0, batch_size * num_batches, batch_size):
        starts = initial_indices[i: i + batch_size]
        yield (_batch([corpus[j: j + num_steps] for j in starts]),
               _batch([corpus[j + 1: j + 1 + num_steps] for j in starts]))


def seq_data_iter_sequential(corpus, batch_size, num_steps):
    """Yield minibatches whose rows continue where the previous minibatch's rows ended."""
    offset = random.randint(0, num_steps)
    num_tokens = ((len(corpus) - offset - 1) // batch_size) * batch_size
    Xs = onp.asarray(corpus[offset: offset + num_tokens], dtype='int32').reshape(batch_size, -1)
    Ys = onp.asarray(corpus[offset + 1: offset + 1 + num_tokens], dtype='int32').reshape(batch_size, -1)
    num_batches = Xs.shape[1] // num_steps
    for i in range(0, num_steps * num_batches, num_steps):
        yield _batch(Xs[:, i: i + num_steps]), _batch(Ys[:, i: i + num_steps])


def min_corpus_length(batch_size, num_steps):
    """The fewest tokens that give both iterators at least one minibatch for any offset."""
    return batch_size * num_steps + num_steps + 1


class SeqDataLoader:
    """An iterable over minibatches of the corpus, sequential or random."""

    def __init__(self, batch_size, num_steps, use_random_iter, max_tokens, path=None):
        self.batch_size = check_positive_int('batch_size', batch_size)
        self.num_steps = check_positive_int('num_steps', num_steps)
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
