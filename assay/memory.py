"""How much memory a job can still take on this machine, and making room for it.

``available_bytes``: the smaller of what the kernel says is available (``MemAvailable`` of
``/proc/meminfo``) and what the process's control group still allows (its limit less its
usage, page cache it can drop not counted), at every level of the group's path. A
container, a SLURM allocation or ``systemd-run -p MemoryMax=`` shows the whole machine in
``/proc/meminfo``; its limit is only in the control group (v1 or v2).

``make_room``: shared engine servers (:mod:`assay.engine.shared`) hold their models between
jobs, which is what makes them fast. A job that is about to load a model itself, or start
another server, asks the idle ones (no job connected) to end when the memory it may need
(its rule's ``mem_mb``) is not available; on a machine with room they stay.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)

#: How long a job waits for the servers it asked to end to go (they end within a second).
RELEASE_WAIT_S = 30.0


def _meminfo_available(meminfo: Path) -> int | None:
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return None if text in ("", "max") else int(text)


def _droppable(stat: Path, names: tuple[str, ...]) -> int:
    """Page cache the kernel can reclaim before it would refuse the group memory."""
    try:
        fields = dict(line.split() for line in stat.read_text().splitlines() if line.count(" ") == 1)
    except (OSError, ValueError):
        return 0
    return next((int(fields[name]) for name in names if name in fields), 0)


def _cgroup_room(proc_cgroup: Path, cgroup_root: Path) -> int | None:
    """The least room (limit less usage) over the levels of this process's memory control
    group that have a limit; None when none has one or nothing can be read."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    levels: list[tuple[Path, str, str, tuple[str, ...]]] = []
    for line in lines:
        hierarchy, controllers, path = line.split(":", 2)
        relative = path.lstrip("/")
        if hierarchy == "0" and controllers == "":  # v2: one tree, memory.max / memory.current
            base = cgroup_root / "unified" if (cgroup_root / "unified").is_dir() else cgroup_root
            if (base / "memory.max").exists() or (base / relative / "memory.max").exists():
                levels += [
                    (base / p, "memory.max", "memory.current", ("inactive_file",))
                    for p in _ancestors(relative)
                ]
        elif "memory" in controllers.split(","):  # v1: the memory controller's own tree
            base = cgroup_root / "memory"
            names = ("total_inactive_file", "inactive_file")
            levels += [
                (base / p, "memory.limit_in_bytes", "memory.usage_in_bytes", names)
                for p in _ancestors(relative)
            ]
    rooms = []
    for folder, limit_file, usage_file, droppable in levels:
        limit, usage = _read_int(folder / limit_file), _read_int(folder / usage_file)
        if limit is None or usage is None or limit >= 2**60:  # v1 writes "no limit" as ~2^63
            continue
        rooms.append(max(0, limit - usage + _droppable(folder / "memory.stat", droppable)))
    return min(rooms) if rooms else None


def _ancestors(relative: str) -> list[str]:
    parts = [p for p in relative.split("/") if p]
    return ["/".join(parts[:i]) for i in range(len(parts), -1, -1)]


def available_bytes(
    meminfo: Path = Path("/proc/meminfo"),
    proc_cgroup: Path = Path("/proc/self/cgroup"),
    cgroup_root: Path = Path("/sys/fs/cgroup"),
) -> int | None:
    """Bytes this process can still take (see the module doc); None where it cannot tell
    (not Linux)."""
    found = [
        v for v in (_meminfo_available(meminfo), _cgroup_room(proc_cgroup, cgroup_root)) if v is not None
    ]
    return min(found) if found else None


def make_room(need_mb: int | None, keep: str | None = None) -> list[str]:
    """Ask idle shared engine servers (all but ``keep``) to end when less than ``need_mb``
    is available, and wait for them to go. Returns the idents of those asked."""
    from assay.engine.shared import stop_idle_servers
    from assay.locks import pid_alive

    available = available_bytes()
    if not need_mb or available is None or available >= need_mb * 2**20:
        return []
    ended = stop_idle_servers(keep)
    if not ended:
        return []
    deadline = time.monotonic() + RELEASE_WAIT_S
    while any(pid_alive(pid) for pid in ended.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    now = available_bytes() or 0
    log.info(
        "%.1f GB of memory available, this job may need %.1f GB (its mem_mb): asked %d idle "
        "engine server(s) to end; %.1f GB available now",
        available / 2**30,
        need_mb / 1024,
        len(ended),
        now / 2**30,
    )
    return list(ended)
