"""``vsbatch report``: scan the catalog, draw the figures, assemble and write the page."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import matplotlib

from vsbatch._version import __version__
from vsbatch.errors import UsageError
from vsbatch.io.catalog import Catalog, open_catalog, write_bytes_atomic
from vsbatch.plotting import STYLE
from vsbatch.query import connect
from vsbatch.report.aggregate import (
    CatalogAggregates,
    CatalogStats,
    HistogramScan,
    SeededSample,
    catalog_stats,
    choose_class_column,
    plotted_quantities,
)
from vsbatch.report.candidates import CandidatesSummary, render_candidates
from vsbatch.report.figures import plan_catalog_figures
from vsbatch.report.html import esc, figure_html, page_html
from vsbatch.report.rendered import FigureInfo, RenderedFigure
from vsbatch.report.sections import (
    classes_section,
    evaluation_section,
    failures_section,
    models_section,
    run_section,
)

SAMPLE_CAP = 20_000
"""Default points per scatter layer: enough to show every class, cheap to draw."""


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
            candidates = _write_candidates(
                catalog_path, Path(candidates_png), per_class, input, candidates_model
            )
        return _report(catalog_path, output_html, sample_cap, seed, candidates)


def _write_candidates(
    catalog_path: str | os.PathLike,
    output_png: Path,
    per_class: int,
    source_override: str | os.PathLike | None,
    model: str | None,
) -> tuple[CandidatesSummary, RenderedFigure]:
    """Draw the Blazhko candidates figure and write its PNG (it is also embedded in the page)."""
    rendered, prefix, chosen = render_candidates(catalog_path, per_class, source_override, model)
    write_bytes_atomic(rendered.png, output_png)
    return CandidatesSummary(output_png, prefix, chosen, rendered.info), rendered


@dataclass(frozen=True)
class _CatalogPart:
    """The sections read from the catalog's tables, and their figures."""

    sections: list[str]
    figures: list[RenderedFigure]
    stats: CatalogStats
    cols: set[str]
    class_column: str | None


def _report(
    catalog_path: str | os.PathLike,
    output_html: str | os.PathLike,
    sample_cap: int,
    seed: int,
    candidates: tuple[CandidatesSummary, RenderedFigure] | None,
) -> ReportSummary:
    started = time.monotonic()
    if sample_cap < 1:
        raise UsageError("sample_cap must be at least 1")
    cat = open_catalog(catalog_path)
    m = cat.manifest
    part = _catalog_part(catalog_path, cat, sample_cap, seed)
    sections, figures = [*part.sections, models_section(cat, part.cols)], part.figures
    if candidates is not None:
        figures.append(candidates[1])
        sections.append(figure_html(candidates[1]))
    ev_html, ev_figures, ev_names, warnings = evaluation_section(cat.root)
    figures += ev_figures
    sections.append(ev_html)
    if warnings:
        items = "".join(f"<li>{esc(w)}</li>" for w in warnings)
        sections.append(f'<h2>Warnings</h2><ul class="warn">{items}</ul>')
    seconds = time.monotonic() - started
    created = datetime.now(UTC).isoformat(timespec="seconds")
    intro = (
        f"Run {esc(m.run_id)}; report written {created} by vsbatch "
        f"{__version__} in {seconds:.1f} s. Every plot is computed from SQL aggregates over the "
        f"whole catalog plus seeded samples of at most {sample_cap:,} points."
    )
    page = page_html(
        f"vsbatch report: {cat.root.name}", f"vsbatch report: {cat.root}", intro, sections
    )
    out = Path(output_html)
    write_bytes_atomic(page.encode("utf-8"), out)
    return ReportSummary(
        output=out,
        catalog=cat.root,
        run_id=m.run_id,
        light_curves=part.stats.rows,
        sources=part.stats.sources,
        failures=int(m.failures_rows),
        class_column=part.class_column,
        figures=tuple(r.info for r in figures),
        evaluations=tuple(ev_names),
        warnings=tuple(warnings),
        seconds=seconds,
        candidates=candidates[0] if candidates is not None else None,
    )


def _catalog_part(
    catalog_path: str | os.PathLike, cat: Catalog, sample_cap: int, seed: int
) -> _CatalogPart:
    """Run, failures, classes and the catalog figures: everything read through DuckDB."""
    con = connect(catalog_path)
    con.execute("SET enable_progress_bar = false")  # DuckDB draws it on stdout, even to a pipe
    try:
        cols = {r[0] for r in con.execute("DESCRIBE catalog").fetchall()}
        cls = choose_class_column(cols)
        quantities = plotted_quantities(cols)
        agg = CatalogAggregates(quantities, cls, SeededSample(sample_cap), HistogramScan(cls))
        stats = catalog_stats(con, quantities, cls, cols)
        figures, body = _catalog_figures(con, agg, stats, seed)
        sections = [
            run_section(cat, con, stats, agg.histograms.band_counts()),
            failures_section(con),
            classes_section(agg, stats, cols),
            body,
        ]
    finally:
        con.close()
    return _CatalogPart(sections, figures, stats, cols, cls.name if cls else None)


def _catalog_figures(
    con: duckdb.DuckDBPyConnection, agg: CatalogAggregates, stats: CatalogStats, seed: int
) -> tuple[list[RenderedFigure], str]:
    """The catalog section: each figure the catalog has columns for, a note for the others."""
    body = ["<h2>Catalog</h2>"]
    figures: list[RenderedFigure] = []
    if not stats.rows:
        body.append('<p class="note">The catalog holds no light curves: nothing to plot.</p>')
        return figures, "\n".join(body)
    agg.sample.load(con, agg.quantities, agg.cls, seed, stats.rows)
    plans = plan_catalog_figures(agg, stats)
    agg.histograms.run(con)
    for what, draw, needs in plans:
        if draw is None:
            body.append(
                f'<p class="note">No {esc(what)}: the catalog has no values of '
                f"{esc(needs)} (stage not run or every value null).</p>"
            )
            continue
        figures.append(draw())
        body.append(figure_html(figures[-1]))
    return figures, "\n".join(body)
