"""The tables of the report page: run, failures, classes, models and evaluations."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from vsbatch.io.catalog import Catalog
from vsbatch.report.aggregate import CatalogAggregates, CatalogStats
from vsbatch.report.evaluation import EVALUATION_DIR, evaluation_figure, load_evaluations
from vsbatch.report.html import esc, figure_html, html_table
from vsbatch.report.rendered import RenderedFigure
from vsbatch.schema import table_schema


def manifest_models(cat: Catalog) -> list[dict]:
    """Model entries of the manifest (top-level ``models`` or ``stats.models``), normalised."""
    raw = getattr(cat.manifest, "models", None) or cat.manifest.stats.get("models") or []
    if isinstance(raw, dict):
        raw = [{"name": k, "version": v} for k, v in raw.items()]
    return [m if isinstance(m, dict) else {"name": str(m)} for m in raw]


_REASON_PATTERN = r"regexp_replace(reason, '[-+]?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?', 'N', 'g')"


def run_section(
    cat: Catalog,
    con: duckdb.DuckDBPyConnection,
    stats: CatalogStats,
    bands: list[tuple[str | None, int]],
) -> str:
    """Input, configuration and counts of the run, light curves per band and throughput."""
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
            html_table(("quantity", "value"), summary),
            "<h3>Light curves per band</h3>",
            html_table(("band", "light curves"), [(b or "(none)", n) for b, n in bands]),
            "<h3>Throughput of the last run</h3>",
            html_table(("quantity", "value"), throughput),
            "<details><summary>Configuration (RunConfig)</summary>",
            html_table(("option", "value"), config),
            "</details>",
        ]
    )


def failures_section(con: duckdb.DuckDBPyConnection) -> str:
    """Failure records by stage, and by reason with numbers masked so alike reasons group."""
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
            html_table(
                ("stage", "records", "sources"), [(s, int(n), int(k)) for s, n, k in by_stage]
            ),
            "<h3>By reason</h3><p class='note'>Numbers in reasons are replaced by N to group "
            "them; one full example each.</p>",
            html_table(
                ("stage", "reason", "records", "example"),
                [(s, p, int(n), e) for s, p, n, e in by_reason],
            ),
            more,
        ]
    )


def classes_section(agg: CatalogAggregates, stats: CatalogStats, cols: set[str]) -> str:
    """Light curves per class and band, or the probability summary of a P_BL column."""
    cls = agg.cls
    if cls is None:
        return '<h2>Classes</h2><p class="note">No class column in this catalog.</p>'
    if stats.probability is not None:
        n, mean, n_half = stats.probability
        rows = [("light curves with a value", n), ("mean", mean), ("p >= 0.5", n_half)]
        return f"<h2>Classes ({esc(cls.name)})</h2>" + html_table(("quantity", "value"), rows)
    rows = sorted(agg.histograms.class_band, key=lambda r: (str(r[0]), str(r[1])))
    others = sorted(c for c in cols if c.endswith("_class") and c != cls.name)
    note = f"<p class='note'>Other class columns: {esc(', '.join(others))}.</p>" if others else ""
    counts = html_table(
        ("class", "band", "light curves"), [(c, b or "(none)", n) for c, b, n in rows]
    )
    return f"<h2>Classes ({esc(cls.name)})</h2>" + counts + note


def models_section(cat: Catalog, cols: set[str]) -> str:
    """The models the manifest lists, and the catalog columns no stage declares."""
    models = manifest_models(cat)
    if not models:
        return (
            '<h2>Models</h2><p class="note">The manifest lists no models: this catalog holds '
            "no model predictions.</p>"
        )
    keys = list(dict.fromkeys(k for m in models for k in m))
    declared = {c.name for c in table_schema("catalog").columns}
    extra = sorted(cols - declared - set(cat.manifest.carried_columns) - {"part"})
    note = f"<p>Model columns in the catalog: {esc(', '.join(extra))}.</p>" if extra else ""
    return "<h2>Models</h2>" + html_table(keys, [[m.get(k) for k in keys] for m in models]) + note


def evaluation_section(root: Path) -> tuple[str, list[RenderedFigure], list[str], list[str]]:
    """The evaluation figures: (html, figures, names of the files drawn, warnings)."""
    evaluations, warnings = load_evaluations(root)
    parts = ["<h2>Evaluation</h2>"]
    figures, names = [], []
    for name, ev in evaluations:
        rendered = evaluation_figure(name, ev)
        if rendered is None:
            warnings.append(f"{EVALUATION_DIR}/{name}.json: no confusion matrix or ROC curve")
            continue
        figures.append(rendered)
        names.append(name)
        parts.append(figure_html(rendered))
    if not names:
        parts.append(
            f'<p class="note">No evaluation results in <code>{EVALUATION_DIR}/*.json</code> '
            "(written by model evaluations; format in <code>vsbatch.report</code>).</p>"
        )
    return "\n".join(parts), figures, names, warnings
