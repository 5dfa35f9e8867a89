"""Small helpers shared by the pipeline tests (real files, real runs; nothing mocked)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
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


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
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


def knn_reference(phase: np.ndarray, m: np.ndarray, k: int = 5, n_grid: int = 200) -> np.ndarray:
    """Brute-force IDW KNN onto ``j / n_grid``: all periodic distances, stable sort,
    scikit-learn's 'distance' weights (mean of the neighbours at distance 0)."""
    out = np.empty(n_grid)
    for j, g in enumerate(np.arange(n_grid) / n_grid):
        d = np.abs(phase - g)
        d = np.minimum(d, 1.0 - d)
        idx = np.argsort(d, kind="stable")[:k]
        dd = d[idx]
        zero = dd == 0
        out[j] = m[idx][zero].mean() if zero.any() else np.sum(m[idx] / dd) / np.sum(1 / dd)
    return out


@contextmanager
def dask_cli_cluster(worker_args: list[list[str]]) -> Iterator[str]:
    """A scheduler and one worker per entry of ``worker_args``, started as separate processes
    with the ``dask`` command line on loopback; yields the scheduler address."""
    from distributed import Client

    dask_cli = shutil.which("dask", path=str(Path(sys.executable).parent))
    assert dask_cli, "the dask command line comes with distributed"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen(
        [dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        stderr=subprocess.DEVNULL,
    )]  # fmt: skip
    try:
        time.sleep(2)
        for extra in worker_args:
            procs.append(subprocess.Popen(
                [dask_cli, "worker", address, "--nthreads", "1", "--no-dashboard", *extra],
                stderr=subprocess.DEVNULL,
            ))  # fmt: skip
        with Client(address, timeout=60) as client:
            client.wait_for_workers(len(worker_args), timeout=60)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
