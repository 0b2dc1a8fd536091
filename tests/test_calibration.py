from __future__ import annotations

import numpy as np
import pytest

from gate.calibration import (
    Calibrator,
    choose_calibrator,
    expected_calibration_error,
    fit_isotonic,
    fit_temperature,
    recording_offsets,
    reliability_curve,
)


def overconfident(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from true probabilities; predictions pushed towards 0 and 1."""
    rng = np.random.default_rng(seed)
    true_p = rng.uniform(0.05, 0.95, n)
    y = (rng.uniform(size=n) < true_p).astype(float)
    logit = np.log(true_p / (1 - true_p))
    return 1 / (1 + np.exp(-3 * logit)), y


def test_ece_of_a_perfectly_calibrated_constant_is_zero():
    y = np.array([1, 0, 0, 0] * 25, dtype=float)
    assert expected_calibration_error(np.full(100, 0.25), y) == pytest.approx(0.0)
    assert expected_calibration_error(np.full(100, 0.75), y) == pytest.approx(0.5)


@pytest.mark.parametrize("fit", [fit_temperature, fit_isotonic])
def test_fitted_calibrators_reduce_ece_on_fresh_data(fit):
    p_fit, y_fit = overconfident(seed=1)
    p_new, y_new = overconfident(seed=2)
    calibrator = fit(p_fit, y_fit)
    before = expected_calibration_error(p_new, y_new)
    after = expected_calibration_error(calibrator.apply(p_new), y_new)
    assert before > 0.1
    assert after < before / 3


def test_temperature_recovers_the_overconfidence_factor():
    p, y = overconfident()
    calibrator = fit_temperature(p, y)
    assert calibrator.temperature == pytest.approx(3.0, rel=0.15)
    assert abs(calibrator.bias) < 0.1


def test_calibrators_survive_a_json_round_trip():
    p, y = overconfident()
    for calibrator in (fit_temperature(p, y), fit_isotonic(p, y)):
        again = Calibrator.model_validate_json(calibrator.model_dump_json())
        np.testing.assert_allclose(again.apply(p), calibrator.apply(p))


def test_choose_calibrator_scores_methods_on_data_they_were_not_fitted_on():
    p, y = overconfident()
    groups = [f"g{i % 6}" for i in range(len(p))]
    choice = choose_calibrator(p, y, groups)
    methods = {"temperature", "isotonic"}
    assert set(choice.ece_by_method) == set(choice.log_loss_by_method) == methods
    assert choice.calibrator.method == min(
        choice.log_loss_by_method, key=choice.log_loss_by_method.get
    )
    assert choice.ece_by_method[choice.calibrator.method] < choice.ece_uncalibrated


def test_reliability_curve_counts_every_prediction():
    p, y = overconfident(n=500)
    curve = reliability_curve(p, y)
    assert sum(b["count"] for b in curve) == 500
    assert all(0 <= b["frequency"] <= 1 for b in curve)


def test_recording_offsets_find_how_far_each_recordings_rate_strays():
    rng = np.random.default_rng(3)
    true_offsets = {"calm": -1.5, "typical": 0.0, "busy": 1.0}
    p, y, groups = [], [], []
    for name, offset in true_offsets.items():
        predicted = rng.uniform(0.2, 0.6, 3000)
        logit = np.log(predicted / (1 - predicted)) + offset
        p += list(predicted)
        y += list(rng.uniform(size=3000) < 1 / (1 + np.exp(-logit)))
        groups += [name] * 3000
    offsets = recording_offsets(np.array(p), np.array(y, dtype=float), groups)
    assert offsets == pytest.approx(true_offsets, abs=0.12)
    # A recording with no help needed at all sits at the bound, not at infinity.
    assert recording_offsets(np.full(10, 0.4), np.zeros(10), ["quiet"] * 10)["quiet"] < -4.9
