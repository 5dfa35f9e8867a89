"""The commit is one switch and the output has one writer: every
file a manifest points to carries its run id, the previous commit's files stay while a query
reads them, and a second run on the same output is refused naming the holder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from tests.conftest import FIXTURES
from tests.helpers import run_cli
from vsbatch.io.catalog import open_catalog, reading
from vsbatch.query import connect
from vsbatch.schema import MANIFEST_FILE

STATS = ("--no-cluster", "--stages", "stats", "--partition-epochs", "1000")


def _half_input(tmp_path: Path) -> Path:
    table = pq.read_table(FIXTURES / "asas_i_12.parquet")
    ids = sorted(set(table.column("source_id").to_pylist()))[:6]
    rows = [i for i, s in enumerate(table.column("source_id").to_pylist()) if s in ids]
    path = tmp_path / "half.parquet"
    pq.write_table(table.take(rows), path)
    return path


def test_the_manifest_is_the_one_switch_and_a_running_query_keeps_its_files(
    capsys, tmp_path: Path
) -> None:
    out = tmp_path / "cat"
    assert run_cli(capsys, "run", FIXTURES / "asas_i_12.parquet", "-o", out, *STATS)[0] == 0
    first = open_catalog(out)
    first_manifest = (out / MANIFEST_FILE).read_text()
    first_failures = first.failures().to_pylist()
    with reading(out):  # a query running on the first commit while the second commits
        running = connect(out)
        code, _, err = run_cli(capsys, "run", _half_input(tmp_path), "-o", out, "--overwrite",
                               *STATS)  # fmt: skip
        assert code == 0, err
        assert running.sql("SELECT count(*) FROM catalog").fetchall()[0][0] == 12
        running.close()
    second = open_catalog(out).manifest
    second_manifest = (out / MANIFEST_FILE).read_text()
    assert second.failures_file == f"_failures-{second.run_id}.parquet"
    assert all(second.run_id in f for f in [*second.files, second.failures_file])
    # had the manifest write failed, the previous manifest still describes a whole catalog
    (out / MANIFEST_FILE).write_text(first_manifest)
    restored = open_catalog(out)
    assert restored.to_table().num_rows == 12
    assert restored.failures().to_pylist() == first_failures
    (out / MANIFEST_FILE).write_text(second_manifest)
    # with no reader, the next run leaves only its own files: folder readers see one commit
    assert run_cli(capsys, "run", FIXTURES / "asas_i_12.parquet", "-o", out, "--overwrite",
                   *STATS)[0] == 0  # fmt: skip
    third = open_catalog(out).manifest
    data = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet"))
    assert data == sorted([*third.files, third.failures_file])


def test_a_second_run_on_the_same_output_is_refused_naming_the_holder(
    capsys, tmp_path: Path
) -> None:
    out = tmp_path / "cat"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from vsbatch.io.catalog import output_lock\n"
         "with output_lock(sys.argv[1]):\n    print('held', flush=True); sys.stdin.read()",
         str(out)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = run_cli(capsys, "run", FIXTURES / "asas_i_12.parquet", "-o", out, *STATS)
        assert code == 2 and f"another run is writing this catalog (pid {holder.pid} on" in err
        assert not (out / MANIFEST_FILE).exists() and not (out / "_staging").exists()
    finally:
        holder.communicate("", timeout=30)
    # the holder has ended: its lock went with it, and the run proceeds on the same folder
    code, _, err = run_cli(capsys, "run", FIXTURES / "asas_i_12.parquet", "-o", out, *STATS)
    assert code == 0, err


def test_an_output_that_is_a_file_is_a_usage_error(capsys, tmp_path: Path) -> None:
    out = tmp_path / "cat"
    out.write_text("not a catalog")
    code, _, err = run_cli(capsys, "run", FIXTURES / "asas_i_12.parquet", "-o", out, *STATS)
    assert code == 2 and "exists and is not a folder" in err and "Traceback" not in err
    assert out.read_text() == "not a catalog"
