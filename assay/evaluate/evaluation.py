"""Evaluate one model on a task's test split.

Writes ``results.parquet`` with one row per test item:

* ``id``, ``difficulty``, ``answer``: from the split;
* ``output`` (str): the model's text; ``predicted`` (str, nullable): the extracted answer;
* ``correct`` (bool); ``output_tokens`` (int).

and ``accuracy.json``: ``{"n", "correct", "accuracy", "no_answer", "by_difficulty":
{level: {"n", "correct", "accuracy"}}}``.

Few-shot examples are the ``shots`` easiest train items (the train split stably sorted by
difficulty), fixed so that every model sees the same demonstrations. The small models copy
the shape of their examples: with multi-step examples SmolLM2-135M answered 15% of level-1
items, with the easiest ones 50% (level 2: 25%, levels 3-5: 5%). ``limit`` takes the first
items of the test split, which the task generator orders evenly over difficulty levels.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd

from assay.engine import Engine, SamplingSpec
from assay.evaluate.spec import EvaluateSpec
from assay.tasks.base import build_prompt, extract, few_shot_examples, is_correct, stop_for

log = logging.getLogger(__name__)


def evaluate(engine: Engine, train: pd.DataFrame, test: pd.DataFrame, spec: EvaluateSpec) -> pd.DataFrame:
    """Greedy answers to the test items; one row per item (columns in the module doc)."""
    shots = few_shot_examples(train, spec.shots)
    items = test.head(spec.limit) if spec.limit else test
    prompts = [build_prompt(q, shots, spec.model_kind, spec.answer_format) for q in items["question"]]
    sampling = SamplingSpec(max_tokens=spec.max_tokens, stop=stop_for(spec.model_kind))
    started = time.time()
    completions = engine.generate(prompts, sampling)
    seconds = time.time() - started
    outputs = [c.texts[0] for c in completions]
    tokens = [c.token_counts[0] for c in completions]
    log.info(
        "%d answers, %d output tokens in %.1f s (%.0f tok/s)",
        len(outputs),
        sum(tokens),
        seconds,
        sum(tokens) / max(seconds, 1e-9),
    )
    predicted = [extract(o, spec.answer_format) for o in outputs]
    return pd.DataFrame(
        {
            "id": items["id"].to_numpy(),
            "difficulty": items["difficulty"].to_numpy(),
            "answer": items["answer"].to_numpy(),
            "output": outputs,
            "predicted": pd.array(predicted, dtype="string"),
            "correct": [is_correct(p, a, spec.answer_format) for p, a in zip(predicted, items["answer"])],
            "output_tokens": tokens,
        }
    )


def accuracy_summary(results: pd.DataFrame) -> dict[str, Any]:
    """Accuracy overall and per difficulty level."""
    by_level = {}
    for level, group in results.groupby("difficulty", dropna=True):
        by_level[str(int(level))] = {
            "n": int(len(group)),
            "correct": int(group["correct"].sum()),
            "accuracy": float(group["correct"].mean()),
        }
    return {
        "n": int(len(results)),
        "correct": int(results["correct"].sum()),
        "accuracy": float(results["correct"].mean()) if len(results) else 0.0,
        "no_answer": int(results["predicted"].isna().sum()),
        "by_difficulty": by_level,
    }


RESULTS = "results.parquet"
ACCURACY = "accuracy.json"


def write_evaluation(results: pd.DataFrame, folder: Path) -> dict[str, Any]:
    results.to_parquet(folder / RESULTS, index=False)
    summary = accuracy_summary(results)
    (folder / ACCURACY).write_text(json.dumps(summary, indent=2) + "\n")
    return summary
