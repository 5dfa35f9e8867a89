"""Stages ``period``, ``multiband`` and ``pdm``: the period of every light curve and source.

``period`` is the best peak of the single-harmonic generalised Lomb–Scargle periodogram of
that band, with its Baluev FAP; ``period_multiband`` the shared period of all bands of the
source (VanderPlas & Ivezić 2015), repeated on each band's row; ``pdm_period`` the phase
dispersion minimum (Stellingwerf 1978) on the same grid.
"""

from __future__ import annotations

import numpy as np

from vsbatch.kernels.pdm import pdm_search
from vsbatch.kernels.periodogram import frequency_grid
from vsbatch.period_backends import search_periods
from vsbatch.stages.context import StageContext


def _search(ctx: StageContext, source_index: np.ndarray | None = None):  # noqa: ANN202
    cfg = ctx.config
    return search_periods(
        ctx.lcs,
        source_index=source_index,
        backend=cfg.period_backend if source_index is None else "numba",
        maximum_frequency=cfg.fmax,
        samples_per_peak=cfg.samples_per_peak,
        minimum_frequency=cfg.fmin,
        n_top=cfg.top_k,
    )


def period_stage(ctx: StageContext) -> dict[str, np.ndarray]:
    result = _search(ctx)
    for i in np.flatnonzero(~np.isfinite(result.frequency)):
        ctx.fail(int(i), "period", "no periodogram peak (constant magnitudes or zero time span)")
    with np.errstate(divide="ignore", invalid="ignore"):
        top_periods = 1.0 / result.top_frequencies
    return {
        "frequency": result.frequency,
        "period": result.period,
        "period_err": result.period_uncertainty,
        "power": result.power,
        "fap_baluev": result.fap,
        "log10_fap_baluev": result.log10_fap,
        "period_alias_flag": result.alias_flag.astype(np.int16),
        "top_periods": top_periods,
        "top_powers": result.top_powers,
    }


def multiband_stage(ctx: StageContext) -> dict[str, np.ndarray]:
    """Shared period of multi-band sources; a single-band source keeps its band's period."""
    source = ctx.source_index()
    n_bands = np.bincount(source)
    multi = n_bands[source] > 1
    period = ctx.value("period").astype(np.float64).copy()
    power = ctx.value("power").astype(np.float64).copy()
    log10_fap = ctx.value("log10_fap_baluev").astype(np.float64).copy()
    if multi.any():
        rows = np.flatnonzero(multi)
        sub = StageContext(ctx.lcs.take(rows), {}, ctx.config, ctx.failures)
        result = _search(sub, source[rows])
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
    cfg = ctx.config
    grid = frequency_grid(
        ctx.lcs,
        maximum_frequency=cfg.fmax,
        samples_per_peak=cfg.samples_per_peak,
        minimum_frequency=cfg.fmin,
    )
    result = pdm_search(ctx.lcs, grid, n_bins=cfg.pdm_bins)
    return {"pdm_period": result.period, "pdm_theta": result.theta}
