"""Alias-aware period choice: periodogram peaks and their aliases refitted by least squares.

A periodogram's highest peak on sparse survey cadences is often an alias of the true
frequency (f +- 1 c/d from nightly sampling, f +- 1/yr from seasons, 2f or f/2 for a
symmetric light curve). One sinusoid cannot tell them apart; a multi-harmonic shape often
can, because the harmonics of an alias land elsewhere. So every candidate (each peak and its
aliases, deduplicated) is refitted with the multiband model of VanderPlas & Ivezić (2015)::

    m_b(t) = c_b + sum_{h<=n_base} base_h(f, t) + sum_{h<=n_band} band_{b,h}(f, t)

(per-band offsets ``c_b``; base Fourier terms shared by all bands; band terms per band, with a
Tikhonov penalty ``ridge * sum(w_b)`` on their normal equations when base terms exist, so they
only absorb what the shared shape cannot). The frequency is refined locally around each
candidate, then models of order 1..max (order m: min(m, n_base) base and min(m, n_band) band
harmonics) are compared by BIC = chi2 + k ln N at the refined frequency. The candidate with the
lowest BIC wins; the runner-up is the best candidate at least one peak width (1/T) away.

Weights are 1/err**2, with ``error_floor`` added to err in quadrature: a few harmonics leave
systematic residuals of a few hundredths of a magnitude on a well-measured RR Lyrae, and
without a floor its brightest epochs decide between aliases by that misfit alone. chi2 is the
weighted sum of squared residuals of the data (penalty excluded), summed over the bands.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.fourier import solve_spd
from vsbatch.kernels.periodogram import group_baseline, source_groups

DAYS_PER_YEAR = 365.25
ALIAS_SHIFTS = (1.0, -1.0, 1.0 / DAYS_PER_YEAR, -1.0 / DAYS_PER_YEAR)  # c/d added to f
ALIAS_FACTORS = (2.0, 0.5)  # f multiplied


@dataclass(frozen=True)
class Candidates:
    """Candidate frequencies (c/d) of every source, flat with offsets (length n + 1)."""

    frequency: np.ndarray
    offsets: np.ndarray


@dataclass(frozen=True)
class ModelSpec:
    """The refit model: shared base and per-band harmonics, band-term ridge, local search."""

    n_base: int = 0
    n_band: int = 3
    ridge: float = 0.0
    refine_steps: int = 3  # local grid of 2 * refine_steps + 1 points ...
    refine_spacing: float = 0.5  # ... this many grid steps apart, then a parabola
    error_floor: float = 0.0  # mag added in quadrature to the errors of the refit


@dataclass(frozen=True)
class Choice:
    """Per source: the chosen frequency, the runner-up and their scores (see module doc)."""

    frequency: np.ndarray  # (n,) c/d, NaN without candidates
    chi2: np.ndarray  # (n,) data chi2 of the chosen model
    order: np.ndarray  # (n,) harmonic order chosen by BIC
    frequency_2nd: np.ndarray  # (n,) runner-up at least 1/T away; NaN if none
    delta_bic: np.ndarray  # (n,) BIC of the runner-up minus BIC of the chosen (>= 0)


def alias_candidates(
    peaks: np.ndarray, minimum: np.ndarray, maximum: np.ndarray, tolerance: np.ndarray
) -> Candidates:
    """Each finite peak frequency (row i of ``peaks``) and its aliases inside
    [minimum[i], maximum[i]], sorted, dropping those within ``tolerance[i]`` of the previous."""
    peaks = np.atleast_2d(np.asarray(peaks, dtype=np.float64))
    n = peaks.shape[0]
    expanded = [peaks] + [peaks + s for s in ALIAS_SHIFTS] + [peaks * m for m in ALIAS_FACTORS]
    freq = np.concatenate(expanded, axis=1)
    source = np.broadcast_to(np.arange(n)[:, None], freq.shape)
    ok = np.isfinite(freq) & (freq >= minimum[:, None]) & (freq <= maximum[:, None])
    freq, source = freq[ok], source[ok]
    order = np.lexsort((freq, source))
    freq, source = freq[order], source[order]
    keep = np.ones(len(freq), dtype=bool)
    same = source[1:] == source[:-1]
    keep[1:] = ~same | (np.diff(freq) > tolerance[source[1:]])
    freq, source = freq[keep], source[keep]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(source, minlength=n), out=offsets[1:])
    return Candidates(freq, offsets)


@numba.njit(cache=True)
def _n_params(n_bands, n_base, n_band):
    return n_bands + 2 * n_base + 2 * n_band * n_bands


@numba.njit(cache=True)
def _row(t, f, band, n_bands, n_base, n_band, idx, val):
    """Non-zero columns of one epoch's design row; returns their count."""
    idx[0], val[0] = band, 1.0
    c1, s1 = np.cos(2.0 * np.pi * f * t), np.sin(2.0 * np.pi * f * t)
    c, s = c1, s1
    k = 1
    band_col = n_bands + 2 * n_base + 2 * n_band * band
    for h in range(max(n_base, n_band)):
        if h < n_base:
            idx[k], val[k], idx[k + 1], val[k + 1] = n_bands + 2 * h, c, n_bands + 2 * h + 1, s
            k += 2
        if h < n_band:
            idx[k], val[k], idx[k + 1], val[k + 1] = band_col + 2 * h, c, band_col + 2 * h + 1, s
            k += 2
        c, s = c * c1 - s * s1, s * c1 + c * s1
    return k


@numba.njit(cache=True)
def _chi2(time, mag, err, offsets, g0, g1, t_ref, f, n_base, n_band, ridge):
    """Data chi2 of the (ridge-penalised) least-squares multiband fit at frequency ``f``."""
    n_bands = g1 - g0
    p = _n_params(n_bands, n_base, n_band)
    ata, atb = np.zeros((p, p)), np.zeros(p)
    x, cov = np.zeros(p), np.zeros((p, p))
    idx, val = np.zeros(1 + 2 * (n_base + n_band), np.int64), np.zeros(1 + 2 * (n_base + n_band))
    for b in range(n_bands):
        sw = 0.0
        for i in range(offsets[g0 + b], offsets[g0 + b + 1]):
            w = 1.0 / (err[i] * err[i])
            sw += w
            k = _row(time[i] - t_ref, f, b, n_bands, n_base, n_band, idx, val)
            for a in range(k):
                atb[idx[a]] += w * val[a] * mag[i]
                for c in range(k):
                    if idx[c] <= idx[a]:
                        ata[idx[a], idx[c]] += w * val[a] * val[c]
        if n_base > 0:
            col = n_bands + 2 * n_base + 2 * n_band * b
            for j in range(2 * n_band):
                ata[col + j, col + j] += ridge * sw
    if not solve_spd(ata, atb, p, x, cov):
        return np.inf
    chi2 = 0.0
    for b in range(n_bands):
        for i in range(offsets[g0 + b], offsets[g0 + b + 1]):
            k = _row(time[i] - t_ref, f, b, n_bands, n_base, n_band, idx, val)
            r = mag[i]
            for a in range(k):
                r -= val[a] * x[idx[a]]
            chi2 += r * r / (err[i] * err[i])
    return chi2


@numba.njit(cache=True)
def _refine(time, mag, err, offsets, g0, g1, t_ref, f0, spacing, steps, n_base, n_band, ridge):
    """Lowest chi2 on a local grid around ``f0``, improved by a parabola through its
    neighbours; returns (frequency, chi2)."""
    n = 2 * steps + 1
    values = np.empty(n)
    for j in range(n):
        f = f0 + (j - steps) * spacing
        values[j] = _chi2(time, mag, err, offsets, g0, g1, t_ref, f, n_base, n_band, ridge)
    j = np.argmin(values)
    best_f, best = f0 + (j - steps) * spacing, values[j]
    if 0 < j < n - 1:
        lo, hi = values[j - 1], values[j + 1]
        curve = lo - 2.0 * best + hi
        if curve > 0.0 and np.isfinite(curve):
            f = best_f + 0.5 * spacing * (lo - hi) / curve
            v = _chi2(time, mag, err, offsets, g0, g1, t_ref, f, n_base, n_band, ridge)
            if v < best:
                best_f, best = f, v
    return best_f, best


@numba.njit(cache=True)
def _candidates_kernel(
    time, mag, err, offsets, groups, cand, cand_offsets, step, spec, out_f, out_chi2, out_bic,
    out_order,
):  # fmt: skip
    n_base, n_band, ridge, steps, spacing = spec
    n_base, n_band, steps = int(n_base), int(n_band), int(steps)
    for s in range(groups.size - 1):
        g0, g1 = groups[s], groups[s + 1]
        t_ref, n_obs = np.inf, offsets[g1] - offsets[g0]
        for b in range(g0, g1):
            if offsets[b + 1] > offsets[b]:
                t_ref = min(t_ref, time[offsets[b]])
        for c in range(cand_offsets[s], cand_offsets[s + 1]):
            f, chi2 = _refine(
                time, mag, err, offsets, g0, g1, t_ref, cand[c], spacing * step[s], steps,
                n_base, n_band, ridge,
            )  # fmt: skip
            out_f[c], out_bic[c], out_chi2[c], out_order[c] = f, np.inf, chi2, 0
            for m in range(1, max(n_base, n_band) + 1):
                nb, nd = min(m, n_base), min(m, n_band)
                if nb == n_base and nd == n_band:
                    v = chi2
                else:
                    v = _chi2(time, mag, err, offsets, g0, g1, t_ref, f, nb, nd, ridge)
                bic = v + (_n_params(g1 - g0, nb, nd) + 1) * np.log(n_obs)
                if bic < out_bic[c]:
                    out_bic[c], out_chi2[c], out_order[c] = bic, v, m


def choose_frequency(
    lcs: LightCurves,
    candidates: Candidates,
    step: np.ndarray,
    spec: ModelSpec = ModelSpec(),
    source_index: np.ndarray | None = None,
) -> Choice:
    """Refit every candidate of every source (``source_index`` groups bands, as in
    ``vsbatch.kernels.periodogram``) and choose by BIC; ``step`` is each source's grid step."""
    groups = source_groups(lcs.n_segments, source_index)
    m = len(candidates.frequency)
    out_f, out_chi2, out_bic = np.full(m, np.nan), np.full(m, np.nan), np.full(m, np.inf)
    out_order = np.zeros(m, dtype=np.int64)
    packed = np.array(
        [spec.n_base, spec.n_band, spec.ridge, spec.refine_steps, spec.refine_spacing], float
    )
    err = np.sqrt(lcs.err**2 + spec.error_floor**2) if spec.error_floor else lcs.err
    _candidates_kernel(
        lcs.time, lcs.mag, err, lcs.offsets, groups, candidates.frequency,
        candidates.offsets, np.asarray(step, float), packed, out_f, out_chi2, out_bic, out_order,
    )  # fmt: skip
    return _pick(
        candidates.offsets, out_f, out_chi2, out_bic, out_order, group_baseline(lcs, groups)
    )


def _pick(offsets, freq, chi2, bic, order, baseline) -> Choice:
    """Per source, the lowest-BIC candidate and the best one at least 1/T away from it."""
    n = len(offsets) - 1
    best_f, best_chi2, second_f, delta = (np.full(n, np.nan) for _ in range(4))
    best_order = np.zeros(n, dtype=np.int16)
    for s in range(n):
        lo, hi = offsets[s], offsets[s + 1]
        score = bic[lo:hi]
        if hi == lo or not np.isfinite(score).any():
            continue
        best = int(np.argmin(score))
        best_f[s], best_chi2[s], best_order[s] = freq[lo + best], chi2[lo + best], order[lo + best]
        far = np.abs(freq[lo:hi] - best_f[s]) >= 1.0 / baseline[s]
        if np.isfinite(score[far]).any():
            second = int(np.flatnonzero(far)[np.argmin(score[far])])
            second_f[s], delta[s] = freq[lo + second], score[second] - score[best]
    return Choice(best_f, best_chi2, best_order, second_f, delta)


@numba.njit(cache=True)
def _power_kernel(time, mag, err, offsets, groups, frequency, out):
    for s in range(groups.size - 1):
        g0, g1 = groups[s], groups[s + 1]
        if not np.isfinite(frequency[s]) or offsets[g1] == offsets[g0]:
            continue
        t_ref = np.inf
        for b in range(g0, g1):
            if offsets[b + 1] > offsets[b]:
                t_ref = min(t_ref, time[offsets[b]])
        ref = _chi2(time, mag, err, offsets, g0, g1, t_ref, 0.0, 0, 0, 0.0)
        fit = _chi2(time, mag, err, offsets, g0, g1, t_ref, frequency[s], 1, 0, 0.0)
        out[s] = 1.0 - fit / ref if ref > 0.0 else np.nan


def sinusoid_power(
    lcs: LightCurves, frequency: np.ndarray, source_index: np.ndarray | None = None
) -> np.ndarray:
    """Standard-normalised generalised Lomb-Scargle power at one frequency per source (the
    multiband one, per-band offsets, with ``source_index``): the power the Baluev FAP and
    period error need at a chosen frequency that need not be the periodogram's best."""
    groups = source_groups(lcs.n_segments, source_index)
    out = np.full(len(groups) - 1, np.nan)
    _power_kernel(
        lcs.time, lcs.mag, lcs.err, lcs.offsets, groups, np.asarray(frequency, float), out
    )
    return out
