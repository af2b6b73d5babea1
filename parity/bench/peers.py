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
    fw = adapter('tensorflow')  # first: it imports MXNet before TensorFlow, as it must
    import tensorflow as tf
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


def _torch_fast_epoch(net, params, data, lr, forward_state):
    """One epoch without a host read per step: ``clip_grad_norm_`` (foreach kernels), the update
    as one ``_foreach_add_``, the loss summed on the device and read once."""
    import torch
    loss = torch.nn.CrossEntropyLoss()
    state, total = None, torch.zeros(())
    for X, Y in data:
        state = forward_state(X.shape[0]) if state is None else tuple(s.detach() for s in state)
        y_hat, state = net(X, state)
        l = loss(y_hat, Y.T.reshape(-1))
        for p in params:
            p.grad = None
        l.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
        with torch.no_grad():
            torch._foreach_add_(params, [p.grad for p in params], alpha=-lr)
        total += l.detach() * Y.numel()
    return float(total)


def torch_scratch_fast(batches, vocab_size, hiddens, device='cpu'):
    """The parity model and math; the step is PyTorch's idiom instead of the chapter's host reads."""
    import torch
    fw = adapter('torch')
    net = fw.RNNModelScratch(vocab_size, hiddens, device, fw.get_params, fw.init_rnn_state, fw.rnn)
    data = [(torch.from_numpy(X).long().to(device), torch.from_numpy(Y).long().to(device)) for X, Y in batches]
    return lambda: _torch_fast_epoch(net, net.params, data, 1.0, lambda b: net.begin_state(b, device))


def torch_concise_fast(batches, vocab_size, hiddens, device='cpu', compile=False):
    import torch
    fw = adapter('torch')
    net = fw.RNNModel(torch.nn.RNN(vocab_size, hiddens), vocab_size).to(device)
    model = torch.compile(net) if compile else net
    data = [(torch.from_numpy(X).long().to(device), torch.from_numpy(Y).long().to(device)) for X, Y in batches]
    params = list(net.parameters())

    def run(X, state):
        y_hat, state = model(X, state[0])
        return y_hat, (state,)
    return lambda: _torch_fast_epoch(run, params, data, 1.0,
                                     lambda b: (net.begin_state(device=device, batch_size=b),))


def torch_concise_compiled(batches, vocab_size, hiddens, device='cpu'):
    return torch_concise_fast(batches, vocab_size, hiddens, device, compile=True)


def _tf_function_epoch(forward, params, batches, hiddens):
    """One epoch closure for a TensorFlow peer: forward (``forward(X, H) -> (y_hat, H)``), gradient,
    ``tf.clip_by_global_norm`` at 1 and SGD (lr 1) in one ``tf.function`` step, the loss summed in the graph."""
    import tensorflow as tf
    data = [(tf.constant(X), tf.constant(Y)) for X, Y in batches]
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(X, Y, H):
        with tf.GradientTape() as tape:
            y_hat, H = forward(X, H)
            l = loss(tf.reshape(tf.transpose(Y), (-1,)), y_hat)
        grads, _ = tf.clip_by_global_norm(tape.gradient(l, params), 1.0)
        for p, g in zip(params, grads):
            p.assign_sub(g)
        return l, H

    def epoch():
        H, total = None, 0.0
        for X, Y in data:
            H = tf.zeros((X.shape[0], hiddens), params[0].dtype) if H is None else H
            l, H = step(X, Y, H)
            total += l * tf.cast(tf.size(Y), l.dtype)
        return float(total)
    return epoch


def tensorflow_scratch_fast(batches, vocab_size, hiddens):
    """The parity model (the adapter's scratch ``rnn``) under one ``tf.function`` step."""
    fw = adapter('tensorflow')  # first: it imports MXNet before TensorFlow, as it must
    import tensorflow as tf
    net = fw.RNNModelScratch(vocab_size, hiddens, fw.init_rnn_state, fw.rnn, fw.get_params)
    params = net.trainable_variables

    def forward(X, H):
        # the adapter's __call__, its one-hot steps as a Python list: autograph would turn the loop over
        # a tensor into a while_loop that the chapter's list of outputs cannot leave
        inputs = tf.unstack(tf.cast(tf.one_hot(tf.transpose(X), vocab_size), params[0].dtype))
        y_hat, (H,) = fw.rnn(inputs, (H,), params)
        return y_hat, H
    return _tf_function_epoch(forward, params, batches, hiddens)


def jax_scratch_fast(batches, vocab_size, hiddens):
    """The parity model under one ``jax.jit`` step: forward, gradient, clipping and SGD in one
    XLA program (parameters donated), the loss summed on the device."""
    import jax
    import jax.numpy as jnp
    fw = adapter('jax')
    net = fw.RNNModelScratch(vocab_size, hiddens, jax.random.PRNGKey(0), fw.get_params, fw.init_rnn_state, fw.rnn)
    grads_of = fw.loss_and_grads(net)

    def step(params, state, X, Y):
        (l, state), grads = grads_of(params, state, X, Y)
        norm = jnp.sqrt(sum(jnp.sum(g ** 2) for g in grads))
        scale = jnp.where(norm > 1.0, 1.0 / norm, 1.0)
        return [p - g * scale for p, g in zip(params, grads)], state, l
    step = jax.jit(step, donate_argnums=(0,))
    data = [(jnp.asarray(X), jnp.asarray(Y)) for X, Y in batches]

    def epoch():
        state, total = None, 0.0
        for X, Y in data:
            state = net.begin_state(X.shape[0]) if state is None else state
            net.params, state, l = step(net.params, state, X, Y)
            total = total + l * Y.size
        return float(total)
    return epoch


def tensorflow_concise_fast(batches, vocab_size, hiddens):
    """The adapter's concise model (Keras ``SimpleRNN`` + ``Dense``) under one ``tf.function`` step."""
    fw = adapter('tensorflow')  # first: it imports MXNet before TensorFlow, as it must
    import tensorflow as tf
    net = fw.RNNModel(tf.keras.layers.SimpleRNN(hiddens, return_sequences=True, return_state=True), vocab_size)
    net(tf.zeros((1, 1), dtype=tf.int32), net.begin_state(1))  # builds the weights

    def forward(X, H):
        y_hat, (H,) = net(X, [H])
        return y_hat, H
    return _tf_function_epoch(forward, net.trainable_variables, batches, hiddens)


def jax_scratch_scan(batches, vocab_size, hiddens):
    """The adapter's scratch weights trained the way JAX code writes an RNN: the time loop as
    ``lax.scan`` (compiled once, not unrolled), the one-hot product as a row lookup of ``W_xh``
    (the same numbers: a one-hot row selects a row), the output layer as one product over all steps;
    forward, gradient, clipping and SGD in one ``jax.jit`` step."""
    import jax
    import jax.numpy as jnp
    fw = adapter('jax')
    params = fw.get_params(vocab_size, hiddens, jax.random.PRNGKey(0))

    def forward(params, H, X):
        W_xh, W_hh, b_h, W_hq, b_q = params

        def cell(H, x_proj):
            H = jnp.tanh(x_proj + H @ W_hh + b_h)
            return H, H
        H, outputs = jax.lax.scan(cell, H, jnp.take(W_xh, X.T, axis=0))
        return outputs.reshape(-1, hiddens) @ W_hq + b_q, H

    def objective(params, H, X, Y):
        y_hat, H = forward(params, H, X)
        return fw.loss(y_hat, Y.T.reshape(-1)), H

    def step(params, H, X, Y):
        (l, H), grads = jax.value_and_grad(objective, has_aux=True)(params, H, X, Y)
        norm = jnp.sqrt(sum(jnp.sum(g * g) for g in grads))
        scale = jnp.where(norm > 1.0, 1.0 / norm, 1.0)
        return [p - g * scale for p, g in zip(params, grads)], H, l
    step = jax.jit(step, donate_argnums=(0,))
    data = [(jnp.asarray(X), jnp.asarray(Y)) for X, Y in batches]
    state = {'params': params}

    def epoch():
        H, total = None, 0.0
        for X, Y in data:
            H = fw.init_rnn_state(X.shape[0], hiddens)[0] if H is None else H
            state['params'], H, l = step(state['params'], H, X, Y)
            total = total + l * Y.size
        return float(total)
    return epoch


#: ``{framework: {variant: factory}}``. "(chapter loop)" variants are the parity adapters' own
#: ``train_epoch_ch8`` (host reads each step, as the chapter); the others train the same adapter
#: model with the same math in the framework's idiom (compiled/jitted, no per-step host read).
PEERS = {'torch': {'torch scratch (chapter loop)': torch_scratch, 'torch nn.RNN (chapter loop)': torch_concise,
                   'torch scratch': torch_scratch_fast, 'torch nn.RNN': torch_concise_fast,
                   'torch nn.RNN (torch.compile)': torch_concise_compiled},
         'tensorflow': {'tensorflow scratch (chapter loop)': tensorflow_scratch,
                        'tensorflow scratch (tf.function)': tensorflow_scratch_fast,
                        'keras SimpleRNN (tf.function)': tensorflow_concise_fast},
         'jax': {'jax scratch (chapter loop)': jax_scratch, 'jax scratch (jit step)': jax_scratch_fast,
                 'jax scratch (jit + lax.scan)': jax_scratch_scan}}


def time_epochs(run_epoch, epochs, tokens, sync=lambda: None):
    """Tokens/s over ``epochs`` epochs after one warm-up epoch."""
    run_epoch()
    sync()
    return timed(run_epoch, epochs, tokens, sync)


def timed(run_epoch, epochs, tokens, sync=lambda: None):
    """Tokens/s over ``epochs`` epochs (no warm-up)."""
    sync()
    tic = time.perf_counter()
    for _ in range(epochs):
        run_epoch()
    sync()
    return tokens * epochs / (time.perf_counter() - tic)


def environment(framework):
    """The framework's version and thread settings, for the bench's JSON."""
    info = {}
    if framework == 'torch':
        import torch
        info = dict(version=torch.__version__, threads=torch.get_num_threads(),
                    interop_threads=torch.get_num_interop_threads(),
                    mkldnn=torch.backends.mkldnn.is_available(), blas=torch.__config__.show().count('BLAS_INFO')
                    and [ln.strip() for ln in torch.__config__.show().splitlines() if 'BLAS_INFO' in ln][0])
    elif framework == 'tensorflow':
        import tensorflow as tf
        info = dict(version=tf.__version__, intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads(),
                    inter_op_threads=tf.config.threading.get_inter_op_parallelism_threads(),
                    onednn=os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default (on for x86 Linux)'))
    elif framework == 'jax':
        import jax
        import numpy
        info = dict(version=jax.__version__, numpy=numpy.__version__, backend=jax.default_backend())
    return info


def serve(framework, batches_file, vocab_size, hiddens):
    """Build ``framework``'s variants, warm each up, then time them on request.

    Prints one JSON line ``{"ready": [...], "environment": {...}}`` (a variant whose
    construction or warm-up fails is left out, with its error under ``"failed"``), then reads
    lines ``VARIANT EPOCHS`` and answers each with ``{"tokens_per_sec": x}``; an empty line ends.
    The parent interleaves these requests with the other variants' (A B C A B C ...).
    """
    import numpy as np
    with np.load(batches_file, allow_pickle=False) as saved:
        batches = list(zip(saved['X'], saved['Y']))
    tokens = sum(Y.size for _, Y in batches)
    only = os.environ.get('GLUON_D2L_BENCH_VARIANTS')
    runs, failed = {}, {}
    for name, factory in PEERS[framework].items():
        if only and name not in only.split(','):
            continue
        try:
            run = factory(batches, vocab_size, hiddens)
            run()  # warm-up: compiles, traces, allocates
            runs[name] = run
        except Exception as err:  # e.g. torch.compile without a C++ compiler
            failed[name] = f'{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ""}'
    print(json.dumps(dict(ready=list(runs), failed=failed, environment=environment(framework))), flush=True)
    for line in sys.stdin:
        if not line.strip():
            break
        name, epochs = line.rsplit(' ', 1)
        print(json.dumps(dict(tokens_per_sec=timed(runs[name], int(epochs), tokens))), flush=True)


if __name__ == '__main__':
    serve(sys.argv[1], sys.argv[2], *map(int, sys.argv[3:5]))
