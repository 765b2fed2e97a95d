"""The compound stages' rules: ``draw_samples``, ``give_verdicts``, ``fit_scaling``,
``run_selection``. File columns are documented in the stage modules (samples, verdicts,
scaling, selection)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from assay.compound.spec import (
    AssembledSpec,
    SamplesSpec,
    ScalingSpec,
    SelectionSpec,
    TrainSamplesSpec,
    VerdictsSpec,
    samples_spec_from_dict,
)
from assay.errors import ConfigError
from assay.jobs import Job

SAMPLES = "samples.parquet"
VERDICTS = "verdicts.parquet"
VOTE_CURVES, PREDICTED_CURVES, DIFFICULTY = (
    "vote_curves.parquet",
    "predicted_curves.parquet",
    "difficulty.parquet",
)
SCALING_SUMMARY, VOTE_FIGURE, DIFFICULTY_FIGURE = "scaling.json", "vote_curves", "difficulty"
SYSTEM, CHECK, CHECK_SUMMARY = "system.json", "check.parquet", "check.json"
SYSTEM_OUTPUTS, ALLOCATIONS = "system_outputs.parquet", "allocations.parquet"
SELECTION_SUMMARY, ALLOCATION_FIGURE = "selection.json", "allocations"


def draw_samples(job: Job) -> None:
    """K_max samples per query of the declared ``queries`` split (test, or train for
    preference pairs)."""
    from assay.compound.samples import sample_answers

    spec = samples_spec_from_dict(job.spec)
    split, difficulty = ("test", None)
    if isinstance(spec, TrainSamplesSpec):
        split, difficulty = spec.split, spec.difficulty
    train, queries = job.table("train"), job.table("queries")
    with job.with_engine("model") as (staging, engine):
        samples = sample_answers(engine, train, queries, spec, split, difficulty)
        samples.to_parquet(staging.dir / SAMPLES, index=False)
        staging.record(
            samples=len(samples),
            queries=int(samples["query_id"].nunique()),
            output_tokens=int(samples["output_tokens"].sum()),
            no_answer=int(samples["answer"].isna().sum()),
        )


def give_verdicts(job: Job) -> None:
    """The judge's verdict on every sample."""
    from assay.compound.verdicts import judge_samples

    spec = VerdictsSpec.from_dict(job.spec)
    samples, test = job.table("samples"), job.table("test")
    with job.with_engine("judge") as (staging, engine):
        verdicts = judge_samples(engine, samples, test, spec.judge_kind, spec.max_tokens)
        verdicts.to_parquet(staging.dir / VERDICTS, index=False)
        staging.record(
            verdicts=len(verdicts),
            said_correct=int(verdicts["said_correct"].sum()),
            mean_confidence=round(float(verdicts["confidence"].mean()), 4),
        )


def fit_scaling(job: Job) -> None:
    """Vote, Filter-Vote and verifier curves over K; the fitted law, the closed form, K*."""
    from assay.compound.figures import difficulty_figure, vote_curves_figure
    from assay.compound.scaling import call_scaling

    spec = ScalingSpec.from_dict(job.spec)
    name = job.params["name"]
    samples, verdicts = job.table("samples"), job.table("verdicts")
    with job.publish() as staging:
        out = call_scaling(samples, verdicts, spec.fit_samples, spec.predict_k_max, spec.dev_share)
        out["curves"].to_parquet(staging.dir / VOTE_CURVES, index=False)
        out["predicted"].to_parquet(staging.dir / PREDICTED_CURVES, index=False)
        out["difficulty"].to_parquet(staging.dir / DIFFICULTY, index=False)
        (staging.dir / SCALING_SUMMARY).write_text(json.dumps(out["summary"], indent=2) + "\n")
        pool = out["summary"]["pool_size"]
        title = f"{name}: {len(out['difficulty'])} queries, pool of {pool}"
        vote_curves_figure(out["curves"], out["predicted"], title, staging.dir / VOTE_FIGURE)
        difficulty_figure(out["difficulty"], name, staging.dir / DIFFICULTY_FIGURE)
        staging.record(summary=out["summary"])


def check_assembled(job: Job) -> None:
    """The system the scaling stage optimised (K* per method, the verifier's threshold),
    written as ``system.json`` and run with fresh samples on test queries it never saw."""
    from assay.compound.assembled import check_summary, choose_k, run_systems
    from assay.compound.samples import sample_answers
    from assay.compound.verdicts import VERDICT_CHOICES, VERDICT_PREFIX, judge_samples
    from assay.gpus import gpu_lease
    from assay.jobs import record_engines
    from assay.tasks.base import is_correct

    spec = AssembledSpec.from_dict(job.spec)
    scaling = json.loads(Path(job.inputs["summary"]).read_text())
    systems = choose_k(scaling, job.table("predicted"), spec.predictor, spec.max_k)
    train, test = job.table("train"), job.table("test")
    fresh = test.iloc[spec.offset : spec.offset + spec.queries]
    if len(fresh) < spec.queries:
        raise ConfigError(
            f"compound.check.queries: {spec.queries} fresh test queries asked for, but the test "
            f"split has {len(fresh)} after the {spec.offset} sampled ones (compound.limit)"
        )
    sampling = SamplesSpec(
        model_kind=spec.model_kind,
        k_max=max(system["k"] for system in systems.values()),
        temperature=spec.temperature,
        top_p=spec.top_p,
        max_tokens=spec.max_tokens,
        shots=spec.shots,
        limit=None,
        answer_format=spec.answer_format,
        engine=spec.engine,
    )
    engine_spec = job.engine_spec()
    with job.publish() as staging, gpu_lease(engine_spec.tensor_parallel_size):
        with job.open_engine(job.inputs["model"], engine_spec) as engine:
            samples = sample_answers(engine, train, fresh, sampling)
            staging.engine = engine.name
        verified = samples[samples["sample_index"] < systems["filter_vote"]["k"]]
        with job.open_engine(job.inputs["judge"], engine_spec) as judge:
            verdicts = judge_samples(judge, verified, test, spec.judge_kind, spec.judge_max_tokens)
        record_engines(staging, [engine, judge])
        truth = fresh.set_index("id")["answer"]
        check = run_systems(
            samples,
            verdicts,
            systems,
            scaling["threshold"],
            lambda query, answer: is_correct(answer, truth[query], spec.answer_format),
        )
        check.to_parquet(staging.dir / CHECK, index=False)
        summary = check_summary(check, systems)
        (staging.dir / CHECK_SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
        keys = {role: json.loads(Path(job.inputs[role]).read_text())["key"] for role in ("model", "judge")}
        system = {
            "generator": {"checkpoint_key": keys["model"], "kind": spec.model_kind},
            "judge": {
                "checkpoint_key": keys["judge"],
                "kind": spec.judge_kind,
                "max_tokens": spec.judge_max_tokens,
                "verdict_prefix": VERDICT_PREFIX,
                "verdict_choices": list(VERDICT_CHOICES),
                "threshold": scaling["threshold"],
            },
            "sampling": {
                "temperature": spec.temperature,
                "top_p": spec.top_p,
                "max_tokens": spec.max_tokens,
                "shots": spec.shots,
                "answer_format": spec.answer_format,
            },
            "predictor": spec.predictor,
            "systems": systems,
        }
        (staging.dir / SYSTEM).write_text(json.dumps(system, indent=2) + "\n")
        staging.record(check=summary)


def run_selection(job: Job) -> None:
    """Every allocation's outputs of the system on dev and test queries (one table), then
    LLMSelector, exhaustive search and single models scored from it. The pool's engines
    are held at once; the declared ``models`` inputs are in the spec's pool order."""
    from assay.compound.figures import allocation_figure
    from assay.compound.selection import select
    from assay.compound.systems import PoolModel, debate_outputs, self_refine_tree
    from assay.engine import EngineSpec
    from assay.jobs import record_engines
    from assay.tasks.base import few_shot_examples

    spec = SelectionSpec.from_dict(job.spec)
    manifests = job.inputs["models"]
    manifests = [manifests] if isinstance(manifests, str) else manifests
    engine_spec = EngineSpec.from_dict({**job.engine_spec().as_dict(), "backend": spec.engine.backend})
    train = job.table("train")
    dev = job.table("dev").head(spec.train_queries)
    test = job.table("test").head(spec.test_queries)
    with job.publish() as staging:
        engines = job.open_pool(manifests, engine_spec)
        pool = {
            name: PoolModel(engine, kind)
            for (name, kind), engine in zip(spec.models.items(), engines, strict=True)
        }
        staging.engine = engine_spec.backend
        items = pd.concat([dev.assign(split="train"), test.assign(split="test")], ignore_index=True)
        shots = few_shot_examples(train, spec.shots)
        if spec.system == "debate":
            outputs, calls = debate_outputs(
                pool, items, shots, spec.max_tokens, len(spec.modules), spec.rounds, spec.answer_format
            )
        else:
            outputs, calls = self_refine_tree(pool, items, shots, spec.max_tokens, spec.answer_format)
        outputs = outputs.merge(items[["id", "split"]], left_on="query_id", right_on="id").drop(columns="id")
        outputs.to_parquet(staging.dir / SYSTEM_OUTPUTS, index=False)
        result = select(outputs, dev["id"].tolist(), test["id"].tolist(), len(spec.modules), spec.budget)
        result["allocations"].to_parquet(staging.dir / ALLOCATIONS, index=False)
        summary = {**result["summary"], "table_calls": calls}
        (staging.dir / SELECTION_SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
        allocation_figure(result["allocations"], staging.dir / ALLOCATION_FIGURE, tuple(spec.modules))
        record_engines(staging, [model.engine for model in pool.values()])
        for model in pool.values():
            model.engine.close()
        staging.record(summary=summary)
