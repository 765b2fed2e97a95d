"""Compound systems whose modules are engine calls, each with its own model.

Self-refine has three modules: generate, critique, refine. To score *every* allocation
(model per module) from one pass, outputs are computed as a tree: each model generates;
each model critiques each draft; each model refines each (draft, critique) pair. That is
M + M^2 + M^3 calls per query instead of 3 M^3, and every allocation's end-to-end
correctness is then a lookup, so LLMSelector, the single-model baselines and exhaustive
search all read one cached table (``system_outputs.parquet``: query_id, split, allocation
("m1|m2|m3"), correct, text).

All models of the pool are loaded at once; generation per module and model is one
batched call.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from assay.engine import Engine, Prompt, SamplingSpec
from assay.tasks.base import build_prompt, extract_answer, is_correct, stop_for

log = logging.getLogger(__name__)

SYSTEMS = {"self_refine": ("generate", "critique", "refine")}


@dataclass(frozen=True)
class PoolModel:
    engine: Engine
    kind: str


def _critique_prompt(question: str, draft: str, kind: str) -> Prompt:
    body = f"Problem: {question}\nProposed solution: {draft.strip()}"
    if kind == "instruct":
        return [{"role": "user", "content": "Point out any mistake in this solution, briefly.\n\n" + body}]
    return body + "\nCritique:"


def _refine_prompt(question: str, draft: str, critique: str, kind: str, shots: list[dict]) -> Prompt:
    if kind == "instruct":
        content = (
            f"Problem: {question}\nDraft solution: {draft.strip()}\nCritique: {critique.strip()}\n\n"
            "Write the corrected solution, ending with '#### <number>'."
        )
        return [{"role": "user", "content": content}]
    demos = "".join(f"Question: {s['question']}\nAnswer: {s['solution']}\n\n" for s in shots)
    return f"{demos}Question: {question}\nDraft: {draft.strip()}\nCritique: {critique.strip()}\nAnswer:"


def _call(model: PoolModel, prompts: list[Prompt], max_tokens: int) -> list[str]:
    if not prompts:
        return []
    sampling = SamplingSpec(max_tokens=max_tokens, stop=stop_for(model.kind))
    return [c.texts[0] for c in model.engine.generate(prompts, sampling)]


def self_refine_tree(
    pool: Mapping[str, PoolModel], items: pd.DataFrame, shots: list[dict], max_tokens: int
) -> tuple[pd.DataFrame, int]:
    """Every allocation's output on every item; returns (table, LM calls spent)."""
    names = list(pool)
    questions = items["question"].tolist()
    calls = 0
    drafts = {}
    for m in names:
        drafts[m] = _call(pool[m], [build_prompt(q, shots, pool[m].kind) for q in questions], max_tokens)
        calls += len(questions)
    critiques = {}
    for m1, m2 in itertools.product(names, repeat=2):
        prompts = [_critique_prompt(q, d, pool[m2].kind) for q, d in zip(questions, drafts[m1])]
        critiques[m1, m2] = _call(pool[m2], prompts, max_tokens)
        calls += len(questions)
    rows = []
    for m1, m2, m3 in itertools.product(names, repeat=3):
        prompts = [
            _refine_prompt(q, d, c, pool[m3].kind, shots)
            for q, d, c in zip(questions, drafts[m1], critiques[m1, m2])
        ]
        finals = _call(pool[m3], prompts, max_tokens)
        calls += len(questions)
        for item, text in zip(items.itertuples(), finals):
            rows.append(
                {
                    "query_id": item.id,
                    "allocation": f"{m1}|{m2}|{m3}",
                    "correct": is_correct(extract_answer(text), item.answer),
                    "text": text,
                }
            )
    log.info("self-refine tree: %d allocations x %d queries, %d calls", len(names) ** 3, len(items), calls)
    return pd.DataFrame(rows), calls
