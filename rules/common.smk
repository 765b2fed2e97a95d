"""Where the study is understood: schema validation, the plan, and helpers by intent."""

from pathlib import Path

from snakemake.utils import validate

from assay.plan import build_plan

validate(config, schema="../config/schema.yaml")
PLAN = build_plan(config)
STORE = str(PLAN.store)
RESULTS = f"results/{PLAN.study}"
LOGS = f"logs/{PLAN.study}"
CONDA_ENV = f"../envs/{config['conda_env']}.yaml"


wildcard_constraints:
    key="[0-9a-f]{16}",


def artifact_path(stage, name):
    """Pattern of a file inside any artifact of ``stage``."""
    return f"{STORE}/{stage}/{{key}}/{name}"


def log_path(stage):
    return f"{LOGS}/{stage}/{{key}}.log"


def get_artifact(stage):
    """Input-function style helper: the artifact's identity for its script."""
    return lambda wildcards: PLAN.get(stage, wildcards.key).params()


def get_model_checkpoint(wildcards):
    """The manifest of the model an evaluation reads (its checkpoint lies beside it)."""
    model = PLAN.get("evaluate", wildcards.key).upstream["model"]
    return PLAN.path(model, "manifest.json")


def get_task_split(split):
    def task_split(wildcards):
        task = PLAN.get("evaluate", wildcards.key).upstream["task"]
        return PLAN.path(task, f"{split}.parquet")

    return task_split


def get_stage_manifests():
    return [PLAN.path(a, "manifest.json") for a in PLAN.all()]


def get_final_outputs():
    return [f"{RESULTS}/index.json", f"{RESULTS}/accuracy_by_difficulty.csv"]
