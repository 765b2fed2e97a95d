"""How Vote accuracy scales with the number of calls K, and the best K (K*).

Two predictors (shared/METHODS.md section 2):

* **Fitted law**, per query x: ``G_x(K) = 1 - exp(-a1 K - a2 sqrt(K) - a3)`` when the
  correct answer is a mode of the query's answer distribution, else
  ``G_x(K) = exp(-a1 K - a2 sqrt(K) - a3)``; ``a1, a2 >= 0`` (``a3`` in [-30, 30]), fit by
  least squares to the query's exact Vote@K accuracies at K = 1..m from a small pool of m
  samples. The task curve is the mean of ``G_x``; K* is its argmax.
* **Two-level closed form**: with a share ``alpha`` of easy queries (difficulty
  ``d(x) = max_{a != y} p_x(a) - p_x(y) < 0``) of mean per-call accuracy ``p1`` and hard
  ones of accuracy ``p2``, for odd K
  ``F(K) = alpha I_{p1}((K+1)/2, (K+1)/2) + (1 - alpha) I_{p2}((K+1)/2, (K+1)/2)``;
  setting F(K+2) = F(K) gives
  ``K* ~ 2 ln[alpha (2 p1 - 1) / ((1 - alpha)(1 - 2 p2))] / ln[p2 (1 - p2) / (p1 (1 - p1))] - 1``
  (defined only when p1 > 1/2 > p2). That root is the curve's maximum only when the curve
  rises then falls; when p1 + p2 < 1 it is its minimum. So K* is the best odd K of F itself,
  in every regime, and the formula is reported beside it as the approximation.

``validate_prediction`` is the point of the law: fit on the first m samples of each query,
predict the curve up to K = 1000 and K*, and compare with the curve measured on the full
pool: mean absolute curve error over the measured K, and the accuracy lost by running the
predicted K* (clipped to the pool) instead of the measured best K.

``call_scaling`` is stage ``scaling``'s whole computation (rule ``fit_scaling``), from
cached samples and verdicts only. It writes:

* ``vote_curves.parquet``: method (vote, filter_vote, verifier), k, calls (K for vote,
  2K for filter_vote and verifier), accuracy, low, high, queries: measured on the full pool;
* ``predicted_curves.parquet``: source (fitted, closed_form), k, accuracy up to K = predict_k_max;
* ``difficulty.parquet``: query_id, p_correct, p_top_wrong, difficulty, mode_correct;
* ``scaling.json``: the validation summary of ``validate_prediction``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from scipy.special import betainc

from assay.compound.vote import task_curve, vote_accuracy

A3_BOUND = 30.0


def law(params: np.ndarray, ks: np.ndarray, mode_correct: bool) -> np.ndarray:
    a1, a2, a3 = params
    decay = np.exp(-a1 * ks - a2 * np.sqrt(ks) - a3)
    return 1.0 - decay if mode_correct else decay


def fit_query_law(ks: np.ndarray, accuracy: np.ndarray, mode_correct: bool) -> np.ndarray:
    """(a1, a2, a3) minimising squared error of G_x against the measured accuracies."""
    ks, accuracy = np.asarray(ks, float), np.asarray(accuracy, float)
    target = 1.0 - accuracy if mode_correct else accuracy
    start_a3 = -np.log(np.clip(target[0], 1e-6, 1.0))
    result = least_squares(
        lambda p: law(p, ks, mode_correct) - accuracy,
        x0=[0.01, 0.01, float(np.clip(start_a3, -A3_BOUND, A3_BOUND))],
        bounds=([0.0, 0.0, -A3_BOUND], [np.inf, np.inf, A3_BOUND]),
    )
    return result.x


def answer_distribution(samples: pd.DataFrame) -> pd.DataFrame:
    """Per query: p_correct (share of correct samples), p_top_wrong (share of the most
    common wrong answer), difficulty d = p_top_wrong - p_correct, mode_correct (d <= 0)."""
    rows = []
    for query_id, group in samples.groupby("query_id", sort=False):
        n = len(group)
        p_correct = group["correct"].sum() / n
        wrong = group.loc[~group["correct"], "answer"].fillna("\x00none").value_counts()
        p_wrong = (wrong.iloc[0] / n) if len(wrong) else 0.0
        rows.append(
            {
                "query_id": query_id,
                "p_correct": float(p_correct),
                "p_top_wrong": float(p_wrong),
                "difficulty": float(p_wrong - p_correct),
            }
        )
    out = pd.DataFrame(rows)
    out["mode_correct"] = (out["difficulty"] <= 0) & (out["p_correct"] > 0)
    return out


def fit_law(samples: pd.DataFrame, k_fit: int | None = None) -> pd.DataFrame:
    """Per-query law parameters from exact Vote@K at K = 1..k_fit: query_id, a1, a2, a3, mode_correct."""
    per_query = vote_accuracy(samples, k_fit)
    modes = answer_distribution(samples).set_index("query_id")["mode_correct"]
    rows = []
    for query_id, group in per_query.groupby("query_id", sort=False):
        a1, a2, a3 = fit_query_law(group["k"].to_numpy(), group["accuracy"].to_numpy(), bool(modes[query_id]))
        rows.append(
            {"query_id": query_id, "a1": a1, "a2": a2, "a3": a3, "mode_correct": bool(modes[query_id])}
        )
    return pd.DataFrame(rows)


def predict_curve(params: pd.DataFrame, k_max: int = 1000) -> pd.DataFrame:
    """Task curve implied by the per-query laws: columns k, accuracy."""
    ks = np.arange(1, k_max + 1, dtype=float)
    curves = [law(np.array([r.a1, r.a2, r.a3]), ks, r.mode_correct) for r in params.itertuples()]
    return pd.DataFrame({"k": ks.astype(int), "accuracy": np.mean(curves, axis=0)})


def best_k(curve: pd.DataFrame) -> int:
    """The smallest K reaching the curve's maximum (within 1e-9)."""
    top = curve["accuracy"].max()
    return int(curve.loc[curve["accuracy"] >= top - 1e-9, "k"].iloc[0])


@dataclass(frozen=True)
class TwoLevel:
    alpha: float
    p1: float
    p2: float

    def curve(self, k_max: int = 1000) -> pd.DataFrame:
        """F(K) for odd K <= k_max."""
        ks = np.arange(1, k_max + 1, 2)
        half = (ks + 1) / 2
        value = self.alpha * betainc(half, half, self.p1) + (1 - self.alpha) * betainc(half, half, self.p2)
        return pd.DataFrame({"k": ks, "accuracy": value})

    def k_star(self, k_max: int = 1000) -> int:
        """The best odd K in [1, k_max]: the maximum of the two-level curve F itself. The
        paper's formula (:meth:`k_star_formula`) is the root of F(K+2) = F(K), which is the
        curve's maximum only when it rises then falls (p1 + p2 > 1 among p1 > 1/2 > p2);
        when p1 + p2 < 1 the curve falls then rises and the root is its minimum, and
        rounding the root to an odd K misses the best K by 2 about half the time."""
        return best_k(self.curve(k_max))

    def k_star_formula(self) -> float | None:
        """The closed-form approximation 2 ln[a(2p1-1)/((1-a)(1-2p2))] / ln[p2(1-p2)/(p1(1-p1))] - 1,
        or None where it is undefined (not p1 > 1/2 > p2, or alpha at 0 or 1)."""
        a, p1, p2 = self.alpha, self.p1, self.p2
        if not (0 < a < 1 and 0.5 < p1 < 1 and 0 < p2 < 0.5):
            return None
        numerator = np.log(a * (2 * p1 - 1) / ((1 - a) * (1 - 2 * p2)))
        denominator = np.log(p2 * (1 - p2) / (p1 * (1 - p1)))
        k = 2 * numerator / denominator - 1
        return float(k) if np.isfinite(k) else None


def estimate_two_level(samples: pd.DataFrame) -> TwoLevel:
    """alpha = share of easy queries (d < 0); p1, p2 = mean per-call accuracy of easy/hard ones."""
    dist = answer_distribution(samples)
    easy = dist["difficulty"] < 0
    p1 = float(dist.loc[easy, "p_correct"].mean()) if easy.any() else 1.0
    p2 = float(dist.loc[~easy, "p_correct"].mean()) if (~easy).any() else 0.0
    return TwoLevel(alpha=float(easy.mean()), p1=p1, p2=p2)


def first_samples(samples: pd.DataFrame, m: int) -> pd.DataFrame:
    """The first m samples of every query (by sample_index), as a smaller pool."""
    return samples[samples["sample_index"] < m]


def validate_prediction(samples: pd.DataFrame, fit_samples: int, k_max: int = 1000) -> dict:
    """Fit on ``fit_samples`` samples per query; compare with the full pool's measured curve."""
    pool = int(samples.groupby("query_id").size().min())
    if not 1 <= fit_samples <= pool:
        raise ValueError(f"fit_samples = {fit_samples} must be between 1 and the pool size {pool}")
    small = first_samples(samples, fit_samples)
    measured = task_curve(vote_accuracy(samples))
    fitted = predict_curve(fit_law(small), k_max)
    two_level = estimate_two_level(small)
    closed = two_level.curve(k_max)
    measured_best = best_k(measured)
    acc = measured.set_index("k")["accuracy"]
    fitted_at = fitted.set_index("k")["accuracy"].reindex(acc.index)
    results = {
        "pool_size": pool,
        "fit_samples": fit_samples,
        "measured_best_k": measured_best,
        "measured_best_accuracy": float(acc[measured_best]),
        "fitted_k_star": best_k(fitted),
        "closed_form_k_star": two_level.k_star(k_max),
        "closed_form_k_star_formula": two_level.k_star_formula(),
        "alpha": two_level.alpha,
        "p1": two_level.p1,
        "p2": two_level.p2,
        "fitted_curve_mae": float(np.mean(np.abs(fitted_at - acc))),
    }
    closed_at = closed.set_index("k")["accuracy"]
    odd = [k for k in acc.index if k in closed_at.index]
    results["closed_form_curve_mae"] = float(np.mean(np.abs(closed_at[odd] - acc[odd])))
    for name in ("fitted", "closed_form"):
        chosen = min(results[f"{name}_k_star"], pool)
        results[f"{name}_accuracy_lost"] = float(acc[measured_best] - acc[chosen])
    return {"summary": results, "measured": measured, "fitted": fitted, "closed_form": closed}


def call_scaling(
    samples: pd.DataFrame, verdicts: pd.DataFrame, fit_samples: int, predict_k_max: int
) -> dict[str, Any]:
    joined = samples.merge(
        verdicts[["query_id", "sample_index", "accepted"]], on=["query_id", "sample_index"]
    )
    if len(joined) != len(samples):
        raise ValueError("verdicts do not cover every sample")
    vote = task_curve(vote_accuracy(joined, method="vote")).assign(method="vote")
    filtered = task_curve(vote_accuracy(joined, method="filter_vote"))
    curves = pd.concat(
        [
            vote.assign(calls=vote["k"]),
            filtered.assign(method="filter_vote", calls=2 * filtered["k"]),
            filtered.assign(method="verifier", calls=2 * filtered["k"]),
        ],
        ignore_index=True,
    )[["method", "k", "calls", "accuracy", "low", "high", "queries"]]
    validation = validate_prediction(samples, fit_samples, predict_k_max)
    predicted = pd.concat(
        [
            validation["fitted"].assign(source="fitted"),
            validation["closed_form"].assign(source="closed_form"),
        ],
        ignore_index=True,
    )[["source", "k", "accuracy"]]
    summary = dict(validation["summary"])
    summary["accept_rate"] = float(verdicts["accepted"].mean())
    summary["no_answer_rate"] = float(samples["answer"].isna().mean())
    summary["filter_vote_best"] = float(filtered["accuracy"].max())
    summary["vote_at_1"] = float(vote["accuracy"].iloc[0])
    return {
        "curves": curves,
        "predicted": predicted,
        "difficulty": answer_distribution(samples),
        "summary": summary,
    }
