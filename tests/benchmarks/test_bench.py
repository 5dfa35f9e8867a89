"""Smoke test of the benchmark harness: every row measured, JSON round trip. No timing goals
are asserted here; they are checked (PASS/FAIL) by ``python -m benchmarks bench`` itself."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from benchmarks.bench import BenchReport, recovery_fraction, run_benchmark
from vsbatch.period_backends import available_backends


@pytest.fixture(scope="module")
def report() -> BenchReport:
    return run_benchmark(quick=True, n_sources=6, seed=1, fmax=2.0, include_run=False)


def test_every_method_has_a_finite_rate_and_a_recovery_fraction(report):
    expected = {
        "vsbatch_numba",
        "vsbatch_auto",
        "astropy_fast",
        "astropy_cython",
        "vsbatch_features_default",
        "astropy_numpy_features",
    }
    if "nifty-ls" in available_backends():
        expected |= {"nifty_ls_per_curve", "nifty_ls_batched", "vsbatch_auto_shared_cadence"}
    keys = {r.key for r in report.rows}
    assert expected <= keys
    assert "vsbatch_run" not in keys
    for row in report.rows:
        assert row.n_sources > 0, row.key
        assert math.isfinite(row.seconds) and row.seconds > 0, row.key
        assert math.isfinite(row.rate) and row.rate > 0, row.key
        assert row.ratio_vs_vsbatch is not None and row.ratio_vs_vsbatch > 0, row.key
        if row.group in "abc" or row.key == "vsbatch_features_default":
            assert row.recovery is not None, row.key
        if row.recovery is not None:
            assert 0.0 <= row.recovery <= 1.0, row.key
    assert report.row("astropy_cython").n_sources <= 20


def test_report_json_round_trips_and_text_has_the_table(report):
    data = json.loads(report.to_json())
    assert {r["key"] for r in data["rows"]} == {r.key for r in report.rows}
    assert data["machine"]["cores"] >= 1
    assert data["machine"]["cpu_model"]
    assert len(data["targets"]) == 4
    run_target = next(t for t in data["targets"] if "run" in t["name"])
    assert run_target["passed"] is None  # include_run=False
    assert data["fmax"] == 2.0
    text = report.text()
    for row in report.rows:
        assert row.method[:40] in text
    assert "targets:" in text


def test_recovery_rule_accepts_half_period_only_for_eclipsing_binaries():
    true = np.array([2.0, 2.0, 2.0, 2.0])
    found = np.array([2.001, 1.0, 1.0, 2.1])
    shape = np.array(["rrab", "eclipsing", "sinusoid", "rrab"])
    assert recovery_fraction(found, true, shape) == pytest.approx(0.5)
