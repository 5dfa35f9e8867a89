"""Generalised Lomb–Scargle periodograms of many light curves: grid, power, peaks, refinement.

Model and normalisation
    The generalised (floating-mean, error-weighted) Lomb–Scargle periodogram of Zechmeister &
    Kürster (2009), weights ``w = 1/err**2``, "standard" normalisation: the power is the
    fraction of the weighted variance about the mean removed by the best-fitting sinusoid,
    ``(chi2_ref - chi2(f)) / chi2_ref``. This equals astropy's
    ``LombScargle(t, y, dy, fit_mean=True, center_data=True, normalization='standard')`` and,
    for ``nterms > 1``, its multi-harmonic ``method='chi2'``.

Multiband (VanderPlas & Ivezić 2015)
    Segments grouped into one source by ``source_index`` share one period. We use the
    shared-base-term flavour with ``nterms_base=nterms, nterms_band=0``: every band gets its
    own floating mean, and all bands share one Fourier series (same amplitudes and phases). The
    power is ``sum_b (chi2_ref,b - chi2_b) / sum_b chi2_ref,b`` with the per-band offsets
    profiled out, i.e. astropy's ``LombScargleMultiband(nterms_base=1, nterms_band=0)``
    flexible model without its ridge regularisation (astropy's default is
    ``nterms_band=1`` with a ridge). It is *not* the sum of independent per-band chi2
    reductions. A group of one segment is the ordinary single-band periodogram, so one kernel
    serves both, and the Baluev FAP still applies (two parameters more than the null model).

    Measured on 322 SDSS Stripe 82 RR Lyrae (Sesar et al. 2010 light curves and periods,
    grid to 5 c/d, recovered if |P/P_pub - 1| < 1e-3): multiband ``nterms=1`` 61.5 %
    (single bands 60.6-64.6 %), ``nterms=2`` 79.8 % (single bands 71.1-81.7 %); nearly all
    misses are 1 c/d or yearly aliases of this sparse cadence. On a coarser grid the sum of
    independent per-band reductions did slightly better than the shared model (68 vs 66 %).

Cost: trigonometric recurrences, not FFTs
    The power needs, per frequency, the sums over epochs of ``w``, ``w y`` times ``cos``,
    ``sin``, ``cos**2`` and ``cos sin`` of ``2 pi f t``. On the uniform grid
    ``f_k = f_0 + k df`` each epoch's phasor ``exp(2 pi i f_k t)`` is advanced to ``f_{k+1}`` by
    one complex multiplication with ``exp(2 pi i df t)`` (precomputed per epoch), so no sin/cos
    is evaluated in the inner loop: about 11 multiply-adds per epoch and frequency, which Numba
    vectorises (two frequencies per pass over the epochs to halve the memory traffic). For
    the survey light curves this package targets (a few hundred epochs) this direct
    O(N_obs N_freq) kernel beats extirpolation + FFT (Press & Rybicki 1989, astropy ``fast``)
    and is on par with a non-uniform FFT; a NUFFT (nifty-ls, see ``vsbatch.period_backends``)
    wins for long light curves, because it is O(N_obs + N_freq log N_freq).

    Drift: each rotation adds a relative rounding error of ~1e-16 to the phasor, so errors
    grow about linearly with the number of steps (measured: still only 5e-10 relative power
    error after 150,000 steps without any reseeding). The phasors are reseeded with exact
    ``cos``/``sin`` every ``_RESEED`` = 4096 steps, which keeps the drift below ~1e-12 for
    any grid length. Reseeding costs two trigonometric calls per epoch, ~100x the work of a
    rotation: every 4096 steps that is ~3 % of the run time, every 256 steps it was ~30 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from vsbatch.kernels.arrays import LightCurves

_RESEED = 4096  # frequency steps between exact re-evaluations of the phasors (even)
# Reassociation lets LLVM vectorise the sums; no finite-math assumptions (NaN checks stay valid).
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
_TWO_PI = 2.0 * np.pi

ALIAS_DAILY = 1
"""``alias_flag`` bit: another strong top peak lies 1 c/d away from the best frequency."""
ALIAS_HALF_DOUBLE = 2
"""``alias_flag`` bit: another strong top peak lies at half or twice the best frequency."""


@dataclass(frozen=True)
class FrequencyGrid:
    """Uniform frequency grid per segment (or per source): ``f = minimum + step * arange(n)``.

    Kept as three numbers per light curve rather than arrays of frequencies, so batches of
    long grids cost nothing until a periodogram is evaluated.
    """

    minimum_frequency: np.ndarray  # (n,) float64, cycles/day
    step: np.ndarray  # (n,) float64, cycles/day
    n_frequencies: np.ndarray  # (n,) int64

    @property
    def offsets(self) -> np.ndarray:
        """Offsets of each grid in a flat array of all grids, length n + 1."""
        out = np.zeros(len(self.n_frequencies) + 1, dtype=np.int64)
        np.cumsum(self.n_frequencies, out=out[1:])
        return out

    @property
    def maximum_frequency(self) -> np.ndarray:
        """Last frequency of each grid (what the Baluev FAP calls ``fmax``)."""
        return self.minimum_frequency + self.step * (self.n_frequencies - 1)

    def frequencies(self, i: int) -> np.ndarray:
        """The frequencies of grid ``i``."""
        return self.minimum_frequency[i] + self.step[i] * np.arange(self.n_frequencies[i])


@dataclass(frozen=True)
class Periodogram:
    """Powers of many grids concatenated; grid ``i`` is ``power[grid.offsets[i]:...[i + 1]]``."""

    grid: FrequencyGrid
    power: np.ndarray  # float64, length grid.offsets[-1]

    def segment(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(frequency, power) of grid ``i``."""
        offsets = self.grid.offsets
        return self.grid.frequencies(i), self.power[offsets[i] : offsets[i + 1]]


@dataclass(frozen=True)
class Peaks:
    """The ``k`` highest separated local maxima per grid, best first; NaN where fewer exist."""

    frequency: np.ndarray  # (n, k) cycles/day
    power: np.ndarray  # (n, k)


@dataclass(frozen=True)
class RefinedPeak:
    """Best frequency after local refinement and the exact power there."""

    frequency: np.ndarray  # (n,) cycles/day
    power: np.ndarray  # (n,)


def source_groups(n_segments: int, source_index: np.ndarray | None = None) -> np.ndarray:
    """Offsets into the segment list of each source's run of segments, length n_sources + 1.

    ``source_index[i]`` names the source of segment ``i``; segments of one source must be
    adjacent (non-decreasing index), as they are when segments are sorted by (source, band).
    Without ``source_index`` every segment is its own source.
    """
    if source_index is None:
        return np.arange(n_segments + 1, dtype=np.int64)
    source_index = np.asarray(source_index)
    if len(source_index) != n_segments:
        raise ValueError(f"source_index has {len(source_index)} entries for {n_segments} segments")
    steps = np.diff(source_index)
    if np.any(steps < 0):
        raise ValueError("source_index must be non-decreasing (segments of a source adjacent)")
    starts = np.flatnonzero(steps) + 1
    ends = [n_segments] if n_segments else []
    return np.concatenate([[0], starts, ends]).astype(np.int64)


def group_baseline(lcs: LightCurves, groups: np.ndarray) -> np.ndarray:
    """Time span (days) of each group of segments; 0 for groups without epochs."""
    if len(groups) < 2:
        return np.zeros(0)
    counts = lcs.counts
    nonempty = counts > 0
    first = np.full(lcs.n_segments, np.inf)
    last = np.full(lcs.n_segments, -np.inf)
    first[nonempty] = lcs.time[lcs.offsets[:-1][nonempty]]
    last[nonempty] = lcs.time[lcs.offsets[1:][nonempty] - 1]
    span = np.maximum.reduceat(last, groups[:-1]) - np.minimum.reduceat(first, groups[:-1])
    return np.where(np.isfinite(span), span, 0.0)


def frequency_grid(
    lcs: LightCurves,
    *,
    maximum_frequency: float = 25.0,
    samples_per_peak: float = 5.0,
    minimum_frequency: float | None = None,
    source_index: np.ndarray | None = None,
) -> FrequencyGrid:
    """Per-light-curve grid by astropy's ``autofrequency`` rule, shared by stages and benchmarks.

    ``step = 1 / (samples_per_peak * T)`` for baseline ``T``, first frequency ``1 / T`` unless
    given, ``n = 1 + round((maximum_frequency - minimum) / step)``. With ``source_index`` one
    grid per source, from the baseline of all its bands.
    """
    groups = source_groups(lcs.n_segments, source_index)
    baseline = group_baseline(lcs, groups)
    ok = baseline > 0
    step = np.zeros(len(baseline))
    step[ok] = 1.0 / (samples_per_peak * baseline[ok])
    fmin = np.zeros(len(baseline))
    if minimum_frequency is None:
        fmin[ok] = 1.0 / baseline[ok]
    else:
        fmin[ok] = minimum_frequency
    n = np.zeros(len(baseline), dtype=np.int64)
    n[ok] = 1 + np.round((maximum_frequency - fmin[ok]) / step[ok]).astype(np.int64)
    return FrequencyGrid(fmin, step, np.maximum(n, 0))


# --------------------------------------------------------------------------------------------
# Kernels


@numba.njit(cache=True)
def _max_group_size(offsets, groups):
    longest, widest = 0, 0
    for g in range(groups.size - 1):
        longest = max(longest, offsets[groups[g + 1]] - offsets[groups[g]])
        widest = max(widest, groups[g + 1] - groups[g])
    return longest, widest


@numba.njit(cache=True)
def _prepare(time, mag, err, offsets, s0, s1, step, tr, w, wy, dc, ds, wsum):
    """Fill per-epoch arrays of segments s0..s1 (one source); return total chi2_ref.

    Times are taken relative to the source's first epoch; each band is centred on its own
    weighted mean (its floating offset). Returns 0 when every band is constant, where the
    rounding residue of the mean would otherwise yield a meaningless periodogram.
    """
    base = offsets[s0]
    tref = np.inf
    for b in range(s0, s1):
        if offsets[b + 1] > offsets[b]:
            tref = min(tref, time[offsets[b]])
    yy = 0.0
    varies = False
    for b in range(s0, s1):
        lo, hi = offsets[b], offsets[b + 1]
        sw, swy = 0.0, 0.0
        for i in range(lo, hi):
            wi = 1.0 / (err[i] * err[i])
            sw += wi
            swy += wi * mag[i]
            varies = varies or mag[i] != mag[lo]
        mean = swy / sw if hi > lo else 0.0
        wsum[b - s0] = sw
        for i in range(lo, hi):
            j = i - base
            tr[j] = time[i] - tref
            w[j] = 1.0 / (err[i] * err[i])
            dy = mag[i] - mean
            wy[j] = w[j] * dy
            yy += wy[j] * dy
            angle = _TWO_PI * step * tr[j]
            dc[j] = np.cos(angle)
            ds[j] = np.sin(angle)
    return yy if varies else 0.0


@numba.njit(cache=True)
def _seed(tr, frequency, c, s, n):
    """Exact phasors at ``frequency``; the phase is reduced to [0, 1) cycles first."""
    for i in range(n):
        x = frequency * tr[i]
        x -= np.floor(x)
        c[i] = np.cos(_TWO_PI * x)
        s[i] = np.sin(_TWO_PI * x)


@numba.njit(cache=True, fastmath=_FASTMATH)
def _pair_sums(c, s, dc, ds, w, wy, lo, hi):
    """Sums over epochs lo..hi for two consecutive grid frequencies; advances them two steps.

    Returns (sum w c, w s, w y c, w y s, w c^2, w c s) at f_k, then the same at f_k+1. The
    unsigned loop index spares Numba's negative-index wraparound, which would block SIMD
    vectorisation (slicing instead costs ~50 ns per call).
    """
    a0 = a1 = a2 = a3 = a4 = a5 = 0.0
    b0 = b1 = b2 = b3 = b4 = b5 = 0.0
    for i in range(np.uint64(lo), np.uint64(hi)):
        ci, si, wi, yi, dci, dsi = c[i], s[i], w[i], wy[i], dc[i], ds[i]
        wc = wi * ci
        a0 += wc
        a1 += wi * si
        a2 += yi * ci
        a3 += yi * si
        a4 += wc * ci
        a5 += wc * si
        cn = ci * dci - si * dsi
        sn = si * dci + ci * dsi
        wc = wi * cn
        b0 += wc
        b1 += wi * sn
        b2 += yi * cn
        b3 += yi * sn
        b4 += wc * cn
        b5 += wc * sn
        c[i] = cn * dci - sn * dsi
        s[i] = sn * dci + cn * dsi
    return a0, a1, a2, a3, a4, a5, b0, b1, b2, b3, b4, b5


@numba.njit(cache=True)
def _sinusoid_power(yy, cc, ss, cs, yc, ys):
    """Standard power of one sinusoid given offset-profiled normal equations.

    NaN for constant light curves (undefined, as in astropy), 0 where the fit is degenerate.
    """
    if not yy > 0.0:
        return np.nan
    det = cc * ss - cs * cs
    if det <= 0.0:
        return 0.0
    return (ss * yc * yc + cc * ys * ys - 2.0 * cs * yc * ys) / (yy * det)


@numba.njit(cache=True, fastmath=_FASTMATH)
def _gls_kernel(time, mag, err, offsets, groups, fmin, df, nf, out_offsets, out):
    longest, widest = _max_group_size(offsets, groups)
    tr, w, wy = np.empty(longest), np.empty(longest), np.empty(longest)
    c, s, dc, ds = np.empty(longest), np.empty(longest), np.empty(longest), np.empty(longest)
    wsum = np.empty(widest)
    for g in range(groups.size - 1):
        if nf[g] <= 0:
            continue
        s0, s1 = groups[g], groups[g + 1]
        base = offsets[s0]
        n = offsets[s1] - base
        yy = _prepare(time, mag, err, offsets, s0, s1, df[g], tr, w, wy, dc, ds, wsum)
        o = out_offsets[g]
        for k in range(0, nf[g], 2):
            if k % _RESEED == 0:
                _seed(tr, fmin[g] + df[g] * k, c, s, n)
            cc0 = ss0 = cs0 = yc0 = ys0 = 0.0
            cc1 = ss1 = cs1 = yc1 = ys1 = 0.0
            for b in range(s1 - s0):
                lo, hi = offsets[s0 + b] - base, offsets[s0 + b + 1] - base
                if hi == lo:
                    continue
                sw = wsum[b]
                a0, a1, a2, a3, a4, a5, b0, b1, b2, b3, b4, b5 = _pair_sums(
                    c, s, dc, ds, w, wy, lo, hi
                )
                cc0 += a4 - a0 * a0 / sw
                ss0 += (sw - a4) - a1 * a1 / sw
                cs0 += a5 - a0 * a1 / sw
                yc0 += a2
                ys0 += a3
                cc1 += b4 - b0 * b0 / sw
                ss1 += (sw - b4) - b1 * b1 / sw
                cs1 += b5 - b0 * b1 / sw
                yc1 += b2
                ys1 += b3
            out[o + k] = _sinusoid_power(yy, cc0, ss0, cs0, yc0, ys0)
            if k + 1 < nf[g]:
                out[o + k + 1] = _sinusoid_power(yy, cc1, ss1, cs1, yc1, ys1)


@numba.njit(cache=True, fastmath=_FASTMATH)
def _harmonic_sums(c, s, w, wy, lo, hi, nterms, pr, pi, a_re, a_im, b_re, b_im):
    """Sums of w z^m (m = 1..2 nterms) and w y z^m (m = 1..nterms), z = exp(2 pi i f t).

    One vectorisable pass over the epochs lo..hi (unsigned index, as in ``_pair_sums``) per
    harmonic, the powers z^m kept in ``pr, pi``.
    """
    for i in range(np.uint64(lo), np.uint64(hi)):
        pr[i] = 1.0
        pi[i] = 0.0
    for m in range(1, 2 * nterms + 1):
        sr = si = yr = yi = 0.0
        for i in range(np.uint64(lo), np.uint64(hi)):
            xr = pr[i] * c[i] - pi[i] * s[i]
            xi = pi[i] * c[i] + pr[i] * s[i]
            pr[i] = xr
            pi[i] = xi
            sr += w[i] * xr
            si += w[i] * xi
            yr += wy[i] * xr
            yi += wy[i] * xi
        a_re[m] = sr
        a_im[m] = si
        if m <= nterms:
            b_re[m] = yr
            b_im[m] = yi


@numba.njit(cache=True)
def _add_band_normal_equations(nterms, sw, a_re, a_im, b_re, b_im, mat, rhs):
    """Add one band's normal equations for [cos 1, sin 1, cos 2, ...] with its offset profiled.

    Products of harmonics follow from the sums A_m = sum w z^m, A_0 = sum w:
    sum w cos j cos k = (Re A_|j-k| + Re A_j+k) / 2, sin sin: (Re A_|j-k| - Re A_j+k) / 2,
    sin j cos k = (Im A_j+k + sign(j-k) Im A_|j-k|) / 2; offset column: Re A_j, Im A_j.
    """
    a_re[0] = sw
    a_im[0] = 0.0
    for j in range(1, nterms + 1):
        oc_j, os_j = a_re[j] / sw, a_im[j] / sw
        rhs[2 * j - 2] += b_re[j]
        rhs[2 * j - 1] += b_im[j]
        for k in range(1, nterms + 1):
            d = abs(j - k)
            sign = 1.0 if j >= k else -1.0
            cc = 0.5 * (a_re[d] + a_re[j + k]) - oc_j * a_re[k]
            ss = 0.5 * (a_re[d] - a_re[j + k]) - os_j * a_im[k]
            sc = 0.5 * (a_im[j + k] + sign * a_im[d]) - os_j * a_re[k]
            mat[2 * j - 2, 2 * k - 2] += cc
            mat[2 * j - 1, 2 * k - 1] += ss
            mat[2 * j - 1, 2 * k - 2] += sc
            mat[2 * k - 2, 2 * j - 1] += sc


@numba.njit(cache=True)
def _quadratic_solve(mat, rhs, m):
    """rhs^T mat^-1 rhs by in-place Cholesky; 0 when mat is not positive definite."""
    for j in range(m):
        d = mat[j, j]
        for k in range(j):
            d -= mat[j, k] * mat[j, k]
        if d <= 0.0:
            return 0.0
        d = np.sqrt(d)
        mat[j, j] = d
        for i in range(j + 1, m):
            x = mat[i, j]
            for k in range(j):
                x -= mat[i, k] * mat[j, k]
            mat[i, j] = x / d
    total = 0.0
    for i in range(m):  # forward substitution L u = rhs; result is |u|^2
        x = rhs[i]
        for k in range(i):
            x -= mat[i, k] * rhs[k]
        rhs[i] = x / mat[i, i]
        total += rhs[i] * rhs[i]
    return total


@numba.njit(cache=True)
def _rotate(c, s, dc, ds, n):
    for i in range(n):
        cn = c[i] * dc[i] - s[i] * ds[i]
        s[i] = s[i] * dc[i] + c[i] * ds[i]
        c[i] = cn


@numba.njit(cache=True)
def _multiharmonic_kernel(time, mag, err, offsets, groups, fmin, df, nf, nterms, out_offsets, out):
    longest, widest = _max_group_size(offsets, groups)
    tr, w, wy = np.empty(longest), np.empty(longest), np.empty(longest)
    c, s, dc, ds = np.empty(longest), np.empty(longest), np.empty(longest), np.empty(longest)
    pr, pi = np.empty(longest), np.empty(longest)
    wsum = np.empty(widest)
    a_re, a_im = np.zeros(2 * nterms + 1), np.zeros(2 * nterms + 1)
    b_re, b_im = np.zeros(nterms + 1), np.zeros(nterms + 1)
    mat = np.empty((2 * nterms, 2 * nterms))
    rhs = np.empty(2 * nterms)
    for g in range(groups.size - 1):
        if nf[g] <= 0:
            continue
        s0, s1 = groups[g], groups[g + 1]
        base = offsets[s0]
        n = offsets[s1] - base
        yy = _prepare(time, mag, err, offsets, s0, s1, df[g], tr, w, wy, dc, ds, wsum)
        for k in range(nf[g]):
            if k % _RESEED == 0:
                _seed(tr, fmin[g] + df[g] * k, c, s, n)
            mat[:] = 0.0
            rhs[:] = 0.0
            for b in range(s1 - s0):
                lo, hi = offsets[s0 + b] - base, offsets[s0 + b + 1] - base
                if hi == lo:
                    continue
                _harmonic_sums(c, s, w, wy, lo, hi, nterms, pr, pi, a_re, a_im, b_re, b_im)
                _add_band_normal_equations(nterms, wsum[b], a_re, a_im, b_re, b_im, mat, rhs)
            reduction = _quadratic_solve(mat, rhs, 2 * nterms)
            out[out_offsets[g] + k] = reduction / yy if yy > 0.0 else np.nan
            _rotate(c, s, dc, ds, n)


@numba.njit(cache=True)
def _top_peaks_kernel(power, out_offsets, df, nf, k, min_separation, pool_size, top):
    pool_p = np.empty(pool_size)
    pool_i = np.empty(pool_size, dtype=np.int64)
    for g in range(nf.size):
        n, o = nf[g], out_offsets[g]
        pool_p[:] = -np.inf
        pool_i[:] = -1
        for j in range(n):
            p = power[o + j]
            if not p > pool_p[pool_size - 1]:
                continue
            if j > 0 and not p > power[o + j - 1]:
                continue
            if j + 1 < n and not p >= power[o + j + 1]:
                continue
            q = pool_size - 1  # insertion into the pool, kept sorted by decreasing power
            while q > 0 and pool_p[q - 1] < p:
                pool_p[q] = pool_p[q - 1]
                pool_i[q] = pool_i[q - 1]
                q -= 1
            pool_p[q] = p
            pool_i[q] = j
        taken = 0
        for q in range(pool_size):
            if pool_i[q] < 0 or taken == k:
                break
            far = True
            for r in range(taken):
                if abs(pool_i[q] - top[g, r]) * df[g] < min_separation:
                    far = False
                    break
            if far:
                top[g, taken] = pool_i[q]
                taken += 1


# --------------------------------------------------------------------------------------------
# Public wrappers


def gls_power(
    lcs: LightCurves,
    grid: FrequencyGrid,
    *,
    nterms: int = 1,
    source_index: np.ndarray | None = None,
) -> Periodogram:
    """Standard-normalised (multi-harmonic, multiband) generalised Lomb–Scargle power.

    ``grid`` has one entry per segment, or per source when ``source_index`` groups segments
    into multiband sources (see the module docstring for the multiband model). ``nterms=1``
    uses the fast two-frequency kernel; ``nterms > 1`` solves the 2 nterms normal equations
    per frequency from harmonic sums built by the same recurrences.
    """
    if nterms < 1:
        raise ValueError("nterms must be >= 1")
    groups = source_groups(lcs.n_segments, source_index)
    if len(grid.n_frequencies) != len(groups) - 1:
        raise ValueError(
            f"grid has {len(grid.n_frequencies)} entries for {len(groups) - 1} sources"
        )
    out_offsets = grid.offsets
    power = np.empty(out_offsets[-1])
    args = (lcs.time, lcs.mag, lcs.err, lcs.offsets, groups, grid.minimum_frequency, grid.step)
    if nterms == 1:
        _gls_kernel(*args, grid.n_frequencies, out_offsets, power)
    else:
        _multiharmonic_kernel(*args, grid.n_frequencies, nterms, out_offsets, power)
    return Periodogram(grid, power)


def top_peaks(
    periodogram: Periodogram, k: int = 5, min_separation: float = 0.005, pool_factor: int = 16
) -> Peaks:
    """The ``k`` strongest local maxima of each grid, at least ``min_separation`` c/d apart.

    The separation keeps the yearly side lobes (±0.0027 c/d) of a strong peak out of the list,
    so the remaining slots hold genuinely different candidates (1 c/d aliases, harmonics).
    Selection is greedy by power among the ``pool_factor * k`` highest local maxima; the grid
    edges count as maxima so that the first entry is always the global maximum.
    """
    grid = periodogram.grid
    n = len(grid.n_frequencies)
    top = np.full((n, k), -1, dtype=np.int64)
    _top_peaks_kernel(
        periodogram.power,
        grid.offsets,
        grid.step,
        grid.n_frequencies,
        k,
        min_separation,
        max(pool_factor * k, 1),
        top,
    )
    found = top >= 0
    frequency = np.where(found, grid.minimum_frequency[:, None] + grid.step[:, None] * top, np.nan)
    power = np.full((n, k), np.nan)
    power[found] = periodogram.power[(grid.offsets[:-1, None] + top)[found]]
    return Peaks(frequency, power)


def refine_peak(
    lcs: LightCurves,
    frequency: np.ndarray,
    step: np.ndarray,
    *,
    nterms: int = 1,
    source_index: np.ndarray | None = None,
    oversampling: int = 10,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> RefinedPeak:
    """Sharpen coarse grid maxima: a local fine grid, then two parabolic steps.

    The exact power is evaluated on ``2 * oversampling + 1`` frequencies spanning ±1 coarse
    ``step`` around ``frequency``; from the fine maximum, twice: fit a parabola through the
    power at the current frequency ± h, move to its vertex, shrink h by ``oversampling``
    (h starts at ``step / oversampling``). The final frequency is kept if its exact power is
    not below the fine-grid maximum. Frequency errors end far below 1e-3 of a grid step (the
    statistical uncertainty is ~1 step for even the strongest signals). NaN stays NaN.

    ``bounds`` = (fmin, fmax) per row, the searched grid's edges: the result never leaves
    them, because a peak at the 1/T edge (a trend) would otherwise climb to periods longer
    than the data.
    """
    frequency = np.asarray(frequency, dtype=np.float64)
    ok = np.isfinite(frequency)
    rows = np.arange(len(frequency))
    step = np.broadcast_to(np.asarray(step, dtype=np.float64), frequency.shape)
    lower, upper = (-np.inf, np.inf) if bounds is None else bounds
    lower = np.broadcast_to(np.asarray(lower, dtype=np.float64), frequency.shape)
    upper = np.broadcast_to(np.asarray(upper, dtype=np.float64), frequency.shape)

    def evaluate(start: np.ndarray, spacing: np.ndarray, count: int) -> np.ndarray:
        grid = FrequencyGrid(
            np.where(ok, start, 0.0), np.where(ok, spacing, 0.0), np.where(ok, count, 0)
        )
        power = np.full((len(frequency), count), np.nan)
        power[ok] = gls_power(lcs, grid, nterms=nterms, source_index=source_index).power.reshape(
            -1, count
        )
        return power

    h = step / oversampling
    fine = evaluate(frequency - step, h, 2 * oversampling + 1)
    fine_grid = (frequency - step)[:, None] + h[:, None] * np.arange(2 * oversampling + 1)
    fine_grid[:, oversampling] = frequency  # the grid peak itself, inside by construction
    inside = (fine_grid >= lower[:, None]) & (fine_grid <= upper[:, None])
    best = np.argmax(np.where(inside, np.nan_to_num(fine, nan=-np.inf), -np.inf), axis=1)
    fine_f, fine_p = fine_grid[rows, best], fine[rows, best]
    center = fine_f
    for _ in range(2):
        left, mid, right = evaluate(center - h, h, 3).T
        curvature = left - 2.0 * mid + right
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = np.where(curvature < 0.0, 0.5 * (left - right) / curvature, 0.0)
        center = np.clip(center + h * np.clip(shift, -1.0, 1.0), lower, upper)
        h = h / oversampling
    final = evaluate(center, h, 1)[:, 0]
    keep = final >= fine_p
    return RefinedPeak(np.where(keep, center, fine_f), np.where(keep, final, fine_p))


def frequency_uncertainty(power: np.ndarray, n_obs: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """1-sigma frequency error (c/d) of a sinusoid in white noise (Montgomery & O'Donoghue 1999).

    ``sigma_f = sqrt(6 / N) * sigma_res / (pi * T * A)``. With the standard-normalised power
    ``p``, the fitted amplitude and residual scatter satisfy ``A**2 / 2 = p * s**2`` and
    ``sigma_res**2 = (1 - p) * s**2`` (``s**2`` the weighted variance; exact for even phase
    coverage), so ``sigma_f = sqrt(3 (1 - p) / (N p)) / (pi T)``. Divide by ``f**2`` for the
    period error.
    """
    power = np.asarray(power, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(3.0 * (1.0 - power) / (n_obs * power)) / (np.pi * baseline)


def alias_flags(
    frequency: np.ndarray,
    power: np.ndarray,
    peaks: Peaks,
    *,
    tolerance: float = 0.01,
    strong_fraction: float = 0.8,
) -> np.ndarray:
    """Bitmask per light curve marking a best frequency that may be an alias.

    Only "strong" other peaks count: entries of ``peaks`` (after the first, which is the best
    peak itself) with power >= ``strong_fraction * power``. Bits:

    - ``ALIAS_DAILY`` (1): ``|f - (g ± 1)| <= tolerance`` for a strong peak ``g``, i.e. the
      best frequency and another strong peak are each other's 1 c/d (daily-sampling) alias.
      The default 0.01 c/d covers both the solar (1) and sidereal (1.0027) day.
    - ``ALIAS_HALF_DOUBLE`` (2): ``|f - g / 2|`` or ``|f - 2 g| <= tolerance`` for a strong peak
      ``g``: the period may be half or double the true one (e.g. eclipsing binaries, RRab
      harmonics).
    """
    others = peaks.frequency[:, 1:]
    strong = peaks.power[:, 1:] >= strong_fraction * np.asarray(power)[:, None]
    f = np.asarray(frequency)[:, None]
    daily = strong & (np.abs(np.abs(f - others) - 1.0) <= tolerance)
    half_double = strong & (
        (np.abs(f - 0.5 * others) <= tolerance) | (np.abs(f - 2.0 * others) <= tolerance)
    )
    flags = np.where(daily.any(axis=1), ALIAS_DAILY, 0) | np.where(
        half_double.any(axis=1), ALIAS_HALF_DOUBLE, 0
    )
    return flags.astype(np.uint8)
