"""assay/memory.py: the memory a job can still take (the kernel's answer and its control
group's limit), and idle engine servers ending when a job needs their memory."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from assay import memory
from assay.engine import EngineSpec, SamplingSpec, open_engine

SPEC = EngineSpec(backend="hf", dtype="float32", share=True)
GB = 2**30


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _meminfo(tmp_path: Path, available_gb: float) -> Path:
    path = tmp_path / "meminfo"
    _write(path, f"MemTotal:       25000000 kB\nMemAvailable:   {int(available_gb * 1024**2)} kB\n")
    return path


def test_without_a_control_group_limit_the_kernels_answer_counts(tmp_path):
    proc_cgroup = tmp_path / "cgroup"
    _write(proc_cgroup, "4:memory:/jobs/a\n0::/\n")
    root = tmp_path / "sys"
    _write(root / "memory/jobs/a/memory.limit_in_bytes", str(2**63 - 4096))  # v1: no limit
    _write(root / "memory/jobs/a/memory.usage_in_bytes", str(3 * GB))
    got = memory.available_bytes(_meminfo(tmp_path, 20), proc_cgroup, root)
    assert got == 20 * GB


def test_a_v1_limit_on_a_parent_group_bounds_what_is_available(tmp_path):
    proc_cgroup = tmp_path / "cgroup"
    _write(proc_cgroup, "9:cpu:/\n4:memory:/jobs/a\n")
    root = tmp_path / "sys"
    _write(root / "memory/jobs/a/memory.limit_in_bytes", str(2**63 - 4096))
    _write(root / "memory/jobs/a/memory.usage_in_bytes", str(1 * GB))
    _write(root / "memory/jobs/memory.limit_in_bytes", str(8 * GB))  # the limit is one level up
    _write(root / "memory/jobs/memory.usage_in_bytes", str(6 * GB))
    _write(root / "memory/jobs/memory.stat", f"cache {GB}\ntotal_inactive_file {GB // 2}\n")
    got = memory.available_bytes(_meminfo(tmp_path, 20), proc_cgroup, root)
    assert got == 2 * GB + GB // 2  # limit - usage + page cache it can drop


def test_a_v2_limit_bounds_what_is_available(tmp_path):
    proc_cgroup = tmp_path / "cgroup"
    _write(proc_cgroup, "0::/user.slice/run-1.scope\n")
    root = tmp_path / "sys"
    _write(root / "user.slice/run-1.scope/memory.max", str(8 * GB))
    _write(root / "user.slice/run-1.scope/memory.current", str(7 * GB))
    _write(root / "user.slice/run-1.scope/memory.stat", "anon 100\ninactive_file 0\n")
    _write(root / "user.slice/memory.max", "max")
    _write(root / "user.slice/memory.current", str(9 * GB))
    assert memory.available_bytes(_meminfo(tmp_path, 20), proc_cgroup, root) == 1 * GB


def test_where_nothing_can_be_read_it_says_so(tmp_path):
    assert memory.available_bytes(tmp_path / "no-meminfo", tmp_path / "no-cgroup", tmp_path) is None


# ------------------------------------------------- idle servers end when a job needs room


def _serve(checkpoint: Path, spec: EngineSpec = SPEC) -> None:
    with open_engine(checkpoint, spec) as engine:
        engine.generate(["the answer is"], SamplingSpec(max_tokens=2))


def test_idle_servers_stay_while_memory_suffices(engines, tiny_checkpoint, monkeypatch, server_pids):
    _serve(tiny_checkpoint)
    monkeypatch.setattr(memory, "available_bytes", lambda: 20 * GB)
    assert memory.make_room(8000) == []
    assert memory.make_room(None) == []
    assert len(server_pids(engines)) == 1


def test_idle_servers_end_when_a_job_needs_their_memory(
    engines, tiny_checkpoint, monkeypatch, caplog, server_pids
):
    _serve(tiny_checkpoint)
    _serve(tiny_checkpoint, EngineSpec(backend="hf", dtype="bfloat16", share=True))
    assert len(server_pids(engines)) == 2
    monkeypatch.setattr(memory, "available_bytes", lambda: 2 * GB)
    with caplog.at_level(logging.INFO):
        asked = memory.make_room(8000)
    assert len(asked) == 2 and server_pids(engines) == []  # make_room waited for them to go
    assert "asked 2 idle engine server(s) to end" in caplog.text
    assert not list(engines.glob("*.sock"))


def test_a_server_in_use_and_the_one_kept_do_not_end(engines, tiny_checkpoint, monkeypatch, server_pids):
    from assay.engine.shared import share_id

    _serve(tiny_checkpoint)
    kept = share_id(tiny_checkpoint, SPEC, "hf")
    monkeypatch.setattr(memory, "available_bytes", lambda: 1 * GB)
    assert memory.make_room(8000, keep=kept) == []
    other = EngineSpec(backend="hf", dtype="bfloat16", share=True)
    with open_engine(tiny_checkpoint, other) as engine:  # a job connected to it: not idle
        assert memory.make_room(8000, keep=kept) == []
        engine.generate(["the answer is"], SamplingSpec(max_tokens=2))
    assert len(server_pids(engines)) == 2


def test_a_job_starting_a_server_first_ends_idle_ones_when_short(
    engines, tiny_checkpoint, monkeypatch, server_pids
):
    _serve(tiny_checkpoint)
    first = set(server_pids(engines))
    monkeypatch.setattr(memory, "available_bytes", lambda: 1 * GB)
    other = EngineSpec(backend="hf", dtype="bfloat16", share=True)
    with open_engine(tiny_checkpoint, other, need_mb=6000) as engine:
        assert engine.shared and engine.started
    deadline = time.time() + 10
    while set(server_pids(engines)) & first and time.time() < deadline:
        time.sleep(0.2)
    assert not set(server_pids(engines)) & first and len(server_pids(engines)) == 1


def test_training_jobs_make_room_with_their_rules_memory(monkeypatch):
    import contextlib

    from assay.jobs import Job

    asked: list[int | None] = []
    monkeypatch.setattr(memory, "make_room", lambda need_mb, keep=None: asked.append(need_mb) or [])
    monkeypatch.setattr(Job, "publish", lambda self: contextlib.nullcontext("staging"))
    with Job(ref=None, inputs={}, outputs={}, memory_mb=10160).training() as staging:
        assert staging == "staging"
    assert asked == [10160]
