"""Shared engine servers (assay/engine/shared.py) on the tiny transformers model: the same
outputs as a per-job engine, one start for many jobs, a bounded lifetime, fallbacks."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from assay.engine import EngineSpec, SamplingSpec, load_engine, open_engine
from assay.engine import shared as shared_module
from assay.engine.shared import engine_dir, share_id, sharing_enabled
from assay.errors import ConfigError, EngineError

SPEC = EngineSpec(backend="hf", dtype="float32", share=True)
PROMPTS = ["the answer is", "question : what is 1 + 2 ?", [{"role": "user", "content": "what is 1 + 2"}]]


def _wait_until(condition, seconds: float = 20.0) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_shared_engine_gives_a_per_job_engines_outputs(engines, tiny_checkpoint):
    greedy = SamplingSpec(max_tokens=8)
    sampled = SamplingSpec(n=3, temperature=1.0, max_tokens=8)
    local = load_engine(tiny_checkpoint, SPEC)
    with open_engine(tiny_checkpoint, SPEC) as engine:
        assert engine.shared and engine.started
        assert engine.generate(PROMPTS, greedy) == local.generate(PROMPTS, greedy)
        assert engine.generate(PROMPTS, sampled) == local.generate(PROMPTS, sampled)
        scores = engine.token_logprobs(PROMPTS[:2], [" ", " "], ["42", "7"])
        assert scores == local.token_logprobs(PROMPTS[:2], [" ", " "], ["42", "7"])


def test_later_jobs_use_the_running_server(engines, tiny_checkpoint, server_pids):
    with open_engine(tiny_checkpoint, SPEC) as first:
        first.generate(PROMPTS[:1], SamplingSpec(max_tokens=4))
    with open_engine(tiny_checkpoint, SPEC) as second:
        assert second.shared and not second.started
        assert second.start_seconds < first.start_seconds
    assert len(server_pids(engines)) == 1
    other = EngineSpec(backend="hf", dtype="bfloat16", share=True)  # other settings: another server
    with open_engine(tiny_checkpoint, other) as third:
        assert third.started
    assert len(server_pids(engines)) == 2


def test_progress_lines_reach_the_jobs_log(engines, tiny_checkpoint, caplog):
    with caplog.at_level(logging.INFO), open_engine(tiny_checkpoint, SPEC) as engine:
        engine.generate(PROMPTS, SamplingSpec(max_tokens=4))
    assert any("generating for 3 prompts" in r.getMessage() for r in caplog.records)


def test_a_failing_call_names_the_engine_and_the_server_goes_on(engines, tiny_checkpoint):
    with open_engine(tiny_checkpoint, SPEC) as engine:
        with pytest.raises(EngineError, match="shared engine .* failed: ValueError"):
            engine.generate(PROMPTS, SamplingSpec(n=2, max_tokens=4))  # greedy n=2: transformers refuses
        assert len(engine.generate(PROMPTS, SamplingSpec(max_tokens=4))) == 3


def test_server_ends_when_its_run_ends(engines, tiny_checkpoint, monkeypatch, server_pids):
    run = subprocess.Popen(["sleep", "60"])  # stands for the Snakemake process
    monkeypatch.setenv("ASSAY_RUN_PID", str(run.pid))
    monkeypatch.setenv("ASSAY_RUN_HOST", socket.gethostname())
    with open_engine(tiny_checkpoint, SPEC) as engine:
        engine.generate(PROMPTS[:1], SamplingSpec(max_tokens=4))
    time.sleep(2 * shared_module.WATCH_S)
    assert server_pids(engines), "the server ended while its run was alive"
    run.kill()  # as kill -9 of the workflow
    run.wait()
    assert _wait_until(lambda: not server_pids(engines), 10), "the server outlived its run"
    assert not list(engines.glob("*.sock"))


def test_server_ends_after_its_idle_time(engines, tiny_checkpoint, server_pids):
    spec = EngineSpec(backend="hf", dtype="float32", share=True, share_idle_s=1)
    with open_engine(tiny_checkpoint, spec) as engine:
        engine.generate(PROMPTS[:1], SamplingSpec(max_tokens=4))
    assert _wait_until(lambda: not server_pids(engines), 10), "the idle server did not end"


def test_a_server_that_dies_mid_run_is_replaced_by_a_per_job_engine(
    engines, tiny_checkpoint, caplog, server_pids
):
    greedy = SamplingSpec(max_tokens=8)
    expected = load_engine(tiny_checkpoint, SPEC).generate(PROMPTS, greedy)
    with open_engine(tiny_checkpoint, SPEC) as engine:
        engine.generate(PROMPTS[:1], greedy)
        (pid,) = server_pids(engines)
        os.kill(pid, signal.SIGKILL)
        with caplog.at_level(logging.WARNING):
            assert engine.generate(PROMPTS, greedy) == expected
        assert engine.local is not None
    assert any("ended mid-call" in r.getMessage() for r in caplog.records)


def test_a_server_that_does_not_start_falls_back_with_a_log_line(
    engines, tiny_checkpoint, monkeypatch, caplog
):
    monkeypatch.setattr(shared_module, "server_command", lambda folder, ident: ["false"])
    with caplog.at_level(logging.WARNING), open_engine(tiny_checkpoint, SPEC) as engine:
        assert not engine.shared
        assert len(engine.generate(PROMPTS[:1], SamplingSpec(max_tokens=4))) == 1
    assert any("did not start" in r.getMessage() for r in caplog.records)


def test_stale_socket_of_a_killed_server_is_replaced(engines, tiny_checkpoint, server_pids):
    with open_engine(tiny_checkpoint, SPEC) as engine:
        engine.generate(PROMPTS[:1], SamplingSpec(max_tokens=4))
    (pid,) = server_pids(engines)
    os.kill(pid, signal.SIGKILL)
    _wait_until(lambda: not server_pids(engines), 5)
    assert list(engines.glob("*.sock")), "kill -9 leaves its socket behind"
    with open_engine(tiny_checkpoint, SPEC) as engine:
        assert engine.shared and engine.started


def test_sharing_is_off_where_it_cannot_help(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setattr("assay.gpus.machine_gpus", lambda: [])
    assert sharing_enabled(EngineSpec(share="auto")) == (True, "")
    assert not sharing_enabled(EngineSpec(share=False))[0]
    monkeypatch.setattr("assay.gpus.machine_gpus", lambda: ["0"])
    enabled, why = sharing_enabled(EngineSpec(share="auto"))
    assert not enabled and "CPU machines only" in why
    assert sharing_enabled(EngineSpec(share=True))[0]  # asked for on a GPU machine
    monkeypatch.setenv("SLURM_JOB_ID", "12")
    enabled, why = sharing_enabled(EngineSpec(share=True))
    assert not enabled and "SLURM" in why


def test_share_id_tells_checkpoints_and_settings_apart(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    base = share_id(a, EngineSpec(dtype="float32"), "vllm")
    assert base == share_id(a, EngineSpec(dtype="float32", share=True, share_idle_s=5), "vllm")
    assert base != share_id(b, EngineSpec(dtype="float32"), "vllm")
    assert base != share_id(a, EngineSpec(dtype="bfloat16"), "vllm")
    assert base != share_id(a, EngineSpec(dtype="float32"), "hf")
    assert base != share_id(a, EngineSpec(dtype="float32", kv_cache_gb=4), "vllm")
    assert base != share_id(a, EngineSpec(dtype="float32", block_size=64), "vllm")


@pytest.mark.parametrize("field,value", [("share", "sometimes"), ("share_idle_s", 0)])
def test_engine_spec_refuses_bad_sharing_settings(field, value):
    with pytest.raises(ConfigError, match=f"engine.{field}"):
        EngineSpec(**{field: value})


def test_engine_folder_is_private(engines):
    assert engine_dir().stat().st_mode & 0o777 == 0o700


def test_trained_checkpoints_get_an_engine_of_their_own(tmp_path, monkeypatch):
    from assay.jobs import Job

    calls = []
    monkeypatch.setattr("assay.engine.open_engine", lambda *args: calls.append(args))
    job = Job(ref=None, inputs={}, outputs={})
    spec = EngineSpec()
    job.open_engine(tmp_path / "models" / "k1" / "manifest.json", spec)
    job.open_engine(tmp_path / "policies" / "k2" / "manifest.json", spec, 2)
    assert [(c[2], c[3]) for c in calls] == [(True, 1), (False, 2)]


def test_assay_engines_lists_and_stops_servers(engines, tiny_checkpoint, capsys, server_pids):
    from assay.cli import main

    with open_engine(tiny_checkpoint, SPEC) as engine:
        engine.generate(PROMPTS[:1], SamplingSpec(max_tokens=4))
        assert main(["engines"]) == 0
        listing = capsys.readouterr().out
        assert "servers in" in listing and str(tiny_checkpoint) in listing and "running" in listing
        assert main(["engines", "--stop"]) == 0
        time.sleep(2 * shared_module.WATCH_S)
        assert server_pids(engines), "a server asked to stop ended under a connected job"
    assert _wait_until(lambda: not server_pids(engines), 10)
    assert main(["engines"]) == 0
    assert "servers in" in capsys.readouterr().out and not list(engines.glob("*.sock"))


def test_a_job_killed_mid_call_frees_the_server(engines, tiny_checkpoint, server_pids):
    client = (
        "import sys; from pathlib import Path; "
        "from assay.engine import EngineSpec, SamplingSpec, open_engine; "
        "engine = open_engine(Path(sys.argv[1]), EngineSpec(backend='hf', dtype='float32', share=True)); "
        "engine.generate(['the answer is'] * 2000, SamplingSpec(max_tokens=32))"
    )
    job = subprocess.Popen([sys.executable, "-c", client, str(tiny_checkpoint)], env=os.environ.copy())
    assert _wait_until(lambda: any("generating for 2000" in p.read_text() for p in engines.glob("*.log")), 60)
    job.kill()
    job.wait()
    assert _wait_until(lambda: not server_pids(engines), 120), "the server kept generating for a dead job"
    (server_log,) = engines.glob("*.log")
    assert "the caller has gone" in server_log.read_text()
