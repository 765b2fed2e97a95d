import numpy as np
import pandas as pd
import pytest
from scipy.special import betainc

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


def curve_best(model: TwoLevel, k_max: int) -> tuple[int, float]:
    """The best odd K of the exact two-level curve, by brute force, and its accuracy: the
    smallest K within 1e-9 of the maximum (more calls for nothing are not better)."""
    ks = np.arange(1, k_max + 1, 2)
    acc = [
        model.alpha * betainc((k + 1) / 2, (k + 1) / 2, model.p1)
        + (1 - model.alpha) * betainc((k + 1) / 2, (k + 1) / 2, model.p2)
        for k in ks
    ]
    top = max(acc)
    return int(next(k for k, a in zip(ks, acc) if a >= top - 1e-9)), float(top)


def test_closed_form_k_star_is_where_the_curve_peaks():
    model = TwoLevel(alpha=0.45, p1=0.8, p2=0.35)
    assert model.k_star(201) == curve_best(model, 201)[0]
    assert 1 < model.k_star(201) < 201  # rises then falls
    assert abs(model.k_star_formula() - model.k_star(201)) <= 4  # the formula approximates it


def test_k_star_when_p1_plus_p2_is_below_one_is_the_edge_not_the_formulas_minimum():
    """The curve falls then rises: the formula's root is its minimum (issue: K* = 1 gave
    accuracy 0.48 where the edge gives 0.70)."""
    model = TwoLevel(0.7, 0.6, 0.2)
    best, accuracy = curve_best(model, 1000)
    assert model.k_star(1000) == best and best > 100 and accuracy > 0.69
    root = model.k_star_formula()
    assert root is not None and model.curve(1000).set_index("k")["accuracy"].iloc[0] < accuracy


def test_k_star_rounds_to_the_best_odd_k_not_down():
    """Rise-then-fall cases whose formula K* is not odd: the answer is the curve's best odd K
    (rounding the root down missed it by 2 in about half of such cases)."""
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(300):
        model = TwoLevel(
            float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.55, 0.99)), float(rng.uniform(0.01, 0.45))
        )
        formula = model.k_star_formula()
        if formula is None or not 3 < formula < 150:
            continue
        checked += 1
        assert model.k_star(301) == curve_best(model, 301)[0]
    assert checked > 50


@pytest.mark.parametrize("model", [TwoLevel(1.0, 0.8, 0.3), TwoLevel(0.0, 0.8, 0.3), TwoLevel(0.5, 0.4, 0.2)])
def test_monotone_regimes_give_the_edge_and_no_formula(model):
    best, _ = curve_best(model, 99)
    assert model.k_star(99) == best and model.k_star_formula() is None
    curve = model.curve(99)["accuracy"].to_numpy()
    assert np.all(np.diff(curve) >= -1e-12) or np.all(np.diff(curve) <= 1e-12)  # monotone


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
    assert summary["pool_size"] == 64 and summary["law_curve_mae"] < 0.06
    assert summary["law_accuracy_lost"] < 0.05
    measured = report["measured"]["vote"]
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


def test_bayes_k_star_lands_on_the_true_best_where_the_law_overshoots():
    """Issue 13's case: half easy (p 0.8), half hard (p 0.4) binary queries, true best K 5.
    From 4 samples per query hard queries that look easy make the law rise forever."""
    ps = [0.8] * 100 + [0.4] * 100
    samples = simulate(ps, pool=96, seed=11)
    measured = task_curve(vote_accuracy(samples))
    best = int(measured.loc[measured["accuracy"].idxmax(), "k"])
    assert 3 <= best <= 9  # rises, then falls
    few = validate_prediction(samples, fit_samples=4, k_max=1000)["summary"]
    assert few["law_k_star"] > best + 5 and few["law_accuracy_lost"] > 0.015
    assert few["bayes_k_star"] == best and few["bayes_accuracy_lost"] == 0
    eight = validate_prediction(samples, fit_samples=8, k_max=1000)["summary"]
    assert eight["law_k_star"] > 20 and eight["law_accuracy_lost"] > 0.05
    assert abs(eight["bayes_k_star"] - best) <= 4 and eight["bayes_accuracy_lost"] <= 0.01


def test_ties_are_not_easy_for_the_law_nor_for_the_two_level_estimate():
    samples = pd.DataFrame(
        {
            "query_id": ["tie"] * 4 + ["easy"] * 4 + ["hard"] * 4,
            "sample_index": list(range(4)) * 3,
            "answer": ["1", "1", "0", "0", "1", "1", "1", "0", "1", "0", "0", "0"],
            "correct": [True, True, False, False, True, True, True, False, True, False, False, False],
        }
    )
    from assay.compound.scaling import fit_law

    modes = fit_law(samples).set_index("query_id")["mode_correct"]
    assert modes.to_dict() == {"tie": False, "easy": True, "hard": False}
    model = estimate_two_level(samples)
    assert model.alpha == pytest.approx(1 / 3) and model.p1 == pytest.approx(0.75)
    assert model.p2 == pytest.approx((0.5 + 0.25) / 2)


def test_simulation_charges_each_predictor_against_the_exact_population_curve():
    from assay.compound.simulation import Case, draw_case, evaluate, summary_table
    from assay.compound.vote import vote_curve

    case = draw_case("two_level", "multi", 5, np.random.default_rng(0))
    assert isinstance(case, Case) and all(c.sum() == 1000 for c in case.counts)
    truth = case.true_curve(16)
    assert truth[0] == pytest.approx(np.mean([c[0] / 1000 for c in case.counts]))
    assert truth[6] == pytest.approx(np.mean([vote_curve(int(c[0]), c[1:], 16)[6] for c in case.counts]))
    drawn = case.draw(8, np.random.default_rng(1))
    assert drawn.groupby("query_id").size().eq(8).all()
    results = evaluate(1, (8,), queries=20, k_range=16, seed=2)
    assert set(results["predictor"]) == {"law", "two_level", "bayes"} and len(results) == 12
    assert (results["accuracy_lost"] >= -1e-12).all() and results["k_star"].between(1, 16).all()
    table = summary_table(results)
    assert set(table.columns) >= {"within_1pt", "within_2pt", "p90_lost_pts"}


def test_filter_vote_simulation_uses_the_verifiers_true_curve():
    from assay.compound.simulation import draw_case, evaluate

    rng = np.random.default_rng(4)
    case = draw_case("continuous", "binary", 6, rng).with_verifier(rng)
    truth = case.true_filter_vote_curve(8)
    # K = 1: the one sample is the answer whether or not it is accepted
    assert truth[0] == pytest.approx(case.true_curve(8)[0])
    assert "accepted" in case.draw(5, rng)
    results = evaluate(1, (8,), queries=10, k_range=16, seed=3, method="filter_vote")
    assert len(results) == 12 and (results["accuracy_lost"] >= -1e-12).all()
