"""Stages ``period``, ``multiband`` and ``pdm``: the period of every light curve and source.

``period`` is the alias-aware choice for that band: the top peaks of the single-harmonic
generalised Lomb-Scargle periodogram and their aliases (f ± 1 c/d, f ± 1/yr, 2f, f/2) are
refitted with 1-3 harmonics and the lowest BIC wins (``vsbatch.kernels.candidates``), since
on sparse cadences the highest peak is often an alias; ``power`` and the Baluev FAP are those
of the chosen frequency. ``period_multiband`` is the same choice for all bands of the source
together (VanderPlas & Ivezić 2015: shared harmonics, per-band offsets and a ridge-penalised
per-band fundamental), over the multiband peaks and the bands' own candidates, repeated on
each band's row. The runner-up and its Δ BIC go with each. ``pdm_period`` is the phase
dispersion minimum (Stellingwerf 1978) on the same grid.

Before searching, each light curve is checked: a floating-mean sinusoid needs at least
``MIN_EPOCHS_FOR_PERIOD`` epochs, and its grid (1/T .. fmax at samples_per_peak per 1/T) must
hold at most ``max_frequencies`` frequencies — an absurd time stamp would otherwise ask for
terabytes. Light curves that fail get a failure record and null period columns.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.candidates import (
    Choice,
    ModelSpec,
    alias_candidates,
    choose_frequency,
    sinusoid_power,
)
from vsbatch.kernels.fap import FalseAlarmProbability, baluev_fap, time_variance
from vsbatch.kernels.pdm import pdm_search
from vsbatch.kernels.periodogram import (
    FrequencyGrid,
    Peaks,
    alias_flags,
    frequency_grid,
    frequency_uncertainty,
    source_groups,
)
from vsbatch.period_backends import PeriodSearchResult, search_periods
from vsbatch.stages.context import StageContext
from vsbatch.stages.period_quality import detrended, period_quality

MIN_EPOCHS_FOR_PERIOD = 4  # mean, amplitude, phase and one degree of freedom
CANDIDATE_PEAKS = 5  # periodogram peaks whose aliases are refitted (besides top_k)
ALIAS_DEDUP_STEPS = 1.0  # candidates closer than this many grid steps are one
SINGLE_BAND_MODEL = ModelSpec(n_base=3, n_band=0, error_floor=0.05)
MULTIBAND_MODEL = ModelSpec(n_base=3, n_band=1, ridge=1.0, error_floor=0.05)
"""Chosen on a seeded half of the Stripe 82 stars (docs/multiband-periods.md)."""


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
    ctx: StageContext,
    lcs: LightCurves,
    source_index: np.ndarray | None = None,
    n_top: int | None = None,
) -> PeriodSearchResult:
    cfg = ctx.config
    return search_periods(
        lcs,
        source_index=source_index,
        backend=cfg.period_backend if source_index is None else "numba",
        maximum_frequency=cfg.fmax,
        samples_per_peak=cfg.samples_per_peak,
        minimum_frequency=cfg.fmin,
        n_top=n_top or cfg.top_k,
    )


def _alias_aware(
    lcs: LightCurves,
    peaks: np.ndarray,
    grid: FrequencyGrid,
    model: ModelSpec,
    source_index: np.ndarray | None = None,
) -> tuple[Choice, np.ndarray, FalseAlarmProbability]:
    """The BIC choice among ``peaks`` and their aliases (``vsbatch.kernels.candidates``), its
    sinusoid power and Baluev log10 FAP (at the chosen frequency, not the periodogram's best)."""
    candidates = alias_candidates(
        peaks, grid.minimum_frequency, grid.maximum_frequency, grid.step * ALIAS_DEDUP_STEPS
    )
    choice = choose_frequency(lcs, candidates, grid.step, model, source_index)
    power = sinusoid_power(lcs, choice.frequency, source_index)
    groups = source_groups(lcs.n_segments, source_index)
    n_obs = lcs.offsets[groups[1:]] - lcs.offsets[groups[:-1]]
    n_bands = np.add.reduceat(lcs.counts > 0, groups[:-1]) if len(n_obs) else np.zeros(0)
    tv = time_variance(lcs, source_index)
    return choice, power, baluev_fap(power, n_obs, grid.maximum_frequency, tv, n_bands)


def period_stage(ctx: StageContext) -> dict[str, np.ndarray]:
    n, k = ctx.lcs.n_segments, ctx.config.top_k
    names = ("frequency", "period", "period_err", "power", "fap_baluev", "log10_fap_baluev")
    out = {name: np.full(n, np.nan) for name in (*names, "period_2nd", "delta_chi2_period")}
    out["period_alias_flag"] = np.zeros(n, dtype=np.int16)
    out["top_periods"] = np.full((n, k), np.nan)
    out["top_powers"] = np.full((n, k), np.nan)
    rows = np.flatnonzero(searchable(ctx, "period"))
    if len(rows):
        sub = detrended(ctx, ctx.lcs.take(rows))  # search and refit see the same magnitudes
        result = _search(ctx, sub, n_top=max(k, CANDIDATE_PEAKS))
        choice, power, fap = _alias_aware(
            sub, result.top_frequencies, _grid(ctx, sub), SINGLE_BAND_MODEL
        )
        frequency = choice.frequency
        baseline = sub.time_span()
        peaks = Peaks(result.top_frequencies, result.top_powers)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for name, values in (
                ("frequency", frequency),
                ("period", 1.0 / frequency),
                ("period_err", frequency_uncertainty(power, sub.counts, baseline) / frequency**2),
                ("power", power),
                ("fap_baluev", fap.fap),
                ("log10_fap_baluev", fap.log10_fap),
                ("period_alias_flag", alias_flags(frequency, power, peaks).astype(np.int16)),
                ("top_periods", 1.0 / result.top_frequencies[:, :k]),
                ("top_powers", result.top_powers[:, :k]),
                ("period_2nd", 1.0 / choice.frequency_2nd),
                ("delta_chi2_period", choice.delta_bic),
            ):
                out[name][rows] = values
        for i in rows[~np.isfinite(frequency)]:
            ctx.fail(int(i), "period", "no periodogram peak (constant magnitudes?)")
        chosen = dataclasses.replace(  # judge the period chosen among the candidates
            result,
            frequency=frequency,
            power=power,
            fap=fap.fap,
            log10_fap=fap.log10_fap,
            alias_flag=out["period_alias_flag"][rows],
        )
    period_quality(ctx, rows, chosen if len(rows) else None, out)
    return out


def _band_peaks(ctx: StageContext, rows: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Per source of ``rows``, the frequencies of its bands' chosen, runner-up and top periods."""
    tops = np.asarray(ctx.value("top_periods"), float)  # (n, top_k): the period stage's output
    per_band = np.column_stack([ctx.value("period"), ctx.value("period_2nd"), tops])[rows]
    _, first, counts = np.unique(source, return_index=True, return_counts=True)
    out = np.full((len(first), counts.max() * per_band.shape[1]), np.nan)
    for j, (lo, m) in enumerate(zip(first, counts, strict=True)):
        out[j, : m * per_band.shape[1]] = per_band[lo : lo + m].ravel()
    with np.errstate(divide="ignore"):
        return 1.0 / out


def multiband_stage(ctx: StageContext) -> dict[str, np.ndarray]:
    """Shared period of multi-band sources; a single-band source keeps its band's period."""
    source = ctx.source_index()
    n_bands = np.bincount(source)
    out = {
        name: ctx.value(column).astype(np.float64).copy()
        for name, column in (
            ("period_multiband", "period"),
            ("power_multiband", "power"),
            ("log10_fap_multiband", "log10_fap_baluev"),
            ("period_multiband_2nd", "period_2nd"),
            ("delta_chi2_multiband", "delta_chi2_period"),
        )
    }
    # bands whose own period could be searched take part; sources with two or more of them
    usable = np.isfinite(out["period_multiband"])
    usable_bands = np.bincount(source, weights=usable, minlength=len(n_bands))
    rows = np.flatnonzero(usable & (usable_bands[source] > 1))
    if len(rows):
        grid = _grid(ctx, ctx.lcs.take(rows), source[rows])
        fits = grid.n_frequencies <= ctx.config.max_frequencies
        rows = rows[np.repeat(fits, np.diff(source_groups(len(rows), source[rows])))]
    if len(rows):
        sub, sub_source = detrended(ctx, ctx.lcs.take(rows)), source[rows]
        result = _search(ctx, sub, sub_source, n_top=CANDIDATE_PEAKS)
        peaks = np.column_stack([result.top_frequencies, _band_peaks(ctx, rows, sub_source)])
        choice, power, fap = _alias_aware(
            sub, peaks, _grid(ctx, sub, sub_source), MULTIBAND_MODEL, sub_source
        )
        per_row = np.searchsorted(np.unique(sub_source), sub_source)
        with np.errstate(divide="ignore"):
            out["period_multiband"][rows] = 1.0 / choice.frequency[per_row]
            out["period_multiband_2nd"][rows] = 1.0 / choice.frequency_2nd[per_row]
        out["power_multiband"][rows] = power[per_row]
        out["log10_fap_multiband"][rows] = fap.log10_fap[per_row]
        out["delta_chi2_multiband"][rows] = choice.delta_bic[per_row]
    return {**out, "n_bands": n_bands[source].astype(np.int16)}


def pdm_stage(ctx: StageContext) -> dict[str, np.ndarray]:
    n = ctx.lcs.n_segments
    period, theta = np.full(n, np.nan), np.full(n, np.nan)
    rows = np.flatnonzero(searchable(ctx, "pdm"))
    if len(rows):
        sub = ctx.lcs.take(rows)
        result = pdm_search(sub, _grid(ctx, sub), n_bins=ctx.config.pdm_bins)
        period[rows], theta[rows] = result.period, result.theta
    return {"pdm_period": period, "pdm_theta": theta}
