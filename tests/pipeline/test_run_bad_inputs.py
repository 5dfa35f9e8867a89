"""Bad input: each case stops with one clear message (exit 2) naming file and column, or is
recorded in the failures table while the rest of the run completes. Runs use the real CLI
in-process with ``--no-cluster`` so each case takes well under a second."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import FIXTURES
from tests.helpers import assert_row_accounting, catalog_frame, run_cli, write_long
from vsbatch.io.catalog import open_catalog

T = [float(x) for x in range(10)]
M = [15.0 + 0.1 * math.sin(x) for x in range(10)]
E = [0.02] * 10


def good(sid: str = "a", n: int = 10) -> dict[str, list]:
    return {"source_id": [sid] * n, "time": T[:n], "mag": M[:n], "mag_err": E[:n]}


STATS_ONLY = ("--stages", "stats")  # these cases are about input handling, not the kernels


def run_ok(capsys, tmp_path: Path, src: Path, *extra: str) -> tuple[Path, str]:
    out = tmp_path / "cat"
    extra = extra or STATS_ONLY
    code, _stdout, stderr = run_cli(capsys, "run", src, "-o", out, "--no-cluster", *extra)
    assert code == 0, stderr
    return out, stderr


def run_bad(capsys, src: Path | str, tmp_path: Path, *extra: str) -> str:
    out = tmp_path / "cat"
    code, _, stderr = run_cli(capsys, "run", src, "-o", out, "--no-cluster", *STATS_ONLY, *extra)
    assert code == 2, stderr
    assert not (tmp_path / "cat" / "_manifest.json").exists()
    return stderr


# --- schema errors: exit 2 before any work, naming file and column ---------------------------


def test_missing_required_column(capsys, tmp_path: Path) -> None:
    rows = good()
    del rows["mag_err"]
    src = write_long(tmp_path / "in.parquet", rows)
    err = run_bad(capsys, src, tmp_path)
    assert f"{src}: required column 'mag_err' is missing (columns: source_id, time, mag)" in err


def test_renamed_column_fixed_by_column_map(capsys, tmp_path: Path) -> None:
    rows = good()
    rows["hjd"] = rows.pop("time")
    src = write_long(tmp_path / "in.parquet", rows)
    assert "required column 'time' is missing" in run_bad(capsys, src, tmp_path)
    out, _ = run_ok(capsys, tmp_path, src, "--column", "time=hjd", *STATS_ONLY)
    assert catalog_frame(out).n_obs.tolist() == [10]


def test_mistyped_magnitude_column(capsys, tmp_path: Path) -> None:
    rows = good()
    rows["mag"] = [str(v) for v in rows["mag"]]
    src = write_long(tmp_path / "in.parquet", rows)
    err = run_bad(capsys, src, tmp_path)
    assert f"{src}: column 'mag' has type string, expected one of float64, float32" in err


def test_mistyped_source_id_column(capsys, tmp_path: Path) -> None:
    rows = good()
    rows["source_id"] = [1.5] * 10
    src = write_long(tmp_path / "in.parquet", rows)
    err = run_bad(capsys, src, tmp_path)
    assert "column 'source_id' has type double, expected one of int64, int32, string" in err


def test_source_id_types_differ_across_files(capsys, tmp_path: Path) -> None:
    write_long(tmp_path / "in" / "a.parquet", good("a"))
    rows = good()
    rows["source_id"] = [7] * 10
    write_long(tmp_path / "in" / "b.parquet", rows)
    err = run_bad(capsys, tmp_path / "in", tmp_path)
    assert "column source_id has different types across files" in err


def test_null_source_id(capsys, tmp_path: Path) -> None:
    rows = good()
    rows["source_id"] = ["a"] * 9 + [None]
    src = write_long(tmp_path / "in.parquet", rows)
    assert f"{src}: 1 rows have a null source_id" in run_bad(capsys, src, tmp_path)


def test_empty_parquet_file(capsys, tmp_path: Path) -> None:
    empty = {
        k: pa.array([], t)
        for k, t in [
            ("source_id", pa.string()),
            ("time", pa.float64()),
            ("mag", pa.float64()),
            ("mag_err", pa.float64()),
        ]
    }
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table(empty), src)
    assert f"{src}: the input holds no light-curve rows" in run_bad(capsys, src, tmp_path)


def test_empty_folder(capsys, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    assert "no input files found" in run_bad(capsys, tmp_path / "in", tmp_path)


def test_missing_path(capsys, tmp_path: Path) -> None:
    err = run_bad(capsys, tmp_path / "nope.parquet", tmp_path)
    assert f"{tmp_path / 'nope.parquet'}: no such file or folder" in err


def test_wrong_format_file(capsys, tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    src.write_text("source_id,time,mag,mag_err\na,1,2,3\n")
    assert f"{src}: cannot read as Parquet" in run_bad(capsys, src, tmp_path)


def test_truncated_parquet(capsys, tmp_path: Path) -> None:
    data = (FIXTURES / "asas_i_12.parquet").read_bytes()
    src = tmp_path / "in.parquet"
    src.write_bytes(data[: len(data) // 2])
    assert f"{src}: cannot read as Parquet" in run_bad(capsys, src, tmp_path)


def test_mixed_long_and_nested_files(capsys, tmp_path: Path) -> None:
    write_long(tmp_path / "in" / "a.parquet", good("a"))
    lc = pa.array([{"time": T, "mag": M, "mag_err": E}])
    pq.write_table(pa.table({"source_id": ["b"], "lc": lc}), tmp_path / "in" / "b.parquet")
    assert "mixes long-format and nested ('lc') files" in run_bad(capsys, tmp_path / "in", tmp_path)


def test_nested_column_not_a_struct(capsys, tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"source_id": ["a"], "lc": [1.0]}), src)
    err = run_bad(capsys, src, tmp_path)
    assert f"{src}: column 'lc' must be a struct of lists, is double" in err


def test_nested_lists_of_different_length(capsys, tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    lc = pa.array([{"time": T, "mag": M[:9], "mag_err": E}])
    pq.write_table(pa.table({"source_id": ["a"], "lc": lc}), src)
    assert "lists 'time' and 'mag' of the light-curve column differ in length" in run_bad(
        capsys, src, tmp_path
    )


def test_existing_catalog_is_never_clobbered(capsys, tmp_path: Path) -> None:
    src = write_long(tmp_path / "in.parquet", good())
    out, _ = run_ok(capsys, tmp_path, src)
    before = (out / "_manifest.json").read_text()
    code, _, err = run_cli(capsys, "run", src, "-o", out, "--no-cluster")
    assert code == 2 and "already holds a catalog" in err
    assert (out / "_manifest.json").read_text() == before


def test_keep_going_records_corrupt_file_and_completes(capsys, tmp_path: Path) -> None:
    write_long(tmp_path / "in" / "a.parquet", good("a"))
    write_long(tmp_path / "in" / "b.parquet", good("b"))
    bad = tmp_path / "in" / "c.parquet"
    bad.write_bytes(b"PAR1 this is not parquet PAR1")
    assert f"{bad}: cannot read as Parquet" in run_bad(capsys, tmp_path / "in", tmp_path)
    out, _ = run_ok(capsys, tmp_path, tmp_path / "in", "--keep-going", *STATS_ONLY)
    assert catalog_frame(out).source_id.tolist() == ["a", "b"]
    fails = open_catalog(out).failures().to_pylist()
    assert len(fails) == 1 and fails[0]["stage"] == "read" and fails[0]["file"] == str(bad)
    assert "cannot read as Parquet" in fails[0]["reason"]


# --- value problems: the row policy, counted per light curve --------------------------------


def test_value_problems_are_dropped_and_counted(capsys, tmp_path: Path) -> None:
    rows = good("a")
    rows["mag"][1] = float("nan")
    rows["time"][2] = float("inf")
    rows["mag_err"][3] = 0.0
    rows["mag_err"][4] = -0.1
    for k in rows:  # two exact duplicates of the last epoch
        rows[k] = rows[k] + [rows[k][-1]] * 2
    src = write_long(tmp_path / "in.parquet", rows)
    out, _ = run_ok(capsys, tmp_path, src)
    row = catalog_frame(out).iloc[0]
    assert (row.n_input, row.n_dropped_nonfinite, row.n_dropped_bad_err) == (12, 2, 2)
    assert (row.n_dropped_duplicate, row.n_obs) == (2, 6)


def test_unsorted_epochs_give_the_sorted_result(capsys, tmp_path: Path) -> None:
    rows = good("a")
    order = np.random.default_rng(3).permutation(10)
    shuffled = {k: [v[i] for i in order] for k, v in rows.items()}
    out_sorted, _ = run_ok(capsys, tmp_path / "s", write_long(tmp_path / "s.parquet", rows))
    out_shuf, _ = run_ok(capsys, tmp_path / "u", write_long(tmp_path / "u.parquet", shuffled))
    a, b = catalog_frame(out_sorted), catalog_frame(out_shuf)
    pd.testing.assert_frame_equal(a, b)
    assert np.isfinite(a.von_neumann_eta[0])


@pytest.mark.parametrize(
    ("n", "mutate", "reason"),
    [
        (3, None, "3 valid epochs after cleaning, minimum 5 (input 3; dropped 0 non-finite"),
        (1, None, "1 valid epochs after cleaning, minimum 5"),
        (10, "nan", "0 valid epochs after cleaning, minimum 5 (input 10; dropped 10 non-finite"),
        (10, "zero_err", "0 valid epochs after cleaning, minimum 5 (input 10; dropped 0 non-fin"),
    ],
)
def test_too_few_valid_epochs_is_a_failure_record(
    capsys, tmp_path: Path, n: int, mutate: str | None, reason: str
) -> None:
    rows = {k: v + good("ok")[k] for k, v in good("bad", n).items()}
    if mutate == "nan":
        rows["mag"][:n] = [float("nan")] * n
    elif mutate == "zero_err":
        rows["mag_err"][:n] = [0.0] * n
    src = write_long(tmp_path / "in.parquet", rows)
    out, _ = run_ok(capsys, tmp_path, src)
    assert catalog_frame(out).source_id.tolist() == ["ok"]
    fails = open_catalog(out).failures().to_pylist()
    assert [(f["source_id"], f["stage"]) for f in fails] == [("bad", "clean")]
    assert reason in fails[0]["reason"] and fails[0]["source_id"] == "bad"
    assert_row_accounting(pd.DataFrame(rows), out)


def test_all_equal_magnitudes_and_zero_time_span(capsys, tmp_path: Path) -> None:
    rows = good("flat")
    rows["mag"] = [14.0] * 10
    rows["time"] = [5.0] * 10
    rows["mag"] = [14.0 + 0.01 * i for i in range(10)]  # distinct epochs at one time
    src = write_long(tmp_path / "in.parquet", rows)
    out, _ = run_ok(capsys, tmp_path, src)
    row = catalog_frame(out).iloc[0]
    assert row.time_span == 0.0 and row.n_obs == 10
    rows["mag"] = [14.0] * 10
    rows["time"] = T
    out2, _ = run_ok(capsys, tmp_path / "b", write_long(tmp_path / "flat.parquet", rows))
    row = catalog_frame(out2).iloc[0]
    assert row.mag_std == 0.0 and pd.isna(row.skewness) and pd.isna(row.stetson_k)


def test_nested_source_without_epochs_is_a_failure(capsys, tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    lc = pa.array([{"time": T, "mag": M, "mag_err": E}, {"time": [], "mag": [], "mag_err": []}])
    pq.write_table(pa.table({"source_id": ["a", "empty"], "lc": lc}), src)
    out, _ = run_ok(capsys, tmp_path, src)
    fails = open_catalog(out).failures().to_pylist()
    assert [(f["source_id"], f["stage"]) for f in fails] == [("empty", "clean")]
    assert "0 valid epochs" in fails[0]["reason"]


def test_mixed_bands_are_separate_light_curves(capsys, tmp_path: Path) -> None:
    rows = {k: v + v for k, v in good("a").items()}
    rows["band"] = ["g"] * 10 + ["r"] * 10
    rows["band"][3] = None
    src = write_long(tmp_path / "in.parquet", rows)
    out, _ = run_ok(capsys, tmp_path, src)
    df = catalog_frame(out)
    assert list(zip(df.band, df.n_obs, strict=True)) == [("g", 9), ("r", 10)]
    fails = open_catalog(out).failures().to_pylist()
    assert [(f["source_id"], f["band"]) for f in fails] == [("a", None)]


def test_extra_columns_carried_or_ignored(capsys, tmp_path: Path) -> None:
    rows = {k: v + good("b")[k] for k, v in good("a").items()}
    rows["period"] = [0.5] * 10 + [0.7] * 10
    rows["label"] = ["RRab"] * 20
    rows["airmass"] = [1.0 + 0.01 * i for i in range(20)]
    src = write_long(tmp_path / "in.parquet", rows)
    out, stderr = run_ok(capsys, tmp_path, src)
    df = catalog_frame(out)
    assert df.catalog_period.tolist() == [0.5, 0.7] and df.label.tolist() == ["RRab", "RRab"]
    assert "airmass" not in df.columns and "period" not in df.columns
    assert "columns not constant per source, ignored: airmass" in stderr


def test_float32_and_int_ids_are_accepted(capsys, tmp_path: Path) -> None:
    table = pa.table(
        {
            "source_id": pa.array([42] * 10, pa.int32()),
            "time": pa.array(T, pa.float32()),
            "mag": pa.array(M, pa.float32()),
            "mag_err": pa.array(E, pa.float32()),
        }
    )
    src = tmp_path / "in.parquet"
    pq.write_table(table, src)
    out, _ = run_ok(capsys, tmp_path, src)
    df = catalog_frame(out)
    assert df.source_id.tolist() == [42] and df.n_obs.tolist() == [10]


def test_real_asas_files_with_duplicates_process(capsys, tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "asas_i_12.parquet", tmp_path / "in.parquet")
    out, _ = run_ok(capsys, tmp_path, tmp_path / "in.parquet")
    df = catalog_frame(out)
    raw = pd.read_parquet(FIXTURES / "asas_i_12.parquet")
    assert len(df) == raw.source_id.nunique() == 12
    assert df.n_dropped_duplicate.sum() > 0
    assert (
        df.n_input
        == df.n_obs + df.n_dropped_duplicate + df.n_dropped_nonfinite + df.n_dropped_bad_err
    ).all()
    assert_row_accounting(raw, out)


def test_short_light_curves_get_stage_failures_but_keep_their_row(capsys, tmp_path: Path) -> None:
    """Ten epochs: enough for stats and a period, too few for a 10th-order Fourier fit and
    the frequency analysis (which need 2K + 1 + 10): recorded per stage, row kept."""
    src = write_long(tmp_path / "in.parquet", good("short"))
    out, _ = run_ok(capsys, tmp_path, src, "--stages", "default", "--fmax", "2")
    row = catalog_frame(out).iloc[0]
    assert row.n_obs == 10 and np.isfinite(row.period) and pd.isna(row.r21)
    fails = open_catalog(out).failures().to_pylist()
    expected = [("fourier", "too few usable epochs")]
    if pd.isna(row.fa_skipped):  # an RR Lyrae-like period: analysed, and too short for it
        expected.append(("freqanalysis", "too few usable epochs"))
    assert [(f["stage"], f["reason"]) for f in fails] == expected


@pytest.mark.parametrize("bad_file", ["../outside.parquet", "/etc/passwd", "part=o0p0/../../x"])
def test_manifest_cannot_point_outside_the_catalog(capsys, tmp_path: Path, bad_file: str) -> None:
    import json

    src = write_long(tmp_path / "in.parquet", good())
    out, _ = run_ok(capsys, tmp_path, src)
    manifest = json.loads((out / "_manifest.json").read_text())
    manifest["partitions"][0]["file"] = bad_file
    (out / "_manifest.json").write_text(json.dumps(manifest))
    outside = tmp_path / "outside.parquet"
    outside.write_bytes(b"keep me")
    for args in (["query", out, "SELECT 1"], ["run", src, "-o", out, "--update", "--no-cluster"]):
        code, _, err = run_cli(capsys, *args)
        assert code == 2 and "outside" in err and "refusing" in err
    assert outside.read_bytes() == b"keep me"


def test_corrupt_manifest_is_a_clear_error(capsys, tmp_path: Path) -> None:
    src = write_long(tmp_path / "in.parquet", good())
    out, _ = run_ok(capsys, tmp_path, src)
    (out / "_manifest.json").write_text('{"run_id": 1}')
    code, _, err = run_cli(capsys, "query", out, "SELECT 1")
    assert code == 2 and "not a valid vsbatch manifest" in err
