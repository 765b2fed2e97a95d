"""LLMSelector (shared/METHODS.md section 4): a model per module by greedy coordinate ascent.

A pure optimiser over ``score(allocation, query) -> float`` (end-to-end correctness of the
compound system with that allocation on that query) and a call budget, so that it can be
tested without models. Each score evaluation spends ``calls_per_evaluation`` LM calls (the
number of modules, by default).

    f = the best single-model allocation on the training queries (costs M sweeps' worth)
    repeat over modules l = 0, 1, ..., L-1, 0, ... (round robin):
        for every training query x and model m: score(f with f[l] = m, x)
        per query, the set of best models; f[l] = the model best for most queries
        (ties kept with the current model, else the first in the pool)
    until the last L + 1 allocations agree (a whole round of the L modules changed nothing:
    a fixed point of the ascent, as the reference code stops) or the budget cannot pay for
    another step

The per-module LLM-judged credit of the paper is left out (weight 0): it needs a judge
call per module and error, which this optimiser does not assume.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Allocation = tuple[str, ...]
Score = Callable[[Allocation, str], float]


@dataclass
class SelectorResult:
    allocation: Allocation
    train_accuracy: float
    calls: int
    steps: int
    history: list[Allocation] = field(default_factory=list)


def mean_score(score: Score, allocation: Allocation, queries: Sequence[str]) -> float:
    return sum(score(allocation, q) for q in queries) / len(queries)


def sweep_calls(models: Sequence[str], queries: Sequence[str], calls_per_evaluation: int) -> int:
    """Calls one coordinate step costs: every model on every training query."""
    return len(models) * len(queries) * calls_per_evaluation


def llm_selector(
    modules: int,
    models: Sequence[str],
    score: Score,
    queries: Sequence[str],
    budget: int,
    calls_per_evaluation: int | None = None,
) -> SelectorResult:
    """Greedy coordinate ascent from the best single-model allocation."""
    if modules < 1 or not models or not queries:
        raise ValueError("llm_selector needs at least one module, one model and one query")
    per_eval = modules if calls_per_evaluation is None else calls_per_evaluation
    sweep = sweep_calls(models, queries, per_eval)
    if budget < sweep:
        raise ValueError(
            f"budget = {budget} calls is smaller than one sweep ({sweep} calls: "
            f"{len(models)} models x {len(queries)} queries x {per_eval} calls)"
        )
    singles = {m: mean_score(score, (m,) * modules, queries) for m in models}
    calls = sweep
    current: Allocation = (max(models, key=lambda m: singles[m]),) * modules
    history = [current]
    unchanged, steps, module = 0, 0, 0
    while unchanged < modules and calls + sweep <= budget:
        votes = dict.fromkeys(models, 0)
        for query in queries:
            scores = {m: score(current[:module] + (m,) + current[module + 1 :], query) for m in models}
            top = max(scores.values())
            for m, s in scores.items():
                votes[m] += s == top
        calls += sweep
        steps += 1
        most = max(votes.values())
        choice = (
            current[module] if votes[current[module]] == most else next(m for m in models if votes[m] == most)
        )
        updated = current[:module] + (choice,) + current[module + 1 :]
        unchanged = unchanged + 1 if updated == current else 0
        current = updated
        history.append(current)
        module = (module + 1) % modules
    return SelectorResult(current, mean_score(score, current, queries), calls, steps, history)


def exhaustive_search(
    modules: int, models: Sequence[str], score: Score, queries: Sequence[str]
) -> SelectorResult:
    """Every allocation (M^L of them): the optimum on the training queries."""
    best, best_score = None, -1.0
    count = 0
    for allocation in itertools.product(models, repeat=modules):
        value = mean_score(score, allocation, queries)
        count += 1
        if value > best_score:
            best, best_score = allocation, value
    return SelectorResult(best, best_score, count * len(queries) * modules, count)
