import itertools

import numpy as np
import pytest

from assay.compound.selector import exhaustive_search, llm_selector, mean_score


def separable_table(modules, models, queries, seed):
    """Correctness where each module's model choice matters independently (coordinate
    ascent's home ground): a query is solved when the summed module quality beats its bar."""
    rng = np.random.default_rng(seed)
    quality = {(i, m): rng.random() for i in range(modules) for m in models}
    bars = {q: rng.random() * modules for q in queries}

    def score(allocation, query):
        return float(sum(quality[(i, m)] for i, m in enumerate(allocation)) >= bars[query])

    return score


@pytest.mark.parametrize("seed", range(5))
def test_selector_finds_the_known_optimum_of_a_synthetic_table(seed):
    models, queries = ["a", "b", "c"], [f"q{i}" for i in range(40)]
    score = separable_table(3, models, queries, seed)
    best = exhaustive_search(3, models, score, queries)
    found = llm_selector(3, models, score, queries, budget=10_000)
    assert found.train_accuracy == pytest.approx(best.train_accuracy)
    singles = max(mean_score(score, (m,) * 3, queries) for m in models)
    assert found.train_accuracy >= singles


def test_selector_beats_every_single_model_when_modules_need_different_models():
    models, queries = ["gen", "crit"], [f"q{i}" for i in range(10)]

    def score(allocation, query):  # only (gen, crit) solves anything
        return float(allocation == ("gen", "crit"))

    result = llm_selector(2, models, score, queries, budget=1000)
    assert result.allocation == ("gen", "crit") and result.train_accuracy == 1.0


def test_budget_is_respected_and_counted():
    models, queries = ["a", "b"], ["q1", "q2", "q3"]
    score = separable_table(2, models, queries, 0)
    result = llm_selector(2, models, score, queries, budget=40)
    sweep = 2 * 3 * 2
    assert result.calls <= 40 and result.calls == sweep * (1 + result.steps)


def test_budget_smaller_than_one_sweep_is_an_error():
    with pytest.raises(ValueError, match="smaller than one sweep"):
        llm_selector(2, ["a", "b"], lambda a, q: 0.0, ["q1"], budget=3)


def test_exhaustive_search_visits_every_allocation():
    seen = []
    exhaustive_search(2, ["a", "b", "c"], lambda a, q: seen.append(a) or 0.0, ["q"])
    assert sorted(set(seen)) == sorted(itertools.product("abc", repeat=2))


def test_the_selector_stops_once_a_round_of_modules_changes_nothing():
    """The last L + 1 allocations agree: a fixed point. With the best single model already
    optimal it costs the singles' sweep and one round of L steps, the cost of exhaustive
    search for 2 models and 3 modules (the default study spent twice that before)."""
    models, modules, queries = ["a", "b"], 3, ["q1", "q2"]

    def score(allocation, query):
        return float(all(m == "a" for m in allocation))

    result = llm_selector(modules, models, score, queries, budget=10_000)
    assert result.allocation == ("a", "a", "a")
    assert result.steps == modules and len(result.history) == modules + 1
    assert len(set(result.history[-(modules + 1) :])) == 1
    exhaustive = exhaustive_search(modules, models, score, queries)
    assert result.calls == len(models) * len(queries) * modules * (1 + modules) == exhaustive.calls
