"""Stage ``tasks``: the generated arithmetic task, GSM8K, MMLU, and a user's own file
(``spec``, ``planning`` and ``jobs`` beside the loaders).

``prepare(spec)`` returns the train/dev/test splits as DataFrames in the schema of
:mod:`assay.tasks.base`; ``write_splits`` stores them as ``{split}.parquet``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from assay.errors import ConfigError, DataError
from assay.tasks import arithmetic, gsm8k, mmlu
from assay.tasks.base import SPLITS, check_columns, finalize_split

TASKS = ("arithmetic", "gsm8k", "mmlu", "file")


def answer_format(task_name: str) -> str:
    """ "choice" for multiple-choice tasks (MMLU), "number" otherwise."""
    return "choice" if task_name == "mmlu" else "number"


def prepare(spec: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Build the splits the task spec describes."""
    name = spec["name"]
    sizes = {split: spec.get(f"{split}_size") for split in SPLITS}
    if name == "arithmetic":
        splits = arithmetic.generate_splits(sizes, spec["levels"], spec["seed"])
    elif name == "gsm8k":
        splits = gsm8k.load_splits(spec.get("source") or "openai/gsm8k", sizes, spec["seed"])
    elif name == "mmlu":
        splits = mmlu.load_splits(spec.get("source") or "cais/mmlu", spec.get("subset") or "all", sizes)
    elif name == "file":
        splits = _load_file_task(spec)
    else:
        raise ConfigError(f"task.name: unknown task {name!r}; expected one of {TASKS}")
    return {split: finalize_split(frame, f"{name}-{split}") for split, frame in splits.items()}


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"task.source: file {path} does not exist")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix in (".jsonl", ".json"):
        return pd.read_json(path, lines=path.suffix == ".jsonl")
    raise DataError(f"task.source: {path} must be .parquet or .jsonl")


def _load_file_task(spec: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """A user's table with question and answer (and optional id, solution, difficulty),
    one file per split: ``source`` is a folder holding ``{split}.parquet`` or ``.jsonl``."""
    if not spec.get("source"):
        raise ConfigError("task.source: a 'file' task needs a folder of split files")
    folder = Path(spec["source"])
    splits = {}
    for split in SPLITS:
        candidates = [folder / f"{split}.parquet", folder / f"{split}.jsonl"]
        path = next((p for p in candidates if p.is_file()), candidates[0])
        frame = _read_table(path)
        check_columns(frame, str(path))
        size = spec.get(f"{split}_size")
        splits[split] = frame.iloc[:size] if size else frame
    return splits


def write_splits(splits: dict[str, pd.DataFrame], folder: Path) -> dict[str, int]:
    """Write ``{split}.parquet`` files; returns row counts per split for the manifest."""
    for split, frame in splits.items():
        frame.to_parquet(folder / f"{split}.parquet", index=False)
    return {split: len(frame) for split, frame in splits.items()}
