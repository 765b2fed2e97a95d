"""The keyed settings of a ``finetuned`` artifact."""

from __future__ import annotations

from dataclasses import dataclass

from assay.nodes import Spec


@dataclass(frozen=True)
class FinetunedSpec(Spec):
    lora: bool  # LoRA (merged into the saved checkpoint) or full fine-tuning
    lora_r: int
    lora_alpha: int
    learning_rate: float
    epochs: float
    batch_size: int
    max_length: int
    max_steps: int | None  # null: the epochs decide
    precision: str  # bf16 or fp32, resolved for the hardware at planning
    save_dtype: str  # the saved checkpoint's dtype: the student's own
