"""Shared engines through Snakemake with vLLM: a study whose engine jobs all load one model
starts one engine, its greedy outputs equal those of a run with an engine per job (same
keys), and no server outlives the run."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from assay.artifacts import iter_artifacts
from assay.engine import EngineSpec, SamplingSpec, load_engine, open_engine
from assay.engine.shared import servers

pytestmark = pytest.mark.integration

STUDY = {
    "study": "shared",
    "engine": {"backend": "vllm", "dtype": "float32"},
    "models": [{"name": "smollm2-135m-instruct", "dtype": "float32"}],
    "task": {"train_size": 40, "dev_size": 2, "test_size": 10},
    "evaluate": {"limit": 6, "max_tokens": 24},
    "compound": {
        "models": ["smollm2-135m-instruct"],
        "k_max": 3,
        "limit": 3,
        "max_tokens": 24,
        "fit_samples": 2,
        "judge": {"model": "smollm2-135m-instruct", "max_tokens": 12},
        "check": {"queries": 2, "max_k": 3},
        "selector": {"enabled": False},
    },
    "synthetic": {"enabled": False},
    "preference": {"enabled": False},
}
ENGINE_STAGES = ("evaluate", "samples", "verdicts", "assembled")


def _servers_of(folder: Path) -> list[int]:
    listing = subprocess.run(["pgrep", "-f", f"assay.engine.shared {folder}"], capture_output=True, text=True)
    return [int(pid) for pid in listing.stdout.split()]


def _run(tmp_path: Path, name: str, smoke_run: Path, run_workflow, share: bool, monkeypatch) -> Path:
    workdir = tmp_path / name
    store = workdir / "artifacts"
    for folder in iter_artifacts(smoke_run / "artifacts"):  # the smoke run's SmolLM2 checkpoint
        if folder.parent.name == "models" and "gemma" not in (folder / "manifest.json").read_text():
            shutil.copytree(folder, store / "models" / folder.name, symlinks=True)
    study = workdir / "study.yaml"
    study.write_text(yaml.safe_dump({**STUDY, "engine": {**STUDY["engine"], "share": share}}))
    monkeypatch.setenv("ASSAY_ENGINE_DIR", str(tmp_path / f"engines-{name}"))
    result = run_workflow(workdir, configfiles=(study,))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return store


def _manifests(store: Path) -> dict[str, dict]:
    found = {}
    for folder in iter_artifacts(store):
        manifest = json.loads((folder / "manifest.json").read_text())
        found[f"{manifest['stage']}/{manifest['key']}"] = manifest
    return found


def test_a_run_starts_one_engine_per_model_with_a_per_job_engines_outputs(
    tmp_path, smoke_run, run_workflow, monkeypatch
):
    shared = _manifests(_run(tmp_path, "shared", smoke_run, run_workflow, True, monkeypatch))
    folder = tmp_path / "engines-shared"
    assert _wait(lambda: not _servers_of(folder)), "a server outlived its run"
    own = _manifests(_run(tmp_path, "own", smoke_run, run_workflow, False, monkeypatch))
    assert set(shared) == set(own)  # sharing is not in any key
    jobs = [m for m in shared.values() if m["stage"] in ENGINE_STAGES]
    assert len(jobs) >= 4
    assert sum(m["engines_started"] for m in jobs) == 1  # one SmolLM2 engine for every job
    assert all(m["engines_shared"] >= 1 for m in jobs)
    assert sum(m["engines_started"] for m in own.values() if m["stage"] in ENGINE_STAGES) > len(jobs)
    # greedy outputs (evaluation) equal those of per-job engines, and so do sampled ones
    # (the generator is reseeded at every call in both)
    for stage, table, column in (("evaluate", "results", "output"), ("samples", "samples", "text")):
        (key,) = [key for key in shared if key.startswith(f"{stage}/")]
        tables = [
            pd.read_parquet(tmp_path / run / "artifacts" / key / f"{table}.parquet")
            for run in ("shared", "own")
        ]
        assert tables[0][column].tolist() == tables[1][column].tolist(), stage


def test_shared_vllm_engine_gives_a_per_job_engines_outputs(smoke_run, tmp_path, monkeypatch):
    index = json.loads((smoke_run / "results" / "smoke" / "index.json").read_text())
    checkpoint = smoke_run / index["stages"]["models"]["smollm2-135m-instruct"]["path"] / "checkpoint"
    monkeypatch.setenv("ASSAY_ENGINE_DIR", str(tmp_path / "engines"))
    spec = EngineSpec(backend="vllm", dtype="float32", share=True)
    prompts = [[{"role": "user", "content": f"What is {i} + {2 * i}?"}] for i in range(5)]
    prompts.append("Question: What is 2 + 2?\nAnswer:")
    greedy, sampled = SamplingSpec(max_tokens=24), SamplingSpec(n=3, temperature=1.0, max_tokens=16)
    with open_engine(checkpoint, spec) as engine:
        assert engine.shared
        outputs = [engine.generate(prompts, greedy), engine.generate(prompts, sampled)]
    with load_engine(checkpoint, spec) as engine:
        assert outputs == [engine.generate(prompts, greedy), engine.generate(prompts, sampled)]
    servers(stop=True)
    assert _wait(lambda: not _servers_of(tmp_path / "engines"))


def test_a_trained_checkpoint_through_its_base_models_vllm_engine(smoke_run, tmp_path, monkeypatch):
    """vLLM's in-place weight load: the smoke run's DPO-trained SmolLM2 served by the
    shared engine of SmolLM2 gives the outputs of an engine started on the trained
    checkpoint, and SmolLM2's own outputs come back after it."""
    from assay.jobs import trained_from

    index = json.loads((smoke_run / "results" / "smoke" / "index.json").read_text())
    base = smoke_run / index["stages"]["models"]["smollm2-135m-instruct"]["path"] / "checkpoint"
    (trained,) = [f for f in iter_artifacts(smoke_run / "artifacts") if f.parent.name == "policies"][:1]
    assert trained_from(trained) == base
    monkeypatch.setenv("ASSAY_ENGINE_DIR", str(tmp_path / "engines"))
    spec = EngineSpec(backend="vllm", dtype="float32", share=True)
    prompts = [[{"role": "user", "content": f"What is {i} + {2 * i}? Think step by step."}] for i in range(6)]
    # with log-probs: two short DPO steps may leave the greedy texts as they were
    greedy = SamplingSpec(max_tokens=32, logprobs=True)
    sampled = SamplingSpec(n=3, temperature=1.0, max_tokens=16)
    with open_engine(base, spec) as engine:
        before = engine.generate(prompts, greedy)
    with open_engine(trained / "checkpoint", spec, base=base) as engine:
        assert engine.shared and not engine.started
        served = [engine.generate(prompts, greedy), engine.generate(prompts, sampled)]
    with open_engine(base, spec) as engine:
        assert engine.generate(prompts, greedy) == before
    servers(stop=True)
    assert _wait(lambda: not _servers_of(tmp_path / "engines"))
    with load_engine(trained / "checkpoint", spec) as engine:
        assert served == [engine.generate(prompts, greedy), engine.generate(prompts, sampled)]
    assert served[0] != before  # the trained weights were really in use


def _wait(condition, seconds: float = 20.0) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False
