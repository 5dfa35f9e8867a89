"""The row policy drops values no statistic can use: a mag_err of 1e300 or
1e-300 and a mag of 1e300 are counted drops, never ZeroDivisionError records, a row with
``n_obs = -1`` or ``mag_std = inf``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import FIXTURES
from tests.helpers import run_cli
from vsbatch.io.catalog import open_catalog


def test_absurd_errors_and_magnitudes_are_dropped_and_counted(capsys, tmp_path: Path) -> None:
    table = pq.read_table(FIXTURES / "asas_i_12.parquet")
    ids = table.column("source_id").to_pylist()
    first, second = sorted(set(ids))[:2]
    mag, err = table.column("mag").to_numpy().copy(), table.column("mag_err").to_numpy().copy()
    rows = [i for i, s in enumerate(ids) if s == first][:3]
    err[rows[0]], err[rows[1]], mag[rows[2]] = 1e300, 1e-300, 1e300
    err[[i for i, s in enumerate(ids) if s == second]] = 1e300  # every epoch of a source
    table = table.set_column(2, "mag", pa.array(mag)).set_column(3, "mag_err", pa.array(err))
    pq.write_table(table, tmp_path / "in.parquet")
    out = tmp_path / "cat"
    code, _, err_text = run_cli(capsys, "run", tmp_path / "in.parquet", "-o", out,
                                "--no-cluster", "--stages", "stats")  # fmt: skip
    assert code == 0, err_text
    cat = open_catalog(out)
    df = cat.to_pandas().set_index("source_id")
    row = df.loc[first]
    assert (row.n_dropped_bad_err, row.n_dropped_nonfinite) == (2, 1)
    assert row.n_obs == row.n_input - 3 and np.isfinite(row.mag_std) and row.mag_std < 10
    assert (df.n_obs >= 0).all() and np.isfinite(df.mag_std).all()
    fails = cat.failures().to_pandas()
    assert not fails.reason.str.contains("ZeroDivision").any()
    assert list(fails.source_id) == [second] and list(fails.stage) == ["clean"]
