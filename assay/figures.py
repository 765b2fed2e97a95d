"""Shared figure helpers (matplotlib, headless) and the study-level figures.

Every figure is saved twice, as SVG (for the HTML report) and PNG (for quick looks).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def save(fig, stem: Path) -> None:
    fig.tight_layout()
    fig.savefig(Path(stem).with_suffix(".svg"))
    fig.savefig(Path(stem).with_suffix(".png"), dpi=120)
    plt.close(fig)


def accuracy_figure(accuracy: pd.DataFrame, stem: Path) -> None:
    """Greedy accuracy per difficulty level, one line per model."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    levels = accuracy[accuracy["difficulty"] != "all"]
    for model, part in levels.groupby("model", sort=False):
        ax.plot(part["difficulty"].astype(int), part["accuracy"], "o-", label=model)
    ax.set_xticks(sorted(levels["difficulty"].astype(int).unique()))
    ax.set_xlabel("difficulty level")
    ax.set_ylabel("accuracy (share of test items)")
    ax.set_ylim(0, 1)
    ax.set_title("greedy accuracy on the test split")
    ax.legend(fontsize=8)
    save(fig, stem)


def synthetic_figure(runs: pd.DataFrame, table: pd.DataFrame, stem: Path) -> None:
    """Diversity (Vendi at the common size) against quality (IR; validity) per method: one
    large marker per method (mean over seeds, bars one standard deviation), small markers
    per seed."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for i, row in enumerate(table.itertuples()):
        seeds = runs[runs["method"] == row.method]
        color = f"C{i}"
        for ax, quality in zip(axes, ("ir", "validity")):
            x = pd.to_numeric(seeds["vendi"], errors="coerce")
            y = pd.to_numeric(seeds[quality], errors="coerce")
            ax.scatter(x, y, s=14, color=color, alpha=0.5)
            mean_y = pd.to_numeric(pd.Series([getattr(row, quality)]), errors="coerce").iloc[0]
            if row.vendi is not None and pd.notna(row.vendi) and pd.notna(mean_y):
                ax.errorbar(
                    row.vendi,
                    mean_y,
                    xerr=row.vendi_sd,
                    yerr=getattr(row, f"{quality}_sd"),
                    fmt="o",
                    ms=8,
                    color=color,
                    capsize=3,
                    label=row.method,
                )
    n = table["diversity_n"].dropna()
    size = f"{int(n.iloc[0])} items" if len(n) else "a common size"
    for ax, label in zip(axes, ("indistinguishability rate (chance 0.75)", "validity (share of items)")):
        ax.set_xlabel(f"Vendi score at {size} (higher: more diverse)")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    axes[0].axhline(0.75, color="grey", lw=0.8, ls=":")
    fig.suptitle(
        "synthetic data: diversity against quality per method (mean over seeds, +- 1 sd)", fontsize=10
    )
    save(fig, stem)
