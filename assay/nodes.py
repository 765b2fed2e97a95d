"""The layer below the stages: plan nodes, stage versions, specs, and the planning helpers
every stage shares.

A stage (a package under ``assay/``) owns three things: its *spec* (frozen dataclasses of
this module's :class:`Spec`, fields without defaults: the schema is the one place
defaults live), its *planning* (the stage's :class:`Artifact` nodes from the validated
study, and its cross-field checks) and its *jobs* (one function per rule). Stages talk
only through artifact files; planning reads earlier stages' nodes through :class:`Study`.

Stage names are store folder names, rule names (``verb_stage``) and module names at once;
they are hashed into every key, so they never change.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from assay.artifacts import artifact_key
from assay.errors import ConfigError

#: Bump a stage's version when its code changes what it writes: every key of the stage
#: (and downstream) changes. tests/unit/test_keys.py pins the keys.
STAGE_VERSIONS = {
    "models": 1,
    "tasks": 1,
    "evaluate": 2,  # 2: few-shot examples are the easiest train items
    "samples": 2,  # 2: sampled in progress chunks (changes the random streams)
    "verdicts": 2,  # 2: the judge's confidence from log-probs (said_correct: its text)
    "scaling": 4,  # 4: three predictors, threshold on dev, weighted vote (3: closed-form K*)
    "assembled": 1,
    "selection": 3,  # 3: the selector stops when the last L+1 allocations agree (2: figure)
    "preferences": 3,  # 3: pairs_per_query (2: no second BOS when the tokenizer adds its own)
    "ches": 3,  # 3: the starting policy's log-probs (2: the trainer's sequences, max_length)
    "policies": 8,  # 8: shared prompts run once in training (7: reference log-probs given)
    "displacement": 2,  # 2: bootstrap intervals, the correlation over every measured pair
    "synthetic": 2,  # 2: per-method temperature, duplicates kept and flagged, near-misses repaired
    "synthscores": 2,  # 2: diversity at a common size, IR in the reference's format
    "finetuned": 2,  # 2: the fused LM head projects the completion positions only on the CPU
}


class Spec:
    """Base of every stage spec: a frozen dataclass whose plain-dict form (``to_dict``)
    is exactly what the artifact key hashes, and what a job gets back (``from_dict``)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_sections(cls, *sections: dict[str, Any], **computed: Any):
        """The spec whose fields are the ``computed`` values, else the same-named entry of
        the first config section that has one: a setting named alike in the schema and in
        the spec needs nothing more from the stage's planning."""
        values = dict(computed)
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in values:
                continue
            source = next((section for section in sections if f.name in section), None)
            if source is None:
                raise KeyError(f"{cls.__name__}.{f.name}: in no config section, and not computed")
            values[f.name] = source[f.name]
        return cls(**values)

    @classmethod
    def from_dict(cls, values: dict[str, Any]):
        """The spec from its plain dict (nested specs too); every field must be there."""
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        missing, extra = names - set(values), set(values) - names
        if missing or extra:
            raise ValueError(f"{cls.__name__}: missing fields {sorted(missing)}, unknown {sorted(extra)}")
        out = {}
        for name in names:
            value, hint = values[name], hints[name]
            if isinstance(hint, type) and issubclass(hint, Spec) and isinstance(value, dict):
                value = hint.from_dict(value)
            out[name] = value
        return cls(**out)


@dataclass(frozen=True)
class EngineFields(Spec):
    """The engine settings that change outputs, in every engine stage's spec and key."""

    backend: str
    dtype: str
    seed: int


@dataclass(eq=False)
class Artifact:
    """One node of the plan: a stage output identified by its key.

    ``settings`` holds what changes how fast, never what (engine performance settings):
    it travels to the job with the spec but stays out of the key."""

    stage: str
    name: str
    spec: Spec
    upstream: dict[str, Artifact] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    size_b: float | None = None  # models only: billions of parameters, for job resources

    @cached_property
    def key(self) -> str:
        upstream = {role: a.key for role, a in self.upstream.items()}
        return artifact_key(self.stage, STAGE_VERSIONS[self.stage], self.spec.to_dict(), upstream)

    def params(self) -> dict[str, Any]:
        """The plain dict a rule passes to its job as ``params.artifact``."""
        return {
            "stage": self.stage,
            "key": self.key,
            "spec": self.spec.to_dict(),
            "upstream": {role: a.key for role, a in self.upstream.items()},
            "settings": self.settings,
        }


class NodeTable:
    """Nodes by stage, then by name, in pipeline order (what a plan and a study share)."""

    nodes: dict[str, dict[str, Artifact]]

    @property
    def models(self) -> dict[str, Artifact]:
        return self.nodes["models"]

    @property
    def task(self) -> Artifact:
        return next(iter(self.nodes["tasks"].values()))

    def stage(self, stage: str) -> dict[str, Artifact]:
        return self.nodes.get(stage, {})

    def all(self) -> list[Artifact]:
        return [a for stage in self.nodes.values() for a in stage.values()]


@dataclass
class Study(NodeTable):
    """What a stage's planning reads: the validated study config (dtypes resolved), the
    engine settings, and the nodes of the stages planned before it."""

    config: dict[str, Any]
    engine: dict[str, Any]
    nodes: dict[str, dict[str, Artifact]] = field(default_factory=dict)

    def add(self, artifact: Artifact) -> Artifact:
        self.nodes.setdefault(artifact.stage, {})[artifact.name] = artifact
        return artifact

    def engine_fields(self, **override: Any) -> EngineFields:
        values = {k: self.engine[k] for k in ("backend", "dtype", "seed")}
        return EngineFields(**(values | override))

    def engine_settings(self) -> dict[str, Any]:
        """The full engine settings a job starts its engine with (not keyed)."""
        return {"engine": dict(self.engine)}

    def model(self, name: str, field_name: str) -> Artifact:
        """A model the study defines, by name; else the error names the field."""
        if name not in self.models:
            raise ConfigError(
                f"{field_name}: unknown model {name!r}; the study's models are {sorted(self.models)}"
            )
        return self.models[name]

    def models_named(self, names: list[str] | None, field_name: str) -> list[str]:
        """Names a stage lists, each checked (empty or null means every model)."""
        if not names:
            return list(self.models)
        for i, name in enumerate(names):
            self.model(name, f"{field_name}[{i}]")
        return list(names)

    def model_or_first(self, name: str | None, field_name: str, kind: str | None = None) -> Artifact:
        """A named model (checked), or the study's first model (of ``kind`` when given)."""
        if name is not None:
            return self.model(name, field_name)
        found = [m for m in self.models.values() if kind is None or m.spec.kind == kind]
        if not found:
            raise ConfigError(f"{field_name}: the study has no model of kind {kind!r}; name one")
        return found[0]


def file_digest(path: Path) -> str:
    """sha256 of a user's data file: its content, not its path, goes into the key."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
