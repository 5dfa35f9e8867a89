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
from vsbatch.io.catalog import open_catalog, reading, write_parquet_atomic
from vsbatch.schema import PARTITION_KEY

FORMATS = ("table", "csv", "json", "parquet")


def connect(catalog_path: str | os.PathLike, *, safe: bool = False) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with views ``catalog`` and ``failures``.

    ``safe``: for SQL from someone other than the catalog's owner (a service, a notebook
    shared with users). The catalog is handed to DuckDB as Arrow data, then file and network
    access, extension loading and any later change of these settings are switched off, so
    ``read_csv('/etc/passwd')``, ``COPY ... TO``, ``ATTACH`` and ``INSTALL`` are refused (with
    only the catalog's paths allowed, ``COPY`` could still overwrite a catalog file).
    """
    cat = open_catalog(catalog_path)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # it would write into the result on stdout
    files = [str(f) for f in cat.files]
    if files and safe:
        con.register("catalog_arrow", cat.dataset())
        con.execute("CREATE VIEW catalog AS SELECT * FROM catalog_arrow")
    elif files:
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
    if safe:
        for setting in ("enable_external_access", "autoinstall_known_extensions",
                        "autoload_known_extensions"):  # fmt: skip
            con.execute(f"SET {setting} = false")
        con.execute("SET lock_configuration = true")
    return con


def query(catalog_path: str | os.PathLike, sql: str, *, safe: bool = True) -> pa.Table:
    """Run ``sql`` against the catalog and return the result as an Arrow table.

    Safe by default (see :func:`connect`): the SQL reads the catalog and nothing else. The
    catalog's owner (``vsbatch query``) passes ``safe=False`` for DuckDB's full reach.
    """
    with reading(catalog_path):  # a commit meanwhile keeps the files this query reads
        try:
            con = connect(catalog_path, safe=safe)
        except duckdb.Error as exc:  # e.g. a file the manifest lists is gone
            raise UsageError(f"{catalog_path}: cannot open the catalog for SQL: {exc}") from exc
        try:
            result = con.sql(sql)  # None for a statement without a result (SET, CREATE ...)
            return pa.table({}) if result is None else result.to_arrow_table()
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
