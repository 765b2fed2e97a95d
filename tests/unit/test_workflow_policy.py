"""Snakemake policy (assay.workflow): job resources by stage and model size, the plan marker."""

from __future__ import annotations

from assay.config import deep_merge, load_study
from assay.plan import build_plan
from assay.workflow import model_size_b, plan_digest, resources


def test_resources_by_stage_and_model_size():
    plan = build_plan(load_study())
    evaluation, task = plan.evaluations["gemma3-270m"], plan.task
    policy = next(iter(plan.stage("policies").values()))
    assert model_size_b(plan.models["gemma3-270m"]) == 0.27
    assert model_size_b(plan.models["smollm2-135m-instruct"]) == 0.135
    assert resources(evaluation, gpu_study=False, tensor_parallel=2)["gpu"] == 0
    assert resources(evaluation, gpu_study=True, tensor_parallel=2)["gpu"] == 2
    assert resources(policy, gpu_study=True, tensor_parallel=2)["gpu"] == 1  # training: one device
    assert resources(task, gpu_study=True, tensor_parallel=2) == {"gpu": 0, "mem_mb": 2000, "runtime": 30}
    trained_eval = plan.evaluations[policy.name]  # a trained model is traced back to its base
    assert (
        resources(trained_eval, True, 1)["mem_mb"]
        == resources(plan.evaluations["smollm2-135m-instruct"], True, 1)["mem_mb"]
    )


def test_the_plan_marker_changes_exactly_when_the_plan_does():
    config = load_study()
    same = plan_digest(build_plan(config)) == plan_digest(
        build_plan(deep_merge(config, {"study": "renamed"}))
    )
    assert same
    assert plan_digest(build_plan(config)) != plan_digest(
        build_plan(deep_merge(config, {"evaluate": {"limit": 7}}))
    )
