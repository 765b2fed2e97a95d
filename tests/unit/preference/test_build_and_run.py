"""Pairs table, a training run with tracking, and the displacement table, on a tiny model."""

import json

import numpy as np
import pandas as pd
import pytest

from assay.errors import DataError
from assay.preference.ches import ches_scores
from assay.preference.displacement import TrainedRun, displacement_table
from assay.preference.policies import train_policy
from assay.preference.preferences import build_preferences, split_heldout
from assay.preference.spec import FileSource, HubSource, SamplesSource


@pytest.fixture
def tokenizer(tiny_checkpoint):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_checkpoint)


def train_split(n=6):
    return pd.DataFrame(
        {
            "id": [f"t{i}" for i in range(n)],
            "question": [f"what is {i} + 1 ?" for i in range(n)],
            "answer": [str(i + 1) for i in range(n)],
            "solution": [f"{i} + 1 = {i + 1}.\n#### {i + 1}" for i in range(n)],
            "difficulty": [1] * n,
        }
    )


def test_pairs_from_samples_use_the_rendered_sampling_prompt(tokenizer):
    samples = pd.DataFrame(
        {
            "query_id": ["t3", "t3", "t4", "t4", "t5"],
            "sample_index": [0, 1, 0, 1, 0],
            "text": ["#### 4", "#### 9", "#### 5", "#### 1", "#### 6"],
            "correct": [True, False, True, False, True],
        }
    )
    spec = {"shots": 2, "model_kind": "instruct", "answer_format": "number"}
    pairs, counts = build_preferences(
        SamplesSource("samples", "random", 1), tokenizer, 0.5, 0, samples, train_split(), spec
    )
    assert counts["kept"] == 2 and counts["without_pair"] == 1
    assert counts["train_pairs"] == 1 and counts["heldout_pairs"] == 1
    prompt = pairs.set_index("query_id").loc["t3", "prompt"]
    # the chat template renders the few-shot turns and ends with the generation prompt
    assert "what is 0 + 1 ?" in prompt and prompt.endswith("what is 3 + 1 ?\nassistant:")
    assert list(pairs.columns) == ["pair_id", "prompt", "chosen", "rejected", "source", "query_id", "split"]


def test_user_file_drops_and_counts_bad_rows(tokenizer, tmp_path):
    path = tmp_path / "prefs.jsonl"
    pd.DataFrame(
        {
            "prompt": ["a", "b", "c", "d"],
            "chosen": ["yes", "", "same", "good"],
            "rejected": ["no", "x", "same", "bad"],
        }
    ).to_json(path, orient="records", lines=True)
    pairs, counts = build_preferences(FileSource("file", str(path), "", None), tokenizer, 0.0, 0)
    assert counts["dropped_empty"] == 1 and counts["dropped_same"] == 1 and counts["kept"] == 2
    assert pairs["prompt"].iloc[0] == "user: a\nassistant:"
    assert (pairs["split"] == "train").all()


def test_too_few_pairs_is_a_clear_error(tokenizer, tmp_path):
    path = tmp_path / "prefs.parquet"
    pd.DataFrame({"prompt": ["a"], "chosen": ["x"], "rejected": ["y"]}).to_parquet(path)
    with pytest.raises(DataError, match="only 1 pair"):
        build_preferences(FileSource("file", str(path), "", None), tokenizer, 0.2, 0)


def test_heldout_split_is_seeded_and_keeps_a_training_pair():
    pairs = pd.DataFrame({"pair_id": list("abcde")})
    first, again = split_heldout(pairs, 0.4, 3), split_heldout(pairs, 0.4, 3)
    assert (first["split"] == "heldout").sum() == 2
    assert first["split"].tolist() == again["split"].tolist()
    assert (split_heldout(pairs.head(2), 0.9, 0)["split"] == "train").sum() == 1


def tiny_pairs(n=6):
    return pd.DataFrame(
        {
            "pair_id": [f"pair-{i}" for i in range(n)],
            "prompt": ["question : what is 1 + 2 ? answer :"] * n,
            "chosen": [" 3"] * n,
            "rejected": [" 7"] * n,
            "source": "test",
            "query_id": None,
            "split": ["train"] * (n - 2) + ["heldout"] * 2,
        }
    )


@pytest.mark.parametrize("variant", ["sigmoid", "simpo"])
def test_training_run_writes_tracked_logs_and_a_loadable_checkpoint(
    tiny_checkpoint, tmp_path, variant, spec_of
):
    from transformers import AutoModelForCausalLM

    pairs = tiny_pairs()
    spec = spec_of(
        "policies",
        variant=variant,
        simpo_gamma=0.5 if variant == "simpo" else None,
        learning_rate=5e-2,
        batch_size=2,
        epochs=2,
        lora=True,
        beta=0.5,
        max_steps=None,
        precision="fp32",
        track_every=1,
        save_dtype="float32",
    )
    fields = train_policy(tiny_checkpoint, pairs, ["pair-0", "pair-1", "pair-2"], spec, tmp_path)
    assert fields["train_pairs"] == 3 and fields["steps"] == 4 and fields["heldout_pairs"] == 2
    logprobs = pd.read_parquet(tmp_path / "logprobs.parquet")
    assert sorted(logprobs["step"].unique()) == [0, 1, 2, 3, 4]
    assert set(logprobs["split"]) == {"train", "heldout"}
    start, end = logprobs[logprobs["split"] == "train"].iloc[[0, -1]].itertuples()
    assert end.margin > start.margin  # the preference was learned
    per_pair = pd.read_parquet(tmp_path / "per_pair.parquet")
    assert len(per_pair) == len(pairs) and {"logp_chosen_before", "logp_chosen_after"} <= set(per_pair)
    assert not pd.read_parquet(tmp_path / "train_log.parquet").empty
    assert not (tmp_path / "trainer-scratch").exists()
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "checkpoint")  # merged: no adapter files
    assert not (tmp_path / "checkpoint" / "adapter_config.json").exists() and model is not None


@pytest.mark.parametrize("scored_by", ["policies", "ches"])
def test_bf16_scores_before_during_and_after_training_are_computed_alike(
    tiny_checkpoint, tmp_path, spec_of, scored_by
):
    """With a learning rate of 0 the policy never moves, so every score of a pair must stay
    what it was: before, at each tracked step (inside the trainer's bf16 autocast) and
    after. Scoring the start in fp32 and the rest in bf16 broke this by the bf16 rounding.
    The start is scored by the policies job itself or, as in the workflow, by the ches job
    (another process, the model loaded as the policies job loads it)."""
    from assay.preference.tracking import sequence_logprobs
    from assay.training import load_trainable

    pairs = tiny_pairs()
    before = None
    if scored_by == "ches":
        model, tokenizer = load_trainable(tiny_checkpoint, "bf16")
        before = sequence_logprobs(model, tokenizer, pairs, precision="bf16")
    spec = spec_of(
        "policies",
        variant="sigmoid",
        learning_rate=0.0,
        batch_size=2,
        epochs=1,
        lora=True,
        max_steps=None,
        precision="bf16",
        track_every=1,
        save_dtype="float32",
    )
    train_policy(tiny_checkpoint, pairs, ["pair-0", "pair-1", "pair-2"], spec, tmp_path, before)
    per_pair = pd.read_parquet(tmp_path / "per_pair.parquet")
    if before is not None:
        assert per_pair["logp_chosen_before"].tolist() == before["logp_chosen"].tolist()
    for side in ("chosen", "rejected"):
        before, after = per_pair[f"logp_{side}_before"], per_pair[f"logp_{side}_after"]
        assert after.to_numpy() == pytest.approx(before.to_numpy(), abs=1e-4)
    logprobs = pd.read_parquet(tmp_path / "logprobs.parquet")
    for _, split in logprobs.groupby("split"):
        assert split["step"].nunique() > 2
        assert split["logp_chosen"].to_numpy() == pytest.approx(split["logp_chosen"].iloc[0], abs=1e-4)


def test_starting_logprobs_of_other_pairs_are_refused(tiny_checkpoint, tmp_path, spec_of):
    pairs = tiny_pairs()
    before = pd.DataFrame({"pair_id": ["pair-0"], "logp_chosen": [-1.0], "logp_rejected": [-2.0]})
    spec = spec_of("policies", variant="sigmoid", batch_size=2, lora=True, precision="fp32")
    with pytest.raises(ValueError, match="do not cover the pairs"):
        train_policy(tiny_checkpoint, pairs, ["pair-0", "pair-1"], spec, tmp_path, before)


def test_displacement_table_from_per_pair_logprobs_and_ches(tiny_checkpoint):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint)
    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    pairs = tiny_pairs().assign(chosen=[" 3", " 3 3", " 42", " 1", " 2", " 3"])
    ches = ches_scores(model, tokenizer, pairs)
    per_pair = pd.DataFrame(
        {
            "pair_id": pairs["pair_id"],
            "split": pairs["split"],
            "logp_chosen_before": [-1.0, -2.0, -3.0, -4.0, -1.0, -1.0],
            "logp_rejected_before": [-1.0] * 6,
            "logp_chosen_after": [-1.5, -2.0, -2.0, -5.0, -2.0, -1.0],
            "logp_rejected_after": [-3.0] * 6,
        }
    )
    run = TrainedRun("dpo-all", "sigmoid", "all", per_pair, pd.DataFrame(), {"steps": 3}, accuracy_after=0.2)
    row = displacement_table([run], ches, accuracy_before=0.1).iloc[0]
    assert row["train_pairs"] == 4
    assert row["delta_logp_chosen"] == pytest.approx((-0.5 + 0 + 1 - 1) / 4)
    assert row["delta_logp_rejected"] == pytest.approx(-2.0)
    assert row["share_chosen_fell"] == pytest.approx(0.5)
    assert row["heldout_share_chosen_fell"] == pytest.approx(0.5)
    assert -1 <= row["spearman_ches"] <= 1 and row["accuracy_after"] == 0.2
    assert row["spearman_ches_low"] <= row["spearman_ches"] <= row["spearman_ches_high"]
    assert row["ches_pairs"] == 6 and -1 <= row["spearman_ches_all"] <= 1  # held-out pairs too
    json.dumps(row.to_dict(), default=str)


def test_bootstrap_interval_of_spearman_covers_a_strong_correlation_and_narrows_with_pairs():
    from assay.preference.displacement import spearman_interval

    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    y = x + rng.normal(scale=0.5, size=400)
    low, high = spearman_interval(x, y)
    assert 0.8 < low < high < 0.95
    few_low, few_high = spearman_interval(x[:20], y[:20])
    assert few_high - few_low > 2 * (high - low)
    assert spearman_interval(x[:2], y[:2]) == (None, None)


def test_several_pairs_per_query_are_distinct_combinations():
    from assay.preference.pairs import pairs_from_samples

    samples = pd.DataFrame(
        {
            "query_id": ["a"] * 5 + ["b"] * 2,
            "text": ["#### 1", "#### 1 ok", "#### 2", "#### 3", "#### 4", "#### 5", "#### 6"],
            "correct": [True, True, False, False, False, True, False],
        }
    )
    pairs, counts = pairs_from_samples(samples, {"a": "pa", "b": "pb"}, "random", 0, per_query=4)
    per_query = pairs.groupby("query_id").size().to_dict()
    assert per_query == {"a": 4, "b": 1} and counts["kept"] == 5
    combos = list(zip(pairs["chosen"], pairs["rejected"]))
    assert len(set(combos)) == len(combos)
    similar, _ = pairs_from_samples(samples, {"a": "pa", "b": "pb"}, "most_similar", 0, per_query=2)
    assert len(similar) == 3


def test_hub_source_in_its_own_layout_becomes_chat_rendered_pairs(tokenizer, repo):
    source = HubSource("hub", str(repo / "tests/fixtures/ultrafeedback"), "train_prefs", None)
    pairs, counts = build_preferences(source, tokenizer, 0.0, 0)
    assert counts["kept"] == 2 and counts["dropped_empty"] == 1 and counts["dropped_same"] == 1
    assert pairs["prompt"].str.startswith("user: ").all() and pairs["prompt"].str.endswith("assistant:").all()
