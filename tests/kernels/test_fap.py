"""Baluev false-alarm probabilities against astropy and a 50-digit evaluation of the formula."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.timeseries import LombScargle

from tests.conftest import light_curves_from_long, shared_file
from vsbatch.kernels.fap import baluev_fap, time_variance
from vsbatch.kernels.periodogram import frequency_grid

POWERS = np.array([0.005, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9, 0.99])


@pytest.mark.parametrize("fmax", [5.0, 25.0])
def test_log10_fap_equals_astropy_baluev(asas_lcs, fmax):
    _, lcs = asas_lcs
    grid = frequency_grid(lcs, maximum_frequency=fmax, samples_per_peak=5)
    tv = time_variance(lcs)
    compared = 0
    for i in range(lcs.n_segments):
        t, y, e = lcs.segment(i)
        ours = baluev_fap(POWERS, t.size, grid.maximum_frequency[i], tv[i])
        expected = LombScargle(t, y, e).false_alarm_probability(
            POWERS,
            method="baluev",
            minimum_frequency=1 / (t.max() - t.min()),
            maximum_frequency=fmax,
            samples_per_peak=5,
        )
        finite = expected > 1e-300  # astropy underflows to 0 below that
        np.testing.assert_allclose(ours.log10_fap[finite], np.log10(expected[finite]), atol=1e-6)
        np.testing.assert_allclose(ours.fap[finite], expected[finite], rtol=1e-5)
        compared += finite.sum()
    assert compared > 50


def test_log10_fap_stays_finite_and_exact_below_double_range(ogle_rrab):
    """OGLE RRab peaks (thousands of epochs) have FAPs of 1e-400 and less."""
    mpmath = pytest.importorskip("mpmath")
    _, lcs = light_curves_from_long(ogle_rrab)
    grid = frequency_grid(lcs, maximum_frequency=25.0)
    tv = time_variance(lcs)
    with mpmath.workdps(50):
        for i in range(lcs.n_segments):
            n, fmax = int(lcs.counts[i]), float(grid.maximum_frequency[i])
            ours = baluev_fap(POWERS, n, fmax, tv[i])
            for z, log10_fap in zip(POWERS, ours.log10_fap, strict=True):
                z, nh, nk = mpmath.mpf(z), mpmath.mpf(n - 1), mpmath.mpf(n - 3)
                single = (1 - z) ** (nk / 2)
                gamma = mpmath.sqrt(2 / nh) * mpmath.gamma(nh / 2) / mpmath.gamma((nh - 1) / 2)
                w = fmax * mpmath.sqrt(4 * mpmath.pi * float(tv[i]))
                tau = gamma * w * (1 - z) ** ((nk - 1) / 2) * mpmath.sqrt(nh * z / 2)
                exact = single * mpmath.exp(-tau) - mpmath.expm1(-tau)  # = 1 - (1 - single) e^-tau
                assert np.isfinite(log10_fap)
                assert abs(log10_fap - float(mpmath.log10(exact))) < 1e-6
            assert ours.log10_fap[-1] < -300  # fap itself underflows here


def test_fap_edge_cases():
    fap = baluev_fap(np.array([0.0, 1.0, np.nan, 0.3]), np.array([100, 100, 100, 2]), 10.0, 1e5)
    np.testing.assert_array_equal(fap.fap[:2], [1.0, 0.0])
    assert fap.log10_fap[1] == -np.inf
    assert np.isnan(fap.fap[2]) and np.isnan(fap.fap[3])


def test_time_variance_is_weighted_and_pooled_within_bands():
    df = pd.read_parquet(shared_file("sdss-s82-rrlyrae/lightcurves.parquet"))
    df = df[df["source_id"].isin(df["source_id"].drop_duplicates().iloc[:3])]
    keys, lcs = light_curves_from_long(df)
    per_band = time_variance(lcs)
    for i, key in enumerate(keys):
        band = df[(df["source_id"] == key[0]) & (df["band"] == key[1])]
        w = band["mag_err"].to_numpy() ** -2
        t = band["time"].to_numpy()
        mean = np.average(t, weights=w)
        np.testing.assert_allclose(per_band[i], np.average((t - mean) ** 2, weights=w), rtol=1e-9)
    source_index = np.unique([k[0] for k in keys], return_inverse=True)[1]
    pooled = time_variance(lcs, source_index)
    for s, (_, star) in enumerate(df.groupby("source_id", sort=True)):
        w = star["mag_err"].to_numpy() ** -2
        means = star.assign(w=w, wt=w * star["time"]).groupby("band")[["w", "wt"]].transform("sum")
        resid = star["time"].to_numpy() - (means["wt"] / means["w"]).to_numpy()
        np.testing.assert_allclose(pooled[s], np.average(resid**2, weights=w), rtol=1e-9)
