"""Weighted polynomial trends against numpy's least squares, on real ASAS cadences."""

from __future__ import annotations

import numpy as np
import pytest

from vsbatch.kernels import LightCurves
from vsbatch.kernels.trend import polynomial_trend, subtract_trend


@pytest.mark.parametrize("degree", [0, 1, 2, 5])
def test_trend_matches_weighted_polyfit(asas_lcs, degree: int) -> None:
    _, lcs = asas_lcs
    trend = polynomial_trend(lcs, degree)
    for i in range(lcs.n_segments):
        t, y, e = lcs.segment(i)
        coef = np.polyfit(t - t.mean(), y, degree, w=1 / e)
        reference = np.polyval(coef, t - t.mean())
        lo, hi = lcs.offsets[i], lcs.offsets[i + 1]
        np.testing.assert_allclose(trend.model[lo:hi], reference, atol=1e-8)
        chi2 = np.sum(((y - reference) / e) ** 2) / (t.size - degree - 1)
        chi2_mean = np.sum(((y - np.average(y, weights=e**-2)) / e) ** 2) / (t.size - 1)
        assert trend.explained[i] == pytest.approx(1 - chi2 / chi2_mean, abs=1e-9)


def test_unfittable_curves_are_left_alone() -> None:
    """Too few epochs, one epoch or constant magnitudes: NaN trend, magnitudes unchanged."""
    one = (np.array([1.0]), np.array([10.0]), np.array([0.1]))
    flat = (np.arange(5.0), np.full(5, 10.0), np.full(5, 0.1))
    line = (np.arange(5.0), 10.0 + np.arange(5.0), np.full(5, 0.1))
    lcs = LightCurves.from_segments([one, flat, line])
    trend = polynomial_trend(lcs, 1)
    assert np.isnan(trend.explained[:2]).all() and trend.explained[2] == pytest.approx(1.0)
    residual = subtract_trend(lcs, 1)
    np.testing.assert_array_equal(residual.mag[:6], lcs.mag[:6])
    np.testing.assert_allclose(residual.mag[6:], 0.0, atol=1e-12)
