"""What a task is: splits of records, a prompt format per model kind, an extractor and a
checker.

Split tables (Parquet, one file per split) have the columns:

* ``id`` (str): unique within the task;
* ``question`` (str): the problem as posed;
* ``solution`` (str): a worked solution ending in ``#### <answer>`` (used as few-shot
  demonstrations and as fine-tuning targets);
* ``answer`` (str): the final answer, canonical (integers without separators);
* ``difficulty`` (Int64, nullable): a graded level where the task has one.

Prompt formats: instruct models get a chat with the few-shot examples as earlier turns;
base models get a few-shot completion prompt ``Question: ...\\nAnswer: ...`` that ends in an
open ``Answer:`` and stops at the next ``Question:``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from assay.engine.base import Prompt
from assay.errors import DataError

SPLITS = ("train", "dev", "test")
COLUMNS = ("id", "question", "solution", "answer", "difficulty")
REQUIRED_COLUMNS = ("question", "answer")
INSTRUCTION = (
    "Solve the math problem. Reason briefly, then give the final answer on its own line as '#### <number>'."
)
CHOICE_INSTRUCTION = (
    "Answer the multiple-choice question. Reason briefly, then give the letter of the answer "
    "on its own line as '#### <letter>'."
)
BASE_STOP = ("\nQuestion:", "\n\n\n")

_FINAL = re.compile(r"####\s*\$?\s*(-?[\d,]*\.?\d+)")
_ANSWER_IS = re.compile(r"answer is\s*:?\s*\$?\s*(-?[\d,]*\.?\d+)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*\.?\d*")


def normalize_number(text: str) -> str | None:
    """Canonical form of a numeric answer: no separators, integers without '.0'."""
    cleaned = text.replace(",", "").replace("$", "").strip().rstrip(".")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return str(int(value)) if value.is_integer() else repr(value)


def extract_answer(text: str) -> str | None:
    """The model's final answer: after '####', else after 'answer is', else the last number.

    Returns None when the text holds no number at all (counted wrong, never a crash).
    """
    for pattern in (_FINAL, _ANSWER_IS):
        match = pattern.search(text)
        if match:
            return normalize_number(match.group(1))
    numbers = _NUMBER.findall(text)
    return normalize_number(numbers[-1]) if numbers else None


_CHOICE_FINAL = re.compile(r"####\s*\(?([A-J])\b")
_CHOICE_ANSWER_IS = re.compile(r"answer is\s*:?\s*\(?([A-J])\b", re.IGNORECASE)
_CHOICE_ANY = re.compile(r"\(([A-J])\)|\b([A-J])[.):]")

#: How a task's answers look: "number" (arithmetic, GSM8K) or "choice" (a letter, MMLU).
ANSWER_FORMATS = ("number", "choice")


def extract_choice(text: str) -> str | None:
    """A multiple-choice letter: after '####', else after 'answer is', else the last '(X)' or 'X.'."""
    for pattern in (_CHOICE_FINAL, _CHOICE_ANSWER_IS):
        match = pattern.search(text)
        if match:
            return match.group(1).upper()
    found = _CHOICE_ANY.findall(text)
    return (found[-1][0] or found[-1][1]).upper() if found else None


def extract(text: str, answer_format: str = "number") -> str | None:
    """The final answer in the task's format (None when there is none)."""
    return extract_choice(text) if answer_format == "choice" else extract_answer(text)


def is_correct(predicted: str | None, answer: str, answer_format: str = "number") -> bool:
    if predicted is None:
        return False
    if answer_format == "choice":
        return predicted.upper() == str(answer).strip().upper()
    return predicted == normalize_number(answer)


def chat_prompt(question: str, shots: Sequence[dict], instruction: str = INSTRUCTION) -> Prompt:
    messages: list[dict[str, str]] = []
    for shot in shots:
        messages.append({"role": "user", "content": f"{instruction}\n\nProblem: {shot['question']}"})
        messages.append({"role": "assistant", "content": shot["solution"]})
    messages.append({"role": "user", "content": f"{instruction}\n\nProblem: {question}"})
    return messages


def completion_prompt(question: str, shots: Sequence[dict]) -> Prompt:
    blocks = [f"Question: {s['question']}\nAnswer: {s['solution']}\n\n" for s in shots]
    return "".join(blocks) + f"Question: {question}\nAnswer:"


def build_prompt(
    question: str, shots: Sequence[dict], model_kind: str, answer_format: str = "number"
) -> Prompt:
    """Chat for instruct models, few-shot completion for base models."""
    if model_kind == "instruct":
        return chat_prompt(question, shots, CHOICE_INSTRUCTION if answer_format == "choice" else INSTRUCTION)
    return completion_prompt(question, shots)


def stop_for(model_kind: str) -> tuple[str, ...]:
    return () if model_kind == "instruct" else BASE_STOP


def check_columns(frame: pd.DataFrame, source: str, required: Sequence[str] = REQUIRED_COLUMNS) -> None:
    """Raise DataError naming the file and the missing columns, and any empty rows."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing}; found {list(frame.columns)}")
    for column in required:
        empty = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
        if empty.any():
            row = int(empty.to_numpy().nonzero()[0][0])
            raise DataError(f"{source}: row {row} has an empty {column!r}")


def finalize_split(frame: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Give a split the documented columns and dtypes; ids made unique if absent."""
    frame = frame.reset_index(drop=True).copy()
    if "id" not in frame.columns:
        frame["id"] = [f"{prefix}-{i:05d}" for i in range(len(frame))]
    if "solution" not in frame.columns:
        frame["solution"] = frame["answer"].map(lambda a: f"#### {a}")
    if "difficulty" not in frame.columns:
        frame["difficulty"] = pd.NA
    frame["id"] = frame["id"].astype(str)
    frame["answer"] = frame["answer"].astype(str)
    frame["difficulty"] = frame["difficulty"].astype("Int64")
    if frame["id"].duplicated().any():
        raise DataError(f"{prefix}: duplicate id {frame['id'][frame['id'].duplicated()].iloc[0]!r}")
    return frame[list(COLUMNS)]


def few_shot_examples(train: pd.DataFrame, shots: int) -> list[dict]:
    """The ``shots`` easiest train items, in split order within a level: every model (and
    every stage that prompts with examples) sees the same demonstrations. The small models
    copy the shape of their examples, so the easiest ones work best (assay.evaluate)."""
    if "difficulty" in train and train["difficulty"].notna().any():
        train = train.sort_values("difficulty", kind="stable", na_position="last")
    return train.head(shots).to_dict("records")
