"""Per-study views of the store: ``results/{study}/``.

``index.json`` names the artifact of every stage (key, path, spec, upstream keys), so a
person finds outputs without knowing keys. ``accuracy_by_difficulty.csv`` has columns
model, difficulty ("all" for the whole split), n, correct, accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd


def accuracy_table(index: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for model, entry in index["stages"].get("evaluate", {}).items():
        summary = json.loads((Path(entry["path"]) / "accuracy.json").read_text())
        rows.append(
            {"model": model, "difficulty": "all", **{k: summary[k] for k in ("n", "correct", "accuracy")}}
        )
        for level, cell in summary["by_difficulty"].items():
            rows.append({"model": model, "difficulty": level, **cell})
    return pd.DataFrame(rows, columns=["model", "difficulty", "n", "correct", "accuracy"])


def write_study_index(index: dict[str, Any], index_path: str | Path, accuracy_path: str | Path) -> None:
    Path(index_path).parent.mkdir(parents=True, exist_ok=True)
    Path(index_path).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    accuracy_table(index).to_csv(accuracy_path, index=False)
