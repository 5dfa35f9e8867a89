"""Input folders lose nothing silently: hidden Parquet files are reported,
and an entry that is not a regular file is a failure record under ``--keep-going``."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import FIXTURES
from tests.helpers import run_cli
from vsbatch.errors import InputError
from vsbatch.io.catalog import open_catalog
from vsbatch.io.inputs import open_input
from vsbatch.query import query

STATS = ("--no-cluster", "--stages", "stats")


def _split_input(folder: Path) -> list[str]:
    """The fixture as two files, one named with a leading underscore; its source ids."""
    table = pq.read_table(FIXTURES / "asas_i_12.parquet")
    ids = sorted(set(table.column("source_id").to_pylist()))
    folder.mkdir()
    hidden = [i for i, s in enumerate(table.column("source_id").to_pylist()) if s in ids[:3]]
    shown = sorted(set(range(table.num_rows)) - set(hidden))
    pq.write_table(table.take(shown), folder / "a.parquet")
    pq.write_table(table.take(hidden), folder / "_b.parquet")
    return ids


def test_hidden_parquet_files_in_an_input_folder_are_reported(capsys, tmp_path: Path) -> None:
    _split_input(tmp_path / "in")
    code, _, err = run_cli(capsys, "run", tmp_path / "in", "-o", tmp_path / "cat", *STATS)
    assert code == 0
    assert "1 Parquet files named with a leading _ or . are not read" in err
    assert str(tmp_path / "in" / "_b.parquet") in err


@pytest.mark.parametrize("kind", ["dangling-symlink", "fifo"])
def test_an_odd_entry_is_a_failure_record_under_keep_going(
    capsys, tmp_path: Path, kind: str
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.parquet").write_bytes((FIXTURES / "asas_i_12.parquet").read_bytes())
    entry = tmp_path / "in" / "b.parquet"
    if kind == "fifo":
        os.mkfifo(entry)
    else:
        entry.symlink_to(tmp_path / "gone.parquet")
    out = tmp_path / "cat"
    code, _, err = run_cli(capsys, "run", tmp_path / "in", "-o", out, "--keep-going", *STATS)
    assert code == 0, err
    cat = open_catalog(out)
    assert cat.to_table().num_rows == 12
    fails = cat.failures().to_pandas()
    assert list(fails.file) == [str(entry)] and "not a regular file" in fails.reason.iloc[0]


def test_columns_differing_only_in_case_never_shadow_vsbatch_columns(
    capsys, tmp_path: Path
) -> None:
    """Issue 20 item 9: SQL engines fold case, so a carried ``N_OBS`` or ``Period`` would
    take the place of vsbatch's ``n_obs`` / ``catalog_period`` in ``SELECT``."""
    table = pq.read_table(FIXTURES / "asas_i_12.parquet")
    n = table.num_rows
    for name, value in [("N_OBS", 999), ("Period", 0.125), ("PART", 7), ("Label", 1), ("label", 2)]:
        table = table.append_column(name, pa.array([value] * n))
    table = table.append_column("period", pa.array([0.5] * n))
    pq.write_table(table, tmp_path / "in.parquet")
    out = tmp_path / "cat"
    code, _, err = run_cli(capsys, "run", tmp_path / "in.parquet", "-o", out, *STATS)
    assert code == 0, err
    assert "input fields ignored: Label, N_OBS, PART, Period, label" in err
    rows = query(out, "SELECT n_obs, catalog_period, part FROM catalog").to_pylist()
    assert all(r["n_obs"] < 999 and r["catalog_period"] == 0.5 for r in rows)
    assert all(r["part"].startswith("o") for r in rows)
    names = [c.lower() for c in open_catalog(out).to_table().column_names]
    assert len(names) == len(set(names))


def _with(tmp_path: Path, **columns: object) -> Path:
    table = pq.read_table(FIXTURES / "asas_i_12.parquet")
    for name, values in columns.items():
        table = pa.Table.from_arrays([*table.columns, values], names=[*table.column_names, name])
    path = tmp_path / "in.parquet"
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize(
    ("columns", "args", "message"),
    [
        ({"mag": "mag"}, [], "column 'mag' appears more than once"),
        ({}, ["--column", "time=nonexistent"], "--column time=nonexistent: the file has no column"),
        ({"hjd": "time"}, ["--column", "time=hjd"], "--column time=hjd, but the file also has"),
    ],
)
def test_bad_columns_are_input_errors_naming_the_file(
    capsys, tmp_path: Path, columns: dict[str, str], args: list[str], message: str
) -> None:
    """Issue 20 item 10: these were tracebacks with exit 1."""
    table = pq.read_table(FIXTURES / "asas_i_12.parquet")
    src = _with(tmp_path, **{k: table.column(v) for k, v in columns.items()})
    code, _, err = run_cli(capsys, "run", src, "-o", tmp_path / "cat", *STATS, *args)
    assert code == 2 and f"{src}: {message}" in err and "internal error" not in err, err


def test_an_unreachable_url_is_an_input_error(capsys, tmp_path: Path, monkeypatch) -> None:
    """Issue 20 item 10: a closed local port stands for an unreachable object store (no
    network needed; dummy keys so that no credential lookup is attempted)."""
    for key, value in [("AWS_ACCESS_KEY_ID", "none"), ("AWS_SECRET_ACCESS_KEY", "none"),
                       ("AWS_EC2_METADATA_DISABLED", "true")]:  # fmt: skip
        monkeypatch.setenv(key, value)
    url = "s3://bucket/lc.parquet?endpoint_override=127.0.0.1:9&scheme=http&region=us-east-1"
    code, _, err = run_cli(capsys, "run", url, "-o", tmp_path / "cat", *STATS)
    assert code == 2 and "cannot reach the input" in err and "internal error" not in err, err


def test_a_csv_given_to_run_says_how_to_convert_it(tmp_path: Path) -> None:
    """`vsbatch run x.csv` once said only "Parquet magic bytes not found"."""
    csv = tmp_path / "stars.csv"
    csv.write_text("source_id,time,mag,mag_err\na,1.0,12.0,0.01\n")
    with pytest.raises(InputError, match=r"stars\.csv: cannot read as Parquet .*vsbatch ingest"):
        open_input(str(csv))
