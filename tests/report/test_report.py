"""``vsbatch report`` and ``vsbatch inspect`` on catalogs made by the real pipeline from shipped
real light curves (nothing mocked), plus a synthetic many-partition catalog for scale.

``python -m tests.report.test_report --rows 1000000`` builds a synthetic catalog of that many
rows and measures ``report`` on it (wall time and peak RSS in a fresh process); the numbers are
quoted in docs/pictures.md, not asserted here.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import vsbatch
from tests.conftest import FIXTURES
from vsbatch.cluster import ClusterSpec
from vsbatch.config import RunConfig
from vsbatch.errors import InputError, UsageError
from vsbatch.inspection import inspect_source
from vsbatch.io.catalog import (
    PARQUET_OPTIONS,
    Manifest,
    PartitionRecord,
    open_catalog,
    sha256_file,
    write_json_atomic,
    write_parquet_atomic,
)
from vsbatch.io.source_lookup import catalog_rows
from vsbatch.partitioning import Partition, source_keys
from vsbatch.report import (
    EVALUATION_DIR,
    ConfusionMatrix,
    EvaluationRecord,
    RocCurve,
    report,
    write_evaluation,
)
from vsbatch.schema import MANIFEST_FILE, failures_file, table_schema
from vsbatch.stages import catalog_schema

SERIAL = ClusterSpec(cluster="none")
CONFIG = RunConfig(fmax=5.0)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPORT_FIGURES = (
    "Period distribution",
    "Bailey diagram",
    "Fourier-parameter planes",
    "False-alarm probability",
)
INSPECT_TITLES = (
    "Light curve",
    "GLS periodogram",
    "Folded on P",
    "Residual amplitude spectrum",
    "Side-peak zoom",
    "dm-dt image",
    "Model input: NN-FAP 200-point KNN interpolation",
)


class _Page(HTMLParser):
    """The parts of a report page the tests look at."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.headings: list[str] = []
        self.captions: list[str] = []
        self.external: list[str] = []
        self._in: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.images.append(a)
        if tag in ("script", "link", "iframe") or (tag == "img" and "://" in a.get("src", "")):
            self.external.append(tag)
        if tag in ("h2", "h3", "figcaption"):
            self._in, self._text = tag, []

    def handle_data(self, data: str) -> None:
        if self._in:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            text = "".join(self._text).strip()
            (self.captions if tag == "figcaption" else self.headings).append(text)
            self._in = None


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def decoded_pngs(page: _Page) -> list[bytes]:
    prefix = "data:image/png;base64,"
    return [base64.b64decode(i["src"][len(prefix) :]) for i in page.images]


@pytest.fixture(scope="module")
def asas_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("asas") / "cat"
    vsbatch.run(str(FIXTURES / "asas_i_12.parquet"), out, CONFIG, SERIAL)
    return out


@pytest.fixture(scope="module")
def eros_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """misc_mit_5 with min_epochs=200: three sources fail cleaning, the EROS-2 Cepheid has B, R."""
    out = tmp_path_factory.mktemp("misc") / "cat"
    vsbatch.run(
        str(FIXTURES / "misc_mit_5.parquet"), out, RunConfig(fmax=5.0, min_epochs=200), SERIAL
    )
    return out


# ----------------------------------------------------------------------------- report


def test_report_holds_every_panel_of_a_real_catalog(asas_catalog: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    summary = report(asas_catalog, out, sample_cap=5)
    page = parse(out)
    assert not page.external, "the page must be self-contained"
    assert len(page.images) == summary.n_images == len(REPORT_FIGURES)
    for png in decoded_pngs(page):
        assert png.startswith(PNG_SIGNATURE)
    titles = [f.title for f in summary.figures]
    for want, got, caption in zip(REPORT_FIGURES, titles, page.captions, strict=True):
        assert got.startswith(want) and caption.startswith(got)
    for heading in ("Run", "Throughput of the last run", "Failures", "Classes (fa_class)"):
        assert heading in page.headings
    assert "Models" in page.headings and "Evaluation" in page.headings
    assert (summary.light_curves, summary.sources, summary.failures) == (12, 12, 0)
    assert summary.class_column == "fa_class"
    labels = {(p.xlabel, p.ylabel) for f in summary.figures for p in f.panels}
    assert ("Period (d)", "Amplitude (mag)") in labels
    assert ("Period (d)", "Light curves per bin") in labels
    assert {("R21", "R31"), ("φ21 (rad)", "φ31 (rad)"), ("R31", "φ31 (rad)")} <= labels
    bailey = summary.figures[1]
    assert bailey.points_sampled == 5  # the cap, not the 12 rows
    assert "Amplitude (mag) against Period (d)" in page.images[1]["alt"]
    fourier = summary.figures[2]
    assert fourier.points_sampled <= 3 * 5 and fourier.rows_binned <= 12
    text = out.read_text(encoding="utf-8")
    for key in open_catalog(asas_catalog).manifest.stats:  # throughput as the run recorded it
        assert key.replace("_", " ") in text
    assert "no model predictions" in text


def test_report_failures_and_evaluations(eros_catalog: Path, tmp_path: Path) -> None:
    cat = tmp_path / "cat"
    shutil.copytree(eros_catalog, cat)
    ev = EvaluationRecord(
        model="blazhko_cnn",
        version="0.1",
        dataset="held-out OGLE stars",
        confusion=ConfusionMatrix(("BL", "nBL"), ((40, 10), (5, 45))),
        roc=(RocCurve("BL", (0.0, 0.1, 0.3, 1.0), (0.0, 0.7, 0.9, 1.0), 0.88),),
    )
    path = write_evaluation(cat, ev)
    assert EvaluationRecord.from_json(json.loads(path.read_text())) == ev
    (cat / EVALUATION_DIR / "broken.json").write_text('{"model": "x", "roc": [{"fpr": [0]}]}')
    out = tmp_path / "r.html"
    summary = report(cat, out)
    page = parse(out)
    assert len(page.images) == summary.n_images == len(REPORT_FIGURES) + 1
    assert summary.evaluations == ("blazhko_cnn",)
    assert any("broken.json" in w for w in summary.warnings)
    ev_panels = summary.figures[-1].panels
    assert [(p.xlabel, p.ylabel) for p in ev_panels] == [
        ("Predicted class", "True class"),
        ("False-positive rate", "True-positive rate"),
    ]
    assert summary.failures == 3 and summary.light_curves == 3  # EROS B, R and one OGLE star
    assert summary.sources == 2
    text = out.read_text(encoding="utf-8")
    assert "By stage" in page.headings and "By reason" in page.headings
    assert "N valid epochs after cleaning, minimum N" in text  # reasons grouped by pattern
    assert "Warnings" in page.headings


def test_model_columns_colour_the_plots_and_reach_the_inspection(
    eros_catalog: Path, tmp_path: Path
) -> None:
    """A catalog with a model's probability column and a manifest model entry."""
    cat = tmp_path / "cat"
    shutil.copytree(eros_catalog, cat)
    manifest = json.loads((cat / MANIFEST_FILE).read_text())
    for p in manifest["partitions"]:
        if p["file"]:
            table = pq.read_table(cat / p["file"])
            p_bl = pa.array(np.linspace(0.1, 0.9, table.num_rows))
            table = table.append_column("blazhko_cnn_p_bl", p_bl)
            table = table.append_column("blazhko_cnn_version", pa.array(["0.1"] * table.num_rows))
            pq.write_table(table, cat / p["file"])
    entry = {"name": "blazhko_cnn", "kind": "blazhko", "version": "0.1", "sha256": "ab" * 32}
    if "models" in Manifest.__dataclass_fields__:
        manifest["models"] = [entry]
    else:
        manifest["stats"]["models"] = [entry]
    (cat / MANIFEST_FILE).write_text(json.dumps(manifest))
    summary = report(cat, tmp_path / "r.html")
    assert summary.class_column == "blazhko_cnn_p_bl" and summary.n_images == 4
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "ab" * 32 in text and "blazhko_cnn_p_bl, blazhko_cnn_version" in text
    s = inspect_source(cat, "EROS2-lm0010n22323", tmp_path / "star.png")
    assert s.model_columns == ("blazhko_cnn_p_bl", "blazhko_cnn_version")


def test_report_refuses_a_folder_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a committed vsbatch catalog"):
        report(tmp_path, tmp_path / "r.html")


# ----------------------------------------------------------------------------- inspect


def test_inspect_multiband_cepheid(eros_catalog: Path, tmp_path: Path) -> None:
    out = tmp_path / "star.png"
    s = inspect_source(eros_catalog, "EROS2-lm0010n22323", out)
    assert s.panels[0].title.split(" (")[0].split(",")[0] == "Light curve"
    for want, panel in zip(INSPECT_TITLES, s.panels, strict=True):
        assert panel.title.startswith(want), (want, panel.title)
    by_title = {p.title.split(" ")[0]: p for p in s.panels}
    assert by_title["Light"].ylabel == "Magnitude (mag)" and by_title["Light"].y_inverted
    assert by_title["Folded"].xlabel == "Phase" and by_title["Folded"].y_inverted
    assert by_title["Model"].y_inverted and by_title["Model"].xlabel == "Phase"
    assert by_title["GLS"].xlabel == "Frequency (d$^{-1}$)" and not by_title["GLS"].y_inverted
    assert by_title["dm-dt"].xlabel.startswith("Δt (d)")
    assert [b.band for b in s.bands] == ["EROS2_B", "EROS2_R"]
    rows = {r["band"]: r for r in catalog_rows(open_catalog(eros_catalog), "EROS2-lm0010n22323")}
    for b in s.bands:
        assert b.n_epochs == rows[b.band]["n_obs"] and b.period == rows[b.band]["period"]
        assert 0 < b.fap_level_power < 1 and b.fold_period == rows[b.band]["fold_period"]
    assert s.consistent and not s.notes and s.model_columns == ()
    assert (s.width, s.height) == (1400, 1400)
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert matplotlib.image.imread(out).shape[:2] == (1400, 1400)


def test_inspect_finds_the_input_or_says_where_to_look(tmp_path: Path) -> None:
    moved = tmp_path / "asas.parquet"
    shutil.copy(FIXTURES / "asas_i_12.parquet", moved)
    cat = tmp_path / "cat"
    vsbatch.run(str(moved), cat, CONFIG, SERIAL)
    moved.unlink()
    sid = "ASAS-013922-3304.4"
    with pytest.raises(InputError, match="--input"):
        inspect_source(cat, sid, tmp_path / "x.png")
    s = inspect_source(cat, sid, tmp_path / "star.png", input=FIXTURES / "asas_i_12.parquet")
    assert s.input == str(FIXTURES / "asas_i_12.parquet") and s.consistent
    assert len(s.bands) == 1 and s.bands[0].fa_class is not None
    with pytest.raises(UsageError, match="not in the catalog"):
        inspect_source(cat, "ASAS-000000-0000.0", tmp_path / "y.png")


def test_inspect_names_the_failure_of_a_rejected_source(eros_catalog: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"failure records.*clean"):
        inspect_source(eros_catalog, "HIP-54101", tmp_path / "x.png")
    with pytest.raises(InputError, match="no epochs of source"):
        other = FIXTURES / "ogle_blg_rrab_2.parquet"
        inspect_source(eros_catalog, "EROS2-lm0010n22323", tmp_path / "z.png", input=other)


# ----------------------------------------------------------------------------- scale


def write_synthetic_catalog(root: Path, n_rows: int, order: int, seed: int = 0) -> Path:
    """A committed catalog with every column of the real schema, 2**order partition files
    (sources placed by their real hash keys) and 1 % failure records.

    Values mimic a survey of RR Lyrae (RRab, RRc) plus non-variable stars so the plots look
    like a real catalog's; it exists to measure the report at scale, not to test science.
    """
    rng = np.random.default_rng(seed)
    config = RunConfig()
    schema = catalog_schema(config, pa.string(), {})
    ids = np.array([f"SYN-{i:09d}" for i in range(n_rows)], dtype=object)
    part_of = (source_keys(ids) >> np.uint64(64 - order)).astype(np.int64)
    names = [Partition(order, p).name for p in range(2**order)]
    records, failures = [], []
    for p, name in enumerate(names):
        rows = np.flatnonzero(part_of == p)
        if not len(rows):
            records.append(PartitionRecord(name, None, 0, 0, 0, 0, f"{p:032x}", None))
            continue
        table = _synthetic_rows(rng, ids[rows], schema)
        rel = f"part={name}/part-{name}-synthetic.parquet"  # Hive layout, as the pipeline's
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, root / rel, **PARQUET_OPTIONS)
        n_fail = int(rng.binomial(len(rows), 0.01))
        for sid in rng.choice(ids[rows], n_fail, replace=False):
            failures.append(_synthetic_failure(rng, str(sid), name))
        records.append(
            PartitionRecord(
                name,
                rel,
                len(rows),
                len(rows),
                n_fail,
                300 * len(rows),
                hashlib.md5(name.encode()).hexdigest(),
                sha256_file(root / rel),
            )
        )
    fail_table = pa.Table.from_pylist(failures, schema=table_schema("failures").arrow())
    write_parquet_atomic(fail_table, root / failures_file("synthetic"))
    manifest = Manifest(
        run_id="synthetic",
        vsbatch_version=vsbatch.__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        input="(synthetic)",
        config=config.to_dict(),
        config_hash=_content_hash(config),
        partition_tree=names,
        partitions=records,
        failures_file=failures_file("synthetic"),
        failures_rows=len(failures),
        carried_columns=[],
        source_id_type="string",
        stats={"input_sources": n_rows, "wall_seconds_last_run": n_rows / 50.0},
    )
    write_json_atomic(manifest.to_json(), root / MANIFEST_FILE)
    return root


def _content_hash(config: RunConfig) -> str:
    value = config.content_hash  # a property before the models issue, a method after it
    return value() if callable(value) else value


_LIST_LENGTHS = {
    "top_periods": 3,
    "top_powers": 3,
    "fourier_amplitudes": 10,
    "fourier_phases": 10,
    "dmdt_mahabal": 22 * 23,
}


def _synthetic_rows(rng: np.random.Generator, ids: np.ndarray, schema: pa.Schema) -> pa.Table:
    n = len(ids)
    kind = rng.choice(3, n, p=[0.55, 0.2, 0.25])  # RRab, RRc, no periodic signal
    period = np.where(
        kind == 0,
        rng.normal(0.56, 0.07, n),
        np.where(kind == 1, rng.normal(0.32, 0.035, n), 10 ** rng.uniform(-1.3, 1.7, n)),
    ).clip(0.05)
    amp = np.where(
        kind == 0,
        1.9 - 2.2 * period + rng.normal(0, 0.12, n),
        np.where(kind == 1, rng.normal(0.42, 0.07, n), rng.uniform(0.03, 0.3, n)),
    ).clip(0.02)
    two_pi = 2 * np.pi
    values = {
        "source_id": ids,
        "band": np.where(rng.random(n) < 0.8, "I", "V"),
        "period": period,
        "fold_period": period,
        "frequency": 1 / period,
        "amplitude": amp,
        "r21": np.where(
            kind == 0,
            rng.normal(0.47, 0.05, n),
            np.where(kind == 1, rng.normal(0.15, 0.05, n), rng.uniform(0, 1, n)),
        ).clip(0),
        "r31": np.where(
            kind == 0,
            rng.normal(0.32, 0.04, n),
            np.where(kind == 1, rng.normal(0.07, 0.03, n), rng.uniform(0, 0.8, n)),
        ).clip(0),
        "phi21": np.where(
            kind == 0,
            rng.normal(4.25, 0.12, n),
            np.where(kind == 1, rng.normal(4.7, 0.25, n), rng.uniform(0, two_pi, n)),
        )
        % two_pi,
        "phi31": np.where(
            kind == 0,
            rng.normal(2.45, 0.2, n),
            np.where(kind == 1, rng.normal(3.3, 0.4, n), rng.uniform(0, two_pi, n)),
        )
        % two_pi,
        "log10_fap_baluev": np.where(
            kind < 2, -np.abs(rng.normal(45, 25, n)), -rng.exponential(1.5, n)
        ),
        "fa_class": rng.choice(
            np.array(["nBL", "cBL/PC", "BL", None], dtype=object), n, p=[0.55, 0.28, 0.15, 0.02]
        ),
        "fold_period_source": np.full(n, "search", dtype=object),
        "n_bands": np.ones(n, dtype=np.int16),  # every row is a source of its own
    }
    arrays = []
    for f in schema:
        v = values.get(f.name)
        t = f.type
        if v is not None:
            arrays.append(pa.array(v, t))
        elif pa.types.is_fixed_size_list(t) or pa.types.is_list(t):
            k = _LIST_LENGTHS[f.name]
            flat = rng.random(n * k).astype(t.value_type.to_pandas_dtype())
            if f.name == "dmdt_mahabal":
                flat = np.floor(flat**8 * 40)  # mostly empty cells, like real images
            lists = pa.FixedSizeListArray.from_arrays(pa.array(flat, t.value_type), k)
            arrays.append(lists.cast(t))
        elif pa.types.is_floating(t):
            arrays.append(pa.array(rng.normal(1.0, 0.3, n), t))
        elif pa.types.is_integer(t):
            arrays.append(pa.array(rng.integers(1, 400, n), t))
        elif pa.types.is_boolean(t):
            arrays.append(pa.array(rng.random(n) < 0.1, t))
        else:
            arrays.append(pa.nulls(n, t))
    return pa.Table.from_arrays(arrays, schema=schema)


def _synthetic_failure(rng: np.random.Generator, sid: str, partition: str) -> dict:
    stage, reason = [
        (
            "clean",
            f"{rng.integers(0, 5)} valid epochs after cleaning, minimum 5 (input "
            f"{rng.integers(1, 9)}; dropped 1 non-finite time/mag, 0 bad mag_err, 0 "
            "duplicates)",
        ),
        ("fourier", "too few usable epochs"),
        ("freqanalysis", "singular least-squares problem (poor phase coverage)"),
    ][int(rng.choice(3, p=[0.6, 0.25, 0.15]))]
    return {
        "source_id": sid,
        "band": "I",
        "stage": stage,
        "reason": reason,
        "partition": partition,
        "file": None,
    }


def test_report_on_many_partitions_samples_and_is_deterministic(tmp_path: Path) -> None:
    cat = write_synthetic_catalog(tmp_path / "syn", 20_000, order=4)
    assert len(open_catalog(cat).files) == 16
    one = report(cat, tmp_path / "a.html", sample_cap=300, seed=7)
    two = report(cat, tmp_path / "b.html", sample_cap=300, seed=7)
    assert one.light_curves == one.sources == 20_000
    bailey, fourier = one.figures[1], one.figures[2]
    assert len(bailey.panels) == 2  # one Bailey panel per band, each capped like a layer
    assert bailey.points_sampled == 2 * 300 and fourier.points_sampled == 900
    assert 15_000 < bailey.rows_binned <= 20_000  # every row in range is in the SQL histogram
    images_one = decoded_pngs(parse(tmp_path / "a.html"))
    assert images_one == decoded_pngs(parse(tmp_path / "b.html"))  # seeded sample, same pixels
    assert one.figures == two.figures
    # the source lookup reads the one partition file its id hashes to
    rows = catalog_rows(open_catalog(cat), "SYN-000012345")
    assert len(rows) == 1 and rows[0]["source_id"] == "SYN-000012345"


# ----------------------------------------------------------------------------- measurement


_MEASURE = """
import json, resource, sys, time


def peak_mib():
    # VmHWM: this process image only. ru_maxrss also counts the forking parent's memory
    # (Linux keeps it across execve), which is the big catalog builder here.
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


import vsbatch.report
base = peak_mib()
t = time.perf_counter()
s = vsbatch.report.report(sys.argv[1], sys.argv[2])
wall = time.perf_counter() - t
print(json.dumps({"seconds": wall, "peak_rss_mib": peak_mib(), "rss_after_imports_mib": base,
                  "light_curves": s.light_curves, "images": s.n_images}))
"""


def measure(n_rows: int, order: int) -> dict:
    """Build a synthetic catalog and time ``report`` on it in a fresh interpreter."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "catalog"
        t = time.perf_counter()
        write_synthetic_catalog(root, n_rows, order)
        built = time.perf_counter() - t
        size = sum(f.stat().st_size for f in root.rglob("*.parquet"))
        out = subprocess.run(
            [sys.executable, "-c", _MEASURE, str(root), str(Path(tmp) / "report.html")],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(out.stdout)
        html_size = (Path(tmp) / "report.html").stat().st_size
    return {
        "rows": n_rows,
        "files": 2**order,
        "catalog_mib": size / 2**20,
        "build_seconds": built,
        "html_kib": html_size / 1024,
        **result,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="measure vsbatch report on a synthetic catalog")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--order", type=int, default=11, help="2**order partition files")
    args = parser.parse_args()
    print(json.dumps(measure(args.rows, args.order), indent=1))
