"""MMLU (cais/mmlu) into the task schema, as multiple choice with letter answers.

The dataset has columns ``question``, ``subject``, ``choices`` (a list of four strings)
and ``answer`` (the index of the right choice). The question becomes the stem followed by
lettered choices (``A. ...``); ``answer`` is the letter; ``solution`` is ``#### <letter>``.
Splits: MMLU's ``dev`` (5 per subject, the few-shot set) and ``validation`` make our train
and dev splits, its ``test`` our test. ``difficulty`` is not graded (null).

``source`` is a hub id (``datasets.load_dataset(source, subset)``) or a local folder laid out
as the hub repository is (``{subset}/{split}-*.parquet``), which is how the tests run it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from assay.errors import DataError
from assay.tasks.base import check_columns

LETTERS = "ABCDEFGHIJ"
HUB_SPLITS = {"train": "dev", "dev": "validation", "test": "test"}


def load_raw(source: str, subset: str) -> dict[str, pd.DataFrame]:
    import datasets

    folder = Path(source)
    if folder.is_dir():
        files = {
            ours: sorted(str(p) for p in (folder / subset).glob(f"{theirs}-*.parquet"))
            for ours, theirs in HUB_SPLITS.items()
        }
        missing = [HUB_SPLITS[s] for s, f in files.items() if not f]
        if missing:
            raise DataError(f"{source}: no {subset}/{{{','.join(missing)}}}-*.parquet files")
        loaded = datasets.load_dataset("parquet", data_files=files)
        return {split: loaded[split].to_pandas() for split in HUB_SPLITS}
    loaded = datasets.load_dataset(source, subset)
    return {ours: loaded[theirs].to_pandas() for ours, theirs in HUB_SPLITS.items()}


def convert(raw: pd.DataFrame, where: str) -> pd.DataFrame:
    check_columns(raw, where, ("question", "choices", "answer"))
    rows = []
    for i, item in enumerate(raw.itertuples(index=False)):
        choices = list(item.choices)
        index = int(item.answer)
        if not 0 <= index < len(choices) or len(choices) > len(LETTERS):
            raise DataError(f"{where}: row {i} answer index {index} is outside its {len(choices)} choices")
        lettered = "\n".join(f"{LETTERS[j]}. {c}" for j, c in enumerate(choices))
        rows.append(
            {
                "id": f"mmlu-{where.rsplit(':', 1)[-1]}-{i:05d}",
                "question": f"{str(item.question).strip()}\n{lettered}",
                "solution": f"#### {LETTERS[index]}",
                "answer": LETTERS[index],
                "difficulty": pd.NA,
            }
        )
    return pd.DataFrame(rows)


def load_splits(source: str, subset: str, sizes: dict[str, int | None]) -> dict[str, pd.DataFrame]:
    raw = load_raw(source, subset)
    out = {split: convert(frame, f"{source}:{split}") for split, frame in raw.items()}
    return {split: frame.iloc[: sizes[split]] if sizes.get(split) else frame for split, frame in out.items()}
