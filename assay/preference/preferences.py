"""Stage ``preferences`` (rule ``build_preferences``): the pairs table every later preference stage reads.

``pairs.parquet``, one row per kept pair: ``pair_id``, ``prompt`` (the exact text the
policy is conditioned on: chat prompts rendered with the policy's chat template and its
generation prompt), ``chosen``, ``rejected`` (response texts), ``source``, ``query_id``
(null for user files), ``split`` (``train`` or ``heldout``: held-out pairs are never
trained on and show whether displacement generalises).

Sources (``preference.source.kind``): ``samples`` (the compound stage's samples of the
policy on the *train* split: a correct sample as chosen, an incorrect one as rejected),
``file`` (Parquet/JSONL with prompt/chosen/rejected), ``hub`` (a dataset through
``datasets``, e.g. HuggingFaceH4/ultrafeedback_binarized, or a local folder in its layout).
Rows with an empty side or chosen == rejected are dropped and counted in the manifest.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from assay.engine.base import Prompt
from assay.errors import DataError
from assay.preference.batching import strip_added_bos
from assay.preference.pairs import clean_pairs, load_hub_preferences, pairs_from_samples, read_preference_file
from assay.preference.spec import SOURCES, FileSource, HubSource, PairSource
from assay.tasks.base import build_prompt, few_shot_examples


def render_prompt(tokenizer, prompt: Prompt) -> str:
    """A chat prompt through the policy's chat template (with the generation prompt); a
    plain string as it is. A BOS the template writes is left out when the tokenizer adds
    its own (the trainer tokenises the text with special tokens: one BOS, not two)."""
    if isinstance(prompt, str):
        return prompt
    text = tokenizer.apply_chat_template(list(prompt), tokenize=False, add_generation_prompt=True)
    return strip_added_bos(tokenizer, text)


def sample_prompts(train: pd.DataFrame, sample_spec: dict[str, Any], tokenizer) -> dict[str, str]:
    """The prompts the compound stage sampled train queries with, rendered as text."""
    shots = few_shot_examples(train, sample_spec["shots"])
    return {
        row.id: render_prompt(
            tokenizer,
            build_prompt(row.question, shots, sample_spec["model_kind"], sample_spec["answer_format"]),
        )
        for row in train.itertuples()
    }


def user_pairs(source: FileSource | HubSource, tokenizer) -> tuple[pd.DataFrame, dict[str, int]]:
    """Pairs from a user's file or a hub dataset; user prompts become one user turn."""
    if source.kind == "file":
        if not source.path:
            raise DataError("preference.source.path: a file source needs a path")
        raw, where = read_preference_file(source.path), source.path
    else:
        if not source.name:
            raise DataError("preference.source.name: a hub source needs a dataset name")
        raw, where = load_hub_preferences(source.name, source.split), source.name
    if source.limit:
        raw = raw.head(source.limit)
    pairs, counts = clean_pairs(raw, where, source.kind)
    chat = getattr(tokenizer, "chat_template", None)
    if chat:
        pairs["prompt"] = [
            render_prompt(tokenizer, [{"role": "user", "content": p}]) for p in pairs["prompt"]
        ]
    pairs["query_id"] = pd.Series([None] * len(pairs), dtype="string")
    return pairs, counts


def split_heldout(pairs: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """Mark a seeded ``share`` of pairs (at least one when share > 0 and there are 2+
    pairs) as held out."""
    held = int(round(share * len(pairs)))
    if share > 0 and len(pairs) >= 2:
        held = min(max(held, 1), len(pairs) - 1)
    order = np.random.default_rng(seed).permutation(len(pairs))
    split = np.array(["train"] * len(pairs), dtype=object)
    split[order[:held]] = "heldout"
    return pairs.assign(split=split)


def build_preferences(
    source: PairSource,
    tokenizer,
    heldout: float,
    seed: int,
    samples: pd.DataFrame | None = None,
    train: pd.DataFrame | None = None,
    sample_spec: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The pairs table (module doc) and the counts for the manifest."""
    if source.kind not in SOURCES:
        raise DataError(f"preference.source.kind: {source.kind!r} is not one of {tuple(SOURCES)}")
    if source.kind == "samples":
        prompts = sample_prompts(train, sample_spec, tokenizer)
        pairs, counts = pairs_from_samples(samples, prompts, source.pairing, seed, source.pairs_per_query)
    else:
        pairs, counts = user_pairs(source, tokenizer)
    if len(pairs) < 2:
        raise DataError(
            f"preference pairs: only {len(pairs)} pair(s) left after cleaning ({counts}); training "
            "needs at least 2 (sample more train queries: preference.source.queries, or a larger k)"
        )
    pairs = split_heldout(pairs, heldout, seed)
    counts["train_pairs"] = int((pairs["split"] == "train").sum())
    counts["heldout_pairs"] = int((pairs["split"] == "heldout").sum())
    columns = ["pair_id", "prompt", "chosen", "rejected", "source", "query_id", "split"]
    return pairs[columns], counts
