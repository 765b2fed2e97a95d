"""Snakemake scheduling policy, in one place: what a job asks of a cluster (GPUs, memory,
runtime) and the plan marker that makes a grown study schedule its new jobs. Pure Python:
``rules/common.smk`` calls it; nothing here imports Snakemake."""

from __future__ import annotations

import hashlib
import re

from assay.nodes import Artifact
from assay.plan import Plan

#: Stages whose jobs start an inference engine, and those that train (or run a model
#: forward with gradients off, as CHES does) on one device.
ENGINE_STAGES = {"evaluate", "samples", "verdicts", "assembled", "selection", "synthetic", "synthscores"}
TRAINING_STAGES = {"finetuned", "policies", "ches"}


def plan_digest(plan: Plan) -> str:
    """A short hash of every artifact key of the study: the name of the plan marker the
    final target asks for. Snakemake does not rerun a present target whose inputs are
    missing (it takes them for deleted temp files), so a study that gains artifacts must
    change a target's name for its new jobs to be scheduled."""
    keys = sorted(f"{a.stage}/{a.key}" for a in plan.all())
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:12]


def model_size_b(model: Artifact) -> float:
    """Billions of parameters: ``params_b`` when the study states it, else read from the
    source's name (``Llama-3.1-8B`` -> 8, ``SmolLM2-135M`` -> 0.135), else 1."""
    if model.size_b:
        return float(model.size_b)
    name = str(model.spec.source).split("/")[-1]
    match = re.search(r"(\d+(?:\.\d+)?)\s*([bBmM])(?![a-zA-Z])", name)
    if not match:
        return 1.0
    value = float(match.group(1))
    return value if match.group(2) in "bB" else value / 1000


def models_of(artifact: Artifact) -> list[Artifact]:
    """The models a job loads: its model-like upstreams, traced back through trained ones."""
    if artifact.stage == "models":
        return [artifact]
    found = []
    for role, upstream in artifact.upstream.items():
        if role in ("model", "judge") or role.startswith("model:"):
            found.extend(models_of(upstream) if upstream.stage != "models" else [upstream])
    return found


def resources(artifact: Artifact, gpu_study: bool, tensor_parallel: int) -> dict[str, int]:
    """Cluster resources of the job that makes ``artifact``: GPUs for engine and training
    stages of a GPU study (tensor_parallel for engines, 1 for training), none for CPU
    stages; memory (MB) and runtime (minutes) scaled by the size, in billions of
    parameters, of the largest model the job loads."""
    size = max((model_size_b(m) for m in models_of(artifact)), default=0.0)
    training = artifact.stage in TRAINING_STAGES
    engine = artifact.stage in ENGINE_STAGES
    gpus = (1 if training else tensor_parallel if engine else 0) if gpu_study else 0
    if training:
        mem, runtime = 8000 + 16000 * size, 30 + 30 * size  # full fine-tuning: ~16 bytes/param
    elif engine or artifact.stage == "models":
        mem, runtime = 6000 + 2000 * size, 30 + 10 * size
    else:
        mem, runtime = 2000, 30
    return {"gpu": gpus, "mem_mb": int(mem), "runtime": int(runtime)}
