"""PyTorch and JAX reference throughput on a CUDA machine that has no MXNet (TF32 off).

Run from the repository root: ``python tests/benchmarks/gpu_peers.py``. It loads
``parity/bench/peers.py`` by path (importing ``gluon_d2l`` would import MXNet) and uses
random token ids with the d2l chapter's shapes, since the corpus's content does not change the cost.
"""
import importlib.util
import json
import time

import jax
import numpy as np
import torch

spec = importlib.util.spec_from_file_location('bench_peers', 'parity/bench/peers.py')
peers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peers)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
rng = np.random.RandomState(0)
corpus = rng.randint(0, 28, 10000)
B, T = 32, 35
n = (len(corpus) - 1) // B * B
Xs, Ys = corpus[:n].reshape(B, -1), corpus[1:n + 1].reshape(B, -1)
batches = [(Xs[:, i:i + T].astype('int32'), Ys[:, i:i + T].astype('int32')) for i in range(0, Xs.shape[1] - T + 1, T)]
tokens = sum(Y.size for _, Y in batches)
out = {}
for dev in ['cuda', 'cpu']:
    for name, fac in [('torch scratch', peers.torch_scratch), ('torch nn.RNN', peers.torch_concise)]:
        run = fac(batches, 28, 512, device=dev)
        run()
        torch.cuda.synchronize()
        tic = time.perf_counter()
        for _ in range(5):
            run()
        torch.cuda.synchronize()
        out[f'{name} on {dev}'] = tokens * 5 / (time.perf_counter() - tic)
jax.config.update('jax_default_matmul_precision', 'highest')
for dev in ['gpu', 'cpu']:
    with jax.default_device(jax.devices(dev)[0]):
        out[f'jax scratch on {dev}'] = peers.time_epochs(peers.jax_scratch(batches, 28, 512), 5, tokens)
print(json.dumps(out, indent=1), 'torch', torch.__version__, 'jax', jax.__version__, torch.cuda.get_device_name(0))
