"""The environment variables MXNet 1.9.1 cannot load with.

MXNet reads these thread counts as one integer (``dmlc::GetEnv``) when it loads: a value that is
not one (``OMP_NUM_THREADS=abc``, ``4,2``) aborts the process in C++, and a negative one makes
libgomp try to allocate terabytes. This module imports nothing of MXNet, so the problem can be
named before MXNet is loaded.
"""
import os

THREAD_COUNT_ENV = ('OMP_NUM_THREADS', 'MXNET_OMP_MAX_THREADS', 'MXNET_CPU_WORKER_NTHREADS',
                    'MXNET_CPU_PRIORITY_NTHREADS', 'MXNET_CPU_NNPACK_NTHREADS', 'MXNET_GPU_WORKER_NTHREADS',
                    'MXNET_GPU_COPY_NTHREADS', 'MXNET_MP_WORKER_NTHREADS')
MAX_THREADS = 4096


def problem(environ=None):
    """``(variable, message)`` of the first thread count MXNet would abort on, or ``None``."""
    environ = os.environ if environ is None else environ
    for name in THREAD_COUNT_ENV:
        value = environ.get(name)
        if value is None:
            continue
        text = value.strip()
        if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_THREADS):
            return name, (f'{name}={value!r}: expected a whole number of threads from 1 to {MAX_THREADS} '
                          '(MXNet aborts on anything else); unset it or fix it')
    return None
