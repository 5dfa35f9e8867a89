"""``--update`` and ``--resume`` compare content, not sizes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tests.conftest import FIXTURES
from tests.helpers import run_cli
from vsbatch.io.catalog import open_catalog
from vsbatch.query import query

STATS = ("--no-cluster", "--stages", "stats", "--partition-epochs", "1000")


def _with_columns(path: Path, period: dict[str, float], **extra: str) -> Path:
    table = pq.read_table(FIXTURES / "asas_i_12.parquet")
    ids = table.column("source_id").to_pylist()
    table = table.append_column("period", pa.array([period.get(s, 0.5) for s in ids]))
    for name, value in extra.items():
        table = table.append_column(name, pa.array([value] * len(ids)))
    pq.write_table(table, path)
    return path


def test_update_recomputes_changed_per_source_columns_and_new_carried_ones(
    capsys, tmp_path: Path
) -> None:
    out, src = tmp_path / "cat", tmp_path / "in.parquet"
    ids = sorted(set(pq.read_table(FIXTURES / "asas_i_12.parquet").column("source_id").to_pylist()))
    assert run_cli(capsys, "run", _with_columns(src, {}), "-o", out, *STATS)[0] == 0
    parts = len(open_catalog(out).manifest.files)
    # one source's input period changes: its partition is recomputed, the others reused
    _with_columns(src, {ids[0]: 0.25})
    code, summary, err = run_cli(capsys, "run", src, "-o", out, "--update", *STATS)
    assert code == 0 and "(1 computed)" in summary, summary + err
    rows = query(out, "SELECT source_id, catalog_period FROM catalog ORDER BY 1").to_pylist()
    assert {r["source_id"]: r["catalog_period"] for r in rows}[ids[0]] == 0.25
    # a carried column is added: every partition gets it, one schema across the files
    _with_columns(src, {ids[0]: 0.25}, label="RRab")
    code, summary, err = run_cli(capsys, "run", src, "-o", out, "--update", *STATS)
    assert code == 0 and f"({parts} computed)" in summary, summary
    labels = query(out, "SELECT label, count(*) AS n FROM catalog GROUP BY 1").to_pylist()
    assert labels == [{"label": "RRab", "n": 12}]
    assert len({pq.read_schema(f) for f in open_catalog(out).files}) == 1


def test_resume_refuses_an_input_rewritten_with_the_same_size(tmp_path: Path) -> None:
    """The input is rewritten (uncompressed, so the same byte size) with one magnitude changed
    while the run is interrupted; resuming must say so instead of mixing the two inputs."""
    table = pq.read_table(FIXTURES / "asas_i_12.parquet")
    src, out = tmp_path / "in.parquet", tmp_path / "cat"
    plain = {"compression": "none", "use_dictionary": False, "write_statistics": False}
    pq.write_table(table, src, **plain)
    size = src.stat().st_size
    cli = [sys.executable, "-m", "vsbatch.cli", "run", str(src), "-o", str(out), "--no-cluster",
           "--stages", "stats,period", "--partition-epochs", "300"]  # fmt: skip
    run = subprocess.Popen(cli, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.glob("_staging/*/plan.json")) and time.monotonic() < deadline:
        time.sleep(0.01)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert list(out.glob("_staging/*/plan.json")) and not (out / "_manifest.json").exists()
    mag = table.column("mag").to_numpy().copy()
    mag[0] += 0.125
    pq.write_table(table.set_column(2, "mag", pa.array(mag)), src, **plain)
    assert src.stat().st_size == size and pc.equal(table.column("mag")[0], mag[0]).as_py() is False
    resumed = subprocess.run([*cli, "--resume"], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 2, resumed.stderr
    assert f"{src} changed content (same size, another sha256)" in resumed.stderr
