"""The compound stage's tables, computed from cached samples and verdicts only.

``call_scaling`` writes (rule ``fit_call_scaling``):

* ``vote_curves.parquet``: method (vote, filter_vote, verifier), k, calls (K for vote,
  2K for filter_vote and verifier), accuracy, low, high, queries: measured on the full pool;
* ``predicted_curves.parquet``: source (fitted, closed_form), k, accuracy up to K = predict_k_max;
* ``difficulty.parquet``: query_id, p_correct, p_top_wrong, difficulty, mode_correct;
* ``scaling.json``: the validation summary of :func:`assay.compound.scaling.validate_prediction`.

``select`` writes (rule ``select_models``) ``allocations.parquet``: method
(llm_selector, exhaustive, single:<model>), allocation, train_accuracy, test_accuracy,
calls (the calls the method would spend computing its scores), and ``selection.json``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from assay.compound.scaling import answer_distribution, validate_prediction
from assay.compound.selector import exhaustive_search, llm_selector, mean_score
from assay.compound.vote import task_curve, vote_accuracy


def call_scaling(
    samples: pd.DataFrame, verdicts: pd.DataFrame, fit_samples: int, predict_k_max: int
) -> dict[str, Any]:
    joined = samples.merge(
        verdicts[["query_id", "sample_index", "accepted"]], on=["query_id", "sample_index"]
    )
    if len(joined) != len(samples):
        raise ValueError("verdicts do not cover every sample")
    vote = task_curve(vote_accuracy(joined, method="vote")).assign(method="vote")
    filtered = task_curve(vote_accuracy(joined, method="filter_vote"))
    curves = pd.concat(
        [
            vote.assign(calls=vote["k"]),
            filtered.assign(method="filter_vote", calls=2 * filtered["k"]),
            filtered.assign(method="verifier", calls=2 * filtered["k"]),
        ],
        ignore_index=True,
    )[["method", "k", "calls", "accuracy", "low", "high", "queries"]]
    validation = validate_prediction(samples, fit_samples, predict_k_max)
    predicted = pd.concat(
        [
            validation["fitted"].assign(source="fitted"),
            validation["closed_form"].assign(source="closed_form"),
        ],
        ignore_index=True,
    )[["source", "k", "accuracy"]]
    summary = dict(validation["summary"])
    summary["accept_rate"] = float(verdicts["accepted"].mean())
    summary["no_answer_rate"] = float(samples["answer"].isna().mean())
    summary["filter_vote_best"] = float(filtered["accuracy"].max())
    summary["vote_at_1"] = float(vote["accuracy"].iloc[0])
    return {
        "curves": curves,
        "predicted": predicted,
        "difficulty": answer_distribution(samples),
        "summary": summary,
    }


def select(
    outputs: pd.DataFrame, train_ids: list[str], test_ids: list[str], modules: int, budget: int
) -> dict:
    """LLMSelector, exhaustive search and single-model baselines on one outputs table."""
    table = outputs.set_index(["allocation", "query_id"])["correct"].astype(float).to_dict()
    models = sorted({part for a in outputs["allocation"] for part in a.split("|")})

    def score(allocation: tuple[str, ...], query: str) -> float:
        return table[("|".join(allocation), query)]

    rows = []

    def add(method: str, allocation: tuple[str, ...], calls: int) -> None:
        rows.append(
            {
                "method": method,
                "allocation": "|".join(allocation),
                "train_accuracy": mean_score(score, allocation, train_ids),
                "test_accuracy": mean_score(score, allocation, test_ids),
                "calls": calls,
            }
        )

    chosen = llm_selector(modules, models, score, train_ids, budget)
    add("llm_selector", chosen.allocation, chosen.calls)
    best = exhaustive_search(modules, models, score, train_ids)
    add("exhaustive", best.allocation, best.calls)
    for m in models:
        add(f"single:{m}", (m,) * modules, len(train_ids) * modules)
    table_out = pd.DataFrame(rows)
    singles = table_out[table_out["method"].str.startswith("single:")]
    best_single = singles.sort_values("train_accuracy", ascending=False).iloc[0]
    summary = {
        "allocation": "|".join(chosen.allocation),
        "selector_steps": chosen.steps,
        "selector_calls": chosen.calls,
        "selector_test_accuracy": float(table_out.iloc[0]["test_accuracy"]),
        "best_single": best_single["method"].removeprefix("single:"),
        "best_single_test_accuracy": float(best_single["test_accuracy"]),
        "exhaustive_test_accuracy": float(table_out.iloc[1]["test_accuracy"]),
        "train_queries": len(train_ids),
        "test_queries": len(test_ids),
    }
    return {"allocations": table_out, "summary": summary}
