"""Device contexts: pick a GPU when one is present, the CPU otherwise."""
import numbers

import mxnet as mx


MAX_DEVICE_INDEX = 1023


def num_gpus():
    """Return the number of GPUs MXNet can see (0 on a CPU-only build)."""
    try:
        return mx.context.num_gpus()
    except mx.base.MXNetError:
        return 0


def try_gpu(i=0):
    """Return ``mx.gpu(i)`` if it exists, otherwise ``mx.cpu()``."""
    if isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 0 <= i <= MAX_DEVICE_INDEX:
        raise ValueError(f'i must be a GPU index, an integer in [0, {MAX_DEVICE_INDEX}], got {i!r}')
    return mx.gpu(i) if num_gpus() >= i + 1 else mx.cpu()


def try_all_gpus():
    """Return every available GPU, or ``[mx.cpu()]`` if there is none."""
    return [mx.gpu(i) for i in range(num_gpus())] or [mx.cpu()]


def parse_device(spec):
    """Turn ``'auto'``, ``'cpu'``, ``'cpu:1'``, ``'gpu:0'`` into an ``mx.Context``.

    Raises ``ValueError`` naming the spec when it is malformed or the GPU
    does not exist.
    """
    text = str(spec).strip().lower()
    if text == 'auto':
        return try_gpu()
    kind, _, index = text.partition(':')
    if kind not in ('cpu', 'gpu') or (index and not index.isdigit()):
        raise ValueError(f"device {spec!r}: expected 'auto', 'cpu', 'cpu:N' or 'gpu:N'")
    index = int(index or 0)
    if index > MAX_DEVICE_INDEX:
        # MXNet sizes per-device tables by the index: cpu(100000000) would allocate gigabytes
        raise ValueError(f'device {spec!r}: the index is above {MAX_DEVICE_INDEX}')
    if kind == 'gpu' and index >= num_gpus():
        raise ValueError(f'device {spec!r}: this machine has {num_gpus()} GPU(s)')
    return mx.Context(kind, index)


def parse_devices(spec):
    """Parse a comma-separated list of device specs into a list of contexts."""
    devices = [parse_device(part) for part in str(spec).split(',')]
    if len(set(devices)) != len(devices):
        raise ValueError(f'device {spec!r}: a device is listed twice')
    return devices
