"""How preference variants map onto TRL (the configuration half; the training loop is TRL's).

``PreferenceSpec`` is one variant's whole behaviour: its loss, beta, learning rate, epochs,
LoRA or full. ``dpo_config`` turns it into a ``trl.DPOConfig`` with the CPU facts of
shared/FACTS.md applied: TRL defaults to bf16 and gradient checkpointing, which on a CPU
raise unless ``use_cpu=True``; ``loss_type`` is a list in TRL 1.16; ``max_length`` (not
``max_seq_length``). SimPO lives in TRL's CPO trainer (``trl.experimental.cpo``), since
``loss_type="simpo"`` in DPOTrainer fails at the first step.

A check of this configuration (tests/unit/preference/test_training.py): with the policy
equal to the reference, the first logged loss is ln 2 for DPO, 1 / (4 beta^2) for IPO
(D = 0), and 1 for hinge.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assay.training import trainer_flags

DPO_LOSSES = (
    "sigmoid",
    "ipo",
    "hinge",
    "robust",
    "apo_zero",
    "apo_down",
    "sigmoid_norm",
    "exo_pair",
    "nca_pair",
)
VARIANTS = (*DPO_LOSSES, "simpo")


@dataclass(frozen=True)
class PreferenceSpec:
    variant: str = "sigmoid"
    beta: float = 0.1
    learning_rate: float = 5e-5
    epochs: float = 1.0
    batch_size: int = 8
    max_length: int = 256
    lora: bool = True
    lora_r: int = 8
    lora_alpha: int = 16
    simpo_gamma: float = 0.5
    max_steps: int | None = None
    precision: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"preference variant {self.variant!r} is not one of {VARIANTS}")


def _common_args(spec: PreferenceSpec, output_dir: str | Path, max_steps: int | None) -> dict:
    steps = max_steps if max_steps is not None else spec.max_steps
    return {
        "output_dir": str(output_dir),
        "beta": spec.beta,
        "learning_rate": spec.learning_rate,
        "num_train_epochs": spec.epochs,
        "max_steps": steps if steps else -1,
        "per_device_train_batch_size": spec.batch_size,
        "max_length": spec.max_length,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [],
        "seed": spec.seed,
        **trainer_flags(spec.precision),
    }


def dpo_config(spec: PreferenceSpec, output_dir: str | Path, max_steps: int | None = None):
    """A TRL DPOConfig for a DPO-family variant (not SimPO)."""
    from trl import DPOConfig

    if spec.variant == "simpo":
        raise ValueError("SimPO is trained with TRL's CPO trainer: use cpo_config")
    return DPOConfig(loss_type=[spec.variant], **_common_args(spec, output_dir, max_steps))


def cpo_config(spec: PreferenceSpec, output_dir: str | Path, max_steps: int | None = None):
    """SimPO as TRL's CPO trainer runs it: reference-free, length-normalised, margin gamma,
    no behaviour-cloning term (cpo_alpha 0)."""
    from trl.experimental.cpo import CPOConfig

    return CPOConfig(
        loss_type="simpo",
        simpo_gamma=spec.simpo_gamma,
        cpo_alpha=0.0,
        **_common_args(spec, output_dir, max_steps),
    )


def lora_config(spec: PreferenceSpec):
    from peft import LoraConfig

    return LoraConfig(
        r=spec.lora_r, lora_alpha=spec.lora_alpha, target_modules="all-linear", task_type="CAUSAL_LM"
    )
