"""Figures of the compound stage (matplotlib, saved as SVG and PNG side by side)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from assay.figures import save

COLORS = {
    "vote": "C0",
    "filter_vote": "C1",
    "weighted_vote": "C2",
    "law": "C3",
    "two_level": "C4",
    "bayes": "C5",
}


def vote_curves_figure(curves: pd.DataFrame, predicted: pd.DataFrame, title: str, stem: Path) -> None:
    """Accuracy against K: measured Vote and Filter-Vote with 95% bands and each predictor's
    Vote curve; and accuracy against LM calls spent (a verified sample costs 2 calls)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {
        "vote": dict(marker="o", ls="-", lw=2.5, ms=4),
        "filter_vote": dict(marker="x", ls=":", lw=1.5, ms=5),
    }
    for method in ("vote", "filter_vote"):
        part = curves[curves["method"] == method]
        label = f"{method} (measured)"
        left.plot(part["k"], part["accuracy"], color=COLORS[method], label=label, **styles[method])
        left.fill_between(part["k"], part["low"], part["high"], color=COLORS[method], alpha=0.12)
    for predictor in ("law", "two_level", "bayes"):
        part = predicted[(predicted["method"] == "vote") & (predicted["predictor"] == predictor)]
        left.plot(part["k"], part["accuracy"], "--", color=COLORS[predictor], label=f"vote ({predictor})")
    left.set_xscale("log")
    left.set_xlabel("number of LM calls per query for the vote, K (log scale)")
    left.set_ylabel("accuracy (share of queries)")
    left.set_title(title)
    left.legend(fontsize=8)
    for method in ("vote", "filter_vote", "weighted_vote"):
        part = curves[curves["method"] == method]
        right.plot(part["calls"], part["accuracy"], "o-", ms=3, color=COLORS[method], label=method)
    right.set_xlabel("LM calls spent per query (generator + verifier)")
    right.set_ylabel("accuracy (share of queries)")
    right.set_title("accuracy against calls spent")
    right.legend(fontsize=8)
    save(fig, stem)


def difficulty_figure(difficulty: pd.DataFrame, title: str, stem: Path) -> None:
    """Histogram of per-query difficulty d(x); d < 0 are easy queries (vote tends to 1)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.hist(difficulty["difficulty"], bins=21, range=(-1, 1), color="C0", edgecolor="white")
    ax.axvline(0, color="black", lw=1)
    ax.set_xlabel("difficulty d(x) = max wrong share - correct share")
    ax.set_ylabel("queries")
    easy = int((difficulty["difficulty"] < 0).sum())
    ax.set_title(f"{title}: {easy} easy, {len(difficulty) - easy} hard")
    save(fig, stem)


def allocation_figure(allocations: pd.DataFrame, stem: Path, modules: tuple[str, ...] = ()) -> None:
    """Held-out accuracy of each allocation method (bars labelled with the allocation)."""
    fig, ax = plt.subplots(figsize=(10, 0.7 * len(allocations) + 1.8))
    pairs = zip(allocations["method"], allocations["allocation"])
    labels = [f"{method}\n{allocation.replace('|', ' | ')}" for method, allocation in pairs]
    ax.barh(labels, allocations["test_accuracy"], color="C0", label="held-out (test)")
    ax.scatter(allocations["train_accuracy"], labels, color="C3", zorder=3, label="selection (dev)")
    ax.set_xlabel("accuracy (share of queries)")
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=8)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("a model per module" + (f"\nmodules: {' | '.join(modules)}" if modules else ""), fontsize=10)
    save(fig, stem)
