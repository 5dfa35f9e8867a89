"""Text ingest, SQL queries and the small commands, through the real CLI."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.conftest import FIXTURES, SHARED_DATA, shared_file
from tests.helpers import run_cli
from vsbatch.cli import _dataclass_from_args, build_parser, main
from vsbatch.cluster import ClusterSpec
from vsbatch.config import RunConfig, command_line_options
from vsbatch.io.text import ingest_text, source_id_of
from vsbatch.schema import table_schema


def test_ingest_shipped_text_fixtures_then_run(capsys, tmp_path: Path) -> None:
    out = tmp_path / "lcs.parquet"
    code, stdout, _ = run_cli(capsys, "ingest", FIXTURES / "text", "-o", out, "--band", "I")
    assert code == 0 and "ingested 3 sources" in stdout
    table = pq.read_table(out)
    assert table.column("source_id").to_pylist() == ["000036+2639.8", "000316-1125.1", "02950"]
    raw = np.loadtxt(FIXTURES / "text" / "02950.o3")
    lc = table.to_pylist()[2]["lc"]
    np.testing.assert_array_equal(lc["time"], raw[:, 0])
    np.testing.assert_array_equal(lc["mag_err"], raw[:, 2])
    assert set(lc["band"]) == {"I"}
    code, _, err = run_cli(capsys, "run", out, "-o", tmp_path / "cat", "--no-cluster")
    assert code == 0, err
    code, stdout, _ = run_cli(
        capsys,
        "query",
        tmp_path / "cat",
        "SELECT source_id, n_obs FROM catalog ORDER BY source_id",
        "--format",
        "csv",
    )
    assert stdout.splitlines() == [
        "source_id,n_obs",
        "000036+2639.8,49",
        "000316-1125.1,91",
        f"02950,{len(raw)}",
    ]


def test_ingest_shared_raw_text_examples(tmp_path: Path) -> None:
    folder = shared_file("raw-text-examples")
    summary = ingest_text([str(folder)], tmp_path / "x.parquet")
    assert summary.sources == 7  # five ASAS stars, two OGLE stars with .o3 + .o4 merged
    table = pq.read_table(tmp_path / "x.parquet").to_pylist()
    by_id = {r["source_id"]: r["lc"] for r in table}
    n3 = len(np.loadtxt(SHARED_DATA / "raw-text-examples" / "13534.o3"))
    n4 = len(np.loadtxt(SHARED_DATA / "raw-text-examples" / "13534.o4"))
    assert len(by_id["13534"]["time"]) == n3 + n4


def test_ingest_csv_with_header_aliases(tmp_path: Path) -> None:
    (tmp_path / "star1.csv").write_text("HJD,Mag,magerr,filter\n1.0,12.0,0.01,g\n2.0,12.5,0.01,r\n")
    summary = ingest_text([str(tmp_path / "*.csv")], tmp_path / "o.parquet")
    row = pq.read_table(tmp_path / "o.parquet").to_pylist()[0]
    assert summary.sources == 1 and row["lc"]["band"] == ["g", "r"]
    assert row["lc"]["mag"] == [12.0, 12.5]


def test_ingest_bad_text_files(capsys, tmp_path: Path) -> None:
    (tmp_path / "a.dat").write_bytes(b"1.0 12.0 0.01\n2.0 \xff\xfe 0.01\n")
    (tmp_path / "b.dat").write_text("# header\n1.0 12.0 0.01\n2.0 twelve 0.01\n")
    (tmp_path / "c.dat").write_text("1.0 12.0 0.01\n2.0 12.1 0.01\n")
    code, _, err = run_cli(capsys, "ingest", tmp_path / "a.dat", "-o", tmp_path / "o.parquet")
    assert code == 2 and f"{tmp_path / 'a.dat'}: not UTF-8 text (byte 18)" in err
    code, _, err = run_cli(capsys, "ingest", tmp_path / "b.dat", "-o", tmp_path / "o.parquet")
    assert code == 2 and "b.dat: data line 2 is not numeric: '2.0 twelve 0.01'" in err
    code, stdout, err = run_cli(
        capsys, "ingest", tmp_path, "-o", tmp_path / "out" / "o.parquet", "--keep-going"
    )
    assert code == 0 and "ingested 1 sources" in stdout and "(2 files failed)" in stdout
    fails = pq.read_table(tmp_path / "out" / "_o_failures.parquet").to_pylist()
    assert sorted(Path(f["file"]).name for f in fails) == ["a.dat", "b.dat"]
    assert source_id_of(Path("000036+2639.8.lc")) == "000036+2639.8"


def test_query_formats_and_failures_table(capsys, tmp_path: Path) -> None:
    df = pd.read_parquet(FIXTURES / "asas_i_12.parquet")
    short = df[df.source_id == df.source_id.iloc[0]].head(3).assign(source_id="SHORT")
    pd.concat([df, short]).to_parquet(tmp_path / "in.parquet")
    code, _, _ = run_cli(
        capsys, "run", tmp_path / "in.parquet", "-o", tmp_path / "c", "--no-cluster"
    )
    assert code == 0
    code, stdout, _ = run_cli(
        capsys, "query", tmp_path / "c", "SELECT source_id, stage FROM failures", "--format", "json"
    )
    assert code == 0
    assert [json.loads(line) for line in stdout.splitlines()] == [
        {"source_id": "SHORT", "stage": "clean"}
    ]
    target = tmp_path / "r.parquet"
    code, _, _ = run_cli(
        capsys,
        "query",
        tmp_path / "c",
        "SELECT source_id, mag_median FROM catalog",
        "--format",
        "parquet",
        "-o",
        target,
    )
    assert code == 0 and pq.read_table(target).num_rows == 12
    code, _, err = run_cli(capsys, "query", tmp_path / "c", "SELECT nope FROM catalog")
    assert code == 2 and "query failed" in err
    code, _, err = run_cli(capsys, "query", tmp_path / "nothing", "SELECT 1")
    assert code == 2 and "not a committed vsbatch catalog" in err


def test_schema_command_prints_every_declared_column(capsys) -> None:
    code, stdout, _ = run_cli(capsys, "schema")
    assert code == 0
    for column in table_schema("catalog").columns:
        assert column.name in stdout and column.description in stdout
    assert "stetson_j" in stdout and "[mag]" in stdout


def test_run_help_shows_the_defaults_declared_on_the_config(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["run", "--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines anywhere
    assert RunConfig().fmax == 25.0 and "highest frequency, c/d (default: 25.0)" in text
    assert f"threads of each worker process (default: {ClusterSpec().threads_per_worker})" in text
    assert "(default: " + ",".join(RunConfig().stages) + ")" in text
    for cls in (RunConfig, ClusterSpec):
        for name, option, _ in command_line_options(cls):
            assert option.flag_name(name) in text, name


def test_bad_option_value_is_a_usage_error(capsys, tmp_path: Path) -> None:
    args = ("run", tmp_path / "in.parquet", "-o", tmp_path / "c", "--no-cluster")
    code, _, err = run_cli(capsys, *args, "--fourier-order", "0")
    assert code == 2 and err.strip() == "vsbatch: error: fourier_order must be at least 1"
    code, _, err = run_cli(capsys, *args, "--column", "time")
    assert code == 2 and "expected KEY=VALUE, got 'time'" in err
    code, _, err = run_cli(capsys, *args, "--stages", "default,bogus")
    assert code == 2 and "unknown stages ['bogus']" in err
    code, _, err = run_cli(capsys, *args, "--pdm-bins", "0")  # crashed the PDM kernel
    assert code == 2 and err.strip() == "vsbatch: error: pdm_bins must be at least 2"
    code, _, err = run_cli(capsys, *args, "--threads-per-worker", "0")
    assert code == 2 and "threads_per_worker must be at least 1" in err


def test_run_options_build_the_config_dataclasses() -> None:
    args = build_parser().parse_args(["run", "in", "-o", "out"])
    assert _dataclass_from_args(RunConfig, args) == RunConfig()
    assert _dataclass_from_args(ClusterSpec, args) == ClusterSpec()
    given = "--stages default,pdm --column time=hjd --column mag=m --model nnfap --model ./m"
    args = build_parser().parse_args(["run", "in", *given.split(), "--fmin=0.1", "--workers=2"])
    config = _dataclass_from_args(RunConfig, args)
    assert config.stages == (*RunConfig().stages[:3], "pdm", *RunConfig().stages[3:])
    assert config.column_map == {"time": "hjd", "mag": "m"} and config.models == ("nnfap", "./m")
    assert config.fmin == 0.1 and _dataclass_from_args(ClusterSpec, args).workers == 2


def test_unexpected_error_is_internal_with_the_traceback_under_debug(
    capsys, monkeypatch, tmp_path: Path
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    # the module, not the function of the same name the vsbatch package exports
    monkeypatch.setattr(importlib.import_module("vsbatch.query"), "query", broken)
    code, _, err = run_cli(capsys, "query", tmp_path, "SELECT 1")
    assert code == 1
    assert err.strip() == (
        "vsbatch: internal error: RuntimeError: boom (rerun with --debug for the traceback)"
    )
    code, _, err = run_cli(capsys, "--debug", "query", tmp_path, "SELECT 1")
    assert code == 1 and "Traceback (most recent call last)" in err
    assert err.rstrip().endswith("vsbatch: internal error: RuntimeError: boom")
