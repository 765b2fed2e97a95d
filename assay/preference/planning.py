"""The preference stages' nodes: the policy's train samples (for a samples source), the
pairs, CHES, one trained policy per variant x subset (each evaluated), one displacement
table."""

from __future__ import annotations

from pathlib import Path

from assay.compound.spec import TrainSamplesSpec
from assay.errors import ConfigError
from assay.evaluate.planning import evaluation_node
from assay.nodes import Artifact, Study, file_digest
from assay.preference.spec import (
    ChesSpec,
    DisplacementSpec,
    FileSource,
    HubSource,
    PairSource,
    PoliciesSpec,
    PreferencesSpec,
    SamplesSource,
)
from assay.tasks import answer_format


def pair_source(study: Study, policy: Artifact, upstream: dict[str, Artifact]) -> PairSource:
    """The keyed description of where pairs come from; adds the train samples node (and
    the task) to ``upstream`` for a samples source."""
    source = study.config["preference"]["source"]
    task = study.task
    if source["kind"] == "samples":
        train_size = task.spec.train_size
        if train_size is not None and train_size - source["shots"] < 2:
            raise ConfigError(
                f"preference.source.queries: task.train_size {train_size} leaves fewer than 2 train "
                f"queries after the {source['shots']} few-shot items"
            )
        spec = TrainSamplesSpec.from_sections(
            source,
            model_kind=policy.spec.kind,
            k_max=source["k"],
            top_p=1.0,
            limit=source["queries"],
            answer_format=answer_format(task.spec.name),
            engine=study.engine_fields(),
            split="train",
            difficulty=source["difficulty"] or None,
        )
        samples = Artifact(
            "samples", f"{policy.name}@train", spec, {"model": policy, "task": task}, study.engine_settings()
        )
        upstream.update(samples=study.add(samples), task=task)
        return SamplesSource(
            kind="samples", pairing=source["pairing"], pairs_per_query=source["pairs_per_query"]
        )
    if source["kind"] == "file":
        path = Path(source["path"]).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"preference.source.path: {path} does not exist")
        return FileSource(kind="file", path=str(path), sha256=file_digest(path), limit=source["limit"])
    return HubSource(kind="hub", name=source["name"], split=source["split"], limit=source["limit"])


def plan(study: Study) -> None:
    cfg = study.config["preference"]
    if not cfg["enabled"]:
        return
    policy = study.model_or_first(cfg["policy"], "preference.policy")
    name = policy.name
    upstream: dict[str, Artifact] = {"model": policy}
    source = pair_source(study, policy, upstream)
    preferences = study.add(
        Artifact("preferences", name, PreferencesSpec(source, cfg["heldout"], cfg["seed"]), upstream)
    )
    ches = study.add(
        Artifact(
            "ches",
            name,
            ChesSpec.from_sections(cfg, batch_size=cfg["ches_batch_size"]),
            {"model": policy, "pairs": preferences},
        )
    )
    table_upstream: dict[str, Artifact] = {"ches": ches}
    study.nodes.setdefault("policies", {})
    names = [v["name"] for v in cfg["variants"]]
    trained_runs = []
    for i, variant in enumerate(cfg["variants"]):
        if variant["name"] in names[:i]:
            raise ConfigError(f"preference.variants[{i}].name: {variant['name']!r} is used twice")
        for subset in dict.fromkeys(cfg["subsets"]):
            spec = PoliciesSpec.from_sections(
                variant,
                cfg,
                variant=variant["loss"],
                simpo_gamma=variant["simpo_gamma"] if variant["loss"] == "simpo" else None,
                subset=subset,
                share=cfg["share"] if subset != "all" else None,
                save_dtype=policy.spec.dtype,
                label=f"{variant['name']}-{subset}",
            )
            trained = study.add(
                Artifact(
                    "policies",
                    f"{name}+{variant['name']}-{subset}",
                    spec,
                    {"model": policy, "pairs": preferences, "ches": ches},
                )
            )
            trained_runs.append(trained)
    for trained in trained_runs:
        table_upstream[f"policy:{trained.name}"] = trained
        if cfg["evaluate"]:
            table_upstream[f"evaluate:{trained.name}"] = study.add(
                evaluation_node(study, trained, policy.spec.kind)
            )
    if cfg["evaluate"] and name in study.nodes.get("evaluate", {}):
        table_upstream["evaluate:initial"] = study.nodes["evaluate"][name]
    study.add(Artifact("displacement", name, DisplacementSpec(policy=name), table_upstream))
