"""The keyed settings of an ``evaluate`` artifact."""

from __future__ import annotations

from dataclasses import dataclass

from assay.nodes import EngineFields, Spec


@dataclass(frozen=True)
class EvaluateSpec(Spec):
    model_kind: str  # base or instruct: which prompt format
    shots: int  # few-shot examples (the easiest train items)
    limit: int | None  # first items of the test split (null = all)
    max_tokens: int
    answer_format: str  # number or choice
    engine: EngineFields
