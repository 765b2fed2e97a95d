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

from assay.compound import bayes
from assay.compound.verifier import choose_threshold, split_queries, verifier_metrics, weighted_task_curve
from assay.compound.vote import query_vote_curve, task_curve, vote_accuracy

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
    common wrong answer), difficulty d = p_top_wrong - p_correct, mode_correct (d < 0).

    A tie (d = 0) is neither easy nor hard (its Vote@K tends to 1 / the number of tied
    answers); both the law and the two-level estimate count it as *not* easy, so that the
    two predictors classify every query alike (``easy`` below is the one rule)."""
    rows = []
    for query_id, group in samples.groupby("query_id", sort=False):
        n = len(group)
        p_correct = group["correct"].sum() / n
        wrong = group.loc[~group["correct"].astype(bool), "answer"].fillna("\x00none").value_counts()
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
    out["mode_correct"] = easy(out["difficulty"])
    return out


def easy(difficulty: pd.Series) -> pd.Series:
    """The one easy/hard rule (METHODS: easy when d < 0)."""
    return difficulty < 0


def fit_law(samples: pd.DataFrame, k_fit: int | None = None) -> pd.DataFrame:
    """Per-query law parameters from exact Vote@K at K = 1..k_fit (default: each query's
    whole pool, which may differ between queries): query_id, a1, a2, a3, mode_correct."""
    modes = answer_distribution(samples).set_index("query_id")["mode_correct"]
    rows = []
    for query_id, group in samples.groupby("query_id", sort=False):
        k = len(group) if k_fit is None else min(k_fit, len(group))
        accuracy = query_vote_curve(group["answer"].tolist(), group["correct"].tolist(), k)
        a1, a2, a3 = fit_query_law(np.arange(1, k + 1), accuracy, bool(modes[query_id]))
        rows.append(
            {"query_id": query_id, "a1": a1, "a2": a2, "a3": a3, "mode_correct": bool(modes[query_id])}
        )
    return pd.DataFrame(rows)


def query_law_curves(params: pd.DataFrame, ks: np.ndarray) -> np.ndarray:
    """Per-query law curves at (possibly fractional) K: shape (queries, len(ks)) or, with a
    2-D ``ks`` of one row per query, that row's K."""
    ks = np.asarray(ks, float)
    rows = [
        law(np.array([r.a1, r.a2, r.a3]), ks[i] if ks.ndim == 2 else ks, r.mode_correct)
        for i, r in enumerate(params.itertuples())
    ]
    return np.array(rows)


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
    is_easy = dist["mode_correct"]
    p1 = float(dist.loc[is_easy, "p_correct"].mean()) if is_easy.any() else 1.0
    p2 = float(dist.loc[~is_easy, "p_correct"].mean()) if (~is_easy).any() else 0.0
    return TwoLevel(alpha=float(is_easy.mean()), p1=p1, p2=p2)


def first_samples(samples: pd.DataFrame, m: int) -> pd.DataFrame:
    """The first m samples of every query (by sample_index), as a smaller pool."""
    return samples[samples["sample_index"] < m]


PREDICTORS = ("law", "two_level", "bayes")


def predict_vote(samples: pd.DataFrame, k_max: int) -> dict[str, pd.DataFrame]:
    """Each predictor's Vote@K curve (k, accuracy) from the samples it is given."""
    return {
        "law": predict_curve(fit_law(samples), k_max),
        "two_level": estimate_two_level(samples).curve(k_max),
        "bayes": bayes.predict_curve(samples, k_max),
    }


def filtered_pool(samples: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """(the accepted samples of every query, all of them where none is accepted; the
    per-query share accepted, 1 where none is)."""
    accepted = samples["accepted"].astype(bool)
    share = accepted.groupby(samples["query_id"], sort=False).mean()
    none = share[share == 0].index
    kept = samples[accepted | samples["query_id"].isin(none)]
    return kept, share.where(share > 0, 1.0)


def predict_filter_vote(samples: pd.DataFrame, k_max: int) -> dict[str, pd.DataFrame]:
    """Each predictor's Filter-Vote@K curve, K counting generations: a query whose share a
    of samples is accepted votes over about a K accepted ones, so its filtered-pool curve
    is read at a K (the law's and the Bayes predictor's per-query curves; the two-level
    model, which has no per-query curve, at the mean share)."""
    kept, share = filtered_pool(samples)
    params = fit_law(kept)
    ks = np.arange(1, k_max + 1, dtype=float)
    scaled = np.outer(share.reindex(params["query_id"]).to_numpy(), ks)
    law_curve = query_law_curves(params, np.maximum(scaled, 1.0)).mean(axis=0)
    grid, per_query = bayes.predict_query_curves(kept, k_max)
    rates = share.reindex(per_query.index).to_numpy()
    bayes_curve = np.mean(
        [np.interp(rate * grid, grid, row) for rate, row in zip(rates, per_query.to_numpy())], axis=0
    )
    two_level = estimate_two_level(kept).curve(k_max)
    two_level["k"] = np.ceil(two_level["k"] / float(share.mean())).astype(int)
    two_level = two_level[two_level["k"] <= k_max].drop_duplicates("k")
    return {
        "law": pd.DataFrame({"k": ks.astype(int), "accuracy": law_curve}),
        "two_level": two_level.reset_index(drop=True),
        "bayes": pd.DataFrame({"k": grid, "accuracy": bayes_curve}),
    }


def compare(measured: pd.DataFrame, predicted: dict[str, pd.DataFrame], prefix: str = "") -> dict:
    """Per predictor: K*, its predicted accuracy, the measured accuracy at K* (clipped to
    the pool), the accuracy lost against the measured best, the curve's mean absolute error
    over the measured K it predicts."""
    acc = measured.set_index("k")["accuracy"]
    pool, measured_best = int(acc.index.max()), best_k(measured)
    out = {
        f"{prefix}measured_best_k": measured_best,
        f"{prefix}measured_best_accuracy": float(acc[measured_best]),
    }
    for name, curve in predicted.items():
        k_star = best_k(curve)
        at = curve.set_index("k")["accuracy"]
        common = [k for k in acc.index if k in at.index]
        chosen = min(k_star, pool)
        out[f"{prefix}{name}_k_star"] = k_star
        out[f"{prefix}{name}_predicted_accuracy"] = float(at[k_star])
        out[f"{prefix}{name}_accuracy_lost"] = float(acc[measured_best] - acc[chosen])
        error = np.mean(np.abs(at[common] - acc[common])) if common else None
        out[f"{prefix}{name}_curve_mae"] = None if error is None else float(error)
    return out


def validate_prediction(samples: pd.DataFrame, fit_samples: int, k_max: int = 1000) -> dict:
    """Fit every predictor on ``fit_samples`` samples per query; compare with the full
    pool's measured Vote@K (and Filter-Vote@K where the samples carry ``accepted``)."""
    pool = int(samples.groupby("query_id").size().min())
    if not 1 <= fit_samples <= pool:
        raise ValueError(f"fit_samples = {fit_samples} must be between 1 and the pool size {pool}")
    small = first_samples(samples, fit_samples)
    measured = {"vote": task_curve(vote_accuracy(samples))}
    predicted = {"vote": predict_vote(small, k_max)}
    two_level = estimate_two_level(small)
    summary = {
        "pool_size": pool,
        "fit_samples": fit_samples,
        **compare(measured["vote"], predicted["vote"]),
        "two_level_k_star_formula": two_level.k_star_formula(),
        "alpha": two_level.alpha,
        "p1": two_level.p1,
        "p2": two_level.p2,
    }
    if "accepted" in samples:
        measured["filter_vote"] = task_curve(vote_accuracy(samples, method="filter_vote"))
        predicted["filter_vote"] = predict_filter_vote(small, k_max)
        summary |= compare(measured["filter_vote"], predicted["filter_vote"], "filter_vote_")
    return {"summary": summary, "measured": measured, "predicted": predicted}


def call_scaling(
    samples: pd.DataFrame, verdicts: pd.DataFrame, fit_samples: int, predict_k_max: int, dev_share: float
) -> dict[str, Any]:
    """Stage ``scaling``: the verifier's threshold chosen on dev queries and measured on
    held-out ones; measured Vote, Filter-Vote (accepted = confidence >= threshold) and
    confidence-weighted vote curves; every predictor's curve and K* for Vote and
    Filter-Vote, validated against the measured curves."""
    joined = samples.merge(
        verdicts[["query_id", "sample_index", "said_correct", "confidence"]], on=["query_id", "sample_index"]
    )
    if len(joined) != len(samples):
        raise ValueError("verdicts do not cover every sample")
    dev, held_out = split_queries(joined["query_id"].unique().tolist(), dev_share)
    on_dev = joined["query_id"].isin(dev)
    threshold = choose_threshold(joined.loc[on_dev, "correct"], joined.loc[on_dev, "confidence"])
    joined["accepted"] = joined["confidence"] >= threshold
    test = joined[~on_dev]
    verifier = {
        f"verifier_{key}": value
        for key, value in verifier_metrics(test["correct"], test["accepted"], test["confidence"]).items()
    }
    text = verifier_metrics(test["correct"], test["said_correct"], test["confidence"])
    validation = validate_prediction(joined, fit_samples, predict_k_max)
    vote, filtered = validation["measured"]["vote"], validation["measured"]["filter_vote"]
    weighted = weighted_task_curve(joined, int(vote["k"].max()))
    curves = pd.concat(
        [
            vote.assign(method="vote", calls=vote["k"]),
            filtered.assign(method="filter_vote", calls=2 * filtered["k"]),
            weighted.assign(method="weighted_vote", calls=2 * weighted["k"]),
        ],
        ignore_index=True,
    )[["method", "k", "calls", "accuracy", "low", "high", "queries"]]
    predicted = pd.concat(
        [
            curve.assign(method=method, predictor=name)
            for method, by_predictor in validation["predicted"].items()
            for name, curve in by_predictor.items()
        ],
        ignore_index=True,
    )[["method", "predictor", "k", "accuracy"]]
    summary = {
        **validation["summary"],
        "queries": int(joined["query_id"].nunique()),
        "dev_queries": len(dev),
        "held_out_queries": len(held_out),
        "threshold": threshold,
        **verifier,
        "text_verdict_accept_rate": text["accept_rate"],
        "text_verdict_precision": text["precision"],
        "text_verdict_recall": text["recall"],
        "generator_accuracy": float(test["correct"].mean()) if len(test) else float("nan"),
        "no_answer_rate": float(samples["answer"].isna().mean()),
        "vote_at_1": float(vote["accuracy"].iloc[0]),
        "vote_best": float(vote["accuracy"].max()),
        "filter_vote_best": float(filtered["accuracy"].max()),
        "weighted_vote_best": float(weighted["accuracy"].max()),
    }
    return {
        "curves": curves,
        "predicted": predicted,
        "difficulty": answer_distribution(samples),
        "summary": {key: _json_value(value) for key, value in summary.items()},
    }


def _json_value(value: Any) -> Any:
    """NaN (a metric with no case to count, e.g. recall without a correct sample) as null:
    JSON has no NaN."""
    return None if isinstance(value, float) and np.isnan(value) else value
