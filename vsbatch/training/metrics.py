"""Binary-classifier metrics in NumPy (no scikit-learn in the environment).

AUC is the Mann-Whitney statistic with ties counted one half: the probability that a random
positive scores above a random negative. It equals the trapezoidal area under the ROC curve
built from every distinct threshold (tested against a pairwise count).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def _clean(y_true: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray, int]:
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"y_true and scores must be 1-d of equal length, got {y.shape}, {s.shape}")
    finite = np.isfinite(s)
    return y[finite], s[finite], int((~finite).sum())


def roc_curve(y_true: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds): predicting positive when ``score >= threshold``, thresholds
    decreasing, starting at +inf (0, 0). Non-finite scores are ignored."""
    y, s, _ = _clean(y_true, scores)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1] if s.size else np.zeros(0, int)
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    n_pos, n_neg = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    return (
        np.r_[0.0, fp / n_neg],
        np.r_[0.0, tp / n_pos],
        np.r_[np.inf, s[last]],
    )


def auc_score(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve (NaN when one class is absent)."""
    y, s, _ = _clean(y_true, scores)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="stable")
    ranks = np.empty(s.size)
    sorted_s = s[order]
    # average ranks over ties (1-based)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], s.size]
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def evaluate_binary(
    y_true: ArrayLike, scores: ArrayLike, *, threshold: float = 0.5, roc_points: int = 200
) -> dict:
    """ACC, AUC, TPR, TNR, precision, recall, F1, confusion matrix and ROC points.

    ``scores`` grow with the positive class (use P(periodic), or -log10 FAP for Baluev);
    ``score >= threshold`` predicts positive. Non-finite scores are left out and counted in
    ``n_excluded``. The ROC is thinned to at most ``roc_points`` points (ends kept).
    """
    y, s, n_excluded = _clean(y_true, scores)
    pred = s >= threshold
    tp = int((pred & y).sum())
    tn = int((~pred & ~y).sum())
    fp = int((pred & ~y).sum())
    fn = int((~pred & y).sum())

    def ratio(a: int, b: int) -> float:
        return a / b if b else float("nan")

    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    f1 = (
        2 * precision * recall / (precision + recall)
        if np.isfinite(precision) and np.isfinite(recall) and precision + recall > 0
        else float("nan")
    )
    fpr, tpr, thr = roc_curve(y, s)
    if fpr.size > roc_points:
        keep = np.unique(np.r_[np.linspace(0, fpr.size - 1, roc_points).astype(int)])
        fpr, tpr, thr = fpr[keep], tpr[keep], thr[keep]
    return {
        "n": int(y.size),
        "n_positive": int(y.sum()),
        "n_negative": int((~y).sum()),
        "n_excluded": n_excluded,
        "threshold": float(threshold),
        "ACC": ratio(tp + tn, y.size),
        "AUC": auc_score(y, s),
        "TPR": recall,
        "TNR": ratio(tn, tn + fp),
        "precision": precision,
        "recall": recall,
        "F1": f1,
        "confusion_matrix": [[tn, fp], [fn, tp]],  # rows true (neg, pos), cols predicted
        "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "threshold": thr.tolist()},
    }
