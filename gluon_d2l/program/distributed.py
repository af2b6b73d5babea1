"""Training across processes on MXNet's parameter server (a ``dist_sync`` KVStore).

Every worker reads the same global minibatches and keeps the rows of its rank
(``batch_size / num_workers`` each), so sequential partitioning still carries each
row's state from one minibatch to the next. Before training every worker takes
rank 0's parameters; at each step the gradients of all workers are summed through
the KVStore *before* clipping, so the clipping norm is that of the aggregated
gradient, and a local ``gluon.Trainer`` updates every worker's copy alike.
Perplexity and tokens/s are summed over the whole job.

Why not ``gluon.Trainer(kvstore=dist_sync)``: its KVStore set-up, run lazily at the
first step, pulls the initial parameters and pushes the first gradients on the
same key with nothing ordering the two; measured here, about one run in four a
worker started from the summed gradient instead of the weights. Broadcasting
first, and waiting for it, removes that race.
"""
import mxnet as mx
from mxnet import gluon

from ..checks import check_positive_number


# An integer key (the Trainer's keys are integers and MXNet forbids mixing) far above any parameter index.
TOTALS_KEY = 1 << 24


class Cluster:
    """This process's place in a distributed job: its KVStore, rank and worker count."""

    def __init__(self, kind):
        if not kind.startswith('dist'):
            raise ValueError(f"kvstore {kind!r}: expected a distributed kind such as 'dist_sync'")
        self.kvstore = mx.kv.create(kind)
        self.rank, self.num_workers = self.kvstore.rank, self.kvstore.num_workers
        self._totals_key = TOTALS_KEY
        self.kvstore.init(self._totals_key, mx.nd.zeros(2))

    @property
    def is_writer(self):
        """Only rank 0 writes the run directory."""
        return self.rank == 0

    def shard(self, batches):
        """Yield this worker's rows of every global minibatch."""
        for X, Y in batches:
            if X.shape[0] % self.num_workers:
                raise ValueError(f'batch_size {X.shape[0]} must divide evenly over {self.num_workers} workers')
            rows = X.shape[0] // self.num_workers
            part = slice(self.rank * rows, (self.rank + 1) * rows)
            yield X[part], Y[part]

    def trainer(self, net, lr):
        """A local SGD Trainer; the gradients it applies are those summed by :meth:`gradient_reducer`."""
        lr = check_positive_number('lr', lr)
        return gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': lr}, kvstore=None)

    def broadcast(self, net):
        """Give every worker rank 0's parameters; return once they have arrived."""
        for key, param in enumerate(net.collect_params().values()):
            self.kvstore.init(key, param.list_data()[0])
            self.kvstore.pull(key, out=param.list_data())
        mx.nd.waitall()

    def gradient_reducer(self, net):
        """A callable summing each gradient over this worker's devices and all workers, in place."""
        params = list(net.collect_params().values())

        def reduce_gradients():
            for key, param in enumerate(params):
                grads = param.list_grad()
                self.kvstore.pushpull(key, grads, out=grads, priority=-key)
        return reduce_gradients

    def job_totals(self, loss_sum, num_tokens):
        """Sum ``loss_sum`` and ``num_tokens`` over all workers (a synchronous push, then a pull)."""
        self.kvstore.push(self._totals_key, mx.nd.array([loss_sum, num_tokens]))
        total = mx.nd.zeros(2)
        self.kvstore.pull(self._totals_key, out=total)
        loss, tokens = total.asnumpy().tolist()
        return loss, tokens
