"""Stage ``verdicts``: a judge's verdict on every sample.

``verdicts.parquet`` (rule ``give_verdicts``), one row per sample:
``query_id``, ``sample_index``, ``verdict`` (the judge's text), ``said_correct`` (bool:
the text contains ``[[correct]]`` and not ``[[wrong]]``), ``confidence`` (the judge's
probability of the accept token ``correct`` against the reject token ``wrong`` after its
review and ``Verdict: [[``, from the next-token log-probs), ``output_tokens``.

Why a confidence: a small judge may never write ``[[correct]]`` (the default study's did
not), so its text verdict filters nothing; its relative probability of the two verdicts
still ranks samples, and the scaling stage picks the acceptance threshold on dev queries.

The judge prompt is METHODS section 2's filter: review the proposed answer and its
explanation, end with ``[[correct]]`` or ``[[wrong]]``. The same verdicts serve
Filter-Vote (accuracy against K) and verifier-based judging (accuracy against the 2K
calls that K generations plus K verifications spend).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from assay.engine import Engine, Prompt, SamplingSpec

JUDGE_INSTRUCTION = (
    "Review the proposed answer to the math problem. Check each step. Then end your reply "
    "with [[correct]] if the final answer is right, or [[wrong]] if it is not."
)


def judge_prompt(question: str, proposed: str, judge_kind: str) -> Prompt:
    body = f"{JUDGE_INSTRUCTION}\n\nProblem: {question}\n\nProposed answer:\n{proposed.strip()}"
    if judge_kind == "instruct":
        return [{"role": "user", "content": body}]
    return f"{body}\n\nReview:"


VERDICT_PREFIX = "\n\nVerdict: [["
VERDICT_CHOICES = ("correct", "wrong")  # the accept and reject tokens after the prefix


def parse_verdict(text: str) -> bool:
    """Accepted when the judge says [[correct]] and does not also say [[wrong]]."""
    lowered = text.lower()
    return "[[correct]]" in lowered and "[[wrong]]" not in lowered


def judge_samples(
    engine: Engine, samples: pd.DataFrame, test: pd.DataFrame, judge_kind: str, max_tokens: int
) -> pd.DataFrame:
    """One greedy review per sample, all in one batched call, then the two verdicts scored."""
    questions = test.set_index("id")["question"]
    prompts = [
        judge_prompt(questions[q], t, judge_kind) for q, t in zip(samples["query_id"], samples["text"])
    ]
    completions = engine.generate(prompts, SamplingSpec(max_tokens=max_tokens, stop=("\n\n\n",)))
    verdicts = [c.texts[0] for c in completions]
    scores = engine.token_logprobs(prompts, [v.rstrip() + VERDICT_PREFIX for v in verdicts], VERDICT_CHOICES)
    confidence = [float(1.0 / (1.0 + np.exp(wrong - right))) for right, wrong in scores]
    return pd.DataFrame(
        {
            "query_id": samples["query_id"].to_numpy(),
            "sample_index": samples["sample_index"].to_numpy(),
            "verdict": verdicts,
            "said_correct": [parse_verdict(v) for v in verdicts],
            "confidence": confidence,
            "output_tokens": [c.token_counts[0] for c in completions],
        }
    )
