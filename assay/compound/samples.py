"""Stage ``samples``: many answers per query, the expensive edge of the compound stage
(everything after it reads the cached tables).

``samples.parquet`` (rule ``draw_samples``), one row per sample:
``query_id``, ``sample_index`` (0..K_max-1), ``difficulty``, ``text``, ``answer`` (str,
null when none could be extracted: counted wrong, never a crash), ``correct`` (bool),
``output_tokens`` (int).
"""

from __future__ import annotations

import logging

import pandas as pd

from assay.compound.spec import SamplesSpec
from assay.engine import Engine, SamplingSpec
from assay.tasks.base import build_prompt, extract, few_shot_examples, is_correct, stop_for

log = logging.getLogger(__name__)


def sample_answers(
    engine: Engine,
    train: pd.DataFrame,
    queries: pd.DataFrame,
    spec: SamplesSpec,
    split: str = "test",
    difficulty: list[int] | None = None,
) -> pd.DataFrame:
    """K_max samples per query of ``queries`` (the split named ``split``) in one
    batched engine call (vLLM ``n = K_max``). Sampling the train split (preference pairs)
    leaves out the few-shot items, whose answers are in the prompt; ``difficulty`` keeps
    only those levels (pairs need queries the model sometimes gets right)."""
    shots = few_shot_examples(train, spec.shots)
    if split == "train":
        queries = queries[~queries["id"].isin([shot["id"] for shot in shots])]
    if difficulty and queries["difficulty"].notna().any():
        queries = queries[queries["difficulty"].isin(list(difficulty))]
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
