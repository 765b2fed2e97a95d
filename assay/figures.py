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
