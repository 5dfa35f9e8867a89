"""``catalog-cnn-lstm`` on 63 real OGLE-III catalogue rows shipped as a fixture (no
../shared): a catalogue-parameters ``vsbatch run`` (on two Dask workers, then in-process)
commits a catalog that ``vsbatch query``, ``open_catalog`` and plain DuckDB read, with every
row in the catalog or the failures table; and data-parallel training on two Dask worker
processes gives the weights of the same ranks in one process."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from tests.conftest import FIXTURES
from tests.helpers import run_cli
from vsbatch.cluster import ClusterSpec
from vsbatch.config import RunConfig
from vsbatch.errors import UsageError
from vsbatch.io.catalog import open_catalog
from vsbatch.io.catalog_tables import read_catalog_parameters
from vsbatch.models.artifacts import load_artifact, save_artifact
from vsbatch.models.classifiers import architecture_for, build_classifier
from vsbatch.pipeline import CatalogClassification, classify_catalog, run
from vsbatch.schema import class_slug
from vsbatch.stages.classify import CATALOG_KIND
from vsbatch.training.classifiers import ClassifierConfig, representation_for

OGLE3 = FIXTURES / "ogle3_catalogue_63.txt"
NAME = "tiny-catalog"
PREFIX = NAME.replace("-", "_")


@pytest.fixture(scope="module")
def ogle3_rows() -> pd.DataFrame:
    return read_catalog_parameters(OGLE3).to_pandas()


@pytest.fixture(scope="module")
def tiny_model(ogle3_rows: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised catalog-cnn-lstm (a few hundred weights) over the fixture's 12
    labels, with the representation a trained one would have."""
    classes = sorted(set(ogle3_rows.label))
    arch = architecture_for("CnnLstm", "compact", len(classes), sequence_channels=2)
    arch.update(conv=[4, 4, 8, 8], lstm=[8, 8], dense=[8], dropout=0.0)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / NAME
    save_artifact(
        build_classifier(arch),
        path,
        name=NAME,
        kind=CATALOG_KIND,
        version="0",
        architecture=arch,
        representation=representation_for(ClassifierConfig(kind=CATALOG_KIND, n_points=90)),
        class_names=classes,
        training_data={"fingerprint": "random initialisation"},
        command="tests/pipeline/test_catalog_route.py",
    )
    return path


def _query(capsys: pytest.CaptureFixture, catalog: Path, sql: str) -> pd.DataFrame:
    code, out, err = run_cli(capsys, "query", catalog, sql, "--format", "json")
    assert code == 0, err
    return pd.read_json(io.StringIO(out), lines=True, dtype=False)


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_catalogue_parameters_run_commits_a_queryable_catalog(
    ogle3_rows: pd.DataFrame, tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "catalog"
    missing = ogle3_rows[ogle3_rows.period.isna() | ogle3_rows.amplitude.isna()]
    assert len(missing) == 5  # 2 RCB rows without P_1, 3 Cep rows without A_1 (-99.99)
    # partitions of at most 16 rows, classified on two Dask worker processes
    result = classify_catalog(
        str(OGLE3), out, (str(tiny_model),), cluster=ClusterSpec(workers=2), partition_rows=16
    )
    assert (result.rows, result.classified, result.failures) == (63, 58, 5)
    cat = open_catalog(out)
    assert result.partitions == len(cat.manifest.files) >= 4
    # exactly what the manifest lists, plus failures and manifest: nothing staged or temporary
    assert _files(out) == sorted([*cat.manifest.files, cat.manifest.failures_file,
                                  "_manifest.json", "_readers"])  # fmt: skip
    assert cat.manifest.models[0]["name"] == NAME and cat.manifest.stats["input_rows"] == 63

    rows = _query(capsys, out, f"SELECT source_id, part, {PREFIX}_class AS cls FROM catalog")
    fails = _query(capsys, out, "SELECT source_id, band, stage, reason FROM failures")
    # every input row is in the catalog (a row without parameters with null classes) and
    # those whose curve cannot be built are in the failures table, with the reason
    assert sorted(rows.source_id) == sorted(ogle3_rows.source_id)
    assert sorted(fails.source_id) == sorted(missing.source_id)
    assert set(fails.stage) == {f"model:{NAME}"} and fails.band.isna().all()
    reason = dict(zip(fails.source_id, fails.reason, strict=True))
    for sid, period in zip(missing.source_id, missing.period, strict=True):
        expected = "amplitude is missing" if np.isfinite(period) else "period is missing"
        assert reason[sid].startswith(expected), reason[sid]
    by_id = rows.set_index("source_id")
    assert by_id.loc[missing.source_id, "cls"].isna().all()
    assert set(by_id.cls.dropna()) <= set(ogle3_rows.label) and by_id.cls.notna().sum() == 58
    assert rows.groupby("part").size().max() <= 16

    # plain DuckDB on the files (the Hive convention), no vsbatch in between
    classes = sorted(set(ogle3_rows.label))
    p_sum = " + ".join(f"{PREFIX}_p_{class_slug(c)}" for c in classes)
    data = f"read_parquet('{out}/part=*/*.parquet', hive_partitioning = true)"
    n, lo, hi, parts = duckdb.sql(
        f"SELECT count(*), min(s), max(s), count(DISTINCT part) FROM "
        f"(SELECT {p_sum} AS s, part FROM {data}) WHERE s IS NOT NULL"
    ).fetchall()[0]
    assert n == 58 and lo == pytest.approx(1.0, abs=1e-5) and hi == pytest.approx(1.0, abs=1e-5)
    assert parts == result.partitions
    fails = out / cat.manifest.failures_file
    assert duckdb.sql(f"SELECT count(*) FROM '{fails}'").fetchall()[0][0] == 5
    # the input's values are carried unchanged
    periods = _query(capsys, out, "SELECT source_id, period, label FROM catalog ORDER BY 1")
    expected = ogle3_rows.sort_values("source_id").reset_index(drop=True)
    pd.testing.assert_series_equal(periods.period, expected.period, check_names=False)
    assert periods.label.tolist() == expected.label.tolist()

    # through the command: an existing catalog is refused, a bad input leaves it unchanged,
    # --overwrite replaces it whole (one partition, in this process) with the same classes
    before = _files(out)
    args = ("run", OGLE3, "-o", out, "--model", tiny_model, "--no-cluster")
    assert run_cli(capsys, *args)[0] == 2
    bad = tmp_path / "null_id.parquet"
    table = pa.Table.from_pandas(ogle3_rows, preserve_index=False)
    ids = pa.array([None, *ogle3_rows.source_id[1:]], pa.string())
    pq.write_table(table.set_column(0, "source_id", ids), bad)
    code, _, err = run_cli(capsys, "run", bad, *args[2:], "--overwrite")
    assert code == 2 and "null source_id" in err
    assert open_catalog(out).manifest.run_id == cat.manifest.run_id and _files(out) == before
    code, stdout, err = run_cli(capsys, *args, "--overwrite")
    assert code == 0 and "63 rows, 58 classified" in stdout and "rows/s" in stdout, err
    again = open_catalog(out)
    assert again.manifest.run_id != cat.manifest.run_id and len(again.manifest.files) == 1
    assert _files(out) == sorted([*again.manifest.files, again.manifest.failures_file,
                                  "_manifest.json", "_readers"])  # fmt: skip
    redone = _query(capsys, out, f"SELECT source_id, {PREFIX}_class AS cls FROM catalog")
    assert redone.set_index("source_id").cls.equals(by_id.cls.loc[redone.source_id])

    # light-curve options are refused by name (catalog untouched); --partition-epochs bounds rows
    code, _, err = run_cli(capsys, *args, "--overwrite", "--stages", "stats", "--keep-going")
    assert code == 2 and "takes no --stages, --keep-going;" in err
    code, _, err = run_cli(capsys, "-v", *args, "--update", "--seed", "3")
    assert code == 2 and "takes no --seed, --update;" in err
    assert open_catalog(out).manifest.run_id == again.manifest.run_id
    code, _, err = run_cli(capsys, *args, "--overwrite", "--partition-epochs", 20)
    assert code == 0, err
    parts = _query(capsys, out, "SELECT part, count(*) AS n FROM catalog GROUP BY part")
    assert len(parts) >= 4 and parts.n.max() <= 20 and parts.n.sum() == 63


def test_run_routes_a_catalog_parameters_input_to_its_classification(
    tiny_model: Path, tmp_path: Path
) -> None:
    """``vsbatch.pipeline.run`` given models recognises a catalog-parameters input itself and
    classifies it; an option only light curves use is refused by its flag before any work."""
    out = tmp_path / "catalog"
    config = RunConfig(models=(str(tiny_model),), partition_epochs=16)
    with pytest.raises(UsageError, match="takes no --seed, --keep-going;"):
        run(str(OGLE3), out, replace(config, seed=3), keep_going=True)
    assert not out.exists()
    result = run(str(OGLE3), out, config)
    assert isinstance(result, CatalogClassification)
    assert (result.rows, result.classified, result.failures) == (63, 58, 5)
    assert "63 rows, 58 classified" in result.text()
    manifest = open_catalog(out).manifest
    assert manifest.stats["input_rows"] == 63 and len(manifest.files) == result.partitions >= 4
    with pytest.raises(UsageError, match="takes no --resume;"):
        run(str(OGLE3), out, config, resume=True)
    assert open_catalog(out).manifest.run_id == manifest.run_id


@pytest.mark.slow
def test_classifier_ddp_on_two_dask_workers_equals_one_process(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``vsbatch train catalog-cnn-lstm --workers 2`` (two Dask worker processes, DDP over
    gloo) against ``--set ranks=2`` (the same two ranks in this process): the same weights.
    No dropout: its masks would differ between processes."""
    common = (
        "--data", OGLE3, "--seed", 3, "--epochs", 2, "--batch-size", 8, "--device", "cpu",
        "--set", "classes=Cep,RRab,RRc", "--set", "dropout=0", "--set", "n_points=40",
        "--set", "lr=1e-3", "--set", "patience=10",
    )  # fmt: skip
    code, _, err = run_cli(capsys, "train", CATALOG_KIND, "-o", tmp_path / "one",
                           "--set", "ranks=2", *common)  # fmt: skip
    assert code == 0, err
    code, _, err = run_cli(capsys, "train", CATALOG_KIND, "-o", tmp_path / "two",
                           "--workers", 2, "--cluster", "local", *common)  # fmt: skip
    assert code == 0, err
    one, two = load_artifact(tmp_path / "one"), load_artifact(tmp_path / "two")
    assert one.card["data_parallel"] == {"ranks": 2, "processes": 1}
    assert two.card["data_parallel"] == {"ranks": 2, "processes": 2}
    assert one.card["training_data"]["n_train"] == two.card["training_data"]["n_train"] >= 20
    a, b = one.model.state_dict(), two.model.state_dict()
    moved = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert moved < 1e-4, f"DDP weights differ from the one-process ranks by {moved}"
    torch.manual_seed(3)
    init = build_classifier(one.card["architecture"]).state_dict()
    assert max(float((a[k] - init[k]).abs().max()) for k in a) > 1e-3  # it did train
    assert [c["val_loss"] for c in one.card["training_curve"]] == pytest.approx(
        [c["val_loss"] for c in two.card["training_curve"]], abs=1e-5
    )
