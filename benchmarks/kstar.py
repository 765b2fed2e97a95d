"""K* predictors validated by simulation (issue 13), in one run:

populations with known Vote@K curves (two-level and continuous difficulty mixtures, binary
and multi-answer; ``assay/compound/simulation.py``), m samples per query seen by each
predictor (the paper's per-query law, the two-level closed form, the empirical-Bayes
predictor), and the accuracy each loses at its K* against the true best K in [1, k_range].
Targets: at most 1 point lost in 90% of cases from 8 samples, at most 2 points from 4.

The same for Filter-Vote: every case gets a verifier (accepting correct samples with
probability tpr ~ U(0.6, 0.95), wrong ones with fpr ~ U(0.05, 0.5)), K counts generations.

    python benchmarks/kstar.py [--cases 10] [--queries 100] [--samples 4 8 16 32 64]
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from assay.compound.simulation import FAMILIES, evaluate, summary_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10, help="cases per family")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--samples", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--k-range", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--methods", nargs="+", default=["vote", "filter_vote"], choices=["vote", "filter_vote"]
    )
    args = parser.parse_args()
    pd.set_option("display.width", 160)
    for method in args.methods:
        started = time.time()
        results = evaluate(args.cases, tuple(args.samples), args.queries, args.k_range, args.seed, method)
        print(
            f"\n== {method}: {args.cases} cases x {len(FAMILIES)} families, {args.queries} queries, "
            f"K in [1, {args.k_range}], {time.time() - started:.0f} s"
        )
        print(summary_table(results).round(3).to_string(index=False))
        by_family = results.groupby(["family", "answers", "predictor", "m"])["accuracy_lost"].mean() * 100
        print(f"\n{method}: mean points lost per family")
        print(by_family.unstack("m").round(2).to_string())


if __name__ == "__main__":
    main()
