"""Fixtures of the unit tests that start shared engine servers (test_shared_engine.py,
test_memory.py)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest


def _server_pids(folder: Path) -> list[int]:
    listing = subprocess.run(["pgrep", "-f", f"assay.engine.shared {folder}"], capture_output=True, text=True)
    return [int(pid) for pid in listing.stdout.split()]


@pytest.fixture
def server_pids() -> Callable[[Path], list[int]]:
    """The pids of the engine servers running from a server folder."""
    return _server_pids


@pytest.fixture
def engines(tmp_path, monkeypatch) -> Path:
    """A private server folder per test, outside any SLURM job or run; every server left
    is killed afterwards."""
    folder = tmp_path / "engines"
    monkeypatch.setenv("ASSAY_ENGINE_DIR", str(folder))
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("ASSAY_RUN_PID", raising=False)
    yield folder
    for pid in _server_pids(folder):
        os.kill(pid, signal.SIGKILL)
