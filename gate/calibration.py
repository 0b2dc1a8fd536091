"""Probability calibration, measured rather than assumed.

Two calibrators are fitted on held-out predictions: temperature scaling (one scale on the
logit, plus a bias so a shifted base rate can be corrected) and isotonic regression. The
one with the lower log loss on data it was not fitted on is kept and saved with the model
as plain numbers, so the runtime applies it with numpy alone. Log loss, not ECE, chooses:
it is a proper scoring rule and punishes a probability near 0 for an event that happens,
which is what the cost rule pays for at high C_FN/C_FA (isotonic regression fitted to a
few hundred rows maps its lowest scores to 0; ECE, averaged over bins, barely notices).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel

_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    logits: np.ndarray = np.log(p / (1 - p))
    return logits


def _log_loss(p: np.ndarray, y: np.ndarray) -> float:
    q = np.clip(p, _EPS, 1 - _EPS)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


class Calibrator(BaseModel):
    """A fitted calibration map; `method` says which, the other fields hold its numbers."""

    method: Literal["identity", "temperature", "isotonic"]
    temperature: float = 1.0
    bias: float = 0.0
    x: list[float] = []
    y: list[float] = []

    def apply(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64)
        if self.method == "temperature":
            return 1.0 / (1.0 + np.exp(-(_logit(p) / self.temperature + self.bias)))
        if self.method == "isotonic":
            mapped: np.ndarray = np.interp(p, self.x, self.y)
            return mapped
        return p


def fit_temperature(p: np.ndarray, y: np.ndarray) -> Calibrator:
    from scipy.optimize import minimize  # fitting only: applying needs numpy alone

    z, target = _logit(np.asarray(p)), np.asarray(y, dtype=np.float64)

    def nll(params: np.ndarray) -> float:
        log_t, bias = params
        return _log_loss(1.0 / (1.0 + np.exp(-(z / np.exp(log_t) + bias))), target)

    result = minimize(nll, x0=np.zeros(2), method="L-BFGS-B", bounds=[(-4, 4), (-5, 5)])
    return Calibrator(
        method="temperature", temperature=float(np.exp(result.x[0])), bias=float(result.x[1])
    )


def fit_isotonic(p: np.ndarray, y: np.ndarray) -> Calibrator:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(p, y)
    return Calibrator(method="isotonic", x=iso.X_thresholds_.tolist(), y=iso.y_thresholds_.tolist())


FITTERS = {"temperature": fit_temperature, "isotonic": fit_isotonic}


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Bin-weighted |accuracy - confidence| over equal-width probability bins."""
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if p.size == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            error += mask.mean() * abs(y[mask].mean() - p[mask].mean())
    return float(error)


def reliability_curve(p: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Per non-empty bin: mean confidence, observed frequency and count (for plots)."""
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    return [
        {
            "confidence": float(p[index == b].mean()),
            "frequency": float(y[index == b].mean()),
            "count": int((index == b).sum()),
        }
        for b in range(bins)
        if (index == b).any()
    ]


class CalibrationChoice(BaseModel):
    calibrator: Calibrator
    ece_uncalibrated: float
    ece_by_method: dict[str, float]
    log_loss_by_method: dict[str, float]


def choose_calibrator(p: np.ndarray, y: np.ndarray, groups: Sequence[str]) -> CalibrationChoice:
    """Pick the calibrator with the lowest cross-fitted log loss, then refit it on everything.
    Its cross-fitted ECE is reported beside it.

    `p` must be held-out predictions (each made by a model that did not see that row).
    Groups are split into two halves; each method is fitted on one half and scored on the
    other, both ways, so the choice is not made on the data a calibrator was fitted to.
    """
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    group_array = np.asarray(groups)
    unique = sorted(set(groups))
    half = np.isin(group_array, unique[::2])
    ece: dict[str, float] = {}
    loss: dict[str, float] = {}
    for name, fit in FITTERS.items():
        errors, losses = [], []
        for fit_mask in (half, ~half):
            if fit_mask.all() or not fit_mask.any() or len(set(y[fit_mask])) < 2:
                continue
            calibrated = fit(p[fit_mask], y[fit_mask]).apply(p[~fit_mask])
            errors.append(expected_calibration_error(calibrated, y[~fit_mask]))
            losses.append(_log_loss(calibrated, y[~fit_mask]))
        ece[name] = float(np.mean(errors)) if errors else float("inf")
        loss[name] = float(np.mean(losses)) if losses else float("inf")
    best = min(loss, key=loss.__getitem__)
    return CalibrationChoice(
        calibrator=FITTERS[best](p, y),
        ece_uncalibrated=expected_calibration_error(p, y),
        ece_by_method=ece,
        log_loss_by_method=loss,
    )


def recording_offsets(p: np.ndarray, y: np.ndarray, groups: Sequence[str]) -> dict[str, float]:
    """Per recording, the logit offset b that best fits its labels with
    P(y) = sigmoid(logit(p) + b): how far its own rate of need sits from what calibrated
    predictions say (0 when they are right about it). `p` must be held-out predictions,
    calibrated as the deployed head calibrates them.

    Fitted one recording at a time, each offset also carries the noise of a few dozen
    labels. That is kept on purpose: a random-effects fit that discounts it found almost
    no spread among the eight tuning recordings of one collection, and an interval that
    narrow cost more than never offering on the other collection at C_FN/C_FA 1 (a variant
    tried outside the benchmark, logged in evals/variants.jsonl)."""
    from scipy.optimize import minimize_scalar  # fitting only

    z, target = _logit(np.asarray(p, dtype=np.float64)), np.asarray(y, dtype=np.float64)
    group_array = np.asarray(groups)
    offsets = {}
    for group in sorted(set(groups)):
        mask = group_array == group

        def loss(b: float, mask: np.ndarray = mask) -> float:
            logits = z[mask] + b
            return float(np.mean(np.logaddexp(0.0, logits) - target[mask] * logits))

        offsets[group] = float(minimize_scalar(loss, bounds=(-5.0, 5.0), method="bounded").x)
    return offsets
