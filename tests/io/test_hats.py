"""HATS catalogs in and out, opened and cross-matched with lsdb, queried with DuckDB.

The shipped fixture ``tests/fixtures/asas_i_30_hats`` is a HATS catalog of 30 real ASAS
I-band light curves from the bundled sample, nested with ZTF-style sub-column names; rebuild it
with ``python -m tests.io.test_hats`` (see ``tests/fixtures/ORIGIN.md``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import vsbatch
from tests.conftest import FIXTURES, SAMPLE_CATALOG
from tests.helpers import catalog_frame, run_cli
from vsbatch.cluster import ClusterSpec
from vsbatch.config import RunConfig
from vsbatch.io.catalog import open_catalog
from vsbatch.io.hats import PixelTree, parse_pixel_name

hats = pytest.importorskip("hats")
lsdb = pytest.importorskip("lsdb")
pytest.importorskip("nested_pandas")
from hats.io.validation import is_valid_catalog  # noqa: E402

HATS_INPUT = FIXTURES / "asas_i_30_hats"
ZTF_NAMES = {"time": "hmjd", "mag": "mag", "mag_err": "magerr", "band": "filtercode"}
COLUMNS = [f"{k}={v}" for k, v in ZTF_NAMES.items() if k != v]
BOUND = 700  # epochs per partition: splits the three input pixels holding more
SERIAL = ClusterSpec(cluster="none")


def asas_position(source_id: str) -> tuple[float, float]:
    """(ra, dec) in degrees from an ASAS designation ``ASAS-HHMMSS+DDMM.m`` (J2000)."""
    s = source_id.removeprefix("ASAS-")
    ra = 15.0 * (int(s[0:2]) + int(s[2:4]) / 60 + int(s[4:6]) / 3600)
    dec = int(s[7:9]) + float(s[9:]) / 60
    return ra, -dec if s[6] == "-" else dec


def long_with_positions(source_ids: list[str]) -> pd.DataFrame:
    """The sample's light curves of ``source_ids`` in long format, with ra and dec."""
    df = pd.read_parquet(SAMPLE_CATALOG)
    df = df[df.source_id.isin(source_ids)].copy()
    positions = {s: asas_position(s) for s in source_ids}
    df["ra"] = df.source_id.map(lambda s: positions[s][0])
    df["dec"] = df.source_id.map(lambda s: positions[s][1])
    return df.reset_index(drop=True)


def make_fixture(out: Path) -> None:
    """Every 10th star of the sample (sorted ids), nested per source, written by lsdb."""
    import nested_pandas as npd

    ids = sorted(pd.read_parquet(SAMPLE_CATALOG, columns=["source_id"]).source_id.unique())
    df = long_with_positions(ids[::10])
    sources = df.groupby("source_id", sort=True)[["ra", "dec"]].first()
    epochs = df.set_index("source_id")[list(ZTF_NAMES)].rename(columns=ZTF_NAMES)
    frame = npd.NestedFrame(sources).join_nested(epochs, "lc").reset_index()
    catalog = lsdb.from_dataframe(
        frame, ra_column="ra", dec_column="dec", partition_rows=6, margin_threshold=None
    )
    catalog.write_catalog(
        out,
        catalog_name=out.name,
        as_collection=False,
        overwrite=True,
        should_write_skymap=False,
        create_per_partition_statistics=False,
        progress_bar=False,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The fixture's light curves as long-format Parquet with positions, run in this process
    (a HATS catalog too: the sources have ra and dec)."""
    tmp = tmp_path_factory.mktemp("hats")
    ids = pq.read_table(HATS_INPUT / "dataset", columns=["source_id"]).column("source_id")
    long_src = tmp / "long.parquet"
    long_with_positions(sorted(ids.to_pylist())).to_parquet(long_src)
    config = RunConfig(partition_epochs=BOUND, fmax=5.0)
    vsbatch.run(str(long_src), tmp / "from_long", config, SERIAL)
    return {"tmp": tmp, "long_input": long_src, "from_long": tmp / "from_long"}


def test_hats_in_hats_out_round_trip_with_lsdb_and_duckdb(
    runs: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    out = runs["tmp"] / "from_hats"
    args = ["--partition-epochs", BOUND, "--fmax", "5", "--workers", "2"]
    code, stdout, _ = run_cli(capsys, "run", HATS_INPUT, "-o", out, *args,
                              *(a for c in COLUMNS for a in ("--column", c)))  # fmt: skip
    assert code == 0, stdout
    manifest = open_catalog(out).manifest
    assert manifest.layout == "hats"

    # a valid HATS catalog, written by hats: properties, partition info, _metadata
    assert is_valid_catalog(out, strict=True)
    info = hats.read_hats(out).catalog_info
    assert (info.ra_column, info.dec_column, info.healpix_column) == ("ra", "dec", "_healpix_29")
    assert info.total_rows == sum(p.rows for p in manifest.partitions) == 30
    meta_files = {rg.column(0).file_path for rg in _row_groups(out / "dataset" / "_metadata")}
    assert {f"dataset/{f}" for f in meta_files} == set(manifest.files)

    # partitions are the input's pixels, the ones above the bound split into children
    inputs = {(p.order, p.pixel) for p in hats.read_hats(HATS_INPUT).get_healpix_pixels()}
    records = {p.name: p for p in manifest.partitions}
    split = set()
    for name in manifest.partition_tree:
        order, pixel = parse_pixel_name(name)
        (parent,) = {(o, pixel >> 2 * (order - o)) for o in range(order + 1)} & inputs
        if parent != (order, pixel):
            split.add(parent)
        assert records[name].input_epochs <= BOUND or records[name].sources == 1
    assert split == {(0, 9), (0, 10), (1, 44)}  # the input pixels of 1016, 804, 847 epochs

    # lsdb opens the output; cross-matched with the input catalog every source finds itself
    result = lsdb.open_catalog(out)
    frame = result.compute()
    assert len(frame) == 30 and {"ra", "dec", "period", "part"} <= set(frame.columns)
    xmatch = result.crossmatch(
        lsdb.open_catalog(HATS_INPUT),
        radius_arcsec=1.0,
        n_neighbors=1,
        suffixes=("", "_in"),
        suffix_method="all_columns",
    ).compute()
    assert len(xmatch) == 30
    assert (xmatch.source_id == xmatch.source_id_in).all()
    assert (xmatch._dist_arcsec < 1e-6).all()
    # the spatial index is kept: lsdb's index of every source equals the input's
    source_index = lsdb.open_catalog(HATS_INPUT).compute().reset_index()
    kept = frame.reset_index().set_index("source_id")._healpix_29
    assert kept.to_dict() == source_index.set_index("source_id")._healpix_29.to_dict()

    # DuckDB through vsbatch query: the same values as the run on long-format Parquet
    sql = (
        "SELECT source_id, band, ra, dec, _healpix_29, n_obs, period, log10_fap_baluev, r21, "
        "phi31, fa_class, dmdt_n_pairs FROM catalog ORDER BY source_id, band"
    )
    from_hats = vsbatch.query(out, sql).to_pandas()
    from_long = vsbatch.query(runs["from_long"], sql).to_pandas()
    pd.testing.assert_frame_equal(from_hats, from_long)
    assert from_hats.period.notna().all()
    code, text, _ = run_cli(capsys, "query", out, "SELECT count(DISTINCT part) AS n FROM catalog",
                            "--format", "csv")  # fmt: skip
    assert code == 0 and text.split() == ["n", str(len(manifest.files))]
    # every column equal (the partition names differ: the long input starts from order 0)
    a = catalog_frame(out).drop(columns=["part"])
    b = catalog_frame(runs["from_long"]).drop(columns=["part"])
    pd.testing.assert_frame_equal(a, b[a.columns])
    # plain DuckDB on the pixel files, no vsbatch involved
    files = f"{out}/dataset/Norder=*/Dir=*/Npix=*/*.parquet"
    direct = duckdb.sql(
        f"SELECT count(*), count(DISTINCT source_id) FROM read_parquet('{files}')"
    ).fetchall()
    assert direct == [(30, 30)]


def _row_groups(path: Path) -> list:
    meta = pq.read_metadata(path)
    return [meta.row_group(i) for i in range(meta.num_row_groups)]


def test_long_input_with_positions_gives_hats_and_update_keeps_metadata_true(
    runs: dict[str, Path],
) -> None:
    """Incremental fingerprints on a HATS catalog: a changed light curve recomputes only its
    pixel, the superseded file leaves ``_metadata``, and lsdb reads the new values."""
    out = runs["tmp"] / "updated"
    shutil.copytree(runs["from_long"], out)
    assert is_valid_catalog(out, strict=True)
    before = open_catalog(out).manifest
    df = pd.read_parquet(runs["long_input"])
    sid = sorted(df.source_id.unique())[3]
    changed = df[~((df.source_id == sid) & (df.index % 7 == 0))]  # drop a seventh of its epochs
    changed_src = runs["tmp"] / "changed.parquet"
    changed.to_parquet(changed_src)
    summary = vsbatch.run(
        str(changed_src), out, RunConfig(partition_epochs=BOUND, fmax=5.0), SERIAL, update=True
    )
    assert summary.partitions_computed == 1
    after = open_catalog(out).manifest
    assert after.partition_tree == before.partition_tree
    assert len(set(after.files) - set(before.files)) == 1
    assert all((out / f).exists() for f in after.files)
    assert not any((out / f).exists() for f in set(before.files) - set(after.files))
    meta_files = {rg.column(0).file_path for rg in _row_groups(out / "dataset" / "_metadata")}
    assert {f"dataset/{f}" for f in meta_files} == set(after.files)
    assert is_valid_catalog(out, strict=True)
    frame = lsdb.open_catalog(out).compute()
    n_obs = frame.set_index("source_id").n_obs
    assert n_obs[sid] == changed[changed.source_id == sid].shape[0]


def test_pixel_tree_splits_by_cost_and_keeps_sources_in_place_on_update() -> None:
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 12 << 58, 3_000)
    costs = rng.integers(50, 500, 3_000)
    tree = PixelTree.build(keys, costs, 20_000)
    leaf = tree.assign(keys)
    per_leaf = np.bincount(leaf, weights=costs, minlength=len(tree.pixels))
    assert per_leaf.max() <= 20_000 and len({o for o, _ in tree.pixels}) > 1
    more = np.concatenate([keys, rng.integers(0, 12 << 58, 300)])
    grown = tree.refine(more, np.concatenate([costs, np.full(300, 100)]), 20_000)
    old_names = np.array(tree.names)[leaf]
    new_names = np.array(grown.names)[grown.assign(keys)]
    moved = old_names != new_names
    # a source moves only into a child of its old pixel (its pixel was split), never elsewhere
    for a, b in zip(old_names[moved], new_names[moved], strict=True):
        (oa, pa_), (ob, pb) = parse_pixel_name(a), parse_pixel_name(b)
        assert ob > oa and pb >> 2 * (ob - oa) == pa_
    assert PixelTree.from_json(grown.to_json()) == grown


def test_hats_input_without_the_optional_packages_is_a_clear_input_error(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules.update(hats=None, lsdb=None, nested_pandas=None); "
        "from vsbatch.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    proc = subprocess.run(
        [sys.executable, "-c", code, "run", str(HATS_INPUT), "-o", str(tmp_path / "c"),
         "--no-cluster"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "is a HATS catalog" in proc.stderr
    assert "pip install 'vsbatch[hats]'" in proc.stderr
    assert not (tmp_path / "c" / "_manifest.json").exists()


if __name__ == "__main__":
    make_fixture(HATS_INPUT)
    print(f"{HATS_INPUT}: {sum(f.stat().st_size for f in HATS_INPUT.rglob('*'))} bytes")
