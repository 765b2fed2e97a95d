"""Vote@K and Filter-Vote@K accuracy from a pool of n >= K samples per query.

Exact, unbiased estimator (no bootstrap noise). For one query, let the pool hold n samples
whose extracted answers have counts ``c_y`` (the correct answer) and ``c_1..c_m`` (the
other answers; samples with no extractable answer form one more class that is never
correct). Draw a K-subset uniformly from the C(n, K) subsets; the vote returns the most
common answer, ties broken uniformly at random. Then

    P(Vote@K correct) = sum_{j=1..min(c_y, K)} C(c_y, j) * W_j(K - j) / C(n, K)

where W_j(r) sums, over the ways of drawing r samples from the other answers with every
other answer drawn at most j times, the product of C(c_a, k_a) times the tie share
1 / (1 + t), t being the number of other answers drawn exactly j times. For fixed j the
generating polynomial prod_a [sum_{k<j} C(c_a, k) x^k + C(c_a, j) x^j z] does not depend
on K, so one polynomial product per j yields W_j for every K at once: the whole curve
K = 1..n costs about c_y polynomial products. This is the unbiased pass@k construction
(averaging over all K-subsets of the pool) applied to the vote.

Filter-Vote@K: each sample also has a verdict (accepted or not). Given a K-subset with k
accepted samples, the accepted ones are a uniform k-subset of the accepted pool, so

    P(FV@K) = sum_{k=1..K} H(k) * Vote_acc(accepted pool, k) + H(0) * Vote_acc(rejected pool, K)

with H(k) = C(n_acc, k) C(n_rej, K - k) / C(n, K) hypergeometric (vote over the accepted
ones; if none is accepted, vote over all K, which are then all rejected ones).

Task accuracy at K is the mean over queries; its 95% interval is the normal interval of
that mean over queries (per-query values are exact, so the remaining uncertainty is the
sampling of queries and of each query's pool). The reference code's bootstrap (resample K
of the n samples with replacement, B times) is ``bootstrap_vote_accuracy``; note that it
estimates voting over K draws *with* replacement from the pool, a slightly different
quantity, and carries Monte Carlo noise (benchmarks/vote.py measures both).

Input table (``samples.parquet`` of ``sample_answers``): one row per sample with columns
``query_id``, ``answer`` (str, null when none was extracted), ``correct`` (bool) and, for
Filter-Vote, ``accepted`` (bool).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import comb

NO_ANSWER = "\x00no-answer"


def vote_curve(correct_count: int, other_counts: Sequence[int], k_max: int | None = None) -> np.ndarray:
    """Exact P(Vote@K correct) for K = 1..k_max (default: the pool size n).

    ``correct_count`` is how many pool samples carry the correct answer; ``other_counts``
    the counts of each wrong answer (the no-answer class included). Wrong answers with
    fewer than j samples can never reach j votes, so together they contribute the plain
    binomial row C(their total, r); only answers with at least j samples need the tie
    variable, which keeps the cost low for realistic pools (a few frequent answers).
    """
    others = [int(c) for c in other_counts if c > 0]
    n = int(correct_count) + sum(others)
    k_max = n if k_max is None else k_max
    if k_max > n:
        raise ValueError(f"K = {k_max} is above the pool size {n}")
    curve = np.zeros(k_max + 1)
    if correct_count == 0 or n == 0:
        return curve[1:]
    rest = n - correct_count
    for j in range(1, min(correct_count, k_max) + 1):
        big = [c for c in others if c >= j]
        small = rest - sum(big)
        # poly[r, t]: ways to draw r samples from the others with t of them tied at j votes
        poly = comb(small, np.arange(small + 1))[:, None]
        for c in big:
            below = comb(c, np.arange(j))  # drawn 0..j-1 times: no tie
            tie = comb(c, j)
            rows = min(poly.shape[0] + j, rest + 1)
            grown = np.zeros((rows, poly.shape[1] + 1))
            for t in range(poly.shape[1]):
                spread = np.convolve(poly[:, t], below)[:rows]
                grown[: len(spread), t] += spread
                shifted = poly[: rows - j, t] * tie
                grown[j : j + len(shifted), t + 1] += shifted
            poly = grown
        share = 1.0 / (1.0 + np.arange(poly.shape[1]))
        weights = poly @ share  # W_j(r), r = 0..len-1
        ks = np.arange(j, min(k_max, j + len(weights) - 1) + 1)
        curve[ks] += comb(correct_count, j) * weights[ks - j]
    ks = np.arange(1, k_max + 1)
    return curve[1:] / comb(n, ks)


def _counts(answers: Sequence[str | None], correct: Sequence[bool]) -> tuple[int, list[int]]:
    labels = [NO_ANSWER if a is None or (isinstance(a, float) and np.isnan(a)) else a for a in answers]
    correct_labels = {lab for lab, ok in zip(labels, correct) if ok and lab != NO_ANSWER}
    counts = Counter(labels)
    c_y = sum(counts[lab] for lab in correct_labels)
    return c_y, [c for lab, c in counts.items() if lab not in correct_labels]


def query_vote_curve(
    answers: Sequence[str | None], correct: Sequence[bool], k_max: int | None = None
) -> np.ndarray:
    c_y, others = _counts(answers, correct)
    return vote_curve(c_y, others, k_max)


def query_filter_vote_curve(
    answers: Sequence[str | None], correct: Sequence[bool], accepted: Sequence[bool], k_max: int | None = None
) -> np.ndarray:
    """Exact P(Filter-Vote@K correct) for K = 1..k_max (see the module docstring)."""
    answers, correct, accepted = list(answers), list(correct), [bool(a) for a in accepted]
    n = len(answers)
    k_max = n if k_max is None else k_max
    if k_max > n:
        raise ValueError(f"K = {k_max} is above the pool size {n}")
    acc_idx = [i for i in range(n) if accepted[i]]
    rej_idx = [i for i in range(n) if not accepted[i]]
    n_acc, n_rej = len(acc_idx), len(rej_idx)
    acc_curve = np.concatenate(
        [[0.0], query_vote_curve([answers[i] for i in acc_idx], [correct[i] for i in acc_idx])]
    )
    rej_curve = np.concatenate(
        [[0.0], query_vote_curve([answers[i] for i in rej_idx], [correct[i] for i in rej_idx])]
    )
    out = np.zeros(k_max)
    for K in range(1, k_max + 1):
        ks = np.arange(max(1, K - n_rej), min(K, n_acc) + 1)
        hyper = comb(n_acc, ks) * comb(n_rej, K - ks) / comb(n, K)
        value = float(np.sum(hyper * acc_curve[ks])) if len(ks) else 0.0
        if K <= n_rej:
            value += comb(n_rej, K) / comb(n, K) * rej_curve[K]
        out[K - 1] = value
    return out


def _pool_size(samples: pd.DataFrame) -> int:
    sizes = samples.groupby("query_id").size()
    return int(sizes.min())


def vote_accuracy(samples: pd.DataFrame, k_max: int | None = None, method: str = "vote") -> pd.DataFrame:
    """Per-query exact accuracy for K = 1..k_max: columns query_id, k, accuracy.

    ``method`` is ``vote`` or ``filter_vote`` (needs column ``accepted``).
    """
    pool = _pool_size(samples)
    k_max = pool if k_max is None else k_max
    if k_max < 1:
        raise ValueError(f"K_max must be >= 1, got {k_max}")
    if k_max > pool:
        raise ValueError(f"K = {k_max} is above the pool size {pool} (the smallest pool of any query)")
    frames = []
    for query_id, group in samples.groupby("query_id", sort=False):
        answers = group["answer"].tolist()
        if method == "vote":
            curve = query_vote_curve(answers, group["correct"].tolist(), k_max)
        else:
            curve = query_filter_vote_curve(
                answers, group["correct"].tolist(), group["accepted"].tolist(), k_max
            )
        frames.append(pd.DataFrame({"query_id": query_id, "k": np.arange(1, k_max + 1), "accuracy": curve}))
    return pd.concat(frames, ignore_index=True)


def task_curve(per_query: pd.DataFrame) -> pd.DataFrame:
    """Mean over queries per K with a 95% normal interval: columns k, accuracy, low, high, queries."""
    grouped = per_query.groupby("k")["accuracy"]
    mean, std, count = grouped.mean(), grouped.std(ddof=1).fillna(0.0), grouped.count()
    half = 1.96 * std / np.sqrt(count)
    return pd.DataFrame(
        {
            "k": mean.index,
            "accuracy": mean.to_numpy(),
            "low": (mean - half).clip(lower=0).to_numpy(),
            "high": (mean + half).clip(upper=1).to_numpy(),
            "queries": count.to_numpy(),
        }
    )


def bootstrap_vote_accuracy(
    answers: Sequence[str | None], correct: Sequence[bool], k: int, rounds: int = 1000, seed: int = 0
) -> float:
    """The reference code's estimate: resample k answers with replacement, ``rounds`` times."""
    rng = np.random.default_rng(seed)
    labels = np.array([NO_ANSWER if a is None else a for a in answers], dtype=object)
    good = {lab for lab, ok in zip(labels, correct) if ok and lab != NO_ANSWER}
    wins = 0.0
    for _ in range(rounds):
        drawn = Counter(labels[rng.integers(0, len(labels), size=k)])
        top = max(drawn.values())
        modes = [lab for lab, c in drawn.items() if c == top]
        wins += sum(lab in good for lab in modes) / len(modes)
    return wins / rounds
