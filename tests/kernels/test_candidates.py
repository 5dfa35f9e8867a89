"""Alias candidates and their BIC choice: truth among the candidates, chi2 against lstsq."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.timeseries import LombScargle

from tests.conftest import FIXTURES
from vsbatch.kernels import LightCurves
from vsbatch.kernels.candidates import (
    DAYS_PER_YEAR,
    Candidates,
    ModelSpec,
    alias_candidates,
    choose_frequency,
    sinusoid_power,
)


def _seasonal_nightly(rng: np.random.Generator, n_per_band: int, n_bands: int) -> np.ndarray:
    """Epochs near local midnight (daily aliases) in 4-month seasons over 6 years (yearly)."""
    nights = np.concatenate([year * DAYS_PER_YEAR + np.arange(120.0) for year in range(6)])
    t = np.sort(rng.choice(nights, n_per_band * n_bands, replace=False))
    return t + rng.normal(0.0, 0.03, t.size)


def _rrab_like(t: np.ndarray, f: float, band_amplitude: float) -> np.ndarray:
    phase = 2 * np.pi * f * t
    shape = np.cos(phase) + 0.5 * np.cos(2 * phase + 1.0) + 0.3 * np.cos(3 * phase + 2.0)
    return band_amplitude * 0.4 * shape


def _multiband(rng: np.random.Generator, f: float) -> LightCurves:
    amplitudes = (1.3, 1.0, 0.6)
    t = _seasonal_nightly(rng, 40, len(amplitudes))
    band = rng.permutation(np.arange(t.size) % len(amplitudes))
    segments = []
    for b, amp in enumerate(amplitudes):
        tb = t[band == b]
        err = np.full(tb.size, 0.03)
        segments.append((tb, 15.0 + b + _rrab_like(tb, f, amp) + rng.normal(0, 0.03, tb.size), err))
    return LightCurves.from_segments(segments)


def _one(values: list[float]) -> tuple[np.ndarray, ...]:
    peaks = np.array([values])
    return peaks, np.array([0.01]), np.array([20.0]), np.array([1e-4])


@pytest.mark.parametrize("shift", [1.0, -1.0, 1.0 / DAYS_PER_YEAR, -1.0 / DAYS_PER_YEAR])
def test_aliases_of_an_alias_peak_contain_the_truth_and_the_fit_picks_it(shift: float) -> None:
    f_true = 1.7123
    lcs = _multiband(np.random.default_rng(7), f_true)
    peaks, lo, hi, tol = _one([f_true + shift, np.nan])
    cands = alias_candidates(peaks, lo, hi, tol)
    assert np.min(np.abs(cands.frequency - f_true)) < 1e-9
    step = np.array([1.0 / (5 * np.ptp(lcs.time))])
    choice = choose_frequency(
        lcs, cands, step, ModelSpec(n_base=3, n_band=1, ridge=1.0), np.zeros(3, np.int64)
    )
    assert abs(choice.frequency[0] - f_true) < 1e-3 * f_true
    assert abs(choice.frequency_2nd[0] - f_true) > 1.0 / np.ptp(lcs.time)
    assert choice.delta_bic[0] > 0


def test_candidates_are_deduplicated_and_inside_the_range() -> None:
    peaks, lo, hi, tol = _one([2.0, 2.0 + 5e-5, 0.5])
    cands = alias_candidates(peaks, lo, hi, tol)
    f = cands.frequency
    assert np.all(np.diff(f) > tol[0]) and f.min() >= lo[0] and f.max() <= hi[0]
    assert np.sum(np.abs(f - 2.0) < 1e-3) == 1  # 2.0 + 5e-5 is the same peak
    assert np.sum(np.abs(f - 1.0) < 1e-3) == 1  # f/2 of 2.0 and 2f of 0.5
    assert np.any(np.abs(f - 4.0) < 1e-12) and np.any(np.abs(f - 0.25) < 1e-12)
    assert not np.any(f < 0)  # 0.5 - 1 c/d is outside the range
    assert cands.offsets.tolist() == [0, len(f)]


def _two_band_ogle() -> tuple[LightCurves, np.ndarray]:
    """A real OGLE RRab light curve split into two pseudo-bands (alternate epochs)."""
    df = pd.read_parquet(FIXTURES / "ogle_blg_rrab_2.parquet")
    g = df[df.source_id == df.source_id.iloc[0]].sort_values("time")
    t, y, e = g.time.to_numpy(), g.mag.to_numpy(), g.mag_err.to_numpy()
    halves = [slice(0, None, 2), slice(1, None, 2)]
    return LightCurves.from_segments([(t[s], y[s] + 0.2 * k, e[s]) for k, s in enumerate(halves)])


def _lstsq_chi2(lcs: LightCurves, f: float, n_base: int, n_band: int, ridge: float) -> float:
    """Data chi2 of the ridge-penalised fit, from numpy lstsq on the stacked design."""
    t_ref, n_bands = lcs.time[0], lcs.n_segments
    rows, rhs, sqrt_w, penalty = [], [], [], []
    p = n_bands + 2 * n_base + 2 * n_band * n_bands
    for b in range(n_bands):
        t, y, e = lcs.segment(b)
        a = np.zeros((t.size, p))
        a[:, b] = 1.0
        for h in range(1, n_base + 1):
            a[:, n_bands + 2 * h - 2] = np.cos(2 * np.pi * h * f * (t - t_ref))
            a[:, n_bands + 2 * h - 1] = np.sin(2 * np.pi * h * f * (t - t_ref))
        col = n_bands + 2 * n_base + 2 * n_band * b
        for h in range(1, n_band + 1):
            a[:, col + 2 * h - 2] = np.cos(2 * np.pi * h * f * (t - t_ref))
            a[:, col + 2 * h - 1] = np.sin(2 * np.pi * h * f * (t - t_ref))
            for j in (col + 2 * h - 2, col + 2 * h - 1):
                row = np.zeros(p)
                row[j] = np.sqrt(ridge * np.sum(1 / e**2))
                penalty.append(row)
        rows.append(a / e[:, None])
        rhs.append(y / e)
        sqrt_w.append(1 / e)
    design, target = np.vstack(rows), np.concatenate(rhs)
    if n_base and penalty:
        design = np.vstack([design, np.array(penalty)])
        target = np.concatenate([target, np.zeros(len(penalty))])
    x = np.linalg.lstsq(design, target, rcond=None)[0]
    resid = np.vstack(rows) @ x - np.concatenate(rhs)
    return float(resid @ resid)


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec(0, 1),
        ModelSpec(1, 0),
        ModelSpec(1, 1, ridge=0.5),
        ModelSpec(2, 0, error_floor=0.05),
    ],
    ids=str,
)
def test_chi2_at_a_candidate_equals_numpy_lstsq(spec: ModelSpec) -> None:
    lcs, f = _two_band_ogle(), 1.0 / 0.49517882
    cands = Candidates(np.array([f]), np.array([0, 1]))
    exact = ModelSpec(spec.n_base, spec.n_band, spec.ridge, 0, error_floor=spec.error_floor)
    choice = choose_frequency(lcs, cands, np.array([1e-5]), exact, np.zeros(2, np.int64))
    floored = LightCurves(lcs.offsets, lcs.time, lcs.mag, np.hypot(lcs.err, spec.error_floor))
    reference = _lstsq_chi2(floored, f, spec.n_base, spec.n_band, spec.ridge)
    assert choice.frequency[0] == f
    np.testing.assert_allclose(choice.chi2[0], reference, rtol=1e-8)


def test_sinusoid_power_equals_astropy_standard_power() -> None:
    lcs, f = _two_band_ogle(), 1.0 / 0.49517882
    t, y, e = lcs.segment(0)
    single = LightCurves.from_segments([(t, y, e)])
    ours = sinusoid_power(single, np.array([f]))[0]
    theirs = LombScargle(t, y, e).power(np.array([f]), normalization="standard")[0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-8)
