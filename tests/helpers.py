"""Small helpers shared by the pipeline tests (real files, real runs; nothing mocked)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vsbatch.cli import main
from vsbatch.io.catalog import open_catalog


def write_long(path: Path, rows: dict[str, list]) -> Path:
    """Write a long-format Parquet file from column lists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(rows), path)
    return path


def run_cli(capsys, *args: str) -> tuple[int, str, str]:  # noqa: ANN001 - pytest fixture
    """Run the real CLI in-process; returns (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def catalog_frame(path: Path) -> pd.DataFrame:
    """The committed catalog, sorted, for comparisons."""
    df = open_catalog(path).to_pandas()
    df["part"] = df["part"].astype(str)
    return df.sort_values(["source_id", "band"], na_position="first").reset_index(drop=True)


def _keys(source_ids: pd.Series, bands: pd.Series) -> set[tuple[str, str | None]]:
    return {
        (str(s), b if isinstance(b, str) else None) for s, b in zip(source_ids, bands, strict=True)
    }


def assert_row_accounting(input_df: pd.DataFrame, catalog: Path) -> None:
    """Every input (source, band) is in the catalog or in the failures table, never lost;
    none rejected by cleaning is also in the catalog."""
    cat = open_catalog(catalog)
    rows = cat.to_pandas(columns=["source_id", "band"])
    fails = cat.failures().to_pandas()
    band = input_df["band"] if "band" in input_df else pd.Series([None] * len(input_df))
    wanted = _keys(input_df["source_id"], band)
    got = _keys(rows.source_id, rows.band)
    cleaned_out = fails[fails.stage == "clean"]
    failed = _keys(cleaned_out.source_id, cleaned_out.band)
    assert wanted <= got | failed, f"lost: {sorted(wanted - got - failed)[:5]}"
    assert not got & failed


def corrupt_page_header(path: Path, column: str = "mag", row_group: int = -1) -> None:
    """Overwrite the first page header of ``column`` in one row group: footer and schema stay
    valid (the driver's schema check passes), reading the data fails (a bit-rotted file)."""
    meta = pq.ParquetFile(path).metadata
    rg = meta.row_group(row_group % meta.num_row_groups)
    chunk = next(
        rg.column(i) for i in range(rg.num_columns) if rg.column(i).path_in_schema == column
    )
    offset = chunk.dictionary_page_offset or chunk.data_page_offset
    data = bytearray(path.read_bytes())
    data[offset : offset + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))
