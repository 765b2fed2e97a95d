"""The default study's rules, run for real through Snakemake on the shipped models."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import pandas as pd
import pytest
import yaml

from assay.allocator import find_tcmalloc
from assay.artifacts import artifact_key, iter_artifacts, leftovers
from assay.plan import STAGE_VERSIONS

pytestmark = pytest.mark.integration


def _index(workdir):
    return json.loads((workdir / "results" / "smoke" / "index.json").read_text())


def test_smoke_study_writes_every_artifact_with_its_manifest(smoke_run):
    index = _index(smoke_run)
    assert set(index["stages"]) == {
        "models",
        "tasks",
        "evaluate",
        "samples",
        "verdicts",
        "scaling",
        "assembled",
        "selection",
        "preferences",
        "ches",
        "policies",
        "displacement",
        "synthetic",
        "synthscores",
        "finetuned",
    }
    found = {p.name for p in iter_artifacts(smoke_run / "artifacts")}
    named = {entry["key"] for stage in index["stages"].values() for entry in stage.values()}
    # models, task, evaluations (2 models, 2 policies, 3 students), samples (test, train),
    # verdicts, scaling, assembled, selection, preference stages, synthetic stages
    expected = 2 + 1 + (2 + 2 + 3) + (1 + 1) + 1 + 1 + 1 + 1 + (1 + 1 + 2 + 1) + (3 + 3 + 3)
    assert found == named and len(found) == expected
    for stage in index["stages"].values():
        for entry in stage.values():
            manifest = json.loads((smoke_run / entry["path"] / "manifest.json").read_text())
            assert manifest["key"] == entry["key"]
            recomputed = artifact_key(
                manifest["stage"], STAGE_VERSIONS[manifest["stage"]], manifest["spec"], manifest["upstream"]
            )
            assert recomputed == manifest["key"]
            assert manifest["versions"]["torch"] and manifest["wall_time_s"] > 0 and manifest["created"]
            # every job ran with the allocator the workflow preloads where the machine has it
            assert manifest["allocator"] == ("tcmalloc" if find_tcmalloc() else "system"), entry
    assert leftovers(smoke_run / "artifacts") == []


def test_checkpoints_tasks_and_evaluations_hold_what_they_promise(smoke_run):
    index = _index(smoke_run)
    for entry in index["stages"]["models"].values():
        checkpoint = smoke_run / entry["path"] / "checkpoint"
        assert (checkpoint / "model.safetensors").is_file() and (checkpoint / "tokenizer.json").is_file()
        assert (checkpoint / "generation_config.json").is_file()
    smol = smoke_run / index["stages"]["models"]["smollm2-135m-instruct"]["path"] / "checkpoint"
    assert (
        "chat_template" in (smol / "tokenizer_config.json").read_text()
        or (smol / "chat_template.jinja").exists()
    )
    task = smoke_run / index["stages"]["tasks"]["arithmetic"]["path"]
    assert [len(pd.read_parquet(task / f"{s}.parquet")) for s in ("train", "dev", "test")] == [40, 2, 10]
    for name, entry in index["stages"]["evaluate"].items():
        folder = smoke_run / entry["path"]
        results = pd.read_parquet(folder / "results.parquet")
        assert list(results.columns) == [
            "id",
            "difficulty",
            "answer",
            "output",
            "predicted",
            "correct",
            "output_tokens",
        ]
        assert len(results) == 10 and results["output_tokens"].gt(0).all()
        accuracy = json.loads((folder / "accuracy.json").read_text())
        assert accuracy["correct"] == results["correct"].sum()
        assert sum(cell["n"] for cell in accuracy["by_difficulty"].values()) == 10
        manifest = json.loads((folder / "manifest.json").read_text())
        assert (
            manifest["engine"] == "hf"
            and manifest["upstream"]["model"]
            == {
                **index["stages"]["models"],
                **index["stages"]["policies"],
                **index["stages"]["finetuned"],
            }[name]["key"]
        )
    table = pd.read_csv(smoke_run / "results" / "smoke" / "accuracy_by_difficulty.csv")
    assert set(table["model"]) == set(index["stages"]["evaluate"])


def test_the_models_convert_side_by_side(smoke_run):
    """A conversion runs on one core (the rule's one thread), so on the smoke run's 2 cores
    the study's two models convert at the same time, not one after the other."""
    spans = []
    for folder in iter_artifacts(smoke_run / "artifacts"):
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest["stage"] == "models":
            end = datetime.fromisoformat(manifest["created"])  # whole seconds, rounded down
            spans.append((end - timedelta(seconds=manifest["wall_time_s"]), end))
    assert len(spans) == 2
    (_, first_end), (second_start, _) = sorted(spans)
    # side by side, the second starts within a second of the first, which takes 10 s or more
    assert second_start + timedelta(seconds=5) < first_end, f"one conversion after the other: {spans}"


def test_rerun_executes_nothing(smoke_run, smoke_study, dry_run):
    started = time.time()
    assert dry_run(smoke_run, (smoke_study,)) == {}
    print(f"no-op dry run took {time.time() - started:.1f} s")


def test_settings_outside_the_keys_rerun_nothing(smoke_run, smoke_study, tmp_path, dry_run):
    """Engine sharing and the CPU KV cache change speed, not results: no key holds them, but
    they travel in the rules' params, and Snakemake's params trigger reran every finished
    job of a store when one changed (the profiles leave that trigger out)."""
    config = yaml.safe_load(smoke_study.read_text())
    config.setdefault("engine", {}).update(share=False, share_idle_s=1234, kv_cache_gb=2)
    changed = tmp_path / "speed.yaml"
    changed.write_text(yaml.safe_dump(config))
    assert dry_run(smoke_run, (smoke_study, changed)) == {}


def test_second_study_on_the_same_store_runs_only_its_new_jobs(smoke_run, smoke_study, tmp_path, dry_run):
    config = yaml.safe_load(smoke_study.read_text())
    config["study"] = "smoke-fewer-items"
    config["evaluate"]["limit"] = 4
    second = tmp_path / "second.yaml"
    second.write_text(yaml.safe_dump(config))
    assert dry_run(smoke_run, (smoke_study, second)) == {
        "evaluate": 7,  # two study models, two trained policies, three fine-tuned students
        "measure_displacement": 1,  # its table holds the policies' accuracies
        "index_study": 1,
        "all": 1,
    }


def _write_study(tmp_path, body: dict):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


@pytest.mark.parametrize(
    "body, message",
    [
        ({"evaluate": {"models": ["nope"]}}, "evaluate.models[0]: unknown model 'nope'"),
        ({"evaluate": {"limit": "ten"}}, "'ten' is not of type"),
        ({"task": {"levels": 0}}, "0 is less than the minimum of 1"),
        ({"models": [{"name": "x", "source": "not-a-model"}]}, "models[0].source: unknown model source"),
    ],
)
def test_bad_config_fails_before_running_and_names_the_field(
    tmp_path, smoke_study, body, message, run_workflow
):
    result = run_workflow(tmp_path, "-n", configfiles=(smoke_study, _write_study(tmp_path, body)))
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "artifacts").exists()


def test_data_file_missing_a_column_fails_and_leaves_nothing(tmp_path, tiny_checkpoint, run_workflow):
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "dev", "test"):
        rows = pd.DataFrame({"question": ["q1", "q2", "q3"], "answer": ["1", "2", "3"]})
        if split == "test":
            rows = rows.rename(columns={"answer": "label"})
        rows.to_json(data / f"{split}.jsonl", orient="records", lines=True)
    study = _write_study(
        tmp_path,
        {
            "study": "broken",
            "models": [{"name": "tiny", "source": str(tiny_checkpoint)}],
            "task": {"name": "file", "source": str(data), "train_size": 3},
            "compound": {"enabled": False},
            "synthetic": {"enabled": False},
            "preference": {"enabled": False},
        },
    )
    result = run_workflow(tmp_path, configfiles=(study,))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "test.jsonl: missing column(s) ['answer']" in output
    store = tmp_path / "artifacts"
    assert {p.parent.name for p in iter_artifacts(store)} == {"models"}  # the task was never published
    assert not any((store / ".tmp").iterdir())  # the failed job's staging folder is gone
    assert not [p for p in (store / "tasks").rglob("*") if p.is_file()]  # nothing half-written


def test_compound_stage_tables_and_figures(smoke_run):
    index = _index(smoke_run)
    for name in index["stages"]["scaling"]:
        entry = index["stages"]["samples"][name]
        samples = pd.read_parquet(smoke_run / entry["path"] / "samples.parquet")
        assert samples.groupby("query_id").size().eq(6).all() and samples["query_id"].nunique() == 4
        verdicts = pd.read_parquet(smoke_run / index["stages"]["verdicts"][name]["path"] / "verdicts.parquet")
        assert len(verdicts) == len(samples)
        scaling = smoke_run / index["stages"]["scaling"][name]["path"]
        curves = pd.read_parquet(scaling / "vote_curves.parquet")
        assert sorted(curves[curves["method"] == "vote"]["k"]) == list(range(1, 7))
        summary = json.loads((scaling / "scaling.json").read_text())
        assert summary["pool_size"] == 6 and summary["fit_samples"] == 3
        for prefix in ("", "filter_vote_"):
            for predictor in ("law", "two_level", "bayes"):
                assert 1 <= summary[f"{prefix}{predictor}_k_star"] <= 50
                assert summary[f"{prefix}{predictor}_accuracy_lost"] >= 0
        assert 0 <= summary["threshold"] <= 1 and summary["dev_queries"] == 2
        assert verdicts["confidence"].between(0, 1).all()
        assembled = smoke_run / index["stages"]["assembled"][name]["path"]
        system = json.loads((assembled / "system.json").read_text())
        assert system["judge"]["threshold"] == summary["threshold"] and system["predictor"] == "bayes"
        check = pd.read_parquet(assembled / "check.parquet")
        tested = set(check["query_id"])
        assert len(tested) == 3 and not tested & set(samples["query_id"])  # fresh queries only
        for cell in json.loads((assembled / "check.json").read_text()).values():
            assert 1 <= cell["k"] <= 6 and cell["queries"] == 3
            assert cell["calls_spent"] == 3 * cell["calls_per_query"]
            assert 0 <= cell["achieved_accuracy"] <= 1 and 0 <= cell["predicted_accuracy"] <= 1
        for figure in ("vote_curves", "difficulty"):
            assert (scaling / f"{figure}.svg").stat().st_size > 0 and (
                scaling / f"{figure}.png"
            ).stat().st_size > 0
    selection = smoke_run / index["stages"]["selection"]["self_refine"]["path"]
    outputs = pd.read_parquet(selection / "system_outputs.parquet")
    assert outputs["allocation"].nunique() == 8 and outputs["query_id"].nunique() == 5
    allocations = pd.read_parquet(selection / "allocations.parquet")
    assert {"llm_selector", "exhaustive"} <= set(allocations["method"])
    results = smoke_run / "results" / "smoke"
    assert (
        len(pd.read_csv(results / "call_scaling.csv")) == 6  # (vote, filter_vote) x 3 predictors
        and len(pd.read_csv(results / "allocations.csv")) == 4
        and len(pd.read_csv(results / "systems.csv")) == 2
        and len(pd.read_csv(results / "verifier.csv")) == 1
    )
    assert "## Provenance" in (results / "summary.md").read_text()


def test_a_study_that_changes_schedules_its_new_jobs_under_the_same_name(
    smoke_run, smoke_study, tmp_path, dry_run
):
    """Snakemake does not rerun a present target for missing inputs: the plan marker makes
    a changed study (same name, same results folder) schedule exactly its new jobs."""
    config = yaml.safe_load(smoke_study.read_text())
    config["synthetic"]["n"] = 5
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(config))
    jobs = dry_run(smoke_run, (smoke_study, changed))
    assert jobs == {
        "generate_synthetic": 3,
        "score_synthscores": 3,
        "train_finetuned": 3,
        "evaluate": 3,
        "index_study": 1,
        "all": 1,
    }


def test_a_trained_policy_joins_the_selectors_pool(smoke_run, smoke_study, tmp_path, run_workflow, dry_run):
    """The selector's pool names a checkpoint the study trains: only the new selection runs,
    and it reads the trained checkpoint like a study model."""
    config = yaml.safe_load(smoke_study.read_text())
    trained = "smollm2-135m-instruct+dpo-all"
    config["compound"]["selector"]["models"] = ["smollm2-135m-instruct", trained]
    pooled = tmp_path / "pooled.yaml"
    pooled.write_text(yaml.safe_dump(config))
    assert dry_run(smoke_run, (smoke_study, pooled)) == {"run_selection": 1, "index_study": 1, "all": 1}
    result = run_workflow(smoke_run, configfiles=(smoke_study, pooled))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    index = _index(smoke_run)
    selection = smoke_run / index["stages"]["selection"]["self_refine"]["path"]
    manifest = json.loads((selection / "manifest.json").read_text())
    assert manifest["spec"]["models"] == {"smollm2-135m-instruct": "instruct", trained: "instruct"}
    allocations = pd.read_parquet(selection / "allocations.parquet")
    assert f"single:{trained}" in set(allocations["method"])


def test_a_pool_member_that_is_neither_a_model_nor_trained_is_refused(smoke_study, tmp_path, run_workflow):
    config = yaml.safe_load(smoke_study.read_text())
    config["compound"]["selector"]["models"] = ["smollm2-135m-instruct", "no-such+dpo"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = run_workflow(tmp_path, "-n", configfiles=(smoke_study, bad))
    assert result.returncode != 0
    assert "compound.selector.models[1]: 'no-such+dpo' is neither a model of the study" in (
        result.stdout + result.stderr
    )
