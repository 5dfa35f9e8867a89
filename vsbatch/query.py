"""``vsbatch query``: SQL over a committed catalog through DuckDB.

The catalog is bound as table ``catalog`` (exactly the files the manifest committed, with the
``part`` column: a Hive folder key, or stored in a HATS catalog's files) and its failures as
``failures``.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa

from vsbatch.errors import UsageError
from vsbatch.io.catalog import open_catalog, write_parquet_atomic
from vsbatch.schema import PARTITION_KEY

FORMATS = ("table", "csv", "json", "parquet")


def connect(catalog_path: str | os.PathLike) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with views ``catalog`` and ``failures``."""
    cat = open_catalog(catalog_path)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # it would write into the result on stdout
    files = [str(f) for f in cat.files]
    if files:
        listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        hive = f"true, hive_types = {{'{PARTITION_KEY}': VARCHAR}}"
        con.execute(
            f"CREATE VIEW catalog AS SELECT * FROM read_parquet([{listing}], "
            f"hive_partitioning = {hive if cat.hive_partitioned else 'false'})"
        )
    else:
        con.execute("CREATE VIEW catalog AS SELECT NULL AS source_id WHERE false")
    con.register("failures_arrow", cat.failures())
    con.execute("CREATE VIEW failures AS SELECT * FROM failures_arrow")
    return con


def query(catalog_path: str | os.PathLike, sql: str) -> pa.Table:
    """Run ``sql`` against the catalog and return the result as an Arrow table."""
    con = connect(catalog_path)
    try:
        return con.sql(sql).to_arrow_table()
    except duckdb.Error as exc:
        raise UsageError(f"query failed: {exc}") from exc
    finally:
        con.close()


def format_result(table: pa.Table, fmt: str, output: str | None = None) -> str | None:
    """Render a result as text (table, csv, json) or write it (parquet needs ``output``)."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        if not output:
            raise UsageError("--format parquet needs -o FILE")
        write_parquet_atomic(table, Path(output))
        return None
    df = table.to_pandas()
    if fmt == "csv":
        text = df.to_csv(index=False)
    elif fmt == "json":
        text = df.to_json(orient="records", lines=True, double_precision=15)
    else:
        text = df.to_string(index=False, max_rows=200) if len(df.columns) else "(no columns)"
    if output:
        Path(output).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        return None
    return text
