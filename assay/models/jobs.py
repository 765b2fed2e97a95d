"""The rule ``materialize_models``."""

from __future__ import annotations

from assay.jobs import Job
from assay.models.checkpoints import materialize
from assay.models.spec import ModelSpec


def materialize_models(job: Job) -> None:
    spec = ModelSpec.from_dict(job.spec)
    with job.publish() as staging:
        staging.record(**materialize(spec.source, spec.dtype, spec.revision, staging.dir))
