"""The rule ``evaluate``: ``results.parquet`` and ``accuracy.json`` (columns in
:mod:`assay.evaluate.evaluation`)."""

from __future__ import annotations

from assay.evaluate.evaluation import evaluate as answer_test_split
from assay.evaluate.evaluation import write_evaluation
from assay.evaluate.spec import EvaluateSpec
from assay.jobs import Job


def evaluate(job: Job) -> None:
    spec = EvaluateSpec.from_dict(job.spec)
    train, test = job.table("train"), job.table("test")
    with job.with_engine("model") as (staging, engine):
        summary = write_evaluation(answer_test_split(engine, train, test, spec), staging.dir)
        staging.record(accuracy=summary["accuracy"], n=summary["n"])
