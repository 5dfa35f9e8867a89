"""dm-dt histograms (2D histograms of magnitude and time differences of all epoch pairs).

For every pair ``i < j`` of a segment's usable epochs (finite time and mag; epochs sorted by
time) with ``dt = t_j - t_i > 0`` (pairs at equal times are skipped) and ``dm = m_j - m_i``.
Counts are those of ``numpy.histogram2d(dm, dt, bins=(dm_bins, dt_bins))``: bins are
half-open ``[e_k, e_k+1)`` except the last, which includes its right edge; pairs outside the
edges are dropped. Output images have shape (n_segments, n_dm, n_dt), dm along axis 1.

Two binnings, as in the papers:

- Fixed edges of Mahabal et al. (2017), as quoted by Carraro (2025, thesis Sect. 2.2.2):
  dm edges ``+-[0, 0.1, 0.2, 0.3, 0.5, 1, 1.5, 2, 2.5, 3, 5, 8]`` mag (23 values) and dt edges
  ``[1/145, 2/145, 3/145, 4/145, 1/25, 2/25, 3/25, 1.5, 2.5, 3.5, 4.5, 5.5, 7, 10, 20, 30, 60,
  90, 120, 240, 600, 960, 2000, 4000]`` days (24 values). Mahabal et al. call the image
  "23 x 24", which counts these values; used as histogram edges they give 22 x 23 cells, and
  that is what this module does (pairs with dt < 1/145 d or > 4000 d, or |dm| > 8, drop out).
- Bassi et al. (2021): equal-width bins whose number is fixed for the whole survey
  (90 dm x 53 dt for CRTS, reused for OGLE), each light curve spanning its own dm and dt range
  -- ``numpy.histogram2d(dm, dt, bins=(90, 53))``; pass integers as ``dm_bins``/``dt_bins``.
  The number comes from the Freedman-Diaconis rule applied per light curve to dm and dt and
  a median over the survey: :func:`freedman_diaconis_bins` gives the per-segment counts
  (numpy's ``'fd'`` estimator, ``ceil(range / (2 IQR n^(-1/3)))``).

Above ``max_pairs`` valid pairs (default 10^7, 0.1-0.3 s per segment) a uniform sample of
``max_pairs`` pairs is drawn with replacement (i, j uniform, i != j, equal times redrawn) from a
SplitMix64 stream seeded per segment by ``seed``: the same seed gives the same image whatever
the batch. ``n_pairs`` records the pairs used and ``sampled`` flags the segments.

How: times are sorted, so for each epoch the partners of every dt bin are one index range
(one forward-moving pointer per dt edge), and the dm bin comes from a look-up table over equal
cells and one comparison with the edges; ~4 ns per pair, 3.4-4x the earlier per-pair search
(docs/performance.md).

Normalisation (``normalization``):

- ``"mahabal"`` (default): ``floor(255 * count / n_pairs + 0.99999)``, the 0-255 image of
  Mahabal et al. 2017 (a cell with any pair is at least 1); n_pairs counts all pairs used,
  including those outside the edges;
- ``"max"``: count / max(count) (0-1 per image);
- ``"counts"``: raw pair counts (as float32).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import ArrayLike

from vsbatch.kernels.arrays import LightCurves, per_segment
from vsbatch.kernels.status import KernelStatus

MAHABAL_DM_EDGES = np.array(
    [-8, -5, -3, -2.5, -2, -1.5, -1, -0.5, -0.3, -0.2, -0.1, 0,
     0.1, 0.2, 0.3, 0.5, 1, 1.5, 2, 2.5, 3, 5, 8], dtype=np.float64
)  # fmt: skip
MAHABAL_DT_EDGES = np.array(
    [1 / 145, 2 / 145, 3 / 145, 4 / 145, 1 / 25, 2 / 25, 3 / 25, 1.5, 2.5, 3.5, 4.5, 5.5,
     7, 10, 20, 30, 60, 90, 120, 240, 600, 960, 2000, 4000], dtype=np.float64
)  # fmt: skip
BASSI_BINS = (90, 53)  # (n_dm, n_dt) of Bassi et al. (2021)
NORMALIZATIONS = ("mahabal", "max", "counts")

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@numba.njit(cache=True, inline="always")
def _splitmix64(state):
    """SplitMix64: returns (new_state, 64-bit output)."""
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return state, z ^ (z >> np.uint64(31))


@numba.njit(cache=True, inline="always")
def _draw_pair(state, t, n):
    """A uniform pair (i < j) with t[j] > t[i]; returns (state, i, j)."""
    while True:
        state, a = _splitmix64(state)
        state, b = _splitmix64(state)
        i = int((a >> np.uint64(11)) * (1.0 / 9007199254740992.0) * n)
        j = int((b >> np.uint64(11)) * (1.0 / 9007199254740992.0) * n)
        if i > j:
            i, j = j, i
        if t[j] > t[i]:
            return state, i, j


_LUT_CAP = 1 << 14  # cells of a bin lookup table


@numba.njit(cache=True)
def _lookup(edges):
    """Bin lookup of numpy.histogram edges: (bounds, table, base, cells per unit, fine).

    Why: a table over equal cells gives each x its bin from one index and at most one
    correction against the bounds, instead of a search over the edges. ``bounds`` are the lower
    bounds of the extended bins: 0 below the first edge, 1..n the bins (the last closed), n + 1
    above the last edge, with -inf/+inf sentinels. ``fine``: cells are at most a quarter of the
    narrowest bin, so one branch-free correction is exact (:func:`_find_fine`).
    """
    nb = edges.size - 1
    bounds = np.empty(nb + 3)
    bounds[0] = -np.inf
    bounds[1 : nb + 1] = edges[:nb]
    bounds[nb + 1] = np.nextafter(edges[nb], np.inf)
    bounds[nb + 2] = np.inf
    gap = np.inf
    for b in range(1, nb + 1):
        if bounds[b + 1] > bounds[b]:
            gap = min(gap, bounds[b + 1] - bounds[b])
    fine = bounds[nb + 1] - bounds[1] <= gap * (_LUT_CAP - 8) / 4
    for b in range(1, nb + 1):
        fine &= bounds[b + 1] > bounds[b]
    h = gap / 4 if fine else (bounds[nb + 1] - bounds[1]) / (_LUT_CAP - 8)
    base = bounds[1] - 2 * h
    cells = min(int((bounds[nb + 1] - base) / h) + 4, _LUT_CAP)
    table = np.searchsorted(bounds, base + (np.arange(cells) + 0.5) * h, side="right") - 1
    return bounds, table, base, 1.0 / h, fine


@numba.njit(cache=True, inline="always")
def _cell(x, table, base, inv_h):
    """The table's guess of x's extended bin."""
    k = min(max((x - base) * inv_h, 0.0), table.size - 1.0)
    return table[int(k)]


@numba.njit(cache=True, inline="always")
def _find(x, bounds, table, base, inv_h):
    """Extended bin of x (see :func:`_lookup`) for any table."""
    b = _cell(x, table, base, inv_h)
    while x >= bounds[b + 1]:
        b += 1
    while x < bounds[b]:
        b -= 1
    return b


@numba.njit(cache=True, inline="always")
def _find_fine(x, bounds, table, base, inv_h):
    """Extended bin of x for a fine table: one branch-free correction (vectorises)."""
    b = _cell(x, table, base, inv_h)
    b += np.int64(x >= bounds[b + 1])
    return b - np.int64(x < bounds[b])


@numba.njit(cache=True)
def _uniform_edges(lo, hi, nbins, out):
    """numpy.linspace(lo, hi, nbins + 1) after numpy's expansion of an empty range."""
    if lo == hi:
        lo -= 0.5
        hi += 0.5
    step = (hi - lo) / nbins
    for k in range(nbins):
        out[k] = k * step + lo
    out[nbins] = hi


@numba.njit(cache=True)
def _compact_finite(time, mag, lo, hi, tt, mm):
    """Finite epochs of a segment into tt, mm; returns (n, number of pairs with dt > 0)."""
    n = 0
    for i in range(lo, hi):
        if np.isfinite(time[i]) and np.isfinite(mag[i]):
            tt[n] = time[i]
            mm[n] = mag[i]
            n += 1
    total = n * (n - 1) // 2
    run = 1
    for i in range(1, n + 1):
        if i < n and tt[i] == tt[i - 1]:
            run += 1
        else:
            total -= run * (run - 1) // 2
            run = 1
    return n, total


@numba.njit(cache=True)
def _pair_ranges(tt, mm, n, sampled, n_draw, seed):
    """(dm_min, dm_max, dt_min, dt_max) over the pairs that will be histogrammed."""
    dm_min = np.inf
    dm_max = -np.inf
    dt_min = np.inf
    if sampled:
        dt_max = -np.inf
        state = np.uint64(seed)
        for _ in range(n_draw):
            state, i, j = _draw_pair(state, tt, n)
            dm = mm[j] - mm[i]
            dt = tt[j] - tt[i]
            dm_min = min(dm_min, dm)
            dm_max = max(dm_max, dm)
            dt_min = min(dt_min, dt)
            dt_max = max(dt_max, dt)
        return dm_min, dm_max, dt_min, dt_max
    # All pairs in O(n): extremes of m_j - m_i over i in earlier time groups than j.
    p_min = np.inf
    p_max = -np.inf
    group = 0  # first index of the time group of j
    for j in range(1, n):
        if tt[j] > tt[j - 1]:
            dt_min = min(dt_min, tt[j] - tt[j - 1])
            for i in range(group, j):
                p_min = min(p_min, mm[i])
                p_max = max(p_max, mm[i])
            group = j
        if group > 0:
            dm_min = min(dm_min, mm[j] - p_max)
            dm_max = max(dm_max, mm[j] - p_min)
    return dm_min, dm_max, dt_min, tt[n - 1] - tt[0]


@numba.njit(cache=True)
def _all_pairs(tt, mm, n, dt_edges, dm_look, hist):
    """Histogram every pair (i < j, dt > 0) into hist[dt bin, extended dm bin].

    Why: times are sorted, so for each i the j of every dt bin form one index range, and
    ``tt[j] - tt[i]`` only falls as i grows: one pointer per dt edge moves forward, O(n) in
    all, and the per-pair work is the dm bin alone (a table look-up, no search).
    """
    bounds, table, base, inv_h, fine = dm_look
    ne = dt_edges.size
    start = np.zeros(ne, dtype=np.int64)  # first j with dt >= edge b (> the last edge)
    g = 0  # first j with dt > 0
    for i in range(n - 1):
        ti = tt[i]
        mi = mm[i]
        while g < n and tt[g] - ti <= 0.0:
            g += 1
        for b in range(ne - 1):
            p = start[b]
            while p < n and tt[p] - ti < dt_edges[b]:
                p += 1
            start[b] = p
        p = start[ne - 1]
        while p < n and tt[p] - ti <= dt_edges[ne - 1]:
            p += 1
        start[ne - 1] = p
        for b in range(ne - 1):
            row = hist[b]
            j_hi = max(start[b + 1], g)
            if fine:
                for j in range(max(start[b], g), j_hi):
                    row[_find_fine(mm[j] - mi, bounds, table, base, inv_h)] += 1
            else:
                for j in range(max(start[b], g), j_hi):
                    row[_find(mm[j] - mi, bounds, table, base, inv_h)] += 1


@numba.njit(cache=True)
def _sampled_pairs(tt, mm, n, n_draw, seed, dm_look, dt_look, hist):
    """Histogram ``n_draw`` seeded random pairs into hist[dt bin, extended dm bin]."""
    dm_bounds, dm_table, dm_base, dm_inv, _ = dm_look
    dt_bounds, dt_table, dt_base, dt_inv, _ = dt_look
    n_dt = dt_bounds.size - 3
    state = np.uint64(seed)
    for _ in range(n_draw):
        state, i, j = _draw_pair(state, tt, n)
        b_dt = _find(tt[j] - tt[i], dt_bounds, dt_table, dt_base, dt_inv) - 1
        if 0 <= b_dt < n_dt:
            hist[b_dt, _find(mm[j] - mm[i], dm_bounds, dm_table, dm_base, dm_inv)] += 1


@numba.njit(cache=True)
def _dmdt_kernel(
    time,
    mag,
    offsets,
    dm_fixed,
    dt_fixed,
    n_dm,
    n_dt,
    uniform,
    max_pairs,
    seeds,
    counts,
    n_pairs,
    n_total,
    ranges,
    status,
):
    dm_edges = dm_fixed.copy() if not uniform else np.empty(n_dm + 1)
    dt_edges = dt_fixed.copy() if not uniform else np.empty(n_dt + 1)
    dm_look = _lookup(dm_edges if not uniform else np.arange(2.0))
    dt_look = _lookup(dt_edges if not uniform else np.arange(2.0))
    hist = np.empty((n_dt, n_dm + 2), dtype=np.int64)  # dm columns 0 and n_dm + 1: outside
    for s in range(offsets.size - 1):
        lo, hi = offsets[s], offsets[s + 1]
        counts[s, :, :] = 0
        ranges[s, :] = np.nan
        tt = np.empty(hi - lo)
        mm = np.empty(hi - lo)
        n, total = _compact_finite(time, mag, lo, hi, tt, mm)
        n_total[s] = total
        n_pairs[s] = 0
        if total == 0:
            status[s] = KernelStatus.TOO_FEW_POINTS
            continue
        status[s] = KernelStatus.OK
        sampled = total > max_pairs
        n_use = max_pairs if sampled else total
        n_pairs[s] = n_use
        if uniform:
            dm_lo, dm_hi, dt_lo, dt_hi = _pair_ranges(tt, mm, n, sampled, n_use, seeds[s])
            _uniform_edges(dm_lo, dm_hi, n_dm, dm_edges)
            _uniform_edges(dt_lo, dt_hi, n_dt, dt_edges)
            dm_look = _lookup(dm_edges)
            if sampled:
                dt_look = _lookup(dt_edges)
        ranges[s, 0] = dm_edges[0]
        ranges[s, 1] = dm_edges[dm_edges.size - 1]
        ranges[s, 2] = dt_edges[0]
        ranges[s, 3] = dt_edges[dt_edges.size - 1]
        hist[:, :] = 0
        if sampled:
            _sampled_pairs(tt, mm, n, n_use, seeds[s], dm_look, dt_look, hist)
        else:
            _all_pairs(tt, mm, n, dt_edges, dm_look, hist)
        for b_dm in range(n_dm):
            for b_dt in range(n_dt):
                counts[s, b_dm, b_dt] = hist[b_dt, b_dm + 1]


@numba.njit(cache=True, inline="always")
def _quantile_sorted(x, q):
    """numpy.quantile(x, q) of sorted x (default linear method, numpy's two-sided lerp)."""
    if x.size == 1:
        return x[0]
    h = (x.size - 1) * q
    k = min(int(np.floor(h)), x.size - 2)
    frac_h = h - k
    a = x[k]
    b = x[k + 1]
    if frac_h >= 0.5:
        return b - (b - a) * (1.0 - frac_h)
    return a + (b - a) * frac_h


@numba.njit(cache=True)
def _fd_kernel(time, mag, offsets, max_pairs, seeds, out, status):
    for s in range(offsets.size - 1):
        lo, hi = offsets[s], offsets[s + 1]
        out[s, :] = 0
        tt = np.empty(hi - lo)
        mm = np.empty(hi - lo)
        n, total = _compact_finite(time, mag, lo, hi, tt, mm)
        if total == 0:
            status[s] = KernelStatus.TOO_FEW_POINTS
            continue
        status[s] = KernelStatus.OK
        sampled = total > max_pairs
        n_use = max_pairs if sampled else total
        dm = np.empty(n_use)
        dt = np.empty(n_use)
        k = 0
        if sampled:
            state = np.uint64(seeds[s])
            for k in range(n_use):
                state, i, j = _draw_pair(state, tt, n)
                dm[k] = mm[j] - mm[i]
                dt[k] = tt[j] - tt[i]
        else:
            for i in range(n - 1):
                for j in range(i + 1, n):
                    if tt[j] > tt[i]:
                        dm[k] = mm[j] - mm[i]
                        dt[k] = tt[j] - tt[i]
                        k += 1
        for axis, x in enumerate((dm, dt)):
            x.sort()
            lo_e = x[0]
            hi_e = x[n_use - 1]
            if lo_e == hi_e:
                lo_e -= 0.5
                hi_e += 0.5
            iqr = _quantile_sorted(x, 0.75) - _quantile_sorted(x, 0.25)
            width = 2.0 * iqr * n_use ** (-1.0 / 3.0)
            out[s, axis] = int(np.ceil((hi_e - lo_e) / width)) if width > 0 else 1


# ----------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class DmDtHistograms:
    """Per-segment dm-dt images; see the module docstring for binning and normalisation."""

    images: np.ndarray  # float32, (n_segments, n_dm, n_dt); zeros where status != 0
    n_pairs: np.ndarray  # int64, pairs histogrammed (all valid pairs, or the sample size)
    n_pairs_total: np.ndarray  # int64, valid pairs (dt > 0) of the segment
    sampled: np.ndarray  # bool, a random sample of pairs was used
    dm_range: np.ndarray  # (n_segments, 2), first and last dm edge (mag)
    dt_range: np.ndarray  # (n_segments, 2), first and last dt edge (days)
    status: np.ndarray  # int8, KernelStatus


@dataclass(frozen=True)
class FreedmanDiaconisBins:
    """Per-segment Freedman-Diaconis bin counts of dm and dt (numpy's ``'fd'`` rule)."""

    n_dm: np.ndarray  # int64
    n_dt: np.ndarray  # int64
    status: np.ndarray  # int8, KernelStatus


def _bins_arg(bins: ArrayLike | int, name: str) -> tuple[np.ndarray, int]:
    if np.ndim(bins) == 0:
        if int(bins) < 1:
            raise ValueError(f"{name} must be >= 1 when an integer")
        return np.empty(0), int(bins)
    edges = np.ascontiguousarray(bins, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) < 0):
        raise ValueError(f"{name} must be an int or an increasing 1-D array of >= 2 edges")
    if not np.isfinite(edges).all():
        raise ValueError(f"{name} edges must be finite")
    return edges, edges.size - 1


def dmdt_histograms(
    lcs: LightCurves,
    dm_bins: ArrayLike | int = MAHABAL_DM_EDGES,
    dt_bins: ArrayLike | int = MAHABAL_DT_EDGES,
    *,
    normalization: str = "mahabal",
    max_pairs: int = 10**7,
    seed: ArrayLike = 0,
) -> DmDtHistograms:
    """dm-dt image of every segment (input of the 2D-CNN of Mahabal et al. / Bassi et al.).

    ``dm_bins``/``dt_bins``: edge arrays (shared by all segments; default Mahabal et al.
    2017) or bin counts (equal-width bins over each segment's own pair range, as
    ``numpy.histogram2d`` does; Bassi et al. use ``BASSI_BINS``). ``seed`` (scalar or per
    segment) seeds the pair sample of segments with more than ``max_pairs`` pairs.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}")
    if max_pairs < 1:
        raise ValueError("max_pairs must be >= 1")
    dm_edges, n_dm = _bins_arg(dm_bins, "dm_bins")
    dt_edges, n_dt = _bins_arg(dt_bins, "dt_bins")
    uniform_dm = dm_edges.size == 0
    if uniform_dm != (dt_edges.size == 0):
        raise ValueError("dm_bins and dt_bins must both be edge arrays or both be integers")
    n = lcs.n_segments
    counts = np.empty((n, n_dm, n_dt), dtype=np.int64)
    n_pairs = np.empty(n, dtype=np.int64)
    n_total = np.empty(n, dtype=np.int64)
    ranges = np.empty((n, 4))
    status = np.empty(n, dtype=np.int8)
    seeds = per_segment(seed, n, "seed", dtype=np.uint64)
    _dmdt_kernel(
        lcs.time,
        lcs.mag,
        lcs.offsets,
        dm_edges,
        dt_edges,
        n_dm,
        n_dt,
        uniform_dm,
        int(max_pairs),
        seeds,
        counts,
        n_pairs,
        n_total,
        ranges,
        status,
    )
    images = counts.astype(np.float32)
    if normalization == "mahabal":
        scale = 255.0 / np.maximum(n_pairs, 1)
        images = np.floor(counts * scale[:, None, None] + 0.99999).astype(np.float32)
    elif normalization == "max":
        peak = counts.max(axis=(1, 2), initial=0)
        images = (counts / np.maximum(peak, 1)[:, None, None]).astype(np.float32)
    return DmDtHistograms(
        images=images,
        n_pairs=n_pairs,
        n_pairs_total=n_total,
        sampled=n_total > n_pairs,
        dm_range=ranges[:, :2],
        dt_range=ranges[:, 2:],
        status=status,
    )


def freedman_diaconis_bins(
    lcs: LightCurves, *, max_pairs: int = 10**6, seed: ArrayLike = 0
) -> FreedmanDiaconisBins:
    """Freedman-Diaconis numbers of dm and dt bins of every segment's pairs.

    Why: Bassi et al. fix the image size of a survey as the median of these counts over its
    light curves (90 x 53 for CRTS). Pairs beyond ``max_pairs`` are sampled as in
    :func:`dmdt_histograms`; the counts equal ``len(numpy.histogram_bin_edges(x, 'fd')) - 1``
    of the dm and dt of the pairs used.
    """
    if max_pairs < 1:
        raise ValueError("max_pairs must be >= 1")
    n = lcs.n_segments
    out = np.empty((n, 2), dtype=np.int64)
    status = np.empty(n, dtype=np.int8)
    seeds = per_segment(seed, n, "seed", dtype=np.uint64)
    _fd_kernel(lcs.time, lcs.mag, lcs.offsets, int(max_pairs), seeds, out, status)
    return FreedmanDiaconisBins(n_dm=out[:, 0], n_dt=out[:, 1], status=status)
