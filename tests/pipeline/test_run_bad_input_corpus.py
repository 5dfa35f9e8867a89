"""Bad-input corpus, beyond tests/pipeline/test_run_bad_inputs.py: schema, values, sizes and files.

Each case stops with exit code 2 and one message naming the file and the column, or ends in
the catalog / failures table with every input (source, band) accounted for. Runs use the real
CLI in-process with ``--no-cluster`` and ``--stages stats`` unless a case is about another
stage. Cases marked ``xfail(strict=True, reason="BUG: ...")`` assert the correct behaviour of
a product bug; the owner removes the mark with the fix.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import operator
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import FIXTURES
from tests.helpers import (
    assert_row_accounting,
    catalog_frame,
    corrupt_page_header,
    run_cli,
    write_long,
)
from vsbatch.cli import main
from vsbatch.io.catalog import open_catalog

N = 10
T = [float(x) for x in range(N)]
M = [15.0 + 0.1 * math.sin(x) for x in range(N)]
E = [0.02] * N
STATS = ("--stages", "stats")


@pytest.fixture(autouse=True)
def _drop_cli_log_handlers() -> Iterator[None]:
    """cli.main adds a stderr handler per call; drop those a test added, so a later test does
    not log into an earlier test's closed capture stream ("--- Logging error ---")."""
    logger = logging.getLogger("vsbatch")
    before = list(logger.handlers)
    yield
    for handler in [h for h in logger.handlers if h not in before]:
        logger.removeHandler(handler)


def lc(sid: str = "a", n: int = N, t0: float = 0.0) -> dict[str, list]:
    """Long-format columns of one well-behaved light curve of ``n`` epochs."""
    return {
        "source_id": [sid] * n,
        "time": [t + t0 for t in T[:n]],
        "mag": M[:n],
        "mag_err": E[:n],
    }


def concat(*parts: dict[str, list]) -> dict[str, list]:
    return {k: functools.reduce(operator.iadd, (p[k] for p in parts), []) for k in parts[0]}


def frame(*tables: dict[str, list] | pa.Table) -> pd.DataFrame:
    """The input rows as one pandas frame (for the row accounting)."""
    return pd.concat(
        [pa.table(t).to_pandas() if isinstance(t, dict) else t.to_pandas() for t in tables],
        ignore_index=True,
    )


def run_ok(capsys, src: Path | str, out: Path, *extra: str) -> str:
    """Run to completion (exit 0); returns stderr."""
    code, _, err = run_cli(capsys, "run", src, "-o", out, "--no-cluster", *(extra or STATS))
    assert code == 0, err
    return err


def run_bad(capsys, src: Path | str, out: Path, *extra: str) -> str:
    """Run that must stop before any work with exit 2 and commit nothing; returns stderr."""
    code, _, err = run_cli(capsys, "run", src, "-o", out, "--no-cluster", *STATS, *extra)
    assert code == 2, err
    assert "internal error" not in err
    assert not (out / "_manifest.json").exists()
    return err


def names(text: str, column: str) -> bool:
    """Whether ``text`` names ``column`` as a whole word (quoted, or in a comma/colon list)."""
    return re.search(rf"(['\" ,:]){re.escape(column)}(['\" ,:]|$)", text, re.M) is not None


def failures(out: Path) -> list[dict]:
    return open_catalog(out).failures().to_pylist()


def run_with_deadline(
    capsys, args: list[str], fifo: Path, seconds: float = 3.0
) -> tuple[int | None, str, bool]:
    """The CLI in a thread; if it is still running after ``seconds`` (blocked opening the FIFO),
    open the FIFO's write end and close it so the reader sees EOF and the thread ends.
    Returns (exit code or None, stderr, blocked)."""
    result: dict[str, int] = {}
    thread = threading.Thread(target=lambda: result.update(code=main(args)), daemon=True)
    thread.start()
    thread.join(seconds)
    blocked = thread.is_alive()
    deadline = time.monotonic() + 10
    while thread.is_alive() and time.monotonic() < deadline:
        with contextlib.suppress(OSError):  # ENXIO: no reader yet
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(0.2)
    return result.get("code"), capsys.readouterr().err, blocked


# --- schema ----------------------------------------------------------------------------------


def test_required_column_missing_in_one_of_several_files(capsys, tmp_path: Path) -> None:
    write_long(tmp_path / "in" / "a.parquet", lc("a"))
    rows = lc("b")
    del rows["mag"]
    bad = write_long(tmp_path / "in" / "b.parquet", rows)
    err = run_bad(capsys, tmp_path / "in", tmp_path / "cat")
    assert f"{bad}: required column 'mag' is missing (columns: source_id, time, mag_err)" in err


def test_extra_column_in_only_some_files_is_ignored_with_a_notice(capsys, tmp_path: Path) -> None:
    a = {**lc("a"), "ra": [10.5] * N}
    write_long(tmp_path / "in" / "a.parquet", a)
    write_long(tmp_path / "in" / "b.parquet", lc("b"))
    err = run_ok(capsys, tmp_path / "in", tmp_path / "cat")
    assert "input fields ignored: ra" in err
    df = catalog_frame(tmp_path / "cat")
    assert df.source_id.tolist() == ["a", "b"] and "ra" not in df.columns
    assert_row_accounting(frame(a, lc("b")), tmp_path / "cat")


def test_time_column_of_timestamp_type(capsys, tmp_path: Path) -> None:
    rows = lc()
    start = np.datetime64("2020-01-01T00:00:00", "us")
    rows["time"] = pa.array(start + np.arange(N) * np.timedelta64(1, "D"), pa.timestamp("us"))
    src = write_long(tmp_path / "in.parquet", rows)
    err = run_bad(capsys, src, tmp_path / "cat")
    assert f"{src}: column 'time' has type timestamp[us], expected one of float64, float32" in err


def test_band_column_of_float_type(capsys, tmp_path: Path) -> None:
    src = write_long(tmp_path / "in.parquet", {**lc(), "band": [1.0] * N})
    err = run_bad(capsys, src, tmp_path / "cat")
    assert f"{src}: column 'band' has type double, expected one of string, int64, int32" in err


def test_nested_list_field_of_wrong_type(capsys, tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    nested = pa.array([{"time": [str(t) for t in T], "mag": M, "mag_err": E}])
    pq.write_table(pa.table({"source_id": ["a"], "lc": nested}), src)
    err = run_bad(capsys, src, tmp_path / "cat")
    assert f"{src}: column 'lc.time' has type string, expected one of float64, float32" in err


def test_nested_struct_without_mag_err(capsys, tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    nested = pa.array([{"time": T, "mag": M}])
    pq.write_table(pa.table({"source_id": ["a"], "lc": nested}), src)
    err = run_bad(capsys, src, tmp_path / "cat")
    assert f"{src}: required column 'lc.mag_err' is missing (columns: source_id, lc)" in err


def test_mapped_column_of_wrong_type_is_named_as_in_the_file(capsys, tmp_path: Path) -> None:
    rows = lc()
    rows["hjd"] = [f"{t:.1f}" for t in rows.pop("time")]
    src = write_long(tmp_path / "in.parquet", rows)
    err = run_bad(capsys, src, tmp_path / "cat", "--column", "time=hjd")
    assert f"{src}: column 'hjd'" in err and "has type string" in err


@pytest.mark.parametrize(
    ("type_a", "type_b"),
    [(pa.int32(), pa.int64()), (pa.dictionary(pa.int32(), pa.string()), pa.string())],
    ids=["int32-int64", "dictionary-string"],
)
def test_compatible_source_id_types_across_files(
    capsys, tmp_path: Path, type_a: pa.DataType, type_b: pa.DataType
) -> None:
    ids = {"a": 1, "b": 2} if pa.types.is_integer(type_b) else {"a": "s1", "b": "s2"}
    tables = []
    (tmp_path / "in").mkdir()
    for name, typ in (("a", type_a), ("b", type_b)):
        rows: dict = lc()
        rows["source_id"] = pa.array([ids[name]] * N).cast(typ)
        tables.append(pa.table(rows))
        pq.write_table(tables[-1], tmp_path / "in" / f"{name}.parquet")
    run_ok(capsys, tmp_path / "in", tmp_path / "cat")
    assert sorted(map(str, catalog_frame(tmp_path / "cat").source_id)) == sorted(
        map(str, ids.values())
    )
    assert_row_accounting(frame(*tables), tmp_path / "cat")


def test_extra_column_typed_differently_across_files(capsys, tmp_path: Path) -> None:
    a, b = {**lc("a"), "ra": [10.5] * N}, {**lc("b"), "ra": ["10h42m"] * N}
    write_long(tmp_path / "in" / "a.parquet", a)
    write_long(tmp_path / "in" / "b.parquet", b)
    out = tmp_path / "cat"
    code, _, err = run_cli(capsys, "run", tmp_path / "in", "-o", out, "--no-cluster", *STATS)
    assert code in (0, 2) and names(err, "ra"), err  # refused or reported, by name
    if code == 0:  # acceptable: not carried, with a notice
        assert "ra" not in catalog_frame(out).columns
        assert_row_accounting(frame(a, b), out)


def test_extra_list_column_is_ignored_with_a_notice(capsys, tmp_path: Path) -> None:
    rows = {**lc(), "flags": [[1, 2]] * N}
    src = write_long(tmp_path / "in.parquet", rows)
    code, _, err = run_cli(capsys, "run", src, "-o", tmp_path / "cat", "--no-cluster", *STATS)
    assert code == 0, err
    assert "flags" in err and "flags" not in catalog_frame(tmp_path / "cat").columns
    assert_row_accounting(frame(lc()), tmp_path / "cat")


@pytest.mark.parametrize(("name", "value"), [("mag_mean", 14.2), ("part", "field7")])
def test_extra_column_named_like_a_catalog_column(
    capsys, tmp_path: Path, name: str, value: object
) -> None:
    rows = {**lc(), name: [value] * N}
    src = write_long(tmp_path / "in.parquet", rows)
    out = tmp_path / "cat"
    code, _, err = run_cli(capsys, "run", src, "-o", out, "--no-cluster", *STATS)
    assert code in (0, 2) and names(err, name), err  # refused or reported, by name
    if code == 0:
        assert catalog_frame(out).source_id.tolist() == ["a"]
        assert_row_accounting(frame(lc()), out)


def test_null_page_in_one_row_group_and_a_source_across_row_groups(capsys, tmp_path: Path) -> None:
    """Row group 2 of 3 has mag all null (a writer that lost a chunk); source a spans all three
    row groups: its epochs are reassembled and the null ones dropped and counted."""
    src = tmp_path / "in.parquet"
    rows = concat(lc("a"), lc("b"), lc("a", t0=100.0))
    table = pa.table(rows)
    with pq.ParquetWriter(src, table.schema) as writer:
        writer.write_table(table.slice(0, 10))
        mag = pa.nulls(10, pa.float64())
        writer.write_table(table.slice(10, 10).set_column(2, "mag", mag))
        writer.write_table(table.slice(20, 10))
    assert pq.ParquetFile(src).metadata.num_row_groups == 3
    run_ok(capsys, src, tmp_path / "cat")
    df = catalog_frame(tmp_path / "cat").set_index("source_id")
    assert df.loc["a", "n_obs"] == 20 and df.loc["a", "time_span"] == 109.0
    fails = failures(tmp_path / "cat")
    assert [(f["source_id"], f["stage"]) for f in fails] == [("b", "clean")]
    assert "(input 10; dropped 10 non-finite time/mag" in fails[0]["reason"]
    assert_row_accounting(frame(rows), tmp_path / "cat")


def test_band_dictionary_in_one_file_plain_string_in_another(capsys, tmp_path: Path) -> None:
    a = pa.table({**lc("a"), "band": pa.array(["g"] * N).dictionary_encode()})
    b = pa.table({**lc("b"), "band": pa.array(["g"] * 5 + ["r"] * 5)})
    (tmp_path / "in").mkdir()
    pq.write_table(a, tmp_path / "in" / "a.parquet")
    pq.write_table(b, tmp_path / "in" / "b.parquet")
    run_ok(capsys, tmp_path / "in", tmp_path / "cat", "--stages", "stats", "--min-epochs", "3")
    df = catalog_frame(tmp_path / "cat")
    assert list(zip(df.source_id, df.band, df.n_obs, strict=True)) == [
        ("a", "g", 10),
        ("b", "g", 5),
        ("b", "r", 5),
    ]
    assert_row_accounting(frame(a, b), tmp_path / "cat")


def test_integer_band_codes_in_one_file_strings_in_another(capsys, tmp_path: Path) -> None:
    a = {**lc("a"), "band": [1] * 5 + [2] * 5}
    b = {**lc("b"), "band": ["1"] * N}
    write_long(tmp_path / "in" / "a.parquet", a)
    write_long(tmp_path / "in" / "b.parquet", b)
    run_ok(capsys, tmp_path / "in", tmp_path / "cat")
    df = catalog_frame(tmp_path / "cat")
    assert list(zip(df.source_id, df.band, strict=True)) == [("a", "1"), ("a", "2"), ("b", "1")]
    input_df = frame(a, b).assign(band=lambda d: d.band.astype(str))
    assert_row_accounting(input_df, tmp_path / "cat")


def test_band_column_missing_in_one_file(capsys, tmp_path: Path) -> None:
    a = {**lc("a"), "band": ["g"] * 5 + ["r"] * 5}
    b = lc("a", t0=100.0)
    write_long(tmp_path / "in" / "a.parquet", a)
    write_long(tmp_path / "in" / "b.parquet", b)
    out = tmp_path / "cat"
    code, _, err = run_cli(
        capsys, "run", tmp_path / "in", "-o", out, "--no-cluster", *STATS, "--min-epochs", "3"
    )
    if code == 2:  # refusing is correct too, naming the file and the column
        assert "b.parquet" in err and "band" in err
        return
    assert code == 0, err
    assert_row_accounting(frame(a, b), out)


# --- values ----------------------------------------------------------------------------------


def test_null_time_mag_and_mag_err_are_dropped_and_counted(capsys, tmp_path: Path) -> None:
    rows: dict[str, list] = lc()
    rows["time"][2], rows["mag"][1], rows["mag_err"][3] = None, None, None
    src = write_long(tmp_path / "in.parquet", rows)
    run_ok(capsys, src, tmp_path / "cat")
    row = catalog_frame(tmp_path / "cat").iloc[0]
    assert (row.n_input, row.n_dropped_nonfinite, row.n_dropped_bad_err, row.n_obs) == (
        10,
        2,
        1,
        7,
    )


def test_infinite_and_nan_errors_and_negative_infinite_magnitude(capsys, tmp_path: Path) -> None:
    rows = lc()
    rows["mag_err"][1], rows["mag_err"][2], rows["mag_err"][3] = math.inf, -math.inf, math.nan
    rows["mag"][4] = -math.inf
    src = write_long(tmp_path / "in.parquet", rows)
    run_ok(capsys, src, tmp_path / "cat")
    row = catalog_frame(tmp_path / "cat").iloc[0]
    assert (row.n_dropped_nonfinite, row.n_dropped_bad_err, row.n_obs) == (1, 3, 6)
    assert np.isfinite(row.mag_wmean)


def test_absurd_time_1e12_with_stats(capsys, tmp_path: Path) -> None:
    rows = lc("x")
    rows["time"][-1] = 1e12
    src = write_long(tmp_path / "in.parquet", rows)
    run_ok(capsys, src, tmp_path / "cat")
    row = catalog_frame(tmp_path / "cat").iloc[0]
    assert row.time_span == 1e12 and row.n_obs == 10
    assert_row_accounting(frame(rows), tmp_path / "cat")


def test_absurd_time_1e12_period_failure_is_explained(capsys, tmp_path: Path) -> None:
    bad = lc("x")
    bad["time"][-1] = 1e12
    rows = concat(bad, lc("ok"))
    src = write_long(tmp_path / "in.parquet", rows)
    run_ok(capsys, src, tmp_path / "cat", "--stages", "stats,period", "--fmax", "1")
    df = catalog_frame(tmp_path / "cat").set_index("source_id")
    assert np.isfinite(df.loc["ok", "period"])
    fails = [f for f in failures(tmp_path / "cat") if f["source_id"] == "x"]
    assert fails and all(
        "MemoryError" not in f["reason"] and "allocate" not in f["reason"] for f in fails
    )
    assert_row_accounting(frame(rows), tmp_path / "cat")


def test_absurd_time_alone_in_its_partition_does_not_fail_the_run(capsys, tmp_path: Path) -> None:
    rows = lc("x")
    rows["time"][-1] = 1e12
    src = write_long(tmp_path / "in.parquet", rows)
    code, _, err = run_cli(
        capsys, "run", src, "-o", tmp_path / "cat", "--no-cluster", "--stages", "stats,period"
    )
    assert code == 0, err
    assert [f["stage"] for f in failures(tmp_path / "cat")] == ["period"]
    assert_row_accounting(frame(rows), tmp_path / "cat")


def test_negative_times_are_valid(capsys, tmp_path: Path) -> None:
    rows = lc(t0=-2_450_000.0)
    src = write_long(tmp_path / "in.parquet", rows)
    run_ok(capsys, src, tmp_path / "cat")
    row = catalog_frame(tmp_path / "cat").iloc[0]
    assert (row.time_min, row.time_span, row.n_obs) == (-2_450_000.0, 9.0, 10)


def test_same_time_different_magnitude_is_not_a_duplicate(capsys, tmp_path: Path) -> None:
    rows = lc()
    for k in rows:  # epochs 0 and 1 observed twice, with other magnitudes
        rows[k] = rows[k] + rows[k][:2]
    rows["mag"][-2:] = [15.5, 15.6]
    src = write_long(tmp_path / "in.parquet", rows)
    run_ok(capsys, src, tmp_path / "cat")
    row = catalog_frame(tmp_path / "cat").iloc[0]
    assert (row.n_input, row.n_dropped_duplicate, row.n_obs) == (12, 0, 12)


def test_source_split_across_files_with_overlapping_epochs(capsys, tmp_path: Path) -> None:
    whole = lc()
    late_half = {k: v[5:] for k, v in whole.items()}
    write_long(tmp_path / "in" / "a.parquet", whole)
    write_long(tmp_path / "in" / "b.parquet", late_half)
    run_ok(capsys, tmp_path / "in", tmp_path / "split")
    run_ok(capsys, write_long(tmp_path / "one.parquet", whole), tmp_path / "one")
    split, one = catalog_frame(tmp_path / "split"), catalog_frame(tmp_path / "one")
    assert (split.n_input[0], split.n_dropped_duplicate[0]) == (15, 5)
    cols = [c for c in one.columns if not c.startswith(("n_input", "n_dropped_duplicate"))]
    pd.testing.assert_frame_equal(split[cols], one[cols])


# --- sizes -----------------------------------------------------------------------------------


def test_one_epoch_with_min_epochs_1(capsys, tmp_path: Path) -> None:
    src = write_long(tmp_path / "in.parquet", lc(n=1))
    run_ok(capsys, src, tmp_path / "cat", "--stages", "stats,period,dmdt", "--min-epochs", "1")
    row = catalog_frame(tmp_path / "cat").iloc[0]
    assert (row.n_obs, row.time_span, row.dmdt_n_pairs) == (1, 0.0, 0) and pd.isna(row.period)
    fails = failures(tmp_path / "cat")
    assert sorted((f["stage"], f["reason"]) for f in fails) == [
        ("dmdt", "too few usable epochs"),
        ("period", "1 epochs: a period needs at least 4"),
    ]
    assert_row_accounting(frame(lc(n=1)), tmp_path / "cat")


def test_two_epochs_stats_and_dmdt(capsys, tmp_path: Path) -> None:
    src = write_long(tmp_path / "in.parquet", lc(n=2))
    run_ok(capsys, src, tmp_path / "cat", "--stages", "stats,dmdt", "--min-epochs", "2")
    row = catalog_frame(tmp_path / "cat").iloc[0]
    assert (row.n_obs, row.time_span, row.dmdt_n_pairs, row.dmdt_sampled) == (2, 1.0, 1, False)
    assert failures(tmp_path / "cat") == []


def test_two_epochs_get_no_period(capsys, tmp_path: Path) -> None:
    src = write_long(tmp_path / "in.parquet", lc(n=2))
    two = ("--stages", "stats,period", "--min-epochs", "2", "--fmax", "1")
    run_ok(capsys, src, tmp_path / "cat", *two)
    row = catalog_frame(tmp_path / "cat").iloc[0]
    assert pd.isna(row.period) and pd.isna(row.power)
    assert [f["stage"] for f in failures(tmp_path / "cat")] == ["period"]


def test_zero_time_span_with_period_and_dmdt(capsys, tmp_path: Path) -> None:
    z = lc("z")
    z["time"] = [5.0] * N
    rows = concat(z, lc("ok"))
    src = write_long(tmp_path / "in.parquet", rows)
    run_ok(capsys, src, tmp_path / "cat", "--stages", "stats,period,dmdt", "--fmax", "1")
    df = catalog_frame(tmp_path / "cat").set_index("source_id")
    assert df.loc["z", "time_span"] == 0.0 and pd.isna(df.loc["z", "period"])
    assert np.isfinite(df.loc["ok", "period"]) and df.loc["ok", "dmdt_n_pairs"] == 45
    fails = failures(tmp_path / "cat")
    assert sorted((f["source_id"], f["stage"]) for f in fails) == [("z", "dmdt"), ("z", "period")]
    assert any("zero time span" in f["reason"] for f in fails)
    assert_row_accounting(frame(rows), tmp_path / "cat")


def test_all_equal_magnitudes_with_the_period_stage(capsys, tmp_path: Path) -> None:
    flat = {**lc("flat"), "mag": [14.0] * N}
    rows = concat(flat, lc("ok"))
    src = write_long(tmp_path / "in.parquet", rows)
    run_ok(capsys, src, tmp_path / "cat", "--stages", "stats,period", "--fmax", "1")
    df = catalog_frame(tmp_path / "cat").set_index("source_id")
    assert df.loc["flat", "mag_std"] == 0.0 and pd.isna(df.loc["flat", "period"])
    fails = failures(tmp_path / "cat")
    assert [(f["source_id"], f["stage"]) for f in fails] == [("flat", "period")]
    assert "constant magnitudes" in fails[0]["reason"]
    assert_row_accounting(frame(rows), tmp_path / "cat")


def test_million_epochs_in_one_source_finish_under_the_pair_cap(capsys, tmp_path: Path) -> None:
    n = 1_000_000
    rng = np.random.default_rng(8)
    t = np.sort(rng.uniform(0.0, 3000.0, n))
    table = pa.table(
        {
            "source_id": pa.array(["big"] * n).dictionary_encode(),
            "time": t,
            "mag": 15.0 + 0.3 * np.sin(2 * np.pi * t / 0.55) + rng.normal(0.0, 0.02, n),
            "mag_err": np.full(n, 0.02),
        }
    )
    src = tmp_path / "in.parquet"
    pq.write_table(table, src)
    started = time.monotonic()
    run_ok(capsys, src, tmp_path / "cat", "--stages", "stats,dmdt")
    assert time.monotonic() - started < 20.0
    row = catalog_frame(tmp_path / "cat").iloc[0]
    assert (row.n_obs, row.dmdt_n_pairs, row.dmdt_sampled) == (n, 10_000_000, True)
    assert failures(tmp_path / "cat") == []


def test_empty_file_among_good_files(capsys, tmp_path: Path) -> None:
    empty = pa.table(lc()).slice(0, 0)
    (tmp_path / "in").mkdir()
    pq.write_table(empty, tmp_path / "in" / "a.parquet")
    write_long(tmp_path / "in" / "b.parquet", lc("b"))
    run_ok(capsys, tmp_path / "in", tmp_path / "cat")
    assert catalog_frame(tmp_path / "cat").source_id.tolist() == ["b"]
    assert_row_accounting(frame(lc("b")), tmp_path / "cat")


def test_nested_null_light_curve_and_null_lists(capsys, tmp_path: Path) -> None:
    nested = pa.array(
        [
            {"time": T, "mag": M, "mag_err": E},
            None,
            {"time": None, "mag": None, "mag_err": None},
        ],
        pa.struct([(k, pa.list_(pa.float64())) for k in ("time", "mag", "mag_err")]),
    )
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"source_id": ["a", "null_lc", "null_lists"], "lc": nested}), src)
    run_ok(capsys, src, tmp_path / "cat")
    assert catalog_frame(tmp_path / "cat").source_id.tolist() == ["a"]
    fails = failures(tmp_path / "cat")
    assert sorted((f["source_id"], f["stage"]) for f in fails) == [
        ("null_lc", "clean"),
        ("null_lists", "clean"),
    ]
    assert all("0 valid epochs after cleaning" in f["reason"] for f in fails)
    ids = pd.DataFrame({"source_id": ["a", "null_lc", "null_lists"]})
    assert_row_accounting(ids, tmp_path / "cat")


# --- files -----------------------------------------------------------------------------------


def test_corrupt_data_page_behind_a_valid_footer(capsys, tmp_path: Path) -> None:
    src = write_long(tmp_path / "in.parquet", concat(lc("a"), lc("b")))
    corrupt_page_header(src)
    assert pq.read_schema(src).names == ["source_id", "time", "mag", "mag_err"]
    err = run_bad(capsys, src, tmp_path / "cat")
    assert f"{src}: cannot read (" in err and "page header" in err


def test_corrupt_data_page_with_keep_going_is_a_read_failure(capsys, tmp_path: Path) -> None:
    good = write_long(tmp_path / "in" / "a.parquet", lc("a"))
    bad = write_long(tmp_path / "in" / "b.parquet", concat(lc("b"), lc("c")))
    corrupt_page_header(bad)
    run_ok(capsys, tmp_path / "in", tmp_path / "cat", *STATS, "--keep-going")
    assert catalog_frame(tmp_path / "cat").source_id.tolist() == ["a"]
    fails = failures(tmp_path / "cat")
    assert [(f["stage"], f["file"]) for f in fails] == [("read", str(bad))]
    assert f"{bad}: cannot read (" in fails[0]["reason"]
    assert_row_accounting(pd.read_parquet(good), tmp_path / "cat")


def test_zero_byte_file(capsys, tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    src.touch()
    err = run_bad(capsys, src, tmp_path / "cat")
    assert f"{src}: cannot read as Parquet" in err


def test_non_parquet_file_inside_the_input_folder(capsys, tmp_path: Path) -> None:
    write_long(tmp_path / "in" / "a.parquet", lc("a"))
    readme = tmp_path / "in" / "README.txt"
    readme.write_text("light curves of field 7\n")
    err = run_bad(capsys, tmp_path / "in", tmp_path / "cat")
    assert f"{readme}: cannot read as Parquet" in err


def test_spark_markers_and_hidden_files_are_skipped(capsys, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_long(folder / "part-00000.snappy.parquet", lc("a"))
    write_long(folder / "band=I" / "part-00001.snappy.parquet", lc("b"))
    (folder / "_SUCCESS").touch()
    (folder / ".part-00000.snappy.parquet.crc").write_bytes(b"\x00crc")
    (folder / "_temporary").mkdir()
    (folder / "_temporary" / "junk.parquet").write_bytes(b"not parquet")
    run_ok(capsys, folder, tmp_path / "cat")
    assert catalog_frame(tmp_path / "cat").source_id.tolist() == ["a", "b"]
    assert_row_accounting(frame(lc("a"), lc("b")), tmp_path / "cat")


def test_glob_matching_a_dataset_folder(capsys, tmp_path: Path) -> None:
    write_long(tmp_path / "in" / "a.parquet", lc("a"))
    write_long(tmp_path / "in" / "b.parquet" / "part-00000.parquet", lc("b"))
    (tmp_path / "in" / "b.parquet" / "_SUCCESS").touch()
    out = tmp_path / "cat"
    code, _, err = run_cli(
        capsys, "run", str(tmp_path / "in" / "*.parquet"), "-o", out, "--no-cluster", *STATS
    )
    if code == 2:  # refusing, naming the folder, is correct too
        assert str(tmp_path / "in" / "b.parquet") in err
        return
    assert code == 0, err
    assert_row_accounting(frame(lc("a"), lc("b")), out)


def test_dangling_symlink_as_the_input(capsys, tmp_path: Path) -> None:
    link = tmp_path / "in.parquet"
    link.symlink_to(tmp_path / "gone.parquet")
    err = run_bad(capsys, link, tmp_path / "cat")
    assert f"{link}: no such file or folder" in err


@pytest.mark.parametrize("kind", ["dangling-symlink", "fifo"])
def test_unreadable_entry_inside_the_input_folder(capsys, tmp_path: Path, kind: str) -> None:
    write_long(tmp_path / "in" / "a.parquet", lc("a"))
    entry = tmp_path / "in" / "b.parquet"
    if kind == "fifo":
        os.mkfifo(entry)
    else:
        entry.symlink_to(tmp_path / "gone.parquet")
    args = ["run", str(tmp_path / "in"), "-o", str(tmp_path / "cat"), "--no-cluster", *STATS]
    code, err, blocked = run_with_deadline(capsys, args, entry)
    assert not blocked, "vsbatch blocked on a FIFO"
    assert code == 2 and str(entry) in err, err


def test_fifo_as_the_input(capsys, tmp_path: Path) -> None:
    fifo = tmp_path / "in.parquet"
    os.mkfifo(fifo)
    args = ["run", str(fifo), "-o", str(tmp_path / "cat"), "--no-cluster", *STATS]
    code, err, blocked = run_with_deadline(capsys, args, fifo)
    assert not blocked, "vsbatch blocked opening a FIFO"
    assert code == 2 and str(fifo) in err


# --- vsbatch ingest: text files ----------------------------------------------------------------


def text_lines(n: int = N) -> str:
    return "".join(f"{t} {m} {e}\n" for t, m, e in zip(T[:n], M[:n], E[:n], strict=True))


def test_ingest_utf16_text(capsys, tmp_path: Path) -> None:
    src = tmp_path / "star.dat"
    src.write_text(text_lines(), encoding="utf-16")
    code, _, err = run_cli(capsys, "ingest", src, "-o", tmp_path / "o.parquet")
    assert code == 2 and f"{src}: not UTF-8 text (byte 0)" in err
    assert not (tmp_path / "o.parquet").exists()


def test_ingest_csv_with_utf8_byte_order_mark(capsys, tmp_path: Path) -> None:
    src = tmp_path / "star.csv"
    body = "".join(f"{t},{m},{e}\n" for t, m, e in zip(T, M, E, strict=True))
    src.write_text("hjd,mag,magerr\n" + body, encoding="utf-8-sig")
    code, _, err = run_cli(capsys, "ingest", src, "-o", tmp_path / "o.parquet")
    assert code == 0, err
    assert pq.read_table(tmp_path / "o.parquet").to_pylist()[0]["lc"]["time"] == T


def test_ingest_csv_without_an_error_column(capsys, tmp_path: Path) -> None:
    src = tmp_path / "star.csv"
    src.write_text("mjd,mag\n1.0,12.0\n2.0,12.1\n")
    code, _, err = run_cli(capsys, "ingest", src, "-o", tmp_path / "o.parquet")
    assert code == 2
    assert f"{src}: no mag_err column in the CSV header (looked for mag_err, magerr, err" in err


def test_ingest_text_with_two_columns(capsys, tmp_path: Path) -> None:
    src = tmp_path / "star.dat"
    src.write_text("2128.69 17.28\n2131.61 17.30\n")
    code, _, err = run_cli(capsys, "ingest", src, "-o", tmp_path / "o.parquet")
    assert code == 2 and f"{src}: data line 1 has 2 columns, need 3" in err


def test_ingest_parquet_file_given_as_text(capsys, tmp_path: Path) -> None:
    src = FIXTURES / "ogle_blg_rrab_2.parquet"
    code, _, err = run_cli(capsys, "ingest", src, "-o", tmp_path / "o.parquet")
    assert code == 2 and f"{src}: not UTF-8 text (byte " in err


def test_ingest_directory_in_place_of_a_file(capsys, tmp_path: Path) -> None:
    folder = tmp_path / "star.dat"
    folder.mkdir()
    code, _, err = run_cli(capsys, "ingest", folder, "-o", tmp_path / "o.parquet")
    assert code == 2 and f"{folder}: no text light curves found" in err


def test_ingest_dangling_symlink_inside_the_folder(capsys, tmp_path: Path) -> None:
    folder = tmp_path / "lcs"
    folder.mkdir()
    (folder / "a.dat").write_text(text_lines())
    link = folder / "b.dat"
    link.symlink_to(tmp_path / "gone.dat")
    code, out, err = run_cli(capsys, "ingest", folder, "-o", tmp_path / "o.parquet")
    assert code == 2 and str(link) in err, out + err
