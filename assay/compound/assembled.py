"""Stage ``assembled``: the optimised compound system, written down and checked on queries
it never saw.

``system.json`` is what a user deploys: generator and judge (model names and checkpoints'
artifact keys), sampling settings, and per method (``vote``, ``filter_vote``) the number of
generations K (the chosen predictor's K*, capped at ``max_k``), the verifier's threshold,
the calls a query costs and the accuracy the predictor expects at that K.

``check.parquet`` (one row per fresh query and method): ``query_id``, ``method``, ``k``,
``answer`` (the system's answer, null when none), ``correct``, ``calls``.
``check.json``: per method the predicted and achieved accuracy (with a 95% normal
interval over queries) and the calls spent per query.

The fresh queries are test items after the ``offset`` ones the samples were drawn from,
so neither K* nor the threshold was fitted on them.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from assay.compound.vote import NO_ANSWER

METHODS = ("vote", "filter_vote")


def choose_k(summary: dict, predicted: pd.DataFrame, predictor: str, max_k: int) -> dict[str, dict]:
    """Per method: K (K* capped at max_k), the predicted accuracy there, the calls per query."""
    systems = {}
    for method, prefix, calls_per_k in (("vote", "", 1), ("filter_vote", "filter_vote_", 2)):
        k_star = int(summary[f"{prefix}{predictor}_k_star"])
        curve = predicted[(predicted["method"] == method) & (predicted["predictor"] == predictor)]
        curve = curve[curve["k"] <= max_k]
        k = min(k_star, max_k)
        if k not in set(curve["k"]):
            k = int(curve["k"].iloc[(curve["k"] - k).abs().argmin()])
        systems[method] = {
            "k": k,
            "k_star": k_star,
            "predicted_accuracy": float(curve.set_index("k")["accuracy"][k]),
            "calls_per_query": calls_per_k * k,
        }
    return systems


def vote(answers: list, accepted: list[bool] | None = None, rng: np.random.Generator | None = None):
    """The most common answer (of the accepted ones when any is; ties broken at random)."""
    if accepted is not None and any(accepted):
        answers = [a for a, keep in zip(answers, accepted) if keep]
    labels = [NO_ANSWER if a is None or pd.isna(a) else a for a in answers]
    counts = Counter(labels)
    top = max(counts.values())
    modes = sorted(a for a, c in counts.items() if c == top)
    chosen = modes[(rng or np.random.default_rng(0)).integers(len(modes))]
    return None if chosen == NO_ANSWER else chosen


def run_systems(
    samples: pd.DataFrame, verdicts: pd.DataFrame, systems: dict[str, dict], threshold: float, is_correct
) -> pd.DataFrame:
    """Each system's answer per query from its first K samples (and their verdicts)."""
    rng = np.random.default_rng(0)
    joined = samples.merge(
        verdicts[["query_id", "sample_index", "confidence"]], on=["query_id", "sample_index"]
    )
    rows = []
    for query_id, group in joined.sort_values("sample_index").groupby("query_id", sort=False):
        for method in METHODS:
            k = systems[method]["k"]
            first = group.head(k)
            accepted = None
            if method == "filter_vote":
                accepted = (first["confidence"] >= threshold).tolist()
            answer = vote(first["answer"].tolist(), accepted, rng)
            rows.append(
                {
                    "query_id": query_id,
                    "method": method,
                    "k": k,
                    "answer": answer,
                    "correct": bool(is_correct(query_id, answer)),
                    "calls": systems[method]["calls_per_query"],
                }
            )
    return pd.DataFrame(rows)


def check_summary(check: pd.DataFrame, systems: dict[str, dict]) -> dict:
    out = {}
    for method, part in check.groupby("method", sort=False):
        achieved = float(part["correct"].mean())
        half = (
            1.96 * float(part["correct"].std(ddof=1)) / np.sqrt(len(part)) if len(part) > 1 else float("nan")
        )
        out[method] = {
            **systems[method],
            "queries": int(len(part)),
            "achieved_accuracy": achieved,
            "achieved_low": max(0.0, achieved - half),
            "achieved_high": min(1.0, achieved + half),
            "calls_spent": int(part["calls"].sum()),
        }
    return out
