"""Variability statistics against NumPy/SciPy references on real light curves (1e-9 relative)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from tests.conftest import FIXTURES, light_curves_from_long
from vsbatch.kernels import LightCurves
from vsbatch.kernels.stats import variability_stats


def reference_stats(t: np.ndarray, m: np.ndarray, e: np.ndarray) -> dict[str, float]:
    n = len(m)
    w = 1 / e**2
    wmean = np.sum(w * m) / np.sum(w)
    d = np.sqrt(n / (n - 1)) * (m - wmean) / e
    p = d[:-1] * d[1:]
    return {
        "n_obs": n,
        "time_min": t.min(),
        "time_span": np.ptp(t),
        "mag_mean": np.mean(m),
        "mag_median": np.median(m),
        "mag_wmean": np.average(m, weights=w),
        "mag_std": np.std(m, ddof=1),
        "mag_mad": np.median(np.abs(m - np.median(m))),
        "mag_iqr": sps.iqr(m),
        "skewness": sps.skew(m, bias=False),
        "kurtosis": sps.kurtosis(m, fisher=True, bias=False),
        "amplitude_robust": 0.5 * (np.percentile(m, 95) - np.percentile(m, 5)),
        "stetson_j": np.mean(np.sign(p) * np.sqrt(np.abs(p))),
        "stetson_k": np.mean(np.abs(d)) / np.sqrt(np.mean(d**2)),
        "von_neumann_eta": np.sum(np.diff(m) ** 2) / (n - 1) / np.var(m, ddof=1),
    }


@pytest.mark.parametrize(
    "fixture", ["asas_i_12.parquet", "ogle_blg_rrab_2.parquet", "misc_mit_5.parquet"]
)
def test_stats_match_numpy_scipy_on_real_light_curves(fixture: str) -> None:
    df = pd.read_parquet(FIXTURES / fixture).drop_duplicates(["source_id", "band", "time"])
    keys, lcs = light_curves_from_long(df)
    got = variability_stats(lcs).as_dict()
    assert lcs.n_segments == len(keys) > 0
    for i in range(lcs.n_segments):
        ref = reference_stats(*lcs.segment(i))
        for name, value in ref.items():
            np.testing.assert_allclose(got[name][i], value, rtol=1e-9, atol=0, err_msg=name)


def test_degenerate_segments_give_nan_not_errors() -> None:
    lcs = LightCurves.from_segments(
        [
            (np.array([1.0]), np.array([10.0]), np.array([0.1])),
            (np.array([1.0, 2.0, 3.0, 4.0]), np.full(4, 12.0), np.full(4, 0.1)),
        ]
    )
    got = variability_stats(lcs)
    assert got.n_obs.tolist() == [1, 4]
    assert got.mag_median[0] == 10.0 and np.isnan(got.mag_std[0])
    assert got.mag_std[1] == 0.0
    assert np.isnan(got.skewness[1]) and np.isnan(got.von_neumann_eta[1])


def test_empty_batch() -> None:
    lcs = LightCurves.from_segments([])
    assert variability_stats(lcs).n_obs.shape == (0,)
