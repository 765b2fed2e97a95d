"""GSM8K (openai/gsm8k, config 'main') into the task schema.

The dataset has columns ``question`` and ``answer``; ``answer`` is a worked solution with
calculator annotations ``<<48/2=24>>`` that ends in ``#### 72``. We keep the solution
(annotations removed) as ``solution`` and the number after ``####`` as ``answer``.
``difficulty`` is the number of calculator annotations (reasoning steps), capped at 5: a
stated proxy, since GSM8K has no graded levels. The dev split is carved from train with a
seed, since GSM8K ships only train and test.

``source`` is a hub id (loaded with ``datasets.load_dataset(source, "main")``) or a local
folder laid out as the hub repository is (``main/train-*.parquet``,
``main/test-*.parquet``), which is how the tests exercise this code offline.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from assay.errors import DataError
from assay.tasks.base import check_columns, normalize_number

_ANNOTATION = re.compile(r"<<[^>]*>>")
MAX_LEVEL = 5


def load_raw(source: str) -> dict[str, pd.DataFrame]:
    """train and test as the dataset gives them."""
    import datasets

    folder = Path(source)
    if folder.is_dir():
        files = {
            split: sorted(str(p) for p in folder.glob(f"**/{split}-*.parquet")) for split in ("train", "test")
        }
        if not all(files.values()):
            raise DataError(f"{source}: expected main/train-*.parquet and main/test-*.parquet")
        loaded = datasets.load_dataset("parquet", data_files=files)
    else:
        loaded = datasets.load_dataset(source, "main")
    return {split: loaded[split].to_pandas() for split in ("train", "test")}


def convert(raw: pd.DataFrame, where: str) -> pd.DataFrame:
    """Rows of the dataset's own format into task records; names the row that fails."""
    check_columns(raw, where)
    rows = []
    for i, item in enumerate(raw.itertuples(index=False)):
        solution = _ANNOTATION.sub("", str(item.answer)).strip()
        if "####" not in solution:
            raise DataError(f"{where}: row {i} answer has no '#### <number>' final line")
        final = normalize_number(solution.rsplit("####", 1)[1])
        if final is None:
            raise DataError(f"{where}: row {i} final answer is not a number")
        steps = len(_ANNOTATION.findall(str(item.answer)))
        rows.append(
            {
                "id": f"gsm8k-{where.rsplit(':', 1)[-1]}-{i:05d}",
                "question": str(item.question).strip(),
                "solution": solution,
                "answer": final,
                "difficulty": min(max(steps, 1), MAX_LEVEL),
            }
        )
    return pd.DataFrame(rows)


def load_splits(source: str, sizes: dict[str, int | None], seed: int) -> dict[str, pd.DataFrame]:
    raw = load_raw(source)
    train = convert(raw["train"], f"{source}:train")
    test = convert(raw["test"], f"{source}:test")
    shuffled = train.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    dev_size = sizes.get("dev") or 0
    dev, train = shuffled.iloc[:dev_size], shuffled.iloc[dev_size:]
    out = {"train": train, "dev": dev, "test": test}
    for split in ("train", "test"):
        if sizes.get(split):
            out[split] = out[split].iloc[: sizes[split]]
    return out
