import numpy as np
import pandas as pd
import pytest

from assay.compound.assembled import check_summary, choose_k, run_systems, vote


def _predicted():
    rows = []
    for method in ("vote", "filter_vote"):
        for predictor in ("law", "bayes"):
            for k in range(1, 41):
                rows.append({"method": method, "predictor": predictor, "k": k, "accuracy": 0.5 + k / 100})
    return pd.DataFrame(rows)


def test_choose_k_caps_k_star_and_reads_the_predicted_accuracy_there():
    summary = {"bayes_k_star": 7, "filter_vote_bayes_k_star": 40}
    systems = choose_k(summary, _predicted(), "bayes", max_k=16)
    assert systems["vote"] == {
        "k": 7,
        "k_star": 7,
        "predicted_accuracy": pytest.approx(0.57),
        "calls_per_query": 7,
    }
    assert systems["filter_vote"]["k"] == 16 and systems["filter_vote"]["k_star"] == 40
    assert systems["filter_vote"]["calls_per_query"] == 32  # a generation and a verification each


def test_vote_prefers_accepted_answers_and_falls_back_to_all():
    assert vote(["1", "2", "2"]) == "2"
    assert vote(["1", "2", "2"], [True, False, False]) == "1"
    assert vote(["1", "2", "2"], [False, False, False]) == "2"
    assert vote([None, None, "3"]) is None


def test_systems_run_on_their_first_k_samples_and_count_calls():
    samples = pd.DataFrame(
        {
            "query_id": ["a"] * 5 + ["b"] * 5,
            "sample_index": list(range(5)) * 2,
            "answer": ["1", "2", "2", "1", "1", "7", "7", "3", "3", "3"],
        }
    )
    # only the first 3 samples were verified; the judge is sure of answer 1 and 3 only
    verified = samples[samples["sample_index"] < 3].copy()
    verified["confidence"] = np.where(verified["answer"].isin(["1", "3"]), 0.9, 0.1)
    systems = {
        "vote": {"k": 3, "calls_per_query": 3},
        "filter_vote": {"k": 3, "calls_per_query": 6},
    }
    truth = {"a": "1", "b": "3"}
    check = run_systems(samples, verified, systems, 0.5, lambda q, a: a == truth[q])
    answers = check.set_index(["query_id", "method"])["answer"]
    assert answers[("a", "vote")] == "2" and answers[("a", "filter_vote")] == "1"
    assert answers[("b", "vote")] == "7" and answers[("b", "filter_vote")] == "3"
    summary = check_summary(check, systems)
    assert summary["vote"]["achieved_accuracy"] == 0 and summary["filter_vote"]["achieved_accuracy"] == 1
    assert summary["filter_vote"]["calls_spent"] == 12 and summary["vote"]["queries"] == 2


def test_check_refuses_to_run_without_enough_fresh_test_queries(tmp_path, spec_of):
    """Fewer fresh test items than compound.check.queries: a clear error naming the field,
    before any engine starts, and nothing published."""
    import json

    from assay.artifacts import ArtifactRef
    from assay.compound.jobs import check_assembled
    from assay.errors import ConfigError
    from assay.jobs import Job

    spec = spec_of("assembled", "smollm2-135m-instruct", queries=5, offset=4).to_dict()
    (tmp_path / "scaling.json").write_text(json.dumps({"bayes_k_star": 3, "filter_vote_bayes_k_star": 3}))
    _predicted().to_parquet(tmp_path / "predicted.parquet")
    test = pd.DataFrame({"id": [f"t{i}" for i in range(6)], "question": ["q"] * 6, "answer": ["1"] * 6})
    test.to_parquet(tmp_path / "test.parquet")
    test.to_parquet(tmp_path / "train.parquet")
    store = tmp_path / "store" / "assembled" / "k1"
    ref = ArtifactRef(stage="assembled", key="k1", spec=spec, upstream={}, path=store)
    inputs = {name: str(tmp_path / f"{name}.parquet") for name in ("predicted", "test", "train")}
    inputs["summary"] = str(tmp_path / "scaling.json")
    job = Job(ref=ref, inputs=inputs, outputs={})
    with pytest.raises(
        ConfigError, match=r"^compound.check.queries: 5 fresh test queries asked for, but .* has 2"
    ):
        check_assembled(job)
    assert not store.exists()
