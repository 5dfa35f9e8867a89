"""Stages ``fourier`` and ``freqanalysis``: fold, fit the Fourier series, look for Blazhko
side peaks.

Both fold on ``fold_period``: the input's ``catalog_period`` when given and finite (mode
``auto``), else the searched ``period`` (``--fold-period search|catalog|auto``).
"""

from __future__ import annotations

import numpy as np

from vsbatch.kernels.fourier import fit_fourier
from vsbatch.kernels.prewhiten import (
    BLAZHKO_CLASS_NAMES,
    BlazhkoClass,
    analysis_frequencies,
    blazhko_analysis,
)
from vsbatch.stages.context import StageContext


def fold_period(ctx: StageContext) -> tuple[np.ndarray, np.ndarray]:
    """(period to fold on, where it came from) for every light curve."""
    n = ctx.lcs.n_segments
    mode = ctx.config.fold_period
    searched = ctx.value("period") if "period" in ctx.columns else np.full(n, np.nan)
    if "catalog_period" in ctx.columns:
        catalog = ctx.value("catalog_period").astype(np.float64)
    else:
        catalog = np.full(n, np.nan)
    use_catalog = np.isfinite(catalog) & (catalog > 0) & (mode != "search")
    if mode == "catalog":
        period = np.where(use_catalog, catalog, np.nan)
    else:
        period = np.where(use_catalog, catalog, searched)
    return period, np.where(use_catalog, "catalog", "search")


def fourier_stage(ctx: StageContext) -> dict[str, np.ndarray]:
    period, origin = fold_period(ctx)
    for i in np.flatnonzero(~np.isfinite(period)):
        ctx.fail(int(i), "fourier", f"no period to fold on (fold_period={ctx.config.fold_period})")
    with np.errstate(divide="ignore", invalid="ignore"):
        frequency = 1.0 / period
    fit = fit_fourier(
        ctx.lcs,
        frequency,
        order=ctx.config.fourier_order,
        clip_threshold=ctx.config.clip_mag,
        select_order=ctx.config.fourier_order_selection == "bic",
    )
    ctx.fail_status(np.where(np.isfinite(period), fit.status, 0), "fourier")
    out = {
        "fold_period": period,
        "fold_period_source": origin,
        "fourier_order": fit.order_used,
        "fourier_n_used": fit.n_used,
        "fourier_n_rejected": fit.n_rejected,
        "a0": fit.a0,
        "amplitude": fit.peak_to_peak,
        "fourier_amplitudes": fit.amplitude,
        "fourier_phases": fit.phase,
        "r21": fit.r21,
        "r21_err": fit.r21_error,
        "r31": fit.r31,
        "r31_err": fit.r31_error,
        "phi21": fit.phi21,
        "phi21_err": fit.phi21_error,
        "phi31": fit.phi31,
        "phi31_err": fit.phi31_error,
        "fourier_rms": fit.rms,
        "fourier_chi2_red": fit.chi2_reduced,
        "fourier_r2": fit.r_squared,
    }
    return _within_data_range(ctx, out)


SHAPE_COLUMNS = ("amplitude", "fourier_amplitudes", "fourier_phases", "r21", "r21_err", "r31",
                 "r31_err", "phi21", "phi21_err", "phi31", "phi31_err")  # fmt: skip


def _within_data_range(ctx: StageContext, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Null the light-curve shape of fits whose peak-to-peak exceeds the observed magnitude
    range (with a failure record): the series swings through phase gaps, so its amplitude and
    Fourier parameters describe the overfit, not the star. Fit quality columns stay."""
    lcs = ctx.lcs
    has = lcs.counts > 0
    observed = np.full(lcs.n_segments, np.nan)
    starts = lcs.offsets[:-1][has]
    if len(starts):
        observed[has] = np.maximum.reduceat(lcs.mag, starts) - np.minimum.reduceat(lcs.mag, starts)
    beyond = out["amplitude"] > observed
    for i in np.flatnonzero(beyond):
        reason = (
            f"fitted peak-to-peak {out['amplitude'][i]:.3g} mag exceeds the observed range "
            f"{observed[i]:.3g} mag (overfit through phase gaps)"
        )
        ctx.fail(int(i), "fourier", reason)
    for name in SHAPE_COLUMNS:
        out[name] = out[name].astype(np.float64, copy=True)
        out[name][beyond] = np.nan
    return out


RR_LYRAE_PERIODS = (0.2, 1.0)  # days: PS17's analysis is for RR Lyrae pulsations
RR_LYRAE_TYPE_PREFIX = "RR"


def _skip_reason(ctx: StageContext, period: np.ndarray) -> np.ndarray:
    """Why each light curve is not one the PS17 analysis applies to, None where it is: by the
    ``type_column`` (types starting with RR) when the run names one, else by fold period."""
    column = ctx.config.type_column
    reasons = []
    if column is not None and column in ctx.columns:
        for value in ctx.value(column):
            kind = value.strip() if isinstance(value, str) else ""
            rr = kind.upper().startswith(RR_LYRAE_TYPE_PREFIX)
            reasons.append(None if rr else f"{column} {kind!r} is not an RR Lyrae type")
        return np.array(reasons, dtype=object)
    lo, hi = RR_LYRAE_PERIODS
    for p in period:
        if not np.isfinite(p):
            reasons.append("no period to fold on")
        elif not lo <= p <= hi:
            reasons.append(f"period {p:.4g} d outside {lo:g}-{hi:g} d")
        else:
            reasons.append(None)
    return np.array(reasons, dtype=object)


def freqanalysis_stage(ctx: StageContext) -> dict[str, np.ndarray]:
    """PS17 frequency analysis of RR Lyrae-like light curves; a reason (``fa_skipped``) for
    every other, whose side peaks would be read as Blazhko modulation they cannot have."""
    period, _ = fold_period(ctx)
    skipped = _skip_reason(ctx, period)
    runs = np.array([reason is None for reason in skipped], dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        f0 = np.where(runs, 1.0 / period, np.nan)
    n_freq = analysis_frequencies(f0, ctx.lcs.time_span())
    limit = ctx.config.max_frequencies
    for i in np.flatnonzero(np.isfinite(f0) & (n_freq > limit)):
        reason = f"period {period[i]:.6g} d needs {n_freq[i]:.3g} frequencies > max_frequencies"
        ctx.fail(int(i), "freqanalysis", reason)
        period[i] = f0[i] = np.nan
    fa = blazhko_analysis(ctx.lcs, f0, order=ctx.config.fourier_order)
    ctx.fail_status(np.where(np.isfinite(f0), fa.status, 0), "freqanalysis")
    names = np.array(
        [
            None if c == BlazhkoClass.UNCLASSIFIED else BLAZHKO_CLASS_NAMES[BlazhkoClass(c)]
            for c in fa.bl_class
        ],
        dtype=object,
    )
    return {
        "fa_class": names,
        "fa_skipped": skipped,
        "fa_f_side": fa.peak_frequency,
        "fa_f_mod": fa.modulation_frequency,
        "fa_period_mod": fa.modulation_period,
        "fa_amp": fa.peak_amplitude,
        "fa_snr": fa.peak_snr,
        "fa_resolved": fa.peak_resolved,
        "fa_instrumental": fa.instrumental_peak,
    }
