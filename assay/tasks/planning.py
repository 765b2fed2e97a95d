"""The study's one task: a ``tasks`` node."""

from __future__ import annotations

from assay.nodes import Artifact, Study
from assay.tasks.spec import TaskSpec


def plan(study: Study) -> None:
    spec = TaskSpec.from_dict(dict(study.config["task"]))
    study.add(Artifact("tasks", spec.name, spec))
