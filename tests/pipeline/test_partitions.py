"""A partition whose task crashed (a lost worker under ``--keep-going``) is recomputed by the
next ``--update``: its light curves did nothing wrong."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from tests.conftest import FIXTURES
from tests.helpers import catalog_frame, run_cli
from vsbatch.io.catalog import open_catalog, write_parquet_atomic
from vsbatch.pipeline.plan import CRASHED

STATS = ("--no-cluster", "--stages", "stats", "--partition-epochs", "1000")


def test_update_recomputes_a_crashed_partition(capsys, tmp_path: Path) -> None:
    out, clean = tmp_path / "cat", tmp_path / "clean"
    for target in (out, clean):
        assert run_cli(capsys, "run", FIXTURES / "asas_i_12.parquet", "-o", target, *STATS)[0] == 0
    # the manifest as _fail_partition writes it for a crashed task: no file, every light
    # curve a "partition" failure record, the fingerprint marked
    cat = open_catalog(out)
    manifest = cat.manifest
    victim = next(p for p in manifest.partitions if p.file)
    (out / victim.file).unlink()
    crashed = replace(victim, file=None, rows=0, sha256=None,
                      fingerprint=CRASHED + victim.fingerprint)  # fmt: skip
    manifest.partitions = [crashed if p is victim else p for p in manifest.partitions]
    write_parquet_atomic(cat.failures(), out / manifest.failures_file)
    (out / "_manifest.json").write_text(json.dumps(manifest.to_json()))
    code, summary, err = run_cli(capsys, "run", FIXTURES / "asas_i_12.parquet", "-o", out,
                                 "--update", *STATS)  # fmt: skip
    assert code == 0 and "(1 computed)" in summary, summary + err
    assert catalog_frame(out).drop(columns="part").equals(catalog_frame(clean).drop(columns="part"))
