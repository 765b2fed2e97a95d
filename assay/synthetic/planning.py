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


def seeds(study: Study) -> list[int]:
    return list(dict.fromkeys(study.config["synthetic"]["seeds"]))


def set_name(method: str, seed: int, first: int) -> str:
    """The first seed's set is named by its method alone (what the student learns from);
    each further seed's by method and seed."""
    return method if seed == first else f"{method}-seed{seed}"


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

    runs = seeds(study)

    def synthetic_set(method: str, seed: int, upstream: dict[str, Artifact]) -> Artifact:
        temperature = cfg["temperatures"].get(method)
        spec = SyntheticSpec.from_sections(
            cfg,
            method=method,
            seed=seed,
            temperature=cfg["temperature"] if temperature is None else temperature,
            engine=study.engine_fields(),
        )
        name = set_name(method, seed, runs[0])
        return study.add(
            Artifact("synthetic", name, spec, upstream | {"task": task}, study.engine_settings())
        )

    study.nodes.setdefault("synthetic", {})
    sets: dict[tuple[str, int], Artifact] = {}
    for seed in runs:
        if needs_base:  # base_fewshot drafts are built for BARE even when not compared
            sets["base_fewshot", seed] = synthetic_set("base_fewshot", seed, {"model": base})
        if "instruct_fewshot" in wanted:
            sets["instruct_fewshot", seed] = synthetic_set("instruct_fewshot", seed, {"model": instruct})
        if "bare" in wanted:
            drafts = sets["base_fewshot", seed]
            sets["bare", seed] = synthetic_set("bare", seed, {"model": instruct, "drafts": drafts})
    judge = (
        study.model_or_first(cfg["judge"]["model"], "synthetic.judge.model", "instruct")
        if cfg["judge"]["model"]
        else instruct
    )
    study.nodes.setdefault("synthscores", {})
    for seed in runs:
        score_spec = SynthscoresSpec.from_sections(
            cfg["judge"],
            cfg,
            judge_kind=judge.spec.kind,
            answer_format=fmt,
            embedder=EMBEDDER,
            seed=seed,
            engine=study.engine_fields(),
        )
        for method in wanted:
            upstream = {"items": sets[method, seed], "judge": judge, "task": task}
            name = set_name(method, seed, runs[0])
            study.add(Artifact("synthscores", name, score_spec, upstream, study.engine_settings()))
