"""Variability statistics of many light curves in one compiled call.

Definitions follow NumPy/SciPy so they can be checked against them (see schemas/catalog.json
for each column's formula): sample std with ddof=1, percentiles with linear interpolation,
bias-corrected skewness/kurtosis, Stetson (1996) J from time-consecutive pairs and K.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numba
import numpy as np

from vsbatch.kernels.arrays import LightCurves


@dataclass(frozen=True)
class VariabilityStats:
    """Per-segment statistics; NaN where a statistic needs more epochs than the segment has."""

    n_obs: np.ndarray
    time_min: np.ndarray
    time_span: np.ndarray
    mag_mean: np.ndarray
    mag_median: np.ndarray
    mag_wmean: np.ndarray
    mag_std: np.ndarray
    mag_mad: np.ndarray
    mag_iqr: np.ndarray
    skewness: np.ndarray
    kurtosis: np.ndarray
    amplitude_robust: np.ndarray
    stetson_j: np.ndarray
    stetson_k: np.ndarray
    von_neumann_eta: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@numba.njit(cache=True, inline="always")
def _percentile_sorted(x: np.ndarray, q: float) -> float:
    """numpy.percentile(x, q) with the default linear method, for sorted ``x``."""
    h = (x.size - 1) * q / 100.0
    lo = int(np.floor(h))
    if lo >= x.size - 1:
        return x[x.size - 1]
    frac = h - lo
    return x[lo] + frac * (x[lo + 1] - x[lo])


@numba.njit(cache=True)
def _stats_kernel(offsets, time, mag, err, out):
    for s in range(offsets.size - 1):
        lo, hi = offsets[s], offsets[s + 1]
        n = hi - lo
        out[s, :] = np.nan
        out[s, 0] = n
        if n == 0:
            continue
        t = time[lo:hi]
        m = mag[lo:hi]
        e = err[lo:hi]
        out[s, 1] = t[0]
        out[s, 2] = t[n - 1] - t[0]
        mean = m.mean()
        out[s, 3] = mean
        srt = np.sort(m)
        median = _percentile_sorted(srt, 50.0)
        out[s, 4] = median
        w = 1.0 / (e * e)
        wmean = (w * m).sum() / w.sum()
        out[s, 5] = wmean
        dev = np.abs(m - median)
        out[s, 7] = _percentile_sorted(np.sort(dev), 50.0)
        out[s, 8] = _percentile_sorted(srt, 75.0) - _percentile_sorted(srt, 25.0)
        out[s, 11] = 0.5 * (_percentile_sorted(srt, 95.0) - _percentile_sorted(srt, 5.0))
        if n < 2:
            continue
        c = m - mean
        m2 = (c * c).mean()
        var = m2 * n / (n - 1)
        out[s, 6] = np.sqrt(var)
        if n >= 3 and m2 > 0:
            g1 = (c**3).mean() / m2**1.5
            out[s, 9] = g1 * np.sqrt(n * (n - 1.0)) / (n - 2.0)
        if n >= 4 and m2 > 0:
            g2 = (c**4).mean() / (m2 * m2) - 3.0
            out[s, 10] = ((n + 1.0) * g2 + 6.0) * (n - 1.0) / ((n - 2.0) * (n - 3.0))
        d = np.sqrt(n / (n - 1.0)) * (m - wmean) / e
        jsum = 0.0
        for i in range(n - 1):
            p = d[i] * d[i + 1]
            jsum += np.sign(p) * np.sqrt(abs(p))
        out[s, 12] = jsum / (n - 1)
        rms_d = np.sqrt((d * d).mean())
        if rms_d > 0:
            out[s, 13] = np.abs(d).mean() / rms_d
        if var > 0:
            diff = m[1:] - m[:-1]
            out[s, 14] = (diff * diff).sum() / (n - 1) / var


def variability_stats(lcs: LightCurves) -> VariabilityStats:
    """Compute the variability statistics of every segment of ``lcs``."""
    names = [f.name for f in fields(VariabilityStats)]
    out = np.empty((lcs.n_segments, len(names)), dtype=np.float64)
    _stats_kernel(lcs.offsets, lcs.time, lcs.mag, lcs.err, out)
    values = {name: out[:, i] for i, name in enumerate(names)}
    values["n_obs"] = out[:, 0].astype(np.int32)
    return VariabilityStats(**values)
