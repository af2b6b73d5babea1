"""Properties of the vocabulary and the two minibatch iterators, and a planted off-by-one they catch."""
import random

import pytest
from hypothesis import Phase, given, note, settings
from hypothesis import strategies as st

import gluon_d2l as d2l
import strategies as S


@given(lines=S.token_lines, extra=st.lists(st.sampled_from(list('XYZ')), max_size=3))
def test_vocab_round_trips_and_maps_unknowns_to_unk(lines, extra):
    vocab = d2l.Vocab(lines)
    tokens = [t for line in lines for t in line]
    assert vocab.to_tokens(vocab[tokens]) == tokens
    assert vocab[extra] == [vocab.unk] * len(extra)
    assert len(vocab) == 1 + len(set(tokens))


def _rows(X):
    return X.asnumpy().tolist()


def sequential_holds(iterate, corpus, batch_size, steps):
    """Y is X shifted by one inside the corpus, rows continue across minibatches, counts match."""
    position = {token: i for i, token in enumerate(corpus)}
    batches = list(iterate(corpus, batch_size, steps))
    note(f'len={len(corpus)} batch_size={batch_size} steps={steps} batches={len(batches)}')
    for X, Y in batches:
        for x, y in zip(_rows(X), _rows(Y)):
            start = position[x[0]]
            assert x == corpus[start: start + steps] and y == corpus[start + 1: start + 1 + steps]
    for (X0, _), (X1, _) in zip(batches, batches[1:]):
        for r0, r1 in zip(_rows(X0), _rows(X1)):
            assert position[r1[0]] == position[r0[-1]] + 1
    if batches:
        offset = position[_rows(batches[0][0])[0][0]]
        assert len(batches) == ((len(corpus) - offset - 1) // batch_size) // steps


@given(corpus=S.distinct_corpora(), batch_size=S.batch_sizes, steps=S.num_steps, seed=st.integers(0, 99))
def test_sequential_iterator_properties(corpus, batch_size, steps, seed):
    random.seed(seed)
    sequential_holds(d2l.seq_data_iter_sequential, corpus, batch_size, steps)


@given(corpus=S.distinct_corpora(), batch_size=S.batch_sizes, steps=S.num_steps, seed=st.integers(0, 99))
def test_random_iterator_gives_disjoint_shifted_subsequences(corpus, batch_size, steps, seed):
    random.seed(seed)
    position = {token: i for i, token in enumerate(corpus)}
    starts = []
    for X, Y in d2l.seq_data_iter_random(corpus, batch_size, steps):
        assert X.shape == (batch_size, steps)
        for x, y in zip(_rows(X), _rows(Y)):
            start = position[x[0]]
            assert x == corpus[start: start + steps] and y == corpus[start + 1: start + 1 + steps]
            starts.append(start)
    assert len(starts) == len(set(starts))
    if starts:
        offset = min(starts) % steps
        assert all(s % steps == offset for s in starts)
        assert len(starts) == batch_size * (((len(corpus) - offset - 1) // steps) // batch_size)


def off_by_one_sequential(corpus, batch_size, num_steps):
    """A planted bug: each minibatch skips one token after the previous one."""
    for X, Y in d2l.seq_data_iter_sequential(corpus[::1], batch_size, num_steps + 1):
        yield X[:, 1:], Y[:, 1:]


def test_the_properties_catch_an_off_by_one_in_the_sequential_iterator():
    @settings(database=None, derandomize=True, max_examples=200, phases=[Phase.generate])
    @given(corpus=S.distinct_corpora(min_size=40), batch_size=S.batch_sizes, steps=S.num_steps)
    def run(corpus, batch_size, steps):
        random.seed(0)
        sequential_holds(off_by_one_sequential, corpus, batch_size, steps)
    with pytest.raises(AssertionError):
        run()


@given(text=S.corpus_texts, max_tokens=st.sampled_from([-1, 1, 5, 50]), chunk=st.sampled_from([1, 7, 1 << 22]))
def test_the_streaming_corpus_is_d2ls_corpus_and_vocabulary(text, max_tokens, chunk, tmp_path_factory):
    from gluon_d2l import data
    path = tmp_path_factory.mktemp('corpus') / 'c.txt'
    path.write_bytes(text.encode('utf-8'))
    tokens = d2l.tokenize(d2l.read_time_machine(path), 'char')  # d2l's way: the whole file, line by line
    vocab = d2l.Vocab(tokens)
    expected = [vocab[t] for line in tokens for t in line]
    expected = expected[:max_tokens] if max_tokens > 0 else expected
    defaults, data._clean_batches.__defaults__ = data._clean_batches.__defaults__, (chunk,)
    try:
        if not expected:
            with pytest.raises(ValueError, match='no letters'):
                d2l.load_corpus_time_machine(max_tokens, path)
            return
        corpus, streamed = d2l.load_corpus_time_machine(max_tokens, path)
    finally:
        data._clean_batches.__defaults__ = defaults
    assert corpus == expected and streamed.idx_to_token == vocab.idx_to_token
    assert streamed.token_freqs == vocab.token_freqs


@given(text=S.corpus_texts, chunk=st.sampled_from([1, 2, 3, 7, 1 << 22]))
def test_the_lines_read_in_chunks_are_d2ls_lines_whatever_the_chunk_size(text, chunk, tmp_path_factory):
    import re
    from gluon_d2l import data
    path = tmp_path_factory.mktemp('corpus') / 'c.txt'
    path.write_bytes(text.encode('utf-8'))
    with open(path, encoding='utf-8') as f:
        expected = [re.sub('[^A-Za-z]+', ' ', line).strip().lower() for line in f.read().splitlines()]
    defaults, data._cleaned_chunks.__defaults__ = data._cleaned_chunks.__defaults__, (chunk,)
    try:
        assert d2l.read_time_machine(path) == expected
    finally:
        data._cleaned_chunks.__defaults__ = defaults
