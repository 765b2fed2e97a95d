"""The keyed settings of the synthetic stages: ``synthetic`` (a set by one method) and
``synthscores`` (its scores)."""

from __future__ import annotations

from dataclasses import dataclass

from assay.errors import DataError
from assay.nodes import EngineFields, Spec

METHODS = ("bare", "instruct_fewshot", "base_fewshot")


@dataclass(frozen=True)
class SyntheticSpec(Spec):
    method: str  # bare, instruct_fewshot or base_fewshot
    n: int  # items requested
    shots: int  # real examples in each prompt
    seed: int  # draws the examples
    temperature: float  # this method's (the paper runs the instruct baselines at 1.2)
    max_tokens: int
    drop_duplicates: bool  # False: score and train on what was generated, duplicates flagged
    repair: bool  # near-miss drafts repaired (and counted) instead of rejected
    engine: EngineFields

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise DataError(f"synthetic method {self.method!r} is not one of {METHODS}")


@dataclass(frozen=True)
class SynthscoresSpec(Spec):
    judge_kind: str  # the indistinguishability judge's prompt format
    trials: int  # IR trials (one synthetic item among real ones)
    max_tokens: int
    seed: int
    answer_format: str
    embedder: str  # the sentence-embedding model of the diversity metrics
    diversity_n: int  # diversity compared at this common set size
    diversity_draws: int  # random subsets of that size, averaged
    engine: EngineFields
