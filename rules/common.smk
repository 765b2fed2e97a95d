"""Where the study is understood: schema validation, the plan, and helpers by intent."""

import os
import socket
import sys
from pathlib import Path

from snakemake.logging import logger

from assay import workflow as policy
from assay.allocator import job_environment
from assay.config import validate
from assay.errors import ConfigError
from assay.hardware import detect_cpu_bf16
from assay.plan import build_plan

# `auto` dtypes resolve for the machine the workflow starts on; jobs (on cluster nodes too,
# whose environment SLURM copies from this one) plan with the same answer, so the same keys.
os.environ.setdefault("ASSAY_CPU_BF16", "1" if detect_cpu_bf16() else "0")

# The project's own validator: defaults filled in, and one line that names the field at
# fault (for an unknown key, the closest known one) instead of the whole schema.
try:
    config.update(validate(config, Path(workflow.basedir) / "config" / "schema.yaml"))
    PLAN = build_plan(config)
    # Jobs (and the engine servers they start) allocate with tcmalloc where the machine
    # has it: CPU training steps fault their memory in again at every step with glibc's.
    os.environ.update(job_environment())
except ConfigError as error:
    logger.error(f"error in the study: {error}")
    sys.exit(1)
# envs/*.post-deploy.sh install this folder's package into --sdm conda environments.
os.environ.setdefault("ASSAY_WORKFLOW_ROOT", workflow.basedir)
# Shared engine servers (assay/engine/shared.py) end once the run that started them has:
# jobs announce this process (a nested or cluster-side Snakemake keeps the outer one's).
os.environ.setdefault("ASSAY_RUN_PID", str(os.getpid()))
os.environ.setdefault("ASSAY_RUN_HOST", socket.gethostname())
for warning in PLAN.warnings:
    logger.warning(f"warning: {warning}")
STORE = str(PLAN.store)
RESULTS = f"results/{PLAN.study}"
LOGS = f"logs/{PLAN.study}"
CONDA_ENV = f"../envs/{config['conda_env']}.yaml"


wildcard_constraints:
    key="[0-9a-f]{16}",


def artifact_path(stage, name):
    """Pattern of a file inside any artifact of ``stage``."""
    return f"{STORE}/{stage}/{{key}}/{name}"


def stored(stage, name):
    """A store file as a rule output. Flagged update() so that Snakemake never deletes it
    before a job runs: another study may have published the artifact meanwhile, and a
    finished artifact is only ever read (the job then finds it and exits)."""
    return update(artifact_path(stage, name))


GPU_STUDY = config["conda_env"] == "gpu"
TENSOR_PARALLEL = config["engine"]["tensor_parallel_size"]


def get_resources(stage, name):
    """Resource ``name`` (gpu, mem_mb, runtime in minutes) of a stage's job, from the
    study: GPUs only for engine and training stages of a GPU study, memory and runtime
    scaled by model size (assay.workflow.resources)."""
    return lambda wildcards: policy.resources(
        PLAN.get(stage, wildcards.key), GPU_STUDY, TENSOR_PARALLEL
    )[name]


def log_path(stage):
    return f"{LOGS}/{stage}/{{key}}.log"


def get_artifact(stage):
    """Input-function style helper: the artifact's identity for its script."""
    return lambda wildcards: PLAN.get(stage, wildcards.key).params()


def get_artifact_name(stage):
    """Report subcategory: the artifact's name in the study (a model name, for instance)."""
    return lambda wildcards: PLAN.get(stage, wildcards.key).name


def get_report_labels(stage, figure):
    """Report labels: which model and which figure."""
    return lambda wildcards: {
        "model": PLAN.get(stage, wildcards.key).name,
        "figure": figure,
    }


def get_upstream(stage, role, name="manifest.json"):
    """Input function: file ``name`` of the artifact that plays ``role`` for ``stage``."""

    def upstream(wildcards):
        return PLAN.path(PLAN.get(stage, wildcards.key).upstream[role], name)

    return upstream


def get_model_checkpoint(stage):
    """The manifest of the model a ``stage`` artifact reads (its checkpoint lies beside it)."""
    return get_upstream(stage, "model")


def get_task_split(stage, split):
    return get_upstream(stage, "task", f"{split}.parquet")


def get_sample_queries(wildcards):
    """The split a ``samples`` artifact samples: test, or train for preference pairs."""
    samples = PLAN.get("samples", wildcards.key)
    split = getattr(samples.spec, "split", "test")
    return PLAN.path(samples.upstream["task"], f"{split}.parquet")


def get_pool_models(wildcards):
    """Manifests of every model in a selection's pool."""
    selection = PLAN.get("selection", wildcards.key)
    return [
        PLAN.path(a, "manifest.json")
        for role, a in selection.upstream.items()
        if role.startswith("model:")
    ]


def get_synthetic_drafts(wildcards):
    """BARE refines the base few-shot artifact's raw drafts; other methods start from none."""
    items = PLAN.get("synthetic", wildcards.key)
    if "drafts" not in items.upstream:
        return {}
    return {"base_drafts": PLAN.path(items.upstream["drafts"], "drafts.parquet")}


def get_synthetic_generator(wildcards):
    """The models that wrote a set, by name: ``base -> instruct`` for BARE."""
    items = PLAN.get("synthetic", wildcards.key)
    names = [items.upstream["model"].name]
    if "drafts" in items.upstream:
        names.insert(0, items.upstream["drafts"].upstream["model"].name)
    return " -> ".join(names)


def get_preference_sources(wildcards):
    """What a pairs artifact reads: the policy's train samples (and their manifest, which
    says how they were prompted) and the train split; nothing more for a file or hub
    source (those are in its spec, by content hash)."""
    pairs = PLAN.get("preferences", wildcards.key)
    if "samples" not in pairs.upstream:
        return {}
    return {
        "samples": PLAN.path(pairs.upstream["samples"], "samples.parquet"),
        "samples_manifest": PLAN.path(pairs.upstream["samples"], "manifest.json"),
        "train": PLAN.path(pairs.upstream["task"], "train.parquet"),
    }


def get_displacement_inputs(wildcards):
    """The CHES scores and, per trained policy in one order, its manifest (its spec names
    the run), tracked tables and evaluation; the initial policy's evaluation."""
    table = PLAN.get("displacement", wildcards.key)
    policies = [a for role, a in table.upstream.items() if role.startswith("policy:")]
    inputs = {
        "ches": PLAN.path(table.upstream["ches"], "ches.parquet"),
        "policy_manifests": [PLAN.path(a, "manifest.json") for a in policies],
        "per_pair": [PLAN.path(a, "per_pair.parquet") for a in policies],
        "logprobs": [PLAN.path(a, "logprobs.parquet") for a in policies],
    }
    evaluations = {
        role.removeprefix("evaluate:"): a
        for role, a in table.upstream.items()
        if role.startswith("evaluate:")
    }
    if all(a.name in evaluations for a in policies) and evaluations:
        inputs["accuracy"] = [
            PLAN.path(evaluations[a.name], "accuracy.json") for a in policies
        ]
    if "initial" in evaluations:
        inputs["initial_accuracy"] = PLAN.path(evaluations["initial"], "accuracy.json")
    return inputs


def get_stage_manifests():
    return [PLAN.path(a, "manifest.json") for a in PLAN.all()]


def get_study_tables():
    """The per-study tables of the stages this study has, shown in the report."""
    tables = []
    if PLAN.stage("scaling"):
        tables.append(
            in_report(
                f"{RESULTS}/call_scaling.csv", "call_scaling_table", "call scaling"
            )
        )
        tables.append(
            in_report(f"{RESULTS}/verifier.csv", "verifier_table", "verifier")
        )
    if PLAN.stage("assembled"):
        tables.append(
            in_report(f"{RESULTS}/systems.csv", "systems_table", "assembled systems")
        )
    if PLAN.stage("synthscores"):
        tables.append(
            in_report(f"{RESULTS}/synthetic.csv", "synthetic_table", "synthetic data")
        )
    if PLAN.stage("displacement"):
        tables.append(
            in_report(f"{RESULTS}/preference.csv", "preference_table", "preference")
        )
    if PLAN.stage("selection"):
        tables.append(
            in_report(f"{RESULTS}/allocations.csv", "allocations_table", "allocations")
        )
    return tables


def get_study_figures():
    """The per-study figures of the stages this study has, each in its report category."""
    # a line that starts with `report(` would read as the `report:` keyword
    flag = report
    figures = []
    if PLAN.stage("synthscores"):
        figures.append(
            flag(
                f"{RESULTS}/synthetic.svg",
                caption="../report/synthetic.rst",
                category="Synthetic data",
                labels={"figure": "diversity against quality"},
            )
        )
    return figures


def in_report(path, caption, table):
    """A per-study table marked for the report's Tables category."""
    flag = report
    return flag(
        path,
        caption=f"../report/{caption}.rst",
        category="Tables",
        labels={"table": table},
    )


def get_final_outputs():
    return [
        f"{RESULTS}/index.json",
        f"{RESULTS}/plan-{policy.plan_digest(PLAN)}.txt",
        f"{RESULTS}/accuracy_by_difficulty.csv",
    ]
