"""The program's MXNet thread defaults: every physical core, passive OpenMP waits.

Measured on the 2-core machines this project runs on (``python -m gluon_d2l bench``, README):

- With ``OMP_NUM_THREADS`` unset, MXNet 1.9.1 on x86 runs its operators on half of
  ``omp_get_num_procs()`` threads (``src/engine/openmp.cc`` assumes two hardware threads per core),
  so a VM with one thread per core trains on half its cores: 19.5k tokens/s for the chapter's
  hybrid model here on a quiet machine, 23.5k on both cores.
- With two threads and libgomp's default waits (spin, then sleep), MXNet collapses as soon as
  anything else wants a core: 2.5k tokens/s (median) with another process busy, 15.5k with
  ``OMP_WAIT_POLICY=PASSIVE``.

Both settings are read only when MXNet (and libgomp) load, and neither MXNet's
``MXSetNumOMPThreads`` nor OpenBLAS's ``openblas_set_num_threads`` changes them afterwards
(measured: no change). A library must not set them (an MXNet project importing gluon_d2l keeps its
own process as it was), so the program does it for the processes it owns: a long command
(``train``, ``bench``, ``exercises``) that finds them unset sets them and re-executes itself
(:func:`reexec_with_defaults`), at a cost of one more interpreter start and import (2-3 s). Nothing
happens when the user set ``OMP_NUM_THREADS``, ``MXNET_OMP_MAX_THREADS``, ``OMP_WAIT_POLICY`` or
``GOMP_SPINCOUNT`` (each is respected on its own), nor with ``GLUON_D2L_KEEP_THREADS`` set.
"""
import os
import sys

from .. import _mxnet_env
from .config import ConfigError

#: set (to anything) to keep MXNet's and libgomp's own defaults
KEEP_ENV = 'GLUON_D2L_KEEP_THREADS'
#: set by :func:`reexec_with_defaults` for the new process: the names of the variables it set
APPLIED_ENV = 'GLUON_D2L_THREAD_DEFAULTS'


def check_environment(environ=None):
    """Refuse (``ConfigError`` naming the variable) a thread count that MXNet would abort on."""
    found = _mxnet_env.problem(environ)
    if found is not None:
        raise ConfigError(*found)


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


def defaults(environ):
    """``{variable: value}`` of the defaults that ``environ`` leaves unset (empty: nothing to do)."""
    if KEEP_ENV in environ or APPLIED_ENV in environ:
        return {}
    chosen = {}
    if 'OMP_NUM_THREADS' not in environ and 'MXNET_OMP_MAX_THREADS' not in environ:
        chosen['MXNET_OMP_MAX_THREADS'] = str(physical_cores())
    if 'OMP_WAIT_POLICY' not in environ and 'GOMP_SPINCOUNT' not in environ:
        chosen['OMP_WAIT_POLICY'] = 'PASSIVE'
    return chosen


def applied(environ=None):
    """``{variable: value}`` of what the program set in this process (not the user)."""
    environ = os.environ if environ is None else environ
    names = [n for n in environ.get(APPLIED_ENV, '').split(',') if n]
    return {n: environ[n] for n in names if n in environ}


def user_environment(environ=None):
    """``environ`` as the user set it: without the program's thread defaults and their marker."""
    environ = os.environ if environ is None else environ
    ours = set(applied(environ)) | {APPLIED_ENV}
    return {k: v for k, v in environ.items() if k not in ours}


def command_line():
    """The command line that started this interpreter (``sys.orig_argv`` where Python has it)."""
    if getattr(sys, 'orig_argv', None):
        return [sys.executable] + list(sys.orig_argv[1:])
    script = sys.argv[0]
    if os.path.basename(script) == '__main__.py':  # python -m gluon_d2l
        return [sys.executable, '-m', os.path.basename(os.path.dirname(script))] + sys.argv[1:]
    return [sys.executable, script] + sys.argv[1:]


def reexec_with_defaults(environ=None, execv=os.execv):
    """Set :func:`defaults` and restart this process in place (same PID) so MXNet loads with them.

    Returns (without restarting) when there is nothing to set or no interpreter to restart.
    """
    environ = os.environ if environ is None else environ
    chosen = defaults(environ)
    if not chosen or os.name != 'posix' or not sys.executable:
        return
    environ.update(chosen)
    environ[APPLIED_ENV] = ','.join(sorted(chosen))
    sys.stdout.flush()
    sys.stderr.flush()
    execv(sys.executable, command_line())
