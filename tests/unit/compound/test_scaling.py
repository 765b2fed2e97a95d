import numpy as np
import pandas as pd
import pytest

from assay.compound.scaling import (
    TwoLevel,
    answer_distribution,
    estimate_two_level,
    fit_query_law,
    law,
    predict_curve,
    validate_prediction,
)
from assay.compound.vote import task_curve, vote_accuracy


def simulate(p_correct: list[float], pool: int, seed: int = 0) -> pd.DataFrame:
    """Two-answer queries: correct answer '1' with probability p, else '0'."""
    rng = np.random.default_rng(seed)
    rows = []
    for q, p in enumerate(p_correct):
        draws = rng.random(pool) < p
        for i, ok in enumerate(draws):
            rows.append(
                {"query_id": f"q{q}", "sample_index": i, "answer": "1" if ok else "0", "correct": bool(ok)}
            )
    return pd.DataFrame(rows)


def test_closed_form_matches_simulated_votes():
    model = TwoLevel(alpha=0.6, p1=0.7, p2=0.3)
    rng = np.random.default_rng(1)
    for k in (1, 5, 15):
        queries = 20000
        easy = rng.random(queries) < model.alpha
        p = np.where(easy, model.p1, model.p2)
        votes = rng.binomial(k, p) > k / 2
        expected = model.curve(15).set_index("k").loc[k, "accuracy"]
        assert votes.mean() == pytest.approx(expected, abs=0.01)


def test_closed_form_k_star_is_where_the_curve_peaks():
    model = TwoLevel(alpha=0.45, p1=0.8, p2=0.35)
    curve = model.curve(201)
    measured = int(curve.loc[curve["accuracy"].idxmax(), "k"])
    assert abs(model.k_star(201) - measured) <= 4
    assert 1 < measured < 201  # rises then falls


def test_fit_recovers_known_parameters():
    ks = np.arange(1, 40, dtype=float)
    for truth, mode in (((0.05, 0.3, 0.2), True), ((0.02, 0.1, 0.5), False)):
        observed = law(np.array(truth), ks, mode)
        fitted = fit_query_law(ks, observed, mode)
        assert np.allclose(law(fitted, ks, mode), observed, atol=1e-6)
        assert np.allclose(fitted, truth, atol=1e-3)


def test_difficulty_separates_easy_and_hard():
    samples = simulate([0.9, 0.8, 0.1, 0.2], pool=200)
    dist = answer_distribution(samples).set_index("query_id")
    assert (dist.loc[["q0", "q1"], "difficulty"] < 0).all() and (
        dist.loc[["q2", "q3"], "difficulty"] > 0
    ).all()
    two = estimate_two_level(samples)
    assert (
        two.alpha == 0.5
        and two.p1 == pytest.approx(0.85, abs=0.05)
        and two.p2 == pytest.approx(0.15, abs=0.05)
    )


def test_law_fitted_on_few_samples_predicts_rise_then_fall():
    # Mostly-easy and hard queries mixed: accuracy rises then falls with K.
    ps = [0.65] * 30 + [0.35] * 25
    samples = simulate(ps, pool=64, seed=3)
    report = validate_prediction(samples, fit_samples=16, k_max=400)
    summary = report["summary"]
    assert summary["pool_size"] == 64 and summary["fitted_curve_mae"] < 0.06
    assert summary["fitted_accuracy_lost"] < 0.05
    measured = report["measured"]
    assert measured["accuracy"].max() > measured["accuracy"].iloc[0]


def test_validation_rejects_bad_fit_sizes():
    samples = simulate([0.5], pool=8)
    with pytest.raises(ValueError, match="between 1 and the pool size 8"):
        validate_prediction(samples, fit_samples=9)


def test_predicted_curve_reproduces_measured_curve_when_fit_on_everything():
    samples = simulate([0.7, 0.3, 0.6], pool=24, seed=5)
    from assay.compound.scaling import fit_law

    predicted = predict_curve(fit_law(samples), 24).set_index("k")["accuracy"]
    measured = task_curve(vote_accuracy(samples)).set_index("k")["accuracy"]
    assert np.max(np.abs(predicted - measured)) < 0.08
