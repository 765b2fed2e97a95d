import itertools
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from assay.compound.vote import (
    bootstrap_vote_accuracy,
    query_filter_vote_curve,
    query_vote_curve,
    task_curve,
    vote_accuracy,
)


def brute_filter_vote(answers, correct, accepted, k):
    """Average over every K-subset of the pool: vote over the accepted samples of the
    subset (all of them when none is accepted), ties split uniformly."""
    good = {a for a, ok in zip(answers, correct) if ok and a is not None}
    total, subsets = 0.0, 0
    for subset in itertools.combinations(range(len(answers)), k):
        chosen = [i for i in subset if accepted[i]] or list(subset)
        counts = Counter("none" if answers[i] is None else answers[i] for i in chosen)
        top = max(counts.values())
        modes = [a for a, c in counts.items() if c == top]
        total += sum(a in good for a in modes) / len(modes)
        subsets += 1
    return total / subsets


def brute_vote(answers, correct, k):
    """Plain vote: a filter that accepts nothing falls back to voting over all K."""
    return brute_filter_vote(answers, correct, [False] * len(answers), k)


POOLS = [
    ["7", "7", "3", "3", "3", "5", None, "7", "2"],
    ["1", "2", "3", "4", "5", "6", "1", "2"],
    ["9", "9", "9", "9", "9", "1", "1"],
    ["4", "4", "8", "8", "8", "8", "8", None, None, None],
]


@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("truth", ["7", "1", "9", "8", "3"])
def test_vote_at_k_matches_subset_enumeration(pool, truth):
    correct = [a == truth for a in pool]
    exact = query_vote_curve(pool, correct)
    for k in range(1, len(pool) + 1):
        assert exact[k - 1] == pytest.approx(brute_vote(pool, correct, k), abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_filter_vote_at_k_matches_subset_enumeration(seed):
    rng = np.random.default_rng(seed)
    n = 9
    pool = [None if rng.random() < 0.1 else str(rng.integers(0, 4)) for _ in range(n)]
    correct = [a == "1" for a in pool]
    accepted = list(rng.random(n) < 0.5)
    exact = query_filter_vote_curve(pool, correct, accepted)
    for k in range(1, n + 1):
        assert exact[k - 1] == pytest.approx(brute_filter_vote(pool, correct, accepted, k), abs=1e-12)


def test_vote_at_one_is_the_share_of_correct_samples():
    pool = ["1", "2", "1", "3", "1"]
    assert query_vote_curve(pool, [a == "1" for a in pool])[0] == pytest.approx(3 / 5)


def test_bootstrap_agrees_roughly_with_exact_on_large_pools():
    rng = np.random.default_rng(0)
    pool = [str(a) for a in rng.choice(3, size=200, p=[0.45, 0.35, 0.2])]
    correct = [a == "0" for a in pool]
    exact = query_vote_curve(pool, correct, 9)[8]
    assert bootstrap_vote_accuracy(pool, correct, 9, rounds=4000) == pytest.approx(exact, abs=0.03)


def test_table_api_and_bad_k():
    samples = pd.DataFrame(
        {
            "query_id": ["a"] * 4 + ["b"] * 4,
            "answer": ["1", "1", "2", None, "3", "3", "3", "4"],
            "correct": [True, True, False, False, False, False, False, True],
        }
    )
    per_query = vote_accuracy(samples)
    assert len(per_query) == 8
    curve = task_curve(per_query)
    assert list(curve["k"]) == [1, 2, 3, 4] and (curve["low"] <= curve["accuracy"]).all()
    with pytest.raises(ValueError, match="above the pool size 4"):
        vote_accuracy(samples, k_max=5)
    with pytest.raises(ValueError, match="K_max must be >= 1"):
        vote_accuracy(samples, k_max=0)
