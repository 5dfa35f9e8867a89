"""Seeded, stratified splits of labelled light curves (by source, never by augmented copy)."""

from __future__ import annotations

import numpy as np


def stratified_split(labels: np.ndarray, fractions: tuple[float, ...], seed: int) -> np.ndarray:
    """Split index (0, 1, ...) of every row: ``fractions[k]`` of each class goes to split ``k``.

    E.g. ``(0.8, 0.2)`` train/validation, ``(0.6, 0.2, 0.2)`` train/validation/test,
    ``(0.7, 0.2, 0.1)`` as Jiang et al. Counts are rounded per class; the last split takes
    the remainder. Same seed and labels, same split.
    """
    if not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    split = np.full(len(labels), len(fractions) - 1, dtype=np.int8)
    bounds = np.cumsum(fractions)[:-1]
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        cuts = np.round(bounds * idx.size).astype(int)
        for k, part in enumerate(np.split(idx, cuts)[:-1]):
            split[part] = k
    return split


def stratified_folds(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold number (0..k-1) of every row for stratified k-fold cross-validation."""
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {k}")
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), dtype=np.int8)
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        fold[idx] = np.arange(idx.size) % k
    return fold
