"""The catalog figures of the report: period histogram, Bailey diagram, Fourier planes, FAP.

Each is planned in two steps: ``plan_*`` picks the ranges from the seeded sample and registers
its histograms with the scan (``None`` when the catalog lacks the columns); the returned
:data:`Drawer` draws it once the scan has run. Scatter plots are a grey log-density of every
row in range (SQL counts) under the capped, seeded sample coloured by class.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm

from vsbatch.plotting import (
    class_colour,
    cycle_colour,
    figure,
    log_axis_labels,
    panel_info,
    png_bytes,
)
from vsbatch.report.aggregate import (
    FAP_LEVEL,
    Axis,
    CatalogAggregates,
    CatalogStats,
    HistogramRequest,
)
from vsbatch.report.rendered import Drawer, FigureInfo, RenderedFigure


def _density_layer(
    ax: Axes, request: HistogramRequest, cap: int, bands: tuple[str | None, ...] | None = None
) -> int:
    """Log-scaled grey density of every row in range (of ``bands`` when given, for a request
    counted by band); returns the rows counted.

    Drawn only when the rows outnumber the sample cap: below it the sample is every row.
    """
    x, y = request.axes
    keys = bands if bands is not None else tuple(request.counts)
    grid = sum((request.counts[k] for k in keys if k in request.counts), np.zeros((x.bins, y.bins)))
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


def _scatter_layer(
    ax: Axes,
    agg: CatalogAggregates,
    x: Axis,
    y: Axis,
    legend: bool,
    bands: tuple[str | None, ...] | None = None,
) -> int:
    """The seeded, capped sample on top of the density, coloured by class."""
    xs, ys, cs = agg.sample.scatter(x, y, bands)
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
    counts = agg.histograms.class_counts() if cls else {}
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


def _layers_text(
    agg: CatalogAggregates, request: HistogramRequest, binned: int, sampled: int
) -> str:
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


def plan_period_histogram(agg: CatalogAggregates, stats: CatalogStats) -> Drawer | None:
    """The period histogram (log bins, one line per band when 2-6 bands)."""
    q = agg.quantities.get("log_period")
    if q is None or stats.log_period_range is None:
        return None
    lo, hi = stats.log_period_range
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.01 * (hi - lo)
    axis = Axis(q, lo - pad, hi + pad, 80, clip=True)
    request = agg.histograms.histogram(axis, by_band=True)

    def draw() -> RenderedFigure:
        fig = figure(8.5, 4.2)
        ax = fig.add_subplot()
        bands = sorted(request.counts.items(), key=lambda kv: -kv[1].sum())
        per_band = 1 < len(bands) <= 6
        edges = axis.edges
        total = sum(int(c.sum()) for _, c in bands)
        if per_band:
            for k, (name, counts) in enumerate(bands):
                label = f"{name or '(none)'} (n={int(counts.sum()):,})"
                colour = cycle_colour(k)
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
        return RenderedFigure(
            FigureInfo(ax.get_title(), caption, (panel_info(ax),), 0, total), png_bytes(fig)
        )

    return draw


MAX_BAILEY_PANELS = 6  # one panel per band up to this many bands, else all bands together


def plan_bailey_diagram(agg: CatalogAggregates) -> Drawer | None:
    """Amplitude against fold period, coloured by class, one panel per band: amplitudes of
    different bands differ, so mixing them smears the diagram."""
    qx, qy = agg.quantities.get("log_fold"), agg.quantities.get("amplitude")
    if qx is None or qy is None:
        return None
    rx, hi = (
        agg.sample.quantile_range("log_fold", 0.002, 0.998),
        agg.sample.robust_upper("amplitude"),
    )
    if rx is None or hi is None:
        return None
    x, y = Axis(qx, *rx), Axis(qy, 0.0, hi)
    request = agg.histograms.histogram(x, y, by_band=True)

    def draw() -> RenderedFigure:
        by_count = sorted(request.counts, key=lambda b: -request.counts[b].sum())
        panels = [(b,) for b in by_count] if 1 < len(by_count) <= MAX_BAILEY_PANELS else [None]
        columns = min(len(panels), 3)
        rows = math.ceil(len(panels) / columns)
        fig = figure(8.5 if columns == 1 else 4.6 * columns, 6.0 if rows == 1 else 4.4 * rows)
        infos, binned, sampled = [], 0, 0
        for k, bands in enumerate(panels):
            ax = fig.add_subplot(rows, columns, k + 1)
            binned += _density_layer(ax, request, agg.cap, bands)
            sampled += _scatter_layer(ax, agg, x, y, legend=k == 0, bands=bands)
            if bands is not None:
                ax.set_title(f"band {bands[0] or '(none)'}")
            infos.append(panel_info(ax))
        title = "Bailey diagram" + (f", coloured by {agg.cls.name}" if agg.cls else "")
        fig.suptitle(title) if len(panels) > 1 else fig.axes[0].set_title(title)
        caption = (
            "Peak-to-peak amplitude of the Fourier fit (its order in fourier_order) against the "
            "period it was folded on (fold_period)"
            + (", one panel per band. " if len(panels) > 1 else ". ")
            + _layers_text(agg, request, binned, sampled)
        )
        return RenderedFigure(FigureInfo(title, caption, tuple(infos), sampled, binned),
                              png_bytes(fig))  # fmt: skip

    return draw


_PHI_RANGE = (0.0, 2.0 * math.pi)


def plan_fourier_planes(agg: CatalogAggregates) -> Drawer | None:
    """The R21-R31, phi21-phi31 and R31-phi31 planes side by side."""
    need = ("r21", "r31", "phi21", "phi31")
    if not all(k in agg.quantities for k in need):
        return None
    axes: dict[str, Axis] = {}
    for key in need:
        if key.startswith("phi"):
            axes[key] = Axis(agg.quantities[key], *_PHI_RANGE, 100)
            continue
        hi = agg.sample.robust_upper(key)
        if hi is None:
            return None
        axes[key] = Axis(agg.quantities[key], 0.0, hi, 100)
    planes = (("r21", "r31"), ("phi21", "phi31"), ("r31", "phi31"))
    requests = [agg.histograms.histogram(axes[a], axes[b]) for a, b in planes]

    def draw() -> RenderedFigure:
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
            "[0, 2π), cosine series) of the Fourier fit (order in fourier_order), coloured as in "
            f"the Bailey diagram. R21-R31 plane: {layers} The other panels are drawn the same "
            "way. Light curves without a significant period scatter across these planes; "
            "restrict with vsbatch query (e.g. log10_fap_baluev < -3) to study a class."
        )
        panels = tuple(panel_info(a) for a in subplots)
        info = FigureInfo("Fourier-parameter planes", caption, panels, sampled, binned)
        return RenderedFigure(info, png_bytes(fig))

    return draw


def plan_fap_distribution(agg: CatalogAggregates, stats: CatalogStats) -> Drawer | None:
    """Histogram of log10 Baluev FAP, single band and multiband."""
    q = agg.quantities.get("log10_fap_baluev")
    if q is None or not stats.fap_count:
        return None
    low_tail = float(np.quantile(agg.sample.values("log10_fap_baluev"), 0.005))
    lo = min(math.floor(low_tail), FAP_LEVEL - 1.0)
    hi = max(0.0, stats.fap_max or 0.0)
    single = agg.histograms.histogram(Axis(q, lo, hi, 90, clip=True))
    qm = agg.quantities.get("log10_fap_multiband")
    multi = agg.histograms.histogram(Axis(qm, lo, hi, 90, clip=True)) if qm else None

    def draw() -> RenderedFigure:
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
        return RenderedFigure(info, png_bytes(fig))

    return draw


def plan_catalog_figures(
    agg: CatalogAggregates, stats: CatalogStats
) -> list[tuple[str, Drawer | None, str]]:
    """(what, drawer or None, columns it needs) of every catalog figure, in page order."""
    return [
        ("period histogram", plan_period_histogram(agg, stats), "period"),
        ("Bailey diagram", plan_bailey_diagram(agg), "fold_period, amplitude"),
        ("Fourier planes", plan_fourier_planes(agg), "r21, r31, phi21, phi31"),
        ("FAP distribution", plan_fap_distribution(agg, stats), "log10_fap_baluev"),
    ]
