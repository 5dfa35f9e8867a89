"""The Blazhko candidates figure: the folds behind a Blazhko model's most confident calls.

A P_BL is only believed after looking at the light curves behind it, so this figure, unlike
the others of the report, reads the candidates' input epochs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pyarrow as pa
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from vsbatch.config import RunConfig
from vsbatch.errors import UsageError
from vsbatch.failures import FailureLog
from vsbatch.io.catalog import Catalog, open_catalog, write_bytes_atomic
from vsbatch.io.source_lookup import source_epochs
from vsbatch.kernels.arrays import LightCurves
from vsbatch.plotting import (
    STYLE,
    PanelInfo,
    class_colour,
    figure,
    fourier_curve,
    panel_info,
    png_bytes,
)
from vsbatch.query import connect
from vsbatch.report.aggregate import sql_identifier
from vsbatch.report.rendered import FigureInfo, RenderedFigure
from vsbatch.report.sections import manifest_models
from vsbatch.represent.phased_image import ImageSpec, PhaseFold, phase_fold
from vsbatch.schema import column_prefix
from vsbatch.stages.clean import clean_partition
from vsbatch.stages.context import StageContext
from vsbatch.stages.fourier import fold_period


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
        rendered, name, chosen = render_candidates(catalog_path, per_class, input, model)
    out = Path(output_png)
    write_bytes_atomic(rendered.png, out)
    return CandidatesSummary(out, name, chosen, rendered.info)


def _blazhko_model(cat: Catalog, model: str | None) -> dict:
    found = [m for m in manifest_models(cat) if m.get("kind") == "blazhko"]
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
        p_bl, cls_column = sql_identifier(f"{prefix}_p_bl"), sql_identifier(f"{prefix}_class")
        select = ", ".join(
            ["source_id", "band", f"{p_bl} AS p_bl", f"{cls_column} AS cls"]
            + [sql_identifier(c) for c in extra]
        )
        rows = []
        for cls, order in (("BL", "DESC"), ("nBL", "ASC")):
            sql = (
                f"SELECT {select} FROM catalog WHERE {cls_column} = ? "
                f"ORDER BY p_bl {order}, source_id, band LIMIT ?"
            )
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
    ids = list(dict.fromkeys(r["source_id"] for r in rows))
    epochs = pa.concat_tables([source_epochs(source, config.column_map, sid) for sid in ids])
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


def render_candidates(
    catalog_path: str | os.PathLike,
    per_class: int,
    source_override: str | os.PathLike | None,
    model: str | None,
) -> tuple[RenderedFigure, str, tuple[Candidate, ...]]:
    """The candidates figure, the model's column prefix and the candidates drawn."""
    if per_class < 1:
        raise UsageError("per_class must be at least 1")
    cat = open_catalog(catalog_path)
    ref = _blazhko_model(cat, model)
    prefix = column_prefix(str(ref["name"]))
    spec = _image_spec(ref)
    source = str(source_override) if source_override is not None else cat.manifest.input
    rows = _candidate_rows(catalog_path, prefix, per_class)
    config = RunConfig.from_dict(cat.manifest.config)
    folded = _fold_candidates(rows, source, config, spec) if rows else None
    fig = figure(3.2 * per_class, 6.6)
    panels, chosen = _draw_candidates(fig, folded, per_class, spec)
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
    return RenderedFigure(info, png_bytes(fig)), prefix, tuple(chosen)


def _image_spec(ref: dict) -> ImageSpec:
    """The representation of the model's card if its folder is still there, else the default."""
    from vsbatch.models.artifacts import CARD_FILE, read_card  # imports torch: only when drawn

    folder = Path(str(ref.get("path", "")))
    if (folder / CARD_FILE).is_file():
        return ImageSpec.from_dict(read_card(folder)["representation"])
    return ImageSpec()


def _draw_candidates(
    fig: Figure, folded: _Folded | None, per_class: int, spec: ImageSpec
) -> tuple[list[PanelInfo], list[Candidate]]:
    """BL candidates on the top row, nBL on the bottom; empty cells say there are no more."""
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
    return panels, chosen
