"""A student fine-tuned on each compared synthetic set, and that student's evaluation."""

from __future__ import annotations

from assay.evaluate.planning import evaluation_node
from assay.finetune.spec import FinetunedSpec
from assay.nodes import Artifact, Study
from assay.synthetic.planning import instruct_model, methods


def plan(study: Study) -> None:
    cfg = study.config["synthetic"]
    ft = cfg["finetune"]
    if not cfg["enabled"] or not ft["enabled"]:
        return
    if ft["student"]:
        student = study.model_or_first(ft["student"], "synthetic.finetune.student", "instruct")
    else:
        student = instruct_model(study)
    spec = FinetunedSpec.from_sections(ft, save_dtype=student.spec.dtype)
    study.nodes.setdefault("finetuned", {})
    for method in methods(study):
        items = study.nodes["synthetic"][method]
        trained = study.add(
            Artifact("finetuned", f"{student.name}+sft-{method}", spec, {"model": student, "items": items})
        )
        study.add(evaluation_node(study, trained, student.spec.kind))
