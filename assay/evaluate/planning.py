"""Evaluation nodes: one per study model listed in ``evaluate.models``, and one for any
trained checkpoint another stage asks for (``evaluation_node``)."""

from __future__ import annotations

from assay.errors import ConfigError
from assay.evaluate.spec import EvaluateSpec
from assay.nodes import Artifact, Study
from assay.tasks import answer_format


def evaluation_node(study: Study, model: Artifact, kind: str) -> Artifact:
    """An ``evaluate`` node for any checkpoint (a study model or a trained one)."""
    cfg, task = study.config["evaluate"], study.task
    spec = EvaluateSpec.from_sections(
        cfg, model_kind=kind, answer_format=answer_format(task.spec.name), engine=study.engine_fields()
    )
    return Artifact(
        "evaluate", model.name, spec, {"model": model, "task": task}, settings=study.engine_settings()
    )


def plan(study: Study) -> None:
    cfg = study.config["evaluate"]
    train_size = study.task.spec.train_size
    if train_size is not None and cfg["shots"] > train_size:
        raise ConfigError(
            f"evaluate.shots: {cfg['shots']} few-shot examples need task.train_size >= {cfg['shots']}"
        )
    study.nodes["evaluate"] = {}
    for name in study.models_named(cfg["models"], "evaluate.models"):
        model = study.models[name]
        study.add(evaluation_node(study, model, model.spec.kind))
