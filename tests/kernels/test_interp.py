"""Inverse-distance KNN interpolation of folded curves against a slow NumPy reference."""

from __future__ import annotations

import numpy as np

from tests.conftest import light_curves_from_long
from tests.helpers import knn_reference
from vsbatch.kernels import LightCurves
from vsbatch.kernels.interp import knn_interpolate
from vsbatch.kernels.status import KernelStatus


def _reference(t, m, f, k, n_grid=200, t0=0.0):
    x = f * (t - t0)
    return knn_reference(x - np.floor(x), m, k, n_grid)


def test_matches_reference_on_real_curves(asas_lcs, ogle_rrab):
    _, asas = asas_lcs
    _, ogle = light_curves_from_long(ogle_rrab)
    f_ogle = 1.0 / ogle_rrab.groupby(["source_id", "band"], sort=True)["period"].first().to_numpy()
    f_asas = np.linspace(0.3, 2.5, asas.n_segments)  # arbitrary folds exercise other layouts
    for lcs, freq, k in ((ogle, f_ogle, 5), (asas, f_asas, 5), (asas, f_asas, 12)):
        t0 = np.linspace(0.0, 500.0, lcs.n_segments)
        res = knn_interpolate(lcs, freq, t0=t0, k=k)
        assert res.values.shape == (lcs.n_segments, 200)
        assert (res.status == KernelStatus.OK).all()
        for s in range(lcs.n_segments):
            t, m, _ = lcs.segment(s)
            ref = _reference(t, m, freq[s], k, t0=t0[s])
            np.testing.assert_allclose(res.values[s], ref, rtol=1e-12)


def test_wraps_phase_and_handles_zero_distance():
    # f = 0.5 c/d: t = 0, 2 fold exactly onto phase 0 (zero distance to grid point 0);
    # t = 1.98 and 0.02 fold to 0.99 and 0.01, neighbours of phase 0 across the wrap.
    t = np.array([0.0, 0.02, 0.6, 1.0, 1.4, 1.98, 2.0])
    m = np.array([1.0, 5.0, 7.0, 9.0, 11.0, 13.0, 3.0])
    lcs = LightCurves.from_segments([(t, m, np.full(t.size, 0.01))])
    res = knn_interpolate(lcs, 0.5, k=4, n_grid=100)
    assert res.values[0, 0] == 2.0  # mean of the two epochs exactly at the grid point
    # grid point 0.005 is nearest to 0.0 (x2) and 0.01, then 0.99 across the wrap
    w = np.array([1 / 0.005, 1 / 0.005, 1 / 0.005, 1 / 0.015])
    expect = np.sum(w * np.array([1.0, 3.0, 5.0, 13.0])) / w.sum()
    np.testing.assert_allclose(knn_interpolate(lcs, 0.5, k=4, n_grid=200).values[0, 1], expect)
    np.testing.assert_allclose(res.values[0], _reference(t, m, 0.5, 4, n_grid=100), rtol=1e-12)


def test_failure_codes():
    t = np.linspace(0.0, 10.0, 30)
    good = (t, np.sin(t), np.full(30, 0.1))
    lcs = LightCurves.from_segments([good] * 3 + [(t[:4], np.sin(t[:4]), np.full(4, 0.1))])
    res = knn_interpolate(lcs, np.array([0.3, np.nan, -1.0, 0.3]))
    assert res.status.tolist() == [
        KernelStatus.OK,
        KernelStatus.BAD_FREQUENCY,
        KernelStatus.BAD_FREQUENCY,
        KernelStatus.TOO_FEW_POINTS,  # 4 epochs < k = 5
    ]
    assert np.isfinite(res.values[0]).all() and np.isnan(res.values[1:]).all()
