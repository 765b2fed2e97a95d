"""The smoke study through a real SLURM scheduler (CI starts one: tests/cluster/local-slurm.sh
and sets ASSAY_TEST_PROFILE=profiles/slurm): every rule ran as a SLURM job, and the keys of
what it published equal the keys a local run computes for the same study."""

import json
import os

import pytest

from assay.config import load_study
from assay.plan import build_plan

pytestmark = pytest.mark.skipif(
    os.environ.get("ASSAY_TEST_PROFILE") != "profiles/slurm",
    reason="needs a SLURM scheduler (ASSAY_TEST_PROFILE=profiles/slurm)",
)


def test_every_job_ran_as_a_slurm_job(smoke_run):
    index = json.loads((smoke_run / "results" / "smoke" / "index.json").read_text())
    job_ids = []
    for entries in index["stages"].values():
        for entry in entries.values():
            manifest = json.loads((smoke_run / entry["path"] / "manifest.json").read_text())
            assert manifest.get("slurm_job_id"), f"{entry['path']} was not made by a SLURM job"
            job_ids.append(manifest["slurm_job_id"])
    assert len(set(job_ids)) == len(job_ids)  # one job per artifact
    output = (smoke_run / "snakemake-output.txt").read_text()
    assert "SLURM run ID" in output or "slurm" in output.lower()


def test_keys_equal_a_local_plan_of_the_same_study(smoke_run, smoke_study):
    index = json.loads((smoke_run / "results" / "smoke" / "index.json").read_text())
    local = build_plan(load_study([smoke_study]))
    published = {
        (stage, name): e["key"] for stage, entries in index["stages"].items() for name, e in entries.items()
    }
    planned = {(a.stage, a.name): a.key for a in local.all()}
    assert published == planned
