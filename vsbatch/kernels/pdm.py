"""Phase dispersion minimisation (Stellingwerf 1978) on flat light-curve arrays.

A second period-search method that assumes no light-curve shape: at each trial frequency the
epochs are folded, split into ``n_bins`` equal phase bins (one cover), and

    theta = s^2 / sigma^2,   s^2 = sum_j (n_j - 1) s_j^2 / (sum_j n_j - M),

where ``s_j^2`` is the sample variance of bin ``j``, ``M`` the number of non-empty bins and
``sigma^2`` the sample variance of all magnitudes. The best period minimises theta
(theta ~ 1 for noise, -> 0 for a perfect fold). Unweighted, as in Stellingwerf's definition.

Cost is O(N_obs * N_freq) with one floor and one scatter-add per epoch and frequency (no
trigonometry); only the per-bin counts and sums are needed, because
``sum_j (n_j - 1) s_j^2 = sum (y - mean)^2 - sum_j (sum_bin_j y)^2 / n_j``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.periodogram import FrequencyGrid


@dataclass(frozen=True)
class PdmPeriodogram:
    """Theta of many grids concatenated; grid ``i`` is ``theta[grid.offsets[i]:...[i + 1]]``."""

    grid: FrequencyGrid
    theta: np.ndarray

    def segment(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(frequency, theta) of grid ``i``."""
        offsets = self.grid.offsets
        return self.grid.frequencies(i), self.theta[offsets[i] : offsets[i + 1]]


@dataclass(frozen=True)
class PdmResult:
    """Per segment: the frequency (c/d) and period (d) of minimum theta, and that theta."""

    frequency: np.ndarray
    period: np.ndarray
    theta: np.ndarray


@numba.njit(cache=True)
def _pdm_kernel(time, mag, offsets, fmin, df, nf, n_bins, theta_offsets, theta, best_f, best_t):
    """Theta on each segment's grid; stored in ``theta`` only when it is not empty."""
    longest = 0
    for g in range(nf.size):
        longest = max(longest, offsets[g + 1] - offsets[g])
    tr, yc = np.empty(longest), np.empty(longest)
    counts, sums = np.empty(n_bins, dtype=np.int64), np.empty(n_bins)
    store = theta.size > 0
    for g in range(nf.size):
        best_f[g] = np.nan
        best_t[g] = np.nan
        lo, n = offsets[g], offsets[g + 1] - offsets[g]
        if nf[g] <= 0 or n < 2:
            continue
        mean = 0.0
        for i in range(n):
            mean += mag[lo + i]
        mean /= n
        total = 0.0
        for i in range(n):
            tr[i] = time[lo + i] - time[lo]
            yc[i] = mag[lo + i] - mean
            total += yc[i] * yc[i]
        variance = total / (n - 1)
        for k in range(nf[g]):
            f = fmin[g] + df[g] * k
            counts[:] = 0
            sums[:] = 0.0
            for i in range(n):
                x = f * tr[i]
                b = min(int((x - np.floor(x)) * n_bins), n_bins - 1)
                counts[b] += 1
                sums[b] += yc[i]
            between, used = 0.0, 0
            for b in range(n_bins):
                if counts[b] > 0:
                    between += sums[b] * sums[b] / counts[b]
                    used += 1
            value = np.nan
            if n > used and variance > 0.0:
                value = (total - between) / (n - used) / variance
            if store:
                theta[theta_offsets[g] + k] = value
            if value < best_t[g] or (np.isnan(best_t[g]) and not np.isnan(value)):
                best_t[g] = value
                best_f[g] = f


def _run(
    lcs: LightCurves, grid: FrequencyGrid, n_bins: int, store: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(theta or empty, best frequency, best theta) from one kernel call."""
    if len(grid.n_frequencies) != lcs.n_segments:
        raise ValueError(
            f"grid has {len(grid.n_frequencies)} entries for {lcs.n_segments} segments"
        )
    offsets = grid.offsets
    theta = np.empty(offsets[-1] if store else 0)
    best_f, best_t = np.empty(lcs.n_segments), np.empty(lcs.n_segments)
    _pdm_kernel(
        lcs.time,
        lcs.mag,
        lcs.offsets,
        grid.minimum_frequency,
        grid.step,
        grid.n_frequencies,
        n_bins,
        offsets,
        theta,
        best_f,
        best_t,
    )
    return theta, best_f, best_t


def pdm_theta(lcs: LightCurves, grid: FrequencyGrid, n_bins: int = 10) -> PdmPeriodogram:
    """Stellingwerf theta of every segment on its grid (for plots, tests and benchmarks)."""
    theta, _, _ = _run(lcs, grid, n_bins, store=True)
    return PdmPeriodogram(grid, theta)


def pdm_search(lcs: LightCurves, grid: FrequencyGrid, n_bins: int = 10) -> PdmResult:
    """Best PDM period per segment (minimum theta) without keeping theta in memory."""
    _, best_f, best_t = _run(lcs, grid, n_bins, store=False)
    with np.errstate(divide="ignore"):
        return PdmResult(best_f, 1.0 / best_f, best_t)
