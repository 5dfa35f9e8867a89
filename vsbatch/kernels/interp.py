"""Inverse-distance-weighted k-nearest-neighbour interpolation of folded light curves.

The NN-FAP input (Miller et al., Sect. 2.1): "an interpolated fit of the time-series with 200
evenly spaced points, performed by an inverse distance-weighted K-nearest neighbours (KNN)
regressor" taken from scikit-learn. The paper does not state k: we use scikit-learn's default
``n_neighbors=5`` and its ``weights='distance'`` rule, including its handling of zero distance
(if any of the k neighbours sits exactly on the grid point, the prediction is the plain mean
of the neighbours at distance 0). Differences from a plain scikit-learn call, chosen because
the curve is folded:

- the distance is periodic in phase, ``d = min(|phi - g|, 1 - |phi - g|)``, so the grid ends
  see the points across phase 0/1;
- the grid is ``g_j = j / n_grid`` (j = 0..n_grid-1), evenly spaced on [0, 1) without the
  duplicate end point phase 1 == phase 0.

Ties at the k-th distance (real light curves hold duplicate epochs) keep the earliest epochs,
as a stable sort of the distances would. Per segment: fold (phase = frac(f (t - t0))), sort
by phase, then for each grid point a two-pointer walk outwards from its insertion position
takes the k nearest (O(n log n + n_grid k)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import ArrayLike

from vsbatch.kernels.arrays import LightCurves, per_segment
from vsbatch.kernels.fourier import frac, usable
from vsbatch.kernels.status import KernelStatus


@numba.njit(cache=True)
def _knn_kernel(time, mag, err, offsets, frequency, t0, k, out, status):
    n_grid = out.shape[1]
    n_max = int(np.max(offsets[1:] - offsets[:-1])) if offsets.size > 1 else 0
    cand_d = np.empty(n_max)
    cand_j = np.empty(n_max, dtype=np.int64)
    for s in range(offsets.size - 1):
        lo, hi = offsets[s], offsets[s + 1]
        out[s, :] = np.nan
        f = frequency[s]
        if not (np.isfinite(f) and f > 0.0):
            status[s] = KernelStatus.BAD_FREQUENCY
            continue
        ph = np.empty(hi - lo)
        mm = np.empty(hi - lo)
        n = 0
        for i in range(lo, hi):
            if usable(time[i], mag[i], err[i]):
                ph[n] = frac(f * (time[i] - t0[s]))
                mm[n] = mag[i]
                n += 1
        if n < k:
            status[s] = KernelStatus.TOO_FEW_POINTS
            continue
        status[s] = KernelStatus.OK
        order = np.argsort(ph[:n], kind="mergesort")
        ps = ph[:n][order]
        for g in range(n_grid):
            out[s, g] = _knn_value(ps, order, mm, g / n_grid, k, cand_d, cand_j)


@numba.njit(cache=True)
def _knn_value(ps, order, mm, x, k, cand_d, cand_j):
    """Inverse-distance mean of the k nearest of the sorted phases ``ps`` to ``x``.

    Walks outwards from x (both directions, wrapping at 0/1) collecting epochs in order of
    periodic distance until k are taken plus any tied with the k-th; from the tie group at the
    k-th distance the earliest epochs (lowest original index ``order``) are kept.
    """
    n = ps.size
    right = np.searchsorted(ps, x)  # first index with ps >= x
    n_right = 0
    n_left = 0
    m = 0
    while m < n:
        ir = right + n_right
        il = right - 1 - n_left
        d_r = ps[ir] - x if ir < n else ps[ir - n] + 1.0 - x
        d_l = x - ps[il] if il >= 0 else x - (ps[il + n] - 1.0)
        d = min(d_r, d_l)
        if m >= k and d > cand_d[k - 1]:
            break
        if d_r <= d_l:
            cand_j[m] = ir if ir < n else ir - n
            n_right += 1
        else:
            cand_j[m] = il if il >= 0 else il + n
            n_left += 1
        cand_d[m] = d
        m += 1
    d_k = cand_d[k - 1]
    wsum = 0.0
    wmsum = 0.0
    zsum = 0.0
    n_zero = 0
    n_take = 0
    for c in range(m):
        n_take += cand_d[c] < d_k
    for c in range(m):
        d = cand_d[c]
        if d == d_k:
            # keep the tied candidate only if fewer than (k - n_take) tied ones are earlier
            earlier = 0
            for c2 in range(m):
                if cand_d[c2] == d_k and order[cand_j[c2]] < order[cand_j[c]]:
                    earlier += 1
            if earlier >= k - n_take:
                continue
        value = mm[order[cand_j[c]]]
        if d == 0.0:
            zsum += value
            n_zero += 1
        else:
            wsum += 1.0 / d
            wmsum += value / d
    return zsum / n_zero if n_zero > 0 else wmsum / wsum


@dataclass(frozen=True)
class KnnInterpolation:
    """Folded curves interpolated on the phase grid ``j / n_grid`` (NaN where status != 0)."""

    values: np.ndarray  # (n_segments, n_grid), mag
    status: np.ndarray  # int8, KernelStatus (TOO_FEW_POINTS when fewer than k usable epochs)


def phase_grid(n_grid: int = 200) -> np.ndarray:
    """The phases ``j / n_grid`` of the interpolation grid."""
    return np.arange(n_grid) / n_grid


def knn_interpolate(
    lcs: LightCurves,
    frequency: ArrayLike,
    *,
    t0: ArrayLike = 0.0,
    n_grid: int = 200,
    k: int = 5,
) -> KnnInterpolation:
    """Inverse-distance KNN interpolation of each folded segment onto ``n_grid`` phases.

    Why: the NN-FAP network takes this smoothed, evenly sampled curve as one of its inputs
    (Miller et al.). ``frequency`` (c/d) and ``t0`` are scalars or per segment.
    """
    if k < 1 or n_grid < 1:
        raise ValueError("k and n_grid must be >= 1")
    n = lcs.n_segments
    out = np.empty((n, n_grid))
    status = np.empty(n, dtype=np.int8)
    _knn_kernel(
        lcs.time,
        lcs.mag,
        lcs.err,
        lcs.offsets,
        per_segment(frequency, n, "frequency"),
        per_segment(t0, n, "t0"),
        int(k),
        out,
        status,
    )
    return KnnInterpolation(values=out, status=status)
