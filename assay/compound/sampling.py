"""Sampling many answers per query, and judging each one: the expensive edge of the
compound stage. Everything after this reads the cached tables.

``samples.parquet`` (rule ``sample_answers``), one row per sample:
``query_id``, ``sample_index`` (0..K_max-1), ``difficulty``, ``text``, ``answer`` (str,
null when none could be extracted: counted wrong, never a crash), ``correct`` (bool),
``output_tokens`` (int).

``verdicts.parquet`` (rule ``judge_samples``), one row per sample:
``query_id``, ``sample_index``, ``verdict`` (the judge's text), ``accepted`` (bool: the
verdict contains ``[[correct]]`` and not ``[[wrong]]``), ``output_tokens``.

The judge prompt is METHODS section 2's filter: review the proposed answer and its
explanation, end with ``[[correct]]`` or ``[[wrong]]``. The same verdicts serve
Filter-Vote (accuracy against K) and verifier-based judging (accuracy against the 2K
calls that K generations plus K verifications spend).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from assay.engine import Engine, Prompt, SamplingSpec
from assay.evaluate import few_shot_examples
from assay.tasks.base import build_prompt, extract, is_correct, stop_for

log = logging.getLogger(__name__)

JUDGE_INSTRUCTION = (
    "Review the proposed answer to the math problem. Check each step. Then end your reply "
    "with [[correct]] if the final answer is right, or [[wrong]] if it is not."
)


@dataclass(frozen=True)
class SampleSpec:
    model_kind: str
    k_max: int
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 64
    shots: int = 3
    limit: int | None = None
    answer_format: str = "number"
    split: str = "test"
    difficulty: tuple[int, ...] | None = None


def sample_answers(
    engine: Engine, train: pd.DataFrame, queries: pd.DataFrame, spec: SampleSpec
) -> pd.DataFrame:
    """K_max samples per query of ``queries`` (the split named by ``spec.split``) in one
    batched engine call (vLLM ``n = K_max``). Sampling the train split (preference pairs)
    leaves out the few-shot items, whose answers are in the prompt; ``difficulty`` keeps
    only those levels (pairs need queries the model sometimes gets right)."""
    shots = few_shot_examples(train, spec.shots)
    if spec.split == "train":
        queries = queries[~queries["id"].isin([shot["id"] for shot in shots])]
    if spec.difficulty and queries["difficulty"].notna().any():
        queries = queries[queries["difficulty"].isin(list(spec.difficulty))]
    items = queries.head(spec.limit) if spec.limit else queries
    prompts = [build_prompt(q, shots, spec.model_kind, spec.answer_format) for q in items["question"]]
    sampling = SamplingSpec(
        n=spec.k_max,
        temperature=spec.temperature,
        top_p=spec.top_p,
        max_tokens=spec.max_tokens,
        stop=stop_for(spec.model_kind),
    )
    completions = engine.generate(prompts, sampling)
    rows = []
    for item, completion in zip(items.itertuples(), completions):
        for index, (text, tokens) in enumerate(zip(completion.texts, completion.token_counts)):
            answer = extract(text, spec.answer_format)
            rows.append(
                {
                    "query_id": item.id,
                    "sample_index": index,
                    "difficulty": item.difficulty,
                    "text": text,
                    "answer": answer,
                    "correct": is_correct(answer, item.answer, spec.answer_format),
                    "output_tokens": tokens,
                }
            )
    samples = pd.DataFrame(rows)
    samples["answer"] = samples["answer"].astype("string")
    samples["difficulty"] = samples["difficulty"].astype("Int64")
    unanswered = samples.groupby("query_id")["answer"].apply(lambda a: a.isna().all())
    if unanswered.any():
        log.warning(
            "%d of %d queries have no extractable answer in any sample (counted wrong): %s",
            int(unanswered.sum()),
            len(unanswered),
            ", ".join(unanswered[unanswered].index[:5]),
        )
    return samples


def judge_prompt(question: str, proposed: str, judge_kind: str) -> Prompt:
    body = f"{JUDGE_INSTRUCTION}\n\nProblem: {question}\n\nProposed answer:\n{proposed.strip()}"
    if judge_kind == "instruct":
        return [{"role": "user", "content": body}]
    return f"{body}\n\nReview:"


def parse_verdict(text: str) -> bool:
    """Accepted when the judge says [[correct]] and does not also say [[wrong]]."""
    lowered = text.lower()
    return "[[correct]]" in lowered and "[[wrong]]" not in lowered


def judge_samples(
    engine: Engine, samples: pd.DataFrame, test: pd.DataFrame, judge_kind: str, max_tokens: int
) -> pd.DataFrame:
    """One greedy verdict per sample, all in one batched call."""
    questions = test.set_index("id")["question"]
    prompts = [
        judge_prompt(questions[q], t, judge_kind) for q, t in zip(samples["query_id"], samples["text"])
    ]
    completions = engine.generate(prompts, SamplingSpec(max_tokens=max_tokens, stop=("\n\n\n",)))
    verdicts = [c.texts[0] for c in completions]
    return pd.DataFrame(
        {
            "query_id": samples["query_id"].to_numpy(),
            "sample_index": samples["sample_index"].to_numpy(),
            "verdict": verdicts,
            "accepted": [parse_verdict(v) for v in verdicts],
            "output_tokens": [c.token_counts[0] for c in completions],
        }
    )
