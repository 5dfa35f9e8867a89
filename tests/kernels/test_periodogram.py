"""Lomb–Scargle kernels against astropy on real light curves (ASAS, OGLE, SDSS Stripe 82)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.timeseries import LombScargle, LombScargleMultiband
from scipy.optimize import curve_fit

from tests.conftest import light_curves_from_long, shared_file
from vsbatch.kernels.periodogram import (
    ALIAS_DAILY,
    ALIAS_HALF_DOUBLE,
    FrequencyGrid,
    Peaks,
    alias_flags,
    frequency_grid,
    frequency_uncertainty,
    gls_power,
    refine_peak,
    source_groups,
    top_peaks,
)


@pytest.fixture(scope="module")
def asas_power(asas_lcs):
    """ASAS periodograms up to 5 c/d (~50,000 frequencies each)."""
    _, lcs = asas_lcs
    grid = frequency_grid(lcs, maximum_frequency=5.0)
    return lcs, gls_power(lcs, grid)


@pytest.fixture(scope="module")
def s82():
    """Four SDSS Stripe 82 RR Lyrae, ugriz, with the source index of each segment."""
    df = pd.read_parquet(shared_file("sdss-s82-rrlyrae/lightcurves.parquet"))
    df = df[df["source_id"].isin(df["source_id"].drop_duplicates().iloc[:4])]
    keys, lcs = light_curves_from_long(df)
    source_index = np.unique([k[0] for k in keys], return_inverse=True)[1]
    return df, lcs, source_index


def test_grid_is_astropy_autofrequency(asas_lcs):
    _, lcs = asas_lcs
    grid = frequency_grid(lcs, maximum_frequency=25.0, samples_per_peak=5)
    for i in range(lcs.n_segments):
        t, y, e = lcs.segment(i)
        baseline = t.max() - t.min()
        expected = LombScargle(t, y, e).autofrequency(
            samples_per_peak=5, minimum_frequency=1 / baseline, maximum_frequency=25.0
        )
        np.testing.assert_allclose(grid.frequencies(i), expected, rtol=1e-13)
    np.testing.assert_allclose(
        grid.maximum_frequency, [grid.frequencies(i)[-1] for i in range(lcs.n_segments)]
    )


def test_source_grid_uses_baseline_of_all_bands(s82):
    df, lcs, source_index = s82
    grid = frequency_grid(lcs, maximum_frequency=5.0, source_index=source_index)
    spans = df.groupby("source_id", sort=True)["time"].agg(lambda t: t.max() - t.min())
    np.testing.assert_allclose(grid.minimum_frequency, 1 / spans.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(grid.step, 1 / (5 * spans.to_numpy()), rtol=1e-12)
    assert len(source_groups(lcs.n_segments, source_index)) == 5
    with pytest.raises(ValueError, match="non-decreasing"):
        source_groups(lcs.n_segments, source_index[::-1])


def test_gls_power_equals_astropy_cython(asas_power):
    lcs, periodogram = asas_power
    for i in range(lcs.n_segments):
        t, y, e = lcs.segment(i)
        frequency, power = periodogram.segment(i)
        every_third = slice(i % 3, None, 3)  # a third of the time, still the whole range
        expected = LombScargle(
            t, y, e, fit_mean=True, center_data=True, normalization="standard"
        ).power(frequency[every_third], method="cython")
        np.testing.assert_allclose(power[every_third], expected, rtol=1e-6)


def test_recurrence_does_not_drift_over_long_grids(ogle_rrab):
    """~400,000 steps (~100 reseeds): the end of the grid is as exact as the start."""
    star = ogle_rrab[ogle_rrab["source_id"] == "OGLE-BLG-RRLYR-13534"]
    _, lcs = light_curves_from_long(star)
    grid = frequency_grid(lcs, maximum_frequency=10.0)
    assert grid.n_frequencies[0] > 300_000
    frequency, power = gls_power(lcs, grid).segment(0)
    pick = np.r_[
        np.arange(50), np.arange(4090, 4100), np.arange(len(frequency) - 100, len(frequency))
    ]
    t, y, e = lcs.segment(0)
    expected = LombScargle(t, y, e).power(frequency[pick], method="cython")
    np.testing.assert_allclose(power[pick], expected, rtol=1e-6)


@pytest.mark.parametrize("nterms", [2, 3])
def test_multiharmonic_equals_astropy_chi2(asas_lcs, nterms):
    _, lcs = asas_lcs
    full = frequency_grid(lcs, maximum_frequency=5.0)
    grid = FrequencyGrid(full.minimum_frequency, full.step * 7, np.full(lcs.n_segments, 1500))
    periodogram = gls_power(lcs, grid, nterms=nterms)
    for i in range(0, lcs.n_segments, 3):
        t, y, e = lcs.segment(i)
        frequency, power = periodogram.segment(i)
        expected = LombScargle(t, y, e, nterms=nterms).power(frequency, method="chi2")
        np.testing.assert_allclose(power, expected, rtol=1e-6)


@pytest.mark.parametrize("nterms", [1, 2])
def test_multiband_equals_astropy_lombscarglemultiband(s82, nterms):
    """Shared-base-term model: astropy nterms_base=nterms, nterms_band=0 (negligible ridge)."""
    df, lcs, source_index = s82
    full = frequency_grid(lcs, maximum_frequency=5.0, source_index=source_index)
    grid = FrequencyGrid(full.minimum_frequency, full.step * 37, np.full(4, 400))
    periodogram = gls_power(lcs, grid, nterms=nterms, source_index=source_index)
    for i, (_, star) in enumerate(df.groupby("source_id", sort=True)):
        frequency, power = periodogram.segment(i)
        expected = LombScargleMultiband(
            star["time"].to_numpy(),
            star["mag"].to_numpy(),
            star["band"].to_numpy(),
            star["mag_err"].to_numpy(),
            nterms_base=nterms,
            nterms_band=0,
            reg_band=1e-10,
        ).power(frequency)
        np.testing.assert_allclose(power, expected, rtol=1e-6)


def _reference_top_peaks(frequency, power, k, separation):
    inner = (power[1:-1] > power[:-2]) & (power[1:-1] >= power[2:])
    maxima = np.flatnonzero(np.r_[power[0] > power[1], inner, power[-1] > power[-2]])
    chosen = []
    for j in maxima[np.argsort(-power[maxima], kind="stable")]:
        if all(abs(frequency[j] - frequency[c]) >= separation for c in chosen):
            chosen.append(j)
        if len(chosen) == k:
            break
    return frequency[chosen], power[chosen]


def test_top_peaks_equal_sorted_local_maxima(asas_power):
    lcs, periodogram = asas_power
    peaks = top_peaks(periodogram, k=5, min_separation=0.005)
    for i in range(lcs.n_segments):
        frequency, power = periodogram.segment(i)
        f_ref, p_ref = _reference_top_peaks(frequency, power, 5, 0.005)
        np.testing.assert_allclose(peaks.frequency[i], f_ref, rtol=1e-12)
        np.testing.assert_array_equal(peaks.power[i], p_ref)
        assert peaks.power[i, 0] == power.max()


def test_refined_peak_is_the_dense_grid_maximum(asas_power):
    lcs, periodogram = asas_power
    grid = periodogram.grid
    peaks = top_peaks(periodogram, k=1)
    refined = refine_peak(lcs, peaks.frequency[:, 0], grid.step)
    assert np.all(refined.power >= peaks.power[:, 0])
    for i in range(lcs.n_segments):
        t, y, e = lcs.segment(i)
        dense = peaks.frequency[i, 0] + grid.step[i] * np.linspace(-1, 1, 4001)
        dense_power = LombScargle(t, y, e).power(dense, method="cython")
        assert refined.power[i] >= dense_power.max() * (1 - 1e-8)
        assert abs(refined.frequency[i] - dense[np.argmax(dense_power)]) < 1e-3 * grid.step[i]


def test_frequency_uncertainty_matches_least_squares_covariance(asas_power):
    """The closed form agrees with the sinusoid fit's covariance for the strongest signals."""
    lcs, periodogram = asas_power
    peaks = top_peaks(periodogram, k=1)
    refined = refine_peak(lcs, peaks.frequency[:, 0], periodogram.grid.step)
    for i in np.argsort(-refined.power)[:4]:
        t, y, e = lcs.segment(i)
        t0 = t.mean()

        def model(tt, f, a, b, c, t0=t0):
            phase = 2 * np.pi * f * (tt - t0)
            return c + a * np.cos(phase) + b * np.sin(phase)

        p0 = [refined.frequency[i], 0.1, 0.1, np.average(y, weights=e**-2)]
        popt, pcov = curve_fit(model, t, y, p0=p0, sigma=e)
        assert abs(popt[0] - refined.frequency[i]) < 0.1 * np.sqrt(pcov[0, 0])
        sigma = frequency_uncertainty(refined.power[i], t.size, t.max() - t.min())
        assert 0.5 < sigma / np.sqrt(pcov[0, 0]) < 2.0


def test_alias_flag_bits():
    """Best peak at 2.5 c/d against strong / weak daily aliases and half / double frequencies."""
    peaks = Peaks(
        frequency=np.array(
            [[2.5, 1.502, 0.3], [2.5, 3.5, 5.0], [2.5, 5.001, 0.5], [2.5, 1.5, 1.25]]
        ),
        power=np.array([[0.6, 0.55, 0.5], [0.6, 0.3, 0.2], [0.6, 0.59, 0.1], [0.6, 0.5, 0.49]]),
    )
    flags = alias_flags(np.full(4, 2.5), np.full(4, 0.6), peaks, strong_fraction=0.8)
    np.testing.assert_array_equal(
        flags, [ALIAS_DAILY, 0, ALIAS_HALF_DOUBLE, ALIAS_DAILY | ALIAS_HALF_DOUBLE]
    )
