"""Multi-class metrics in NumPy: accuracy, per-class and macro precision / recall / F1, the
row-normalised confusion matrix (as Bassi et al. Fig. 5) and its PNG.

Conventions (scikit-learn's ``zero_division=0``): a class never predicted has precision 0,
a class absent from the truth has recall 0 and is left out of the macro averages (macro over
the classes present in ``y_true``, which is what the seeds' tables average over).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts (n_classes, n_classes): row = true class, column = predicted class."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return cm


def _macro(values: np.ndarray, present: np.ndarray) -> float:
    return float(values[present].mean()) if present.any() else float("nan")


def multiclass_metrics(y_true: np.ndarray, proba: np.ndarray, class_names: list[str]) -> dict:
    """Every metric of the seeds' tables from true class indices and class probabilities
    (n, n_classes); the prediction is the most probable class."""
    y_true = np.asarray(y_true, dtype=np.int64)
    k = len(class_names)
    y_pred = np.asarray(proba).argmax(axis=1) if len(y_true) else np.zeros(0, np.int64)
    cm = confusion_matrix(y_true, y_pred, k)
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    present = support > 0
    normalised = np.divide(cm, support[:, None], out=np.zeros((k, k)), where=support[:, None] > 0)
    return {
        "n": len(y_true),
        "accuracy": float(tp.sum() / max(len(y_true), 1)) if len(y_true) else float("nan"),
        "macro_precision": _macro(precision, present),
        "macro_recall": _macro(recall, present),
        "macro_f1": _macro(f1, present),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
        "class_names": list(class_names),
        "confusion": cm.tolist(),
        "confusion_normalised": normalised.round(4).tolist(),
    }


def summarise_folds(folds: list[dict]) -> dict:
    """Mean and standard deviation (ddof 0) over cross-validation folds of the headline
    metrics, plus each fold's values."""
    keys = ("accuracy", "macro_precision", "macro_recall", "macro_f1")
    out: dict = {"folds": len(folds)}
    for key in keys:
        values = np.array([f[key] for f in folds], dtype=float)
        out[key] = {
            "mean": float(values.mean()),
            "std": float(values.std()),
            "per_fold": values.round(4).tolist(),
        }
    return out


def plot_confusion(metrics: dict, path: Path, title: str) -> Path:
    """The row-normalised confusion matrix as a PNG (numbers in the cells)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.array(metrics["confusion_normalised"])
    names = metrics["class_names"]
    size = 2.0 + 0.55 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    im = ax.imshow(cm, vmin=0, vmax=1, cmap="Blues")
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(
                j,
                i,
                f"{cm[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if cm[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(
        f"{title}\naccuracy {metrics['accuracy']:.3f}, macro F1 "
        f"{metrics['macro_f1']:.3f}, n={metrics['n']}",
        fontsize=9,
    )
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE: sum over equal-width confidence bins of (bin share) x |accuracy -
    mean confidence| (Guo et al. 2017), so a threshold on p_max means what it says."""
    y_true = np.asarray(y_true, dtype=np.int64)
    if not len(y_true):
        return float("nan")
    conf = proba.max(axis=1)
    right = proba.argmax(axis=1) == y_true
    which = np.minimum((conf * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in np.unique(which):
        inside = which == b
        total += inside.mean() * abs(right[inside].mean() - conf[inside].mean())
    return float(total)
