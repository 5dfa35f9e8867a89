"""Pre-whitening and the PS17 Blazhko frequency analysis (Jiang et al. 2025, Sect. 4.2).

Procedure per segment, following Prudil & Skarka (2017) as the paper applies it:

1. Fit f0 and its harmonics up to ``order * f0`` (default 10; the paper's "f0 and its first 10
   harmonics") at the given f0 by unweighted least squares (Period04, the paper's tool, fits
   unweighted) and take the residuals (mean subtracted).
2. Residual amplitude spectrum ``A(f) = (2/N) |sum_i r_i exp(-2 pi i f t_i)|`` (Deeming DFT;
   a sinusoid of semi-amplitude a gives a peak of height a) in the windows ``k f0 +- 0.3``
   c/d, k = 1, 2, on a grid of step ``1 / (oversample T)``.
3. S/N of every local maximum = its amplitude / the mean residual amplitude within +-1 c/d of
   it (Period04's default 2 c/d noise box), excluding the peak's own main lobe
   ``|f - f_peak| < 1.5/T``. The box is wide enough that one peak and its yearly aliases
   barely move the mean, and it is the same scale PS17 thresholds were set on. The noise
   spectrum uses a coarser grid (step ``1 / (noise_oversample T)``): a mean over ~4T
   frequencies needs no oversampling. The noise is never taken below ``sqrt(pi / N)`` times
   the rms error, the mean amplitude white noise of the quoted errors gives (our addition):
   the residuals of a noiseless synthetic curve are rounding, and their peaks have any S/N.
4. Peaks closer than ``1.5 / T`` to k f0 are unresolved. Class: **BL** if a resolved peak has
   S/N >= 4; else **cBL/PC** if any peak (resolved or not) has S/N >= 3.5 (this includes an
   unresolved peak >= 4, the period-change case); else **nBL**.
5. Instrumental exception: the paper labels nBL a star whose only significant (> 4 S/N)
   residual peak lies "around 2.005 c/d" -- an absolute frequency, twice the sidereal-day
   frequency (2 x 1.0027 c/d), which nightly ground-based sampling produces; PS17 attribute
   such peaks to instrumental effects. Peaks within ``instrumental_tolerance`` (0.005 c/d,
   the precision the value is quoted to) of any ``instrumental_frequencies`` never count for
   the class; ``instrumental_peak`` records that one with S/N >= 4 was seen.
6. Alias guards (our addition; the paper's authors inspected spectra and phased curves by
   eye, and rejected blended stars as REJ, which is not automated here). The OGLE spectral
   window has strong yearly/lunar/daily aliases, so a strong residual peak drags resolved
   aliases above S/N 4 with it. Before classifying: if the strongest residual is an
   instrumental peak with S/N >= 4 it is pre-whitened and the search repeated (at most
   twice); if the strongest residual is unresolved with S/N >= 3.5 (an inaccurate f0 or a
   period change), f0 is refitted once by nonlinear least squares started from that peak
   (``f0_fit``, ``f0_refitted``) and the search repeated; only what the refitted f0 leaves
   unresolved (``unresolved_snr``) counts for cBL/PC: before the refit it measured the error
   of the searched f0 (a clean sinusoid was called cBL/PC), a period change survives it.
   ``refit_unresolved=False`` gives the plain procedure.

The side peak reported (``peak_*``) is the one that decided the class (for nBL: the highest
S/N peak). The modulation frequency is ``|f_peak - k f0|``.

False alarms: on a long baseline the windows hold many independent frequencies (~1.2 T), so
noise alone often passes S/N 3.5 and sometimes 4. On the cadence of OGLE-BLG-RRLYR-02950
(1746 epochs over 6634 d) with Gaussian noise of its error bars and no modulation, 40
realisations gave 38 % nBL, 52 % cBL/PC and 10 % BL (OGLE-BLG-RRLYR-13534, 3598 epochs over
8221 d: 12 %, 68 %, 20 %). The thresholds are the paper's; treat cBL/PC and weak BL as
candidates.

Iterative pre-whitening (``n_prewhiten > 0``): the highest residual peak in the windows is
added to the model, all frequencies are refitted simultaneously (harmonics + extracted
frequencies) and the search repeats; the extracted frequencies, their fitted semi-amplitudes
and their S/N at extraction are returned.

The spectrum is computed with the angle-addition recurrence along the frequency grid (one
rotation per point and frequency, no sin/cos in the inner loop), re-seeded with direct sin/cos
every 2048 frequencies to bound round-off; cost ~N * N_freq multiply-adds. From
``NUFFT_MIN_POINTS`` epochs and ``NUFFT_MIN_TERMS`` point-frequency terms on, a type-1 NUFFT in
Numba computes the same spectrum (to ~1e-10 mag) for ~25 N + an FFT; it runs inside the
compiled kernel, where finufft cannot be called.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numba
import numpy as np
from numpy.typing import ArrayLike

from vsbatch.kernels.arrays import LightCurves, per_segment
from vsbatch.kernels.fourier import (
    TWO_PI,
    frac,
    model_value,
    refine_frequency,
    usable,
    wls_fit,
)
from vsbatch.kernels.status import KernelStatus

RESEED_EVERY = 2048


class BlazhkoClass(IntEnum):
    """PS17 classes of the frequency analysis (UNCLASSIFIED where ``status != 0``)."""

    UNCLASSIFIED = -1
    NBL = 0
    BL = 1
    CBL_PC = 2


BLAZHKO_CLASS_NAMES = {
    BlazhkoClass.UNCLASSIFIED: "unclassified",
    BlazhkoClass.NBL: "nBL",
    BlazhkoClass.BL: "BL",
    BlazhkoClass.CBL_PC: "cBL/PC",
}


# The spectrum is computed by NUFFT from this many points and point-frequency terms on (the
# measured break-evens of docs/performance.md: the FFT's cost does not fall with fewer points).
NUFFT_MIN_POINTS = 800
NUFFT_MIN_TERMS = 1_000_000
_NUFFT_HALF_WIDTH = 12  # grid points spread to on either side: Gaussian error ~1e-12
_NUFFT_OVERSAMPLE = 2.0


@numba.njit(cache=True)
def _dft_amplitude(t, y, f_start, df, out):
    """out[j] = (2/n) |sum_i y_i exp(-2 pi i (f_start + j df) t_i)|, by NUFFT when large."""
    if t.size >= NUFFT_MIN_POINTS and t.size * out.size >= NUFFT_MIN_TERMS:
        _nufft_amplitude(t, y, f_start, df, out)
    else:
        _direct_amplitude(t, y, f_start, df, out)


@numba.njit(cache=True)
def _fft(a):
    """In-place forward FFT (exp(-i)) of a complex array whose size is a power of two."""
    n = a.size
    j = 0
    for i in range(1, n):
        bit = n >> 1
        while j & bit:
            j ^= bit
            bit >>= 1
        j ^= bit
        if i < j:
            a[i], a[j] = a[j], a[i]
    length = 2
    while length <= n:
        half = length // 2
        tw = np.exp(-2j * np.pi * np.arange(half) / length)
        for start in range(0, n, length):
            for k in range(half):
                u = a[start + k]
                v = a[start + k + half] * tw[k]
                a[start + k] = u + v
                a[start + k + half] = u - v
        length *= 2


@numba.njit(cache=True)
def _nufft_amplitude(t, y, f_start, df, out):
    """The same spectrum as :func:`_direct_amplitude` by a type-1 NUFFT.

    Why: the direct sum costs n x n_freq; Gaussian gridding (Greengard & Lee 2004) spreads
    each point to 2 x 12 cells of an oversampled grid, one FFT gives the modes, and dividing by
    the Gaussian's transform undoes the spreading: ~25 n + a grid FFT. With x_i = 2 pi df t_i,
    modes k = j - m/2 and weights y_i exp(-2 pi i (f_start + m/2 df) t_i), mode k is output j.
    """
    n = t.size
    m = out.size + (out.size & 1)
    grid_size = 1
    while grid_size < _NUFFT_OVERSAMPLE * m or grid_size < 4 * _NUFFT_HALF_WIDTH:
        grid_size *= 2
    r = grid_size / m
    tau = np.pi * _NUFFT_HALF_WIDTH / (m * m * r * (r - 0.5))
    h = TWO_PI / grid_size
    grid = np.zeros(grid_size, dtype=np.complex128)
    f_mid = f_start + (m // 2) * df
    for i in range(n):
        x = TWO_PI * frac(df * t[i])
        ang = TWO_PI * frac(f_mid * t[i])
        c = y[i] * (np.cos(ang) - 1j * np.sin(ang))
        m0 = int(x / h)
        for off in range(-_NUFFT_HALF_WIDTH + 1, _NUFFT_HALF_WIDTH + 1):
            d = x - (m0 + off) * h
            grid[(m0 + off) % grid_size] += c * np.exp(-d * d / (4.0 * tau))
    _fft(grid)
    scale = np.sqrt(np.pi / tau) / grid_size
    for j in range(out.size):
        k = j - m // 2
        amp = abs(grid[k % grid_size]) * scale * np.exp(k * k * tau)
        out[j] = 2.0 / n * amp


@numba.njit(cache=True, fastmath=True)
def _direct_amplitude(t, y, f_start, df, out):
    """out[j] = (2/n) |sum_i y_i exp(-2 pi i (f_start + j df) t_i)| by recurrence over j."""
    n = t.size
    c = np.empty(n)
    s = np.empty(n)
    cd = np.empty(n)
    sd = np.empty(n)
    for i in range(n):
        ang = TWO_PI * frac(df * t[i])
        cd[i] = np.cos(ang)
        sd[i] = np.sin(ang)
    for j0 in range(0, out.size, RESEED_EVERY):
        f = f_start + j0 * df
        for i in range(n):
            ang = TWO_PI * frac(f * t[i])
            c[i] = np.cos(ang)
            s[i] = np.sin(ang)
        for j in range(j0, min(j0 + RESEED_EVERY, out.size)):
            re = 0.0
            im = 0.0
            for i in range(n):
                ci = c[i]
                si = s[i]
                re += y[i] * ci
                im += y[i] * si
                c[i] = ci * cd[i] - si * sd[i]
                s[i] = si * cd[i] + ci * sd[i]
            out[j] = 2.0 / n * np.sqrt(re * re + im * im)


@numba.njit(cache=True)
def _compact(time, mag, err, lo, hi, use, tt, yy):
    """Mark usable epochs; copy them (time centred on the mid-span) into tt, yy.

    Returns (n, t_centre, span).
    """
    n = 0
    t_min = np.inf
    t_max = -np.inf
    for i in range(lo, hi):
        use[i] = usable(time[i], mag[i], err[i])
        if use[i]:
            t_min = min(t_min, time[i])
            t_max = max(t_max, time[i])
            yy[n] = mag[i]
            tt[n] = time[i]
            n += 1
    t_c = 0.5 * (t_min + t_max)
    for j in range(n):
        tt[j] -= t_c
    return n, t_c, t_max - t_min


@numba.njit(cache=True)
def _spectrum_kernel(time, mag, err, offsets, f_start, df, out, status):
    use = np.empty(time.size, dtype=np.bool_)
    for s in range(offsets.size - 1):
        lo, hi = offsets[s], offsets[s + 1]
        tt = np.empty(hi - lo)
        yy = np.empty(hi - lo)
        n, _, _ = _compact(time, mag, err, lo, hi, use, tt, yy)
        if n < 1:
            status[s] = KernelStatus.TOO_FEW_POINTS
            out[s, :] = np.nan
            continue
        status[s] = KernelStatus.OK
        yy[:n] -= yy[:n].mean()
        _dft_amplitude(tt[:n], yy[:n], f_start[s], df[s], out[s])


@numba.njit(cache=True)
def _noise(fp, fc0, dfc, nc, csum, halfwidth, excl):
    """Mean coarse-grid amplitude within +-halfwidth of fp, excluding |f - fp| < excl."""
    j_lo = max(0, int(np.ceil((fp - halfwidth - fc0) / dfc)))
    j_hi = min(nc - 1, int(np.floor((fp + halfwidth - fc0) / dfc)))
    e_lo = max(j_lo, int(np.floor((fp - excl - fc0) / dfc)) + 1)
    e_hi = min(j_hi, int(np.ceil((fp + excl - fc0) / dfc)) - 1)
    total = csum[j_hi + 1] - csum[j_lo]
    count = j_hi - j_lo + 1
    if e_hi >= e_lo:
        total -= csum[e_hi + 1] - csum[e_lo]
        count -= e_hi - e_lo + 1
    return total / count if count > 0 else np.nan


# Columns of a peak record: frequency, harmonic k, |f - k f0|, amplitude, noise, S/N, resolved.
_P_F, _P_K, _P_FMOD, _P_AMP, _P_NOISE, _P_SNR, _P_RES = range(7)
_N_PEAK = 7
# Rows of the records filled by _scan (instrumental peaks are only in the last row).
_R_RES, _R_UNRES, _R_HIGH, _R_INSTR = 0, 1, 2, 3
# Entries of the search configuration array.
_G_HALF, _G_OVER, _G_NHALF, _G_NOVER, _G_RESF, _G_ITOL, _G_SNR_BL, _G_SNR_CBL = range(8)
# Instrumental peaks pre-whitened at most before classifying (f0 is refitted at most once).
MAX_INSTRUMENTAL_REMOVALS = 2


@numba.njit(cache=True)
def _scan(tt, yy, f0, span, n_harm, cfg, instr, recs):
    """Residual spectra around k f0 (k = 1..n_harm); fill ``recs`` with the best resolved and
    unresolved peaks (by S/N) and the highest-amplitude peak, instrumental ones excluded, and
    the highest instrumental peak."""
    halfwidth = cfg[_G_HALF]
    noise_halfwidth = cfg[_G_NHALF]
    resolution = cfg[_G_RESF] / span
    dff = 1.0 / (cfg[_G_OVER] * span)
    dfc = 1.0 / (cfg[_G_NOVER] * span)
    fc0 = max(0.0, f0 - halfwidth - noise_halfwidth)
    nc = int((n_harm * f0 + halfwidth + noise_halfwidth - fc0) / dfc) + 1
    coarse = np.empty(nc)
    _dft_amplitude(tt, yy, fc0, dfc, coarse)
    csum = np.zeros(nc + 1)
    for j in range(nc):
        csum[j + 1] = csum[j] + coarse[j]
    nf = int(2.0 * halfwidth / dff) + 1
    fine = np.empty(nf)
    recs[:, :] = np.nan
    for k in range(1, n_harm + 1):
        f_lo = k * f0 - halfwidth
        _dft_amplitude(tt, yy, f_lo, dff, fine)
        for j in range(1, nf - 1):
            a = fine[j]
            if not (a > fine[j - 1] and a >= fine[j + 1]):
                continue
            fp = f_lo + j * dff
            noise = _noise(fp, fc0, dfc, nc, csum, noise_halfwidth, resolution)
            snr = a / noise
            fmod = abs(fp - k * f0)
            resolved = fmod >= resolution
            is_instr = False
            for fi in instr:
                is_instr |= abs(fp - fi) <= cfg[_G_ITOL]
            for r in (_R_RES, _R_UNRES, _R_HIGH, _R_INSTR):
                if r == _R_INSTR:
                    better = is_instr and not recs[r, _P_AMP] >= a
                elif r == _R_HIGH:
                    better = not is_instr and not recs[r, _P_AMP] >= a
                else:
                    mine = resolved == (r == _R_RES)
                    better = not is_instr and mine and not recs[r, _P_SNR] >= snr
                if better:
                    recs[r, _P_F] = fp
                    recs[r, _P_K] = k
                    recs[r, _P_FMOD] = fmod
                    recs[r, _P_AMP] = a
                    recs[r, _P_NOISE] = noise
                    recs[r, _P_SNR] = snr
                    recs[r, _P_RES] = resolved


@numba.njit(cache=True)
def _error_noise(err, use, lo, hi):
    """Mean residual amplitude that white noise of the quoted errors gives: sqrt(pi / N) rms."""
    n = 0
    total = 0.0
    for i in range(lo, hi):
        if use[i]:
            n += 1
            total += err[i] * err[i]
    return np.sqrt(np.pi * total) / n if n > 0 else 0.0


@numba.njit(cache=True)
def _floor_noise(recs, floor):
    """Measure S/N against at least the error noise: residuals of a noiseless (or overfitted)
    light curve are rounding, whose tiny peaks would otherwise pass any S/N threshold."""
    for r in range(recs.shape[0]):
        if recs[r, _P_NOISE] < floor:
            recs[r, _P_NOISE] = floor
            recs[r, _P_SNR] = recs[r, _P_AMP] / floor


# Columns of the per-segment float output of _blazhko_kernel.
_C_SPAN, _C_F0, _C_F, _C_K, _C_FMOD, _C_AMP, _C_NOISE, _C_SNR, _C_RES, _C_PC_SNR = range(10)
_N_FLOAT = 10
_I_STATUS, _I_CLASS, _I_INSTR, _I_N, _I_REFIT = 0, 1, 2, 3, 4
_N_INT = 5


@numba.njit(cache=True)
def _blazhko_kernel(
    time, mag, err, offsets, f0s, order, min_dof, n_harm, cfg, instr, refit, n_prewhiten,
    out_f, out_i, out_x,
):  # fmt: skip
    use = np.empty(time.size, dtype=np.bool_)
    recs = np.empty((4, _N_PEAK))
    pc = np.empty(_N_PEAK)
    n_extra_max = MAX_INSTRUMENTAL_REMOVALS + n_prewhiten
    pmax = 2 * order + 2 + 2 * n_extra_max
    coef = np.empty(pmax)
    cov = np.empty((pmax, pmax))
    row = np.empty(pmax)
    extra = np.empty(n_extra_max)
    base = 2 * order + 1
    for s in range(offsets.size - 1):
        lo, hi = offsets[s], offsets[s + 1]
        out_f[s, :] = np.nan
        out_i[s, :] = 0
        out_i[s, _I_CLASS] = BlazhkoClass.UNCLASSIFIED
        out_x[s, :, :] = np.nan
        f_fit = f0s[s]
        tt = np.empty(hi - lo)
        yy = np.empty(hi - lo)
        n, t_c, span = _compact(time, mag, err, lo, hi, use, tt, yy)
        out_i[s, _I_N] = n
        if not (np.isfinite(f_fit) and f_fit > 0.0):
            out_i[s, _I_STATUS] = KernelStatus.BAD_FREQUENCY
            continue
        if n < 2 * order + 1 + min_dof or not span > 0.0:
            out_i[s, _I_STATUS] = KernelStatus.TOO_FEW_POINTS
            continue
        out_f[s, _C_SPAN] = span
        noise_floor = _error_noise(err, use, lo, hi)
        n_instr = 0  # instrumental frequencies removed (first entries of extra)
        n_pw = 0  # frequencies removed by iterative pre-whitening (after them)
        pc[:] = np.nan
        instrumental = False
        refitted = False
        classified = False
        while True:
            n_ex = n_instr + n_pw
            ok, _, _ = wls_fit(
                time, mag, err, use, lo, hi, False, t_c, f_fit, order, extra[:n_ex], coef, cov
            )
            if not ok:
                if not classified:
                    out_i[s, _I_STATUS] = KernelStatus.SINGULAR
                break
            for e in range(n_pw):
                col = base + 2 * (n_instr + e)
                out_x[s, 1, e] = np.hypot(coef[col], coef[col + 1])
            if classified and n_pw == n_prewhiten:
                break
            j = 0
            for i in range(lo, hi):
                if use[i]:
                    yy[j] = mag[i] - model_value(
                        time[i] - t_c, f_fit, order, extra[:n_ex], coef, row
                    )
                    j += 1
            yy[:n] -= yy[:n].mean()
            _scan(tt[:n], yy[:n], f_fit, span, n_harm, cfg, instr, recs)
            _floor_noise(recs, noise_floor)
            high = recs[_R_HIGH]
            if not classified:
                ins = recs[_R_INSTR]
                instrumental |= ins[_P_SNR] >= cfg[_G_SNR_BL]
                if (
                    ins[_P_SNR] >= cfg[_G_SNR_BL]
                    and not high[_P_AMP] > ins[_P_AMP]
                    and n_instr < MAX_INSTRUMENTAL_REMOVALS
                ):
                    # The strongest residual is instrumental: remove it so that its aliases
                    # are not taken for side peaks, then search again.
                    extra[n_instr] = ins[_P_F]
                    n_instr += 1
                    continue
                if not pc[_P_SNR] >= recs[_R_UNRES, _P_SNR]:
                    pc[:] = recs[_R_UNRES]
                if (
                    refit
                    and not refitted
                    and high[_P_RES] == 0.0
                    and high[_P_SNR] >= cfg[_G_SNR_CBL]
                ):
                    # The strongest residual is unresolved from k f0 (period change or an
                    # inaccurate f0); its aliases would pass for resolved side peaks. Refit f0
                    # from that peak and search the new residuals for resolved peaks.
                    refitted = True
                    f_start = high[_P_F] / high[_P_K]
                    ok, f_new, _ = refine_frequency(
                        time, mag, err, use, lo, hi, False, f_start, order, t_c, coef, cov
                    )
                    if ok:
                        # Only what the refitted f0 leaves unresolved is period-change
                        # evidence; before, it was the searched f0's error.
                        f_fit = f_new
                        pc[:] = np.nan
                        continue
                best = recs[_R_RES]
                if best[_P_SNR] >= cfg[_G_SNR_BL]:
                    cls = BlazhkoClass.BL
                    peak = best
                else:
                    peak = pc if not best[_P_SNR] >= pc[_P_SNR] else best
                    cls = (
                        BlazhkoClass.CBL_PC if peak[_P_SNR] >= cfg[_G_SNR_CBL] else BlazhkoClass.NBL
                    )
                out_i[s, _I_CLASS] = cls
                out_i[s, _I_INSTR] = instrumental
                out_i[s, _I_REFIT] = refitted and f_fit != f0s[s]
                out_f[s, _C_F0] = f_fit
                out_f[s, _C_F] = peak[_P_F]
                out_f[s, _C_K] = peak[_P_K]
                out_f[s, _C_FMOD] = peak[_P_FMOD]
                out_f[s, _C_AMP] = peak[_P_AMP]
                out_f[s, _C_NOISE] = peak[_P_NOISE]
                out_f[s, _C_SNR] = peak[_P_SNR]
                out_f[s, _C_RES] = peak[_P_RES]
                out_f[s, _C_PC_SNR] = pc[_P_SNR]
                classified = True
            if n_pw == n_prewhiten or np.isnan(high[_P_F]):
                break
            extra[n_instr + n_pw] = high[_P_F]
            out_x[s, 0, n_pw] = high[_P_F]
            out_x[s, 2, n_pw] = high[_P_SNR]
            n_pw += 1


# ----------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class AmplitudeSpectrum:
    """Per-segment DFT amplitude spectra on the grids ``f_start + j df`` (c/d, mag)."""

    frequency: np.ndarray  # (n_segments, n_freq)
    amplitude: np.ndarray  # (n_segments, n_freq), NaN where status != 0
    status: np.ndarray  # int8, KernelStatus


@dataclass(frozen=True)
class BlazhkoAnalysis:
    """Per-segment PS17 frequency analysis; see the module docstring for the procedure.

    ``peak_*`` describe the residual peak that decided the class; NaN where none was found or
    ``status != 0``. ``extra_*`` (shape (n_segments, n_prewhiten)) are the frequencies removed
    by iterative pre-whitening, their semi-amplitudes in the final simultaneous fit and their
    S/N when extracted.
    """

    status: np.ndarray  # int8, KernelStatus
    bl_class: np.ndarray  # int8, BlazhkoClass; names in BLAZHKO_CLASS_NAMES
    n_used: np.ndarray  # int32, usable epochs
    time_span: np.ndarray  # T, days
    peak_frequency: np.ndarray  # f_BL, c/d
    peak_harmonic: np.ndarray  # k of the window k f0 +- 0.3 holding the peak (float, NaN-able)
    modulation_frequency: np.ndarray  # |f_BL - k f0| (f0 as fitted: f0_fit), c/d
    modulation_period: np.ndarray  # 1 / modulation_frequency, days
    peak_amplitude: np.ndarray  # mag
    peak_noise: np.ndarray  # mean residual amplitude in the noise box, mag
    peak_snr: np.ndarray
    peak_resolved: np.ndarray  # bool: |f_BL - k f0| >= 1.5 / T
    instrumental_peak: np.ndarray  # bool: an S/N >= 4 peak near 2.005 c/d was seen (not counted)
    unresolved_snr: np.ndarray  # highest S/N of a peak unresolved from k f0 (PC evidence)
    f0_fit: np.ndarray  # c/d: f0, or the refitted f0 where f0_refitted
    f0_refitted: np.ndarray  # bool: f0 was refitted from an unresolved peak (see module doc)
    extra_frequency: np.ndarray
    extra_amplitude: np.ndarray
    extra_snr: np.ndarray


def amplitude_spectrum(
    lcs: LightCurves, f_start: ArrayLike, df: ArrayLike, n_freq: int
) -> AmplitudeSpectrum:
    """DFT amplitude spectrum ``(2/N)|sum (m - mean) exp(-2 pi i f t)|`` of every segment.

    Why: pre-whitening works on residual amplitude spectra; this public form (on the
    magnitudes) lets notebooks and tests look at the same kernel. ``f_start`` and ``df`` are
    scalars or per segment; every segment gets ``n_freq`` frequencies.
    """
    n = lcs.n_segments
    f_start = per_segment(f_start, n, "f_start")
    df = per_segment(df, n, "df")
    out = np.empty((n, n_freq))
    status = np.empty(n, dtype=np.int8)
    _spectrum_kernel(lcs.time, lcs.mag, lcs.err, lcs.offsets, f_start, df, out, status)
    freq = f_start[:, None] + np.arange(n_freq)[None, :] * df[:, None]
    return AmplitudeSpectrum(frequency=freq, amplitude=out, status=status)


def analysis_frequencies(
    f0: ArrayLike,
    span: ArrayLike,
    *,
    search_harmonics: int = 2,
    search_halfwidth: float = 0.3,
    noise_halfwidth: float = 1.0,
    oversample: float = 10.0,
    noise_oversample: float = 2.0,
) -> np.ndarray:
    """Frequencies :func:`blazhko_analysis` evaluates for each f0 and time span (its coarse
    noise spectrum plus one fine window).

    Why: the noise spectrum runs from 0 to ``search_harmonics * f0``, so a catalogue period of
    1e-7 d asks for terabytes; callers bound this before the kernel allocates.
    """
    f0 = np.asarray(f0, dtype=np.float64)
    span = np.asarray(span, dtype=np.float64)
    low = np.maximum(0.0, f0 - search_halfwidth - noise_halfwidth)
    with np.errstate(invalid="ignore", over="ignore"):
        coarse = (search_harmonics * f0 + search_halfwidth + noise_halfwidth - low) * (
            noise_oversample * span
        )
        fine = 2.0 * search_halfwidth * oversample * span
        return np.nan_to_num(coarse + fine + 2, nan=0.0, posinf=np.inf)


def blazhko_analysis(
    lcs: LightCurves,
    f0: ArrayLike,
    *,
    order: int = 10,
    search_halfwidth: float = 0.3,
    search_harmonics: int = 2,
    snr_bl: float = 4.0,
    snr_cbl: float = 3.5,
    resolution_factor: float = 1.5,
    noise_halfwidth: float = 1.0,
    oversample: float = 10.0,
    noise_oversample: float = 2.0,
    instrumental_frequencies: Sequence[float] = (2.005,),
    instrumental_tolerance: float = 0.005,
    refit_unresolved: bool = True,
    n_prewhiten: int = 0,
    min_dof: int = 10,
) -> BlazhkoAnalysis:
    """Classify every segment as BL / nBL / cBL-PC by the PS17 frequency analysis.

    Why: these are the labels the Blazhko CNN is trained and validated on (the paper
    re-classified its MC sample this way). ``f0`` (c/d) is the catalogue pulsation frequency,
    scalar or per segment. A segment needs ``2 order + 1 + min_dof`` usable epochs.
    """
    n = lcs.n_segments
    out_f = np.empty((n, _N_FLOAT))
    out_i = np.empty((n, _N_INT), dtype=np.int64)
    out_x = np.empty((n, 3, n_prewhiten))
    cfg = np.array(
        [search_halfwidth, oversample, noise_halfwidth, noise_oversample, resolution_factor,
         instrumental_tolerance, snr_bl, snr_cbl], dtype=np.float64
    )  # fmt: skip
    instr = np.asarray(instrumental_frequencies, dtype=np.float64).reshape(-1)
    _blazhko_kernel(
        lcs.time, lcs.mag, lcs.err, lcs.offsets, per_segment(f0, n, "f0"), int(order),
        int(min_dof), int(search_harmonics), cfg, instr, bool(refit_unresolved),
        int(n_prewhiten), out_f, out_i, out_x,
    )  # fmt: skip
    fmod = out_f[:, _C_FMOD]
    with np.errstate(divide="ignore"):
        pmod = 1.0 / fmod
    return BlazhkoAnalysis(
        status=out_i[:, _I_STATUS].astype(np.int8),
        bl_class=out_i[:, _I_CLASS].astype(np.int8),
        n_used=out_i[:, _I_N].astype(np.int32),
        time_span=out_f[:, _C_SPAN],
        peak_frequency=out_f[:, _C_F],
        peak_harmonic=out_f[:, _C_K],
        modulation_frequency=fmod,
        modulation_period=pmod,
        peak_amplitude=out_f[:, _C_AMP],
        peak_noise=out_f[:, _C_NOISE],
        peak_snr=out_f[:, _C_SNR],
        peak_resolved=out_f[:, _C_RES] == 1.0,
        instrumental_peak=out_i[:, _I_INSTR].astype(bool),
        unresolved_snr=out_f[:, _C_PC_SNR],
        f0_fit=out_f[:, _C_F0],
        f0_refitted=out_i[:, _I_REFIT].astype(bool),
        extra_frequency=out_x[:, 0],
        extra_amplitude=out_x[:, 1],
        extra_snr=out_x[:, 2],
    )
