"""Device selection: GPU when present, CPU otherwise, and device-string parsing."""
import os

import mxnet as mx
import pytest

from gluon_d2l import devices


@pytest.mark.parametrize('gpus, expected', [(0, mx.cpu()), (1, mx.gpu(0)), (2, mx.gpu(0))])
def test_try_gpu_prefers_an_existing_gpu(monkeypatch, gpus, expected):
    monkeypatch.setattr(devices, 'num_gpus', lambda: gpus)
    assert devices.try_gpu() == expected
    assert devices.try_gpu(1) == (mx.gpu(1) if gpus >= 2 else mx.cpu())


@pytest.mark.parametrize('gpus, expected', [(0, [mx.cpu()]), (2, [mx.gpu(0), mx.gpu(1)])])
def test_try_all_gpus(monkeypatch, gpus, expected):
    monkeypatch.setattr(devices, 'num_gpus', lambda: gpus)
    assert devices.try_all_gpus() == expected


def test_num_gpus_matches_mxnet():
    assert devices.num_gpus() == mx.context.num_gpus()


@pytest.mark.parametrize('spec, expected', [('cpu', mx.cpu(0)), ('cpu:1', mx.cpu(1)), (' CPU:2 ', mx.cpu(2))])
def test_parse_device(spec, expected):
    assert devices.parse_device(spec) == expected


@pytest.mark.parametrize('spec', ['tpu', 'cpu:x', 'gpu:99', ''])
def test_parse_device_rejects_unknown_devices(spec):
    with pytest.raises(ValueError, match='device'):
        devices.parse_device(spec)


def test_parse_devices_lists_and_rejects_duplicates():
    assert devices.parse_devices('cpu:0,cpu:1') == [mx.cpu(0), mx.cpu(1)]
    with pytest.raises(ValueError, match='twice'):
        devices.parse_devices('cpu,cpu:0')


def test_thread_defaults_fill_in_only_what_the_user_left_unset():
    from gluon_d2l import threads
    cores = str(threads.physical_cores())
    env = {}
    assert threads.default_mxnet_threads(env) == {'MXNET_OMP_MAX_THREADS': cores, 'OMP_WAIT_POLICY': 'PASSIVE'}
    assert env == {'MXNET_OMP_MAX_THREADS': cores, 'OMP_WAIT_POLICY': 'PASSIVE'}
    env = {'OMP_NUM_THREADS': '1', 'GOMP_SPINCOUNT': '100'}
    assert threads.default_mxnet_threads(env) == {} and env == {'OMP_NUM_THREADS': '1', 'GOMP_SPINCOUNT': '100'}
    env = {'OMP_WAIT_POLICY': 'ACTIVE'}
    assert threads.default_mxnet_threads(env) == {'MXNET_OMP_MAX_THREADS': cores}
    env = {threads.KEEP_ENV: '1'}
    assert threads.default_mxnet_threads(env) == {} and env == {threads.KEEP_ENV: '1'}
    assert 1 <= int(cores) <= os.cpu_count()


@pytest.mark.parametrize('preset, expected', [({}, 'set'), ({'OMP_NUM_THREADS': '1'}, 'unset')])
def test_importing_gluon_d2l_sets_the_thread_default_before_mxnet_loads(preset, expected):
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if not k.startswith(('OMP_', 'MXNET_OMP', 'GOMP_', 'GLUON_D2L_KEEP'))}
    code = 'import os, gluon_d2l; print(os.environ.get("MXNET_OMP_MAX_THREADS"), os.environ.get("OMP_WAIT_POLICY"))'
    done = subprocess.run([sys.executable, '-c', code], env=dict(env, **preset), capture_output=True, text=True)
    threads_value, policy = done.stdout.split()
    assert (threads_value != 'None') == (expected == 'set') and policy == 'PASSIVE', done.stdout
