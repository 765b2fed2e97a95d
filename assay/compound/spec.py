"""The keyed settings of the compound stages: ``samples``, ``verdicts``, ``scaling``,
``selection``."""

from __future__ import annotations

from dataclasses import dataclass

from assay.nodes import EngineFields, Spec


@dataclass(frozen=True)
class SamplesSpec(Spec):
    """K_max samples per query of the test split."""

    model_kind: str
    k_max: int
    temperature: float
    top_p: float
    max_tokens: int
    shots: int
    limit: int | None
    answer_format: str
    engine: EngineFields


@dataclass(frozen=True)
class TrainSamplesSpec(SamplesSpec):
    """Samples of another split (the preference stage's pairs sample the train split,
    optionally only some difficulty levels). A separate class, not optional fields: the
    plain dict is what the key hashes, and test-split samples never had these fields."""

    split: str
    difficulty: list[int] | None


def samples_spec_from_dict(values: dict) -> SamplesSpec:
    return (TrainSamplesSpec if "split" in values else SamplesSpec).from_dict(values)


@dataclass(frozen=True)
class VerdictsSpec(Spec):
    judge_kind: str
    max_tokens: int
    engine: EngineFields


@dataclass(frozen=True)
class ScalingSpec(Spec):
    fit_samples: int  # samples per query the law is fitted on (the rest validate it)
    predict_k_max: int  # the predicted curve runs to this K
    dev_share: float  # share of the sampled queries that choose the verifier's threshold


@dataclass(frozen=True)
class SelectionSpec(Spec):
    system: str  # self_refine or debate
    modules: list[str]
    rounds: int | None  # debate only
    models: dict[str, str]  # the pool, name -> kind, in the order of the job's model inputs
    train_queries: int
    test_queries: int
    budget: int
    max_tokens: int
    shots: int
    answer_format: str
    engine: EngineFields  # backend: the selector's own


@dataclass(frozen=True)
class AssembledSpec(Spec):
    """The optimised system (K* per method from one predictor, the verifier's threshold)
    run on fresh test queries."""

    predictor: str  # law, two_level or bayes
    queries: int  # fresh test queries, after the sampled ones
    offset: int  # the first fresh query: the samples' limit
    max_k: int  # the most generations a deployed system may spend per query
    model_kind: str
    temperature: float
    top_p: float
    max_tokens: int
    shots: int
    answer_format: str
    judge_kind: str
    judge_max_tokens: int
    engine: EngineFields
