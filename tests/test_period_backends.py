"""Period search end to end on real light curves, for every installed backend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.timeseries import LombScargle

from tests.conftest import light_curves_from_long, shared_file
from vsbatch.kernels import LightCurves
from vsbatch.kernels.periodogram import ALIAS_DAILY, frequency_grid
from vsbatch.period_backends import (
    AUTO_NIFTY_MIN_EPOCHS,
    BACKENDS,
    available_backends,
    resolve_backend,
    search_periods,
)

OTHER_BACKENDS = [name for name in BACKENDS if name != "numba"]


@pytest.fixture(scope="module")
def ogle(ogle_rrab):
    _, lcs = light_curves_from_long(ogle_rrab)
    catalogue = ogle_rrab.groupby(["source_id", "band"], sort=True)["period"].first().to_numpy()
    return lcs, catalogue


def _require(name):
    if name not in available_backends():
        pytest.skip(f"period backend {name} is not installed")


def test_ogle_rrab_periods_match_the_catalogue(ogle):
    lcs, catalogue = ogle
    result = search_periods(lcs, backend="numba", maximum_frequency=5.0)
    np.testing.assert_allclose(result.period, catalogue, atol=1e-5)
    assert np.all(result.period_uncertainty < 1e-6)
    assert np.all(result.log10_fap < -400) and np.all(result.fap == 0.0)
    np.testing.assert_allclose(result.top_frequencies[:, 0], result.frequency, atol=1e-4)
    # their 1 c/d aliases carry ~2/3 of the best power: flagged only when that counts as strong
    assert np.all(result.alias_flag == 0)
    lax = search_periods(lcs, backend="numba", maximum_frequency=5.0, strong_peak_fraction=0.5)
    assert np.all(lax.alias_flag & ALIAS_DAILY)


def test_search_power_and_fap_equal_astropy(asas_lcs):
    _, lcs = asas_lcs
    result = search_periods(lcs, backend="numba", maximum_frequency=5.0)
    assert np.all(result.power >= result.top_powers[:, 0])
    for i in range(lcs.n_segments):
        t, y, e = lcs.segment(i)
        ls = LombScargle(t, y, e)
        np.testing.assert_allclose(
            result.power[i], ls.power(result.frequency[i], method="cython"), rtol=1e-6
        )
        fap = ls.false_alarm_probability(
            result.power[i],
            method="baluev",
            minimum_frequency=1 / (t.max() - t.min()),
            maximum_frequency=5.0,
            samples_per_peak=5,
        )
        if fap > 1e-300:
            np.testing.assert_allclose(result.log10_fap[i], np.log10(fap), atol=1e-6)


def test_chunking_does_not_change_results(asas_lcs):
    _, lcs = asas_lcs
    whole = search_periods(lcs, backend="numba", maximum_frequency=3.0)
    pieces = search_periods(lcs, backend="numba", maximum_frequency=3.0, chunk_frequencies=1)
    for field in ("frequency", "power", "log10_fap", "top_frequencies", "alias_flag"):
        np.testing.assert_array_equal(getattr(pieces, field), getattr(whole, field))


@pytest.mark.parametrize("name", OTHER_BACKENDS)
@pytest.mark.parametrize("nterms", [1, 2])
def test_backend_agrees_with_numba(asas_lcs, name, nterms):
    _require(name)
    _, lcs = asas_lcs
    grid = frequency_grid(lcs, maximum_frequency=5.0 if nterms == 1 else 2.0)
    ours = BACKENDS["numba"].power(lcs, grid, nterms, None).power
    theirs = BACKENDS[name].power(lcs, grid, nterms, None).power
    np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-8)
    a = search_periods(lcs, backend="numba", maximum_frequency=2.0, nterms=nterms)
    b = search_periods(lcs, backend=name, maximum_frequency=2.0, nterms=nterms)
    np.testing.assert_allclose(b.frequency, a.frequency, rtol=1e-9)
    np.testing.assert_allclose(b.log10_fap, a.log10_fap, rtol=1e-9)


@pytest.mark.parametrize("name", list(BACKENDS))
def test_degenerate_light_curves_give_nan_not_garbage(asas_lcs, name):
    """A real curve next to its 1-epoch, empty, constant and 3-epoch versions."""
    _require(name)
    _, lcs = asas_lcs
    t, y, e = lcs.segment(0)
    batch = LightCurves.from_segments(
        [(t, y, e), (t[:1], y[:1], e[:1]), (t[:0], y[:0], e[:0]), (t, np.full_like(y, 12.0), e),
         (t[:3], y[:3], e[:3])]
    )  # fmt: skip
    result = search_periods(batch, backend=name, maximum_frequency=3.0)
    assert np.isfinite(result.period[0]) and np.isfinite(result.log10_fap[0])
    assert np.all(np.isnan(result.period[1:4])) and np.all(np.isnan(result.log10_fap[1:]))
    assert result.power[4] == pytest.approx(1.0)  # three points, three parameters


def test_auto_backend_choice():
    n_obs = np.array([50, AUTO_NIFTY_MIN_EPOCHS - 1, AUTO_NIFTY_MIN_EPOCHS, 20_000])
    chosen = resolve_backend("auto", n_obs)
    assert list(chosen[:2]) == ["numba", "numba"]
    expected_long = "nifty-ls" if "nifty-ls" in available_backends() else "numba"
    assert list(chosen[2:]) == [expected_long] * 2
    assert set(resolve_backend("auto", n_obs, multiband=True)) == {"numba"}
    assert list(resolve_backend("numba", n_obs)) == ["numba"] * 4
    with pytest.raises(ValueError, match="unknown period backend"):
        resolve_backend("bogus", n_obs)
    if "nifty-ls" in available_backends():
        with pytest.raises(ValueError, match="multiband"):
            resolve_backend("nifty-ls", n_obs, multiband=True)


def test_multiharmonic_search(ogle):
    lcs, catalogue = ogle
    result = search_periods(lcs, maximum_frequency=3.0, nterms=2)
    np.testing.assert_allclose(result.period, catalogue, atol=1e-5)
    assert np.all(result.power > 0.8) and np.all(np.isnan(result.fap))


def test_multiband_sdss_stripe82_recovery():
    """Shared period from ugriz together vs the published (Sesar et al. 2010) periods.

    Measured, all 322 stars here, fmax 5 c/d, |P/P_pub - 1| < 1e-3: multiband nterms=1 61.5 %
    (single bands 60.6-64.6 %), nterms=2 79.8 % (single bands 71.1-81.7 %); the misses are
    almost all 1 c/d or yearly aliases of this sparse equatorial-stripe cadence. This test
    runs the first 80 stars (68.8 % with nterms=1).
    """
    df = pd.read_parquet(shared_file("sdss-s82-rrlyrae/lightcurves.parquet"))
    df = df[df["source_id"].isin(df["source_id"].drop_duplicates().iloc[:80])]
    keys, lcs = light_curves_from_long(df)
    names, source_index = np.unique([k[0] for k in keys], return_inverse=True)
    published = df.groupby("source_id")["period"].first().loc[names].to_numpy()
    result = search_periods(lcs, source_index=source_index, maximum_frequency=5.0)
    assert result.period.shape == (80,)
    recovered = np.abs(result.period / published - 1) < 1e-3
    assert recovered.mean() >= 0.65
    missed = ~recovered
    daily = np.abs(np.abs(result.frequency - 1 / published) - 1) < 0.01
    yearly = np.abs(np.abs(result.frequency - 1 / published) - 1 / 365.25) < 1e-3
    assert np.mean(daily[missed] | yearly[missed]) > 0.8
    assert np.all(result.log10_fap[recovered] < -5)


def _random_cadence_curves(rng: np.random.Generator, n: int) -> LightCurves:
    """Random cadences (clumped seasons or uniform), spans 5-3000 d; each curve a trend,
    noise, or a sinusoid with its frequency near either grid edge or anywhere between."""
    segments = []
    for _ in range(n):
        span = 10 ** rng.uniform(0.7, 3.5)
        n_obs = int(rng.integers(8, 300))
        if rng.random() < 0.5:
            t = np.sort(rng.uniform(0.0, span, n_obs))
        else:
            seasons = rng.uniform(0.0, span, int(rng.integers(1, 6)))
            t = np.sort(rng.choice(seasons, n_obs) + rng.uniform(0.0, 0.1 * span, n_obs))
        err = rng.uniform(0.005, 0.1, n_obs)
        kind = rng.integers(4)
        f = (0.6 / span, 25.0 - rng.uniform(0, 0.01), rng.uniform(0.1, 20.0), 0.0)[kind]
        signal = 0.3 * np.sin(2 * np.pi * f * t) if kind < 3 else 0.001 * (t - t.mean())
        segments.append((t, 17.0 + signal + err * rng.standard_normal(n_obs), err))
    return LightCurves.from_segments(segments)


def test_refined_period_never_leaves_the_grid():
    """Property on seeded random cadences: the refined peak stays inside [fmin, fmax] (trends
    and sub-1/T signals put the grid maximum on the 1/T edge, which refinement used to cross)."""
    rng = np.random.default_rng(18)
    for _ in range(5):
        lcs = _random_cadence_curves(rng, 40)
        result = search_periods(lcs, backend="numba", maximum_frequency=25.0)
        grid = frequency_grid(lcs, maximum_frequency=25.0)
        assert np.all(np.isfinite(result.frequency))
        assert np.all(result.frequency >= grid.minimum_frequency)
        assert np.all(result.frequency <= grid.maximum_frequency)
        assert np.all(result.period <= lcs.time_span() * (1 + 1e-12))
