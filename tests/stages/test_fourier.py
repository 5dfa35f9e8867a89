"""The fourier stage in a real run: the BIC-chosen order is a catalog column, the fixed
order stays available."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.conftest import FIXTURES
from tests.helpers import catalog_frame, run_cli
from vsbatch.config import RunConfig
from vsbatch.errors import UsageError
from vsbatch.io.catalog import open_catalog


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
        assert np.isfinite(np.asarray(amps[:k], dtype=float)).all()
        assert all(a is None or not np.isfinite(a) for a in amps[k:])


def test_unknown_order_selection_is_refused() -> None:
    with pytest.raises(UsageError, match="fourier_order_selection must be one of"):
        RunConfig(fourier_order_selection="aic")
