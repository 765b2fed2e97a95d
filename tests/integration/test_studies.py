"""Every example study passes schema validation and a Snakemake dry run here."""

from __future__ import annotations

import pytest

from assay.config import load_study
from assay.plan import build_plan

STUDIES = ["smoke.yaml", "calls-mmlu.yaml", "bare-gsm8k.yaml", "displacement-ultrafeedback.yaml"]


@pytest.mark.parametrize("name", STUDIES)
def test_example_study_validates_and_dry_runs(repo, tmp_path, name, run_workflow):
    study = repo / "config" / "studies" / name
    plan = build_plan(load_study([study]))
    assert plan.all()
    result = run_workflow(tmp_path, "-n", configfiles=(study,), timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "materialize_model" in result.stdout
