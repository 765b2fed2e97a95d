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
    vote_curve,
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


def test_large_pool_matches_the_two_answer_closed_form(recwarn):
    """2,000 samples of two answers: the correct one wins a K-subset when it has more than
    K/2 of them (half a win at K/2), a hypergeometric tail. The old product of binomial
    coefficients overflowed above about 1,030 samples."""
    from scipy.stats import hypergeom

    correct, wrong = 1100, 900
    ks = np.arange(1, correct + wrong + 1)
    drawn = hypergeom(correct + wrong, correct, ks)
    closed = drawn.sf(ks // 2) + np.where(ks % 2 == 0, 0.5 * drawn.pmf(ks // 2), 0.0)
    exact = vote_curve(correct, [wrong])
    assert np.isfinite(exact).all()
    assert np.abs(exact - closed).max() < 1e-9
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_large_pool_of_distinct_wrong_answers_matches_its_closed_form():
    """Every wrong answer drawn at most once: the correct answer wins with two or more
    draws, and with exactly one it ties with all K drawn answers (a 1/K share)."""
    from scipy.stats import hypergeom

    correct, singletons = 600, 1400
    ks = np.arange(1, 401)
    drawn = hypergeom(correct + singletons, correct, ks)
    closed = drawn.sf(1) + drawn.pmf(1) / ks
    assert np.abs(vote_curve(correct, [1] * singletons, 400) - closed).max() < 1e-9


def test_filter_vote_on_a_large_pool_is_finite_and_bounded():
    rng = np.random.default_rng(1)
    answers = [str(a) for a in rng.choice(4, size=2000, p=[0.4, 0.3, 0.2, 0.1])]
    correct = [a == "0" for a in answers]
    accepted = list(rng.random(2000) < np.where(correct, 0.8, 0.3))
    curve = query_filter_vote_curve(answers, correct, accepted, 300)
    assert np.isfinite(curve).all() and (curve >= 0).all() and (curve <= 1).all()
    # accepting correct answers more often makes the filtered vote beat the plain one
    assert curve[-1] > query_vote_curve(answers, correct, 300)[-1] - 1e-12


def test_pools_above_the_supported_size_are_refused():
    with pytest.raises(ValueError, match="above the supported 10000"):
        vote_curve(6000, [4001])
