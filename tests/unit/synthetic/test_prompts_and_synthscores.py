"""BARE prompts and parsing, diversity measures against hand computations, IR, validity."""

import math

import numpy as np
import pandas as pd
import pytest

from assay.errors import DataError
from assay.synthetic.generate import assemble, choose_examples
from assay.synthetic.prompts import END, START, STOP, base_draft, base_prompt, parse_item, refine_prompt
from assay.synthetic.synthscores import (
    distinct_n,
    indistinguishability,
    ir_trials,
    mean_pairwise_cosine,
    parse_pick,
    solution_is_valid,
    validity,
    vendi_score,
)

EXAMPLES = [
    {"id": "a", "question": "Ann has 2 pens. She buys 3 more. How many?", "solution": "2 + 3 = 5.\n#### 5"},
    {"id": "b", "question": "Bo has 9 figs. He eats 4. How many?", "solution": "9 - 4 = 5.\n#### 5"},
    {"id": "c", "question": "Cy has 3 bags of 4. How many?", "solution": "3 * 4 = 12.\n#### 12"},
]


def test_base_prompt_has_closed_example_blocks_and_one_open_block():
    prompt = base_prompt(EXAMPLES)
    assert prompt.count(START) == 4 and prompt.count(END) == 3
    assert prompt.endswith(f"{START}\nQuestion:")
    assert STOP == (END,)
    for example in EXAMPLES:
        assert f"{START}\nQuestion: {example['question']}\nAnswer: {example['solution']}\n{END}" in prompt


def test_refine_prompt_carries_examples_draft_and_the_papers_instructions():
    [message] = refine_prompt(EXAMPLES, "Question: Dee has 1 cat.\nAnswer: 1 + 1 = 2\n#### 2")
    text = message["content"]
    assert message["role"] == "user" and text.count(f"{START}\nQuestion:") == 4  # 3 examples + the draft
    assert text.endswith(f"Draft:\n{START}\nQuestion: Dee has 1 cat.\nAnswer: 1 + 1 = 2\n#### 2\n{END}")
    for phrase in (
        "closer in style",
        "unambiguous",
        "correct any errors",
        "do not change its theme",
        "Output only",
    ):
        assert phrase in text


def test_parse_good_and_malformed_drafts():
    good = parse_item(base_draft(" Eve has 4 hats.\nAnswer: 4 + 1 = 5.\n#### 5\nEXAMPLE END"))
    assert (good.question, good.solution, good.answer) == ("Eve has 4 hats.", "4 + 1 = 5.\n#### 5", "5")
    wrapped = parse_item(f"Sure!\n{START}\nQuestion: Q?\nAnswer: 2 * 3 = 6\n#### 6\n{END}\nmore text")
    assert wrapped.answer == "6" and wrapped.question == "Q?"
    runaway = parse_item("Question: Leo has 1.\nAnswer: 1 + 1 = 2\n#### 2\nEXAMPLE START\nQuestion: more")
    assert runaway.question == "Leo has 1." and runaway.answer == "2"
    assert base_draft(" A?\nAnswer: 1\nEXAMPLE START\nQuestion: B") == "Question: A?\nAnswer: 1"
    assert parse_item("   ").reject == "empty"
    assert parse_item("Eve has 4 hats.").reject == "no 'Question:' field"
    assert parse_item("Question: Eve has 4 hats.").reject == "no 'Answer:' field"
    assert parse_item("Question: Eve?\nAnswer: five").reject == "no final '#### <number>' line"
    assert parse_item("Question: \nAnswer: #### 5").reject == "empty question"


def test_assemble_keeps_rejects_with_reasons_and_counts_duplicates(spec_of):
    outputs = pd.DataFrame(
        {
            "draft_index": [0, 1, 2, 3],
            "raw": [
                "Question: A has 1.\nAnswer: 1 + 1 = 2\n#### 2",
                "Question: a  has 1.\nAnswer: 1 + 2 = 3\n#### 3",  # same question, folded
                "gibberish",
                "Question: B has 2.\nAnswer: 2 + 2 = 4\n#### 4",
            ],
            "output_tokens": [10, 10, 3, 10],
        }
    )
    spec = spec_of("synthetic", "base_fewshot", n=4, drop_duplicates=True)
    items, rejects, counts = assemble(outputs, spec, "gemma")
    assert counts == {"requested": 4, "parsed": 3, "repaired": 0, "rejected": 1, "duplicates": 1, "kept": 2}
    assert rejects.iloc[0].to_dict() == {
        "id": "base_fewshot-00002",
        "method": "base_fewshot",
        "text": "gibberish",
        "reason": "no 'Question:' field",
    }
    assert items["id"].tolist() == ["base_fewshot-00000", "base_fewshot-00003"]
    assert items["draft"].notna().all() and items["refinement"].isna().all()
    # by default what was generated is kept: the duplicate is flagged, not dropped
    kept, _, counts = assemble(outputs, spec_of("synthetic", "base_fewshot", n=4), "gemma")
    assert counts["kept"] == 3 and counts["duplicates"] == 1
    assert kept["duplicate"].tolist() == [False, True, False]


def test_near_miss_drafts_are_repaired_and_counted(spec_of):
    assert parse_item("Q: Eve has 4 hats.\nA: 4 + 1 = 5").reject is not None
    fixed = parse_item("Q: Eve has 4 hats and buys 1.\nSolution: 4 + 1 = 5. The answer is 5.", repair=True)
    assert fixed.reject is None and fixed.answer == "5"
    assert fixed.repair == "question label, answer label, final answer line"
    assert fixed.solution.endswith("#### 5")
    stated = parse_item("Question: Eve?\nAnswer: 2 * 3 = 6", repair=True)
    assert stated.answer == "6" and stated.repair == "final answer line"
    # no number stated at the end: still a reject, with the original reason
    assert parse_item("Question: Eve?\nAnswer: five", repair=True).reject == "no final '#### <number>' line"
    assert parse_item("Question: A?\nAnswer: 1 + 1 = 2\n#### 2", repair=True).repair is None
    outputs = pd.DataFrame(
        {"draft_index": [0, 1], "raw": ["Q: A?\nA: 1 + 1 = 2", "nothing"], "output_tokens": [5, 1]}
    )
    items, _, counts = assemble(outputs, spec_of("synthetic", "base_fewshot", n=2, repair=True), "gemma")
    assert counts["repaired"] == 1 and items["repair"].tolist() == [
        "question label, answer label, final answer line"
    ]


def test_examples_are_fixed_by_seed_and_need_enough_train_items(spec_of):
    train = pd.DataFrame(EXAMPLES * 3).assign(id=[f"t{i}" for i in range(9)])
    assert choose_examples(train, 3, 7) == choose_examples(train, 3, 7)
    assert choose_examples(train, 3, 7) != choose_examples(train, 3, 8)
    with pytest.raises(DataError, match="synthetic.shots: 3 examples need 3 train items, found 2"):
        choose_examples(train.head(2), 3, 0)
    with pytest.raises(DataError, match="synthetic method 'persona'"):
        spec_of("synthetic", method="persona", n=3)


def test_mean_pairwise_cosine_by_hand():
    e = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # pairs: (1,2) = 0, (1,3) = 1/sqrt2, (2,3) = 1/sqrt2
    assert mean_pairwise_cosine(e) == pytest.approx((0 + 2 / math.sqrt(2)) / 3)
    assert mean_pairwise_cosine(e[:1]) is None


def test_distinct_2_by_hand():
    # bigrams: (a b) (b c) | (a b) (b d) -> 3 distinct of 4
    assert distinct_n(["a b c", "A b d"], 2) == pytest.approx(3 / 4)
    assert distinct_n(["a"], 2) is None


def test_vendi_score_counts_effective_items():
    assert vendi_score(np.eye(4)) == pytest.approx(4.0)
    assert vendi_score(np.ones((5, 3))) == pytest.approx(1.0)


def test_validity_recomputes_equations():
    assert solution_is_valid("11 + 3 = 14. 14 * 3 = 42.\n#### 42")
    assert solution_is_valid("She pays 2*5=<<2*5=10>>10 dollars.\n#### 10")
    assert not solution_is_valid("11 + 3 = 15.\n#### 15")  # wrong sum
    assert not solution_is_valid("11 + 3 = 14.\n#### 15")  # answer is not the result
    assert not solution_is_valid("It is 14.\n#### 14")  # nothing to check
    items = pd.DataFrame({"solution": ["1 + 1 = 2\n#### 2", "1 + 1 = 3\n#### 3"]})
    assert validity(items, "number")[0] == 0.5
    share, reason = validity(items, "choice")
    assert share is None and reason.startswith("not checkable")


def test_ir_trials_place_one_synthetic_item_among_three_real_ones():
    real = pd.DataFrame(EXAMPLES * 2).assign(id=[f"r{i}" for i in range(6)])
    items = pd.DataFrame(
        {"id": ["s0", "s1"], "question": ["SYN Q0", "SYN Q1"], "solution": ["x\n#### 1"] * 2}
    )
    trials = ir_trials(items, real, trials=5, seed=0)
    assert len(trials) == 2  # at most one trial per item
    for trial in trials.itertuples():
        assert trial.text.count("Example ") == 4
        assert f"Example {trial.position}:\nQuestion: SYN Q" in trial.text
    judged = trials.assign(picked=pd.array([trials.position[0], None], dtype="Int64"), fooled=[False, False])
    # a verdict without 'Answer: N' counts as not fooled, and is counted
    assert indistinguishability(judged) == {
        "ir": 0.0,
        "ir_chance": 0.75,
        "ir_trials": 2,
        "ir_parse_failures": 1,
    }
    assert parse_pick("Example 2 looks odd... Answer: 3") == 3
    assert parse_pick("Answer: 1. On reflection, Answer: **4**") == 4
    assert parse_pick("Example 3 is bad") is None and parse_pick("none") is None


def test_diversity_is_compared_at_one_size_with_its_spread():
    from assay.synthetic.synthscores import diversity

    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(20, 8))
    texts = [f"item {i} about {i % 3}" for i in range(20)]
    scores = diversity(embeddings, texts, size=6, draws=15, seed=0)
    assert scores["diversity_n"] == 6 and 1 <= scores["vendi"] <= 6 and scores["vendi_sd"] > 0
    assert scores["vendi_all"] > scores["vendi"]  # Vendi grows with the number of items
    assert scores == diversity(embeddings, texts, size=6, draws=15, seed=0)  # seeded
    too_few = diversity(embeddings[:4], texts[:4], size=6, draws=15, seed=0)
    assert too_few["vendi"] is None and too_few["vendi_all"] is not None
