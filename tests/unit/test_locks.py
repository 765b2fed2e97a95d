"""The per-key store lock: exclusion across processes, waiting then reuse, kill -9 recovery."""

import json
import multiprocessing
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from assay.artifacts import AlreadyPublished, ArtifactRef, publish
from assay.locks import is_stale, key_lock


def _ref(store: Path) -> ArtifactRef:
    return ArtifactRef(
        stage="s", key="0123456789abcdef", spec={}, upstream={}, path=store / "s" / "0123456789abcdef"
    )


def _compute(store: str, log: str) -> None:
    """One study's job: publish the key if nobody did, recording whether it computed."""
    try:
        with publish(_ref(Path(store))) as staging:
            with open(log, "a") as handle:
                handle.write(f"start {os.getpid()}\n")
            time.sleep(1.0)
            (staging.dir / "out.txt").write_text(str(os.getpid()))
            with open(log, "a") as handle:
                handle.write(f"end {os.getpid()}\n")
    except AlreadyPublished:
        with open(log, "a") as handle:
            handle.write(f"reused {os.getpid()}\n")


def test_concurrent_publishers_compute_once_and_the_other_reuses(tmp_path):
    log = tmp_path / "log.txt"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_compute, args=(str(tmp_path / "store"), str(log))) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    events = [line.split()[0] for line in log.read_text().splitlines()]
    assert events.count("start") == 1 and events.count("end") == 1 and events.count("reused") == 2
    assert events.index("end") == 1  # nobody started while the holder computed


def _hold_forever(store: str, ready: str) -> None:
    with key_lock(Path(store), "k", heartbeat_s=0.2):
        Path(ready).write_text("held")
        time.sleep(600)


def test_a_lock_held_by_a_process_killed_with_kill_9_is_broken(tmp_path):
    context = multiprocessing.get_context("spawn")
    ready = tmp_path / "ready"
    holder = context.Process(target=_hold_forever, args=(str(tmp_path), str(ready)))
    holder.start()
    while not ready.exists():
        time.sleep(0.05)
    with pytest.raises(TimeoutError, match="still held"):
        with key_lock(tmp_path, "k", poll_s=0.05, timeout_s=0.5):
            pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.join()
    started = time.time()
    with key_lock(tmp_path, "k", poll_s=0.05, timeout_s=5):
        assert json.loads((tmp_path / ".locks" / "k.lock").read_text())["pid"] == os.getpid()
    assert time.time() - started < 5
    assert not (tmp_path / ".locks" / "k.lock").exists()


def test_staleness_by_heartbeat_for_holders_on_other_hosts():
    now = time.time()
    other = {"host": "node-17", "pid": 1, "heartbeat": now - 30}
    assert not is_stale(other, stale_after_s=60, now=now)
    assert is_stale(other, stale_after_s=10, now=now)
    assert not is_stale({"host": socket.gethostname(), "pid": os.getpid(), "heartbeat": now}, 60, now)
    assert not is_stale(None, 60, now)  # a lock being written is not stale


def _stage_forever(store: str, ready: str) -> None:
    with publish(_ref(Path(store))):
        Path(ready).write_text("staging")
        time.sleep(600)


def test_gc_leftovers_skip_running_jobs_and_report_killed_ones(tmp_path):
    from assay.artifacts import leftovers

    ready = tmp_path / "ready"
    job = multiprocessing.get_context("spawn").Process(
        target=_stage_forever, args=(str(tmp_path), str(ready))
    )
    job.start()
    while not ready.exists():
        time.sleep(0.05)
    assert len(list((tmp_path / ".tmp").iterdir())) == 1 and leftovers(tmp_path) == []  # running
    os.kill(job.pid, signal.SIGKILL)
    job.join()
    [left] = leftovers(tmp_path)  # killed: its staging folder is a leftover
    assert left.name.startswith("s-0123456789abcdef-")


def test_an_ended_child_not_yet_collected_is_not_alive():
    """A zombie (ended, its parent has not waited for it) still answers kill(pid, 0): a job
    that ended an engine server it had started waited out its whole timeout for it."""
    import subprocess

    from assay.locks import pid_alive

    child = subprocess.Popen(["sleep", "0.2"])
    assert pid_alive(child.pid)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(child.pid, 0)  # still in the process table
    assert not pid_alive(child.pid)
    child.wait()
    assert not pid_alive(child.pid)
