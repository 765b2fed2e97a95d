"""The preference stages of the smoke run: pairs from the policy's own train samples, CHES,
DPO on all pairs and on the lowest-CHES half, displacement table, trained policies evaluated."""

import json

import pandas as pd


def _index(run):
    return json.loads((run / "results" / "smoke" / "index.json").read_text())


def test_pairs_come_from_correct_and_incorrect_train_samples(smoke_run):
    index = _index(smoke_run)
    samples_entry = index["stages"]["samples"]["smollm2-135m-instruct@train"]
    samples = pd.read_parquet(smoke_run / samples_entry["path"] / "samples.parquet")
    train = pd.read_parquet(smoke_run / index["stages"]["tasks"]["arithmetic"]["path"] / "train.parquet")
    assert set(samples["query_id"]) <= set(train["id"])
    assert samples_entry["spec"]["split"] == "train"
    pairs_folder = smoke_run / index["stages"]["preferences"]["smollm2-135m-instruct"]["path"]
    pairs = pd.read_parquet(pairs_folder / "pairs.parquet")
    counts = json.loads((pairs_folder / "manifest.json").read_text())["counts"]
    assert counts["kept"] == len(pairs) >= 2
    assert counts["queries_with_pairs"] + counts["without_pair"] == counts["queries"]
    assert pairs.groupby("query_id").size().max() <= 4  # pairs_per_query
    assert not pairs.duplicated(["query_id", "chosen", "rejected"]).any()
    by_text = samples.set_index(["query_id", "text"])["correct"]
    for row in pairs.itertuples():
        assert by_text.loc[(row.query_id, row.chosen)].all()
        assert not by_text.loc[(row.query_id, row.rejected)].any()
        assert row.prompt.rstrip().endswith("assistant")  # SmolLM2's chat template, generation prompt
    assert set(pairs["split"]) <= {"train", "heldout"}


def test_ches_subsets_training_logs_and_the_displacement_table(smoke_run):
    index = _index(smoke_run)
    ches = pd.read_parquet(
        smoke_run / index["stages"]["ches"]["smollm2-135m-instruct"]["path"] / "ches.parquet"
    )
    assert {"ches", "ln_ches", "edit_similarity"} <= set(ches.columns) and ches["ln_ches"].notna().all()
    trained = {}
    for entry in index["stages"]["policies"].values():
        folder = smoke_run / entry["path"]
        manifest = json.loads((folder / "manifest.json").read_text())
        logprobs = pd.read_parquet(folder / "logprobs.parquet")
        assert logprobs["step"].min() == 0 and logprobs["step"].max() == manifest["steps"] == 2
        assert not pd.read_parquet(folder / "train_log.parquet").empty
        assert (folder / "checkpoint" / "model.safetensors").is_file()
        trained[entry["spec"]["subset"]] = manifest["trained_pair_ids"]
    lowest = ches[ches["pair_id"].isin(trained["all"])].nsmallest(len(trained["lowest"]), "ln_ches")
    assert set(trained["lowest"]) == set(lowest["pair_id"])  # the filter keeps the lowest CHES
    table = pd.read_csv(smoke_run / "results" / "smoke" / "preference.csv")
    assert set(table["run"]) == {"dpo-all", "dpo-lowest"}
    assert table["accuracy_after"].between(0, 1).all() and table["accuracy_before"].between(0, 1).all()
    assert table["share_chosen_fell"].between(0, 1).all()
    displacement = smoke_run / index["stages"]["displacement"]["smollm2-135m-instruct"]["path"]
    assert (displacement / "logprob_curves.svg").is_file() and (
        displacement / "ches_vs_displacement.png"
    ).is_file()
