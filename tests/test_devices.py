"""Device selection: GPU when present, CPU otherwise, and device-string parsing."""

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
