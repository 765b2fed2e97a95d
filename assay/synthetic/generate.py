"""Stage ``synthetic`` (rule ``generate_synthetic``): N items by one method, in one
batched engine call per model.

Methods: ``base_fewshot`` (the base model continues the few-shot prompt, N samples of one
prompt), ``instruct_fewshot`` (the instruct model, N samples of one chat prompt), ``bare``
(the instruct model refines each of the N base drafts: the base_fewshot artifact's raw
drafts are its input, so the two share the base model's work).

Files of a ``synthetic`` artifact:

* ``drafts.parquet``: draft_index, raw (the model's text for the item), output_tokens;
* ``items.parquet``: id, method, question, solution, answer, draft (the base draft;
  null for instruct_fewshot), refinement (the instruct model's text; null for
  base_fewshot), generator (models, ``base -> instruct`` for BARE), seed, duplicate
  (an exact duplicate question of an earlier item, after whitespace and case folding),
  repair (what was repaired in a near-miss draft, null for none);
* ``rejects.parquet``: id, method, text, reason (drafts that did not parse, never
  dropped silently);
* manifest ``counts``: requested, parsed, repaired, rejected, duplicates, kept (with
  ``drop_duplicates`` the duplicates are removed; by default they stay, as generated).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from assay.engine import Engine, SamplingSpec
from assay.errors import DataError
from assay.synthetic.prompts import (
    STOP,
    base_draft,
    base_prompt,
    instruct_prompt,
    parse_item,
    refine_prompt,
)
from assay.synthetic.spec import SyntheticSpec

log = logging.getLogger(__name__)


def choose_examples(train: pd.DataFrame, shots: int, seed: int) -> list[dict]:
    """``shots`` real train items drawn with ``seed``: the same examples for every item and
    every method of a study, so that methods differ only in how they generate."""
    if len(train) < shots:
        raise DataError(f"synthetic.shots: {shots} examples need {shots} train items, found {len(train)}")
    rows = np.random.default_rng(seed).choice(len(train), size=shots, replace=False)
    return train.iloc[sorted(rows)].to_dict("records")


def _sampling(spec: SyntheticSpec, n: int = 1, stop: tuple[str, ...] = STOP) -> SamplingSpec:
    return SamplingSpec(n=n, temperature=spec.temperature, max_tokens=spec.max_tokens, stop=stop)


def base_drafts(engine: Engine, examples: list[dict], spec: SyntheticSpec) -> pd.DataFrame:
    """N continuations of the base prompt (one prompt, n = N)."""
    completion = engine.generate([base_prompt(examples)], _sampling(spec, spec.n))[0]
    return pd.DataFrame(
        {
            "draft_index": range(spec.n),
            "raw": [base_draft(t) for t in completion.texts],
            "output_tokens": completion.token_counts,
        }
    )


def instruct_drafts(engine: Engine, examples: list[dict], spec: SyntheticSpec) -> pd.DataFrame:
    completion = engine.generate([instruct_prompt(examples)], _sampling(spec, spec.n, ()))[0]
    return pd.DataFrame(
        {"draft_index": range(spec.n), "raw": completion.texts, "output_tokens": completion.token_counts}
    )


def refine(engine: Engine, examples: list[dict], drafts: pd.DataFrame, spec: SyntheticSpec) -> pd.DataFrame:
    """One refinement per base draft, all drafts in one batched call."""
    prompts = [refine_prompt(examples, raw) for raw in drafts["raw"]]
    completions = engine.generate(prompts, _sampling(spec, 1, ()))
    return pd.DataFrame(
        {
            "draft_index": drafts["draft_index"].to_numpy(),
            "raw": [c.texts[0] for c in completions],
            "output_tokens": [c.token_counts[0] for c in completions],
            "draft": drafts["raw"].to_numpy(),
        }
    )


def _fold(text: str) -> str:
    return " ".join(text.lower().split())


def assemble(
    outputs: pd.DataFrame, spec: SyntheticSpec, generator: str
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Parse (and, with ``spec.repair``, repair) every output into the task's fields;
    rejects with their reason; exact duplicate questions flagged and counted (dropped
    with ``spec.drop_duplicates``)."""
    items, rejects, seen, duplicates, repaired = [], [], set(), 0, 0
    for row in outputs.itertuples():
        item_id = f"{spec.method}-{row.draft_index:05d}"
        parsed = parse_item(row.raw, repair=spec.repair)
        if parsed.reject:
            rejects.append({"id": item_id, "method": spec.method, "text": row.raw, "reason": parsed.reject})
            continue
        repaired += parsed.repair is not None
        key = _fold(parsed.question)
        duplicate = key in seen
        duplicates += duplicate
        if duplicate and spec.drop_duplicates:
            continue
        seen.add(key)
        draft = getattr(row, "draft", None) if spec.method == "bare" else None
        items.append(
            {
                "id": item_id,
                "method": spec.method,
                "question": parsed.question,
                "solution": parsed.solution,
                "answer": parsed.answer,
                "draft": row.raw if spec.method == "base_fewshot" else draft,
                "refinement": None if spec.method == "base_fewshot" else row.raw,
                "generator": generator,
                "seed": spec.seed,
                "duplicate": duplicate,
                "repair": parsed.repair,
            }
        )
    columns = [
        "id",
        "method",
        "question",
        "solution",
        "answer",
        "draft",
        "refinement",
        "generator",
        "seed",
        "duplicate",
        "repair",
    ]
    items_frame = pd.DataFrame(items, columns=columns)
    rejects_frame = pd.DataFrame(rejects, columns=["id", "method", "text", "reason"])
    counts = {
        "requested": spec.n,
        "parsed": len(outputs) - len(rejects),
        "repaired": repaired,
        "rejected": len(rejects),
        "duplicates": duplicates,
        "kept": len(items_frame),
    }
    if len(rejects):
        reasons = rejects_frame["reason"].value_counts().to_dict()
        log.info("%s: %d of %d drafts rejected: %s", spec.method, len(rejects), len(outputs), reasons)
    return items_frame, rejects_frame, counts
