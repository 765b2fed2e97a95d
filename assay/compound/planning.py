"""The compound stages' nodes: samples, verdicts and scaling per generator model; one
selection over the pool."""

from __future__ import annotations

from assay.compound.spec import AssembledSpec, SamplesSpec, ScalingSpec, SelectionSpec, VerdictsSpec
from assay.compound.systems import module_names
from assay.errors import ConfigError
from assay.nodes import Artifact, Study
from assay.tasks import answer_format


def plan(study: Study) -> None:
    cfg = study.config["compound"]
    if not cfg["enabled"]:
        return
    if cfg["fit_samples"] > cfg["k_max"]:
        raise ConfigError(
            f"compound.fit_samples: {cfg['fit_samples']} is above the pool size "
            f"compound.k_max = {cfg['k_max']}"
        )
    task, fmt = study.task, answer_format(study.task.spec.name)
    judge = study.model_or_first(cfg["judge"]["model"], "compound.judge.model")
    check = cfg["check"]
    if check["enabled"] and cfg["limit"] is None:
        raise ConfigError(
            "compound.check: the assembled system is checked on test queries after the sampled "
            "ones, so compound.limit must be set (it is null: every test query is sampled)"
        )
    for stage in ("samples", "verdicts", "scaling"):
        study.nodes.setdefault(stage, {})
    for name in study.models_named(cfg["models"], "compound.models"):
        model = study.models[name]
        samples_spec = SamplesSpec.from_sections(
            cfg,
            model_kind=model.spec.kind,
            shots=study.config["evaluate"]["shots"],
            answer_format=fmt,
            engine=study.engine_fields(),
        )
        samples = study.add(
            Artifact("samples", name, samples_spec, {"model": model, "task": task}, study.engine_settings())
        )
        verdicts_spec = VerdictsSpec.from_sections(
            cfg["judge"], judge_kind=judge.spec.kind, engine=study.engine_fields()
        )
        verdicts = study.add(
            Artifact(
                "verdicts",
                name,
                verdicts_spec,
                {"samples": samples, "judge": judge, "task": task},
                study.engine_settings(),
            )
        )
        scaling_spec = ScalingSpec.from_sections(cfg)
        upstream = {"samples": samples, "verdicts": verdicts}
        scaling = study.add(Artifact("scaling", name, scaling_spec, upstream))
        if check["enabled"]:
            assembled_spec = AssembledSpec.from_sections(
                check,
                cfg,
                offset=cfg["limit"],
                model_kind=model.spec.kind,
                shots=study.config["evaluate"]["shots"],
                answer_format=fmt,
                judge_kind=judge.spec.kind,
                judge_max_tokens=cfg["judge"]["max_tokens"],
                engine=study.engine_fields(),
            )
            upstream = {"scaling": scaling, "model": model, "judge": judge, "task": task}
            study.add(Artifact("assembled", name, assembled_spec, upstream, study.engine_settings()))


TRAINED_STAGES = ("finetuned", "policies")


def pool_member(study: Study, name: str, field_name: str) -> Artifact:
    """A model of the selector's pool: one of the study's models, or a checkpoint the study
    trains (a fine-tuned student or a preference-trained policy, by its artifact name)."""
    if name in study.models:
        return study.models[name]
    for stage in TRAINED_STAGES:
        if name in study.nodes.get(stage, {}):
            return study.nodes[stage][name]
    trained = [n for stage in TRAINED_STAGES for n in study.nodes.get(stage, {})]
    raise ConfigError(
        f"{field_name}: {name!r} is neither a model of the study ({', '.join(study.models)}) nor "
        f"a model it trains ({', '.join(trained) or 'none'})"
    )


def kind_of(model: Artifact) -> str:
    """A trained checkpoint has its base model's kind."""
    return model.spec.kind if model.stage == "models" else model.upstream["model"].spec.kind


def plan_selection_stage(study: Study) -> None:
    """Planned after the training stages, whose checkpoints may join the pool."""
    cfg = study.config["compound"]
    if cfg["enabled"] and cfg["selector"]["enabled"]:
        plan_selection(study, cfg["selector"], answer_format(study.task.spec.name))


def plan_selection(study: Study, selector: dict, fmt: str) -> None:
    names = selector["models"] or list(study.models)
    members = {
        name: pool_member(study, name, f"compound.selector.models[{i}]") for i, name in enumerate(names)
    }
    pool = list(members)
    debate = selector["system"] == "debate"  # agents and rounds exist for debate only (schema)
    modules = list(module_names("debate", selector["agents"]) if debate else module_names(selector["system"]))
    sweep = len(pool) * selector["train_queries"] * len(modules)
    if selector["budget"] < sweep:
        raise ConfigError(
            f"compound.selector.budget: {selector['budget']} calls is smaller than one sweep "
            f"({len(pool)} models x {selector['train_queries']} train queries x "
            f"{len(modules)} modules = {sweep})"
        )
    spec = SelectionSpec.from_sections(
        selector,
        modules=modules,
        rounds=selector["rounds"] if debate else None,
        models={name: kind_of(member) for name, member in members.items()},
        shots=study.config["evaluate"]["shots"],
        answer_format=fmt,
        engine=study.engine_fields(backend=selector["backend"]),
    )
    upstream = {f"model:{name}": member for name, member in members.items()} | {"task": study.task}
    study.add(Artifact("selection", selector["system"], spec, upstream, study.engine_settings()))
