"""Preference pairs: from a user's file (Parquet or JSONL with prompt/chosen/rejected, or a
hub dataset such as UltraFeedback binarized through ``datasets``), or from the compound
stage's samples (a correct sample as chosen, an incorrect one as rejected).

UltraFeedback binarized stores ``chosen`` and ``rejected`` as chat transcripts (lists of
``{"role", "content"}``) ending with the assistant's reply; we take the last assistant
message of each as the response and the ``prompt`` column as the prompt.

Pairing rules for sampled answers, per query: ``random`` (a seeded random incorrect
sample), ``most_similar`` / ``least_similar`` (the incorrect sample with the highest /
lowest normalised edit-distance similarity to the chosen one, ``difflib``'s ratio).
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from assay.errors import DataError

COLUMNS = ("prompt", "chosen", "rejected")
PAIRING_RULES = ("random", "most_similar", "least_similar")


def _response(value: Any) -> str:
    """A response as text: plain strings as they are, chat transcripts by their last
    assistant message."""
    if isinstance(value, str):
        return value
    messages = list(value) if value is not None else []
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "assistant":
            return str(message.get("content", ""))
    return ""


def read_preference_file(path: str | Path) -> pd.DataFrame:
    """A user's preference table (.parquet or .jsonl) with prompt, chosen, rejected."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"preference file {path} does not exist")
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix == ".jsonl":
        frame = pd.read_json(path, lines=True)
    else:
        raise DataError(f"preference file {path}: expected .parquet or .jsonl")
    return frame


def load_hub_preferences(source: str, split: str) -> pd.DataFrame:
    """A hub dataset (e.g. HuggingFaceH4/ultrafeedback_binarized, split train_prefs), or a
    local folder in its own layout (``data/{split}-*.parquet``)."""
    import datasets

    folder = Path(source)
    if folder.is_dir():
        files = sorted(str(p) for p in folder.glob(f"**/{split}-*.parquet"))
        if not files:
            raise DataError(f"{source}: no {split}-*.parquet files")
        return datasets.load_dataset("parquet", data_files={split: files})[split].to_pandas()
    return datasets.load_dataset(source, split=split).to_pandas()


def clean_pairs(frame: pd.DataFrame, where: str, source: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Normalise to the pairs schema; drop and count empty sides and chosen == rejected.

    A missing column is an error naming it; bad rows are counted, not fatal.
    """
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{where}: missing column(s) {missing}; found {list(frame.columns)}")
    pairs = pd.DataFrame(
        {
            "prompt": frame["prompt"].map(_response).str.strip(),
            "chosen": frame["chosen"].map(_response).str.strip(),
            "rejected": frame["rejected"].map(_response).str.strip(),
        }
    )
    empty = (pairs["prompt"] == "") | (pairs["chosen"] == "") | (pairs["rejected"] == "")
    same = ~empty & (pairs["chosen"] == pairs["rejected"])
    kept = pairs[~empty & ~same].reset_index(drop=True)
    kept.insert(0, "pair_id", [f"pair-{i:06d}" for i in range(len(kept))])
    kept["source"] = source
    counts = {
        "rows": len(frame),
        "kept": len(kept),
        "dropped_empty": int(empty.sum()),
        "dropped_same": int(same.sum()),
    }
    return kept, counts


def similarity(a: str, b: str) -> float:
    """Normalised edit-distance similarity in [0, 1] (difflib's ratio)."""
    return difflib.SequenceMatcher(None, a, b).ratio()


def pairs_from_samples(
    samples: pd.DataFrame,
    prompts: dict[str, str],
    rule: str = "random",
    seed: int = 0,
    per_query: int = 1,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Up to ``per_query`` distinct pairs per query that has both a correct and an
    incorrect sample (one chosen per pair, never the same (chosen, rejected) twice).

    ``samples`` is the compound stage's table (query_id, sample_index, text, correct);
    ``prompts`` maps query_id to the prompt text the samples answered. Several pairs per
    query give CHES and displacement enough pairs to correlate at small sampling cost.
    """
    if rule not in PAIRING_RULES:
        raise DataError(f"pairing rule {rule!r} is not one of {PAIRING_RULES}")
    rng = random.Random(seed)
    rows, without = [], 0
    for query_id, group in samples.groupby("query_id", sort=False):
        good = [t for t in group.loc[group["correct"], "text"] if t.strip()]
        bad = [t for t in group.loc[~group["correct"], "text"] if t.strip()]
        bad = [t for t in bad if t not in set(good)]
        if not good or not bad:
            without += 1
            continue
        if per_query == 1:
            chosen = rng.choice(good)
            picked = [(chosen, _pick(chosen, bad, rule, rng))]
        else:
            picked = _pick_several(sorted(set(good)), sorted(set(bad)), rule, rng, per_query)
        for chosen, rejected in picked:
            rows.append(
                {"query_id": query_id, "prompt": prompts[query_id], "chosen": chosen, "rejected": rejected}
            )
    frame = pd.DataFrame(rows, columns=["query_id", "prompt", "chosen", "rejected"])
    frame.insert(0, "pair_id", [f"pair-{i:06d}" for i in range(len(frame))])
    frame["source"] = f"samples:{rule}"
    queries = int(samples["query_id"].nunique())
    counts = {"queries": queries, "kept": len(frame), "queries_with_pairs": queries - without}
    return frame, counts | {"without_pair": without}


def _pick_several(
    good: list[str], bad: list[str], rule: str, rng: random.Random, count: int
) -> list[tuple[str, str]]:
    """``count`` distinct (chosen, rejected) combinations: at random, or the most / least
    similar ones (ties in random order)."""
    combos = [(g, b) for g in good for b in bad]
    rng.shuffle(combos)
    if rule != "random":
        combos.sort(key=lambda pair: similarity(*pair), reverse=rule == "most_similar")
    return combos[:count]


def _pick(chosen: str, candidates: Sequence[str], rule: str, rng: random.Random) -> str:
    if rule == "random":
        return rng.choice(list(candidates))
    scored = sorted(candidates, key=lambda c: similarity(chosen, c))
    return scored[-1] if rule == "most_similar" else scored[0]
