"""Every example study passes schema validation and a Snakemake dry run here."""

from __future__ import annotations

import pytest

from assay.config import load_study
from assay.plan import build_plan
from assay.workflow import resources

STUDIES = [
    "smoke.yaml",
    "calls-mmlu.yaml",
    "bare-gsm8k.yaml",
    "displacement-ultrafeedback.yaml",
    "cluster-llama.yaml",
]


@pytest.mark.parametrize("name", STUDIES)
def test_example_study_validates_and_dry_runs(repo, tmp_path, name, run_workflow):
    study = repo / "config" / "studies" / name
    plan = build_plan(load_study([study]))
    assert plan.all()
    result = run_workflow(tmp_path, "-n", configfiles=(study,), timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "materialize_models" in result.stdout


def test_cluster_study_dry_runs_with_the_slurm_profile_and_asks_for_gpus(repo, tmp_path, run_workflow):
    study = repo / "config" / "studies" / "cluster-llama.yaml"
    plan = build_plan(load_study([study]))
    evaluation = plan.evaluations["llama-3.1-70b-instruct"]
    assert resources(evaluation, gpu_study=True, tensor_parallel=4)["gpu"] == 4
    assert resources(plan.task, gpu_study=True, tensor_parallel=4)["gpu"] == 0
    big = resources(evaluation, True, 4)["mem_mb"]
    assert big > resources(plan.evaluations["llama-3.1-8b-instruct"], True, 4)["mem_mb"]
    result = run_workflow(tmp_path, "-n", configfiles=(study,), profile="profiles/slurm", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "gpu=4" in result.stdout and "materialize_models" in result.stdout


def test_a_typo_in_a_study_is_one_error_line(tmp_path, run_workflow):
    study = tmp_path / "typo.yaml"
    study.write_text("study: typo\nevalute:\n  limit: 3\n")
    result = run_workflow(tmp_path, "-n", configfiles=(study,), timeout=300)
    assert result.returncode != 0
    output = (result.stdout + result.stderr).splitlines()
    assert [line for line in output if "error" in line.lower()] == [
        "error in the study: evalute: unknown field; did you mean evaluate?"
    ]
    assert len(output) <= 4, output  # not the schema
