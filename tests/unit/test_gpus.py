"""GPU placement without GPUs: the lease logic on a declared device list."""

import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from assay.gpus import gpu_lease


@pytest.fixture
def four_gpus(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSAY_GPUS", "0,1,2,3")
    monkeypatch.setenv("ASSAY_GPU_LOCKS", str(tmp_path / "locks"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return tmp_path


def test_leases_are_disjoint_and_set_cuda_visible_devices(four_gpus):
    with gpu_lease(2) as first:
        assert os.environ["CUDA_VISIBLE_DEVICES"] == ",".join(first) == "0,1"
        os.environ.pop("CUDA_VISIBLE_DEVICES")  # a second job is another process
        with gpu_lease(2) as second:
            assert second == ["2", "3"]
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    assert not any((four_gpus / "locks").iterdir())


def test_placement_already_decided_is_left_alone(four_gpus, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # e.g. SLURM's --gpus
    with gpu_lease(1) as taken:
        assert taken == [] and os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    with pytest.raises(RuntimeError, match="needs 8 GPUs; this machine has 4"):
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
        with gpu_lease(8):
            pass


def _hold(ready: str) -> None:
    with gpu_lease(4):
        Path(ready).write_text(os.environ["CUDA_VISIBLE_DEVICES"])
        time.sleep(600)


def test_devices_of_a_job_killed_with_kill_9_are_reclaimed(four_gpus):
    ready = four_gpus / "ready"
    holder = multiprocessing.get_context("spawn").Process(target=_hold, args=(str(ready),))
    holder.start()
    while not ready.exists():
        time.sleep(0.05)
    assert ready.read_text() == "0,1,2,3"
    os.kill(holder.pid, signal.SIGKILL)
    holder.join()
    with gpu_lease(1, poll_s=0.05) as taken:
        assert taken == ["0"]
