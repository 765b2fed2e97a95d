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


def test_trained_checkpoints_are_served_by_their_base_models_engine(tmp_path, monkeypatch):
    """A trained artifact whose base model is in the store names it as ``base`` (its
    engine then serves the trained weights); in a pool of engines, or without its base in
    the store, it gets an engine of its own."""
    import json

    from assay.jobs import Job

    calls = []
    monkeypatch.setattr("assay.engine.open_engine", lambda *args: calls.append(args))
    monkeypatch.setattr("assay.engine.open_pool", lambda *args: calls.append(args))
    for stage, key, upstream in (
        ("models", "k1", {}),
        ("policies", "k2", {"model": "k1"}),
        ("policies", "k3", {"model": "gone"}),
    ):
        (tmp_path / stage / key).mkdir(parents=True)
        (tmp_path / stage / key / "manifest.json").write_text(json.dumps({"upstream": upstream}))
    job = Job(ref=None, inputs={}, outputs={})
    spec = EngineSpec()
    job.open_engine(tmp_path / "models" / "k1" / "manifest.json", spec)
    job.open_engine(tmp_path / "policies" / "k2" / "manifest.json", spec)
    job.open_engine(tmp_path / "policies" / "k3" / "manifest.json", spec)
    job.open_pool(
        [str(tmp_path / "models" / "k1" / "manifest.json"), str(tmp_path / "policies" / "k2" / "x")], spec
    )
    base = tmp_path / "models" / "k1" / "checkpoint"
    assert [(c[2], c[3], c[5]) for c in calls[:3]] == [(True, 1, None), (True, 1, base), (False, 1, None)]
    assert calls[3][0] == [(base, True), (tmp_path / "policies" / "k2" / "checkpoint", False)]


def test_a_pools_servers_start_together_and_a_failed_one_falls_back(engines, monkeypatch, tmp_path):
    """open_pool waits for the servers of its shared members at once (each connect() must
    be running while the other is: a barrier both reach), and a member whose server cannot
    be had, or that is not shared, gets an engine of its own."""
    import threading

    from assay.engine import open_pool

    both = threading.Barrier(2, timeout=10)

    def connect(checkpoint, spec, backend, need_mb=None, weights=None):
        both.wait()  # raises BrokenBarrierError unless the other member is connecting too
        return None if checkpoint.name == "b" else f"server {checkpoint.name}"

    own = []
    monkeypatch.setattr(shared_module, "connect", connect)
    monkeypatch.setattr(
        "assay.engine.open_engine",
        lambda checkpoint, spec, shared, *rest: own.append((checkpoint, shared)) or f"own {checkpoint}",
    )
    engines_ = open_pool([(tmp_path / "a", True), (tmp_path / "b", True), ("c", False)], SPEC)
    assert engines_ == ["server a", f"own {tmp_path / 'b'}", "own c"]
    assert own == [(tmp_path / "b", False), ("c", False)]  # no second try at b's server


def test_a_pool_of_real_servers_gives_per_job_engines_outputs(
    engines, tiny_checkpoint, tmp_path, server_pids
):
    import shutil

    from assay.engine import open_pool

    other = shutil.copytree(tiny_checkpoint, tmp_path / "other")  # another checkpoint: another server
    greedy = SamplingSpec(max_tokens=6)
    pool = open_pool([(tiny_checkpoint, True), (other, True)], SPEC)
    try:
        assert all(engine.shared and engine.started for engine in pool)
        assert len(server_pids(engines)) == 2
        local = load_engine(tiny_checkpoint, SPEC)
        for engine in pool:
            assert engine.generate(PROMPTS, greedy) == local.generate(PROMPTS, greedy)
    finally:
        for engine in pool:
            engine.close()


@pytest.fixture
def variant(tiny_checkpoint, tmp_path):
    """The tiny model as training leaves it: other weights (perturbed), saved with
    ``use_cache`` off, beside the base's tokenizer files."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    folder = tmp_path / "variant"
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint)
    torch.manual_seed(3)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    model.config.use_cache = False
    model.save_pretrained(folder)
    for path in tiny_checkpoint.iterdir():
        if path.name not in ("config.json", "generation_config.json") and path.suffix != ".safetensors":
            shutil.copy(path, folder / path.name)
    return folder


def test_a_variant_is_the_same_model_but_another_template_is_not(tiny_checkpoint, variant, tmp_path):
    import json
    import shutil

    from assay.engine.variants import same_model

    assert same_model(tiny_checkpoint, variant) is None  # weights, use_cache: set aside
    other = tmp_path / "other-template"
    shutil.copytree(variant, other)
    config = json.loads((other / "tokenizer_config.json").read_text())
    (other / "tokenizer_config.json").write_text(json.dumps({**config, "eos_token": "<pad>"}))
    assert "tokenizer_config.json" in same_model(tiny_checkpoint, other)
    (other / "config.json").write_text(
        (other / "config.json").read_text().replace('"num_hidden_layers": 2', '"num_hidden_layers": 3')
    )
    assert "config.json" in same_model(tiny_checkpoint, other)


def test_a_trained_variant_is_served_by_its_base_models_engine(
    engines, tiny_checkpoint, variant, server_pids
):
    """The variant's outputs through the base's server equal those of an engine started on
    the variant, and the base's outputs come back after it: one engine start in all."""
    greedy, sampled = SamplingSpec(max_tokens=8), SamplingSpec(n=3, temperature=1.0, max_tokens=8)
    own_engine, base_engine = load_engine(variant, SPEC), load_engine(tiny_checkpoint, SPEC)
    own = [own_engine.generate(PROMPTS, greedy), own_engine.generate(PROMPTS, sampled)]
    base = base_engine.generate(PROMPTS, greedy)
    assert own[0] != base  # the variant really computes other outputs
    with open_engine(tiny_checkpoint, SPEC) as engine:
        assert engine.generate(PROMPTS, greedy) == base
    with open_engine(variant, SPEC, base=tiny_checkpoint) as engine:
        assert engine.shared and not engine.started
        assert [engine.generate(PROMPTS, greedy), engine.generate(PROMPTS, sampled)] == own
        scores = engine.token_logprobs(PROMPTS[:2], [" ", " "], ["42", "7"])
        assert scores == own_engine.token_logprobs(PROMPTS[:2], [" ", " "], ["42", "7"])
    with open_engine(tiny_checkpoint, SPEC) as engine:
        assert engine.generate(PROMPTS, greedy) == base  # the base's own weights again
    assert len(server_pids(engines)) == 1


def test_a_variant_the_server_refuses_gets_a_per_job_engine(
    engines, tiny_checkpoint, variant, tmp_path, caplog
):
    """A server asked for weights of another model (here a checkpoint with another
    end-of-sequence token) says so, and the job redoes the call on an engine of its own."""
    import json
    import shutil

    other = tmp_path / "other"
    shutil.copytree(variant, other)
    config = json.loads((other / "tokenizer_config.json").read_text())
    (other / "tokenizer_config.json").write_text(json.dumps({**config, "eos_token": "<pad>"}))
    greedy = SamplingSpec(max_tokens=8)
    expected = load_engine(other, SPEC).generate(PROMPTS, greedy)
    with caplog.at_level(logging.INFO):
        engine = shared_module.connect(tiny_checkpoint, SPEC, "hf", weights=other)
        with engine:
            assert engine.generate(PROMPTS, greedy) == expected
            assert engine.local is not None  # redone on a per-job engine
    assert "cannot serve" in caplog.text and "tokenizer_config.json" in caplog.text


class _Sent:
    def __init__(self) -> None:
        self.messages: list = []

    def send(self, message) -> None:
        self.messages.append(message)


class _FailingLoads:
    name, loads_weights = "fake", True

    def load_weights(self, checkpoint) -> None:
        raise EngineError("half of the tensors were read")


def test_a_server_whose_load_failed_serves_nothing_more_and_ends(engines, tiny_checkpoint, variant):
    import json

    from assay.engine.shared import EngineServer, _Paths

    paths = _Paths(engine_dir(), "broken")
    paths.request.write_text(json.dumps({"checkpoint": str(tiny_checkpoint)}))
    server = EngineServer(_FailingLoads(), paths, idle_s=600.0)
    server.owners = {(socket.gethostname(), os.getpid())}  # a live run: only the failure ends it
    conn = _Sent()
    assert server._load(conn, str(variant)) is False
    assert server._load(conn, None) is False  # not even the base's own weights: it may hold a mix
    assert [m[0] for m in conn.messages] == ["unsupported", "unsupported"]
    assert "half of the tensors" in server._reason_to_end()


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
