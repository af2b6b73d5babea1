"""``gluon-d2l launch``: run a ``dist_sync`` job's scheduler, servers and workers on this machine.

Every process gets the ``DMLC_*`` variables of its role on the loopback address.
Output is streamed with a role prefix. When a process fails, the job times out,
or Ctrl-C, SIGTERM or SIGHUP arrives, every process started here is stopped; the exit status is
that of the first failure. On a cluster, a scheduler sets the same variables
per host instead: ``DMLC_ROLE`` (scheduler/server/worker), ``DMLC_PS_ROOT_URI``
and ``DMLC_PS_ROOT_PORT`` (the scheduler's address), ``DMLC_NUM_SERVER``,
``DMLC_NUM_WORKER`` and ``DMLC_NODE_HOST`` (this host's address).
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time

LOOPBACK = '127.0.0.1'
GRACE_SECONDS = 5.0


def free_port():
    """A TCP port on the loopback address that is free right now."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def role_environment(role, port, num_workers, num_servers):
    """The environment for one process of the job (``PORT`` removed: ps-lite would take it)."""
    env = {k: v for k, v in os.environ.items() if k != 'PORT'}
    env.update(DMLC_ROLE=role, DMLC_PS_ROOT_URI=LOOPBACK, DMLC_PS_ROOT_PORT=str(port),
               DMLC_NUM_SERVER=str(num_servers), DMLC_NUM_WORKER=str(num_workers), DMLC_NODE_HOST=LOOPBACK,
               PYTHONUNBUFFERED='1')
    return env


def _stream(name, pipe):
    for line in pipe:
        sys.stdout.write(f'[{name}] {line}')
        sys.stdout.flush()


def _status(code):
    return 128 - code if code < 0 else code


def _signal_group(proc, signum):
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass


class Job:
    """The processes of one job and the threads streaming their output."""

    def __init__(self, worker_args, num_workers, num_servers):
        port = free_port()
        # Importing gluon_d2l (NumPy shim, then mxnet) runs the scheduler/server loop for those roles.
        serve = [sys.executable, '-c', 'import gluon_d2l']
        plan = [('scheduler', 'scheduler', serve)]
        plan += [(f'server {i}', 'server', serve) for i in range(num_servers)]
        plan += [(f'worker {i}', 'worker', [sys.executable, '-m', 'gluon_d2l', *worker_args])
                 for i in range(num_workers)]
        self.procs, self.threads = {}, []
        try:
            self._start(plan, port, num_workers, num_servers)
        except BaseException:
            self.stop()
            raise

    def _start(self, plan, port, num_workers, num_servers):
        for name, role, argv in plan:
            proc = subprocess.Popen(argv, env=role_environment(role, port, num_workers, num_servers),
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    start_new_session=True)
            self.procs[name] = proc
            thread = threading.Thread(target=_stream, args=(name, proc.stdout), daemon=True)
            thread.start()
            self.threads.append(thread)

    def workers(self):
        return {n: p for n, p in self.procs.items() if n.startswith('worker')}

    def first_failure(self):
        """``(name, status)`` of the first process that exited non-zero, else ``None``."""
        for name, proc in self.procs.items():
            if proc.poll() not in (None, 0):
                return name, _status(proc.returncode)
        return None

    def stop(self):
        """Terminate every process group still running, then kill what remains."""
        for proc in self.procs.values():
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        deadline = time.time() + GRACE_SECONDS
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        for thread in self.threads:
            thread.join(timeout=1)


class Stopped(Exception):
    """A termination signal arrived (SIGTERM from ``timeout``, systemd or Slurm; SIGHUP)."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum, frame):
    raise Stopped(signum)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def launch(worker_args, num_workers, num_servers, timeout):
    """Run the job; return 0 when every worker succeeds, else the first failing status.

    Whatever ends it (a failure, ``timeout``, Ctrl-C, SIGTERM or SIGHUP), every process
    started here is stopped before this returns.
    """
    previous = {s: signal.signal(s, _raise_stopped) for s in STOP_SIGNALS}
    job = None
    try:
        job = Job(worker_args, num_workers, num_servers)
        deadline = time.time() + timeout
        while True:
            failure = job.first_failure()
            if failure is not None:
                print(f'gluon-d2l launch: {failure[0]} exited with status {failure[1]}; stopping the job',
                      file=sys.stderr)
                return failure[1]
            if all(p.poll() == 0 for p in job.workers().values()):
                return 0
            if time.time() > deadline:
                print(f'gluon-d2l launch: the job ran past --timeout {timeout}s; stopping it', file=sys.stderr)
                return 124
            time.sleep(0.05)
    except KeyboardInterrupt:
        print('gluon-d2l launch: interrupted; stopping the job', file=sys.stderr)
        return 130
    except Stopped as stop:
        print(f'gluon-d2l launch: got {stop}; stopping the job', file=sys.stderr)
        return 128 + stop.signum
    finally:
        for s in STOP_SIGNALS:  # a second signal must not cut the clean-up short
            signal.signal(s, signal.SIG_IGN)
        if job is not None:
            job.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
