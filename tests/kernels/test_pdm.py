"""Phase dispersion minimisation against a plain NumPy Stellingwerf (1978) reference."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import light_curves_from_long
from vsbatch.kernels.pdm import pdm_search, pdm_theta
from vsbatch.kernels.periodogram import FrequencyGrid, frequency_grid


def _theta_reference(t, y, frequencies, n_bins):
    """Stellingwerf's theta = s^2 / sigma^2 with per-bin sample variances, one cover."""
    sigma2 = np.var(y, ddof=1)
    out = []
    for f in frequencies:
        phase = np.mod(f * (t - t[0]), 1.0)
        bins = np.minimum((phase * n_bins).astype(int), n_bins - 1)
        num, dof = 0.0, 0
        for b in range(n_bins):
            members = y[bins == b]
            if members.size > 1:
                num += (members.size - 1) * np.var(members, ddof=1)
            dof += max(members.size - 1, 0)
        out.append(num / dof / sigma2)
    return np.array(out)


@pytest.mark.parametrize("n_bins", [5, 10])
def test_theta_equals_numpy_reference(asas_lcs, n_bins):
    _, lcs = asas_lcs
    full = frequency_grid(lcs, maximum_frequency=5.0)
    grid = FrequencyGrid(full.minimum_frequency, full.step * 11, np.full(lcs.n_segments, 400))
    periodogram = pdm_theta(lcs, grid, n_bins=n_bins)
    for i in range(0, lcs.n_segments, 2):
        t, y, _ = lcs.segment(i)
        frequency, theta = periodogram.segment(i)
        np.testing.assert_allclose(theta, _theta_reference(t, y, frequency, n_bins), rtol=1e-10)


def test_search_is_argmin_of_theta(asas_lcs):
    _, lcs = asas_lcs
    grid = frequency_grid(lcs, maximum_frequency=3.0)
    periodogram = pdm_theta(lcs, grid)
    best = pdm_search(lcs, grid)
    for i in range(lcs.n_segments):
        frequency, theta = periodogram.segment(i)
        assert best.theta[i] == theta.min()
        assert best.frequency[i] == frequency[np.argmin(theta)]
    np.testing.assert_allclose(best.period, 1 / best.frequency)


def test_ogle_rrab_period(ogle_rrab):
    """PDM on 1.5–2.5 c/d recovers the OGLE-III catalogue periods to a grid step."""
    _, lcs = light_curves_from_long(ogle_rrab)
    catalogue = ogle_rrab.groupby(["source_id", "band"], sort=True)["period"].first().to_numpy()
    grid = frequency_grid(lcs, minimum_frequency=1.5, maximum_frequency=2.5, samples_per_peak=5)
    best = pdm_search(lcs, grid)
    assert np.all(best.theta < 0.3)
    assert np.all(np.abs(best.frequency - 1 / catalogue) <= grid.step)
