"""A study's plan: every artifact it needs, its spec, and what it depends on.

``build_plan(config)`` turns a validated study config into :class:`Artifact` nodes whose
keys form a Merkle DAG (see :mod:`assay.artifacts`). The workflow's ``common.smk`` asks
the plan for paths and specs; scripts never read the config. Cross-field checks that a
JSON schema cannot express (a model named in a stage but not defined, a shipped model
whose package is missing) are made here, with the field named in the error.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from assay.artifacts import artifact_key
from assay.engine.base import EngineSpec
from assay.errors import ConfigError, ModelError
from assay.models import SHIPPED_MODELS, source_kind

#: Bump a stage's version when its code changes what it writes: every key changes.
STAGE_VERSIONS = {"models": 1, "tasks": 1, "evaluate": 1}


@dataclass(eq=False)
class Artifact:
    """One node of the plan: a stage output identified by its key."""

    stage: str
    name: str
    spec: dict[str, Any]
    upstream: dict[str, Artifact] = field(default_factory=dict)

    @cached_property
    def key(self) -> str:
        upstream = {role: a.key for role, a in self.upstream.items()}
        return artifact_key(self.stage, STAGE_VERSIONS[self.stage], self.spec, upstream)

    def params(self) -> dict[str, Any]:
        """The plain dict a rule passes to its script as ``params.artifact``."""
        return {
            "stage": self.stage,
            "key": self.key,
            "spec": self.spec,
            "upstream": {role: a.key for role, a in self.upstream.items()},
        }


@dataclass
class Plan:
    study: str
    store: Path
    models: dict[str, Artifact]
    task: Artifact
    evaluations: dict[str, Artifact]

    def all(self) -> list[Artifact]:
        return [*self.models.values(), self.task, *self.evaluations.values()]

    def get(self, stage: str, key: str) -> Artifact:
        for artifact in self.all():
            if artifact.stage == stage and artifact.key == key:
                return artifact
        raise KeyError(f"no {stage} artifact with key {key} in study {self.study!r}")

    def path(self, artifact: Artifact, name: str = "") -> str:
        return (
            str(self.store / artifact.stage / artifact.key / name)
            if name
            else str(self.store / artifact.stage / artifact.key)
        )

    def index(self) -> dict[str, Any]:
        """What ``results/{study}/index.json`` holds: each stage's artifacts by name."""
        out: dict[str, Any] = {"study": self.study, "store": str(self.store), "stages": {}}
        for artifact in self.all():
            out["stages"].setdefault(artifact.stage, {})[artifact.name] = {
                "key": artifact.key,
                "path": self.path(artifact),
                "spec": artifact.spec,
                "upstream": {role: a.key for role, a in artifact.upstream.items()},
            }
        return out


def model_spec(name: str, entry: dict[str, Any], where: str) -> dict[str, Any]:
    """The resolved spec of one model; checks its source and, if shipped, its package."""
    source = entry.get("source") or name
    try:
        kind = source_kind(source)
    except ModelError as error:
        raise ConfigError(f"{where}.source: {error}") from None
    if kind == "shipped":
        shipped = SHIPPED_MODELS[source]
        if importlib.util.find_spec(shipped.module) is None:
            raise ConfigError(
                f"{where}: the shipped model {source!r} needs the package(s) "
                f"{', '.join(shipped.pip_names)}; pip install {' '.join(shipped.pip_names)}"
            )
        default_kind = shipped.kind
    else:
        default_kind = "instruct"
    if kind == "local":
        source = str(Path(source).expanduser().resolve())
    return {
        "source": source,
        "kind": entry.get("kind") or default_kind,
        "dtype": entry.get("dtype", "bfloat16"),
        "revision": entry.get("revision"),
    }


def resolve_model_names(names: list[str] | None, models: dict[str, Artifact], field_name: str) -> list[str]:
    """Names a stage refers to, checked against the study's models (empty means all)."""
    if not names:
        return list(models)
    for i, name in enumerate(names):
        if name not in models:
            raise ConfigError(
                f"{field_name}[{i}]: unknown model {name!r}; the study's models are {sorted(models)}"
            )
    return list(names)


def build_plan(config: dict[str, Any]) -> Plan:
    """Every artifact of the study, keyed; raises ConfigError naming the field at fault."""
    if not config.get("models"):
        raise ConfigError("models: a study needs at least one model")
    models: dict[str, Artifact] = {}
    for i, entry in enumerate(config["models"]):
        name = entry["name"]
        if name in models:
            raise ConfigError(f"models[{i}].name: model {name!r} is defined twice")
        models[name] = Artifact("models", name, model_spec(name, entry, f"models[{i}]"))
    task_spec = dict(config["task"])
    task = Artifact("tasks", task_spec["name"], task_spec)
    engine = EngineSpec.from_dict(config.get("engine", {}))
    evaluate_cfg = config["evaluate"]
    evaluations = {}
    for name in resolve_model_names(evaluate_cfg.get("models"), models, "evaluate.models"):
        spec = {
            "model_kind": models[name].spec["kind"],
            "shots": evaluate_cfg["shots"],
            "limit": evaluate_cfg.get("limit"),
            "max_tokens": evaluate_cfg["max_tokens"],
            "engine": engine.result_fields(),
        }
        evaluations[name] = Artifact("evaluate", name, spec, {"model": models[name], "task": task})
    if evaluate_cfg["shots"] > (task_spec.get("train_size") or evaluate_cfg["shots"]):
        raise ConfigError(
            f"evaluate.shots: {evaluate_cfg['shots']} few-shot examples need task.train_size >= "
            f"{evaluate_cfg['shots']}"
        )
    return Plan(
        study=config["study"],
        store=Path(config["store"]),
        models=models,
        task=task,
        evaluations=evaluations,
    )
