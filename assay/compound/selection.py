"""Stage ``selection``: LLMSelector picks a model per module of a compound system, against
exhaustive search and single-model baselines, all scored from one cached outputs table.

``select`` writes (rule ``run_selection``) ``allocations.parquet``: method
(llm_selector, exhaustive, single:<model>), allocation, train_accuracy, test_accuracy,
calls (the calls the method would spend computing its scores), and ``selection.json``.
"""

from __future__ import annotations

import pandas as pd

from assay.compound.selector import exhaustive_search, llm_selector, mean_score


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
