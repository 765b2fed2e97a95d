"""The rule ``train_finetuned``: ``checkpoint/`` (LoRA merged) and ``train_log.parquet``."""

from __future__ import annotations

from assay.finetune.spec import FinetunedSpec
from assay.jobs import Job


def train_finetuned(job: Job) -> None:
    from assay.finetune.finetuned import finetune

    spec = FinetunedSpec.from_dict(job.spec)
    items = job.table("synthetic_items")
    with job.training() as staging:
        staging.record(**finetune(job.checkpoint("model"), items, spec, staging.dir))
