import pandas as pd
import pytest
import torch

from assay.errors import DataError
from assay.preference.ches import ches_from_hidden, ches_scores, select_subset
from assay.preference.pairs import clean_pairs, load_hub_preferences, pairs_from_samples, read_preference_file


def test_ultrafeedback_fixture_in_its_own_format(repo):
    raw = load_hub_preferences(str(repo / "tests/fixtures/ultrafeedback"), "train_prefs")
    pairs, counts = clean_pairs(raw, "ultrafeedback", "ultrafeedback")
    assert counts == {"rows": 4, "kept": 2, "dropped_empty": 1, "dropped_same": 1}
    assert pairs["chosen"].iloc[0].startswith("Place the egg") and pairs["rejected"].iloc[1] == "Hola."
    assert list(pairs.columns) == ["pair_id", "prompt", "chosen", "rejected", "source"]


def test_user_file_missing_a_column_names_it(tmp_path):
    path = tmp_path / "prefs.jsonl"
    pd.DataFrame({"prompt": ["p"], "chosen": ["a"], "loser": ["b"]}).to_json(
        path, orient="records", lines=True
    )
    with pytest.raises(DataError, match=r"prefs.jsonl: missing column\(s\) \['rejected'\]"):
        clean_pairs(read_preference_file(path), str(path), "file")


def test_pairs_from_samples_by_rule():
    samples = pd.DataFrame(
        {
            "query_id": ["q1"] * 4 + ["q2"] * 2,
            "sample_index": [0, 1, 2, 3, 0, 1],
            "text": [
                "3 + 4 = 7.\n#### 7",
                "3 + 4 = 8.\n#### 8",
                "no idea at all",
                "3 + 4 = 7.\n#### 7",
                "a",
                "b",
            ],
            "correct": [True, False, False, True, False, False],
        }
    )
    prompts = {"q1": "Q1", "q2": "Q2"}
    most, counts = pairs_from_samples(samples, prompts, "most_similar")
    least, _ = pairs_from_samples(samples, prompts, "least_similar")
    assert counts == {"queries": 2, "kept": 1, "queries_with_pairs": 1, "without_pair": 1}
    assert most["rejected"].iloc[0] == "3 + 4 = 8.\n#### 8" and least["rejected"].iloc[0] == "no idea at all"
    with pytest.raises(DataError, match="pairing rule"):
        pairs_from_samples(samples, prompts, "closest")


def test_ches_formulas_against_direct_sums():
    h_plus = torch.tensor([[1.0, 0.0], [1.0, 2.0]])
    h_minus = torch.tensor([[0.0, 1.0], [2.0, 1.0], [1.0, 1.0]])
    s_plus, s_minus = torch.tensor([2.0, 2.0]), torch.tensor([3.0, 3.0])
    ches, ln = ches_from_hidden(h_plus, h_minus)
    assert ches == pytest.approx(float(s_plus @ s_minus - s_plus @ s_plus))  # 12 - 8
    assert ln == pytest.approx(12 / (2 * 3) - 8 / 4)


def test_ches_on_a_tiny_model_matches_a_direct_computation(tiny_checkpoint):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    pairs = pd.DataFrame(
        {
            "pair_id": ["a", "b"],
            "prompt": ["question : what is 1 + 2 ?", "the answer is"],
            "chosen": [" answer : 3", " 42"],
            "rejected": [" answer : 7 # # #", " 1 + 2"],
        }
    )
    scores = ches_scores(model, tokenizer, pairs, batch_size=2).set_index("pair_id")
    for row in pairs.itertuples():  # TRL's sequences: prompt + response + EOS, tokenised as one
        prompt_ids = tokenizer(row.prompt)["input_ids"]
        sums = []
        for response in (row.chosen, row.rejected):
            ids = tokenizer(row.prompt + response + tokenizer.eos_token)["input_ids"]
            assert ids[: len(prompt_ids)] == prompt_ids
            with torch.no_grad():
                hidden = model(torch.tensor([ids]), output_hidden_states=True).hidden_states[-1][0]
            sums.append(
                (hidden[len(prompt_ids) - 1 : len(ids) - 1].double().sum(0), len(ids) - len(prompt_ids))
            )
        (s_plus, n_plus), (s_minus, n_minus) = sums
        expected = float(s_plus @ s_minus - s_plus @ s_plus)
        assert scores.loc[row.pair_id, "ches"] == pytest.approx(expected, rel=1e-4, abs=1e-3)
        assert scores.loc[row.pair_id, "chosen_tokens"] == n_plus
        assert scores.loc[row.pair_id, "rejected_tokens"] == n_minus
    cut = ches_scores(model, tokenizer, pairs, batch_size=2, max_length=10).set_index("pair_id")
    assert (cut["chosen_tokens"] <= scores["chosen_tokens"]).all()  # truncation as the trainer's
    assert (cut["chosen_tokens"] < scores["chosen_tokens"]).any()
    gone = ches_scores(model, tokenizer, pairs.head(1), max_length=8)  # the prompt fills it
    assert gone["chosen_tokens"].iloc[0] == 0 and pd.isna(gone["ln_ches"].iloc[0])


def test_subset_selection():
    scores = pd.DataFrame({"pair_id": list("abcdef"), "ln_ches": [5.0, -1.0, 3.0, 0.0, 9.0, 2.0]})
    assert select_subset(scores, "lowest", 0.5) == ["b", "d", "f"]
    assert select_subset(scores, "highest", 0.34) == ["e", "a"]
    assert len(select_subset(scores, "all", 0.1)) == 6
    assert select_subset(scores, "random", 0.5, seed=1) == select_subset(scores, "random", 0.5, seed=1)
    assert len(select_subset(scores, "random", 0.5)) == 3
    with pytest.raises(ValueError, match="subset"):
        select_subset(scores, "middle", 0.5)
