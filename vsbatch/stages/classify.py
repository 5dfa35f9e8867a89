"""Variable-type classifiers in runs: per-source inputs of a partition, inference, and the
catalog-parameters route (issue 5, item 4).

Light-curve models (``cnn-lstm``, ``dmdt-cnn``, ``hybrid``) see all bands of a source: the
inputs are built per source (bands in the card's order, a missing band left at zero) and the
prediction is repeated on the source's rows. ``catalog-cnn-lstm`` classifies one row per light
curve from its Fourier parameters: in a light-curve run those of the run's own fourier stage,
and for a catalogue without epochs (one row per source with period, amplitude, r21, phi21 and
optional r31, phi31) :func:`classify_catalog`, which ``vsbatch run --model catalog-cnn-lstm``
calls when the input is such a table.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vsbatch.errors import UsageError
from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.status import KernelStatus
from vsbatch.models.batching import outputs_in_batches
from vsbatch.represent.dmdt_images import dmdt_images, source_images
from vsbatch.represent.sequences import (
    CURVE_REASONS,
    SequenceBatch,
    band_slots,
    raw_sequences,
    reconstructed_curves,
    source_sequences,
)
from vsbatch.schema import class_slug
from vsbatch.stages.context import StageContext
from vsbatch.stages.models import ModelRef, version_tags

if TYPE_CHECKING:
    from vsbatch.models.artifacts import Artifact

CATALOG_KIND = "catalog-cnn-lstm"
CATALOG_PARAMETERS = ("period", "amplitude", "r21", "phi21", "r31", "phi31", "mean_mag")
SUMMARY_FILE = "_classification.json"


@dataclass(frozen=True)
class SourceInputs:
    """Model inputs of every source (first axis = source number of ``source_index``)."""

    x: tuple[np.ndarray, ...]  # sequences (n, length, channels) and/or images (n, bands, h, w)
    ok: np.ndarray  # bool: the source has a usable curve in the model's bands
    reason: str  # failure text of the sources that are not ok


def source_inputs(
    lcs: LightCurves, band: np.ndarray, source_index: np.ndarray, representation: dict
) -> SourceInputs:
    """The inputs a light-curve classifier's card asks for, per source (training shards and
    runs both call this, so a model sees in a run exactly what it was trained on)."""
    bands = tuple(representation["bands"])
    slot = band_slots(band, bands)
    xs, ok = [], None
    seq_rep, img_rep = representation.get("sequence"), representation.get("image")
    if seq_rep:
        batch = raw_sequences(
            lcs, seq_rep["length"], mag_clip=seq_rep["mag_clip"], min_points=seq_rep["min_points"]
        )
        seq, present = source_sequences(batch, source_index, slot, len(bands))
        xs.append(seq)
        ok = present.any(axis=1)
    if img_rep:
        hist = dmdt_images(
            lcs,
            img_rep["binning"],
            tuple(img_rep["bins"]),
            max_pairs=img_rep["max_pairs"],
            normalisation=img_rep["normalisation"],
        )
        img, present = source_images(hist, source_index, slot, len(bands))
        xs.append(img)
        ok = present.any(axis=1) if ok is None else ok & present.any(axis=1)
    min_points = (seq_rep or {}).get("min_points", 2)
    reason = (
        f"no light curve with at least {min_points} epochs in the model's bands "
        f"({', '.join(map(str, bands))})"
    )
    return SourceInputs(tuple(xs), ok, reason)


def predict_proba(
    artifact: Artifact, x: tuple[np.ndarray, ...], *, batch_size: int = 1024, device: str = "auto"
) -> np.ndarray:
    """Class probabilities (n, n_classes), the softmax of the network's logits."""
    n_classes = len(artifact.card["class_names"])
    if len(x[0]) == 0:
        return np.zeros((0, n_classes))
    logits = outputs_in_batches(artifact.model, x, batch_size=batch_size, device=device)
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def class_columns(
    prefix: str, class_names: list[str], proba: np.ndarray, ok: np.ndarray
) -> dict[str, np.ndarray]:
    """``<prefix>_class`` (None where not ok) and one ``<prefix>_p_<class>`` per class."""
    names = np.array(class_names, dtype=object)
    best = names[np.nan_to_num(proba, nan=-1.0).argmax(axis=1)] if len(proba) else names[:0]
    out = {f"{prefix}_class": np.where(ok, best, None).astype(object)}
    for i, name in enumerate(class_names):
        out[f"{prefix}_p_{class_slug(name)}"] = np.where(ok, proba[:, i], np.nan)
    return out


def classifier_columns(
    ctx: StageContext, ref: ModelRef, artifact: Artifact
) -> dict[str, np.ndarray]:
    """Columns of a light-curve classifier: one prediction per source, on all its rows."""
    sidx = ctx.source_index()
    inputs = source_inputs(ctx.lcs, ctx.value("band"), sidx, artifact.card["representation"])
    class_names = list(artifact.card["class_names"])
    proba = np.full((len(inputs.ok), len(class_names)), np.nan)
    if inputs.ok.any():
        proba[inputs.ok] = predict_proba(
            artifact,
            tuple(a[inputs.ok] for a in inputs.x),
            batch_size=ctx.config.model_batch_size,
        )
    seg_ok = inputs.ok[sidx]
    for i in np.flatnonzero(~seg_ok):
        ctx.fail(int(i), f"model:{ref.name}", inputs.reason)
    return {
        **class_columns(ref.prefix, class_names, proba[sidx], seg_ok),
        f"{ref.prefix}_version": version_tags(ctx, ref),
    }


def curve_inputs(params: dict[str, np.ndarray | None], representation: dict) -> SequenceBatch:
    """The reconstructed-curve batch of catalogue parameters (missing optional ones: None)."""
    return reconstructed_curves(
        params["period"],
        params["amplitude"],
        params.get("r21"),
        params.get("phi21"),
        params.get("r31"),
        params.get("phi31"),
        n_points=representation["n_points"],
        period_channel=representation["period_channel"],
    )


def catalog_classifier_columns(
    ctx: StageContext, ref: ModelRef, artifact: Artifact
) -> dict[str, np.ndarray]:
    """``catalog-cnn-lstm`` in a light-curve run: each light curve's own Fourier parameters
    (fold_period, amplitude, r21, phi21, r31, phi31 of the fourier stage)."""
    rep = artifact.card["representation"]
    class_names = list(artifact.card["class_names"])
    n = ctx.lcs.n_segments
    if "amplitude" not in ctx.columns:
        for i in range(n):
            ctx.fail(i, f"model:{ref.name}", "needs the fourier stage's parameters")
        proba, ok = np.full((n, len(class_names)), np.nan), np.zeros(n, bool)
    else:
        params = {"period": ctx.value("fold_period")}
        params |= {k: ctx.value(k).astype(float) for k in CATALOG_PARAMETERS[1:6]}
        proba, status = _classify_parameters(artifact, params, rep, ctx.config.model_batch_size)
        ok = status == KernelStatus.OK
        for i in np.flatnonzero(~ok):
            ctx.fail(int(i), f"model:{ref.name}", CURVE_REASONS[int(status[i])])
    return {
        **class_columns(ref.prefix, class_names, proba, ok),
        f"{ref.prefix}_version": version_tags(ctx, ref),
    }


def _classify_parameters(
    artifact: Artifact, params: dict, rep: dict, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (NaN rows where the curve cannot be built) and curve status."""
    curves = curve_inputs(params, rep)
    ok = curves.status == KernelStatus.OK
    proba = np.full((len(ok), len(artifact.card["class_names"])), np.nan)
    if ok.any():
        proba[ok] = predict_proba(artifact, (curves.x[ok],), batch_size=batch_size)
    return proba, curves.status


# --- catalog-parameters input ------------------------------------------------------------------

OGLE3_MISSING = -99.99
OGLE3_COLUMNS = {
    "ID": "source_id",
    "P_1": "period",
    "A_1": "amplitude",
    "R21_1": "r21",
    "phi21_1": "phi21",
    "R31_1": "r31",
    "phi31_1": "phi31",
    "I": "mean_mag",
}


def ogle3_label(kind: str, subtype: str | None) -> str:
    """The class of an OGLE-III catalogue row: the subtype for RR Lyrae and long-period
    variables (RRab, RRc, RRd, RRe; Mira, SRV, OSARG), else the type (Cep, T2Cep, DSCT, aCep,
    DPV, RCB)."""
    return str(subtype) if kind in ("RRLyr", "LPV") and subtype else str(kind)


def _ogle3_header(path: Path) -> list[str] | None:
    """Column names of an OGLE-III catalogue query (``# Columns:`` then a ``#`` header line)."""
    import bz2

    opener = bz2.open if path.suffix == ".bz2" else open
    try:
        with opener(path, "rt") as fh:
            lines = [next(fh) for _ in range(8)]
    except (OSError, StopIteration, UnicodeDecodeError, EOFError):
        return None
    for i, line in enumerate(lines[:-1]):
        if line.startswith("# Columns:"):
            return lines[i + 1].lstrip("#").split()
    return None


def read_catalog_parameters(source: str | Path) -> pa.Table:
    """A catalogue-parameters table: ``source_id``, ``period`` (d), ``amplitude`` (peak-to-peak
    mag), ``r21``, ``phi21``, ``r31``, ``phi31`` (rad, cosine convention), ``mean_mag`` and any
    ``label``. Reads Parquet (file or folder) with those columns (optional ones may be absent)
    or an OGLE-III catalogue query as text (``.txt`` / ``.txt.bz2``, -99.99 = missing), whose
    label is :func:`ogle3_label`."""
    path = Path(source)
    header = _ogle3_header(path) if path.is_file() and ".txt" in path.suffixes else None
    if header is not None:
        import pandas as pd

        df = pd.read_csv(
            path,
            sep="\t",
            comment="#",
            names=header,
            usecols=[*OGLE3_COLUMNS, "Type", "Subtype"],
            na_values=[str(OGLE3_MISSING)],
            dtype={"Subtype": str},
        )
        df["label"] = [
            ogle3_label(t, s if isinstance(s, str) else None)
            for t, s in zip(df["Type"], df["Subtype"], strict=True)
        ]
        df = df.rename(columns=OGLE3_COLUMNS).drop(columns=["Type", "Subtype"])
        return pa.Table.from_pandas(df, preserve_index=False)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise UsageError(f"{source}: not a catalogue-parameters table ({exc})") from exc
    missing = [c for c in ("source_id", "period", "amplitude") if c not in table.column_names]
    if missing:
        raise UsageError(f"{source}: a catalogue-parameters input needs {', '.join(missing)}")
    return table


def is_catalog_parameters(source: str) -> bool:
    """True for a catalogue-parameters input (period and amplitude, no epochs): an OGLE-III
    query text file, or Parquet with ``period`` and ``amplitude`` but no ``time`` / ``lc``."""
    path = Path(source)
    if not path.exists():
        return False
    if path.is_file() and ".txt" in path.suffixes:
        return _ogle3_header(path) is not None
    try:
        names = set(
            pq.read_schema(path).names if path.is_file() else pq.ParquetDataset(path).schema.names
        )
    except (OSError, pa.ArrowInvalid, ValueError):
        return False
    return {"period", "amplitude"} <= names and not names & {"time", "lc"}


@dataclass(frozen=True)
class CatalogClassification:
    """What :func:`classify_catalog` did."""

    output: Path
    rows: int
    classified: int
    seconds: float
    models: tuple[str, ...]

    def text(self) -> str:
        rate = self.rows / self.seconds if self.seconds > 0 else float("inf")
        return (
            f"vsbatch run (catalog parameters): {self.rows} rows, {self.classified} "
            f"classified by {', '.join(self.models)}, {self.seconds:.1f} s wall, "
            f"{rate:,.0f} rows/s -> {self.output}"
        )


def classify_catalog(
    source: str,
    output: str | Path,
    models: tuple[str, ...],
    *,
    overwrite: bool = False,
    batch_rows: int = 20_000,
) -> CatalogClassification:
    """Classify a catalogue-parameters table (no epochs) with ``catalog-cnn-lstm`` models.

    Why a separate path: such an input has nothing to partition by epochs, clean or fit; each
    row is one source. Writes ``OUTPUT/part-NNNNN.parquet`` (the input columns, then
    ``<name>_class``, ``<name>_p_<class>``, ``<name>_version`` per model; class and
    probabilities null where period or amplitude is missing) and ``_classification.json``
    (rows, seconds, throughput) last.
    """
    from vsbatch.models.artifacts import load_artifact

    started = time.perf_counter()
    artifacts = [load_artifact(m) for m in models]
    wrong = [a.name for a in artifacts if a.card["kind"] != CATALOG_KIND]
    if wrong:
        raise UsageError(
            f"a catalogue-parameters input has no light curves; model(s) "
            f"{', '.join(wrong)} need them (use {CATALOG_KIND})"
        )
    out = Path(output)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise UsageError(f"{out}: exists and is not empty (use --overwrite)")
        if not (out / SUMMARY_FILE).is_file():
            raise UsageError(f"{out}: not a catalogue classification; refusing to replace it")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    table = read_catalog_parameters(source)
    classified = np.zeros(table.num_rows, dtype=bool)
    for part, lo in enumerate(range(0, table.num_rows, batch_rows)):
        chunk = table.slice(lo, batch_rows)
        params = {
            k: chunk.column(k).to_numpy(zero_copy_only=False).astype(float)
            for k in CATALOG_PARAMETERS[:6]
            if k in chunk.column_names
        }
        for artifact in artifacts:
            rep = artifact.card["representation"]
            proba, status = _classify_parameters(artifact, params, rep, 4096)
            ok = status == KernelStatus.OK
            classified[lo : lo + len(ok)] |= ok
            prefix = artifact.name.replace("-", "_")
            cols = class_columns(prefix, list(artifact.card["class_names"]), proba, ok)
            cols[f"{prefix}_version"] = np.full(len(ok), artifact.version_tag, dtype=object)
            for name, values in cols.items():
                kind = pa.string() if values.dtype == object else pa.float64()
                chunk = chunk.append_column(name, pa.array(values, kind, from_pandas=True))
        pq.write_table(chunk, out / f"part-{part:05d}.parquet")
    seconds = time.perf_counter() - started
    result = CatalogClassification(
        out, table.num_rows, int(classified.sum()), seconds, tuple(a.version_tag for a in artifacts)
    )
    labels = {}
    if "label" in table.column_names:
        counts = pc.value_counts(table.column("label")).to_pylist()
        labels = {str(d["values"]): int(d["counts"]) for d in counts}
    (out / SUMMARY_FILE).write_text(
        json.dumps(
            {
                "input": str(source),
                "rows": result.rows,
                "classified": result.classified,
                "seconds": round(seconds, 2),
                "rows_per_second": round(result.rows / seconds, 1),
                "models": list(result.models),
                "input_labels": labels,
            },
            indent=1,
        )
        + "\n"
    )
    return result
