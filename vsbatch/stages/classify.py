"""Variable-type classifiers in runs: per-source inputs of a partition, inference, and the
catalog-parameters route.

Light-curve models (``cnn-lstm``, ``dmdt-cnn``, ``hybrid``) see all bands of a source: the
inputs are built per source (bands in the card's order, a missing band left at zero) and the
prediction is repeated on the source's rows. ``catalog-cnn-lstm`` classifies one row per light
curve from its Fourier parameters: in a light-curve run those of the run's own fourier stage,
and for a catalog without epochs (one row per source with period, amplitude, r21, phi21 and
optional r31, phi31) :func:`classify_parameter_rows`, per partition of
:func:`vsbatch.pipeline.classify_catalog`, which ``vsbatch run --model catalog-cnn-lstm``
calls when the input is such a table; it commits a vsbatch catalog (manifest, failures table)
that ``vsbatch query`` and ``open_catalog`` read like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from vsbatch.config import RunConfig
from vsbatch.failures import FailureLog
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
from vsbatch.schema import class_slug, table_schema
from vsbatch.stages.columns import as_arrow, catalog_schema, checked_outputs, model_stage_columns
from vsbatch.stages.context import StageContext
from vsbatch.stages.models import ModelRef, loaded_artifact, version_tags

if TYPE_CHECKING:
    from vsbatch.models.loaded import Artifact

CATALOG_KIND = "catalog-cnn-lstm"
CATALOG_PARAMETERS = ("period", "amplitude", "r21", "phi21", "r31", "phi31", "mean_mag")


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
    """The reconstructed-curve batch of catalog parameters (missing optional ones: None)."""
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
    """Class probabilities (NaN rows where the curve cannot be built) and curve status, built
    and classified ``batch_size`` rows at a time (a 360-point curve is 2.9 kB, a partition of
    a 400,000-row catalog would be a gigabyte at once)."""
    n = len(params["period"])
    proba = np.full((n, len(artifact.card["class_names"])), np.nan)
    status = []
    for lo in range(0, n, batch_size):
        curves = curve_inputs({k: v[lo : lo + batch_size] for k, v in params.items()}, rep)
        ok = curves.status == KernelStatus.OK
        if ok.any():
            proba[lo + np.flatnonzero(ok)] = predict_proba(
                artifact, (curves.x[ok],), batch_size=batch_size
            )
        status.append(curves.status)
    return proba, np.concatenate(status) if status else np.zeros(0, np.int8)


# --- catalog-parameters input (the run driver is vsbatch.pipeline.classify_catalog) ---------


def catalog_parameters_schema(input_schema: pa.Schema, models: list[ModelRef]) -> pa.Schema:
    """The catalog schema of a catalog-parameters run: ``source_id``, ``band`` (null unless
    the input has one), every other input column carried, then the models' declared columns.

    Why not a light-curve run's schema as is: its epoch counts (``n_input``, ``n_dropped_*``)
    would be null on every row, as there are no epochs.
    """
    carried = {f.name: f.type for f in input_schema if f.name not in ("source_id", "band")}
    config = RunConfig(stages=())
    schema = catalog_schema(config, input_schema.field("source_id").type, carried, models)
    keys = {"source_id", "band"}
    counts = [c.name for c in table_schema("catalog").for_stages({"clean"}).columns]
    for name in (c for c in counts if c not in keys):
        schema = schema.remove(schema.get_field_index(name))
    return schema


def classify_parameter_rows(
    rows: pa.Table, partition: str, models: list[ModelRef], schema: pa.Schema, batch_rows: int
) -> tuple[pa.Table, FailureLog, int]:
    """Catalog rows of a partition of a catalog-parameters table (one row per source, no
    epochs): the input columns plus every model's class columns, the failure records of rows
    whose curve cannot be built, and how many rows every model classified."""
    n = rows.num_rows
    columns: dict[str, object] = {c: rows.column(c) for c in rows.column_names}
    params = {
        k: rows.column(k).to_numpy(zero_copy_only=False).astype(float)
        for k in CATALOG_PARAMETERS[:6]
        if k in rows.column_names
    }
    ids = rows.column("source_id").to_pylist()
    bands = rows.column("band").to_pylist() if "band" in columns else [None] * n
    failures = FailureLog(partition)
    scored = np.ones(n, dtype=bool)
    for ref in models:
        artifact = loaded_artifact(ref.path, ref.sha256)
        rep = artifact.card["representation"]
        proba, status = _classify_parameters(artifact, params, rep, batch_rows)
        ok = status == KernelStatus.OK
        scored &= ok
        for i in np.flatnonzero(~ok):
            failures.add(ids[i], bands[i], f"model:{ref.name}", CURVE_REASONS[int(status[i])])
        outputs = {
            **class_columns(ref.prefix, list(ref.class_names), proba, ok),
            f"{ref.prefix}_version": np.full(n, artifact.version_tag, dtype=object),
        }
        columns |= checked_outputs(f"model:{ref.name}", outputs, model_stage_columns(ref))
    arrays = [as_arrow(columns.get(f.name), f.type, n) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema), failures, int(scored.sum())
