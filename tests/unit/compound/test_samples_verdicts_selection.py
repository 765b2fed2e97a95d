import json

import numpy as np
import pandas as pd
import pytest

from assay.compound.samples import sample_answers
from assay.compound.scaling import call_scaling
from assay.compound.selection import select
from assay.compound.systems import PoolModel, self_refine_tree
from assay.compound.verdicts import (
    VERDICT_CHOICES,
    VERDICT_PREFIX,
    judge_prompt,
    judge_samples,
    parse_verdict,
)
from assay.engine import EngineSpec, load_engine
from assay.tasks import prepare

TASK = {"name": "arithmetic", "train_size": 6, "dev_size": 2, "test_size": 5, "levels": 5, "seed": 0}


@pytest.fixture(scope="module")
def engine(tiny_checkpoint):
    return load_engine(tiny_checkpoint, EngineSpec(backend="hf", dtype="float32"))


@pytest.fixture(scope="module")
def splits():
    return prepare(TASK)


def test_sample_answers_gives_k_max_rows_per_query(engine, splits, spec_of):
    samples = sample_answers(
        engine,
        splits["train"],
        splits["test"],
        spec_of("samples", model_kind="instruct", limit=None, k_max=3, max_tokens=6),
    )
    assert len(samples) == 15 and samples.groupby("query_id").size().eq(3).all()
    assert sorted(samples["sample_index"].unique()) == [0, 1, 2]
    assert set(samples.columns) >= {"query_id", "sample_index", "text", "answer", "correct", "output_tokens"}


def test_queries_without_any_answer_are_counted_wrong_with_a_warning(engine, splits, caplog, spec_of):
    samples = sample_answers(
        engine,
        splits["train"],
        splits["test"],
        spec_of("samples", model_kind="base", limit=None, k_max=2, max_tokens=3),
    )
    none = samples.groupby("query_id")["answer"].apply(lambda a: a.isna().all())
    assert not samples.loc[samples["answer"].isna(), "correct"].any()
    if none.any():
        assert "no extractable answer" in caplog.text


@pytest.mark.parametrize(
    "text, accepted",
    [
        ("Looks fine. [[correct]]", True),
        ("[[wrong]]", False),
        ("[[correct]] no, [[wrong]]", False),
        ("ok", False),
    ],
)
def test_parse_verdict(text, accepted):
    assert parse_verdict(text) is accepted


def test_judge_gives_one_verdict_per_sample(engine, splits, spec_of):
    samples = sample_answers(
        engine,
        splits["train"],
        splits["test"],
        spec_of("samples", model_kind="instruct", limit=None, k_max=2, max_tokens=4),
    )
    verdicts = judge_samples(engine, samples, splits["test"], "instruct", max_tokens=4)
    assert len(verdicts) == len(samples) and verdicts["said_correct"].dtype == bool
    confidence = verdicts["confidence"]
    assert confidence.between(0, 1).all()
    # the confidence is the two verdicts' relative probability after the review
    question = splits["test"].set_index("id")["question"][samples["query_id"][0]]
    prompt = judge_prompt(question, samples["text"][0], "instruct")
    prefix = verdicts["verdict"][0].rstrip() + VERDICT_PREFIX
    right, wrong = engine.token_logprobs([prompt], [prefix], VERDICT_CHOICES)[0]
    assert confidence[0] == pytest.approx(np.exp(right) / (np.exp(right) + np.exp(wrong)), abs=1e-6)


class CountingEngine:
    """An engine that counts the calls it gets and the prompts in each."""

    def __init__(self, engine) -> None:
        self.engine, self.batches = engine, []

    def generate(self, prompts, sampling):
        self.batches.append(len(prompts))
        return self.engine.generate(prompts, sampling)


def test_self_refine_tree_scores_every_allocation_one_call_per_model_and_module(engine, splits):
    from assay.compound.systems import _call, _critique_prompt, _refine_prompt
    from assay.tasks.base import build_prompt

    counting = {"a": CountingEngine(engine), "b": CountingEngine(engine)}
    pool = {"a": PoolModel(counting["a"], "instruct"), "b": PoolModel(counting["b"], "base")}
    items = splits["test"].head(2)
    shots = splits["train"].head(1).to_dict("records")
    outputs, calls = self_refine_tree(pool, items, shots, max_tokens=4)
    assert calls == 2 * (2 + 4 + 8)  # LM calls of the system, as the paper counts them
    assert outputs["allocation"].nunique() == 8 and len(outputs) == 16
    # one engine call per model and module: draft, critiques of both drafts, 4 refinements
    assert [len(c.batches) for c in counting.values()] == [3, 3]
    assert counting["a"].batches[1] > len(items)  # both drafts' critiques in one call
    # the same texts as one call per branch
    questions = items["question"].tolist()
    for allocation, rows in outputs.groupby("allocation", sort=False):
        m1, m2, m3 = allocation.split("|")
        drafts = _call(pool[m1], [build_prompt(q, shots, pool[m1].kind, "number") for q in questions], 4)
        asked = [_critique_prompt(q, d, pool[m2].kind) for q, d in zip(questions, drafts)]
        critiques = _call(pool[m2], asked, 4)
        prompts = [
            _refine_prompt(q, d, c, pool[m3].kind, shots) for q, d, c in zip(questions, drafts, critiques)
        ]
        assert rows["text"].tolist() == _call(pool[m3], prompts, 4)


def _synthetic_samples(ps, pool, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for q, p in enumerate(ps):
        for i in range(pool):
            ok = rng.random() < p
            answer = "1" if ok else str(rng.integers(2, 4))
            rows.append({"query_id": f"q{q}", "sample_index": i, "answer": answer, "correct": ok})
    samples = pd.DataFrame(rows)
    # a judge that is surer of correct samples, and whose text never says [[correct]]
    confidence = np.clip(0.3 + 0.4 * samples["correct"] + rng.normal(0, 0.1, len(rows)), 0, 1)
    verdicts = samples[["query_id", "sample_index"]].assign(said_correct=False, confidence=confidence)
    return samples, verdicts


def test_call_scaling_tables_and_filter_vote_helps_with_a_good_filter():
    samples, verdicts = _synthetic_samples([0.6, 0.4, 0.3, 0.8, 0.2, 0.5, 0.35, 0.45], pool=12)
    out = call_scaling(samples, verdicts, fit_samples=4, predict_k_max=100, dev_share=0.5)
    curves, summary = out["curves"], out["summary"]
    assert set(curves["method"]) == {"vote", "filter_vote", "weighted_vote"}
    verified = curves[curves["method"] != "vote"]
    assert (verified["calls"] == 2 * verified["k"]).all()
    vote = curves[curves["method"] == "vote"].set_index("k")["accuracy"]
    filtered = curves[curves["method"] == "filter_vote"].set_index("k")["accuracy"]
    assert filtered[5] > vote[5]  # a judge surer of correct samples helps, though it never says so
    # the threshold separates the two confidence levels; measured on the held-out half
    assert 0.45 < summary["threshold"] < 0.75
    assert summary["dev_queries"] == 4 and summary["held_out_queries"] == 4
    assert summary["verifier_precision"] > 0.9 and summary["verifier_recall"] > 0.9
    assert summary["verifier_auc"] > 0.95 and summary["text_verdict_accept_rate"] == 0
    assert summary["pool_size"] == 12
    # no correct sample at all: recall and AUC are null, not NaN (JSON has no NaN)
    hopeless = samples.assign(correct=False)
    empty = call_scaling(hopeless, verdicts, fit_samples=4, predict_k_max=100, dev_share=0.5)["summary"]
    assert empty["verifier_recall"] is None and empty["verifier_auc"] is None
    json.dumps(empty, allow_nan=False)
    predicted = out["predicted"]
    assert set(zip(predicted["method"], predicted["predictor"])) == {
        (m, p) for m in ("vote", "filter_vote") for p in ("law", "two_level", "bayes")
    }
    for prefix in ("", "filter_vote_"):
        for name in ("law", "two_level", "bayes"):
            assert 1 <= summary[f"{prefix}{name}_k_star"] <= 100
            assert summary[f"{prefix}{name}_accuracy_lost"] >= 0


def test_select_reports_selector_exhaustive_and_single_models():
    rows = []
    for q in ["d1", "d2", "t1", "t2"]:
        for alloc in ["a|a|a", "a|a|b", "a|b|a", "a|b|b", "b|a|a", "b|a|b", "b|b|a", "b|b|b"]:
            rows.append({"query_id": q, "allocation": alloc, "correct": alloc == "a|b|b"})
    result = select(pd.DataFrame(rows), ["d1", "d2"], ["t1", "t2"], modules=3, budget=1000)
    table = result["allocations"].set_index("method")
    assert (
        table.loc["exhaustive", "allocation"] == "a|b|b" and table.loc["exhaustive", "test_accuracy"] == 1.0
    )
    assert set(table.index) == {"llm_selector", "exhaustive", "single:a", "single:b"}


def test_debate_scores_every_allocation_and_shares_identical_prompts(engine, splits):
    from assay.compound.systems import debate_outputs

    pool = {"a": PoolModel(engine, "instruct"), "b": PoolModel(engine, "instruct")}
    items = splits["test"].head(2)
    outputs, calls = debate_outputs(pool, items, [], max_tokens=4, agents=2, rounds=2)
    assert outputs["allocation"].nunique() == 4 and len(outputs) == 8
    # round 1: one distinct prompt per (model, item); round 2: one per (allocation, agent, item)
    assert calls <= 2 * 2 + 4 * 2 * 2
