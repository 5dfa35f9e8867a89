"""evaluate_binary against slow pairwise-count and trapezoid references."""

from __future__ import annotations

import numpy as np

from vsbatch.training.metrics import auc_score, evaluate_binary, roc_curve


def _pairwise_auc(y, s):
    pos, neg = s[y == 1], s[y == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_auc_equals_pairwise_count_with_ties(rng):
    for _ in range(5):
        y = rng.integers(0, 2, 300)
        s = np.round(rng.normal(y * 0.8, 1.0), 1)  # rounding makes many ties
        assert abs(auc_score(y, s) - _pairwise_auc(y, s)) < 1e-12
        fpr, tpr, thr = roc_curve(y, s)
        assert abs(np.trapezoid(tpr, fpr) - _pairwise_auc(y, s)) < 1e-12
        assert fpr[0] == 0 and tpr[-1] == 1 and np.all(np.diff(thr[1:]) < 0)


def test_confusion_and_rates():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    s = np.array([0.9, 0.6, 0.4, 0.2, 0.7, 0.1, np.nan, 0.5])
    r = evaluate_binary(y, s)
    assert r["n_excluded"] == 1 and r["n"] == 7
    assert r["confusion_matrix"] == [[2, 1], [1, 3]]
    assert r["TPR"] == 0.75 and r["TNR"] == 2 / 3 and r["precision"] == 0.75
    assert abs(r["F1"] - 0.75) < 1e-12 and abs(r["ACC"] - 5 / 7) < 1e-12
    assert np.isnan(evaluate_binary([1, 1], [0.2, 0.3])["AUC"])
