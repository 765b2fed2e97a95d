"""A study's plan: every artifact it needs, its spec, and what it depends on.

``build_plan(config)`` resolves the hardware-dependent settings (``assay.hardware``), then
asks each stage, in pipeline order, for its nodes (``STAGES``: each entry is a stage
package's ``planning.plan``, which reads the study and the nodes planned before it and
makes its own cross-field checks, naming the field at fault). The workflow's
``common.smk`` asks the plan for paths and specs; jobs never read the config.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.compound import planning as compound
from assay.engine.base import EngineSpec
from assay.evaluate import planning as evaluate
from assay.finetune import planning as finetune
from assay.hardware import resolve_engine_dtype, resolve_precision, slow_bf16_warning
from assay.models import planning as models
from assay.nodes import STAGE_VERSIONS, Artifact, NodeTable, Study
from assay.preference import planning as preference
from assay.synthetic import planning as synthetic
from assay.tasks import planning as tasks

__all__ = ["STAGE_VERSIONS", "STAGES", "Artifact", "Plan", "build_plan"]

#: The stages' planners, in pipeline order (a stage reads the nodes of those before it).
STAGES: list[tuple[str, Callable[[Study], None]]] = [
    ("models", models.plan),
    ("tasks", tasks.plan),
    ("evaluate", evaluate.plan),
    ("compound", compound.plan),
    ("synthetic", synthetic.plan),
    ("finetune", finetune.plan),
    ("preference", preference.plan),
    ("selection", compound.plan_selection_stage),  # its pool may hold trained models
]


@dataclass
class Plan(NodeTable):
    """Artifacts by stage and name, in pipeline order."""

    study: str
    store: Path
    nodes: dict[str, dict[str, Artifact]]
    engine: dict[str, Any] = field(default_factory=dict)  # engine settings, dtype resolved
    warnings: list[str] = field(default_factory=list)  # shown when the workflow starts

    @property
    def evaluations(self) -> dict[str, Artifact]:
        return self.nodes["evaluate"]

    def get(self, stage: str, key: str) -> Artifact:
        for artifact in self.stage(stage).values():
            if artifact.key == key:
                return artifact
        raise KeyError(f"no {stage} artifact with key {key} in study {self.study!r}")

    def path(self, artifact: Artifact, name: str = "") -> str:
        folder = self.store / artifact.stage / artifact.key
        return str(folder / name) if name else str(folder)

    def index(self) -> dict[str, Any]:
        """What ``results/{study}/index.json`` holds: each stage's artifacts by name."""
        out: dict[str, Any] = {"study": self.study, "store": str(self.store), "stages": {}}
        for artifact in self.all():
            out["stages"].setdefault(artifact.stage, {})[artifact.name] = {
                "key": artifact.key,
                "path": self.path(artifact),
                "spec": artifact.spec.to_dict(),
                "upstream": {role: a.key for role, a in artifact.upstream.items()},
            }
        return out


def build_plan(config: dict[str, Any]) -> Plan:
    """Every artifact of the study, keyed; raises ConfigError naming the field at fault."""
    config, warnings = resolve_dtypes(config)
    engine = EngineSpec.from_dict(config["engine"]).as_dict()
    study = Study(config=config, engine=engine)
    for _name, plan_stage in STAGES:
        plan_stage(study)
    return Plan(
        study=config["study"],
        store=Path(config["store"]),
        nodes=study.nodes,
        engine=engine,
        warnings=warnings,
    )


def is_gpu_study(config: dict[str, Any]) -> bool:
    """A study that runs on GPUs (its rules use ``envs/gpu.yaml``)."""
    return config.get("conda_env") == "gpu"


#: The settings that ``auto`` resolves for the hardware: (section, field, resolver).
HARDWARE_FIELDS = [
    ("engine", "dtype", resolve_engine_dtype),
    ("synthetic.finetune", "precision", resolve_precision),
    ("preference", "precision", resolve_precision),
]


def resolve_dtypes(config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The study with ``engine.dtype`` and every training ``precision`` resolved for the
    hardware it is planned on (:mod:`assay.hardware`), and the warnings for a bf16 that
    this CPU would emulate."""
    config, gpu = copy.deepcopy(config), is_gpu_study(config)
    warnings = []
    for path, name, resolve in HARDWARE_FIELDS:
        section = config
        for part in path.split("."):
            section = section.get(part) or {}
        if name not in section:
            continue
        forced = section[name] != "auto"
        section[name] = resolve(section[name], gpu)
        warning = slow_bf16_warning(f"{path}.{name}", section[name]) if forced and not gpu else None
        if warning:
            warnings.append(warning)
    return config, warnings


def default_spec(stage: str, name: str | None = None, **fields: Any):
    """A stage's spec as the default study plans it, with ``fields`` replaced: specs have
    no defaults of their own (the schema is the one place they live), so benchmarks,
    notebooks and tests start from the default study's."""
    import dataclasses

    from assay.config import load_study

    nodes = build_plan(load_study()).stage(stage)
    node = nodes[name] if name else next(iter(nodes.values()))
    return dataclasses.replace(node.spec, **fields)
