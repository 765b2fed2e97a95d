"""Compound systems whose modules are engine calls, each with its own model.

Two systems: self-refine (modules generate, critique, refine) and multi-agent debate
(one module per agent; each agent answers, then for ``rounds - 1`` rounds revises its
answer after reading the other agents' latest answers; the system returns the most common
final answer, ties going to the first agent). Decoding is greedy, so identical prompts to
the same model are sent once (``_call`` de-duplicates), which lets the debate share its
first round across allocations.

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
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from assay.engine import Engine, Prompt, SamplingSpec
from assay.tasks.base import build_prompt, extract, is_correct, stop_for

log = logging.getLogger(__name__)

SYSTEMS = {"self_refine": ("generate", "critique", "refine")}


def module_names(system: str, agents: int = 2) -> tuple[str, ...]:
    if system == "debate":
        return tuple(f"agent{i + 1}" for i in range(agents))
    return SYSTEMS[system]


@dataclass(frozen=True)
class PoolModel:
    engine: Engine
    kind: str


def _critique_prompt(question: str, draft: str, kind: str) -> Prompt:
    body = f"Problem: {question}\nProposed solution: {draft.strip()}"
    if kind == "instruct":
        return [{"role": "user", "content": "Point out any mistake in this solution, briefly.\n\n" + body}]
    return body + "\nCritique:"


def _demos(shots: list[dict]) -> str:
    """Few-shot demonstrations for base models, in the completion format of the tasks."""
    return "".join(f"Question: {s['question']}\nAnswer: {s['solution']}\n\n" for s in shots)


def _refine_prompt(question: str, draft: str, critique: str, kind: str, shots: list[dict]) -> Prompt:
    if kind == "instruct":
        content = (
            f"Problem: {question}\nDraft solution: {draft.strip()}\nCritique: {critique.strip()}\n\n"
            "Write the corrected solution, ending with '#### <answer>'."
        )
        return [{"role": "user", "content": content}]
    tail = f"Draft: {draft.strip()}\nCritique: {critique.strip()}\nAnswer:"
    return f"{_demos(shots)}Question: {question}\n{tail}"


def _call(model: PoolModel, prompts: list[Prompt], max_tokens: int) -> list[str]:
    """Greedy outputs for ``prompts``; each distinct prompt is generated once."""
    if not prompts:
        return []
    keys = [repr(p) for p in prompts]
    unique = dict(zip(keys, prompts))
    sampling = SamplingSpec(max_tokens=max_tokens, stop=stop_for(model.kind))
    outputs = model.engine.generate(list(unique.values()), sampling)
    by_key = {k: c.texts[0] for k, c in zip(unique, outputs)}
    return [by_key[k] for k in keys]


def _calls(model: PoolModel, branches: Mapping[Any, list[Prompt]], max_tokens: int) -> dict[Any, list[str]]:
    """:func:`_call` for several branches' prompts at once (one engine call): each
    branch's outputs, in its prompts' order."""
    texts = _call(model, [p for prompts in branches.values() for p in prompts], max_tokens)
    out, first = {}, 0
    for branch, prompts in branches.items():
        out[branch] = texts[first : first + len(prompts)]
        first += len(prompts)
    return out


def _debate_prompt(question: str, own: str, others: list[str], kind: str, shots: list[dict]) -> Prompt:
    shared = "\n".join(f"Another agent answered: {o.strip()}" for o in others)
    if kind == "instruct":
        content = (
            f"Problem: {question}\nYour previous answer: {own.strip()}\n{shared}\n\n"
            "Considering these answers, give your updated solution, ending with '#### <answer>'."
        )
        return [{"role": "user", "content": content}]
    return f"{_demos(shots)}Question: {question}\nPrevious answers: {own.strip()}\n{shared}\nAnswer:"


def debate_outputs(
    pool: Mapping[str, PoolModel],
    items: pd.DataFrame,
    shots: list[dict],
    max_tokens: int,
    agents: int,
    rounds: int,
    answer_format: str = "number",
) -> tuple[pd.DataFrame, int]:
    """Every allocation (a model per agent) debated on every item; returns (table, calls)."""
    names = list(pool)
    questions = items["question"].tolist()
    allocations = list(itertools.product(names, repeat=agents))
    answers = {}  # (allocation, agent) -> list of texts per item
    calls = 0
    for round_index in range(rounds):
        requests: dict[str, list[tuple[tuple, int, int, Prompt]]] = {m: [] for m in names}
        for allocation in allocations:
            for agent, model in enumerate(allocation):
                for i, question in enumerate(questions):
                    if round_index == 0:
                        prompt = build_prompt(question, shots, pool[model].kind, answer_format)
                    else:
                        own = answers[allocation, agent][i]
                        others = [answers[allocation, j][i] for j in range(agents) if j != agent]
                        prompt = _debate_prompt(question, own, others, pool[model].kind, shots)
                    requests[model].append((allocation, agent, i, prompt))
        updated = {}
        for model, entries in requests.items():
            texts = _call(pool[model], [e[3] for e in entries], max_tokens)
            calls += len({repr(e[3]) for e in entries})
            for (allocation, agent, i, _), text in zip(entries, texts):
                updated.setdefault((allocation, agent), [""] * len(questions))[i] = text
        answers = updated
    rows = []
    for allocation in allocations:
        for i, item in enumerate(items.itertuples()):
            finals = [extract(answers[allocation, agent][i], answer_format) for agent in range(agents)]
            counted = Counter(a for a in finals if a is not None)
            top = max(counted.values(), default=0)
            choice = next((a for a in finals if a is not None and counted[a] == top), None)
            rows.append(
                {
                    "query_id": item.id,
                    "allocation": "|".join(allocation),
                    "correct": is_correct(choice, item.answer, answer_format),
                    "text": "\n---\n".join(answers[allocation, agent][i] for agent in range(agents)),
                }
            )
    log.info("debate: %d allocations x %d queries, %d distinct calls", len(allocations), len(items), calls)
    return pd.DataFrame(rows), calls


def self_refine_tree(
    pool: Mapping[str, PoolModel],
    items: pd.DataFrame,
    shots: list[dict],
    max_tokens: int,
    answer_format: str = "number",
) -> tuple[pd.DataFrame, int]:
    """Every allocation's output on every item; returns (table, LM calls spent).

    Each module runs one engine call per model for all the branches that reach it (a
    model's critiques of every model's drafts, its refinements under every draft and
    critique): 6 calls on a pool of two instead of 14 of one branch each, in batches up to
    four times larger, which a CPU engine runs at a better rate: the default study's tree
    0.73x the time on vLLM in fp32 on an AVX2 CPU (``benchmarks/selection.py``, one run).
    Greedy outputs do not depend on how prompts are batched: the same texts there."""
    names = list(pool)
    questions = items["question"].tolist()
    calls = 0
    drafts = {}
    for m in names:
        prompts = [build_prompt(q, shots, pool[m].kind, answer_format) for q in questions]
        drafts[m] = _call(pool[m], prompts, max_tokens)
        calls += len(questions)
    critiques = {}
    for m2 in names:
        branches = {
            (m1, m2): [_critique_prompt(q, d, pool[m2].kind) for q, d in zip(questions, drafts[m1])]
            for m1 in names
        }
        critiques.update(_calls(pool[m2], branches, max_tokens))
        calls += len(questions) * len(branches)
    finals = {}
    for m3 in names:
        branches = {
            (m1, m2, m3): [
                _refine_prompt(q, d, c, pool[m3].kind, shots)
                for q, d, c in zip(questions, drafts[m1], critiques[m1, m2])
            ]
            for m1, m2 in itertools.product(names, repeat=2)
        }
        finals.update(_calls(pool[m3], branches, max_tokens))
        calls += len(questions) * len(branches)
    rows = []
    for m1, m2, m3 in itertools.product(names, repeat=3):
        for item, text in zip(items.itertuples(), finals[m1, m2, m3]):
            rows.append(
                {
                    "query_id": item.id,
                    "allocation": f"{m1}|{m2}|{m3}",
                    "correct": is_correct(extract(text, answer_format), item.answer, answer_format),
                    "text": text,
                }
            )
    log.info("self-refine tree: %d allocations x %d queries, %d calls", len(names) ** 3, len(items), calls)
    return pd.DataFrame(rows), calls
