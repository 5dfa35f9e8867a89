"""Weighted polynomial trends in time of many light curves at once.

Why: a slow drift (calibration, a long-period companion, a transient's decline) puts all its
power at the periodogram's 1/T edge and wins over any pulsation; fitting a low-order
polynomial tells how much of the variance is trend, and subtracting it lets the period search
see what is left. Time is mapped to [-1, 1] per light curve so that low powers stay well
conditioned; weights are ``1 / err**2`` as in the periodogram.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vsbatch.kernels.arrays import LightCurves


@dataclass(frozen=True)
class PolynomialTrend:
    """Per-epoch trend values and, per light curve, the weighted variance they explain."""

    model: np.ndarray  # (n_epochs,) magnitudes of the fitted polynomial; NaN where unfitted
    explained: np.ndarray  # (n_segments,) adjusted R^2 (chi2 per degree of freedom), or NaN


def polynomial_trend(lcs: LightCurves, degree: int) -> PolynomialTrend:
    """Weighted least-squares polynomial of ``degree`` in time, fitted to every light curve.

    ``explained`` is adjusted for degrees of freedom (``1 - (chi2_poly / (n - degree - 1)) /
    (chi2_mean / (n - 1))``), so a few epochs do not pass for a trend by fitting them exactly.
    Light curves with no more epochs than coefficients, zero span or constant magnitudes get
    NaN. Solved from per-segment normal equations (sums of ``w x**k``) in one batched solve.
    """
    if degree < 0:
        raise ValueError(f"trend degree must be at least 0, got {degree}")
    n_seg, counts = lcs.n_segments, lcs.counts
    if lcs.offsets[-1] == 0:
        return PolynomialTrend(np.zeros(0), np.full(n_seg, np.nan))
    seg = np.repeat(np.arange(n_seg), counts)
    first = np.where(counts > 0, lcs.time[np.minimum(lcs.offsets[:-1], len(lcs.time) - 1)], 0.0)
    span = lcs.time_span()
    half = np.where(span > 0, 0.5 * span, 1.0)
    x = (lcs.time - first[seg]) / half[seg] - 1.0
    w = 1.0 / lcs.err**2
    powers = x[:, None] ** np.arange(2 * degree + 1)
    starts = lcs.offsets[:-1][counts > 0]
    sums = np.zeros((n_seg, 2 * degree + 1))
    rhs = np.zeros((n_seg, degree + 1))
    sums[counts > 0] = np.add.reduceat(w[:, None] * powers, starts, axis=0)
    rhs[counts > 0] = np.add.reduceat((w * lcs.mag)[:, None] * powers[:, : degree + 1], starts)
    k = np.arange(degree + 1)
    normal = sums[:, k[:, None] + k[None, :]]
    fitted = (counts > degree) & (span > 0)
    normal[~fitted] = np.eye(degree + 1)
    coef = np.linalg.solve(normal, rhs[..., None])[..., 0]
    model = np.sum(coef[seg] * powers[:, : degree + 1], axis=1)
    mean = np.zeros(n_seg)
    mean[counts > 0] = rhs[counts > 0, 0] / sums[counts > 0, 0]
    chi2_mean = np.bincount(seg, w * (lcs.mag - mean[seg]) ** 2, minlength=n_seg)
    chi2_poly = np.bincount(seg, w * (lcs.mag - model) ** 2, minlength=n_seg)
    fitted &= chi2_mean > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (chi2_poly / (counts - degree - 1)) / (chi2_mean / (counts - 1))
        explained = np.where(fitted, 1.0 - ratio, np.nan)
    return PolynomialTrend(np.where(fitted[seg], model, np.nan), explained)


def subtract_trend(lcs: LightCurves, degree: int) -> LightCurves:
    """The light curves with their weighted polynomial trend removed (unchanged where no
    polynomial could be fitted); periodograms float the mean, so no level is added back."""
    model = polynomial_trend(lcs, degree).model
    mag = np.where(np.isfinite(model), lcs.mag - model, lcs.mag)
    return LightCurves(lcs.offsets, lcs.time, mag, lcs.err)
