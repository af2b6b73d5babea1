"""Training across processes on MXNet's parameter server (a ``dist_sync`` KVStore).

Every worker reads the same global minibatches and keeps the rows of its rank
(``batch_size / num_workers`` each), so sequential partitioning still carries each
row's state from one minibatch to the next. ``gluon.Trainer`` sums the gradients
of all workers through the KVStore (``allreduce_grads``) *before* clipping, so the
clipping norm is that of the aggregated gradient, then updates every worker's
copy alike. Perplexity and tokens/s are summed over the whole job.
"""
import mxnet as mx
from mxnet import gluon

from .checks import check_positive_number


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
        """An SGD Trainer whose gradients are reduced through this job's KVStore."""
        lr = check_positive_number('lr', lr)
        return gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': lr}, kvstore=self.kvstore,
                             update_on_kvstore=False)

    def job_totals(self, loss_sum, num_tokens):
        """Sum ``loss_sum`` and ``num_tokens`` over all workers (a synchronous push, then a pull)."""
        self.kvstore.push(self._totals_key, mx.nd.array([loss_sum, num_tokens]))
        total = mx.nd.zeros(2)
        self.kvstore.pull(self._totals_key, out=total)
        loss, tokens = total.asnumpy().tolist()
        return loss, tokens
