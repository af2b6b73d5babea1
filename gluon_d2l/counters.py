"""Small bookkeeping helpers used by the training loops."""
import numbers
import time

from .modes import as_np


class Timer:
    """Record several running times."""

    def __init__(self):
        self.times = []
        self.start()

    def start(self):
        """Start the timer."""
        self.tik = time.perf_counter()

    def stop(self):
        """Stop the timer, record the time and return it."""
        self.times.append(time.perf_counter() - self.tik)
        return self.times[-1]

    def avg(self):
        """Return the average recorded time (``ValueError`` when none is recorded)."""
        if not self.times:
            raise ValueError('Timer.avg: times is empty (call start() and stop() first)')
        return sum(self.times) / len(self.times)

    def sum(self):
        """Return the sum of the recorded times."""
        return sum(self.times)

    def cumsum(self):
        """Return the running totals of the recorded times."""
        totals, running = [], 0.0
        for t in self.times:
            running += t
            totals.append(running)
        return totals


class Accumulator:
    """Accumulate sums over ``n`` variables."""

    def __init__(self, n):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f'n must be the number of sums, an integer >= 0, got {n!r}')
        self.data = [0.0] * n

    def add(self, *args):
        """Add one value to each of the ``n`` sums: numbers, or one-element ``mx.np`` or ``mx.nd`` arrays."""
        if len(args) != len(self.data):
            raise ValueError(f'Accumulator.add: expected {len(self.data)} values, got {len(args)}')
        args = [as_np(arg) for arg in args]
        for arg in args:
            if isinstance(arg, (str, bytes)) or not (isinstance(arg, numbers.Real) or hasattr(arg, '__float__')):
                raise TypeError(f'Accumulator.add: args must be numbers, got {arg!r}')
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def reset(self):
        """Set every sum back to zero."""
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]
