import re

import pandas as pd
import pytest

from assay import tasks
from assay.errors import DataError
from assay.tasks import arithmetic, gsm8k
from assay.tasks.base import (
    BASE_STOP,
    build_prompt,
    check_columns,
    extract_answer,
    is_correct,
)

ARITH = {"name": "arithmetic", "train_size": 30, "dev_size": 10, "test_size": 50, "levels": 5, "seed": 3}


def _replay(solution: str) -> int:
    """Recompute a worked solution's steps, checking each one chains into the next."""
    value = None
    for a, op, b, result in re.findall(r"(\d+) ([-+*/]) (\d+) = (\d+)\.", solution):
        a, b, result = int(a), int(b), int(result)
        assert value is None or a == value
        expected = {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[op]
        assert op != "/" or a % b == 0
        assert expected == result
        value = result
    return value


def test_arithmetic_answers_are_exact_and_steps_match_level():
    splits = tasks.prepare(ARITH)
    for frame in splits.values():
        for row in frame.itertuples():
            assert _replay(row.solution) == int(row.answer) and int(row.answer) > 0
            assert row.solution.count(" = ") == arithmetic.level_spec(row.difficulty).operations
            assert row.solution.endswith(f"#### {row.answer}")


def test_arithmetic_is_deterministic_balanced_and_disjoint():
    first, second = tasks.prepare(ARITH), tasks.prepare(ARITH)
    for split in first:
        pd.testing.assert_frame_equal(first[split], second[split])
    assert first["test"]["difficulty"].value_counts().to_dict() == {level: 10 for level in range(1, 6)}
    questions = [set(frame["question"]) for frame in first.values()]
    assert not (questions[0] & questions[1]) and not (questions[0] & questions[2])
    other_seed = tasks.prepare({**ARITH, "seed": 4})
    assert not first["test"]["question"].equals(other_seed["test"]["question"])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("3 + 4 = 7.\n#### 7", "7"),
        ("so the answer is 1,250.", "1250"),
        ("First 3, then 12 apples", "12"),
        ("#### 7.0", "7"),
        ("#### -3", "-3"),
        ("no numbers here", None),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_checker_compares_normalised_numbers():
    assert is_correct("1250", "1,250")
    assert not is_correct(None, "3")
    assert not is_correct("4", "3")


def test_prompts_chat_for_instruct_and_fewshot_completion_for_base():
    shots = [{"question": "Q1?", "solution": "1 + 1 = 2.\n#### 2"}]
    chat = build_prompt("Q2?", shots, "instruct")
    assert [m["role"] for m in chat] == ["user", "assistant", "user"]
    assert chat[-1]["content"].endswith("Problem: Q2?") and chat[1]["content"] == shots[0]["solution"]
    text = build_prompt("Q2?", shots, "base")
    assert text == "Question: Q1?\nAnswer: 1 + 1 = 2.\n#### 2\n\nQuestion: Q2?\nAnswer:"
    assert "\nQuestion:" in BASE_STOP


def test_gsm8k_loader_reads_the_datasets_own_format(repo):
    source = str(repo / "tests/fixtures/gsm8k")
    splits = tasks.prepare(
        {"name": "gsm8k", "source": source, "train_size": None, "dev_size": 2, "test_size": None, "seed": 0}
    )
    assert {k: len(v) for k, v in splits.items()} == {"train": 4, "dev": 2, "test": 3}
    test = splits["test"]
    assert test["answer"].tolist() == ["35", "7", "56"]
    assert test["difficulty"].tolist() == [2, 1, 3]
    assert "<<" not in "".join(test["solution"]) and test["solution"][0].endswith("#### 35")
    assert set(splits["train"]["question"]).isdisjoint(splits["dev"]["question"])


def test_gsm8k_missing_column_names_the_column(tmp_path):
    (tmp_path / "main").mkdir()
    for split in ("train", "test"):
        pd.DataFrame({"question": ["q"], "solution": ["#### 1"]}).to_parquet(
            tmp_path / "main" / f"{split}-00000-of-00001.parquet"
        )
    with pytest.raises(DataError, match=r"missing column\(s\) \['answer'\]"):
        gsm8k.load_splits(str(tmp_path), {"dev": 0}, 0)


def test_gsm8k_row_without_final_answer_names_the_row():
    raw = pd.DataFrame({"question": ["a", "b"], "answer": ["1+1=2\n#### 2", "no final line"]})
    with pytest.raises(DataError, match="row 1"):
        gsm8k.convert(raw, "fixture:train")


def test_file_task_empty_answer_names_the_row(tmp_path):
    frame = pd.DataFrame({"question": ["a", "b", "c"], "answer": ["1", "", "3"]})
    with pytest.raises(DataError, match="row 1 has an empty 'answer'"):
        check_columns(frame, "x.parquet")


def test_file_task_loads_user_splits(tmp_path):
    for split in ("train", "dev", "test"):
        pd.DataFrame({"question": [f"{split} q{i}" for i in range(3)], "answer": ["1", "2", "3"]}).to_json(
            tmp_path / f"{split}.jsonl", orient="records", lines=True
        )
    splits = tasks.prepare({"name": "file", "source": str(tmp_path), "train_size": 2, "seed": 0})
    assert len(splits["train"]) == 2 and len(splits["test"]) == 3
    assert splits["test"]["solution"][0] == "#### 1" and splits["test"]["id"].is_unique


def test_few_shot_examples_are_the_easiest_train_items():
    from assay.tasks.base import few_shot_examples

    train = tasks.prepare(ARITH)["train"]
    shots = few_shot_examples(train, 3)
    assert [s["difficulty"] for s in shots] == [1, 1, 1]
    assert [s["id"] for s in shots] == train[train["difficulty"] == 1]["id"].head(3).tolist()


def test_mmlu_loader_reads_the_datasets_own_format(repo):
    splits = tasks.prepare(
        {
            "name": "mmlu",
            "source": str(repo / "tests/fixtures/mmlu"),
            "subset": "high_school_physics",
            "seed": 0,
        }
    )
    assert {k: len(v) for k, v in splits.items()} == {"train": 2, "dev": 1, "test": 3}
    first = splits["test"].iloc[0]
    assert first["answer"] == "C" and "\nC. 6 N" in first["question"] and first["solution"] == "#### C"
    assert splits["test"]["difficulty"].isna().all()


def test_mmlu_answer_index_out_of_range_names_the_row():
    from assay.tasks import mmlu

    raw = pd.DataFrame({"question": ["q"], "choices": [["a", "b"]], "answer": [3]})
    with pytest.raises(DataError, match="row 0 answer index 3"):
        mmlu.convert(raw, "fixture:test")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The force is F = ma.\n#### C", "C"),
        ("the answer is (b)", "B"),
        ("I pick (D) here", "D"),
        ("none", None),
    ],
)
def test_extract_choice(text, expected):
    from assay.tasks.base import extract_choice

    assert extract_choice(text) == expected
