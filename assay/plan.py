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
from assay.compound.systems import module_names
from assay.engine.base import EngineSpec
from assay.errors import ConfigError, ModelError
from assay.hardware import resolve_engine_dtype, resolve_precision, slow_bf16_warning
from assay.models import SHIPPED_MODELS, source_kind
from assay.tasks import answer_format

#: Bump a stage's version when its code changes what it writes: every key changes.
STAGE_VERSIONS = {
    "models": 1,
    "tasks": 1,
    "evaluate": 2,  # 2: few-shot examples are the easiest train items
    "samples": 2,  # 2: sampled in progress chunks (changes the random streams)
    "verdicts": 1,
    "scaling": 2,  # 2: figures titled by model, vote and filter-vote drawn apart
    "selection": 2,  # 2: allocation figure shows dev and test accuracy
    "preferences": 1,
    "ches": 1,
    "policies": 1,
    "displacement": 1,
    "synthetic": 1,
    "synthscores": 1,
    "finetuned": 1,
}


@dataclass(eq=False)
class Artifact:
    """One node of the plan: a stage output identified by its key."""

    stage: str
    name: str
    spec: dict[str, Any]
    upstream: dict[str, Artifact] = field(default_factory=dict)
    size_b: float | None = None  # models only: billions of parameters, for job resources (not keyed)

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
    """Artifacts by stage and name, in pipeline order."""

    study: str
    store: Path
    nodes: dict[str, dict[str, Artifact]]
    engine: dict[str, Any] = field(default_factory=dict)  # engine settings, dtype resolved
    warnings: list[str] = field(default_factory=list)  # shown when the workflow starts

    @property
    def models(self) -> dict[str, Artifact]:
        return self.nodes["models"]

    @property
    def task(self) -> Artifact:
        return next(iter(self.nodes["tasks"].values()))

    @property
    def evaluations(self) -> dict[str, Artifact]:
        return self.nodes["evaluate"]

    def stage(self, stage: str) -> dict[str, Artifact]:
        return self.nodes.get(stage, {})

    def all(self) -> list[Artifact]:
        return [a for stage in self.nodes.values() for a in stage.values()]

    def get(self, stage: str, key: str) -> Artifact:
        for artifact in self.stage(stage).values():
            if artifact.key == key:
                return artifact
        raise KeyError(f"no {stage} artifact with key {key} in study {self.study!r}")

    def path(self, artifact: Artifact, name: str = "") -> str:
        folder = self.store / artifact.stage / artifact.key
        return str(folder / name) if name else str(folder)

    def digest(self) -> str:
        """A short hash of every artifact key of the study: the name of the plan marker the
        final target asks for. Snakemake does not rerun a present target whose inputs are
        missing (it takes them for deleted temp files), so a study that gains artifacts
        must change a target's name for its new jobs to be scheduled."""
        import hashlib

        keys = sorted(f"{a.stage}/{a.key}" for a in self.all())
        return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:12]

    def resources(self, artifact: Artifact, gpu_study: bool, tensor_parallel: int) -> dict[str, int]:
        """Cluster resources of the job that makes ``artifact``: GPUs for engine and
        training stages of a GPU study (tensor_parallel for engines, 1 for training),
        none for CPU stages; memory (MB) and runtime (minutes) scaled by the size, in
        billions of parameters, of the largest model the job loads."""
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


ENGINE_STAGES = {"evaluate", "samples", "verdicts", "selection", "synthetic", "synthscores"}
TRAINING_STAGES = {"finetuned", "policies", "ches"}


def model_size_b(model: Artifact) -> float:
    """Billions of parameters: ``params_b`` when the study states it, else read from the
    source's name (``Llama-3.1-8B`` -> 8, ``SmolLM2-135M`` -> 0.135), else 1."""
    import re

    spec = model.spec
    if model.size_b:
        return float(model.size_b)
    match = re.search(r"(\d+(?:\.\d+)?)\s*([bBmM])(?![a-zA-Z])", str(spec.get("source", "")).split("/")[-1])
    if not match:
        return 1.0
    value = float(match.group(1))
    return value if match.group(2) in "bB" else value / 1000


def models_of(artifact: Artifact) -> list[Artifact]:
    """The models a job loads: its model-like upstreams, traced back through trained ones."""
    found = []
    if artifact.stage == "models":
        return [artifact]
    for role, upstream in artifact.upstream.items():
        if role in ("model", "judge") or role.startswith("model:"):
            found.extend(models_of(upstream) if upstream.stage != "models" else [upstream])
    return found


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
        models[name] = Artifact(
            "models", name, model_spec(name, entry, f"models[{i}]"), size_b=entry.get("params_b")
        )
    task_spec = dict(config["task"])
    task = Artifact("tasks", task_spec["name"], task_spec)
    config, warnings = resolve_dtypes(config)
    engine = EngineSpec.from_dict(config.get("engine", {}))
    evaluate_cfg = config["evaluate"]
    evaluations = {}
    for name in resolve_model_names(evaluate_cfg.get("models"), models, "evaluate.models"):
        evaluations[name] = evaluation_node(config, models[name], task, engine, models[name].spec["kind"])
    if evaluate_cfg["shots"] > (task_spec.get("train_size") or evaluate_cfg["shots"]):
        raise ConfigError(
            f"evaluate.shots: {evaluate_cfg['shots']} few-shot examples need task.train_size >= "
            f"{evaluate_cfg['shots']}"
        )
    nodes = {"models": models, "tasks": {task.name: task}, "evaluate": evaluations}
    nodes.update(compound_nodes(config, models, task, engine))
    for stage_nodes in (
        synthetic_nodes(config, models, task, engine, evaluations),
        preference_nodes(config, models, task, engine, evaluations),
    ):
        for stage, named in stage_nodes.items():
            nodes.setdefault(stage, {}).update(named)
    return Plan(
        study=config["study"],
        store=Path(config["store"]),
        nodes=nodes,
        engine=engine.as_dict(),
        warnings=warnings,
    )


def is_gpu_study(config: dict[str, Any]) -> bool:
    """A study that runs on GPUs (its rules use ``envs/gpu.yaml``)."""
    return config.get("conda_env") == "gpu"


def resolve_dtypes(config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The study with ``engine.dtype`` and every training ``precision`` resolved for the
    hardware it is planned on (:mod:`assay.hardware`), and the warnings for a bf16 that
    this CPU would emulate."""
    import copy

    config, gpu = copy.deepcopy(config), is_gpu_study(config)
    fields = [("engine", "dtype", resolve_engine_dtype)]
    fields += [("synthetic.finetune", "precision", resolve_precision)]
    fields += [("preference", "precision", resolve_precision)]
    warnings = []
    for path, name, resolve in fields:
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


def evaluation_node(
    config: dict[str, Any], model: Artifact, task: Artifact, engine: EngineSpec, kind: str
) -> Artifact:
    """An ``evaluate`` artifact for any checkpoint (a study model or a trained one)."""
    cfg = config["evaluate"]
    spec = {
        "model_kind": kind,
        "shots": cfg["shots"],
        "limit": cfg.get("limit"),
        "max_tokens": cfg["max_tokens"],
        "answer_format": answer_format(task.spec["name"]),
        "engine": engine.result_fields(),
    }
    return Artifact("evaluate", model.name, spec, {"model": model, "task": task})


def compound_nodes(
    config: dict[str, Any], models: dict[str, Artifact], task: Artifact, engine: EngineSpec
) -> dict[str, dict[str, Artifact]]:
    """samples, verdicts and scaling per generator model; one selection over the pool."""
    cfg = config.get("compound") or {}
    if not cfg.get("enabled", True):
        return {}
    if cfg["fit_samples"] > cfg["k_max"]:
        raise ConfigError(
            f"compound.fit_samples: {cfg['fit_samples']} is above the pool size "
            f"compound.k_max = {cfg['k_max']}"
        )
    judge_name = cfg["judge"]["model"] or next(iter(models))
    if judge_name not in models:
        raise ConfigError(
            f"compound.judge.model: unknown model {judge_name!r}; the study's models are {sorted(models)}"
        )
    judge = models[judge_name]
    nodes: dict[str, dict[str, Artifact]] = {"samples": {}, "verdicts": {}, "scaling": {}}
    for name in resolve_model_names(cfg.get("models"), models, "compound.models"):
        sample_spec = {
            "model_kind": models[name].spec["kind"],
            "k_max": cfg["k_max"],
            "temperature": cfg["temperature"],
            "top_p": cfg["top_p"],
            "max_tokens": cfg["max_tokens"],
            "shots": config["evaluate"]["shots"],
            "limit": cfg["limit"],
            "answer_format": answer_format(task.spec["name"]),
            "engine": engine.result_fields(),
        }
        samples = Artifact("samples", name, sample_spec, {"model": models[name], "task": task})
        verdict_spec = {
            "judge_kind": judge.spec["kind"],
            "max_tokens": cfg["judge"]["max_tokens"],
            "engine": engine.result_fields(),
        }
        verdicts = Artifact(
            "verdicts", name, verdict_spec, {"samples": samples, "judge": judge, "task": task}
        )
        scaling_spec = {"fit_samples": cfg["fit_samples"], "predict_k_max": cfg["predict_k_max"]}
        nodes["samples"][name] = samples
        nodes["verdicts"][name] = verdicts
        nodes["scaling"][name] = Artifact(
            "scaling", name, scaling_spec, {"samples": samples, "verdicts": verdicts}
        )
    selector = cfg["selector"]
    if selector.get("enabled", True):
        pool = resolve_model_names(selector.get("models"), models, "compound.selector.models")
        modules = len(module_names(selector["system"], selector["agents"]))
        sweep = len(pool) * selector["train_queries"] * modules
        if selector["budget"] < sweep:
            raise ConfigError(
                f"compound.selector.budget: {selector['budget']} calls is smaller than one sweep "
                f"({len(pool)} models x {selector['train_queries']} train queries x "
                f"{modules} modules = {sweep})"
            )
        spec = {
            "system": selector["system"],
            "modules": list(module_names(selector["system"], selector["agents"])),
            "rounds": selector["rounds"] if selector["system"] == "debate" else None,
            "models": {name: models[name].spec["kind"] for name in pool},
            "train_queries": selector["train_queries"],
            "test_queries": selector["test_queries"],
            "budget": selector["budget"],
            "max_tokens": selector["max_tokens"],
            "shots": config["evaluate"]["shots"],
            "answer_format": answer_format(task.spec["name"]),
            "engine": {**engine.result_fields(), "backend": selector["backend"]},
        }
        upstream = {f"model:{name}": models[name] for name in pool} | {"task": task}
        nodes["selection"] = {selector["system"]: Artifact("selection", selector["system"], spec, upstream)}
    return nodes


def sample_spec(config: dict[str, Any], kind: str, task: Artifact, engine: EngineSpec, **fields: Any) -> dict:
    """The spec of a ``samples`` artifact (K samples per query of one split)."""
    spec = {
        "model_kind": kind,
        "shots": config["evaluate"]["shots"],
        "answer_format": answer_format(task.spec["name"]),
        "engine": engine.result_fields(),
        "top_p": 1.0,
    }
    spec.update(fields)
    return spec


def preference_nodes(
    config: dict[str, Any],
    models: dict[str, Artifact],
    task: Artifact,
    engine: EngineSpec,
    evaluations: dict[str, Artifact],
) -> dict[str, dict[str, Artifact]]:
    """pairs, CHES, one trained policy per variant x subset (each evaluated), one
    displacement table. Samples for pairs come from the policy on the train split."""
    cfg = config.get("preference") or {}
    if not cfg.get("enabled", True):
        return {}
    policy_name = cfg.get("policy") or next(iter(models))
    if policy_name not in models:
        raise ConfigError(
            f"preference.policy: unknown model {policy_name!r}; the study's models are {sorted(models)}"
        )
    policy = models[policy_name]
    source = dict(cfg["source"])
    nodes: dict[str, dict[str, Artifact]] = {"samples": {}, "evaluate": {}}
    upstream: dict[str, Artifact] = {"model": policy}
    if source["kind"] == "samples":
        train_size = task.spec.get("train_size")
        if train_size is not None and train_size - source["shots"] < 2:
            raise ConfigError(
                f"preference.source.queries: task.train_size {train_size} leaves fewer than 2 train "
                f"queries after the {source['shots']} few-shot items"
            )
        samples = Artifact(
            "samples",
            f"{policy_name}@train",
            sample_spec(
                config,
                policy.spec["kind"],
                task,
                engine,
                split="train",
                k_max=source["k"],
                temperature=source["temperature"],
                max_tokens=source["max_tokens"],
                limit=source["queries"],
                shots=source["shots"],
                difficulty=source["difficulty"] or None,
            ),
            {"model": policy, "task": task},
        )
        nodes["samples"][samples.name] = samples
        upstream.update(samples=samples, task=task)
        pair_source = {k: source[k] for k in ("kind", "pairing")}
    elif source["kind"] == "file":
        if not source.get("path"):
            raise ConfigError("preference.source.path: a file source needs a path")
        path = Path(source["path"]).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"preference.source.path: {path} does not exist")
        pair_source = {
            "kind": "file",
            "path": str(path),
            "sha256": file_digest(path),
            "limit": source["limit"],
        }
    else:
        if not source.get("name"):
            raise ConfigError("preference.source.name: a hub source needs a dataset name")
        pair_source = {k: source[k] for k in ("kind", "name", "split", "limit")}
    preferences = Artifact(
        "preferences",
        policy_name,
        {"source": pair_source, "heldout": cfg["heldout"], "seed": cfg["seed"]},
        upstream,
    )
    ches = Artifact(
        "ches", policy_name, {"batch_size": cfg["ches_batch_size"]}, {"model": policy, "pairs": preferences}
    )
    policies: dict[str, Artifact] = {}
    names = [v["name"] for v in cfg["variants"]]
    for i, variant in enumerate(cfg["variants"]):
        if variant["name"] in names[:i]:
            raise ConfigError(f"preference.variants[{i}].name: {variant['name']!r} is used twice")
        for subset in dict.fromkeys(cfg["subsets"]):
            spec = {
                "variant": variant["loss"],
                "beta": variant.get("beta", 0.1),
                "learning_rate": variant.get("learning_rate", 5e-4),
                "epochs": variant.get("epochs", 2),
                "lora": variant.get("lora", True),
                "simpo_gamma": variant.get("simpo_gamma", 0.5) if variant["loss"] == "simpo" else None,
                "subset": subset,
                "share": cfg["share"] if subset != "all" else None,
                "batch_size": cfg["batch_size"],
                "max_length": cfg["max_length"],
                "max_steps": cfg["max_steps"],
                "lora_r": cfg["lora_r"],
                "lora_alpha": cfg["lora_alpha"],
                "precision": cfg["precision"],
                "track_every": cfg["track_every"],
                "seed": cfg["seed"],
                "save_dtype": policy.spec["dtype"],
                "label": f"{variant['name']}-{subset}",
            }
            name = f"{policy_name}+{variant['name']}-{subset}"
            policies[name] = Artifact(
                "policies", name, spec, {"model": policy, "pairs": preferences, "ches": ches}
            )
    nodes.update(preferences={policy_name: preferences}, ches={policy_name: ches}, policies=policies)
    upstream_table: dict[str, Artifact] = {"ches": ches}
    for name, trained in policies.items():
        upstream_table[f"policy:{name}"] = trained
        if cfg["evaluate"]:
            evaluation = evaluation_node(config, trained, task, engine, policy.spec["kind"])
            nodes["evaluate"][name] = evaluation
            upstream_table[f"evaluate:{name}"] = evaluation
    if cfg["evaluate"] and policy_name in evaluations:
        upstream_table["evaluate:initial"] = evaluations[policy_name]
    nodes["displacement"] = {
        policy_name: Artifact("displacement", policy_name, {"policy": policy_name}, upstream_table)
    }
    return nodes


def file_digest(path: Path) -> str:
    """sha256 of a user's data file: its content, not its path, goes into the key."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _model_of_kind(name: str | None, kind: str, models: dict[str, Artifact], field_name: str) -> Artifact:
    """A named model (checked), or the study's first model of ``kind``."""
    if name is None:
        found = [m for m in models.values() if m.spec["kind"] == kind]
        if not found:
            raise ConfigError(f"{field_name}: the study has no model of kind {kind!r}; name one")
        return found[0]
    if name not in models:
        raise ConfigError(f"{field_name}: unknown model {name!r}; the study's models are {sorted(models)}")
    return models[name]


def synthetic_nodes(
    config: dict[str, Any],
    models: dict[str, Artifact],
    task: Artifact,
    engine: EngineSpec,
    evaluations: dict[str, Artifact],
) -> dict[str, dict[str, Artifact]]:
    """A synthetic set per method (BARE refines the base few-shot drafts), its scores, a
    student fine-tuned on it and that student's evaluation."""
    cfg = config.get("synthetic") or {}
    if not cfg.get("enabled", True):
        return {}
    fmt = answer_format(task.spec["name"])
    if fmt != "number":
        raise ConfigError(
            f"synthetic: task {task.spec['name']!r} has {fmt!r} answers; synthetic data supports tasks "
            "with numeric worked solutions (arithmetic, gsm8k, number files); set synthetic.enabled: false"
        )
    train_size = task.spec.get("train_size")
    if train_size is not None and train_size < cfg["shots"]:
        raise ConfigError(
            f"synthetic.shots: {cfg['shots']} real examples need task.train_size >= {cfg['shots']} "
            f"(it is {train_size})"
        )
    methods = list(dict.fromkeys(cfg["methods"]))
    needs_base = any(m in methods for m in ("bare", "base_fewshot"))
    needs_instruct = any(m in methods for m in ("bare", "instruct_fewshot"))
    base = _model_of_kind(cfg["base_model"], "base", models, "synthetic.base_model") if needs_base else None
    instruct = (
        _model_of_kind(cfg["instruct_model"], "instruct", models, "synthetic.instruct_model")
        if needs_instruct or cfg["judge"]["model"] is None or cfg["finetune"]["student"] is None
        else None
    )
    common = {
        "n": cfg["n"],
        "shots": cfg["shots"],
        "seed": cfg["seed"],
        "temperature": cfg["temperature"],
        "max_tokens": cfg["max_tokens"],
        "engine": engine.result_fields(),
    }
    sets: dict[str, Artifact] = {}
    if needs_base:
        sets["base_fewshot"] = Artifact(
            "synthetic", "base_fewshot", {"method": "base_fewshot", **common}, {"model": base, "task": task}
        )
    if "instruct_fewshot" in methods:
        sets["instruct_fewshot"] = Artifact(
            "synthetic",
            "instruct_fewshot",
            {"method": "instruct_fewshot", **common},
            {"model": instruct, "task": task},
        )
    if "bare" in methods:
        sets["bare"] = Artifact(
            "synthetic",
            "bare",
            {"method": "bare", **common},
            {"model": instruct, "drafts": sets["base_fewshot"], "task": task},
        )
    judge = (
        _model_of_kind(cfg["judge"]["model"], "instruct", models, "synthetic.judge.model")
        if cfg["judge"]["model"]
        else instruct
    )
    nodes: dict[str, dict[str, Artifact]] = {
        "synthetic": {},
        "synthscores": {},
        "finetuned": {},
        "evaluate": {},
    }
    score_spec = {
        "judge_kind": judge.spec["kind"],
        "trials": cfg["judge"]["trials"],
        "max_tokens": cfg["judge"]["max_tokens"],
        "seed": cfg["seed"],
        "answer_format": fmt,
        "embedder": "all-MiniLM-L6-v2",
        "engine": engine.result_fields(),
    }
    ft = cfg["finetune"]
    student = None
    if ft["enabled"]:
        student = (
            _model_of_kind(ft["student"], "instruct", models, "synthetic.finetune.student")
            if ft["student"]
            else instruct
        )
    nodes["synthetic"] = dict(sets)  # base_fewshot drafts are built for BARE even when not compared
    for method in methods:
        items = sets[method]
        nodes["synthscores"][method] = Artifact(
            "synthscores", method, score_spec, {"items": items, "judge": judge, "task": task}
        )
        if student is None:
            continue
        spec = {k: ft[k] for k in FINETUNE_FIELDS} | {"save_dtype": student.spec["dtype"]}
        trained = Artifact(
            "finetuned", f"{student.name}+sft-{method}", spec, {"model": student, "items": items}
        )
        nodes["finetuned"][method] = trained
        nodes["evaluate"][trained.name] = evaluation_node(config, trained, task, engine, student.spec["kind"])
    return nodes


FINETUNE_FIELDS = (
    "lora",
    "lora_r",
    "lora_alpha",
    "learning_rate",
    "epochs",
    "batch_size",
    "max_length",
    "max_steps",
    "precision",
)
