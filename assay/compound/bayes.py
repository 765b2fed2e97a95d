"""An empirical-Bayes K* predictor that stays right with few samples per query.

Why: the paper's per-query law classifies each query as easy or hard from its few
samples and extrapolates that class to every K. With 4 samples a hard query often looks
easy (3 of 4 right), and its law then rises to 1 forever: the predicted task curve keeps
rising and K* lands at the top of the range (METHODS section 2; issue 13 measured a loss
of 10 points on a rise-then-fall mixture).

What this predictor does instead: every query has an unknown answer distribution,
reduced to three shares: ``p_y`` (the correct answer), ``p_w`` (its most frequent wrong
answer) and ``p_o`` (everything else, modelled as scattered answers that never gather
votes). The shares of all queries are draws from one prior, a discrete distribution on a
grid of (p_y, p_w), fitted to all queries at once by maximum marginal likelihood (the
nonparametric MLE, by EM). A query's posterior over the grid weighs that prior by the
multinomial likelihood of its own counts. The predicted Vote@K of a query is the
posterior expectation of Vote@K, and the task curve is their mean. When the prior is the
population's, the expected predicted curve *is* the population's curve (law of total
expectation): the errors of single queries average out instead of all pushing one way.

Vote@K for shares (p_y, p_w, p_o), K draws with replacement, T = Y + W of them on the two
competing answers: ``sum_T Binom(T; K, p_y + p_w) h_T(p_y / (p_y + p_w))`` with
``h_T(q) = P(Bin(T, q) > T/2) + P(Bin(T, q) = T/2) / 2``, corrected for the draws where
the correct answer gets one vote and ties with every scattered answer (share 1/K).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.special import xlogy
from scipy.stats import binom

from assay.compound.vote import NO_ANSWER

GRID = 40  # grid step 1/40 on each share: 861 points
EM_ITERATIONS = 300
DENSE_K = 128  # every K up to here, then a geometric grid


def k_grid(k_max: int) -> np.ndarray:
    """Every K up to min(k_max, DENSE_K), then about 60 geometrically spaced K up to k_max."""
    dense = np.arange(1, min(k_max, DENSE_K) + 1)
    if k_max <= DENSE_K:
        return dense
    tail = np.unique(np.geomspace(DENSE_K + 1, k_max, 60).round().astype(int))
    return np.unique(np.concatenate([dense, tail, [k_max]]))


@lru_cache(maxsize=4)
def share_grid(step: int = GRID) -> np.ndarray:
    """Grid points (p_y, p_w) with p_y + p_w <= 1, as an array of shape (points, 2)."""
    points = [(i / step, k / step) for i in range(step + 1) for k in range(step + 1 - i)]
    return np.array(points)


@lru_cache(maxsize=4)
def vote_table(k_max: int, step: int = GRID) -> tuple[np.ndarray, np.ndarray]:
    """(K grid, V[point, K]): Vote@K at every grid point (see the module docstring)."""
    grid = share_grid(step)
    p_y, p_w = grid[:, 0], grid[:, 1]
    competing = p_y + p_w
    q = np.divide(p_y, competing, out=np.zeros_like(p_y), where=competing > 0)
    p_o = np.clip(1.0 - competing, 0.0, 1.0)
    ks = k_grid(k_max)
    t = np.arange(k_max + 1)
    # h_T(q): the correct answer has more than half of the T competing votes (ties halved)
    h = binom.sf(t[None, :] // 2, t[None, :], q[:, None])
    h += np.where(t % 2 == 0, 0.5 * binom.pmf(t[None, :] // 2, t[None, :], q[:, None]), 0.0)
    h[:, 0] = 0.0
    table = np.empty((len(grid), len(ks)))
    for i, k in enumerate(ks):
        weights = binom.pmf(t[None, : k + 1], k, competing[:, None])
        value = (weights * h[:, : k + 1]).sum(axis=1)
        # one correct vote, at most one for the top wrong answer, the rest scattered: every
        # drawn answer has one vote and the correct one wins a 1/K share, not h_T's
        one_alone = k * p_y * p_o ** (k - 1)
        one_each = k * (k - 1) * p_y * p_w * p_o ** max(k - 2, 0) if k >= 2 else 0.0
        value += one_alone * (1.0 / k - 1.0) + one_each * (1.0 / k - 0.5)
        table[:, i] = value
    return ks, np.clip(table, 0.0, 1.0)


def share_counts(samples: pd.DataFrame) -> pd.DataFrame:
    """Per query: n_correct, n_top_wrong (the most frequent wrong answer, no-answer being one
    answer as in the vote), n_other."""
    rows = []
    for query_id, group in samples.groupby("query_id", sort=False):
        wrong = group.loc[~group["correct"].astype(bool), "answer"].fillna(NO_ANSWER).value_counts()
        top = int(wrong.iloc[0]) if len(wrong) else 0
        n_correct = int(group["correct"].sum())
        rows.append(
            {
                "query_id": query_id,
                "n_correct": n_correct,
                "n_top_wrong": top,
                "n_other": len(group) - n_correct - top,
            }
        )
    return pd.DataFrame(rows)


def fit_prior(counts: pd.DataFrame, step: int = GRID) -> tuple[np.ndarray, np.ndarray]:
    """(prior weights over the grid, per-query posterior) by EM on the marginal likelihood."""
    grid = share_grid(step)
    shares = np.column_stack([grid[:, 0], grid[:, 1], np.clip(1 - grid.sum(axis=1), 0, 1)])
    n = counts[["n_correct", "n_top_wrong", "n_other"]].to_numpy(float)
    log_lik = sum(xlogy(n[:, [i]], shares[None, :, i]) for i in range(3))
    lik = np.exp(log_lik - log_lik.max(axis=1, keepdims=True))
    prior = np.full(len(grid), 1.0 / len(grid))
    for _ in range(EM_ITERATIONS):
        joint = lik * prior
        posterior = joint / joint.sum(axis=1, keepdims=True)
        prior = posterior.mean(axis=0)
    joint = lik * prior
    return prior, joint / joint.sum(axis=1, keepdims=True)


def predict_query_curves(samples: pd.DataFrame, k_max: int) -> tuple[np.ndarray, pd.DataFrame]:
    """(K grid, per-query predicted Vote@K: one row per query, in ``share_counts`` order)."""
    counts = share_counts(samples)
    _, posterior = fit_prior(counts)
    ks, table = vote_table(k_max)
    return ks, pd.DataFrame(posterior @ table, index=counts["query_id"], columns=ks)


def predict_curve(samples: pd.DataFrame, k_max: int = 1000) -> pd.DataFrame:
    """The task's predicted Vote@K: columns k, accuracy (on the K grid)."""
    ks, per_query = predict_query_curves(samples, k_max)
    return pd.DataFrame({"k": ks, "accuracy": per_query.to_numpy().mean(axis=0)})
