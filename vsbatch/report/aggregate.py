"""The report's SQL aggregates: whatever the catalog's size, three DuckDB scans.

1. :func:`catalog_stats`: counts and exact ranges;
2. :class:`SeededSample`: up to ``RANGE_SAMPLE`` rows in the order of a seeded hash of
   (source_id, band); plot ranges come from its quantiles and each scatter layer draws its
   first ``cap`` rows in range (deterministic whatever the thread count);
3. :class:`HistogramScan`: one GROUPING SETS query for every binned 1D and 2D histogram and the
   class-by-band counts.

No query loads every row or holds a hash table of every id, so memory stays flat from a
hundred rows to millions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import duckdb
import numpy as np

RANGE_SAMPLE = 100_000
"""Rows (seeded) whose quantiles set the plot ranges."""
GRID_BINS = 120
"""Default cells per axis of the SQL 2D histograms."""
FAP_LEVEL = -3.0
"""log10 FAP marked on the plots (the usual 0.1 % significance level)."""


def sql_identifier(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _sql_double(x: float) -> str:
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
    q = sql_identifier(column)
    return f"log10(CASE WHEN {q} > 0 THEN {q} END)"


_DOUBLE_LABELS = {
    "amplitude": "Amplitude (mag)",
    "r21": "R21",
    "r31": "R31",
    "phi21": "φ21 (rad)",
    "phi31": "φ31 (rad)",
    "log10_fap_baluev": r"$\log_{10}$ FAP (Baluev 2008)",
}


def plotted_quantities(cols: set[str]) -> dict[str, Quantity]:
    """The quantities the report draws that this catalog has."""
    out = {}
    if "period" in cols:
        out["log_period"] = Quantity("log_period", _positive_log10("period"), "Period (d)", True)
    fold = "fold_period" if "fold_period" in cols else "period"
    if fold in cols:
        out["log_fold"] = Quantity("log_fold", _positive_log10(fold), "Period (d)", True)
    for name, label in _DOUBLE_LABELS.items():
        if name in cols:
            out[name] = Quantity(name, f"CAST({sql_identifier(name)} AS DOUBLE)", label)
    if {"log10_fap_multiband", "n_bands"} <= cols:
        multiband = f"CAST({sql_identifier('log10_fap_multiband')} AS DOUBLE)"
        sql = f"CASE WHEN {sql_identifier('n_bands')} > 1 THEN {multiband} END"
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
        lo = _sql_double(self.lo)
        index = (
            f"least(greatest(floor(({v} - {lo}) / {_sql_double(self.width)}), 0), "
            f"{self.bins - 1})::INTEGER"
        )
        if self.clip:
            return f"CASE WHEN isfinite({v}) THEN {index} END"
        outside = f"{v} < {lo} OR {v} > {_sql_double(self.hi)}"
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
            return f"CAST({sql_identifier(self.name)} AS DOUBLE)"
        return f"coalesce(CAST({sql_identifier(self.name)} AS VARCHAR), 'unclassified')"


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


# ----------------------------------------------------------------------------- scan 1: stats


@dataclass(frozen=True)
class CatalogStats:
    """Whole-catalog numbers from one scan."""

    rows: int
    sources: int
    log_period_range: tuple[float, float] | None  # exact min and max of log10(period)
    fap_max: float | None
    fap_count: int
    fap_significant: int  # log10 FAP below FAP_LEVEL
    probability: tuple[int, float | None, int] | None  # count, mean, count >= 0.5


def catalog_stats(
    con: duckdb.DuckDBPyConnection,
    quantities: dict[str, Quantity],
    cls: ClassColumn | None,
    cols: set[str],
) -> CatalogStats:
    """Counts and exact ranges in one scan.

    Sources are counted as the sum of 1/n_bands over the rows (n_bands is the number of
    catalog rows of the row's source), which needs no hash table of every id; a catalog
    without n_bands falls back to count(DISTINCT source_id).
    """
    q = quantities
    lp = q["log_period"].sql if "log_period" in q else "NULL::DOUBLE"
    fap = q["log10_fap_baluev"].sql if "log10_fap_baluev" in q else "NULL::DOUBLE"
    p = cls.sql() if cls and cls.kind == "probability" else "NULL::DOUBLE"
    nb = f"CAST({sql_identifier('n_bands')} AS DOUBLE)" if "n_bands" in cols else "NULL::DOUBLE"
    row = con.execute(
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
        sources = int(con.execute("SELECT count(DISTINCT source_id) FROM catalog").fetchone()[0])
    prob = (int(row[8]), row[9], int(row[10])) if p != "NULL::DOUBLE" else None
    return CatalogStats(
        rows=rows,
        sources=sources,
        log_period_range=None if row[3] is None else (float(row[3]), float(row[4])),
        fap_max=None if row[5] is None else float(row[5]),
        fap_count=int(row[6]),
        fap_significant=int(row[7]),
        probability=prob,
    )


# ----------------------------------------------------------------------------- scan 2: sample


class SeededSample:
    """Up to ``RANGE_SAMPLE`` rows ordered by a seeded hash of (source_id, band).

    It sets the plot ranges (quantiles) and feeds the scatter layers (the first ``cap`` rows in
    range, i.e. exactly what ``WHERE ... ORDER BY hash LIMIT cap`` would give while enough of
    the sample is in range). Empty until :meth:`load`.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.columns: dict[str, np.ndarray] = {}
        self.classes: list = []
        self.bands = np.zeros(0, dtype=object)

    def load(
        self,
        con: duckdb.DuckDBPyConnection,
        quantities: dict[str, Quantity],
        cls: ClassColumn | None,
        seed: int,
        rows: int,
    ) -> None:
        """The first rows in seeded-hash order (of ``rows`` in the catalog).

        A hash threshold keeping about twice the rows needed lets the top-N see few rows
        (memory); the rows kept are those the unfiltered ORDER BY would give, and the query
        is repeated without the threshold in the (unlikely) case it kept too few.
        """
        n = max(RANGE_SAMPLE, self.cap)
        exprs = [f"{q.sql} AS {sql_identifier(k)}" for k, q in quantities.items()]
        exprs.append(f"{cls.sql() if cls else 'NULL'} AS __class")
        exprs.append("CAST(band AS VARCHAR) AS __band")
        h = f"hash(source_id, band, {int(seed)})"
        fraction = 2.0 * n / rows if rows else 1.0
        where = f"WHERE {h} < {int(fraction * 2**64)}::UBIGINT" if fraction < 1 else ""
        sql = f"SELECT {', '.join(exprs)} FROM catalog {{}} ORDER BY {h} LIMIT {n}"
        data = con.execute(sql.format(where)).fetchnumpy()
        if where and len(data["__class"]) < min(n, rows):
            data = con.execute(sql.format("")).fetchnumpy()
        for k in quantities:
            col = np.ma.asarray(data[k])
            self.columns[k] = np.ma.filled(col.astype(float), np.nan)
        labels = np.ma.asarray(data["__class"])
        mask = np.ma.getmaskarray(labels)
        self.classes = [None if m else v for v, m in zip(labels.data, mask, strict=True)]
        bands = np.ma.asarray(data["__band"])
        band_mask = np.ma.getmaskarray(bands)
        self.bands = np.array(
            [None if m else v for v, m in zip(bands.data, band_mask, strict=True)], dtype=object
        )

    def values(self, key: str) -> np.ndarray:
        """The finite sampled values of a quantity."""
        v = self.columns.get(key, np.zeros(0))
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

    def scatter(
        self, x: Axis, y: Axis, bands: tuple[str | None, ...] | None = None
    ) -> tuple[np.ndarray, np.ndarray, list]:
        """The first ``cap`` sample rows inside both ranges (of ``bands`` when given):
        (x, y, class values)."""
        xs, ys = self.columns[x.q.key], self.columns[y.q.key]
        keep = x.inside(xs) & y.inside(ys)
        if bands is not None:
            keep &= np.isin(self.bands, np.array(bands, dtype=object))
        rows = np.flatnonzero(keep)[: self.cap]
        return x.values(xs[rows]), y.values(ys[rows]), [self.classes[i] for i in rows]


# ----------------------------------------------------------------------------- scan 3: histograms


@dataclass
class HistogramRequest:
    """One histogram computed by the grouping-sets scan."""

    axes: tuple[Axis, ...]
    by_band: bool = False
    counts: dict[str | None, np.ndarray] = field(default_factory=dict)  # band -> bins
    outside: int = 0  # 2D: finite rows outside the plotted ranges


def _grouping_id(names: list[str], grouping_set: tuple[str, ...]) -> int:
    """What DuckDB's ``grouping(names...)`` returns for rows of ``grouping_set``."""
    return sum(1 << (len(names) - 1 - i) for i, n in enumerate(names) if n not in grouping_set)


class HistogramScan:
    """Every registered histogram, and the class-by-band counts, in one GROUPING SETS query."""

    def __init__(self, cls: ClassColumn | None) -> None:
        self.cls = cls
        self.requests: list[HistogramRequest] = []
        self.class_band: list[tuple[str | None, str | None, int]] = []

    def histogram(self, *axes: Axis, by_band: bool = False) -> HistogramRequest:
        """Register a 1D or 2D histogram; filled by ``run``."""
        request = HistogramRequest(tuple(axes), by_band)
        self.requests.append(request)
        return request

    def run(self, con: duckdb.DuckDBPyConnection) -> None:
        """One scan: every registered histogram and the class-by-band counts."""
        axis_cols: dict[Axis, str] = {}
        for r in self.requests:
            for a in r.axes:
                axis_cols.setdefault(a, f"b{len(axis_cols)}")
        categorical = self.cls is not None and self.cls.kind == "categorical"
        extra = ["__band"] + (["__class"] if categorical else [])
        names = [*axis_cols.values(), *extra]
        sets = [
            tuple(axis_cols[a] for a in r.axes) + (("__band",) if r.by_band else ())
            for r in self.requests
        ]
        sets.append(tuple(extra))
        selects = [f"{a.index_sql()} AS {c}" for a, c in axis_cols.items()]
        selects.append("CAST(band AS VARCHAR) AS __band")
        if categorical:
            selects.append(f"{self.cls.sql()} AS __class")
        grouping = ", ".join("(" + ", ".join(s) + ")" for s in dict.fromkeys(sets))
        rows = con.execute(
            f"SELECT grouping({', '.join(names)}) AS gid, {', '.join(names)}, count(*) AS n "
            f"FROM (SELECT {', '.join(selects)} FROM catalog) GROUP BY GROUPING SETS ({grouping})"
        ).fetchall()
        by_gid: dict[int, list[tuple]] = {}
        for row in rows:
            by_gid.setdefault(row[0], []).append(row)
        index = {n: i + 1 for i, n in enumerate(names)}
        for r, s in zip(self.requests, sets[:-1], strict=True):
            columns = [index[axis_cols[a]] for a in r.axes]
            _fill(r, by_gid.get(_grouping_id(names, s), []), columns, index["__band"])
        for row in by_gid.get(_grouping_id(names, sets[-1]), []):
            label = row[index["__class"]] if "__class" in index else None
            self.class_band.append((label, row[index["__band"]], int(row[-1])))

    def class_counts(self) -> dict[str, int]:
        """Light curves per class, most frequent first."""
        counts: dict[str, int] = {}
        for label, _, n in self.class_band:
            if label is not None:
                counts[label] = counts.get(label, 0) + n
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    def band_counts(self) -> list[tuple[str | None, int]]:
        """Light curves per band, most frequent first."""
        counts: dict[str | None, int] = {}
        for _, band, n in self.class_band:
            counts[band] = counts.get(band, 0) + n
        return sorted(counts.items(), key=lambda kv: -kv[1])


def _fill(request: HistogramRequest, rows: list[tuple], columns: list[int], band: int) -> None:
    """Add a grouping set's rows (bin indices at ``columns``, count last) to its histogram."""
    shape = tuple(a.bins for a in request.axes)
    for row in rows:
        idx = [row[c] for c in columns]
        if any(i is None for i in idx):
            continue
        if any(i < 0 for i in idx):
            request.outside += row[-1]
            continue
        key = row[band] if request.by_band else None
        request.counts.setdefault(key, np.zeros(shape))[tuple(idx)] += row[-1]


# ----------------------------------------------------------------------------- all three


@dataclass
class CatalogAggregates:
    """What the catalog figures are drawn from: the quantities, the sample and the histograms."""

    quantities: dict[str, Quantity]
    cls: ClassColumn | None
    sample: SeededSample
    histograms: HistogramScan

    @property
    def cap(self) -> int:
        """Points per scatter layer at most."""
        return self.sample.cap
