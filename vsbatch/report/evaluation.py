"""Model evaluation results stored with a catalog, and the report's figure of each.

One file per evaluated model, ``CATALOG/_evaluation/<name>.json`` (format in
``vsbatch.report``): a confusion matrix and ROC curves, both optional.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from vsbatch.errors import UsageError
from vsbatch.io.catalog import open_catalog, write_json_atomic
from vsbatch.plotting import class_colour, figure, panel_info, png_bytes
from vsbatch.report.rendered import FigureInfo, RenderedFigure

EVALUATION_DIR = "_evaluation"


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts with rows = true class and columns = predicted class, in ``labels`` order."""

    labels: tuple[str, ...]
    matrix: tuple[tuple[float, ...], ...]

    @classmethod
    def from_json(cls, cm: object) -> ConfusionMatrix:
        """Validate ``confusion_matrix``; ValueError says what is wrong."""
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
        return cls(labels, tuple(tuple(map(float, r)) for r in matrix))


@dataclass(frozen=True)
class RocCurve:
    """One ROC curve (false- and true-positive rates) of a positive class."""

    label: str
    fpr: tuple[float, ...]
    tpr: tuple[float, ...]
    auc: float

    @classmethod
    def from_json(cls, c: object, i: int) -> RocCurve:
        """Validate ``roc[i]``; the AUC is the trapezoid rule's when absent."""
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
        return cls(str(c.get("label", f"class {i}")), tuple(fpr), tuple(tpr), float(auc))


@dataclass(frozen=True)
class EvaluationRecord:
    """A model's evaluation as stored in ``CATALOG/_evaluation/<name>.json``."""

    model: str
    version: str | None = None
    dataset: str | None = None
    confusion: ConfusionMatrix | None = None
    roc: tuple[RocCurve, ...] = ()

    @classmethod
    def from_json(cls, data: object) -> EvaluationRecord:
        """Validate the documented format; ValueError says what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("top level must be a JSON object")
        model = data.get("model")
        if not isinstance(model, str) or not model:
            raise ValueError("'model' (a non-empty string) is required")
        cm = data.get("confusion_matrix")
        return cls(
            model=model,
            version=None if data.get("version") is None else str(data["version"]),
            dataset=None if data.get("dataset") is None else str(data["dataset"]),
            confusion=None if cm is None else ConfusionMatrix.from_json(cm),
            roc=tuple(RocCurve.from_json(c, i) for i, c in enumerate(data.get("roc") or ())),
        )

    def to_json(self) -> dict:
        """The documented format (what ``from_json`` reads back)."""
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
    catalog_path: str | os.PathLike, evaluation: EvaluationRecord, name: str | None = None
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
) -> tuple[list[tuple[str, EvaluationRecord]], list[str]]:
    """(name, evaluation) of every valid ``_evaluation/*.json``, and warnings for the others."""
    folder = Path(catalog_path) / EVALUATION_DIR
    found, warnings = [], []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = EvaluationRecord.from_json(json.loads(path.read_text("utf-8")))
            found.append((path.stem, record))
        except (OSError, ValueError) as exc:  # JSONDecodeError is a ValueError
            warnings.append(f"{path}: skipped, not a valid evaluation file ({exc})")
    return found, warnings


def evaluation_figure(name: str, ev: EvaluationRecord) -> RenderedFigure | None:
    """The confusion matrix and ROC curves side by side; None when the file has neither."""
    n_panels = (ev.confusion is not None) + bool(ev.roc)
    if not n_panels:
        return None
    fig = figure(6.0 * n_panels + 0.5, 5.2)
    axes = list(np.atleast_1d(fig.subplots(1, n_panels)))
    panels = []
    if ev.confusion is not None:
        ax = axes.pop(0)
        _draw_confusion(ax, fig, ev.confusion, ev.model)
        panels.append(panel_info(ax))
    if ev.roc:
        ax = axes.pop(0)
        _draw_roc(ax, ev.roc, ev.model)
        panels.append(panel_info(ax))
    what = ev.model + (f" {ev.version}" if ev.version else "")
    caption = f"Evaluation {name}: {what}" + (f" on {ev.dataset}" if ev.dataset else "") + "."
    info = FigureInfo(f"Evaluation: {what}", caption, tuple(panels))
    return RenderedFigure(info, png_bytes(fig))


def _draw_confusion(ax: Axes, fig: Figure, confusion: ConfusionMatrix, model: str) -> None:
    """Row-normalised colours, counts and fractions written in each cell."""
    m = np.asarray(confusion.matrix)
    frac = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    labels = confusion.labels
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
    ax.set_title(f"Confusion matrix: {model}")


def _draw_roc(ax: Axes, curves: tuple[RocCurve, ...], model: str) -> None:
    """One curve per positive class, with its AUC, over the chance diagonal."""
    for k, c in enumerate(curves):
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
    ax.set_title(f"ROC: {model}")
    ax.legend(loc="lower right")
