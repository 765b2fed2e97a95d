"""kill -9 of the whole workflow during generation and during training: the rerun finishes,
artifacts finished before each kill are byte-identical afterwards, and the staging folders
of the killed jobs are reported and removed by `assay gc`."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import yaml

from assay.artifacts import is_finished, iter_artifacts, leftovers

STUDY = {
    "study": "resume",
    "engine": {"dtype": "float32"},
    "models": [{"name": "smollm2-135m-instruct", "dtype": "float32"}],
    "task": {"train_size": 40, "dev_size": 2, "test_size": 10},
    "evaluate": {"limit": 10, "max_tokens": 48},
    "compound": {"enabled": False},
    "synthetic": {"enabled": False},
    "preference": {
        "source": {"queries": 12, "k": 6, "max_tokens": 32},
        "variants": [{"name": "dpo", "loss": "sigmoid"}],
        "subsets": ["all"],
        "batch_size": 2,
        "max_steps": 8,
        "track_every": 1,
        "evaluate": False,
    },
}


def _digests(store: Path) -> dict[str, str]:
    """sha256 of every file of every finished artifact."""
    out = {}
    for folder in iter_artifacts(store):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            out[str(path.relative_to(store))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _start(snakemake: str, repo: Path, workdir: Path, study: Path) -> subprocess.Popen:
    command = [snakemake, "--snakefile", str(repo / "Snakefile"), "--directory", str(workdir)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [*command, "--cores", "2", "--configfile", str(study)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # its own process group: kill -9 takes every job with it
    )


def _kill_when(process: subprocess.Popen, ready, timeout: float = 600) -> None:
    started = time.time()
    while not ready():
        assert process.poll() is None, "the workflow ended before the kill point"
        assert time.time() - started < timeout, "kill point not reached"
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _log_says(workdir: Path, stage: str, text: str):
    def ready() -> bool:
        return any(
            text in p.read_text(errors="replace") for p in (workdir / "logs" / "resume" / stage).glob("*.log")
        )

    return ready


def test_kill_9_during_generation_and_training_then_resume(
    tmp_path, smoke_run, run_workflow, snakemake_bin, repo
):
    workdir, store = tmp_path, tmp_path / "artifacts"
    study = tmp_path / "resume.yaml"
    study.write_text(yaml.safe_dump(STUDY))
    # The model and task artifacts have the smoke run's keys: share them (a store is shareable).
    for folder in iter_artifacts(smoke_run / "artifacts"):
        if (
            folder.parent.name in ("models", "tasks")
            and "gemma" not in (folder / "manifest.json").read_text()
        ):
            shutil.copytree(folder, store / folder.parent.name / folder.name, symlinks=True)

    # 1. kill -9 while the policy samples its train queries (vLLM generating)
    _kill_when(_start(snakemake_bin, repo, workdir, study), _log_says(workdir, "samples", "generating"))
    before = _digests(store)
    assert not any(k.startswith("samples/") for k in before)  # nothing half-written looks finished
    assert run_workflow(workdir, "--unlock", configfiles=(study,)).returncode == 0

    # 2. rerun; kill -9 during DPO training
    _kill_when(_start(snakemake_bin, repo, workdir, study), _log_says(workdir, "policies", "it/s"))
    middle = _digests(store)
    assert {k: middle[k] for k in before} == before  # finished artifacts untouched by the kill
    assert any(k.startswith("samples/") for k in middle) and not any(
        k.startswith("policies/") for k in middle
    )
    killed = leftovers(store)
    assert killed, "the killed jobs' staging folders should be reported"
    assert run_workflow(workdir, "--unlock", configfiles=(study,)).returncode == 0

    # 3. the rerun finishes; nothing finished before is rewritten
    result = run_workflow(workdir, configfiles=(study,))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    after = _digests(store)
    assert {k: after[k] for k in middle} == middle
    assert all(is_finished(p) for p in iter_artifacts(store))
    assert any(k.startswith("policies/") for k in after)

    # 4. assay gc reports, then removes, the leftovers of the killed jobs
    gc = [str(Path(snakemake_bin).parent / "assay"), "--store", str(store), "gc", "--keep", str(study)]
    listed = subprocess.run(gc, capture_output=True, text=True, cwd=repo)
    assert listed.returncode == 0 and all(p.name in listed.stdout for p in killed)
    subprocess.run([*gc, "--yes"], capture_output=True, text=True, cwd=repo, check=True)
    assert leftovers(store) == [] and _digests(store) == after
