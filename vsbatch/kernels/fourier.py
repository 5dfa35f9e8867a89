"""Phase folding and weighted Fourier-series fits of many light curves in one compiled call.

Model (Jiang et al. 2025 Eq. 4; the convention of DESIGN.md)::

    m(t) = A0 + sum_{k=1..K} A_k cos(2 pi k f (t - t0) + phi_k),   phase = frac(f (t - t0))

fitted by weighted linear least squares (weights 1/err**2) in the equivalent linear form
``A0 + sum a_k cos(k theta) + b_k sin(k theta)``, so ``a_k = A_k cos phi_k`` and
``b_k = -A_k sin phi_k``. ``R_k1 = A_k / A_1`` and ``phi_k1 = phi_k - k phi_1`` wrapped to
[0, 2 pi). The OGLE catalogs use this same cosine convention: on the five OGLE-III bulge RRab
of the shared test data our phi21/phi31 agree with the catalog values to ~0.02 rad with no offset
(a sine series would be off by pi/2 in phi21 and pi in phi31, since
``phi^cos_k1 = phi^sin_k1 + (k - 1) pi / 2``).

Numerics: the normal equations are accumulated per point with cos/sin of the harmonics from
the angle-addition recurrence, equilibrated to a unit diagonal and solved by Cholesky; a pivot
below ``1e-10`` (condition number ~1e10, e.g. large phase gaps) marks the segment SINGULAR.
Against ``numpy.linalg.lstsq`` on the real OGLE RRab fixture the amplitudes and phases agree to
~1e-10 (the tests assert 1e-8).

Order: fixed (the paper's K = 10), or chosen per light curve by BIC up to K from the same
normal equations, whose leading blocks are the lower-order problems (``bic_order``).

Status codes (one table for every kernel of fourier, prewhiten, dmdt and interp):
:class:`KernelStatus`; :data:`STATUS_REASONS` gives the text of a failure record.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import ArrayLike

from vsbatch.kernels.arrays import LightCurves, per_segment
from vsbatch.kernels.status import KernelStatus

TWO_PI = 2.0 * np.pi
PTP_GRID = 2000  # phases on which the fitted curve is evaluated for its peak-to-peak amplitude
SINGULAR_PIVOT = 1e-10  # smallest Cholesky pivot of the equilibrated (unit-diagonal) matrix
REFINE_MAX_ITER = 20
REFINE_TOL_CYCLES = 1e-9  # stop when the frequency step moves the phase by < this over T
CHI2_FLOOR = 1e-12  # BIC order choice: chi2 below this fraction of chi2 about the mean is 0


# ----------------------------------------------------------------------------- numba helpers


@numba.njit(cache=True, inline="always")
def frac(x: float) -> float:
    """x - floor(x) in [0, 1) (rounding can give 1.0 for tiny negative x: mapped to 0)."""
    p = x - np.floor(x)
    if p >= 1.0:
        return 0.0
    return p


@numba.njit(cache=True, inline="always")
def usable(t: float, m: float, e: float) -> bool:
    return np.isfinite(t) and np.isfinite(m) and np.isfinite(e) and e > 0.0


@numba.njit(cache=True)
def _fold_kernel(time, offsets, frequency, t0, out):
    for s in range(offsets.size - 1):
        for i in range(offsets[s], offsets[s + 1]):
            out[i] = frac(frequency[s] * (time[i] - t0[s]))


@numba.njit(cache=True, inline="always")
def _harmonics(phase, order, row):
    """row = [1, cos 2 pi phase, sin 2 pi phase, ..., cos 2 pi K phase, sin 2 pi K phase]."""
    c1 = np.cos(TWO_PI * phase)
    s1 = np.sin(TWO_PI * phase)
    row[0] = 1.0
    c = c1
    s = s1
    for k in range(1, order + 1):
        row[2 * k - 1] = c
        row[2 * k] = s
        c, s = c * c1 - s * s1, s * c1 + c * s1


@numba.njit(cache=True)
def design_row(t_rel, f, order, extra, row):
    """Harmonics of ``f`` then cos/sin of each ``extra`` frequency, at ``t_rel = t - t_ref``."""
    _harmonics(frac(f * t_rel), order, row)
    base = 2 * order + 1
    for e in range(extra.size):
        ang = TWO_PI * frac(extra[e] * t_rel)
        row[base + 2 * e] = np.cos(ang)
        row[base + 2 * e + 1] = np.sin(ang)


@numba.njit(cache=True, inline="always")
def _dot(row, coef, p):
    v = 0.0
    for j in range(p):
        v += row[j] * coef[j]
    return v


@numba.njit(cache=True, inline="always")
def _accumulate(row, p, w, y, ata, atb):
    """Add one weighted point to the lower triangle of the normal equations."""
    for a in range(p):
        ra = w * row[a]
        atb[a] += ra * y
        for b in range(a + 1):
            ata[a, b] += ra * row[b]


@numba.njit(cache=True)
def _cholesky(ata, p, d, low):
    """Equilibrated Cholesky factor of the leading ``p`` columns (lower triangle of ``ata``).

    Writes the scales ``d`` (1/sqrt of the diagonal) and the factor of ``D ata D`` to ``low``;
    returns how many leading columns were factorised before a pivot fell below
    ``SINGULAR_PIVOT``. The factor of a leading block is the leading block of the factor, so
    every smaller harmonic order is solved by the same factorisation.
    """
    for j in range(p):
        if not ata[j, j] > 0.0:
            p = j
            break
        d[j] = 1.0 / np.sqrt(ata[j, j])
    low[:p, :p] = 0.0
    for j in range(p):
        s = ata[j, j] * d[j] * d[j]
        for k in range(j):
            s -= low[j, k] * low[j, k]
        if not s > SINGULAR_PIVOT:
            return j
        low[j, j] = np.sqrt(s)
        for i in range(j + 1, p):
            v = ata[i, j] * d[i] * d[j]
            for k in range(j):
                v -= low[i, k] * low[j, k]
            low[i, j] = v / low[j, j]
    return p


@numba.njit(cache=True)
def _forward(low, d, atb, p, z):
    """z = L^-1 D atb over the leading ``p`` columns (z_j^2: chi2 drop of parameter j)."""
    for i in range(p):
        v = atb[i] * d[i]
        for k in range(i):
            v -= low[i, k] * z[k]
        z[i] = v / low[i, i]


@numba.njit(cache=True)
def solve_spd(ata, atb, p, x, cov):
    """Solve the normal equations (lower triangle filled) by equilibrated Cholesky.

    Writes the solution to ``x[:p]`` and the inverse matrix to ``cov[:p, :p]``; returns False
    when the matrix is not numerically positive definite.
    """
    d = np.empty(p)
    low = np.empty((p, p))
    if _cholesky(ata, p, d, low) < p:
        return False
    z = np.empty(p)
    _forward(low, d, atb, p, z)
    for i in range(p - 1, -1, -1):
        v = z[i]
        for k in range(i + 1, p):
            v -= low[k, i] * z[k]
        z[i] = v / low[i, i]
    for i in range(p):
        x[i] = z[i] * d[i]
    inv = np.zeros((p, p))  # inverse of the Cholesky factor (lower triangular)
    for j in range(p):
        inv[j, j] = 1.0 / low[j, j]
        for i in range(j + 1, p):
            v = 0.0
            for k in range(j, i):
                v -= low[i, k] * inv[k, j]
            inv[i, j] = v / low[i, i]
    for a in range(p):
        for b in range(a + 1):
            v = 0.0
            for k in range(a, p):
                v += inv[k, a] * inv[k, b]
            cov[a, b] = v * d[a] * d[b]
            cov[b, a] = cov[a, b]
    return True


@numba.njit(cache=True)
def _normal_equations(time, mag, err, use, lo, hi, weighted, t_ref, f, order, extra, ata, atb):
    """Accumulate the normal equations of the ``use``d points; returns how many were used."""
    p = 2 * order + 1 + 2 * extra.size
    row = np.empty(p)
    ata[:p, :p] = 0.0
    atb[:p] = 0.0
    n = 0
    for i in range(lo, hi):
        if use[i]:
            design_row(time[i] - t_ref, f, order, extra, row)
            w = 1.0 / (err[i] * err[i]) if weighted else 1.0
            _accumulate(row, p, w, mag[i], ata, atb)
            n += 1
    return n


@numba.njit(cache=True)
def _chi2(time, mag, err, use, lo, hi, weighted, t_ref, f, order, extra, coef):
    """Weighted sum of squared residuals of the ``use``d points."""
    row = np.empty(2 * order + 1 + 2 * extra.size)
    chi2 = 0.0
    for i in range(lo, hi):
        if use[i]:
            r = mag[i] - model_value(time[i] - t_ref, f, order, extra, coef, row)
            w = 1.0 / (err[i] * err[i]) if weighted else 1.0
            chi2 += w * r * r
    return chi2


@numba.njit(cache=True)
def wls_fit(time, mag, err, use, lo, hi, weighted, t_ref, f, order, extra, coef, cov):
    """Least-squares fit of harmonics of ``f`` (+ ``extra`` frequencies) to ``use``d points.

    Weights are 1/err**2 when ``weighted`` else 1. Returns (ok, chi2, n) with chi2 the
    weighted sum of squared residuals over the ``n`` points used.
    """
    p = 2 * order + 1 + 2 * extra.size
    ata = np.empty((p, p))
    atb = np.empty(p)
    n = _normal_equations(time, mag, err, use, lo, hi, weighted, t_ref, f, order, extra, ata, atb)
    if not solve_spd(ata, atb, p, coef, cov):
        return False, np.nan, n
    return True, _chi2(time, mag, err, use, lo, hi, weighted, t_ref, f, order, extra, coef), n


@numba.njit(cache=True)
def bic_order(ata, atb, chi2_mean, n, max_order):
    """Order in 1..``max_order`` of least BIC = n ln(chi2 / n) + (2 K + 1) ln n; 0 if none.

    The BIC of Gaussian errors known up to one common scale (fitted): with correct error bars
    it ranks orders as chi2 + (2 K + 1) ln n does, and underestimated ones (SDSS Stripe 82:
    chi2/dof ~ 6-9 at K = 10) do not buy extra harmonics. ``chi2_mean`` is the chi2 about the
    weighted mean. All orders come from the one set of normal equations of ``max_order``
    (filled lower triangle): the leading block of K harmonics is the order-K problem, so with
    z = L^-1 D atb of its Cholesky factor chi2_K = chi2_mean - sum_{j=1..2K} z_j^2. Orders
    from the first singular block up (a pivot below ``SINGULAR_PIVOT``) are not candidates.
    """
    p = 2 * max_order + 1
    d = np.empty(p)
    low = np.empty((p, p))
    z = np.empty(p)
    solvable = _cholesky(ata, p, d, low)
    if solvable < 3:
        return 0
    _forward(low, d, atb, solvable, z)
    floor = CHI2_FLOOR * chi2_mean  # below it, chi2 differences are rounding
    chi2 = chi2_mean
    best = 0
    best_bic = np.inf
    for k in range(1, max_order + 1):
        if 2 * k + 1 > solvable:
            break
        chi2 -= z[2 * k - 1] * z[2 * k - 1] + z[2 * k] * z[2 * k]
        bic = n * np.log(max(chi2, floor)) + 2 * k * np.log(n)  # up to a common constant
        if bic < best_bic:
            best = k
            best_bic = bic
    return best


@numba.njit(cache=True)
def fit_selected_order(time, mag, err, use, lo, hi, t_ref, f, max_order, select, coef, cov):
    """Weighted fit at ``max_order`` harmonics, or at the BIC order up to it when ``select``.

    One accumulation of the normal equations serves every order (see :func:`bic_order`).
    Returns (ok, chi2, n, order).
    """
    no_extra = np.empty(0)
    p = 2 * max_order + 1
    ata = np.empty((p, p))
    atb = np.empty(p)
    n = _normal_equations(
        time, mag, err, use, lo, hi, True, t_ref, f, max_order, no_extra, ata, atb
    )
    order = max_order
    if select:
        mean = atb[0] / ata[0, 0]
        chi2_mean = 0.0
        for i in range(lo, hi):
            if use[i]:
                chi2_mean += (mag[i] - mean) * (mag[i] - mean) / (err[i] * err[i])
        order = bic_order(ata, atb, chi2_mean, n, max_order)
    if order < 1 or not solve_spd(ata, atb, 2 * order + 1, coef, cov):
        return False, np.nan, n, order
    chi2 = _chi2(time, mag, err, use, lo, hi, True, t_ref, f, order, no_extra, coef)
    return True, chi2, n, order


@numba.njit(cache=True, inline="always")
def model_value(t_rel, f, order, extra, coef, row):
    """The fitted series at ``t_rel`` (``row``: scratch of length >= the parameter count)."""
    design_row(t_rel, f, order, extra, row)
    return _dot(row, coef, 2 * order + 1 + 2 * extra.size)


@numba.njit(cache=True)
def refine_frequency(time, mag, err, use, lo, hi, weighted, f_init, order, t_c, coef, cov):
    """Gauss-Newton refinement of ``f`` jointly with the series, in time centred on ``t_c``.

    Each step solves the joint normal equations of (series, f), moves f and re-solves the
    series at the new f. Returns (ok, f, chi2); on success ``coef`` holds the series at ``f``
    (frame ``t_c``) and ``cov[:p+1, :p+1]`` the unscaled inverse joint normal matrix. Fails
    (ok False) when f leaves ``f_init +- 1/T``, chi2 grows or it does not converge.
    """
    no_extra = np.empty(0)
    p = 2 * order + 1
    q = p + 1
    ok, chi2_init, _ = wls_fit(
        time, mag, err, use, lo, hi, weighted, t_c, f_init, order, no_extra, coef, cov
    )
    if not ok:
        return False, f_init, np.nan
    t_lo = np.inf
    t_hi = -np.inf
    for i in range(lo, hi):
        if use[i]:
            t_lo = min(t_lo, time[i])
            t_hi = max(t_hi, time[i])
    span = t_hi - t_lo
    row = np.empty(q)
    step = np.empty(q)
    f = f_init
    chi2 = chi2_init
    converged = False
    for _ in range(REFINE_MAX_ITER + 1):
        ata = np.zeros((q, q))
        atb = np.zeros(q)
        for i in range(lo, hi):
            if not use[i]:
                continue
            t_rel = time[i] - t_c
            _harmonics(frac(f * t_rel), order, row)
            deriv = 0.0
            for k in range(1, order + 1):
                deriv += k * (coef[2 * k] * row[2 * k - 1] - coef[2 * k - 1] * row[2 * k])
            resid = mag[i] - _dot(row, coef, p)
            row[p] = TWO_PI * t_rel * deriv
            w = 1.0 / (err[i] * err[i]) if weighted else 1.0
            _accumulate(row, q, w, resid, ata, atb)
        if not solve_spd(ata, atb, q, step, cov):
            return False, f_init, np.nan
        if converged:
            ok = chi2 <= chi2_init * (1.0 + 1e-12)
            return ok, f, chi2
        f_new = f + step[p]
        if not abs(f_new - f_init) * span <= 1.0:
            return False, f_init, np.nan
        ok, chi2, _ = wls_fit(
            time, mag, err, use, lo, hi, weighted, t_c, f_new, order, no_extra, coef, cov
        )
        if not ok:
            return False, f_init, np.nan
        converged = abs(step[p]) * span < REFINE_TOL_CYCLES
        f = f_new
    return False, f_init, np.nan


@numba.njit(cache=True, inline="always")
def _quad(g, cov, q):
    v = 0.0
    for a in range(q):
        for b in range(q):
            v += g[a] * cov[a, b] * g[b]
    return v


@numba.njit(cache=True, inline="always")
def _wrap(x):
    return x - TWO_PI * np.floor(x / TWO_PI)


# Columns of the per-segment float output of _fourier_kernel.
_C_FREQ, _C_FREQ_ERR, _C_A0, _C_A0_ERR = 0, 1, 2, 3
_C_R21, _C_R21_ERR, _C_R31, _C_R31_ERR = 4, 5, 6, 7
_C_PHI21, _C_PHI21_ERR, _C_PHI31, _C_PHI31_ERR = 8, 9, 10, 11
_C_PTP, _C_RMS, _C_CHI2R, _C_R2 = 12, 13, 14, 15
_N_FLOAT = 16
# Columns of the per-segment int output.
_I_STATUS, _I_ORDER, _I_NUSED, _I_NREJ, _I_REFINED = 0, 1, 2, 3, 4
_N_INT = 5


@numba.njit(cache=True)
def _fourier_kernel(
    time,
    mag,
    err,
    offsets,
    frequency,
    t0,
    order,
    select_order,
    clip_threshold,
    clip_iterations,
    min_dof,
    refine,
    out_f,
    out_i,
    out_h,
    kept,
):
    no_extra = np.empty(0)
    pmax = 2 * order + 2
    coef = np.empty(pmax)
    cov = np.empty((pmax, pmax))
    g = np.empty(pmax)
    ga = np.empty((order + 1, pmax))  # gradients of A_k
    gp = np.empty((order + 1, pmax))  # gradients of phi_k
    amp = np.empty(order + 1)
    phi = np.empty(order + 1)
    row = np.empty(pmax)
    coef_r = np.empty(pmax)
    cov_r = np.empty((pmax, pmax))
    for s in range(offsets.size - 1):
        lo, hi = offsets[s], offsets[s + 1]
        out_f[s, :] = np.nan
        out_i[s, :] = 0
        out_h[s, :, :] = np.nan
        f = frequency[s]
        n_ok = 0
        for i in range(lo, hi):
            kept[i] = usable(time[i], mag[i], err[i])
            n_ok += kept[i]
        k_max = min(order, (n_ok - 1 - min_dof) // 2)
        k_ord = k_max
        status = KernelStatus.OK
        chi2 = np.nan
        n = 0
        for it in range(clip_iterations + 1):
            if not (np.isfinite(f) and f > 0.0):
                status = KernelStatus.BAD_FREQUENCY
                break
            if k_max < 1:
                status = KernelStatus.TOO_FEW_POINTS
                break
            ok, chi2, n, k_ord = fit_selected_order(
                time, mag, err, kept, lo, hi, t0[s], f, k_max, select_order, coef, cov
            )
            if not ok:
                status = KernelStatus.SINGULAR
                break
            if it == clip_iterations:
                break
            changed = False
            n_keep = 0
            for i in range(lo, hi):
                if not usable(time[i], mag[i], err[i]):
                    continue
                r = mag[i] - model_value(time[i] - t0[s], f, k_ord, no_extra, coef, row)
                keep = abs(r) <= clip_threshold
                changed |= keep != kept[i]
                kept[i] = keep
                n_keep += keep
            if not changed:
                break
            k_max = min(order, (n_keep - 1 - min_dof) // 2)
        out_i[s, _I_STATUS] = status
        if status != KernelStatus.OK:
            for i in range(lo, hi):
                kept[i] = False
            continue
        p = 2 * k_ord + 1
        q = p
        t_ref = t0[s]
        if refine:
            t_c = 0.0
            for i in range(lo, hi):
                if kept[i]:
                    t_c += time[i]
            ok_r, f_r, chi2_r = refine_frequency(
                time, mag, err, kept, lo, hi, True, f, k_ord, t_c / n, coef_r, cov_r
            )
            if ok_r:
                f = f_r
                chi2 = chi2_r
                t_ref = t_c / n
                q = p + 1
                coef[:p] = coef_r[:p]
                cov[:q, :q] = cov_r[:q, :q]
                out_i[s, _I_REFINED] = 1
        dof = n - q
        chi2r = chi2 / dof if dof > 0 else np.nan
        scale = chi2r  # covariance scaled by the reduced chi2 (errors from the scatter)
        out_i[s, _I_ORDER] = k_ord
        out_i[s, _I_NUSED] = n
        out_i[s, _I_NREJ] = n_ok - n
        out_f[s, _C_FREQ] = f
        if q > p:
            out_f[s, _C_FREQ_ERR] = np.sqrt(cov[p, p] * scale)
        out_f[s, _C_A0] = coef[0]
        out_f[s, _C_A0_ERR] = np.sqrt(cov[0, 0] * scale)
        shift = frac(f * (t0[s] - t_ref))  # phases measured from t0, not from the fit frame
        for k in range(1, k_ord + 1):
            a = coef[2 * k - 1]
            b = coef[2 * k]
            amp[k] = np.hypot(a, b)
            phi[k] = _wrap(np.arctan2(-b, a) + TWO_PI * k * shift)
            a2 = amp[k] * amp[k]
            ga[k, :q] = 0.0
            gp[k, :q] = 0.0
            ga[k, 2 * k - 1] = a / amp[k]
            ga[k, 2 * k] = b / amp[k]
            gp[k, 2 * k - 1] = b / a2
            gp[k, 2 * k] = -a / a2
            if q > p:
                gp[k, p] = TWO_PI * k * (t0[s] - t_ref)
            out_h[s, 0, k - 1] = amp[k]
            out_h[s, 1, k - 1] = np.sqrt(_quad(ga[k], cov, q) * scale)
            out_h[s, 2, k - 1] = phi[k]
            out_h[s, 3, k - 1] = np.sqrt(_quad(gp[k], cov, q) * scale)
        for k, c_r, c_phi in ((2, _C_R21, _C_PHI21), (3, _C_R31, _C_PHI31)):
            if k_ord < k:
                continue
            out_f[s, c_r] = amp[k] / amp[1]
            g[:q] = ga[k, :q] / amp[1] - amp[k] / (amp[1] * amp[1]) * ga[1, :q]
            out_f[s, c_r + 1] = np.sqrt(_quad(g, cov, q) * scale)
            out_f[s, c_phi] = _wrap(phi[k] - k * phi[1])
            g[:q] = gp[k, :q] - k * gp[1, :q]
            out_f[s, c_phi + 1] = np.sqrt(_quad(g, cov, q) * scale)
        lo_m = np.inf
        hi_m = -np.inf
        for j in range(PTP_GRID):
            _harmonics(j / PTP_GRID, k_ord, row)
            v = _dot(row, coef, p)
            lo_m = min(lo_m, v)
            hi_m = max(hi_m, v)
        out_f[s, _C_PTP] = hi_m - lo_m
        mean = 0.0
        for i in range(lo, hi):
            if kept[i]:
                mean += mag[i]
        mean /= n
        ss_res = 0.0
        ss_tot = 0.0
        for i in range(lo, hi):
            if kept[i]:
                r = mag[i] - model_value(time[i] - t_ref, f, k_ord, no_extra, coef, row)
                ss_res += r * r
                ss_tot += (mag[i] - mean) ** 2
        out_f[s, _C_RMS] = np.sqrt(ss_res / n)
        out_f[s, _C_CHI2R] = chi2r
        out_f[s, _C_R2] = 1.0 - ss_res / ss_tot if ss_tot > 0 else np.nan


# ----------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class FourierFit:
    """Per-segment Fourier-series fit (Eq. 4); NaN where ``status != 0`` or not defined.

    ``amplitude``, ``phase`` and their errors have shape (n_segments, order) and are NaN beyond
    ``order_used``. Phases are in radians in [0, 2 pi), measured from the ``t0`` of the call.
    Uncertainties are 1-sigma from the weighted least-squares covariance scaled by
    ``chi2_reduced`` and propagated linearly; with ``refine_frequency`` they include the
    covariance with the fitted frequency. ``kept`` (flat, aligned with ``lcs.time``) marks the
    epochs used in the final fit (usable and within the clipping threshold).
    """

    status: np.ndarray  # int8, KernelStatus
    order_used: np.ndarray  # int16
    n_used: np.ndarray  # int32, epochs in the final fit
    n_rejected: np.ndarray  # int32, usable epochs clipped as > clip_threshold from the fit
    frequency: np.ndarray  # c/d: the input, or the refined value where frequency_refined
    frequency_error: np.ndarray  # c/d, NaN unless frequency_refined
    frequency_refined: np.ndarray  # bool
    a0: np.ndarray
    a0_error: np.ndarray
    amplitude: np.ndarray  # (n_segments, order), mag
    amplitude_error: np.ndarray
    phase: np.ndarray  # (n_segments, order), rad
    phase_error: np.ndarray
    r21: np.ndarray
    r21_error: np.ndarray
    r31: np.ndarray
    r31_error: np.ndarray
    phi21: np.ndarray
    phi21_error: np.ndarray
    phi31: np.ndarray
    phi31_error: np.ndarray
    peak_to_peak: np.ndarray  # mag, max - min of the fitted curve on a 2000-phase grid
    rms: np.ndarray  # mag, unweighted rms of the residuals of the kept epochs
    chi2_reduced: np.ndarray  # weighted chi2 / (n_used - n_parameters)
    r_squared: np.ndarray  # 1 - SS_res / SS_tot (unweighted) of the periodic model
    kept: np.ndarray  # bool, flat, one per epoch


def fold(lcs: LightCurves, frequency: ArrayLike, t0: ArrayLike = 0.0) -> np.ndarray:
    """Phase ``frac((t - t0) * f)`` in [0, 1) of every epoch (flat, aligned with ``lcs.time``).

    ``frequency`` (c/d) and ``t0`` (days) are scalars or one value per segment; a NaN frequency
    gives NaN phases.
    """
    n = lcs.n_segments
    out = np.empty(lcs.time.size, dtype=np.float64)
    _fold_kernel(
        lcs.time, lcs.offsets, per_segment(frequency, n, "frequency"), per_segment(t0, n, "t0"), out
    )
    return out


def fit_fourier(
    lcs: LightCurves,
    frequency: ArrayLike,
    *,
    order: int = 10,
    t0: ArrayLike = 0.0,
    clip_threshold: float = 0.35,
    clip_iterations: int = 5,
    min_dof: int = 10,
    refine_frequency: bool = False,
    select_order: bool = False,
) -> FourierFit:
    """Fit ``order`` harmonics of ``frequency`` to every segment (Jiang et al. 2025 Eq. 4).

    Why: the Fourier parameters (R21, phi21, R31, phi31, amplitudes) are catalog columns and
    the clipped fit defines which epochs the phased-curve image keeps (the paper drops points
    more than 0.35 mag from a 10th-order fit).

    - Clipping: fit, drop usable epochs with ``|residual| > clip_threshold`` (mag), refit;
      repeated until the kept set no longer changes or ``clip_iterations`` refits were made
      (an epoch dropped once may come back). ``clip_iterations=0`` disables clipping.
    - Order rule: the order used is the largest K <= ``order`` with
      ``n >= 2 K + 1 + min_dof`` for the n epochs in the fit (re-checked after clipping);
      K < 1 gives TOO_FEW_POINTS. It is recorded in ``order_used``.
    - ``select_order``: the order of every fit (also each clipping refit) is the one of least
      BIC = n ln(chi2 / n) + (2 K + 1) ln n among 1..K (:func:`bic_order`), so sparse curves
      are not fitted with more harmonics than their data support (orders from the first
      singular one up are not candidates); without it every fit has K harmonics (the paper's
      fixed order).
    - ``refine_frequency``: after clipping, Gauss-Newton on the series and the frequency
      jointly (time centred on the mean epoch, so the frequency column is not collinear with
      the phases); accepted when it converges within 1/T of the input and lowers chi2, else the
      input frequency is kept and ``frequency_refined`` is False. ``frequency_error`` then
      comes from the joint covariance.
    """
    n = lcs.n_segments
    if order < 1:
        raise ValueError("order must be >= 1")
    out_f = np.empty((n, _N_FLOAT))
    out_i = np.empty((n, _N_INT), dtype=np.int64)
    out_h = np.empty((n, 4, order))
    kept = np.empty(lcs.time.size, dtype=np.bool_)
    _fourier_kernel(
        lcs.time,
        lcs.mag,
        lcs.err,
        lcs.offsets,
        per_segment(frequency, n, "frequency"),
        per_segment(t0, n, "t0"),
        order,
        bool(select_order),
        float(clip_threshold),
        int(clip_iterations),
        int(min_dof),
        bool(refine_frequency),
        out_f,
        out_i,
        out_h,
        kept,
    )
    return _fourier_fit(out_f, out_i, out_h, kept)


def _fourier_fit(
    out_f: np.ndarray, out_i: np.ndarray, out_h: np.ndarray, kept: np.ndarray
) -> FourierFit:
    """The named fields of the kernel's packed per-segment output columns."""
    return FourierFit(
        status=out_i[:, _I_STATUS].astype(np.int8),
        order_used=out_i[:, _I_ORDER].astype(np.int16),
        n_used=out_i[:, _I_NUSED].astype(np.int32),
        n_rejected=out_i[:, _I_NREJ].astype(np.int32),
        frequency=out_f[:, _C_FREQ],
        frequency_error=out_f[:, _C_FREQ_ERR],
        frequency_refined=out_i[:, _I_REFINED].astype(bool),
        a0=out_f[:, _C_A0],
        a0_error=out_f[:, _C_A0_ERR],
        amplitude=out_h[:, 0],
        amplitude_error=out_h[:, 1],
        phase=out_h[:, 2],
        phase_error=out_h[:, 3],
        r21=out_f[:, _C_R21],
        r21_error=out_f[:, _C_R21_ERR],
        r31=out_f[:, _C_R31],
        r31_error=out_f[:, _C_R31_ERR],
        phi21=out_f[:, _C_PHI21],
        phi21_error=out_f[:, _C_PHI21_ERR],
        phi31=out_f[:, _C_PHI31],
        phi31_error=out_f[:, _C_PHI31_ERR],
        peak_to_peak=out_f[:, _C_PTP],
        rms=out_f[:, _C_RMS],
        chi2_reduced=out_f[:, _C_CHI2R],
        r_squared=out_f[:, _C_R2],
        kept=kept,
    )
