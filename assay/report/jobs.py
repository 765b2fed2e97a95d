"""The rule ``index_study``: ``results/{study}/`` from the study's finished artifacts (their
manifests are the rule's inputs: a manifest is written last, so every file of an artifact
whose manifest exists is there)."""

from __future__ import annotations

from pathlib import Path

from assay.jobs import Job
from assay.report.tables import write_plan_marker, write_study_index


def index_study(job: Job) -> None:
    index = job.params["index"]
    write_study_index(index, Path(job.outputs["index"]).parent)
    write_plan_marker(index, Path(job.outputs["plan"]))
