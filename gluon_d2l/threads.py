"""MXNet's OpenMP threads when the user has not configured them: every physical core, passive waits.

With ``OMP_NUM_THREADS`` unset, MXNet 1.9.1 on x86 runs its operators on half of
``omp_get_num_procs()`` threads (``src/engine/openmp.cc`` assumes two hardware threads per core).
On a machine with one thread per core, such as the 2-vCPU VMs this project runs on, that is half
the cores. :func:`default_mxnet_threads` runs before MXNet is imported and, only when neither
``OMP_NUM_THREADS`` nor ``MXNET_OMP_MAX_THREADS`` is set (and ``GLUON_D2L_KEEP_THREADS`` is not),
sets ``MXNET_OMP_MAX_THREADS`` to the number of physical cores this process may use.

It also sets ``OMP_WAIT_POLICY=PASSIVE`` when that is unset: with libgomp's default (spin before
sleeping), MXNet's threads collapse as soon as anything else wants a core. Measured here with
another process busy (load average 3.5 on 2 cores): 0.6k-9k tokens/s for the hybrid model with
2 spinning threads, 25k with passive waits, the same as 1 thread. libgomp reads it when it is
loaded, so it takes effect only if no OpenMP library is loaded yet. Nothing changes once MXNet is
loaded, and nothing when the user has set any of these variables.
"""
import os

#: set (to anything) to keep MXNet's and libgomp's own defaults
KEEP_ENV = 'GLUON_D2L_KEEP_THREADS'
#: what :func:`default_mxnet_threads` set in this process (``{variable: value}``)
APPLIED = {}


def physical_cores():
    """The number of physical cores among the CPUs this process may run on (at least 1)."""
    usable = os.sched_getaffinity(0) if hasattr(os, 'sched_getaffinity') else range(os.cpu_count() or 1)
    cores = set()
    for cpu in usable:
        try:
            with open(f'/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list') as f:
                cores.add(f.read().strip())
        except OSError:
            cores.add(str(cpu))
    return max(1, len(cores))


def default_mxnet_threads(environ=None):
    """Set the defaults above where the user set nothing; return ``{variable: value}`` of what was set."""
    environ = os.environ if environ is None else environ
    if KEEP_ENV in environ:
        return {}
    chosen = {}
    if 'OMP_NUM_THREADS' not in environ and 'MXNET_OMP_MAX_THREADS' not in environ:
        chosen['MXNET_OMP_MAX_THREADS'] = str(physical_cores())
    if 'OMP_WAIT_POLICY' not in environ and 'GOMP_SPINCOUNT' not in environ:
        chosen['OMP_WAIT_POLICY'] = 'PASSIVE'
    environ.update(chosen)
    if environ is os.environ:
        APPLIED.update(chosen)
    return chosen
