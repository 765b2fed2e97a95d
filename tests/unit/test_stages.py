"""The stage layout: each stage owns a spec (no defaults, its plain dict is what the key
hashes), its planning and its jobs; every rule's script is the same few lines."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import re
from pathlib import Path

import pytest

from assay.config import load_study
from assay.nodes import Spec
from assay.plan import build_plan

REPO = Path(__file__).resolve().parents[2]
STUDIES = [None, *sorted((REPO / "config" / "studies").glob("*.yaml"))]


def all_spec_classes() -> list[type]:
    for module in ("models", "tasks", "evaluate", "compound", "synthetic", "finetune", "preference"):
        importlib.import_module(f"assay.{module}.spec")
    found, todo = [], [Spec]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            found.append(sub)
            todo.append(sub)
    return found


def test_specs_are_frozen_dataclasses_without_defaults():
    classes = all_spec_classes()
    assert len(classes) >= 15
    for cls in classes:
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, cls
        with_default = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        ]
        assert not with_default, f"{cls.__name__} has defaults {with_default}: defaults live in the schema"


@pytest.mark.parametrize("study", STUDIES, ids=lambda s: s.name if s else "config.yaml")
def test_every_spec_round_trips_through_its_plain_dict(study, monkeypatch):
    monkeypatch.setenv("ASSAY_CPU_BF16", "1")
    plan = build_plan(load_study([study] if study else []))
    for artifact in plan.all():
        plain = artifact.params()["spec"]
        again = type(artifact.spec).from_dict(plain)
        assert again == artifact.spec and again.to_dict() == plain, artifact.name


def test_from_dict_refuses_missing_and_unknown_fields():
    from assay.compound.spec import ScalingSpec

    with pytest.raises(ValueError, match=r"missing fields \['dev_share', 'predict_k_max'\]"):
        ScalingSpec.from_dict({"fit_samples": 4})
    with pytest.raises(ValueError, match=r"unknown \['typo'\]"):
        ScalingSpec.from_dict({"fit_samples": 4, "predict_k_max": 10, "typo": 1})


def rules() -> dict[str, str]:
    """rule name -> its script, read from rules/*.smk."""
    found = {}
    for smk in (REPO / "rules").glob("*.smk"):
        for name, script in re.findall(
            r'^rule (\w+):.*?script:\s*"\.\./scripts/(\w+)\.py"', smk.read_text(), re.M | re.S
        ):
            found[name] = script
    return found


def test_every_rule_hands_its_snakemake_object_to_the_stage_job_of_its_name():
    found = rules()
    assert len(found) == 16
    for rule, script in found.items():
        assert script == rule
        source = (REPO / "scripts" / f"{script}.py").read_text()
        assert len(source.splitlines()) <= 8, f"scripts/{script}.py is more than a hand-over"
        tree = ast.parse(source)
        imported = {
            a.name: node.module for node in tree.body if isinstance(node, ast.ImportFrom) for a in node.names
        }
        assert imported.get("run") == "assay.jobs" and rule in imported, script
        module = importlib.import_module(imported[rule])
        assert callable(getattr(module, rule))


def test_rules_are_named_after_their_stage():
    """One vocabulary: a rule's name holds its stage's (store folder) name."""
    from assay.nodes import STAGE_VERSIONS

    stage_of_rule = {}
    for smk in (REPO / "rules").glob("*.smk"):
        for name, body in re.findall(r"^rule (\w+):(.*?)(?=^rule |\Z)", smk.read_text(), re.M | re.S):
            stages = set(re.findall(r'stored\("(\w+)"', body))
            if stages:
                assert len(stages) == 1, name
                stage_of_rule[name] = stages.pop()
    assert set(stage_of_rule.values()) == set(STAGE_VERSIONS)
    for rule, stage in stage_of_rule.items():
        assert stage in rule, f"rule {rule} writes stage {stage}"


def test_a_spec_takes_same_named_settings_from_its_config_sections():
    from assay.compound.spec import VerdictsSpec
    from assay.nodes import EngineFields

    engine = EngineFields("hf", "float32", 0)
    judge, compound = {"max_tokens": 24, "model": None}, {"max_tokens": 64}
    spec = VerdictsSpec.from_sections(judge, compound, judge_kind="instruct", engine=engine)
    assert spec.max_tokens == 24  # the first section that has it
    assert VerdictsSpec.from_sections(judge, judge_kind="base", engine=engine, max_tokens=8).max_tokens == 8
    with pytest.raises(KeyError, match="VerdictsSpec.max_tokens: in no config section"):
        VerdictsSpec.from_sections({}, judge_kind="base", engine=engine)
