"""The benchmark's PyTorch, TensorFlow and JAX peers, built from the parity adapters.

Each peer is a framework's model and ``train_epoch_ch8`` from ``parity/frameworks/NAME.py``,
the code the parity cases check against MXNet (``train_epoch``, ``trajectory``,
``concise_rnn_step``), so what is timed is what parity verified: the d2l chapter's
training loop (sequential partitioning, state detached, global-norm clipping at 1, SGD
lr 1). Each factory takes host minibatches ``[(X, Y)]`` and returns a closure that
trains one epoch. The PyTorch ones take a ``device`` (e.g. ``'cuda'``).

``gluon-d2l bench`` runs this file as a script, one process per framework, so that no
two frameworks' thread pools compete in one process; it imports the adapter's module by
path (``parity.frameworks`` imports no framework and no MXNet until asked).
"""
import importlib
import json
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def adapter(framework):
    """The parity adapter module of ``framework`` (imports that framework only)."""
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    return importlib.import_module(f'parity.frameworks.{framework}')


def torch_scratch(batches, vocab_size, hiddens, device='cpu'):
    import torch
    fw = adapter('torch')
    net = fw.RNNModelScratch(vocab_size, hiddens, device, fw.get_params, fw.init_rnn_state, fw.rnn)
    data = [(torch.from_numpy(X).long().to(device), torch.from_numpy(Y).long().to(device)) for X, Y in batches]
    loss = torch.nn.CrossEntropyLoss()
    updater = lambda batch_size: fw.sgd(net.params, 1.0, batch_size)  # noqa: E731  (the chapter's train_ch8)
    return lambda: fw.train_epoch_ch8(net, data, loss, updater, device, False)


def torch_concise(batches, vocab_size, hiddens, device='cpu'):
    import torch
    fw = adapter('torch')
    net = fw.RNNModel(torch.nn.RNN(vocab_size, hiddens), vocab_size).to(device)
    data = [(torch.from_numpy(X).long().to(device), torch.from_numpy(Y).long().to(device)) for X, Y in batches]
    loss = torch.nn.CrossEntropyLoss()
    updater = torch.optim.SGD(net.parameters(), 1.0)
    return lambda: fw.train_epoch_ch8(net, data, loss, updater, device, False)


def tensorflow_scratch(batches, vocab_size, hiddens):
    """TensorFlow's scratch RNN (the concise Keras model's training loop is not a parity case)."""
    import tensorflow as tf
    fw = adapter('tensorflow')
    net = fw.RNNModelScratch(vocab_size, hiddens, fw.init_rnn_state, fw.rnn, fw.get_params)
    data = [(tf.constant(X), tf.constant(Y)) for X, Y in batches]
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    updater = tf.keras.optimizers.SGD(1.0)
    return lambda: fw.train_epoch_ch8(net, data, loss, updater, False)


def jax_scratch(batches, vocab_size, hiddens):
    import jax
    import jax.numpy as jnp
    fw = adapter('jax')
    net = fw.RNNModelScratch(vocab_size, hiddens, jax.random.PRNGKey(0), fw.get_params, fw.init_rnn_state, fw.rnn)
    data = [(jnp.asarray(X), jnp.asarray(Y)) for X, Y in batches]
    return lambda: fw.train_epoch_ch8(net, data, 1.0, False)


PEERS = {'torch': {'torch scratch': torch_scratch, 'torch nn.RNN': torch_concise},
         'tensorflow': {'tensorflow scratch': tensorflow_scratch},
         'jax': {'jax scratch': jax_scratch}}


def time_epochs(run_epoch, epochs, tokens, sync=lambda: None):
    """Tokens/s over ``epochs`` epochs after one warm-up epoch."""
    run_epoch()
    sync()
    tic = time.perf_counter()
    for _ in range(epochs):
        run_epoch()
    sync()
    return tokens * epochs / (time.perf_counter() - tic)


def main(framework, batches_file, vocab_size, hiddens, epochs):
    """Measure one framework's variants; print ``{variant: tokens_per_sec}`` as JSON."""
    import numpy as np
    with np.load(batches_file, allow_pickle=False) as saved:
        batches = list(zip(saved['X'], saved['Y']))
    tokens = sum(Y.size for _, Y in batches)
    results = {name: time_epochs(factory(batches, vocab_size, hiddens), epochs, tokens)
               for name, factory in PEERS[framework].items()}
    print(json.dumps(results))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6]))
