"""The synthetic-data stages of the smoke run: three methods on the shipped models, scored,
a student fine-tuned on each set and evaluated; the per-study method table."""

import json

import pandas as pd

METHODS = {"bare", "instruct_fewshot", "base_fewshot"}


def _index(run):
    return json.loads((run / "results" / "smoke" / "index.json").read_text())


def test_every_method_writes_items_rejects_and_counts(smoke_run):
    index = _index(smoke_run)
    assert set(index["stages"]["synthetic"]) == METHODS
    for method, entry in index["stages"]["synthetic"].items():
        folder = smoke_run / entry["path"]
        manifest = json.loads((folder / "manifest.json").read_text())
        counts = manifest["counts"]
        items = pd.read_parquet(folder / "items.parquet")
        rejects = pd.read_parquet(folder / "rejects.parquet")
        assert counts["requested"] == 6 == len(pd.read_parquet(folder / "drafts.parquet"))
        assert counts["kept"] == len(items) and counts["rejected"] == len(rejects)
        assert counts["kept"] + counts["rejected"] == 6  # duplicates kept, flagged
        assert items["duplicate"].sum() == counts["duplicates"]
        assert items["repair"].notna().sum() == counts["repaired"]
        assert manifest["spec"]["temperature"] == (1.2 if method == "instruct_fewshot" else 0.7)
        assert (items["method"] == method).all() and items["answer"].notna().all()
        assert rejects["reason"].str.len().gt(0).all()
    bare = index["stages"]["synthetic"]["bare"]
    assert bare["upstream"]["drafts"] == index["stages"]["synthetic"]["base_fewshot"]["key"]
    generator = pd.read_parquet(smoke_run / bare["path"] / "items.parquet")["generator"]
    assert generator.empty or (generator == "gemma3-270m -> smollm2-135m-instruct").all()


def test_scores_finetuned_students_and_the_method_table(smoke_run):
    index = _index(smoke_run)
    for entry in index["stages"]["synthscores"].values():
        scores = json.loads((smoke_run / entry["path"] / "scores.json").read_text())
        assert scores["ir_chance"] == 0.75 and scores["ir_trials"] <= 4
        assert 0 <= scores["ir_parse_failures"] <= scores["ir_trials"]
        assert scores["embedder"] == "all-MiniLM-L6-v2"
        if scores["items"] >= scores["diversity_n"]:
            assert -1 <= scores["cosine_similarity"] <= 1 and 1 <= scores["vendi"] <= scores["diversity_n"]
    for entry in index["stages"]["finetuned"].values():
        folder = smoke_run / entry["path"]
        log = pd.read_parquet(folder / "train_log.parquet")
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest["trained"]:
            assert len(log) == manifest["steps"] == 2 and manifest["items"] > 0
        else:  # a set that kept no item: the student is saved untrained, and says so
            assert manifest["items"] == 0 and manifest["steps"] == 0 and log.empty
        assert (folder / "checkpoint" / "model.safetensors").is_file()
    table = pd.read_csv(smoke_run / "results" / "smoke" / "synthetic.csv")
    assert set(table["method"]) == METHODS and (table["embedder"] == "all-MiniLM-L6-v2").all()
    assert (table["seeds"] == 1).all()
    judged = table[table["ir_trials"] > 0]  # a set that kept no item has no IR trial
    assert (judged["ir_detectable"] > 0).all() and table.loc[table["ir_trials"] == 0, "ir"].isna().all()
    trained = {
        json.loads((smoke_run / e["path"] / "manifest.json").read_text())["trained"]
        for e in index["stages"]["finetuned"].values()
    }
    assert set(table["student_trained"]) == trained
    assert table["accuracy_before"].between(0, 1).all() and table["accuracy_after"].between(0, 1).all()
    bare, base = (table.set_index("method").loc[m] for m in ("bare", "base_fewshot"))
    assert bare["output_tokens"] > base["output_tokens"]  # BARE pays for the drafts it refines
    assert "Synthetic data: BARE" in (smoke_run / "results" / "smoke" / "summary.md").read_text()
