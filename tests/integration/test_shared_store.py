"""Two studies started at the same moment on one store: every shared artifact is computed
once (the second study's job waits on the key's lock and reuses the result), and both
studies finish with the same keys."""

from __future__ import annotations

import json
import os
import re
import subprocess

import yaml

from assay.artifacts import iter_artifacts, leftovers


def _study(name: str) -> dict:
    return {
        "study": name,
        "engine": {"backend": "hf", "dtype": "float32"},
        "models": [{"name": "smollm2-135m-instruct", "dtype": "float32"}],
        "task": {"train_size": 6, "dev_size": 1, "test_size": 4},
        "evaluate": {"limit": 4, "max_tokens": 16},
        "compound": {"enabled": False},
        "synthetic": {"enabled": False},
        "preference": {"enabled": False},
    }


def test_two_studies_at_once_compute_each_shared_artifact_once(tmp_path, snakemake_bin, repo):
    store = tmp_path / "store"
    runs = []
    for name in ("first", "second"):
        workdir = tmp_path / name
        workdir.mkdir()
        study = workdir / "study.yaml"
        study.write_text(yaml.safe_dump({**_study(name), "store": str(store)}))
        command = [snakemake_bin, "--snakefile", str(repo / "Snakefile"), "--directory", str(workdir)]
        runs.append(
            subprocess.Popen(
                [*command, "--cores", "1", "--configfile", str(study)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env={**os.environ, "HF_HUB_OFFLINE": "1"},
            )
        )
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    artifacts = list(iter_artifacts(store))
    assert sorted(p.parent.name for p in artifacts) == ["evaluate", "models", "tasks"]  # one of each
    logs = "".join(p.read_text() for p in tmp_path.glob("*/logs/*/*/*.log"))
    # each artifact was made by one job; the other study's job (if it got that far) reused it
    made = [json.loads((p / "manifest.json").read_text())["key"] for p in artifacts]
    assert len(made) == len(set(made)) == 3
    reused = logs.count("published by another job meanwhile; reusing it")
    pattern = r"^(?:local)?rule (?:materialize_models|prepare_tasks|evaluate):"
    jobs = len(re.findall(pattern, "".join(outputs), re.M))
    assert jobs - reused == 3  # every job either made its artifact or reused the other's
    assert reused >= 1  # started together, both studies planned the model: one waited
    indexes = [
        json.loads((tmp_path / n / "results" / n / "index.json").read_text()) for n in ("first", "second")
    ]
    keys = [{s: {k: v["key"] for k, v in e.items()} for s, e in i["stages"].items()} for i in indexes]
    assert keys[0] == keys[1]
    assert leftovers(store) == [] and not any((store / ".locks").iterdir())
