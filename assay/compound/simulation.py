"""Validation of K* predictors on populations whose Vote@K curves are known.

A case is a population of queries, each with a large pool of samples (``POOL`` answers
laid out exactly in its answer distribution), so its true task curve is the exact Vote@K
of the pools (``vote.vote_curve``). A predictor sees the first m samples of a random
permutation of every pool, predicts K* in [1, k_range], and is charged the accuracy the
true curve loses at its K* against the true best K.

Families (every case draws its own parameters):

* ``two_level``: a share alpha ~ U(0.2, 0.8) of easy queries of per-call accuracy
  p1 ~ U(0.55, 0.95), the rest hard at p2 ~ U(0.05, 0.45) (the paper's model: rise then
  fall when p1 + p2 > 1, fall then rise otherwise);
* ``continuous``: per-query accuracy ~ Beta(a, b), a, b ~ U(0.3, 3);
* answers ``binary`` (one wrong answer) or ``multi`` (the wrong mass split between one
  frequent wrong answer, a share ~ U(0.2, 0.9) of it, and 20 scattered ones).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from assay.compound import bayes
from assay.compound.scaling import (
    TwoLevel,
    best_k,
    estimate_two_level,
    fit_law,
    predict_curve,
    predict_filter_vote,
)
from assay.compound.vote import query_filter_vote_curve, vote_curve

POOL = 1000
SCATTERED = 20
FAMILIES = (
    ("two_level", "binary"),
    ("two_level", "multi"),
    ("continuous", "binary"),
    ("continuous", "multi"),
)


@dataclass
class Case:
    """One population: per query the answer counts of its pool (correct first), and for
    Filter-Vote a verifier that accepts a correct sample with probability ``tpr`` and a
    wrong one with ``fpr`` (each pool sample's verdict drawn once: the pool is the truth)."""

    family: str
    answers: str
    counts: list[np.ndarray]
    params: dict
    accepted: list[np.ndarray] | None = None

    def labels(self, query: int) -> np.ndarray:
        return np.repeat(np.arange(len(self.counts[query])), self.counts[query])

    def true_curve(self, k_range: int) -> np.ndarray:
        return np.mean([vote_curve(int(c[0]), c[1:], k_range) for c in self.counts], axis=0)

    def true_filter_vote_curve(self, k_range: int) -> np.ndarray:
        assert self.accepted is not None, "this case has no verifier"
        curves = []
        for query in range(len(self.counts)):
            labels = self.labels(query)
            curves.append(
                query_filter_vote_curve(labels.astype(str), labels == 0, self.accepted[query], k_range)
            )
        return np.mean(curves, axis=0)

    def with_verifier(self, rng: np.random.Generator) -> Case:
        tpr, fpr = rng.uniform(0.6, 0.95), rng.uniform(0.05, 0.5)
        accepted = [
            rng.random(POOL) < np.where(self.labels(q) == 0, tpr, fpr) for q in range(len(self.counts))
        ]
        return Case(self.family, self.answers, self.counts, {**self.params, "tpr": tpr, "fpr": fpr}, accepted)

    def draw(self, m: int, rng: np.random.Generator) -> pd.DataFrame:
        """m samples per query without replacement from its pool: the samples table (with
        ``accepted`` where the case has a verifier)."""
        frames = []
        for query in range(len(self.counts)):
            order = rng.permutation(POOL)[:m]
            drawn = self.labels(query)[order]
            frame = pd.DataFrame(
                {
                    "query_id": f"q{query}",
                    "sample_index": np.arange(m),
                    "answer": [str(a) for a in drawn],
                    "correct": drawn == 0,
                }
            )
            if self.accepted is not None:
                frame["accepted"] = self.accepted[query][order]
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)


def _pool_counts(shares: np.ndarray) -> np.ndarray:
    """Counts summing to POOL in proportion to ``shares`` (largest remainders)."""
    raw = shares / shares.sum() * POOL
    counts = np.floor(raw).astype(int)
    counts[np.argsort(raw - counts)[::-1][: POOL - counts.sum()]] += 1
    return counts


def draw_case(family: str, answers: str, queries: int, rng: np.random.Generator) -> Case:
    if family == "two_level":
        alpha, p1, p2 = rng.uniform(0.2, 0.8), rng.uniform(0.55, 0.95), rng.uniform(0.05, 0.45)
        correct = np.where(rng.random(queries) < alpha, p1, p2)
        params = {"alpha": alpha, "p1": p1, "p2": p2}
    else:
        a, b = rng.uniform(0.3, 3.0, size=2)
        correct = rng.beta(a, b, size=queries)
        params = {"a": a, "b": b}
    counts = []
    for p in correct:
        if answers == "binary":
            shares = np.array([p, 1 - p])
        else:
            top = rng.uniform(0.2, 0.9)
            scattered = rng.dirichlet(np.ones(SCATTERED)) * (1 - p) * (1 - top)
            shares = np.concatenate([[p, (1 - p) * top], scattered])
        counts.append(_pool_counts(shares))
    return Case(family, answers, counts, params)


def law_k_star(samples: pd.DataFrame, k_range: int) -> int:
    return best_k(predict_curve(fit_law(samples), k_range))


def two_level_k_star(samples: pd.DataFrame, k_range: int) -> int:
    model: TwoLevel = estimate_two_level(samples)
    return model.k_star(k_range)


def bayes_k_star(samples: pd.DataFrame, k_range: int) -> int:
    return best_k(bayes.predict_curve(samples, k_range))


PREDICTORS: dict[str, Callable[[pd.DataFrame, int], int]] = {
    "law": law_k_star,
    "two_level": two_level_k_star,
    "bayes": bayes_k_star,
}


def filter_vote_k_stars(samples: pd.DataFrame, k_range: int) -> dict[str, int]:
    return {name: best_k(curve) for name, curve in predict_filter_vote(samples, k_range).items()}


def evaluate(
    cases_per_family: int,
    samples_per_query: tuple[int, ...],
    queries: int = 100,
    k_range: int = 128,
    seed: int = 0,
    method: str = "vote",
) -> pd.DataFrame:
    """One row per (case, m, predictor): family, answers, case, m, predictor, k_star,
    true_best_k, accuracy_lost (true curve at its best K minus at the predicted K*).
    ``method`` ``filter_vote`` gives every case a verifier and charges the predictors'
    Filter-Vote K* (K counting generations) against the true Filter-Vote curve."""
    rng = np.random.default_rng(seed)
    rows = []
    for family, answers in FAMILIES:
        for case_index in range(cases_per_family):
            case = draw_case(family, answers, queries, rng)
            if method == "filter_vote":
                case = case.with_verifier(rng)
                truth = case.true_filter_vote_curve(k_range)
            else:
                truth = case.true_curve(k_range)
            best = int(np.argmax(truth >= truth.max() - 1e-9)) + 1
            for m in samples_per_query:
                samples = case.draw(m, rng)
                if method == "filter_vote":
                    k_stars = filter_vote_k_stars(samples, k_range)
                else:
                    k_stars = {name: predictor(samples, k_range) for name, predictor in PREDICTORS.items()}
                for name, k_star in k_stars.items():
                    k_star = min(k_star, k_range)
                    rows.append(
                        {
                            "family": family,
                            "answers": answers,
                            "case": case_index,
                            "m": m,
                            "predictor": name,
                            "k_star": k_star,
                            "true_best_k": best,
                            "accuracy_lost": float(truth[best - 1] - truth[k_star - 1]),
                        }
                    )
    return pd.DataFrame(rows)


def summary_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per predictor and m: cases, median and 90th-percentile loss (points), share of cases
    losing at most 1 and at most 2 points."""
    grouped = results.groupby(["predictor", "m"])["accuracy_lost"]
    return pd.DataFrame(
        {
            "cases": grouped.size(),
            "median_lost_pts": grouped.median() * 100,
            "p90_lost_pts": grouped.quantile(0.9) * 100,
            "within_1pt": grouped.apply(lambda x: float((x <= 0.01).mean())),
            "within_2pt": grouped.apply(lambda x: float((x <= 0.02).mean())),
        }
    ).reset_index()
