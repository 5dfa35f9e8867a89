"""End-to-end runs on real light curves with a real distributed LocalCluster of worker
processes, real Parquet files and real DuckDB."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import vsbatch
from tests.conftest import FIXTURES, SAMPLE_CATALOG, shared_file
from tests.helpers import assert_row_accounting, catalog_frame, run_cli
from vsbatch.cluster import ClusterSpec
from vsbatch.config import RunConfig
from vsbatch.io.catalog import open_catalog

SERIAL = ClusterSpec(cluster="none")


def visible_parquet(root: Path) -> list[Path]:
    """Files a Hive/Spark reader would take as table data."""
    return sorted(
        p
        for p in root.rglob("*.parquet")
        if not any(part.startswith(("_", ".")) for part in p.relative_to(root).parts)
    )


def test_sample_catalog_on_two_worker_processes(tmp_path: Path) -> None:
    out = tmp_path / "cat"
    config = RunConfig(partition_epochs=10_000, fmax=5.0)
    summary = vsbatch.run(str(SAMPLE_CATALOG), out, config, ClusterSpec(workers=2))
    raw = pd.read_parquet(SAMPLE_CATALOG)
    assert summary.sources == raw.source_id.nunique() == 300
    assert summary.partitions > 2 and summary.light_curves + summary.failures >= 300
    cat = open_catalog(out)
    assert sorted(visible_parquet(out)) == sorted(cat.files)
    assert not (out / "_staging").exists()
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["config_hash"] == config.content_hash()
    assert sum(p["rows"] for p in manifest["partitions"]) == cat.to_table().num_rows
    result = vsbatch.query(out, "SELECT count(*) AS n, count(DISTINCT part) AS parts FROM catalog")
    assert result.to_pylist() == [{"n": summary.light_curves, "parts": summary.partitions}]
    direct = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{out}/part=*/*.parquet', hive_partitioning=true)"
    ).fetchall()[0][0]
    assert direct == summary.light_curves
    assert_row_accounting(raw, out)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["sample", "eros1"])
def test_two_workers_give_the_same_catalog_as_one(tmp_path: Path, dataset: str) -> None:
    if dataset == "eros1":
        src = shared_file("eros1-lmc/train.parquet")
        config = RunConfig(fmax=5.0)
    else:
        src, config = SAMPLE_CATALOG, RunConfig(partition_epochs=8_000, fmax=5.0)
    one = vsbatch.run(str(src), tmp_path / "one", config, ClusterSpec(workers=1))
    two = vsbatch.run(str(src), tmp_path / "two", config, ClusterSpec(workers=2))
    m1, m2 = open_catalog(one.catalog).manifest, open_catalog(two.catalog).manifest
    assert [(p.name, p.rows, p.sha256) for p in m1.partitions] == [
        (p.name, p.rows, p.sha256) for p in m2.partitions
    ]
    for a, b in zip(m1.files, m2.files, strict=True):  # byte-identical files
        assert (one.catalog / a).read_bytes() == (two.catalog / b).read_bytes()
    raw = pd.read_parquet(src, columns=["source_id", "band"]).drop_duplicates()
    failures = open_catalog(two.catalog).failures().to_pandas()
    rejected = failures[failures.stage == "clean"][["source_id", "band"]].drop_duplicates()
    assert one.light_curves + len(rejected) == len(raw)
    assert_row_accounting(raw, two.catalog)


def test_nested_input_gives_the_long_input_catalog(tmp_path: Path) -> None:
    df = pd.read_parquet(FIXTURES / "misc_mit_5.parquet")
    nested = []
    for sid, g in df.groupby("source_id", sort=False):
        nested.append(
            {
                "source_id": sid,
                "label": g.label.iloc[0],
                "lc": {c: g[c].tolist() for c in ("time", "mag", "mag_err", "band")},
            }
        )
    src = tmp_path / "nested.parquet"
    pq.write_table(pa.Table.from_pylist(nested), src)
    long = vsbatch.run(str(FIXTURES / "misc_mit_5.parquet"), tmp_path / "a", cluster=SERIAL)
    nest = vsbatch.run(str(src), tmp_path / "b", cluster=SERIAL)
    a = catalog_frame(long.catalog).drop(columns=["origin"])
    b = catalog_frame(nest.catalog)
    pd.testing.assert_frame_equal(a[b.columns], b)
    assert len(b) == 6  # EROS-2 Cepheid in two bands + four single-band stars


def test_overwrite_replaces_and_update_recomputes_only_changed(tmp_path: Path) -> None:
    df = pd.read_parquet(SAMPLE_CATALOG)
    src = tmp_path / "in.parquet"
    df.to_parquet(src)
    out = tmp_path / "cat"
    config = RunConfig(partition_epochs=10_000, stages=("stats",))
    first = vsbatch.run(str(src), out, config, SERIAL)
    assert first.partitions_computed == first.partitions
    # one source gains epochs, one new source appears
    sid = df.source_id.iloc[0]
    extra = df[df.source_id == sid].head(5).assign(time=lambda d: d.time + 5000.0)
    new = df[df.source_id == df.source_id.iloc[-1]].assign(source_id="NEW-1")
    changed = pd.concat([df, extra, new], ignore_index=True)
    changed.sample(frac=1.0, random_state=1).to_parquet(tmp_path / "in2.parquet")  # reordered
    upd = vsbatch.run(str(tmp_path / "in2.parquet"), out, config, SERIAL, update=True)
    assert 1 <= upd.partitions_computed <= 2 < upd.partitions
    fresh = vsbatch.run(str(tmp_path / "in2.parquet"), tmp_path / "fresh", config, SERIAL)
    pd.testing.assert_frame_equal(catalog_frame(out), catalog_frame(fresh.catalog))
    assert sorted(visible_parquet(out)) == sorted(open_catalog(out).files)
    again = vsbatch.run(str(src), out, config, SERIAL, overwrite=True)
    assert again.partitions_computed == again.partitions
    pd.testing.assert_frame_equal(catalog_frame(out), catalog_frame(first.catalog))


def _big_input(path: Path, copies: int) -> Path:
    """Real ASAS cadences and magnitudes, replicated under new source ids."""
    df = pd.read_parquet(SAMPLE_CATALOG)
    parts = [df.assign(source_id=df.source_id + f"-c{i}") for i in range(copies)]
    pd.concat(parts, ignore_index=True).to_parquet(path)
    return path


@pytest.mark.slow
def test_driver_sigkill_then_resume_gives_the_uninterrupted_catalog(tmp_path: Path) -> None:
    src = _big_input(tmp_path / "big.parquet", copies=10)
    out = tmp_path / "cat"
    cmd = [
        sys.executable,
        "-m",
        "vsbatch.cli",
        "run",
        str(src),
        "-o",
        str(out),
        "--workers",
        "1",
        "--partition-epochs",
        "4000",
        "--stages",
        "stats,period",
        "--fmax",
        "2",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        journal = []
        while time.monotonic() < deadline and len(journal) < 5 and proc.poll() is None:
            journal = list(out.glob("_staging/*/journal/*.json"))
            time.sleep(0.02)
        assert proc.poll() is None and len(journal) >= 5, "run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the killed driver's orphaned workers
    assert visible_parquet(out) == []  # nothing half-done is visible
    assert not (out / "_manifest.json").exists()
    code = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert code.returncode == 0, code.stderr
    resumed = open_catalog(out).manifest
    assert resumed.stats["partitions_computed_last_run"] < len(resumed.partitions)
    config = RunConfig(partition_epochs=4000, stages=("stats", "period"), fmax=2.0)
    clean = vsbatch.run(str(src), tmp_path / "clean", config, SERIAL)
    pd.testing.assert_frame_equal(catalog_frame(out), catalog_frame(clean.catalog))
    ref = open_catalog(clean.catalog).manifest
    assert [p.sha256 for p in resumed.partitions] == [p.sha256 for p in ref.partitions]


def test_resume_of_a_complete_catalog_does_nothing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cat"
    src = FIXTURES / "ogle_blg_rrab_2.parquet"
    assert run_cli(capsys, "run", src, "-o", out, "--no-cluster", "--stages", "stats")[0] == 0
    code, stdout, _ = run_cli(
        capsys, "run", src, "-o", out, "--no-cluster", "--stages", "stats", "--resume"
    )
    assert code == 0 and "(0 computed)" in stdout
    code, _, err = run_cli(
        capsys,
        "run",
        src,
        "-o",
        out,
        "--no-cluster",
        "--stages",
        "stats",
        "--resume",
        "--min-epochs",
        "7",
    )
    assert code == 2 and "committed with another configuration" in err


def test_carried_catalog_period_and_label(tmp_path: Path) -> None:
    config = RunConfig(stages=("stats",))
    summary = vsbatch.run(str(FIXTURES / "ogle_blg_rrab_2.parquet"), tmp_path / "c", config, SERIAL)
    df = catalog_frame(summary.catalog)
    assert df.catalog_period.tolist() == [0.49517882, 0.46310528]
    assert df.label.tolist() == ["RRab", "RRab"]
    schema = pq.read_schema(open_catalog(summary.catalog).files[0])
    assert schema.field("time_span").metadata[b"unit"] == b"d"


def test_existing_scheduler_address_glob_and_url_inputs(tmp_path: Path) -> None:
    from distributed import LocalCluster

    df = pd.read_parquet(FIXTURES / "asas_i_12.parquet")
    ids = sorted(df.source_id.unique())
    for i, chunk in enumerate((ids[:6], ids[6:])):
        df[df.source_id.isin(chunk)].to_parquet(tmp_path / f"lc-{i}.parquet")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True) as cluster:
        spec = ClusterSpec(cluster=cluster.scheduler_address)
        by_glob = vsbatch.run(str(tmp_path / "lc-*.parquet"), tmp_path / "a", cluster=spec)
    by_url = vsbatch.run(f"file://{tmp_path}/lc-1.parquet", tmp_path / "b", cluster=SERIAL)
    assert by_glob.light_curves == 12 and by_url.light_curves == 6
    a = catalog_frame(by_glob.catalog)
    b = catalog_frame(by_url.catalog)
    pd.testing.assert_frame_equal(
        a[a.source_id.isin(ids[6:])].drop(columns="part").reset_index(drop=True),
        b.drop(columns="part"),
    )


def test_update_rewrites_only_affected_partitions_and_drops_removed_sources(
    tmp_path: Path,
) -> None:
    df = pd.read_parquet(SAMPLE_CATALOG)
    config = RunConfig(partition_epochs=8_000, stages=("stats", "period"), fmax=2.0)
    df.to_parquet(tmp_path / "v1.parquet")
    out = tmp_path / "cat"
    vsbatch.run(str(tmp_path / "v1.parquet"), out, config, SERIAL)
    before = {f: (f.stat().st_mtime_ns, f.stat().st_ino) for f in open_catalog(out).files}
    ids = sorted(df.source_id.unique())
    grown = df[df.source_id == ids[0]].head(3).assign(time=lambda d: d.time + 9000.0)
    v2 = pd.concat([df[df.source_id != ids[1]], grown], ignore_index=True)  # one removed
    v2.to_parquet(tmp_path / "v2.parquet")
    upd = vsbatch.run(str(tmp_path / "v2.parquet"), out, config, SERIAL, update=True)
    after = {f: (f.stat().st_mtime_ns, f.stat().st_ino) for f in open_catalog(out).files}
    changed = {f for f in after if before.get(f) != after[f]}
    assert len(changed) == upd.partitions_computed <= 2 < len(after)
    cat = catalog_frame(out)
    assert ids[1] not in set(cat.source_id) and ids[0] in set(cat.source_id)
    fresh = vsbatch.run(str(tmp_path / "v2.parquet"), tmp_path / "fresh", config, SERIAL)
    pd.testing.assert_frame_equal(cat, catalog_frame(fresh.catalog))
    # a changed configuration recomputes everything it affects
    again = vsbatch.run(
        str(tmp_path / "v2.parquet"),
        out,
        RunConfig(partition_epochs=8_000, stages=("stats",)),
        SERIAL,
        update=True,
    )
    assert again.partitions_computed == again.partitions
    assert "period" not in catalog_frame(out).columns


def test_run_hash_follows_declared_output_columns_but_not_their_prose(monkeypatch) -> None:
    """A catalog written before a column was added must not be reused by --update."""
    import copy

    from vsbatch import schema

    real = {n: copy.deepcopy(schema._load(n)) for n in ("catalog", "failures", "models")}

    def digest_with(edit) -> str:
        changed = copy.deepcopy(real)
        edit(changed)
        monkeypatch.setattr(schema, "_load", lambda name: changed[name])
        schema.output_schema_digest.cache_clear()
        try:
            return schema.output_schema_digest()
        finally:
            monkeypatch.undo()
            schema.output_schema_digest.cache_clear()

    base = digest_with(lambda d: None)
    assert base == schema.output_schema_digest()
    reworded = digest_with(lambda d: d["catalog"]["columns"][0].update(description="other"))
    added = digest_with(lambda d: d["models"]["kinds"]["blazhko"].append(
        {"output": "extra", "type": "float64", "unit": "", "description": "new"}))  # fmt: skip
    retyped = digest_with(lambda d: d["catalog"]["columns"][0].update(type="int64"))
    assert reworded == base and added != base and retyped != base


def test_small_input_is_split_and_one_or_two_workers_write_the_same_catalog(
    tmp_path: Path,
) -> None:
    """40 sources (~12,000 epochs, far below the default bound) still give several
    partitions, so two workers share them, and the catalog does not depend on the workers."""
    raw = pq.read_table(SAMPLE_CATALOG)
    ids = pa.array(sorted(set(raw.column("source_id").to_pylist()))[:40])
    src = tmp_path / "small.parquet"
    pq.write_table(raw.filter(pa.compute.is_in(raw.column("source_id"), value_set=ids)), src)
    config = RunConfig(fmax=5.0)
    one = vsbatch.run(str(src), tmp_path / "one", config, ClusterSpec(workers=1))
    two = vsbatch.run(str(src), tmp_path / "two", config, ClusterSpec(workers=2))
    assert one.partitions == two.partitions >= 2
    m1, m2 = open_catalog(one.catalog).manifest, open_catalog(two.catalog).manifest
    assert [(p.name, p.rows, p.sha256) for p in m1.partitions] == [
        (p.name, p.rows, p.sha256) for p in m2.partitions
    ]
