"""The fourier and freqanalysis stages: the BIC-chosen order as a catalog column (the fixed
order stays available), the amplitude guard, and where the frequency analysis runs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.conftest import FIXTURES
from tests.helpers import catalog_frame, run_cli
from vsbatch.config import RunConfig
from vsbatch.errors import UsageError
from vsbatch.failures import FailureLog
from vsbatch.io.catalog import open_catalog
from vsbatch.kernels import LightCurves
from vsbatch.stages.context import StageContext
from vsbatch.stages.fourier import fourier_stage, freqanalysis_stage

PERIODS = (0.3, 2.1, 13.7, np.nan, 0.5)


def _context(type_column: str | None = None) -> tuple[StageContext, FailureLog]:
    """Sinusoids (0.3 mag, 0.02 mag noise) over 1000 d at the given periods; the 0.5-d one
    has 40 epochs covering only phases 0-0.8, where a 10-harmonic series swings freely."""
    rng = np.random.default_rng(2)
    segments = []
    for period in PERIODS:
        if period == 0.5:
            t = np.sort(rng.integers(0, 1000, 40) * 0.5 + rng.uniform(0, 0.4, 40))
        else:
            t = np.sort(rng.uniform(0, 1000, 300))
        err = np.full(t.size, 0.02)
        signal = 0.3 * np.sin(2 * np.pi * t / np.nan_to_num(period, nan=1.0))
        segments.append((t, 15 + signal + err * rng.standard_normal(t.size), err))
    columns = {"source_id": list("abcde"), "band": ["V"] * 5, "period": np.array(PERIODS)}
    columns["type"] = np.array(["RRab", "RRc", "EB", "RRd", "Cep"], dtype=object)
    failures = FailureLog("test")
    config = RunConfig(fmax=5.0, type_column=type_column)
    return StageContext(LightCurves.from_segments(segments), columns, config, failures), failures


def _reasons(failures: FailureLog) -> dict[str, str]:
    rows = failures.to_table().to_pylist()
    return {r["source_id"]: r["reason"] for r in rows if r["stage"] == "fourier"}


def test_an_amplitude_beyond_the_observed_range_is_nulled_with_a_reason() -> None:
    """At the fixed 10th order (the BIC order does not overfit this gap)."""
    ctx, failures = _context()
    ctx = dataclasses.replace(
        ctx, config=dataclasses.replace(ctx.config, fourier_order_selection="fixed")
    )
    out = fourier_stage(ctx)
    np.testing.assert_allclose(out["amplitude"][:3], 0.6, rtol=0.05)
    assert np.isnan(out["amplitude"][4]) and np.isnan(out["r21"][4])
    assert np.isnan(out["fourier_amplitudes"][4]).all()
    assert np.isfinite(out["fourier_rms"][4])  # fit quality stays: it shows the overfit
    assert "exceeds the observed range" in _reasons(failures)["e"]


def test_frequency_analysis_only_for_rr_lyrae_periods() -> None:
    ctx, _ = _context()
    ctx.columns.update(fourier_stage(ctx))
    out = freqanalysis_stage(ctx)
    assert out["fa_class"][0] == "nBL" and out["fa_skipped"][0] is None
    assert list(out["fa_class"][1:4]) == [None] * 3
    assert list(out["fa_skipped"][1:4]) == [
        "period 2.1 d outside 0.2-1 d",
        "period 13.7 d outside 0.2-1 d",
        "no period to fold on",
    ]
    assert np.isnan(out["fa_snr"][1:4]).all()


def test_frequency_analysis_by_type_column() -> None:
    ctx, _ = _context(type_column="type")
    ctx.columns.update(fourier_stage(ctx))
    out = freqanalysis_stage(ctx)
    assert out["fa_skipped"][0] is None and out["fa_skipped"][1] is None  # RRc at 2.1 d: runs
    assert out["fa_skipped"][2] == "type 'EB' is not an RR Lyrae type"
    assert out["fa_class"][2] is None and out["fa_class"][0] == "nBL"


def _input(tmp_path: Path) -> Path:
    """The two real OGLE RRab and a 55-epoch subsample of one (Stripe 82-like sampling)."""
    df = pd.read_parquet(FIXTURES / "ogle_blg_rrab_2.parquet")
    one = df[df.source_id == "OGLE-BLG-RRLYR-02950"]
    sparse = one.iloc[np.random.default_rng(0).choice(len(one), 55, replace=False)]
    sparse = sparse.assign(source_id="OGLE-BLG-RRLYR-02950-sparse")
    path = tmp_path / "in.parquet"
    pd.concat([df, sparse]).to_parquet(path)
    return path


@pytest.mark.parametrize("selection", ["bic", "fixed"])
def test_fourier_order_column_in_a_real_run(tmp_path: Path, capsys, selection: str) -> None:
    out = tmp_path / "cat"
    args = ["run", _input(tmp_path), "-o", out, "--stages", "stats,fourier", "--fold-period",
            "catalog", "--no-cluster", "--fourier-order-selection", selection]  # fmt: skip
    code, _, err = run_cli(capsys, *args)
    assert code == 0, err
    schema = pq.read_schema(open_catalog(out).files[0])
    assert str(schema.field("fourier_order").type) == "int16"
    df = catalog_frame(out).set_index("source_id")
    order = df.fourier_order.to_dict()
    if selection == "fixed":
        assert set(order.values()) == {10}
    else:
        assert order["OGLE-BLG-RRLYR-02950-sparse"] < order["OGLE-BLG-RRLYR-02950"] <= 10
        assert order["OGLE-BLG-RRLYR-02950-sparse"] >= 1
    for sid, k in order.items():  # harmonics beyond the chosen order are null
        amps = df.loc[sid, "fourier_amplitudes"]
        if not np.isfinite(df.loc[sid, "amplitude"]):  # the amplitude guard nulled the shape
            assert selection == "fixed" and sid.endswith("sparse")
            continue
        assert np.isfinite(np.asarray(amps[:k], dtype=float)).all()
        assert all(a is None or not np.isfinite(a) for a in amps[k:])


def test_unknown_order_selection_is_refused() -> None:
    with pytest.raises(UsageError, match="fourier_order_selection must be one of"):
        RunConfig(fourier_order_selection="aic")
