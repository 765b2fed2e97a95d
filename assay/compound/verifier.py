"""The verifier measured: its acceptance threshold, precision and recall, and the votes it
feeds (Filter-Vote, confidence-weighted vote).

The sampled queries are split in two by a seeded shuffle: ``dev`` queries choose the
threshold on the judge's confidence (the one maximising Youden's J = recall - false
positive rate, so that a judge that is rarely sure still gets a threshold that separates),
``held_out`` queries measure it. Precision, recall and accuracy are of "accepted" against
"the sample is correct"; the ROC AUC is threshold-free. The point of the Networks of
Networks paper is that verifying can be easier than generating: compare the verifier's
balanced accuracy with the generator's per-call accuracy (``generator_accuracy``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

from assay.compound.vote import NO_ANSWER, task_curve

WEIGHTED_DRAWS = 256  # random K-subsets per query and K for the weighted vote


def split_queries(query_ids: list[str], dev_share: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """(dev, held_out): a seeded shuffle of the queries, ``dev_share`` of them dev (at least
    one each when there are two or more queries)."""
    order = list(np.random.default_rng(seed).permutation(sorted(query_ids)))
    n_dev = int(round(dev_share * len(order)))
    if len(order) >= 2:
        n_dev = min(max(n_dev, 1), len(order) - 1)
    return sorted(order[:n_dev]), sorted(order[n_dev:])


def choose_threshold(correct: np.ndarray, confidence: np.ndarray) -> float:
    """The confidence threshold with the largest Youden's J on these samples (0.5 where
    they hold only correct or only wrong samples)."""
    correct = np.asarray(correct, bool)
    if correct.all() or not correct.any():
        return 0.5
    fpr, tpr, thresholds = roc_curve(correct, confidence)
    best = int(np.argmax(tpr - fpr))
    return float(min(thresholds[best], 1.0))


def verifier_metrics(correct: np.ndarray, accepted: np.ndarray, confidence: np.ndarray) -> dict:
    """Precision, recall, accuracy, balanced accuracy and AUC of the accept decision."""
    correct, accepted = np.asarray(correct, bool), np.asarray(accepted, bool)
    tp = int((correct & accepted).sum())
    fp = int((~correct & accepted).sum())
    fn = int((correct & ~accepted).sum())
    tn = int((~correct & ~accepted).sum())
    both = correct.any() and (~correct).any()
    recall = tp / (tp + fn) if tp + fn else float("nan")
    specificity = tn / (tn + fp) if tn + fp else float("nan")
    return {
        "samples": int(len(correct)),
        "accept_rate": float(accepted.mean()) if len(accepted) else float("nan"),
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": recall,
        "accuracy": (tp + tn) / len(correct) if len(correct) else float("nan"),
        "balanced_accuracy": (recall + specificity) / 2 if both else float("nan"),
        "auc": float(roc_auc_score(correct, confidence)) if both else float("nan"),
    }


def weighted_vote_curve(samples: pd.DataFrame, k_max: int, seed: int = 0) -> pd.DataFrame:
    """Confidence-weighted vote: each sample's answer gets its confidence as weight, the
    heaviest answer wins (ties split). No exact formula: the mean over ``WEIGHTED_DRAWS``
    seeded random K-subsets of each query's pool. Per query: query_id, k, accuracy."""
    rng = np.random.default_rng(seed)
    frames = []
    for query_id, group in samples.groupby("query_id", sort=False):
        labels = group["answer"].fillna(NO_ANSWER).to_numpy()
        codes, uniques = pd.factorize(labels)
        good = np.zeros(len(uniques), bool)
        good[np.unique(codes[group["correct"].to_numpy(bool) & (labels != NO_ANSWER)])] = True
        weights = group["confidence"].to_numpy(float)
        order = np.argsort(rng.random((WEIGHTED_DRAWS, len(group))), axis=1)
        accuracy = []
        for k in range(1, k_max + 1):
            chosen = order[:, :k]
            totals = np.zeros((WEIGHTED_DRAWS, len(uniques)))
            np.add.at(totals, (np.arange(WEIGHTED_DRAWS)[:, None], codes[chosen]), weights[chosen] + 1e-12)
            top = totals >= totals.max(axis=1, keepdims=True) - 1e-12
            accuracy.append(float(((top & good).sum(axis=1) / top.sum(axis=1)).mean()))
        ks = np.arange(1, k_max + 1)
        frames.append(pd.DataFrame({"query_id": query_id, "k": ks, "accuracy": accuracy}))
    return pd.concat(frames, ignore_index=True)


def weighted_task_curve(samples: pd.DataFrame, k_max: int) -> pd.DataFrame:
    return task_curve(weighted_vote_curve(samples, k_max))
