"""The keyed settings of the preference stages: ``preferences`` (pairs), ``ches``,
``policies`` (one variant x subset each), ``displacement``. Training samples of the policy
are a ``samples`` artifact (:class:`assay.compound.spec.TrainSamplesSpec`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assay.nodes import Spec

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
class SamplesSource(Spec):
    """Pairs from the policy's own train samples: a correct one chosen, a wrong one rejected."""

    kind: str  # "samples"
    pairing: str  # random, most_similar or least_similar
    pairs_per_query: int


@dataclass(frozen=True)
class FileSource(Spec):
    """Pairs from a user's Parquet/JSONL file (keyed by content)."""

    kind: str  # "file"
    path: str
    sha256: str
    limit: int | None


@dataclass(frozen=True)
class HubSource(Spec):
    """Pairs from a dataset through ``datasets`` (a hub id or a local copy in its layout)."""

    kind: str  # "hub"
    name: str
    split: str
    limit: int | None


SOURCES: dict[str, type[Spec]] = {"samples": SamplesSource, "file": FileSource, "hub": HubSource}
PairSource = SamplesSource | FileSource | HubSource


@dataclass(frozen=True)
class PreferencesSpec(Spec):
    source: PairSource
    heldout: float  # share of pairs held out (never trained on)
    seed: int

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PreferencesSpec:
        source = SOURCES[values["source"]["kind"]].from_dict(values["source"])
        return cls(source=source, heldout=values["heldout"], seed=values["seed"])


@dataclass(frozen=True)
class ChesSpec(Spec):
    batch_size: int
    max_length: int | None  # the trainer's: sequences are cut where training cuts them
    precision: str  # the training's (resolved): the starting policy's log-probs are scored in it


@dataclass(frozen=True)
class PoliciesSpec(Spec):
    """One trained policy: a variant's whole behaviour on one subset of the pairs."""

    variant: str  # a TRL DPOTrainer loss_type, or simpo (TRL's CPO trainer)
    beta: float
    learning_rate: float
    epochs: float
    lora: bool
    simpo_gamma: float | None  # SimPO only
    subset: str  # all, lowest, highest or random (by CHES)
    share: float | None  # share of train pairs in a subset other than all
    batch_size: int
    max_length: int
    max_steps: int | None
    lora_r: int
    lora_alpha: int
    precision: str  # bf16 or fp32, resolved for the hardware at planning
    track_every: int  # log-probs measured every this many steps
    track_pairs: int  # train pairs the curves follow (a fixed seeded sample)
    seed: int
    save_dtype: str  # the saved checkpoint's dtype: the policy's own
    label: str  # variant-subset, in tables and figures

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"preference variant {self.variant!r} is not one of {VARIANTS}")


@dataclass(frozen=True)
class DisplacementSpec(Spec):
    policy: str  # the study's name of the initial policy
