"""``vsbatch report``: one self-contained HTML page describing a committed catalog.

What it shows, and why each piece is there:

- the run (manifest): input, configuration, sources, light curves, failures by stage and by
  reason, throughput of the last run, and models with versions when the manifest lists any;
- a period histogram (log period), the Bailey diagram (period vs amplitude) coloured by class,
  the Fourier-parameter planes R21-R31, phi21-phi31 and R31-phi31 (the planes of the Blazhko
  paper's Figs. 7-10, where RRab, RRc and Blazhko stars separate) and the distribution of the
  Baluev false-alarm probability -- the plots an astronomer looks at first to judge a catalog;
- confusion matrices and ROC curves of the evaluation results stored with the catalog
  (``CATALOG/_evaluation/*.json``, format below), when there are any;
- on request (``candidates_png``, ``vsbatch report --blazhko-candidates PNG``), the phased light
  curves of the most confident BL and nBL candidates of a Blazhko model column
  (:func:`blazhko_candidates`), also written as a PNG: a P_BL is only believed after looking at
  the folds behind it. This figure, unlike the others, reads the candidates' input epochs.

Scale: whatever its size, the catalog is read in three DuckDB scans: (1) counts and exact
ranges; (2) a sample of up to ``RANGE_SAMPLE`` rows in the order of a seeded hash of
(source_id, band) -- plot ranges come from its quantiles and each scatter layer draws its
first ``sample_cap`` rows in range (deterministic whatever the thread count); (3) one
GROUPING SETS query for every binned 1D and 2D histogram and the class-by-band counts. No plot
loads every row and no query holds a hash table of every id (sources are counted as
sum(1 / n_bands)), so memory stays flat from a hundred rows to millions (README: 1,000,000
rows in 2,048 partition files).

Evaluation results (``CATALOG/_evaluation/<name>.json``), one file per evaluated model::

    {
      "model": "blazhko_cnn",                  # required
      "version": "0.2.0",                      # optional
      "dataset": "OGLE-IV LMC test set",       # optional, what it was evaluated on
      "confusion_matrix": {                    # optional
        "labels": ["BL", "nBL"],               # class order of rows and columns
        "matrix": [[90, 10], [5, 95]]          # counts; rows = true class, columns = predicted
      },
      "roc": [                                 # optional, one curve per positive class
        {"label": "BL", "fpr": [0, 0.1, 1], "tpr": [0, 0.8, 1], "auc": 0.93}
      ]                                        # auc optional (trapezoid rule when absent)
    }

``write_evaluation`` writes this format; a malformed file is skipped with a warning in the
report (a report never fails because of one bad evaluation file).

Models: a manifest may list the models that filled its columns as ``models`` (a list of
``{"name": ..., "version": ..., ...}`` or a ``{name: version}`` mapping), at the top level or
in ``stats``; the report tabulates whatever is there.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis as TickAxis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from vsbatch._version import __version__
from vsbatch.errors import UsageError
from vsbatch.io.catalog import Catalog, open_catalog, write_bytes_atomic, write_json_atomic
from vsbatch.query import connect
from vsbatch.schema import column_prefix, table_schema

if TYPE_CHECKING:
    from vsbatch.config import RunConfig
    from vsbatch.kernels.arrays import LightCurves
    from vsbatch.represent.phased_image import ImageSpec, PhaseFold

EVALUATION_DIR = "_evaluation"
SAMPLE_CAP = 20_000
"""Default points per scatter layer: enough to show every class, cheap to draw."""
RANGE_SAMPLE = 100_000
"""Rows (seeded) whose quantiles set the plot ranges."""
GRID_BINS = 120
"""Default cells per axis of the SQL 2D histograms."""
FAP_LEVEL = -3.0
"""log10 FAP marked on the plots (the usual 0.1 % significance level)."""

STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8.5,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "figure.dpi": 100,
    "savefig.dpi": 100,
}
CLASS_COLOURS = {
    "BL": "#d62728",
    "nBL": "#1f77b4",
    "cBL/PC": "#ff7f0e",
    "unclassified": "#8c8c8c",
}
_FALLBACK_COLOURS = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


# ----------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class PanelInfo:
    """One drawn axes: what a reader (or a test) can check without looking at pixels."""

    title: str
    xlabel: str
    ylabel: str
    y_inverted: bool = False


@dataclass(frozen=True)
class FigureInfo:
    """One embedded image of the report."""

    title: str
    caption: str
    panels: tuple[PanelInfo, ...]
    points_sampled: int = 0  # scatter points drawn (each layer capped at sample_cap)
    rows_binned: int = 0  # rows summarised by the SQL histograms of this figure


@dataclass(frozen=True)
class ReportSummary:
    """What ``report`` wrote and from what."""

    output: Path
    catalog: Path
    run_id: str
    light_curves: int
    sources: int
    failures: int
    class_column: str | None
    figures: tuple[FigureInfo, ...]
    evaluations: tuple[str, ...]  # names of the evaluation files rendered
    warnings: tuple[str, ...]
    seconds: float
    candidates: CandidatesSummary | None = None

    @property
    def n_images(self) -> int:
        return len(self.figures)


@dataclass(frozen=True)
class Candidate:
    """One light curve of the Blazhko candidates figure."""

    source_id: object
    band: str | None
    p_bl: float
    blazhko_class: str
    fa_class: str | None
    fold_period: float
    n_drawn: int  # epochs inside the 0.35 mag clipping, drawn as points


@dataclass(frozen=True)
class CandidatesSummary:
    """What :func:`blazhko_candidates` drew: the model column, the stars and the panels."""

    output: Path
    model: str
    candidates: tuple[Candidate, ...]
    figure: FigureInfo


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts with rows = true class and columns = predicted class, in ``labels`` order."""

    labels: tuple[str, ...]
    matrix: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class RocCurve:
    """One ROC curve (false- and true-positive rates) of a positive class."""

    label: str
    fpr: tuple[float, ...]
    tpr: tuple[float, ...]
    auc: float


@dataclass(frozen=True)
class Evaluation:
    """A model's evaluation as stored in ``CATALOG/_evaluation/<name>.json``."""

    model: str
    version: str | None = None
    dataset: str | None = None
    confusion: ConfusionMatrix | None = None
    roc: tuple[RocCurve, ...] = ()

    @classmethod
    def from_json(cls, data: object) -> Evaluation:
        """Validate the documented format; ValueError says what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("top level must be a JSON object")
        model = data.get("model")
        if not isinstance(model, str) or not model:
            raise ValueError("'model' (a non-empty string) is required")
        confusion = None
        if data.get("confusion_matrix") is not None:
            cm = data["confusion_matrix"]
            if not isinstance(cm, dict):
                raise ValueError("'confusion_matrix' must be an object")
            labels = tuple(str(x) for x in cm.get("labels", ()))
            matrix = np.asarray(cm.get("matrix", ()), dtype=float)
            if not labels or matrix.shape != (len(labels), len(labels)):
                raise ValueError(
                    f"confusion_matrix.matrix must be {len(labels)} x {len(labels)} "
                    f"(one row and column per label), got shape {matrix.shape}"
                )
            if not np.all(np.isfinite(matrix)) or np.any(matrix < 0):
                raise ValueError("confusion_matrix.matrix must hold finite non-negative counts")
            confusion = ConfusionMatrix(labels, tuple(tuple(map(float, r)) for r in matrix))
        curves = []
        for i, c in enumerate(data.get("roc") or ()):
            if not isinstance(c, dict):
                raise ValueError(f"roc[{i}] must be an object")
            fpr = np.asarray(c.get("fpr", ()), dtype=float)
            tpr = np.asarray(c.get("tpr", ()), dtype=float)
            if fpr.ndim != 1 or fpr.shape != tpr.shape or fpr.size < 2:
                raise ValueError(f"roc[{i}]: fpr and tpr must be lists of equal length >= 2")
            if np.any((fpr < 0) | (fpr > 1) | (tpr < 0) | (tpr > 1)):
                raise ValueError(f"roc[{i}]: rates must lie in [0, 1]")
            order = np.argsort(fpr, kind="stable")
            auc = c.get("auc")
            if auc is None:
                auc = float(np.trapezoid(tpr[order], fpr[order]))
            curves.append(
                RocCurve(str(c.get("label", f"class {i}")), tuple(fpr), tuple(tpr), float(auc))
            )
        return cls(
            model=model,
            version=None if data.get("version") is None else str(data["version"]),
            dataset=None if data.get("dataset") is None else str(data["dataset"]),
            confusion=confusion,
            roc=tuple(curves),
        )

    def to_json(self) -> dict:
        out: dict = {"model": self.model}
        if self.version is not None:
            out["version"] = self.version
        if self.dataset is not None:
            out["dataset"] = self.dataset
        if self.confusion is not None:
            out["confusion_matrix"] = {
                "labels": list(self.confusion.labels),
                "matrix": [list(r) for r in self.confusion.matrix],
            }
        if self.roc:
            out["roc"] = [
                {"label": c.label, "fpr": list(c.fpr), "tpr": list(c.tpr), "auc": c.auc}
                for c in self.roc
            ]
        return out


def write_evaluation(
    catalog_path: str | os.PathLike, evaluation: Evaluation, name: str | None = None
) -> Path:
    """Store an evaluation with the catalog (atomically), where ``report`` will find it."""
    root = open_catalog(catalog_path).root
    stem = name or evaluation.model
    if not stem or "/" in stem or stem.startswith("."):
        raise UsageError(f"bad evaluation name {stem!r}")
    path = root / EVALUATION_DIR / f"{stem}.json"
    write_json_atomic(evaluation.to_json(), path)
    return path


def load_evaluations(
    catalog_path: str | os.PathLike,
) -> tuple[list[tuple[str, Evaluation]], list[str]]:
    """(name, evaluation) of every valid ``_evaluation/*.json``, and warnings for the others."""
    folder = Path(catalog_path) / EVALUATION_DIR
    found, warnings = [], []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            found.append((path.stem, Evaluation.from_json(json.loads(path.read_text("utf-8")))))
        except (OSError, ValueError) as exc:  # JSONDecodeError is a ValueError
            warnings.append(f"{path}: skipped, not a valid evaluation file ({exc})")
    return found, warnings


# ----------------------------------------------------------------------------- figure helpers


def figure(width: float, height: float) -> Figure:
    """A matplotlib Figure on the Agg canvas (no pyplot, no global backend state).

    Create and draw it inside ``matplotlib.rc_context(STYLE)``: fonts and grids are read then.
    """
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes, pixel size = figsize x dpi (no tight bounding box)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def panel_info(ax: Axes) -> PanelInfo:
    return PanelInfo(ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), bool(ax.yaxis_inverted()))


def class_colour(name: str, index: int) -> str:
    return CLASS_COLOURS.get(name, _FALLBACK_COLOURS[index % len(_FALLBACK_COLOURS)])


def log_axis_labels(axis: TickAxis) -> None:
    """Plain numbers (0.2, 0.5, 1, 2) on a log axis: periods read better than powers of ten."""
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(
        FuncFormatter(
            lambda v, _: f"{v:g}" if round(v / 10 ** math.floor(math.log10(v))) in (2, 5) else ""
        )
    )


def _q(name: str) -> str:
    """A SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _lit(x: float) -> str:
    """A SQL double literal."""
    return repr(float(x))


@dataclass(frozen=True)
class Quantity:
    """A plotted quantity: SQL that is NULL where it does not apply, and its axis label."""

    key: str
    sql: str
    label: str
    log: bool = False  # sql is log10 of the plotted value; its axes are drawn log-scaled


def _positive_log10(column: str) -> str:
    return f"log10(CASE WHEN {_q(column)} > 0 THEN {_q(column)} END)"


def plotted_quantities(cols: set[str]) -> dict[str, Quantity]:
    """The quantities the report draws that this catalog has."""
    out = {}
    if "period" in cols:
        out["log_period"] = Quantity("log_period", _positive_log10("period"), "Period (d)", True)
    fold = "fold_period" if "fold_period" in cols else "period"
    if fold in cols:
        out["log_fold"] = Quantity("log_fold", _positive_log10(fold), "Period (d)", True)
    labels = {
        "amplitude": "Amplitude (mag)",
        "r21": "R21",
        "r31": "R31",
        "phi21": "φ21 (rad)",
        "phi31": "φ31 (rad)",
        "log10_fap_baluev": r"$\log_{10}$ FAP (Baluev 2008)",
    }
    for name, label in labels.items():
        if name in cols:
            out[name] = Quantity(name, f"CAST({_q(name)} AS DOUBLE)", label)
    if {"log10_fap_multiband", "n_bands"} <= cols:
        sql = f"CASE WHEN {_q('n_bands')} > 1 THEN CAST({_q('log10_fap_multiband')} AS DOUBLE) END"
        out["log10_fap_multiband"] = Quantity("log10_fap_multiband", sql, "multiband")
    return out


@dataclass(frozen=True)
class Axis:
    """A binned axis of a SQL histogram over a quantity's [lo, hi] (in log10 when ``log``)."""

    q: Quantity
    lo: float
    hi: float
    bins: int = GRID_BINS
    clip: bool = False  # 1D histograms: values outside land in the end bins

    @property
    def width(self) -> float:
        return (self.hi - self.lo) / self.bins

    @property
    def edges(self) -> np.ndarray:
        e = np.linspace(self.lo, self.hi, self.bins + 1)
        return 10.0**e if self.q.log else e

    def index_sql(self) -> str:
        """Bin index; NULL where not finite, -1 outside the range (unless clipped)."""
        v = f"({self.q.sql})"
        index = (
            f"least(greatest(floor(({v} - {_lit(self.lo)}) / {_lit(self.width)}), 0), "
            f"{self.bins - 1})::INTEGER"
        )
        if self.clip:
            return f"CASE WHEN isfinite({v}) THEN {index} END"
        outside = f"{v} < {_lit(self.lo)} OR {v} > {_lit(self.hi)}"
        return f"CASE WHEN NOT isfinite({v}) THEN NULL WHEN {outside} THEN -1 ELSE {index} END"

    def inside(self, x: np.ndarray) -> np.ndarray:
        return np.isfinite(x) & (x >= self.lo) & (x <= self.hi)

    def values(self, x: np.ndarray) -> np.ndarray:
        return 10.0**x if self.q.log else x


@dataclass(frozen=True)
class ClassColumn:
    """The column that colours the scatter layers: categorical, or a probability in [0, 1]."""

    name: str
    kind: str  # "categorical" or "probability"

    def sql(self) -> str:
        if self.kind == "probability":
            return f"CAST({_q(self.name)} AS DOUBLE)"
        return f"coalesce(CAST({_q(self.name)} AS VARCHAR), 'unclassified')"


def choose_class_column(columns: Iterable[str]) -> ClassColumn | None:
    """A model's ``*_class``, else its ``*_p_bl`` probability, else ``fa_class``."""
    cols = list(columns)
    models = sorted(c for c in cols if c.endswith("_class") and c != "fa_class")
    if models:
        return ClassColumn(models[0], "categorical")
    probs = sorted(c for c in cols if c.endswith("_p_bl"))
    if probs:
        return ClassColumn(probs[0], "probability")
    return ClassColumn("fa_class", "categorical") if "fa_class" in cols else None


# ----------------------------------------------------------------------------- SQL aggregates


@dataclass(frozen=True)
class _Stats:
    """Whole-catalog numbers from one scan."""

    rows: int
    sources: int
    log_period_range: tuple[float, float] | None  # exact min and max of log10(period)
    fap_max: float | None
    fap_count: int
    fap_significant: int  # log10 FAP below FAP_LEVEL
    probability: tuple[int, float | None, int] | None  # count, mean, count >= 0.5


@dataclass
class _Request:
    """One histogram computed by the grouping-sets scan."""

    axes: tuple[Axis, ...]
    by_band: bool = False
    counts: dict[str | None, np.ndarray] = field(default_factory=dict)  # band -> bins
    outside: int = 0  # 2D: finite rows outside the plotted ranges


class _Aggregator:
    """Turns any number of rows into a few scans: statistics, a seeded sample, histograms.

    The sample (up to ``RANGE_SAMPLE`` rows, ordered by a seeded hash of (source_id, band))
    sets the plot ranges (quantiles) and feeds the scatter layers (the first ``cap`` rows in
    range, i.e. exactly what ``WHERE ... ORDER BY hash LIMIT cap`` would give while enough of
    the sample is in range). Every histogram is one grouping set of a single SQL query.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        quantities: dict[str, Quantity],
        cls: ClassColumn | None,
        cap: int,
        seed: int,
    ) -> None:
        self.con, self.quantities, self.cls = con, quantities, cls
        self.cap, self.seed = cap, seed
        self.sample: dict[str, np.ndarray] = {}
        self.sample_class: list = []
        self.requests: list[_Request] = []
        self.class_band: list[tuple[str | None, str | None, int]] = []

    def stats(self, cols: set[str]) -> _Stats:
        """Counts and exact ranges in one scan.

        Sources are counted as the sum of 1/n_bands over the rows (n_bands is the number of
        catalog rows of the row's source), which needs no hash table of every id; a catalog
        without n_bands falls back to count(DISTINCT source_id).
        """
        q = self.quantities
        lp = q["log_period"].sql if "log_period" in q else "NULL::DOUBLE"
        fap = q["log10_fap_baluev"].sql if "log10_fap_baluev" in q else "NULL::DOUBLE"
        p = self.cls.sql() if self.cls and self.cls.kind == "probability" else "NULL::DOUBLE"
        nb = f"CAST({_q('n_bands')} AS DOUBLE)" if "n_bands" in cols else "NULL::DOUBLE"
        row = self.con.execute(
            "SELECT count(*), sum(1.0 / nb), count(nb), min(lp), max(lp), max(fap), count(fap), "
            f"count(fap) FILTER (WHERE fap < {FAP_LEVEL}), count(p), avg(p), "
            "count(p) FILTER (WHERE p >= 0.5) FROM (SELECT "
            f"CASE WHEN isfinite({lp}) THEN {lp} END AS lp, "
            f"CASE WHEN isfinite({fap}) THEN {fap} END AS fap, {p} AS p, "
            f"CASE WHEN {nb} >= 1 THEN {nb} END AS nb FROM catalog)"
        ).fetchone()
        rows = int(row[0])
        if rows and int(row[2]) == rows:
            sources = round(float(row[1]))
        else:
            sources = int(
                self.con.execute("SELECT count(DISTINCT source_id) FROM catalog").fetchone()[0]
            )
        prob = (int(row[8]), row[9], int(row[10])) if p != "NULL::DOUBLE" else None
        return _Stats(
            rows=rows,
            sources=sources,
            log_period_range=None if row[3] is None else (float(row[3]), float(row[4])),
            fap_max=None if row[5] is None else float(row[5]),
            fap_count=int(row[6]),
            fap_significant=int(row[7]),
            probability=prob,
        )

    def load_sample(self, rows: int) -> None:
        """The first rows in seeded-hash order (of ``rows`` in the catalog).

        A hash threshold keeping about twice the rows needed lets the top-N see few rows
        (memory); the rows kept are those the unfiltered ORDER BY would give, and the query
        is repeated without the threshold in the (unlikely) case it kept too few.
        """
        n = max(RANGE_SAMPLE, self.cap)
        exprs = [f"{q.sql} AS {_q(k)}" for k, q in self.quantities.items()]
        exprs.append(f"{self.cls.sql() if self.cls else 'NULL'} AS __class")
        h = f"hash(source_id, band, {int(self.seed)})"
        fraction = 2.0 * n / rows if rows else 1.0
        where = f"WHERE {h} < {int(fraction * 2**64)}::UBIGINT" if fraction < 1 else ""
        sql = f"SELECT {', '.join(exprs)} FROM catalog {{}} ORDER BY {h} LIMIT {n}"
        data = self.con.execute(sql.format(where)).fetchnumpy()
        if where and len(data["__class"]) < min(n, rows):
            data = self.con.execute(sql.format("")).fetchnumpy()
        for k in self.quantities:
            col = np.ma.asarray(data[k])
            self.sample[k] = np.ma.filled(col.astype(float), np.nan)
        labels = np.ma.asarray(data["__class"])
        mask = np.ma.getmaskarray(labels)
        self.sample_class = [None if m else v for v, m in zip(labels.data, mask, strict=True)]

    def values(self, key: str) -> np.ndarray:
        v = self.sample.get(key, np.zeros(0))
        return v[np.isfinite(v)]

    def quantile_range(self, key: str, lo_q: float, hi_q: float) -> tuple[float, float] | None:
        """A robust plotting range from the sample, widened when degenerate."""
        v = self.values(key)
        if not len(v):
            return None
        lo, hi = (float(x) for x in np.quantile(v, [lo_q, hi_q]))
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        pad = 0.02 * (hi - lo)
        return lo - pad, hi + pad

    def robust_upper(self, key: str) -> float | None:
        """Upper plot limit: the 99th percentile, or Q3 + 3 IQR when outliers pull it away."""
        v = self.values(key)
        v = v[v >= 0]
        if not len(v):
            return None
        q1, q3, q99 = np.quantile(v, [0.25, 0.75, 0.99])
        hi = min(q99, q3 + 3.0 * (q3 - q1))
        return 1.1 * hi if hi > 0 else 1.0

    def histogram(self, *axes: Axis, by_band: bool = False) -> _Request:
        """Register a 1D or 2D histogram; filled by ``run``."""
        request = _Request(tuple(axes), by_band)
        self.requests.append(request)
        return request

    def run(self) -> None:
        """One scan: every registered histogram and the class-by-band counts."""
        axis_cols: dict[Axis, str] = {}
        for r in self.requests:
            for a in r.axes:
                axis_cols.setdefault(a, f"b{len(axis_cols)}")
        extra = ["__band"] + (["__class"] if self.cls and self.cls.kind == "categorical" else [])
        names = [*axis_cols.values(), *extra]
        sets = [
            tuple(axis_cols[a] for a in r.axes) + (("__band",) if r.by_band else ())
            for r in self.requests
        ]
        sets.append(tuple(extra))
        unique = list(dict.fromkeys(sets))

        def gid(s: tuple[str, ...]) -> int:
            return sum(1 << (len(names) - 1 - i) for i, n in enumerate(names) if n not in s)

        selects = [f"{a.index_sql()} AS {c}" for a, c in axis_cols.items()]
        selects.append("CAST(band AS VARCHAR) AS __band")
        if "__class" in extra:
            selects.append(f"{self.cls.sql()} AS __class")
        grouping = ", ".join("(" + ", ".join(s) + ")" for s in unique)
        rows = self.con.execute(
            f"SELECT grouping({', '.join(names)}) AS gid, {', '.join(names)}, count(*) AS n "
            f"FROM (SELECT {', '.join(selects)} FROM catalog) GROUP BY GROUPING SETS ({grouping})"
        ).fetchall()
        by_gid: dict[int, list[tuple]] = {}
        for row in rows:
            by_gid.setdefault(row[0], []).append(row)
        index = {n: i + 1 for i, n in enumerate(names)}
        for r, s in zip(self.requests, sets[:-1], strict=True):
            for row in by_gid.get(gid(s), []):
                idx = [row[index[axis_cols[a]]] for a in r.axes]
                if any(i is None for i in idx):
                    continue
                if any(i < 0 for i in idx):
                    r.outside += row[-1]
                    continue
                band = row[index["__band"]] if r.by_band else None
                shape = tuple(a.bins for a in r.axes)
                r.counts.setdefault(band, np.zeros(shape))[tuple(idx)] += row[-1]
        for row in by_gid.get(gid(sets[-1]), []):
            label = row[index["__class"]] if "__class" in index else None
            self.class_band.append((label, row[index["__band"]], int(row[-1])))

    def scatter(self, x: Axis, y: Axis) -> tuple[np.ndarray, np.ndarray, list]:
        """The first ``cap`` sample rows inside both ranges: (x, y, class values)."""
        xs, ys = self.sample[x.q.key], self.sample[y.q.key]
        rows = np.flatnonzero(x.inside(xs) & y.inside(ys))[: self.cap]
        return x.values(xs[rows]), y.values(ys[rows]), [self.sample_class[i] for i in rows]

    def class_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for label, _, n in self.class_band:
            if label is not None:
                counts[label] = counts.get(label, 0) + n
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    def band_counts(self) -> list[tuple[str | None, int]]:
        counts: dict[str | None, int] = {}
        for _, band, n in self.class_band:
            counts[band] = counts.get(band, 0) + n
        return sorted(counts.items(), key=lambda kv: -kv[1])


# ----------------------------------------------------------------------------- the figures


@dataclass(frozen=True)
class _Rendered:
    info: FigureInfo
    png: bytes


Drawer = Callable[[], _Rendered]


def _density_layer(ax: Axes, request: _Request, cap: int) -> int:
    """Log-scaled grey density of every row in range; returns the rows counted.

    Drawn only when the rows outnumber the sample cap: below it the sample is every row.
    """
    x, y = request.axes
    grid = request.counts.get(None, np.zeros((x.bins, y.bins)))
    total = int(grid.sum())
    if total > cap:
        masked = np.ma.masked_equal(grid.T, 0)
        norm = LogNorm(1, max(grid.max(), 2))
        ax.pcolormesh(x.edges, y.edges, masked, cmap="Greys", norm=norm, rasterized=True)
    for axis, setter, log_scale in ((x, ax.xaxis, ax.set_xscale), (y, ax.yaxis, ax.set_yscale)):
        if axis.q.log:
            log_scale("log")
            log_axis_labels(setter)
    ax.set_xlim(x.edges[0], x.edges[-1])
    ax.set_ylim(y.edges[0], y.edges[-1])
    ax.set_xlabel(x.q.label)
    ax.set_ylabel(y.q.label)
    return total


def _scatter_layer(ax: Axes, agg: _Aggregator, x: Axis, y: Axis, legend: bool) -> int:
    """The seeded, capped sample on top of the density, coloured by class."""
    xs, ys, cs = agg.scatter(x, y)
    if not len(xs):
        return 0
    size = 14 if len(xs) <= 2_000 else 5 if len(xs) <= 8_000 else 2.5
    alpha = 0.75 if len(xs) <= 8_000 else 0.5
    cls = agg.cls
    if cls is not None and cls.kind == "probability":
        p = np.array([np.nan if v is None else float(v) for v in cs])
        art = ax.scatter(xs, ys, c=p, s=size, cmap="viridis", vmin=0, vmax=1, lw=0, alpha=alpha)
        if legend:
            ax.figure.colorbar(art, ax=ax, label=cls.name)
        return len(xs)
    labels = np.array(["all" if v is None else str(v) for v in cs])
    counts = agg.class_counts() if cls else {}
    for k, name in enumerate(counts or sorted(set(labels))):
        sel = labels == name
        if not sel.any():
            continue
        n = counts.get(name)
        text = f"{name} (n={n:,})" if n is not None else name
        colour = class_colour(name, k)
        ax.scatter(xs[sel], ys[sel], s=size, lw=0, alpha=alpha, color=colour, label=text)
    if legend:
        ax.legend(loc="best", markerscale=2.5, framealpha=0.85, title=cls.name if cls else None)
    return len(xs)


def _layers_text(agg: _Aggregator, request: _Request, binned: int, sampled: int) -> str:
    """How a density + sample plot was drawn, for its caption."""
    x, y = request.axes
    if binned > agg.cap:
        text = (
            f"Grey: log-scaled density of all {binned:,} light curves in range ({x.bins} x "
            f"{y.bins} cells counted in SQL); points: {sampled:,} of them chosen by a seeded hash "
            f"of (source_id, band) (at most {agg.cap:,})."
        )
    else:
        text = f"All {sampled:,} light curves in range are drawn."
    if request.outside > 0:
        text += f" {request.outside:,} with values outside the plotted range are not shown."
    return text


def _period_histogram(agg: _Aggregator, stats: _Stats) -> Drawer | None:
    q = agg.quantities.get("log_period")
    if q is None or stats.log_period_range is None:
        return None
    lo, hi = stats.log_period_range
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.01 * (hi - lo)
    axis = Axis(q, lo - pad, hi + pad, 80, clip=True)
    request = agg.histogram(axis, by_band=True)

    def draw() -> _Rendered:
        fig = figure(8.5, 4.2)
        ax = fig.add_subplot()
        bands = sorted(request.counts.items(), key=lambda kv: -kv[1].sum())
        per_band = 1 < len(bands) <= 6
        edges = axis.edges
        total = sum(int(c.sum()) for _, c in bands)
        if per_band:
            for k, (name, counts) in enumerate(bands):
                label = f"{name or '(none)'} (n={int(counts.sum()):,})"
                colour = _FALLBACK_COLOURS[k % len(_FALLBACK_COLOURS)]
                ax.stairs(counts, edges, label=label, lw=1.4, color=colour)
            ax.legend(title="band")
        else:
            counts = sum((c for _, c in bands), np.zeros(axis.bins))
            ax.stairs(counts, edges, fill=True, color="#4c72b0", alpha=0.8)
        ax.set_xscale("log")
        log_axis_labels(ax.xaxis)
        ax.set_xlabel("Period (d)")
        ax.set_ylabel("Light curves per bin")
        ax.set_title("Period distribution (GLS best period, log bins)")
        caption = (
            f"Histogram of the best generalised Lomb-Scargle period of {total:,} light curves "
            f"in {axis.bins} bins equal in log P from {edges[0]:.4g} to {edges[-1]:.4g} d"
            + (", one line per band." if per_band else ".")
            + " Excesses at 1 d and its fractions are usually daily aliases of ground-based "
            "cadences."
        )
        return _Rendered(
            FigureInfo(ax.get_title(), caption, (panel_info(ax),), 0, total), png_bytes(fig)
        )

    return draw


def _bailey(agg: _Aggregator) -> Drawer | None:
    qx, qy = agg.quantities.get("log_fold"), agg.quantities.get("amplitude")
    if qx is None or qy is None:
        return None
    rx, hi = agg.quantile_range("log_fold", 0.002, 0.998), agg.robust_upper("amplitude")
    if rx is None or hi is None:
        return None
    x, y = Axis(qx, *rx), Axis(qy, 0.0, hi)
    request = agg.histogram(x, y)

    def draw() -> _Rendered:
        fig = figure(8.5, 6.0)
        ax = fig.add_subplot()
        binned = _density_layer(ax, request, agg.cap)
        sampled = _scatter_layer(ax, agg, x, y, legend=True)
        ax.set_title("Bailey diagram" + (f", coloured by {agg.cls.name}" if agg.cls else ""))
        caption = (
            "Peak-to-peak amplitude of the 10th-order Fourier fit against the period it was "
            "folded on (fold_period). " + _layers_text(agg, request, binned, sampled)
        )
        info = FigureInfo(ax.get_title(), caption, (panel_info(ax),), sampled, binned)
        return _Rendered(info, png_bytes(fig))

    return draw


_PHI_RANGE = (0.0, 2.0 * math.pi)


def _fourier_planes(agg: _Aggregator) -> Drawer | None:
    need = ("r21", "r31", "phi21", "phi31")
    if not all(k in agg.quantities for k in need):
        return None
    axes: dict[str, Axis] = {}
    for key in need:
        if key.startswith("phi"):
            axes[key] = Axis(agg.quantities[key], *_PHI_RANGE, 100)
            continue
        hi = agg.robust_upper(key)
        if hi is None:
            return None
        axes[key] = Axis(agg.quantities[key], 0.0, hi, 100)
    planes = (("r21", "r31"), ("phi21", "phi31"), ("r31", "phi31"))
    requests = [agg.histogram(axes[a], axes[b]) for a, b in planes]

    def draw() -> _Rendered:
        fig = figure(16.5, 5.4)
        subplots = fig.subplots(1, 3)
        binned = sampled = 0
        for k, (ax, request) in enumerate(zip(subplots, requests, strict=True)):
            x, y = request.axes
            n = _density_layer(ax, request, agg.cap)
            drawn = _scatter_layer(ax, agg, x, y, legend=k == 0)
            if k == 0:  # R21-R31: the plane the others are drawn like
                layers = _layers_text(agg, request, n, drawn)
            binned, sampled = max(binned, n), sampled + drawn
            ax.set_title(f"{y.q.label.split()[0]} vs {x.q.label.split()[0]}")
        fig.suptitle("Fourier-parameter planes (cosine series, Blazhko paper Figs. 7-10)")
        caption = (
            "Amplitude ratios R_k1 = A_k/A_1 and phase differences φ_k1 = φ_k - k φ_1 (radians, "
            "[0, 2π), cosine series) of the 10th-order Fourier fit, coloured as in the Bailey "
            f"diagram. R21-R31 plane: {layers} The other panels are drawn the same way. Light "
            "curves without a significant period scatter across these planes; restrict with "
            "vsbatch query (e.g. log10_fap_baluev < -3) to study a class."
        )
        panels = tuple(panel_info(a) for a in subplots)
        info = FigureInfo("Fourier-parameter planes", caption, panels, sampled, binned)
        return _Rendered(info, png_bytes(fig))

    return draw


def _fap_distribution(agg: _Aggregator, stats: _Stats) -> Drawer | None:
    q = agg.quantities.get("log10_fap_baluev")
    if q is None or not stats.fap_count:
        return None
    low_tail = float(np.quantile(agg.values("log10_fap_baluev"), 0.005))
    lo = min(math.floor(low_tail), FAP_LEVEL - 1.0)
    hi = max(0.0, stats.fap_max or 0.0)
    single = agg.histogram(Axis(q, lo, hi, 90, clip=True))
    qm = agg.quantities.get("log10_fap_multiband")
    multi = agg.histogram(Axis(qm, lo, hi, 90, clip=True)) if qm else None

    def draw() -> _Rendered:
        fig = figure(8.5, 4.2)
        ax = fig.add_subplot()
        edges = single.axes[0].edges
        counts = single.counts.get(None, np.zeros(90))
        ax.stairs(counts, edges, fill=True, color="#55a868", alpha=0.8, label="single band")
        mh = multi.counts.get(None) if multi else None
        if mh is not None and mh.sum():
            ax.stairs(mh, edges, color="#c44e52", lw=1.4, label="multiband (n_bands > 1)")
        ax.axvline(FAP_LEVEL, color="k", ls="--", lw=1, label=f"FAP = $10^{{{FAP_LEVEL:.0f}}}$")
        ax.set_yscale("log")
        ax.set_xlabel(q.label)
        ax.set_ylabel("Light curves per bin")
        ax.set_title("False-alarm probability of the best period")
        ax.legend()
        n, n_sig = stats.fap_count, stats.fap_significant
        caption = (
            f"log10 of the Baluev false-alarm probability of the best GLS peak, {n:,} light "
            f"curves; {n_sig:,} ({100 * n_sig / n:.1f} %) have FAP < 10^{FAP_LEVEL:.0f}. Values "
            f"below {lo:g} are counted in the first bin (strong peaks of long light curves reach "
            "-100 and beyond)."
        )
        info = FigureInfo(ax.get_title(), caption, (panel_info(ax),), 0, n)
        return _Rendered(info, png_bytes(fig))

    return draw


def _evaluation_figure(name: str, ev: Evaluation) -> _Rendered | None:
    n_panels = (ev.confusion is not None) + bool(ev.roc)
    if not n_panels:
        return None
    fig = figure(6.0 * n_panels + 0.5, 5.2)
    axes = list(np.atleast_1d(fig.subplots(1, n_panels)))
    panels = []
    if ev.confusion is not None:
        ax = axes.pop(0)
        m = np.asarray(ev.confusion.matrix)
        frac = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
        im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
        labels = ev.confusion.labels
        ax.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 4 else 0)
        ax.set_yticks(range(len(labels)), labels)
        ax.grid(False)
        for i in range(len(labels)):
            for j in range(len(labels)):
                colour = "white" if frac[i, j] > 0.6 else "black"
                text = f"{m[i, j]:,.0f}\n{frac[i, j]:.0%}"
                ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=9)
        fig.colorbar(im, ax=ax, label="fraction of the true class")
        ax.set_xlabel("Predicted class")
        ax.set_ylabel("True class")
        ax.set_title(f"Confusion matrix: {ev.model}")
        panels.append(panel_info(ax))
    if ev.roc:
        ax = axes.pop(0)
        for k, c in enumerate(ev.roc):
            order = np.argsort(c.fpr, kind="stable")
            fpr, tpr = np.asarray(c.fpr)[order], np.asarray(c.tpr)[order]
            label = f"{c.label} (AUC {c.auc:.3f})"
            ax.plot(fpr, tpr, lw=1.6, color=class_colour(c.label, k), label=label)
        ax.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_aspect("equal")
        ax.set_xlabel("False-positive rate")
        ax.set_ylabel("True-positive rate")
        ax.set_title(f"ROC: {ev.model}")
        ax.legend(loc="lower right")
        panels.append(panel_info(ax))
    what = ev.model + (f" {ev.version}" if ev.version else "")
    caption = f"Evaluation {name}: {what}" + (f" on {ev.dataset}" if ev.dataset else "") + "."
    info = FigureInfo(f"Evaluation: {what}", caption, tuple(panels))
    return _Rendered(info, png_bytes(fig))


# ----------------------------------------------------------------------------- Blazhko candidates


def blazhko_candidates(
    catalog_path: str | os.PathLike,
    output_png: str | os.PathLike,
    *,
    per_class: int = 4,
    input: str | os.PathLike | None = None,  # named as the CLI's --input
    model: str | None = None,
) -> CandidatesSummary:
    """PNG of the phased light curves of the ``per_class`` highest-P_BL BL and lowest-P_BL nBL
    light curves of a Blazhko model's columns (``<name>_p_bl``, ``<name>_class``).

    ``model`` names one of the manifest's blazhko models (default: the first). Each panel is
    the curve as the network saw it: the input epochs under the run's row policy, folded on the
    run's fold period with maximum light of the 10th-order fit at phase 0, minus the median of
    the epochs kept by the 0.35 mag clipping, in the image frame (the model card's
    representation); clipped epochs are crosses, the fit a line. Raises UsageError when the
    catalog has no blazhko model and InputError when a candidate's epochs are not in the input.
    """
    with matplotlib.rc_context(STYLE):
        rendered, name, chosen = _candidates(catalog_path, per_class, input, model)
    out = Path(output_png)
    write_bytes_atomic(rendered.png, out)
    return CandidatesSummary(out, name, chosen, rendered.info)


def _blazhko_model(cat: Catalog, model: str | None) -> dict:
    found = [m for m in _models(cat) if m.get("kind") == "blazhko"]
    chosen = [m for m in found if model is None or m.get("name") == model]
    if not chosen:
        names = ", ".join(str(m.get("name")) for m in found)
        which = f"blazhko model {model!r}" if model else "blazhko model"
        hint = (f"choose one of its blazhko models: {names}" if found
                else "run vsbatch run --model blazhko (or a Blazhko folder) first")  # fmt: skip
        raise UsageError(f"{cat.root}: no {which} in the manifest; {hint}")
    return chosen[0]


def _candidate_rows(catalog_path: str | os.PathLike, prefix: str, per_class: int) -> list[dict]:
    """The most confident BL and nBL rows (ties broken by id and band), BL first."""
    con = connect(catalog_path)
    try:
        cols = {r[0] for r in con.execute("DESCRIBE catalog").fetchall()}
        extra = [c for c in ("fa_class", "period", "catalog_period") if c in cols]
        select = ", ".join(["source_id", "band", _q(f"{prefix}_p_bl") + " AS p_bl",
                            _q(f"{prefix}_class") + " AS cls", *map(_q, extra)])  # fmt: skip
        rows = []
        for cls, order in (("BL", "DESC"), ("nBL", "ASC")):
            sql = (f"SELECT {select} FROM catalog WHERE {_q(f'{prefix}_class')} = ? "
                   f"ORDER BY p_bl {order}, source_id, band LIMIT ?")  # fmt: skip
            values = con.execute(sql, [cls, per_class]).fetchall()
            names = [d[0] for d in con.description]
            rows += [dict(zip(names, v, strict=True)) for v in values]
    finally:
        con.close()
    return rows


@dataclass(frozen=True)
class _Folded:
    """Candidates' light curves folded as their Blazhko images are drawn."""

    rows: list[dict]  # catalog rows, BL first
    lcs: LightCurves  # one segment per row
    period: np.ndarray
    fold: PhaseFold  # as the phased image of each is drawn


def _fold_candidates(rows: list[dict], source: str, config: RunConfig, spec: ImageSpec) -> _Folded:
    """Read the rows' epochs, apply the run's row policy and fold on the run's fold period."""
    import pyarrow as pa

    from vsbatch.failures import FailureLog
    from vsbatch.inspection import source_epochs  # inspection imports this module
    from vsbatch.represent.phased_image import phase_fold
    from vsbatch.stages.clean import clean_partition
    from vsbatch.stages.context import StageContext
    from vsbatch.stages.fourier import fold_period

    ids = list(dict.fromkeys(r["source_id"] for r in rows))
    epochs = pa.concat_tables([source_epochs(source, config, sid) for sid in ids])
    clean = clean_partition(epochs, "candidates", config.min_epochs, (), FailureLog("-"))
    keys = list(zip(clean.segments.column("source_id").to_pylist(),
                    clean.segments.column("band").to_pylist(), strict=True))  # fmt: skip
    rows = [r for r in rows if (r["source_id"], r["band"]) in keys]
    lcs = clean.lcs.take(np.array([keys.index((r["source_id"], r["band"])) for r in rows], int))
    columns = {"source_id": [r["source_id"] for r in rows], "band": [r["band"] for r in rows]}
    for c in ("period", "catalog_period"):
        if rows and c in rows[0]:
            columns[c] = np.array([np.nan if r[c] is None else r[c] for r in rows], np.float64)
    period, _ = fold_period(StageContext(lcs, columns, config, FailureLog("-")))
    return _Folded(rows, lcs, period, phase_fold(lcs, period, spec))


def _draw_candidate(ax: Axes, f: _Folded, i: int, spec: ImageSpec, colour: str) -> int:
    """One panel: kept epochs, clipped epochs (crosses) and the fit; returns the kept count."""
    from vsbatch.inspection import fourier_curve  # inspection imports this module

    lo, hi = f.lcs.offsets[i], f.lcs.offsets[i + 1]
    kept, x, m = f.fold.fit.kept[lo:hi], f.fold.phase[lo:hi], f.lcs.mag[lo:hi]
    centre = float(np.median(m[kept])) if kept.any() else float(np.median(m))
    ax.scatter(x[kept], m[kept] - centre, s=4, lw=0, color=colour)
    ax.scatter(x[~kept], m[~kept] - centre, s=12, marker="x", lw=0.7, color="0.5")
    if f.fold.ok[i]:
        grid = np.linspace(0.0, 1.0, 401)
        curve = fourier_curve(f.fold.fit, i, (grid + f.fold.zero[i]) % 1.0)
        ax.plot(grid, curve - centre, color="k", lw=1.0)
    ax.set_xlim(0, 1)
    ax.set_ylim(*spec.dmag_range)
    ax.invert_yaxis()
    r = f.rows[i]
    fa = f", PS17 {r['fa_class']}" if r.get("fa_class") else ""
    ax.set_title(f"{r['source_id']} {r['band'] or ''}\nP = {f.period[i]:.5g} d, "
                 f"P_BL {r['p_bl']:.3f}{fa}", fontsize=8.5)  # fmt: skip
    ax.set_xlabel("Phase (maximum light at 0)")
    ax.set_ylabel(f"{r['cls']}: \u0394mag (mag)")
    return int(kept.sum())


def _candidates(
    catalog_path: str | os.PathLike,
    per_class: int,
    source_override: str | os.PathLike | None,
    model: str | None,
) -> tuple[_Rendered, str, tuple[Candidate, ...]]:
    """The candidates figure, the model's column prefix and the candidates drawn."""
    from vsbatch.config import RunConfig
    from vsbatch.models.artifacts import CARD_FILE, read_card
    from vsbatch.represent.phased_image import ImageSpec

    if per_class < 1:
        raise UsageError("per_class must be at least 1")
    cat = open_catalog(catalog_path)
    ref = _blazhko_model(cat, model)
    prefix = column_prefix(str(ref["name"]))
    folder = Path(str(ref.get("path", "")))  # the card's representation, if it is still there
    spec = ImageSpec.from_dict(read_card(folder)["representation"]) \
        if (folder / CARD_FILE).is_file() else ImageSpec()  # fmt: skip
    source = str(source_override) if source_override is not None else cat.manifest.input
    rows = _candidate_rows(catalog_path, prefix, per_class)
    folded = _fold_candidates(rows, source, RunConfig.from_dict(cat.manifest.config), spec) \
        if rows else None  # fmt: skip
    fig = figure(3.2 * per_class, 6.6)
    axes = np.asarray(fig.subplots(2, per_class, squeeze=False))
    panels, chosen = [], []
    for k, cls in enumerate(("BL", "nBL")):
        mine = [i for i, r in enumerate(folded.rows if folded else []) if r["cls"] == cls]
        for col in range(per_class):
            ax = axes[k, col]
            if col >= len(mine):
                ax.set_axis_off()
                ax.text(0.5, 0.5, f"no more {cls}\ncandidates", ha="center", va="center",
                        transform=ax.transAxes, color="0.4")  # fmt: skip
                continue
            i = mine[col]
            n_kept = _draw_candidate(ax, folded, i, spec, class_colour(cls, k))
            r = folded.rows[i]
            panels.append(panel_info(ax))
            p = float(folded.period[i])
            chosen.append(Candidate(r["source_id"], r["band"], float(r["p_bl"]), cls,
                                    r.get("fa_class"), p, n_kept))  # fmt: skip
    title = f"Blazhko candidates of {ref['name']}: highest-P_BL BL, lowest-P_BL nBL"
    fig.suptitle(title)
    caption = (
        f"Phased light curves of the {per_class} most confident BL (top row) and nBL (bottom "
        f"row) light curves of {prefix}_class, as the ResNet-34 saw them: epochs from {source} "
        f"under the run's row policy, folded on the run's fold period with maximum light of the "
        f"order-{spec.order} Fourier fit (line) at phase 0, median-subtracted, in the image frame "
        f"{spec.dmag_range[0]:g} to {spec.dmag_range[1]:g} mag; crosses: epochs more than "
        f"{spec.clip_mag:g} mag from the fit, left out of the image."
    )
    info = FigureInfo(title, caption, tuple(panels))
    return _Rendered(info, png_bytes(fig)), prefix, tuple(chosen)


# ----------------------------------------------------------------------------- HTML


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1200px;color:#222;line-height:1.4;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;
margin-top:1.6em}table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#444;margin-top:.3em}.note{color:#666;font-style:italic}
.warn{color:#a33}code{background:#f4f4f4;padding:0 .2em}
"""


def _esc(x: object) -> str:
    return html.escape("" if x is None else str(x))


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = ["<table><tr>" + "".join(f"<th>{_esc(h)}</th>" for h in header) + "</tr>"]
    for row in rows:
        cells = []
        for v in row:
            if isinstance(v, bool) or v is None or not isinstance(v, int | float):
                cells.append(f"<td>{_esc(v)}</td>")
            elif isinstance(v, int):
                cells.append(f'<td class="n">{v:,}</td>')
            else:
                cells.append(f'<td class="n">{v:,.6g}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out) + "</table>"


def _figure_html(r: _Rendered) -> str:
    data = base64.b64encode(r.png).decode("ascii")
    axes = "; ".join(f"{p.title}: {p.ylabel} against {p.xlabel}" for p in r.info.panels)
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_esc(r.info.title)}. {_esc(axes)}"'
        f' title="{_esc(r.info.title)}"><figcaption><b>{_esc(r.info.title)}.</b> '
        f"{_esc(r.info.caption)}</figcaption></figure>"
    )


def _models(cat: Catalog) -> list[dict]:
    """Model entries of the manifest (top-level ``models`` or ``stats.models``), normalised."""
    raw = getattr(cat.manifest, "models", None) or cat.manifest.stats.get("models") or []
    if isinstance(raw, dict):
        raw = [{"name": k, "version": v} for k, v in raw.items()]
    return [m if isinstance(m, dict) else {"name": str(m)} for m in raw]


_REASON_PATTERN = (
    r"regexp_replace(regexp_replace(reason, ' \[(partition|input)[^\]]*\]$', ''), "
    r"'[-+]?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?', 'N', 'g')"
)


def report(
    catalog_path: str | os.PathLike,
    output_html: str | os.PathLike,
    *,
    sample_cap: int = SAMPLE_CAP,
    seed: int = 0,
    candidates_png: str | os.PathLike | None = None,
    per_class: int = 4,
    input: str | os.PathLike | None = None,  # named as the CLI's --input
    candidates_model: str | None = None,
) -> ReportSummary:
    """Write a self-contained HTML report of a committed catalog (images embedded as PNG).

    Raises UsageError when ``catalog_path`` holds no committed catalog. Every plot is built
    from SQL aggregates and a seeded sample of at most ``sample_cap`` rows per layer. With
    ``candidates_png``, the Blazhko candidates figure (:func:`blazhko_candidates`, epochs
    from ``input`` or the manifest's input) is written there and embedded in the page;
    ``candidates_model`` names the Blazhko model when the run used several (default: the first).
    """
    if candidates_model is not None and candidates_png is None:
        raise UsageError("a Blazhko model for the candidates figure needs the figure's PNG path")
    with matplotlib.rc_context(STYLE):
        candidates = None
        if candidates_png is not None:
            candidates = _candidates(catalog_path, per_class, input, candidates_model)
            write_bytes_atomic(candidates[0].png, Path(candidates_png))
        return _report(catalog_path, output_html, sample_cap, seed, candidates, candidates_png)


def _report(
    catalog_path: str | os.PathLike,
    output_html: str | os.PathLike,
    sample_cap: int,
    seed: int,
    candidates: tuple[_Rendered, str, tuple[Candidate, ...]] | None,
    candidates_png: str | os.PathLike | None,
) -> ReportSummary:
    started = time.monotonic()
    if sample_cap < 1:
        raise UsageError("sample_cap must be at least 1")
    cat = open_catalog(catalog_path)
    m = cat.manifest
    con = connect(catalog_path)
    con.execute("SET enable_progress_bar = false")  # DuckDB draws it on stdout, even to a pipe
    warnings: list[str] = []
    figures: list[_Rendered] = []
    try:
        cols = {r[0] for r in con.execute("DESCRIBE catalog").fetchall()}
        cls = choose_class_column(cols)
        agg = _Aggregator(con, plotted_quantities(cols), cls, sample_cap, seed)
        stats = agg.stats(cols)
        body = ["<h2>Catalog</h2>"]
        if stats.rows:
            agg.load_sample(stats.rows)
            makers = (
                ("period histogram", _period_histogram(agg, stats), "period"),
                ("Bailey diagram", _bailey(agg), "fold_period, amplitude"),
                ("Fourier planes", _fourier_planes(agg), "r21, r31, phi21, phi31"),
                ("FAP distribution", _fap_distribution(agg, stats), "log10_fap_baluev"),
            )
            agg.run()
            for what, draw, needs in makers:
                if draw is None:
                    body.append(
                        f'<p class="note">No {_esc(what)}: the catalog has no values of '
                        f"{_esc(needs)} (stage not run or every value null).</p>"
                    )
                    continue
                figures.append(draw())
                body.append(_figure_html(figures[-1]))
        else:
            body.append('<p class="note">The catalog holds no light curves: nothing to plot.</p>')
        sections = [
            _run_section(cat, con, stats, agg.band_counts()),
            _failures_section(con),
            _classes_section(agg, stats, cols),
            "\n".join(body),
        ]
    finally:
        con.close()
    sections.append(_models_section(cat, cols))
    summary = None
    if candidates is not None:
        figures.append(candidates[0])
        sections.append(_figure_html(candidates[0]))
        summary = CandidatesSummary(Path(candidates_png), candidates[1], candidates[2],
                                    candidates[0].info)  # fmt: skip
    evaluations, ev_warnings = load_evaluations(cat.root)
    warnings.extend(ev_warnings)
    ev_html = ["<h2>Evaluation</h2>"]
    rendered_names = []
    for name, ev in evaluations:
        rendered = _evaluation_figure(name, ev)
        if rendered is None:
            warnings.append(f"{EVALUATION_DIR}/{name}.json: no confusion matrix or ROC curve")
            continue
        figures.append(rendered)
        rendered_names.append(name)
        ev_html.append(_figure_html(rendered))
    if not rendered_names:
        ev_html.append(
            f'<p class="note">No evaluation results in <code>{EVALUATION_DIR}/*.json</code> '
            "(written by model evaluations; format in <code>vsbatch.report</code>).</p>"
        )
    sections.append("\n".join(ev_html))
    if warnings:
        items = "".join(f"<li>{_esc(w)}</li>" for w in warnings)
        sections.append(f'<h2>Warnings</h2><ul class="warn">{items}</ul>')
    seconds = time.monotonic() - started
    created = datetime.now(UTC).isoformat(timespec="seconds")
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>vsbatch report: {_esc(cat.root.name)}</title><style>{_CSS}</style></head><body>"
        f"<h1>vsbatch report: {_esc(cat.root)}</h1>"
        f'<p class="note">Run {_esc(m.run_id)}; report written {created} by vsbatch '
        f"{__version__} in {seconds:.1f} s. Every plot is computed from SQL aggregates over the "
        f"whole catalog plus seeded samples of at most {sample_cap:,} points.</p>"
        + "\n".join(sections)
        + "</body></html>\n"
    )
    out = Path(output_html)
    write_bytes_atomic(page.encode("utf-8"), out)
    return ReportSummary(
        output=out,
        catalog=cat.root,
        run_id=m.run_id,
        light_curves=stats.rows,
        sources=stats.sources,
        failures=int(m.failures_rows),
        class_column=cls.name if cls else None,
        figures=tuple(r.info for r in figures),
        evaluations=tuple(rendered_names),
        warnings=tuple(warnings),
        seconds=seconds,
        candidates=summary,
    )


def _run_section(
    cat: Catalog,
    con: duckdb.DuckDBPyConnection,
    stats: _Stats,
    bands: list[tuple[str | None, int]],
) -> str:
    m = cat.manifest
    n_fail_lc, n_fail_src = con.execute(
        "SELECT count(*) FILTER (WHERE stage = 'clean'), "
        "count(DISTINCT source_id) FILTER (WHERE stage = 'clean') FROM failures"
    ).fetchone()
    input_sources = m.stats.get("input_sources")
    epochs = sum(p.input_epochs for p in m.partitions)
    summary = [
        ("input", m.input),
        ("created", m.created),
        ("vsbatch version", m.vsbatch_version),
        ("configuration hash", m.config_hash),
        ("input sources", input_sources),
        ("sources in the catalog", stats.sources),
        ("light curves (source, band) in the catalog", stats.rows),
        ("light curves rejected by cleaning", int(n_fail_lc)),
        ("sources with a light curve rejected by cleaning", int(n_fail_src)),
        ("failure records (all stages)", m.failures_rows),
        ("input epochs", epochs),
        ("partitions", len([p for p in m.partitions if p.input_epochs])),
        ("carried input columns", ", ".join(m.carried_columns) or "none"),
    ]
    wall = m.stats.get("wall_seconds_last_run")
    throughput = [(k.replace("_", " "), v) for k, v in sorted(m.stats.items()) if k != "models"]
    if isinstance(wall, int | float) and wall > 0:
        computed = m.stats.get("partitions_computed_last_run")
        if input_sources:
            throughput.append(("sources per second (whole run)", input_sources / wall))
        throughput.append(("input epochs per second (whole run)", epochs / wall))
        if computed is not None and computed < len(m.partitions):
            throughput.append(("note", "an --update or --resume run: rates cover part of it"))
    config = sorted((k, json.dumps(v)) for k, v in m.config.items())
    return "\n".join(
        [
            "<h2>Run</h2>",
            _table(("quantity", "value"), summary),
            "<h3>Light curves per band</h3>",
            _table(("band", "light curves"), [(b or "(none)", n) for b, n in bands]),
            "<h3>Throughput of the last run</h3>",
            _table(("quantity", "value"), throughput),
            "<details><summary>Configuration (RunConfig)</summary>",
            _table(("option", "value"), config),
            "</details>",
        ]
    )


def _failures_section(con: duckdb.DuckDBPyConnection) -> str:
    by_stage = con.execute(
        "SELECT stage, count(*) AS n, count(DISTINCT source_id) AS s FROM failures "
        "GROUP BY stage ORDER BY n DESC"
    ).fetchall()
    if not by_stage:
        return "<h2>Failures</h2><p>No failure records: every light curve went through.</p>"
    by_reason = con.execute(
        f"SELECT stage, {_REASON_PATTERN} AS pattern, count(*) AS n, min(reason) AS example "
        "FROM failures GROUP BY ALL ORDER BY n DESC, stage, pattern LIMIT 30"
    ).fetchall()
    n_patterns = con.execute(
        f"SELECT count(DISTINCT (stage, {_REASON_PATTERN})) FROM failures"
    ).fetchone()[0]
    more = (
        f"<p class='note'>Showing 30 of {n_patterns} reason patterns; "
        '<code>vsbatch query CATALOG "SELECT * FROM failures"</code> lists all.</p>'
        if n_patterns > 30
        else ""
    )
    return "\n".join(
        [
            "<h2>Failures</h2>",
            "<h3>By stage</h3>",
            _table(("stage", "records", "sources"), [(s, int(n), int(k)) for s, n, k in by_stage]),
            "<h3>By reason</h3><p class='note'>Numbers in reasons are replaced by N to group "
            "them; one full example each.</p>",
            _table(
                ("stage", "reason", "records", "example"),
                [(s, p, int(n), e) for s, p, n, e in by_reason],
            ),
            more,
        ]
    )


def _classes_section(agg: _Aggregator, stats: _Stats, cols: set[str]) -> str:
    cls = agg.cls
    if cls is None:
        return '<h2>Classes</h2><p class="note">No class column in this catalog.</p>'
    if stats.probability is not None:
        n, mean, n_half = stats.probability
        rows = [("light curves with a value", n), ("mean", mean), ("p >= 0.5", n_half)]
        return f"<h2>Classes ({_esc(cls.name)})</h2>" + _table(("quantity", "value"), rows)
    rows = sorted(agg.class_band, key=lambda r: (str(r[0]), str(r[1])))
    others = sorted(c for c in cols if c.endswith("_class") and c != cls.name)
    note = f"<p class='note'>Other class columns: {_esc(', '.join(others))}.</p>" if others else ""
    table = _table(("class", "band", "light curves"), [(c, b or "(none)", n) for c, b, n in rows])
    return f"<h2>Classes ({_esc(cls.name)})</h2>" + table + note


def _models_section(cat: Catalog, cols: set[str]) -> str:
    models = _models(cat)
    if not models:
        return (
            '<h2>Models</h2><p class="note">The manifest lists no models: this catalog holds '
            "no model predictions.</p>"
        )
    keys = list(dict.fromkeys(k for m in models for k in m))
    declared = {c.name for c in table_schema("catalog").columns}
    extra = sorted(cols - declared - set(cat.manifest.carried_columns) - {"part"})
    note = f"<p>Model columns in the catalog: {_esc(', '.join(extra))}.</p>" if extra else ""
    return "<h2>Models</h2>" + _table(keys, [[m.get(k) for k in keys] for m in models]) + note


__all__ = [
    "EVALUATION_DIR",
    "Candidate",
    "CandidatesSummary",
    "ConfusionMatrix",
    "Evaluation",
    "FigureInfo",
    "PanelInfo",
    "ReportSummary",
    "RocCurve",
    "blazhko_candidates",
    "load_evaluations",
    "report",
    "write_evaluation",
]
