"""A tiny study through Snakemake on a GPU machine: the smoke study as a GPU study
(``conda_env: gpu``: bf16 dtypes, GPU resources and leases) on the transformers engine.
Skipped where no GPU is present; part of ``python -m pytest tests/gpu``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

REPO = Path(__file__).resolve().parents[2]


def test_the_smoke_study_runs_as_a_gpu_study_with_leases(tmp_path):
    study = yaml.safe_load((REPO / "config" / "studies" / "smoke.yaml").read_text())
    study.update(study="gpu-smoke", conda_env="gpu")
    study["engine"] = {"backend": "hf", "dtype": "auto"}
    study["compound"]["selector"]["enabled"] = False
    study["preference"]["enabled"] = False
    study["synthetic"]["enabled"] = False
    config = tmp_path / "gpu-smoke.yaml"
    config.write_text(yaml.safe_dump(study))
    command = [str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(REPO / "Snakefile")]
    command += [
        "--directory",
        str(tmp_path),
        "--cores",
        "4",
        "--resources",
        "gpu=1",
        "--configfile",
        str(config),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1200, env={**os.environ})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    manifests = [json.loads(p.read_text()) for p in (tmp_path / "artifacts").glob("*/*/manifest.json")]
    evaluations = [m for m in manifests if m["stage"] == "evaluate"]
    assert evaluations and all(m["spec"]["engine"]["dtype"] == "bfloat16" for m in evaluations)
    assert all(m["engine"] == "hf" for m in evaluations)
