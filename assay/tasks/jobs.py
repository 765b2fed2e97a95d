"""The rule ``prepare_tasks``: the task's splits as ``{split}.parquet``."""

from __future__ import annotations

from assay.jobs import Job
from assay.tasks import prepare, write_splits
from assay.tasks.spec import TaskSpec


def prepare_tasks(job: Job) -> None:
    spec = TaskSpec.from_dict(job.spec)
    with job.publish() as staging:
        staging.record(rows=write_splits(prepare(spec.to_dict()), staging.dir))
