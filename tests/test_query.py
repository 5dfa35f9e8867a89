"""``vsbatch.query``: safe mode for SQL from other users, and errors without tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.helpers import run_cli
from vsbatch.errors import UsageError
from vsbatch.io.catalog import open_catalog
from vsbatch.query import query


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("query") / "cat"
    code = run_cli_quiet("run", FIXTURES / "asas_i_12.parquet", "-o", out, "--no-cluster",
                         "--stages", "stats", "--partition-epochs", "1000")  # fmt: skip
    assert code == 0
    return out


def run_cli_quiet(*args: object) -> int:
    from vsbatch.cli import main

    return main([str(a) for a in args])


def test_safe_mode_reads_the_catalog_and_nothing_else(catalog: Path, tmp_path: Path) -> None:
    rows = query(catalog, "SELECT count(*) AS n, count(DISTINCT part) AS parts FROM catalog")
    assert rows.column("n")[0].as_py() == 12 and rows.column("parts")[0].as_py() > 1
    assert query(catalog, "SELECT count(*) AS n FROM failures").column("n")[0].as_py() >= 0
    data_file = open_catalog(catalog).files[0]
    for sql in [
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM read_parquet('{data_file}')",
        f"COPY (SELECT 1 AS a) TO '{tmp_path / 'leak.csv'}'",
        f"COPY (SELECT 1 AS a) TO '{data_file}' (USE_TMP_FILE false)",
        f"ATTACH '{tmp_path / 'x.duckdb'}'",
        "INSTALL httpfs",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
    ]:
        with pytest.raises(UsageError, match="query failed"):
            query(catalog, sql)
    assert list(tmp_path.iterdir()) == []
    assert query(catalog, "SELECT count(*) AS n FROM catalog").column("n")[0].as_py() == 12


def test_the_owner_cli_keeps_full_access(capsys, catalog: Path) -> None:
    data_file = open_catalog(catalog).files[0]
    sql = f"SELECT count(*) AS n FROM read_parquet('{data_file}')"
    code, out, err = run_cli(capsys, "query", catalog, sql, "--format", "csv")
    assert code == 0 and out.splitlines()[0] == "n" and int(out.splitlines()[1]) > 0, err


def test_query_errors_are_exit_2_without_a_traceback(capsys, tmp_path: Path) -> None:
    out = tmp_path / "cat"
    assert run_cli_quiet("run", FIXTURES / "asas_i_12.parquet", "-o", out, "--no-cluster",
                         "--stages", "stats") == 0  # fmt: skip
    code, _, err = run_cli(capsys, "query", out, "SELECT nonexistent FROM catalog")
    assert code == 2 and "query failed" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "query", out, "CREATE TABLE t AS SELECT 1 AS a")
    assert code == 0 and "Traceback" not in err
    open_catalog(out).files[0].unlink()  # a file the manifest lists is gone
    code, _, err = run_cli(capsys, "query", out, "SELECT count(*) FROM catalog")
    assert code == 2 and "cannot open the catalog" in err and "Traceback" not in err
