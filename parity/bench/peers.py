"""PyTorch, TensorFlow and JAX training epochs for the benchmark, mirroring the d2l chapter's code.

Each factory takes host minibatches ``[(X, Y)]`` and returns a closure that trains
one epoch (sequential partitioning, state detached, global-norm clipping at 1, SGD lr 1).
The PyTorch ones take a ``device`` (e.g. ``'cuda'``). This module imports no MXNet:
``gluon-d2l bench`` runs it as a script, one process per framework, so that no two
frameworks' thread pools compete inside one process.
"""
import json
import sys
import time


def torch_scratch(batches, vocab_size, hiddens, device='cpu'):
    import torch
    import torch.nn.functional as F
    params = [torch.randn(vocab_size, hiddens) * 0.01, torch.randn(hiddens, hiddens) * 0.01,
              torch.zeros(hiddens), torch.randn(hiddens, vocab_size) * 0.01, torch.zeros(vocab_size)]
    params = [p.to(device).requires_grad_(True) for p in params]
    data = [(torch.from_numpy(X).long().to(device), torch.from_numpy(Y).long().to(device)) for X, Y in batches]

    def epoch():
        W_xh, W_hh, b_h, W_hq, b_q = params
        H = None
        for X, Y in data:
            H = torch.zeros(X.shape[0], hiddens, device=device) if H is None else H.detach()
            outputs = []
            for x in F.one_hot(X.T, vocab_size).float():
                H = torch.tanh(x @ W_xh + H @ W_hh + b_h)
                outputs.append(H @ W_hq + b_q)
            loss = F.cross_entropy(torch.cat(outputs), Y.T.reshape(-1))
            for p in params:
                p.grad = None
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            with torch.no_grad():
                for p in params:
                    p -= p.grad
    return epoch


def torch_concise(batches, vocab_size, hiddens, device='cpu'):
    import torch
    import torch.nn.functional as F
    rnn, dense = torch.nn.RNN(vocab_size, hiddens).to(device), torch.nn.Linear(hiddens, vocab_size).to(device)
    params = list(rnn.parameters()) + list(dense.parameters())
    optimizer = torch.optim.SGD(params, lr=1.0)
    data = [(torch.from_numpy(X).long().to(device), torch.from_numpy(Y).long().to(device)) for X, Y in batches]

    def epoch():
        H = None
        for X, Y in data:
            H = torch.zeros(1, X.shape[0], hiddens, device=device) if H is None else H.detach()
            out, H = rnn(F.one_hot(X.T, vocab_size).float(), H)
            loss = F.cross_entropy(dense(out.reshape(-1, hiddens)), Y.T.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
    return epoch


def tensorflow_concise(batches, vocab_size, hiddens):
    import tensorflow as tf
    rnn = tf.keras.layers.SimpleRNN(hiddens, return_sequences=True, return_state=True)
    dense = tf.keras.layers.Dense(vocab_size)
    optimizer = tf.keras.optimizers.SGD(1.0)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    data = [(tf.constant(X), tf.constant(Y)) for X, Y in batches]

    @tf.function
    def step(X, Y, H):
        with tf.GradientTape() as tape:
            out, H = rnn(tf.one_hot(X, vocab_size), initial_state=H)
            loss = loss_fn(tf.reshape(Y, [-1]), dense(tf.reshape(out, [-1, hiddens])))
        variables = rnn.trainable_variables + dense.trainable_variables
        grads, _ = tf.clip_by_global_norm(tape.gradient(loss, variables), 1.0)
        optimizer.apply_gradients(zip(grads, variables))
        return H

    def epoch():
        H = None
        for X, Y in data:
            H = tf.zeros((X.shape[0], hiddens)) if H is None else tf.stop_gradient(H)
            H = step(X, Y, H)
    return epoch


def jax_scratch(batches, vocab_size, hiddens):
    """The scratch RNN in JAX: one jitted step (``lax.scan`` over time, grad, global-norm clip, SGD)."""
    import jax
    import jax.numpy as jnp
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    params = [jax.random.normal(keys[0], (vocab_size, hiddens)) * 0.01,
              jax.random.normal(keys[1], (hiddens, hiddens)) * 0.01, jnp.zeros(hiddens),
              jax.random.normal(keys[2], (hiddens, vocab_size)) * 0.01, jnp.zeros(vocab_size)]
    data = [(jnp.asarray(X), jnp.asarray(Y)) for X, Y in batches]

    def loss_fn(params, X, Y, H):
        W_xh, W_hh, b_h, W_hq, b_q = params

        def step(H, x):
            H = jnp.tanh(x @ W_xh + H @ W_hh + b_h)
            return H, H @ W_hq + b_q
        H, outputs = jax.lax.scan(step, H, jax.nn.one_hot(X.T, vocab_size))
        logits = outputs.reshape(-1, vocab_size)
        labels = Y.T.reshape(-1)
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(labels.size), labels]), H

    @jax.jit
    def train_step(params, X, Y, H):
        (_, H), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, X, Y, H)
        norm = jnp.sqrt(sum(jnp.sum(g * g) for g in grads))
        scale = jnp.minimum(1.0, 1.0 / norm)
        return [p - g * scale for p, g in zip(params, grads)], jax.lax.stop_gradient(H)

    def epoch():
        nonlocal params
        H = None
        for X, Y in data:
            H = jnp.zeros((X.shape[0], hiddens)) if H is None else H
            params, H = train_step(params, X, Y, H)
        H.block_until_ready()
    return epoch


PEERS = {'torch': {'torch scratch': torch_scratch, 'torch nn.RNN': torch_concise},
         'tensorflow': {'tensorflow keras SimpleRNN (tf.function)': tensorflow_concise},
         'jax': {'jax scratch (jit, lax.scan)': jax_scratch}}


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
