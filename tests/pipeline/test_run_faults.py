"""Faults with real processes: a Dask worker SIGKILLed mid-run, the output filesystem
full mid-run (a small tmpfs), a corrupt input under ``--keep-going`` on a 2-worker cluster.

Runs go through the real CLI in a subprocess; the reference catalogs come from clean in-process
runs. Cases marked ``xfail(strict=True, reason="BUG: ...")`` assert the correct behaviour of a
product bug; the owner removes the mark with the fix.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

import vsbatch
from tests.conftest import FIXTURES, SAMPLE_CATALOG
from tests.helpers import assert_row_accounting, catalog_frame, corrupt_page_header
from vsbatch.cluster import ClusterSpec
from vsbatch.config import RunConfig
from vsbatch.io.catalog import open_catalog, sha256_file

pytestmark = pytest.mark.slow

SERIAL = ClusterSpec(cluster="none")
SINGLE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")}


def vsbatch_cli(*args: object) -> list[str]:
    return [sys.executable, "-m", "vsbatch.cli", *map(str, args)]


def journal(out: Path) -> list[Path]:
    return list(out.glob("_staging/*/journal/*.json"))


def assert_manifest_files_intact(root: Path) -> None:
    """Every file the committed manifest lists has the sha256 the manifest records."""
    for part in open_catalog(root).manifest.partitions:
        if part.file:
            assert sha256_file(root / part.file) == part.sha256, f"{part.file} changed"


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, object]]:
    """A 2-worker LocalCluster of processes started by the test: (scheduler address, client)."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
            env=SINGLE_THREAD,
        ) as local,
        Client(local) as client,
    ):
        yield local.scheduler_address, client


@contextlib.contextmanager
def tmpfs(mountpoint: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``mountpoint``, unmounted on exit; skips when mounting is refused."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs not permitted here: {done.stderr.strip() or done.returncode}")
    try:
        yield mountpoint
    finally:
        if subprocess.run(["umount", str(mountpoint)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


# --- a. a worker SIGKILLed mid-run -------------------------------------------------------------


def test_worker_sigkill_mid_run_gives_the_clean_catalog(
    tmp_path: Path, cluster: tuple[str, object]
) -> None:
    address, client = cluster
    client.wait_for_workers(2, timeout=60)
    df = pd.read_parquet(SAMPLE_CATALOG)
    df = pd.concat([df.assign(source_id=df.source_id + f"-c{i}") for i in range(2)])
    src = tmp_path / "in.parquet"
    df.to_parquet(src, index=False)
    out = tmp_path / "cat"
    opts = ("--partition-epochs", "4000", "--stages", "stats,period", "--fmax", "1")
    proc = subprocess.Popen(
        vsbatch_cli("run", src, "-o", out, "--cluster", address, *opts),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not journal(out) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None and journal(out), "the run ended before a worker was killed"
        pids = client.run(os.getpid)  # worker address -> pid, as the scheduler routes it
        busy = [addr for addr, keys in client.processing().items() if keys]
        victim = busy[0] if busy else next(iter(pids))
        os.kill(pids[victim], signal.SIGKILL)
        done_at_kill = len(journal(out))
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert victim not in client.scheduler_info()["workers"]  # really gone (nanny restarted it)
    manifest = open_catalog(out).manifest
    assert done_at_kill < len([p for p in manifest.partitions if p.input_epochs])
    config = RunConfig(partition_epochs=4000, stages=("stats", "period"), fmax=1.0)
    clean = vsbatch.run(str(src), tmp_path / "clean", config, SERIAL)
    pd.testing.assert_frame_equal(catalog_frame(out), catalog_frame(clean.catalog))
    reference = open_catalog(clean.catalog).manifest
    assert [(p.name, p.sha256) for p in manifest.partitions] == [
        (p.name, p.sha256) for p in reference.partitions
    ]
    assert_row_accounting(df, out)


def test_worker_killed_while_the_local_cluster_starts(tmp_path: Path) -> None:
    """Issue 20 item 2: ``internal error: RuntimeError: Nanny failed to start``; the cluster
    is now started again and the run gives the clean catalog."""
    import psutil

    out = tmp_path / "cat"
    src = FIXTURES / "asas_i_12.parquet"
    proc = subprocess.Popen(
        vsbatch_cli("run", src, "-o", out, "--workers", "1", "--stages", "stats"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline, killed = time.monotonic() + 60, False
        while not killed and proc.poll() is None and time.monotonic() < deadline:
            for child in psutil.Process(proc.pid).children(recursive=True):
                if "spawn_main" in " ".join(child.cmdline()):
                    child.send_signal(signal.SIGKILL)  # the worker process the nanny spawned
                    killed = True
            time.sleep(0.005)
        _, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    if "local cluster failed to start" not in stderr:
        pytest.skip("the worker was killed after the cluster had started (timing)")
    clean = vsbatch.run(str(src), tmp_path / "clean", RunConfig(stages=("stats",)), SERIAL)
    pd.testing.assert_frame_equal(catalog_frame(out), catalog_frame(clean.catalog))


def test_sigkill_of_the_only_worker_gives_the_clean_catalog(tmp_path: Path) -> None:
    """Issue 20 item 2: with one worker, its death lost the run's shared arguments (scattered
    data, no copy elsewhere): ``FutureCancelledError ... already forgotten``, exit 1. They are
    task results now, recomputed on the worker the nanny restarts."""
    from distributed import Client, LocalCluster

    df = pd.read_parquet(SAMPLE_CATALOG)
    src = tmp_path / "in.parquet"
    df.to_parquet(src, index=False)
    out = tmp_path / "cat"
    opts = ("--partition-epochs", "4000", "--stages", "stats,period", "--fmax", "1")
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                     silence_logs=logging.ERROR, env=SINGLE_THREAD) as local,
        Client(local) as client,
    ):  # fmt: skip
        proc = subprocess.Popen(
            vsbatch_cli("run", src, "-o", out, "--cluster", local.scheduler_address, *opts),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not journal(out) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert proc.poll() is None and journal(out), "the run ended before the kill"
            (pid,) = client.run(os.getpid).values()
            os.kill(pid, signal.SIGKILL)
            _, stderr = proc.communicate(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, stderr
    config = RunConfig(partition_epochs=4000, stages=("stats", "period"), fmax=1.0)
    clean = vsbatch.run(str(src), tmp_path / "clean", config, SERIAL)
    pd.testing.assert_frame_equal(catalog_frame(out), catalog_frame(clean.catalog))
    assert open_catalog(out).failures().num_rows == open_catalog(clean.catalog).failures().num_rows


# --- b. the output filesystem fills up mid-run --------------------------------------------------


@dataclass(frozen=True)
class FullDiskRun:
    catalog: Path
    code: int
    stderr: str
    before: pd.DataFrame
    after: pd.DataFrame
    manifest_before: str
    manifest_after: str


@pytest.fixture(scope="module")
def full_disk_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FullDiskRun]:
    """On a 2 MiB tmpfs: commit a 12-star catalog, then --overwrite it from the 300-star sample;
    the staged shuffle pieces (about 2.4 MB) hit ENOSPC."""
    base = tmp_path_factory.mktemp("full")
    with tmpfs(base / "mnt", "2m") as mnt:
        out = mnt / "cat"
        first = subprocess.run(
            vsbatch_cli("run", FIXTURES / "asas_i_12.parquet", "-o", out, "--no-cluster"),
            capture_output=True,
            text=True,
        )
        assert first.returncode == 0, first.stderr
        before, manifest_before = catalog_frame(out), (out / "_manifest.json").read_text()
        rerun = subprocess.run(
            vsbatch_cli("run", SAMPLE_CATALOG, "-o", out, "--no-cluster", "--overwrite"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert_manifest_files_intact(out)
        yield FullDiskRun(
            out,
            rerun.returncode,
            rerun.stderr,
            before,
            catalog_frame(out),
            manifest_before,
            (out / "_manifest.json").read_text(),
        )


def test_full_output_disk_fails_and_keeps_the_previous_catalog(full_disk_run: FullDiskRun) -> None:
    run = full_disk_run
    assert run.code != 0
    assert "No space left on device" in run.stderr
    assert run.manifest_after == run.manifest_before
    pd.testing.assert_frame_equal(run.after, run.before)


def test_full_output_disk_message_names_the_catalog(full_disk_run: FullDiskRun) -> None:
    last = full_disk_run.stderr.strip().splitlines()[-1]
    assert last.startswith("vsbatch: error:"), last
    assert str(full_disk_run.catalog) in last and "No space left on device" in last, last


def _commit_overflow_input(path: Path, n_failing: int = 600) -> pa.Table:
    """The 12 ASAS stars with other magnitudes plus ``n_failing`` one-epoch sources with long
    random ids: their failure records (id twice per row) make _failures.parquet large, so a
    disk that holds the staged run cannot also hold the committed failures table."""
    base = pd.read_parquet(FIXTURES / "asas_i_12.parquet")
    rng = np.random.default_rng(8)
    ids = [base64.urlsafe_b64encode(rng.bytes(750)).decode() for _ in range(n_failing)]
    bad = pd.DataFrame({"source_id": ids, "time": 1.0, "mag": 15.0, "mag_err": 0.02, "band": "I"})
    table = pa.Table.from_pandas(
        pd.concat([base.assign(mag=base.mag + 0.5), bad], ignore_index=True), preserve_index=False
    )
    pq.write_table(table, path)
    return table


def _ipc_size(table: pa.Table) -> int:
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().size


def test_full_disk_at_commit_keeps_the_previous_catalog(tmp_path: Path) -> None:
    old_src = FIXTURES / "asas_i_12.parquet"
    new_src = tmp_path / "new.parquet"
    table = _commit_overflow_input(new_src)
    reference = vsbatch.run(str(new_src), tmp_path / "ref", RunConfig(stages=("stats",)), SERIAL)
    ref_manifest = open_catalog(reference.catalog).manifest
    ref_failures = (reference.catalog / ref_manifest.failures_file).stat().st_size
    old = vsbatch.run(str(old_src), tmp_path / "old", RunConfig(stages=("stats",)), SERIAL)
    old_bytes = sum(f.stat().st_size for f in old.catalog.rglob("*") if f.is_file())
    # staging before commit: shuffle piece + partition file + failures piece (+ small JSON);
    # the commit then needs room for _failures.parquet again: size the disk between the two
    staged = _ipc_size(table) + sum(f.stat().st_size for f in open_catalog(reference.catalog).files)
    size_kib = (old_bytes + staged + ref_failures + ref_failures // 2) // 1024 + 64
    with tmpfs(tmp_path / "mnt", f"{size_kib}k") as mnt:
        out = mnt / "cat"
        shutil.copytree(old.catalog, out)
        before = catalog_frame(out)
        manifest_before = (out / "_manifest.json").read_text()
        rerun = subprocess.run(
            vsbatch_cli(
                "run", new_src, "-o", out, "--no-cluster", "--stages", "stats", "--overwrite"
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if rerun.returncode == 0 or not journal(out):
            pytest.skip(f"tmpfs of {size_kib} KiB did not overflow at commit (calibration)")
        assert "No space left on device" in rerun.stderr
        assert (out / "_manifest.json").read_text() == manifest_before
        assert_manifest_files_intact(out)
        pd.testing.assert_frame_equal(catalog_frame(out), before)


# --- c. a corrupt input file under --keep-going on two workers ------------------------------------


def test_corrupt_input_with_keep_going_on_two_workers(
    tmp_path: Path, cluster: tuple[str, object]
) -> None:
    address, client = cluster
    client.wait_for_workers(2, timeout=60)
    df = pd.read_parquet(FIXTURES / "asas_i_12.parquet")
    ids = sorted(df.source_id.unique())
    good, folder = tmp_path / "good", tmp_path / "in"
    for i in range(4):
        chunk = df[df.source_id.isin(ids[i::4])]
        for where in (good, folder):
            where.mkdir(exist_ok=True)
            chunk.to_parquet(where / f"lc-{i}.parquet", index=False)
    page_rot = folder / "lc-8.parquet"  # passes the driver's schema check, fails on a worker
    pq.write_table(pa.Table.from_pandas(df.head(500), preserve_index=False), page_rot)
    corrupt_page_header(page_rot, row_group=0)
    garbage = folder / "lc-9.parquet"  # fails the driver's schema check
    garbage.write_bytes(b"PAR1" + bytes(range(256)) * 4)
    out = tmp_path / "cat"
    opts = ("--partition-epochs", "1500", "--stages", "stats", "--keep-going")
    done = subprocess.run(
        vsbatch_cli("run", folder, "-o", out, "--cluster", address, *opts),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    fails = open_catalog(out).failures().to_pylist()
    assert sorted((f["stage"], f["file"]) for f in fails) == [
        ("read", str(page_rot)),
        ("read", str(garbage)),
    ]
    reasons = {f["file"]: f["reason"] for f in fails}
    assert f"{page_rot}: cannot read (" in reasons[str(page_rot)]
    assert f"{garbage}: cannot read as Parquet" in reasons[str(garbage)]
    manifest = open_catalog(out).manifest
    live = [p for p in manifest.partitions if p.input_epochs]
    assert len(live) > 2 and all(p.file and p.rows for p in live)
    config = RunConfig(partition_epochs=1500, stages=("stats",))
    clean = vsbatch.run(str(good), tmp_path / "clean", config, SERIAL)
    pd.testing.assert_frame_equal(catalog_frame(out), catalog_frame(clean.catalog))
    assert_row_accounting(df, out)
