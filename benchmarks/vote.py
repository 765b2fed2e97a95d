"""Compound-stage benchmark, in one run:

1. LM calls needed for accuracy curves at every K <= K_max: one pool of K_max samples per
   query (this project: every K read from the pool by the exact estimator) against
   resampling each K separately (sum_K K calls per query), as a ratio;
2. wall time of the exact Vote@K estimator for 1,000 queries x a pool of 128, every K;
3. the exact estimator against the reference code's bootstrap on the same pools: time,
   and the bootstrap's error.

    python benchmarks/vote.py [--queries 1000] [--pool 128]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from assay.compound.vote import bootstrap_vote_accuracy, query_vote_curve, vote_accuracy


def synthetic_samples(queries: int, pool: int, seed: int = 0) -> pd.DataFrame:
    """Answer pools like a small model's: per query a correct-answer share from Beta(1, 2) and
    the rest over up to 8 wrong answers with Zipf-like weights."""
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(queries):
        p_correct = rng.beta(1, 2)
        wrong = rng.integers(1, 9)
        weights = 1.0 / np.arange(1, wrong + 1)
        probs = np.concatenate([[p_correct], (1 - p_correct) * weights / weights.sum()])
        draws = rng.choice(len(probs), size=pool, p=probs)
        for i, d in enumerate(draws):
            rows.append({"query_id": f"q{q}", "sample_index": i, "answer": str(d), "correct": bool(d == 0)})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--pool", type=int, default=128)
    parser.add_argument("--bootstrap-queries", type=int, default=50)
    args = parser.parse_args()

    pooled = args.pool
    resampled = args.pool * (args.pool + 1) // 2
    print(
        f"calls per query for curves at every K <= {args.pool}: pool {pooled}, resampling each K {resampled}"
    )
    print(f"ratio resampling / pool: {resampled / pooled:.1f}x")

    samples = synthetic_samples(args.queries, args.pool)
    started = time.perf_counter()
    per_query = vote_accuracy(samples)
    exact_s = time.perf_counter() - started
    print(
        f"exact estimator, {args.queries} queries x pool {args.pool}, K = 1..{args.pool}: {exact_s:.1f} s "
        f"({len(per_query)} (query, K) values)"
    )

    subset = samples[samples["query_id"].isin([f"q{i}" for i in range(args.bootstrap_queries)])]
    ks = [1, 5, 15, 45]
    started = time.perf_counter()
    exact = {
        (q, k): query_vote_curve(g["answer"].tolist(), g["correct"].tolist())[k - 1]
        for q, g in subset.groupby("query_id")
        for k in ks
    }
    exact_small_s = time.perf_counter() - started
    started = time.perf_counter()
    boot = {
        (q, k): bootstrap_vote_accuracy(g["answer"].tolist(), g["correct"].tolist(), k, rounds=1000)
        for q, g in subset.groupby("query_id")
        for k in ks
    }
    boot_s = time.perf_counter() - started
    error = np.mean([abs(exact[key] - boot[key]) for key in exact])
    print(
        f"{args.bootstrap_queries} queries, K in {ks}: exact {exact_small_s:.2f} s, bootstrap (1000 rounds) "
        f"{boot_s:.2f} s; ratio bootstrap/exact time {boot_s / exact_small_s:.1f}x; "
        f"mean |bootstrap - exact| = {error:.4f}"
    )


if __name__ == "__main__":
    main()
