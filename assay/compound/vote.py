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
from scipy.special import gammaln

NO_ANSWER = "\x00no-answer"
MAX_POOL = 10_000


def _log_comb(n: float, k: np.ndarray) -> np.ndarray:
    """log C(n, k), -inf where k < 0 or k > n."""
    k = np.asarray(k, dtype=float)
    inside = (k >= 0) & (k <= n)
    kk = np.where(inside, k, 0.0)
    out = gammaln(n + 1) - gammaln(kk + 1) - gammaln(n - kk + 1)
    return np.where(inside, out, -np.inf)


def _merge_class(table: np.ndarray, total: int, count: int, j: int, tie: bool) -> np.ndarray:
    """Add one answer class of ``count`` samples to a table of draw probabilities.

    ``table[r, t]`` is the probability that r draws (without replacement) from the
    ``total`` samples merged so far draw no answer more than j times, with t answers
    drawn exactly j times. Drawing k of the new class's samples has the hypergeometric
    probability h(k; r) = C(total, r - k) C(count, k) / C(total + count, r); keeping the
    table normalised this way (probabilities, never raw binomial coefficients) is what lets
    pools of thousands of samples be computed without overflow. With ``tie``, k = j moves
    the mass to t + 1; without it (j = 1, where every drawn answer ties) it stays.
    """
    rows, ties = table.shape
    r = np.arange(rows)[:, None]
    k = np.arange(min(j, count, rows - 1) + 1)[None, :]
    with np.errstate(invalid="ignore"):  # -inf - -inf where no draw is possible
        log_h = _log_comb(total, r - k) + _log_comb(count, k) - _log_comb(total + count, r)
    h = np.exp(np.where(np.isfinite(log_h), log_h, -np.inf))  # h[r, k]
    # earlier[r, t, k] = table[r - k, t] (zero for r < k)
    padded = np.vstack([np.zeros((k.shape[1] - 1, ties)), table])
    earlier = np.lib.stride_tricks.sliding_window_view(padded, k.shape[1], axis=0)[..., ::-1]
    merged = np.zeros((rows, ties + (1 if tie else 0)))
    if tie and k.shape[1] == j + 1:  # k = j: one more answer tied at j votes
        merged[:, :ties] = np.einsum("rtk,rk->rt", earlier[..., :j], h[:, :j])
        merged[:, 1:] += earlier[..., j] * h[:, [j]]
    else:
        merged[:, :ties] = np.einsum("rtk,rk->rt", earlier, h)
    return merged


def _others_at_most(j: int, others: Sequence[int], rows: int) -> np.ndarray:
    """q[r] for r = 0..rows-1: the probability that r draws from the wrong answers draw
    none of them more than j times, times the expected tie share 1 / (1 + t) of the
    correct answer among the t wrong answers drawn exactly j times."""
    rest = sum(others)
    if j == 1:
        # every drawn wrong answer ties at one vote, so t = r: no tie dimension needed
        table, total = np.ones((rows, 1)), 0
        table[1:] = 0.0
        for c in others:
            table = _merge_class(table, total, c, 1, tie=False)
            total += c
        return table[:, 0] / (1.0 + np.arange(rows))
    big = [c for c in others if c >= j]
    small = rest - sum(big)
    # answers with fewer than j samples can never reach j votes: any draw of them is fine
    table = np.zeros((rows, 1))
    table[: min(small, rows - 1) + 1, 0] = 1.0
    total = small
    for c in big:
        table = _merge_class(table, total, c, j, tie=True)
        total += c
    return table @ (1.0 / (1.0 + np.arange(table.shape[1])))


def _largest_drawn(x: int, count: int, rest: int, draws: np.ndarray) -> np.ndarray:
    """P(exactly x of r draws from the ``rest`` wrong samples hit an answer of ``count``)."""
    log_p = _log_comb(count, np.array([x]))[0] + _log_comb(rest - count, draws - x) - _log_comb(rest, draws)
    return np.exp(log_p)


def vote_curve(correct_count: int, other_counts: Sequence[int], k_max: int | None = None) -> np.ndarray:
    """Exact P(Vote@K correct) for K = 1..k_max (default: the pool size n, up to 10,000).

    ``correct_count`` is how many pool samples carry the correct answer; ``other_counts``
    the counts of each wrong answer (the no-answer class included). For each number j of
    correct votes, P = sum_j Hyp(j; K) * q_j(K - j), Hyp the hypergeometric probability of
    drawing j correct samples in K and q_j the tie-shared probability that no wrong answer
    gets more than j of the other K - j draws. Everything is a probability (log-space
    binomials), so large pools do not overflow. Cost: where at most one wrong answer has j
    or more samples, q_j is a hypergeometric tail carried over j (linear in the pool per j);
    for j up to the second most frequent wrong answer's count it is a table over draws and
    ties (about draws x j per answer with >= j samples): pools with one frequent wrong
    answer and a tail take seconds at 10,000 samples, pools with two frequent wrong
    answers of thousands of samples each take minutes.
    """
    others = [int(c) for c in other_counts if c > 0]
    n = int(correct_count) + sum(others)
    k_max = n if k_max is None else k_max
    if n > MAX_POOL:
        raise ValueError(f"a pool of {n} samples is above the supported {MAX_POOL}")
    if k_max > n:
        raise ValueError(f"K = {k_max} is above the pool size {n}")
    curve = np.zeros(k_max + 1)
    if correct_count == 0 or n == 0:
        return curve[1:]
    rest = n - correct_count
    ordered = sorted(others, reverse=True)
    largest, second = (ordered + [0, 0])[:2]
    r_all = np.arange(min(rest, k_max - 1) + 1)  # draws from the wrong answers
    below = None  # P(X < j) for the largest wrong answer's draws X, kept across j
    for j in range(1, min(correct_count, k_max) + 1):
        rows = min(rest, k_max - j) + 1
        if j > largest:
            q = np.ones(rows)  # no wrong answer can reach j votes
        elif j > max(second, 1):
            # only the largest wrong answer can reach j: q = P(X < j) + P(X = j) / 2, X
            # hypergeometric, its cumulative sum carried from one j to the next
            if below is None:
                below = sum(_largest_drawn(x, largest, rest, r_all) for x in range(j))
            at_j = _largest_drawn(j, largest, rest, r_all)
            q = (below + 0.5 * at_j)[:rows]
            below = below + at_j
        else:
            q = _others_at_most(j, others, rows)
        ks = j + np.arange(rows)
        log_hyp = _log_comb(correct_count, np.array([j]))[0] + _log_comb(rest, ks - j) - _log_comb(n, ks)
        curve[ks] += np.exp(log_hyp) * q
    return np.clip(curve[1:], 0.0, 1.0)


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
        hyper = np.exp(_log_comb(n_acc, ks) + _log_comb(n_rej, K - ks) - _log_comb(n, np.array([K]))[0])
        value = float(np.sum(hyper * acc_curve[ks])) if len(ks) else 0.0
        if K <= n_rej:
            none_accepted = _log_comb(n_rej, np.array([K]))[0] - _log_comb(n, np.array([K]))[0]
            value += float(np.exp(none_accepted)) * rej_curve[K]
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
