"""``period_quality``: whether a searched period is one the light curve can support.

A periodogram always has a highest peak. On a trend, a transient or a sparse cadence that
peak sits at the 1/T edge, at a daily alias or at a period the data cover less than twice,
and its Baluev FAP can still be 1e-100. The label says which, first match wins:

- ``trend``: a quadratic in time explains at least ``TREND_EXPLAINED`` of the weighted
  variance of the observed magnitudes (adjusted R^2; with ``--detrend``, only when the period
  found after detrending is not significant, FAP >= ``DETRENDED_FAP``), or the best frequency
  lies within one grid step of the grid's lowest frequency;
- ``beyond_baseline``: the period is longer than the light curve's time span;
- ``few_cycles``: span x frequency < 2 (the NN-FAP paper's rule);
- ``insignificant``: Baluev FAP >= ``SIGNIFICANT_FAP`` (our addition: the highest peak of
  noise, or of five epochs of a supernova, is not a period);
- ``alias:1d``, ``alias:double``, ``alias:half``: another strong top peak (``alias_flags``)
  lies 1 c/d away, at half the frequency (the true period may be double: eclipsing binaries)
  or at twice it (the true period may be half);
- ``ok`` otherwise; null where no period was found.

Where span x frequency < 2 the Baluev FAP (which counts independent frequencies, not cycles)
is set to 1 (``log10_fap_baluev`` 0): one cycle of anything fits a sinusoid.
"""

from __future__ import annotations

import numpy as np

from vsbatch.config import detrend_degree
from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.periodogram import ALIAS_DAILY, ALIAS_HALF_DOUBLE
from vsbatch.kernels.trend import polynomial_trend, subtract_trend
from vsbatch.period_backends import PeriodSearchResult
from vsbatch.represent.nnfap import MIN_CYCLES
from vsbatch.stages.context import StageContext

TREND_DEGREE = 2
TREND_EXPLAINED = 0.5
DETRENDED_FAP = 1e-3
SIGNIFICANT_FAP = 1e-2


def detrended(ctx: StageContext, lcs: LightCurves) -> LightCurves:
    """The magnitudes the period search sees: observed, or minus the ``--detrend`` polynomial."""
    degree = detrend_degree(ctx.config.detrend)
    return lcs if degree is None else subtract_trend(lcs, degree)


def classify_periods(
    span: np.ndarray,
    lowest_frequency: np.ndarray,
    grid_step: np.ndarray,
    result: PeriodSearchResult,
    trend: np.ndarray,
) -> np.ndarray:
    """The label of each period (module docstring); ``trend`` marks trend-dominated curves."""
    f = result.frequency
    cycles = span * f
    others, tolerance = result.top_frequencies[:, 1:], 0.01
    strong = result.top_powers[:, 1:] >= 0.8 * result.power[:, None]
    at_half = (strong & (np.abs(others - 0.5 * f[:, None]) <= tolerance)).any(axis=1)
    flag = result.alias_flag
    rules = [
        (trend | (f <= lowest_frequency + grid_step), "trend"),
        (cycles < 1.0, "beyond_baseline"),
        (cycles < MIN_CYCLES, "few_cycles"),
        (result.fap >= SIGNIFICANT_FAP, "insignificant"),
        ((flag & ALIAS_DAILY) > 0, "alias:1d"),
        (((flag & ALIAS_HALF_DOUBLE) > 0) & at_half, "alias:double"),
        ((flag & ALIAS_HALF_DOUBLE) > 0, "alias:half"),
    ]
    label = np.full(len(f), "ok", dtype=object)
    for condition, name in reversed(rules):
        label[condition] = name
    label[~np.isfinite(f)] = None
    return label


def period_quality(
    ctx: StageContext,
    rows: np.ndarray,
    result: PeriodSearchResult | None,
    out: dict[str, np.ndarray],
) -> None:
    """Add ``period_quality`` to the period stage's ``out`` for the searched ``rows`` and set
    the FAP of periods covering fewer than two cycles to 1."""
    out["period_quality"] = np.full(ctx.lcs.n_segments, None, dtype=object)
    if result is None or not len(rows):
        return
    cfg, lcs = ctx.config, ctx.lcs.take(rows)
    span = lcs.time_span()
    with np.errstate(divide="ignore", invalid="ignore"):
        step = 1.0 / (cfg.samples_per_peak * span)
        lowest = np.full(len(rows), cfg.fmin) if cfg.fmin is not None else 1.0 / span
    trend = polynomial_trend(lcs, TREND_DEGREE).explained >= TREND_EXPLAINED
    if detrend_degree(cfg.detrend) is not None:
        trend &= ~(result.fap < DETRENDED_FAP)
    out["period_quality"][rows] = classify_periods(span, lowest, step, result, trend)
    few = span * result.frequency < MIN_CYCLES
    out["fap_baluev"][rows[few]] = 1.0
    out["log10_fap_baluev"][rows[few]] = 0.0
