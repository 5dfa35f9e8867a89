"""Stages ``period``, ``multiband`` and ``pdm``: the period of every light curve and source.

``period`` is the best peak of the single-harmonic generalised Lomb-Scargle periodogram of
that band, with its Baluev FAP; ``period_multiband`` the shared period of all bands of the
source (VanderPlas & Ivezić 2015), repeated on each band's row; ``pdm_period`` the phase
dispersion minimum (Stellingwerf 1978) on the same grid.

Before searching, each light curve is checked: a floating-mean sinusoid needs at least
``MIN_EPOCHS_FOR_PERIOD`` epochs, and its grid (1/T .. fmax at samples_per_peak per 1/T) must
hold at most ``max_frequencies`` frequencies — an absurd time stamp would otherwise ask for
terabytes. Light curves that fail get a failure record and null period columns.
"""

from __future__ import annotations

import numpy as np

from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.pdm import pdm_search
from vsbatch.kernels.periodogram import FrequencyGrid, frequency_grid, source_groups
from vsbatch.period_backends import PeriodSearchResult, search_periods
from vsbatch.stages.context import StageContext
from vsbatch.stages.period_quality import detrended, period_quality

MIN_EPOCHS_FOR_PERIOD = 4  # mean, amplitude, phase and one degree of freedom


def _grid(
    ctx: StageContext, lcs: LightCurves, source_index: np.ndarray | None = None
) -> FrequencyGrid:
    """The run's frequency grid of each light curve (or source, with ``source_index``)."""
    cfg = ctx.config
    return frequency_grid(
        lcs,
        maximum_frequency=cfg.fmax,
        samples_per_peak=cfg.samples_per_peak,
        minimum_frequency=cfg.fmin,
        source_index=source_index,
    )


def searchable(ctx: StageContext, stage: str) -> np.ndarray:
    """Light curves a period can be searched on; a failure record for each of the others."""
    n_obs = ctx.lcs.counts
    n_freq = _grid(ctx, ctx.lcs).n_frequencies
    span = ctx.lcs.time_span()
    limit = ctx.config.max_frequencies
    ok = (n_obs >= MIN_EPOCHS_FOR_PERIOD) & (n_freq >= 1) & (n_freq <= limit) & (span > 0)
    for i in np.flatnonzero(~ok):
        if n_obs[i] < MIN_EPOCHS_FOR_PERIOD:
            reason = f"{n_obs[i]} epochs: a period needs at least {MIN_EPOCHS_FOR_PERIOD}"
        elif span[i] <= 0:
            reason = "zero time span: no period can be searched"
        elif n_freq[i] > limit:
            reason = (
                f"time span {span[i]:.6g} d needs {n_freq[i]:.3g} frequencies up to "
                f"{ctx.config.fmax:g} c/d, more than max_frequencies={limit:g}; "
                "check the times or lower fmax"
            )
        else:
            reason = f"empty frequency grid (fmin above fmax={ctx.config.fmax:g} c/d)"
        ctx.fail(int(i), stage, reason)
    return ok


def _search(
    ctx: StageContext, lcs: LightCurves, source_index: np.ndarray | None = None
) -> PeriodSearchResult:
    cfg = ctx.config
    return search_periods(
        detrended(ctx, lcs),
        source_index=source_index,
        backend=cfg.period_backend if source_index is None else "numba",
        maximum_frequency=cfg.fmax,
        samples_per_peak=cfg.samples_per_peak,
        minimum_frequency=cfg.fmin,
        n_top=cfg.top_k,
    )


def period_stage(ctx: StageContext) -> dict[str, np.ndarray]:
    n, k = ctx.lcs.n_segments, ctx.config.top_k
    out = {
        name: np.full(n, np.nan)
        for name in ("frequency", "period", "period_err", "power", "fap_baluev", "log10_fap_baluev")
    }
    out["period_alias_flag"] = np.zeros(n, dtype=np.int16)
    out["top_periods"] = np.full((n, k), np.nan)
    out["top_powers"] = np.full((n, k), np.nan)
    rows = np.flatnonzero(searchable(ctx, "period"))
    if len(rows):
        result = _search(ctx, ctx.lcs.take(rows))
        with np.errstate(divide="ignore", invalid="ignore"):
            top_periods = 1.0 / result.top_frequencies
        for name, values in (
            ("frequency", result.frequency),
            ("period", result.period),
            ("period_err", result.period_uncertainty),
            ("power", result.power),
            ("fap_baluev", result.fap),
            ("log10_fap_baluev", result.log10_fap),
            ("period_alias_flag", result.alias_flag.astype(np.int16)),
            ("top_periods", top_periods),
            ("top_powers", result.top_powers),
        ):
            out[name][rows] = values
        for i in rows[~np.isfinite(result.frequency)]:
            ctx.fail(int(i), "period", "no periodogram peak (constant magnitudes?)")
    period_quality(ctx, rows, result if len(rows) else None, out)
    return out


def multiband_stage(ctx: StageContext) -> dict[str, np.ndarray]:
    """Shared period of multi-band sources; a single-band source keeps its band's period."""
    source = ctx.source_index()
    n_bands = np.bincount(source)
    period = ctx.value("period").astype(np.float64).copy()
    power = ctx.value("power").astype(np.float64).copy()
    log10_fap = ctx.value("log10_fap_baluev").astype(np.float64).copy()
    # bands whose own period could be searched take part; sources with two or more of them
    usable = np.isfinite(period)
    usable_bands = np.bincount(source, weights=usable, minlength=len(n_bands))
    rows = np.flatnonzero(usable & (usable_bands[source] > 1))
    if len(rows):
        sub = ctx.lcs.take(rows)
        grid = _grid(ctx, sub, source[rows])
        groups = source_groups(len(rows), source[rows])
        fits = grid.n_frequencies <= ctx.config.max_frequencies
        keep = np.repeat(fits, np.diff(groups))
        rows = rows[keep]
        if len(rows):
            result = _search(ctx, ctx.lcs.take(rows), source[rows])
            per_row = np.searchsorted(np.unique(source[rows]), source[rows])
            period[rows] = result.period[per_row]
            power[rows] = result.power[per_row]
            log10_fap[rows] = result.log10_fap[per_row]
    return {
        "period_multiband": period,
        "power_multiband": power,
        "log10_fap_multiband": log10_fap,
        "n_bands": n_bands[source].astype(np.int16),
    }


def pdm_stage(ctx: StageContext) -> dict[str, np.ndarray]:
    n = ctx.lcs.n_segments
    period, theta = np.full(n, np.nan), np.full(n, np.nan)
    rows = np.flatnonzero(searchable(ctx, "pdm"))
    if len(rows):
        sub = ctx.lcs.take(rows)
        result = pdm_search(sub, _grid(ctx, sub), n_bins=ctx.config.pdm_bins)
        period[rows], theta[rows] = result.period, result.theta
    return {"pdm_period": period, "pdm_theta": theta}
