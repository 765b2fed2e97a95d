"""GPU placement for local runs: each GPU job gets devices of its own.

Snakemake's ``--resources gpu=N`` bounds how many GPUs the running jobs ask for in all, but
it does not say *which* devices a job may use, and does not set ``CUDA_VISIBLE_DEVICES``.
``gpu_lease(count)`` does, before the job touches CUDA: it claims ``count`` device ids
with one lock file per device (``/tmp/assay-gpus-{uid}/gpu-{i}.lock``, ``O_EXCL``, holder
pid inside; a holder killed with kill -9 is detected and its devices reclaimed), sets
``CUDA_VISIBLE_DEVICES`` for the job (vLLM workers and torch inherit it) and frees them at
the end. When Snakemake's budget is respected the claim never waits; when several
workflows share a machine it waits for free devices.

It stays out of the way where placement is already decided: ``CUDA_VISIBLE_DEVICES`` set
(SLURM sets it for ``--gpus`` jobs), or no GPU on the machine. The device list comes from
``ASSAY_GPUS`` (``0,1,2,3``) or ``nvidia-smi -L``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from assay.locks import _try_create, is_stale, read_holder

log = logging.getLogger(__name__)


def machine_gpus() -> list[str]:
    """Device ids of this machine: ``ASSAY_GPUS`` or nvidia-smi's list (empty without GPUs)."""
    if os.environ.get("ASSAY_GPUS"):
        return [d.strip() for d in os.environ["ASSAY_GPUS"].split(",") if d.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False).stdout
    return [str(i) for i, line in enumerate(listing.splitlines()) if line.startswith("GPU ")]


def lease_dir() -> Path:
    return Path(os.environ.get("ASSAY_GPU_LOCKS", Path(tempfile.gettempdir()) / f"assay-gpus-{os.getuid()}"))


def _claim(devices: list[str], count: int, folder: Path) -> list[str]:
    taken: list[str] = []
    for device in devices:
        path = folder / f"gpu-{device}.lock"
        if is_stale(read_holder(path), stale_after_s=float("inf")):
            path.unlink(missing_ok=True)  # its holder was killed: the device is free
        if _try_create(path):
            taken.append(device)
            if len(taken) == count:
                return taken
    for device in taken:  # not enough free devices: give back and wait
        (folder / f"gpu-{device}.lock").unlink(missing_ok=True)
    return []


@contextmanager
def gpu_lease(count: int, poll_s: float = 2.0) -> Iterator[list[str]]:
    """Claim ``count`` devices for the body and expose only them (see module doc)."""
    devices = machine_gpus()
    if count <= 0 or "CUDA_VISIBLE_DEVICES" in os.environ or not devices:
        yield []
        return
    if count > len(devices):
        raise RuntimeError(f"a job needs {count} GPUs; this machine has {len(devices)}")
    folder = lease_dir()
    folder.mkdir(parents=True, exist_ok=True)
    announced = False
    while not (taken := _claim(devices, count, folder)):
        if not announced:
            log.info("waiting for %d free GPU(s) of %s", count, devices)
            announced = True
        time.sleep(poll_s)
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(taken)
    log.info("this job runs on GPU(s) %s", ",".join(taken))
    try:
        yield taken
    finally:
        os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        for device in taken:
            (folder / f"gpu-{device}.lock").unlink(missing_ok=True)
