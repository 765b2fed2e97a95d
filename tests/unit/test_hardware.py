"""dtype by hardware: ``auto`` resolves at planning to bf16 only where bf16 is fast."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from assay import hardware
from assay.config import deep_merge, load_study
from assay.plan import build_plan


@pytest.fixture
def cpu(monkeypatch):
    """Set the planner's CPU kind: cpu(True) has native bf16, cpu(False) only AVX2."""

    def set_kind(native_bf16: bool) -> None:
        monkeypatch.setenv("ASSAY_CPU_BF16", "1" if native_bf16 else "0")

    return set_kind


def test_cpuinfo_flags_are_read(tmp_path, monkeypatch):
    monkeypatch.delenv("ASSAY_CPU_BF16", raising=False)
    avx2 = tmp_path / "avx2"
    avx2.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 fma\n\nprocessor\t: 1\nflags\t: avx2\n")
    amx = tmp_path / "amx"
    amx.write_text("flags\t\t: avx2 avx512f avx512_bf16 amx_bf16\n")
    assert hardware._cpuinfo_flags(str(avx2)) == {"fpu", "sse", "avx2", "fma"}
    assert hardware.BF16_FLAGS & hardware._cpuinfo_flags(str(amx))
    assert not hardware.BF16_FLAGS & hardware._cpuinfo_flags(str(avx2))
    assert hardware._cpuinfo_flags(str(tmp_path / "missing")) == frozenset()


def test_cpu_without_native_bf16_plans_float32_everywhere(cpu):
    cpu(False)
    plan = build_plan(load_study())
    assert plan.engine["dtype"] == "float32"
    assert {a.spec.engine.dtype for a in plan.all() if hasattr(a.spec, "engine")} == {"float32"}
    assert {a.spec.precision for a in plan.stage("finetuned").values()} == {"fp32"}
    assert {a.spec.precision for a in plan.stage("policies").values()} == {"fp32"}
    assert plan.warnings == []


def test_cpu_with_native_bf16_plans_bf16_and_keys_differ(cpu):
    cpu(False)
    slow = build_plan(load_study())
    cpu(True)
    fast = build_plan(load_study())
    assert fast.engine["dtype"] == "bfloat16"
    assert {a.spec.precision for a in fast.stage("policies").values()} == {"bf16"}
    # another dtype is another artifact; models and the task do not depend on it
    assert slow.evaluations["gemma3-270m"].key != fast.evaluations["gemma3-270m"].key
    assert slow.task.key == fast.task.key
    assert [m.key for m in slow.models.values()] == [m.key for m in fast.models.values()]


def test_gpu_studies_resolve_to_bf16_whatever_the_cpu(cpu):
    cpu(False)
    plan = build_plan(deep_merge(load_study(), {"conda_env": "gpu"}))
    assert plan.engine["dtype"] == "bfloat16"
    assert {a.spec.precision for a in plan.stage("finetuned").values()} == {"bf16"}
    assert plan.warnings == []


def test_forced_bf16_on_a_cpu_without_it_warns_with_the_cost(cpu):
    cpu(False)
    config = load_study()
    config = deep_merge(config, {"engine": {"dtype": "bfloat16"}, "preference": {"precision": "bf16"}})
    plan = build_plan(config)
    assert plan.engine["dtype"] == "bfloat16"  # forced is forced: the user may mean it
    assert len(plan.warnings) == 2
    assert plan.warnings[0].startswith("engine.dtype: bfloat16 on a CPU without native bf16")
    assert "100x slower" in plan.warnings[0]
    assert plan.warnings[1].startswith("preference.precision: bf16")
    cpu(True)
    assert build_plan(config).warnings == []


def test_forced_float32_never_warns(cpu):
    cpu(False)
    smoke = Path(__file__).resolve().parents[2] / "config/studies/smoke.yaml"
    assert build_plan(load_study([smoke])).warnings == []


def test_a_bf16_job_on_a_cpu_without_it_logs_a_warning(cpu, caplog, monkeypatch):
    """The job checks its own CPU, whatever the planner assumed (ASSAY_CPU_BF16)."""
    cpu(True)  # planned on a machine with native bf16
    monkeypatch.setattr(hardware, "detect_cpu_bf16", lambda: False)  # runs on one without
    with caplog.at_level(logging.WARNING, logger="assay.hardware"):
        hardware.check_job_hardware(uses_bf16=True, on_gpu=False)
        hardware.check_job_hardware(uses_bf16=True, on_gpu=True)
        hardware.check_job_hardware(uses_bf16=False, on_gpu=False)
    assert len(caplog.records) == 1
    assert "without native bf16" in caplog.records[0].getMessage()
    caplog.clear()
    monkeypatch.setattr(hardware, "detect_cpu_bf16", lambda: True)
    with caplog.at_level(logging.WARNING, logger="assay.hardware"):
        hardware.check_job_hardware(uses_bf16=True, on_gpu=False)
    assert not caplog.records


def test_jobs_plan_with_the_submitting_machines_answer(cpu, monkeypatch):
    """A cluster node without native bf16 still finds the keys the submitting machine
    planned (the workflow exports its answer as ASSAY_CPU_BF16)."""
    monkeypatch.setattr(hardware, "detect_cpu_bf16", lambda: False)
    cpu(True)
    on_node = build_plan(load_study())
    monkeypatch.delenv("ASSAY_CPU_BF16")
    monkeypatch.setattr(hardware, "detect_cpu_bf16", lambda: True)
    submitted = build_plan(load_study())
    assert [a.key for a in on_node.all()] == [a.key for a in submitted.all()]
    common = (Path(__file__).resolve().parents[2] / "rules" / "common.smk").read_text()
    assert 'os.environ.setdefault("ASSAY_CPU_BF16", "1" if detect_cpu_bf16() else "0")' in common
    assert common.index("ASSAY_CPU_BF16") < common.index("build_plan(config)")


def test_training_resolves_auto_for_the_job_machine(cpu, monkeypatch):
    from assay import training

    monkeypatch.setattr(training, "on_gpu", lambda: False)
    cpu(False)
    assert training.trainer_flags("auto") == {"use_cpu": True, "bf16": False, "gradient_checkpointing": False}
    cpu(True)
    assert training.trainer_flags("auto")["bf16"] is True
    assert training.trainer_flags("fp32")["bf16"] is False


def test_manifest_records_the_hardware(tmp_path, monkeypatch):
    from assay.artifacts import ArtifactRef, publish, read_manifest

    monkeypatch.setattr(hardware, "detect_cpu_bf16", lambda: False)
    ref = ArtifactRef("tasks", "0" * 16, {}, {}, tmp_path / "store" / "tasks" / ("0" * 16))
    with publish(ref):
        pass
    assert read_manifest(ref.path)["hardware"]["cpu_native_bf16"] is False
