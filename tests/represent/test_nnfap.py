"""The batched NN-FAP input against a slow per-curve NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import knn_reference
from vsbatch.kernels import LightCurves
from vsbatch.kernels.status import KernelStatus
from vsbatch.represent.nnfap import ERR_CUT_FLOOR, fold_cycles, light_curves_from_table, nnfap_input


def _reference(t, m, e, f, shift, n_points=200, err_cut="auto", k_cut=3.0, pre=True):
    """One curve, written out step by step as the paper and the module docstring say."""
    cut = max(ERR_CUT_FLOOR, k_cut * np.median(e)) if err_cut == "auto" else err_cut
    keep = e < cut
    t, m = t[keep], m[keep]
    t0 = -shift / f
    x = f * (t - t0)
    phase_all = x - np.floor(x)
    lo, hi = np.percentile(m, [1, 99])
    scale = hi - lo
    n = t.size
    use = min(n, n_points)
    idx = (np.arange(use) * n) // use
    ph, mm = phase_all[idx], m[idx]
    order = np.argsort(ph, kind="stable")
    ph, mm = ph[order], mm[order]
    seq = np.zeros((n_points, 4))
    start = n_points - use if pre else 0
    seq[start : start + use, 0] = np.clip((mm - lo) / scale, -1, 2)
    seq[start : start + use, 1] = ph
    seq[start : start + use, 2] = np.diff(ph, prepend=0.0)
    seq[:, 3] = np.clip((knn_reference(phase_all, m) - lo) / scale, -1, 2)
    return seq


@pytest.mark.parametrize("pre", [True, False])
def test_matches_reference_on_real_curves(asas_table, pre):
    lcs, _ = light_curves_from_table(asas_table)
    # make one curve longer than 200 points and noisy enough for the cut to bite
    freq = np.linspace(0.37, 2.9, lcs.n_segments)
    batch = nnfap_input(lcs, freq, phase_shifts=3, seed=11, padding="pre" if pre else "post")
    assert batch.x.shape == (3 * lcs.n_segments, 200, 4) and batch.x.dtype == np.float32
    assert (batch.status == KernelStatus.OK).all()
    for r in range(len(batch.segment)):
        s = batch.segment[r]
        t, m, e = lcs.segment(s)
        ref = _reference(t, m, e, freq[s], batch.shift[r], pre=pre)
        np.testing.assert_allclose(batch.x[r], ref, rtol=2e-6, atol=2e-6)
        assert batch.valid_mask[r].sum() == min(200, batch.n_points[r])


def test_no_shift_is_plain_fold_and_fixed_cut(asas_table):
    lcs, _ = light_curves_from_table(asas_table)
    batch = nnfap_input(lcs, 1.1, err_cut=0.08)
    assert (batch.shift == 0).all()
    for s in range(lcs.n_segments):
        t, m, e = lcs.segment(s)
        if (e < 0.08).sum() < 10:
            assert batch.status[s] == KernelStatus.TOO_FEW_POINTS
            continue
        np.testing.assert_allclose(batch.x[s], _reference(t, m, e, 1.1, 0.0, err_cut=0.08),
                                   rtol=2e-6, atol=2e-6)  # fmt: skip


def test_survey_aware_cut_keeps_noisy_curves_and_flags_short_ones(rng):
    t = np.sort(rng.uniform(0, 900, 120))
    noisy = (t, 18 + 0.3 * np.sin(2 * np.pi * t / 0.55), rng.uniform(0.1, 0.2, 120))
    short = (t[:7], np.zeros(7), np.full(7, 0.02))
    lcs = LightCurves.from_segments([noisy, short, noisy])
    auto = nnfap_input(lcs, np.array([1 / 0.55, 1.0, np.nan]))
    fixed = nnfap_input(lcs, np.array([1 / 0.55, 1.0, 1.0]), err_cut=0.1)
    assert auto.status.tolist() == [
        KernelStatus.OK, KernelStatus.TOO_FEW_POINTS, KernelStatus.BAD_FREQUENCY,
    ]  # fmt: skip
    assert auto.n_points[0] == 120  # the auto cut (3 x median ~0.43 mag) keeps all
    assert fixed.n_points[0] == 0  # the paper's fixed 0.1 mag keeps none of this EROS-like curve
    assert fixed.status[0] == KernelStatus.TOO_FEW_POINTS
    assert not auto.x[1:].any() and auto.reasons()[1] == "too few usable epochs"


def test_fold_cycles_flags_single_cycle_aliases(rng):
    # nightly cadence (one epoch per night at a jittered hour) over 900 d
    t = np.sort(rng.choice(900, 200, replace=False) + rng.uniform(0.1, 0.3, 200))
    lcs = LightCurves.from_segments([(t, np.zeros(200), np.full(200, 0.01))] * 4)
    span = t[-1] - t[0]
    freq = np.array([1 / span, 1.0 + 1 / span, 1 / 0.5537, 5 / span])
    fc = fold_cycles(lcs, freq)
    np.testing.assert_allclose(fc.n_cycles, span * freq)
    assert fc.few_cycles.tolist() == [True, True, False, False]
    for s in range(4):  # brute-force spectral window over f +- 2/T, main lobe (< 2/T) left out
        nu = freq[s] + np.linspace(-2, 2, 81) / span
        nu = nu[nu >= 2 / span]
        w = np.abs(np.exp(2j * np.pi * np.outer(nu, t - t[0])).mean(axis=1)).max()
        assert abs(fc.alias_window[s] - w) < 1e-9
    # three cycles: the window's main lobe near 0 does not make it a few-cycle fold
    assert not fold_cycles(lcs.take(np.array([0])), 3 / span).few_cycles[0]
