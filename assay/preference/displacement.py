"""Rule ``measure_displacement``: the variant x subset table and its figures.

``displacement.parquet``, one row per trained policy (variant x subset): run, variant,
subset, train_pairs, steps, delta_logp_chosen and delta_logp_rejected (mean change from
start to end over the pairs it trained on), delta_margin, share_chosen_fell,
heldout_delta_logp_chosen, heldout_share_chosen_fell (the same on held-out pairs),
spearman_ches (Spearman correlation of length-normalised CHES with the per-pair fall of
log pi(y+|x), over the trained pairs) with spearman_ches_low / _high (its 95% bootstrap
interval over pairs), ches_pairs and spearman_ches_all / _low / _high (the same over every
pair the run measured, trained, untrained and held out: training may use few pairs while
the correlation needs many), spearman_edit (the same for edit-distance similarity, the
baseline measure, over the trained pairs), accuracy_before (the initial policy's greedy test
accuracy), accuracy_after (the trained policy's), train_seconds.

Figures: ``logprob_curves.svg`` (mean log pi(y+|x) and log pi(y-|x) against the step, one
panel per run, train solid and held-out dashed) and ``ches_vs_displacement.svg`` (per
trained pair: LN-CHES against the fall of log pi(y+|x), one colour per run).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr

from assay.figures import save


def displacement_summary(before: pd.DataFrame, after: pd.DataFrame, ches: pd.DataFrame | None = None) -> dict:
    """Changes from start to end of training: mean change of log pi(y+|x) and log pi(y-|x),
    the share of pairs whose chosen log-prob fell, and the Spearman correlation between CHES
    (length-normalised) and the per-pair fall of the chosen log-prob."""
    joined = before.merge(after, on="pair_id", suffixes=("_before", "_after"))
    delta_chosen = joined["logp_chosen_after"] - joined["logp_chosen_before"]
    delta_rejected = joined["logp_rejected_after"] - joined["logp_rejected_before"]
    summary = {
        "pairs": len(joined),
        "delta_logp_chosen": float(delta_chosen.mean()),
        "delta_logp_rejected": float(delta_rejected.mean()),
        "delta_margin": float((delta_chosen - delta_rejected).mean()),
        "share_chosen_fell": float((delta_chosen < 0).mean()),
        "spearman_ches_displacement": None,
    }
    if ches is not None and len(joined) > 2:
        scored = joined.assign(fall=-delta_chosen).merge(ches[["pair_id", "ln_ches"]], on="pair_id")
        rho = spearmanr(scored["ln_ches"], scored["fall"]).statistic
        summary["spearman_ches_displacement"] = None if pd.isna(rho) else float(rho)
    return summary


@dataclass
class TrainedRun:
    """What one ``policies`` artifact contributes to the table."""

    name: str
    variant: str
    subset: str
    per_pair: pd.DataFrame
    logprobs: pd.DataFrame
    manifest: dict[str, Any]
    accuracy_after: float | None = None


def _split(per_pair: pd.DataFrame, split: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    part = per_pair[per_pair["split"] == split]
    before = part[["pair_id", "logp_chosen_before", "logp_rejected_before"]].rename(
        columns=lambda c: c.removesuffix("_before")
    )
    after = part[["pair_id", "logp_chosen_after", "logp_rejected_after"]].rename(
        columns=lambda c: c.removesuffix("_after")
    )
    return before, after


BOOTSTRAP_ROUNDS = 1000


def _spearman(scores: pd.DataFrame, column: str, fall: pd.Series) -> float | None:
    if len(scores) < 3:
        return None
    rho = spearmanr(scores[column], fall).statistic
    return None if pd.isna(rho) else float(rho)


def spearman_interval(
    x: pd.Series, y: pd.Series, rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0
) -> tuple[float | None, float | None]:
    """The 95% percentile bootstrap interval of Spearman's rho over pairs (resampled with
    replacement, ``rounds`` times, seeded); None with fewer than 3 pairs."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3:
        return None, None
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(x), size=(rounds, len(x)))
    ranks_x = np.apply_along_axis(rankdata, 1, x[draws])
    ranks_y = np.apply_along_axis(rankdata, 1, y[draws])
    centred_x = ranks_x - ranks_x.mean(axis=1, keepdims=True)
    centred_y = ranks_y - ranks_y.mean(axis=1, keepdims=True)
    spread = np.sqrt((centred_x**2).sum(axis=1) * (centred_y**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (centred_x * centred_y).sum(axis=1) / spread
    rho = rho[np.isfinite(rho)]
    if not len(rho):
        return None, None
    low, high = np.percentile(rho, [2.5, 97.5])
    return float(low), float(high)


def run_row(run: TrainedRun, ches: pd.DataFrame, accuracy_before: float | None) -> dict[str, Any]:
    trained_ids = set(run.manifest.get("trained_pair_ids", []))
    per_pair = run.per_pair
    trained = (
        per_pair[per_pair["pair_id"].isin(trained_ids)]
        if trained_ids
        else per_pair[per_pair["split"] == "train"]
    )
    train_summary = displacement_summary(*_split(trained.assign(split="train"), "train"))
    held_summary = displacement_summary(*_split(per_pair, "heldout"))
    scored = trained.merge(ches, on="pair_id")
    fall = scored["logp_chosen_before"] - scored["logp_chosen_after"]
    everything = per_pair.merge(ches, on="pair_id").dropna(subset=["ln_ches"])
    fall_all = everything["logp_chosen_before"] - everything["logp_chosen_after"]
    low, high = spearman_interval(scored["ln_ches"], fall)
    low_all, high_all = spearman_interval(everything["ln_ches"], fall_all)
    return {
        "run": run.name,
        "variant": run.variant,
        "subset": run.subset,
        "train_pairs": train_summary["pairs"],
        "steps": run.manifest.get("steps"),
        "delta_logp_chosen": train_summary["delta_logp_chosen"],
        "delta_logp_rejected": train_summary["delta_logp_rejected"],
        "delta_margin": train_summary["delta_margin"],
        "share_chosen_fell": train_summary["share_chosen_fell"],
        "heldout_delta_logp_chosen": held_summary["delta_logp_chosen"] if held_summary["pairs"] else None,
        "heldout_share_chosen_fell": held_summary["share_chosen_fell"] if held_summary["pairs"] else None,
        "spearman_ches": _spearman(scored, "ln_ches", fall),
        "spearman_ches_low": low,
        "spearman_ches_high": high,
        "ches_pairs": len(everything),
        "spearman_ches_all": _spearman(everything, "ln_ches", fall_all),
        "spearman_ches_all_low": low_all,
        "spearman_ches_all_high": high_all,
        "spearman_edit": _spearman(scored, "edit_similarity", fall),
        "accuracy_before": accuracy_before,
        "accuracy_after": run.accuracy_after,
        "train_seconds": run.manifest.get("train_seconds"),
    }


def displacement_table(
    runs: list[TrainedRun], ches: pd.DataFrame, accuracy_before: float | None
) -> pd.DataFrame:
    return pd.DataFrame([run_row(run, ches, accuracy_before) for run in runs])


def logprob_curves_figure(runs: list[TrainedRun], stem: Path) -> None:
    fig, axes = plt.subplots(1, len(runs), figsize=(3.6 * len(runs), 3.6), squeeze=False, sharey=True)
    for ax, run in zip(axes[0], runs):
        for split, style in (("train", "-"), ("heldout", "--")):
            part = run.logprobs[run.logprobs["split"] == split]
            if part.empty:
                continue
            ax.plot(
                part["step"],
                part["logp_chosen"],
                style,
                color="C2",
                marker="o",
                ms=3,
                label=f"log p(chosen), {split}",
            )
            ax.plot(
                part["step"],
                part["logp_rejected"],
                style,
                color="C3",
                marker="x",
                ms=3,
                label=f"log p(rejected), {split}",
            )
        ax.set_title(run.name, fontsize=9)
        ax.set_xlabel("optimizer step")
    axes[0][0].set_ylabel("mean log-probability of the response (nats)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("likelihood displacement: does log p(chosen) fall while the margin grows?", fontsize=10)
    save(fig, stem)


def ches_scatter_figure(runs: list[TrainedRun], ches: pd.DataFrame, stem: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, run in enumerate(runs):
        trained_ids = set(run.manifest.get("trained_pair_ids", []))
        part = run.per_pair[run.per_pair["pair_id"].isin(trained_ids)].merge(ches, on="pair_id")
        fall = part["logp_chosen_before"] - part["logp_chosen_after"]
        ax.scatter(part["ln_ches"], fall, s=14, color=f"C{i}", label=run.name, alpha=0.8)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("length-normalised CHES with the initial policy")
    ax.set_ylabel("fall of log p(chosen) during training (nats)")
    ax.set_title("CHES against per-pair displacement")
    ax.legend(fontsize=7)
    save(fig, stem)
