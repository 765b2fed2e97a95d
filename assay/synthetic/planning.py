"""The synthetic stages' nodes: a set per method (BARE refines the base few-shot drafts)
and its scores."""

from __future__ import annotations

from assay.errors import ConfigError
from assay.nodes import Artifact, Study
from assay.synthetic.spec import SyntheticSpec, SynthscoresSpec
from assay.tasks import answer_format

EMBEDDER = "all-MiniLM-L6-v2"


def instruct_model(study: Study) -> Artifact:
    """The instruct model that writes, refines and (by default) judges and learns."""
    return study.model_or_first(
        study.config["synthetic"]["instruct_model"], "synthetic.instruct_model", "instruct"
    )


def methods(study: Study) -> list[str]:
    return list(dict.fromkeys(study.config["synthetic"]["methods"]))


def plan(study: Study) -> None:
    cfg = study.config["synthetic"]
    if not cfg["enabled"]:
        return
    task = study.task
    fmt = answer_format(task.spec.name)
    if fmt != "number":
        raise ConfigError(
            f"synthetic: task {task.spec.name!r} has {fmt!r} answers; synthetic data supports tasks "
            "with numeric worked solutions (arithmetic, gsm8k, number files); set synthetic.enabled: false"
        )
    train_size = task.spec.train_size
    if train_size is not None and train_size < cfg["shots"]:
        raise ConfigError(
            f"synthetic.shots: {cfg['shots']} real examples need task.train_size >= {cfg['shots']} "
            f"(it is {train_size})"
        )
    wanted = methods(study)
    needs_base = any(m in wanted for m in ("bare", "base_fewshot"))
    needs_instruct = any(m in wanted for m in ("bare", "instruct_fewshot"))
    base = study.model_or_first(cfg["base_model"], "synthetic.base_model", "base") if needs_base else None
    instruct = None
    if needs_instruct or cfg["judge"]["model"] is None or cfg["finetune"]["student"] is None:
        instruct = instruct_model(study)

    def synthetic_set(method: str, upstream: dict[str, Artifact]) -> Artifact:
        spec = SyntheticSpec.from_sections(cfg, method=method, engine=study.engine_fields())
        return study.add(
            Artifact("synthetic", method, spec, upstream | {"task": task}, study.engine_settings())
        )

    study.nodes.setdefault("synthetic", {})
    sets: dict[str, Artifact] = {}
    if needs_base:  # base_fewshot drafts are built for BARE even when not compared
        sets["base_fewshot"] = synthetic_set("base_fewshot", {"model": base})
    if "instruct_fewshot" in wanted:
        sets["instruct_fewshot"] = synthetic_set("instruct_fewshot", {"model": instruct})
    if "bare" in wanted:
        sets["bare"] = synthetic_set("bare", {"model": instruct, "drafts": sets["base_fewshot"]})
    judge = (
        study.model_or_first(cfg["judge"]["model"], "synthetic.judge.model", "instruct")
        if cfg["judge"]["model"]
        else instruct
    )
    score_spec = SynthscoresSpec.from_sections(
        cfg["judge"],
        cfg,
        judge_kind=judge.spec.kind,
        answer_format=fmt,
        embedder=EMBEDDER,
        engine=study.engine_fields(),
    )
    study.nodes.setdefault("synthscores", {})
    for method in wanted:
        upstream = {"items": sets[method], "judge": judge, "task": task}
        study.add(Artifact("synthscores", method, score_spec, upstream, study.engine_settings()))
