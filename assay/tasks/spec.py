"""The keyed settings of a ``tasks`` artifact: the task section of the study, whole."""

from __future__ import annotations

from dataclasses import dataclass

from assay.nodes import Spec


@dataclass(frozen=True)
class TaskSpec(Spec):
    name: str  # arithmetic, gsm8k, mmlu or file
    source: str | None  # hub id or local folder (gsm8k, mmlu, file)
    subset: str | None  # MMLU subject
    train_size: int | None
    dev_size: int | None
    test_size: int | None
    levels: int  # arithmetic difficulty levels
    seed: int
