"""The Time Machine as d2l reads it, in plain Python: the references' data pipeline.

d2l's ``read_time_machine``, ``tokenize``, ``Vocab`` and ``load_corpus_time_machine`` are the
same pure-Python code in every framework's d2l module, so the references share this one
copy; ``gluon_d2l`` has its own. The corpus is found through ``$GLUON_D2L_DATA`` only and is
never copied into the golden files: they keep its SHA-1.
"""
import collections
import os
import pathlib
import re

DATA_ENV = 'GLUON_D2L_DATA'


def read_time_machine():
    path = pathlib.Path(os.environ.get(DATA_ENV, '')) / 'timemachine.txt'
    if not path.is_file():
        raise FileNotFoundError(f'set {DATA_ENV} to the directory holding timemachine.txt (looked in {path})')
    lines = path.read_text(encoding='utf-8').splitlines()
    return [re.sub('[^A-Za-z]+', ' ', line).strip().lower() for line in lines]


class Vocab:
    """d2l's character vocabulary: ``<unk>`` first, then tokens by decreasing frequency."""

    def __init__(self, tokens):
        counter = collections.Counter(token for line in tokens for token in line)
        freqs = sorted(counter.items(), key=lambda x: x[1], reverse=True)
        self.idx_to_token = ['<unk>'] + [token for token, _ in freqs]
        self.token_to_idx = {token: idx for idx, token in enumerate(self.idx_to_token)}

    def __getitem__(self, token):
        return self.token_to_idx.get(token, 0)


def load_corpus_time_machine(max_tokens=-1):
    tokens = [list(line) for line in read_time_machine()]
    vocab = Vocab(tokens)
    corpus = [vocab[token] for line in tokens for token in line]
    if max_tokens > 0:
        corpus = corpus[:max_tokens]
    return corpus, vocab


def vocab_from(idx_to_token):
    """A vocabulary with the given ``idx_to_token`` (e.g. an array read from a golden file)."""
    vocab = Vocab([])
    vocab.idx_to_token = [str(t) for t in idx_to_token]
    vocab.token_to_idx = {token: idx for idx, token in enumerate(vocab.idx_to_token)}
    return vocab
