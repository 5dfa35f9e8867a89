"""``period_quality`` and the few-cycles FAP rule on synthetic curves of known nature, and
the labels on a real OGLE RRab fixture."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import light_curves_from_long
from vsbatch.config import RunConfig
from vsbatch.errors import UsageError
from vsbatch.failures import FailureLog
from vsbatch.kernels import LightCurves
from vsbatch.kernels.periodogram import ALIAS_DAILY, ALIAS_HALF_DOUBLE
from vsbatch.period_backends import PeriodSearchResult
from vsbatch.stages.context import StageContext
from vsbatch.stages.period import period_stage
from vsbatch.stages.period_quality import classify_periods

KINDS = ("trend", "rr", "slow", "trend+rr")


def _curves() -> LightCurves:
    """200 epochs over 999 d: a 1.5-mag linear trend, a two-harmonic 0.3-d pulsation, a
    560-d sinusoid (1.8 cycles) and a trend plus a 0.61-d sinusoid; 0.02 mag noise."""
    rng = np.random.default_rng(18)
    segments = []
    for kind in KINDS:
        t = np.sort(rng.uniform(0.0, 999.0, 200))
        m = {
            "trend": 1.5 * t / 999,
            "rr": 0.4 * np.sin(2 * np.pi * t / 0.3) + 0.15 * np.sin(4 * np.pi * t / 0.3),
            "slow": 0.3 * np.sin(2 * np.pi * t / 560),
            "trend+rr": 1.5 * t / 999 + 0.2 * np.sin(2 * np.pi * t / 0.61),
        }[kind]
        err = np.full(t.size, 0.02)
        segments.append((t, 15.0 + m + err * rng.standard_normal(t.size), err))
    return LightCurves.from_segments(segments)


def _period(lcs: LightCurves, detrend: str) -> dict[str, np.ndarray]:
    columns = {"source_id": list(KINDS), "band": ["V"] * len(KINDS)}
    config = RunConfig(fmax=5.0, detrend=detrend)
    return period_stage(StageContext(lcs, columns, config, FailureLog("test")))


@pytest.mark.parametrize("detrend", ["none", "poly:1"])
def test_a_linear_trend_is_flagged_not_given_a_significant_period(detrend: str) -> None:
    out = _period(_curves(), detrend)
    quality = dict(zip(KINDS, out["period_quality"], strict=True))
    assert quality["trend"] == "trend"
    assert out["fap_baluev"][0] > 0.01
    assert quality["rr"] == "ok"
    assert abs(out["period"][1] / 0.3 - 1) < 1e-4
    assert out["log10_fap_baluev"][1] < -20
    assert quality["slow"] == "few_cycles"
    assert out["fap_baluev"][2] == 1.0 and out["log10_fap_baluev"][2] == 0.0
    if detrend == "none":  # the trend hides the pulsation
        assert quality["trend+rr"] == "trend"
    else:  # removing it finds the pulsation, which then counts
        assert quality["trend+rr"] == "ok"
        assert abs(out["period"][3] / 0.61 - 1) < 1e-4


def test_labels_follow_alias_flags_and_cycles() -> None:
    """beyond_baseline needs a grid below 1/T (fmin set); alias labels name the other peak."""
    f = np.array([0.0008, 2.0, 2.0, 2.0, 2.0, 2.0])
    other = [np.nan, 1.0, 1.0, 4.0, 3.0, 3.0]
    top = np.array([[f0, g] for f0, g in zip(f, other, strict=True)])
    result = PeriodSearchResult(
        frequency=f, period=1 / f, power=np.full(6, 0.5), fap=np.array([0, 0, 0, 0, 0, 0.2]),
        log10_fap=np.zeros(6), period_uncertainty=np.zeros(6), top_frequencies=top,
        top_powers=np.array([[0.5, 0.45]] * 4 + [[0.5, 0.1]] * 2),
        alias_flag=np.array([0, ALIAS_HALF_DOUBLE, ALIAS_DAILY, ALIAS_HALF_DOUBLE, 0, 0]),
    )  # fmt: skip
    labels = classify_periods(
        np.full(6, 1000.0), np.full(6, 1e-4), np.full(6, 2e-4), result, np.zeros(6, bool)
    )
    expected = ["beyond_baseline", "alias:double", "alias:1d", "alias:half", "ok", "insignificant"]
    assert list(labels) == expected


def test_real_rrab_periods_are_ok(ogle_rrab) -> None:
    _, lcs = light_curves_from_long(ogle_rrab)
    columns = {"source_id": ["a"] * lcs.n_segments, "band": ["I"] * lcs.n_segments}
    out = period_stage(StageContext(lcs, columns, RunConfig(fmax=5.0), FailureLog("test")))
    assert list(out["period_quality"]) == ["ok"] * lcs.n_segments


def test_detrend_is_validated() -> None:
    assert RunConfig(detrend="poly:5").detrend == "poly:5"
    for bad in ("poly:6", "poly", "spline:2", "poly:-1"):
        with pytest.raises(UsageError, match="detrend"):
            RunConfig(detrend=bad)
