"""A lock per artifact key that works on network file systems and survives kill -9.

Studies that share a store (on one machine, or as cluster jobs on several) must never
compute the same artifact at once. ``key_lock`` creates ``{store}/.locks/{stage}-{key}.lock``
with ``O_CREAT | O_EXCL`` (atomic on local file systems and on NFS v3+, unlike ``flock``,
which NFS may not honour across hosts). The file holds the holder's host, pid and a
heartbeat time that a background thread refreshes every ``heartbeat_s`` seconds.

A waiting process breaks a lock that is *stale*: its holder runs on this host and its pid
is gone (a holder killed with kill -9), or its heartbeat is older than ``stale_after_s``
(a holder on another host that died, or lost its file system). Breaking renames the lock
file to a unique name first, so that of several waiters exactly one breaks it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_DIR = ".locks"


def _holder() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "heartbeat": time.time()}


def pid_alive(pid: int) -> bool:
    """Whether a process of this host runs (one we may not signal counts as running; one
    that has ended but whose parent has not collected it yet, a zombie, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """An ended process still in the process table: ``kill(pid, 0)`` finds it until its
    parent waits for it. An engine server ended by the job that started it stays one as
    long as that job runs, and a job waiting for it to go waited out its whole timeout."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no procfs (macOS), or it has just been collected
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def read_holder(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def is_stale(holder: dict | None, stale_after_s: float, now: float | None = None) -> bool:
    """A lock whose holder is provably gone (same host, dead pid) or silent too long."""
    if holder is None:
        return False  # being written right now, or just released
    now = time.time() if now is None else now
    if holder.get("host") == socket.gethostname() and not pid_alive(int(holder.get("pid", -1))):
        return True
    return now - float(holder.get("heartbeat", 0)) > stale_after_s


def _try_create(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        json.dump(_holder(), handle)
    return True


def _break(path: Path) -> None:
    """Rename the stale lock aside (atomic: one waiter wins), then delete it."""
    aside = path.with_name(f"{path.name}.stale-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    log.warning("broke a stale lock %s (holder %s)", path, read_holder(aside))
    aside.unlink(missing_ok=True)


class _Heartbeat(threading.Thread):
    def __init__(self, path: Path, every: float):
        super().__init__(daemon=True)
        self.path, self.every, self.stopped = path, every, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            tmp = self.path.with_name(f"{self.path.name}.beat-{os.getpid()}")
            tmp.write_text(json.dumps(_holder()))
            os.replace(tmp, self.path)


@contextmanager
def key_lock(
    store: Path,
    name: str,
    heartbeat_s: float = 10.0,
    stale_after_s: float = 120.0,
    poll_s: float = 1.0,
    timeout_s: float | None = None,
) -> Iterator[Path]:
    """Hold ``{store}/.locks/{name}.lock`` for the body; waits (and logs) while another
    live process holds it."""
    folder = Path(store) / LOCK_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.lock"
    started, announced = time.time(), False
    while not _try_create(path):
        holder = read_holder(path)
        if is_stale(holder, stale_after_s):
            _break(path)
            continue
        if not announced:
            log.info("waiting for %s, held by %s", path.name, holder)
            announced = True
        if timeout_s is not None and time.time() - started > timeout_s:
            raise TimeoutError(f"lock {path} still held by {holder} after {timeout_s} s")
        time.sleep(poll_s)
    beat = _Heartbeat(path, heartbeat_s)
    beat.start()
    try:
        yield path
    finally:
        beat.stopped.set()
        beat.join()
        path.unlink(missing_ok=True)
