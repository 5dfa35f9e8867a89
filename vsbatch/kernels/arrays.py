"""The flat-arrays-plus-offsets container every kernel works on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


def per_segment(value: ArrayLike, n_segments: int, name: str, dtype=np.float64) -> np.ndarray:
    """Broadcast a scalar, or check a length-``n_segments`` array, for a per-segment argument."""
    arr = np.asarray(value, dtype=dtype)
    if arr.ndim == 0:
        return np.full(n_segments, arr, dtype=dtype)
    if arr.shape != (n_segments,):
        raise ValueError(f"{name} must be a scalar or have shape ({n_segments},), got {arr.shape}")
    return np.ascontiguousarray(arr)


@dataclass(frozen=True)
class LightCurves:
    """Many light curves (one segment per source and band) as flat arrays + offsets.

    ``time`` in days, ``mag`` and ``err`` in magnitudes; epochs of each segment sorted by time.
    Built zero-copy from Arrow list columns in the stages, or from NumPy arrays in notebooks.
    """

    offsets: np.ndarray  # int64, length n_segments + 1, offsets[0] == 0
    time: np.ndarray  # float64
    mag: np.ndarray  # float64
    err: np.ndarray  # float64

    def __post_init__(self) -> None:
        n = self.offsets[-1] if len(self.offsets) else 0
        if not (len(self.time) == len(self.mag) == len(self.err) == n):
            raise ValueError(
                f"flat arrays have lengths {len(self.time)}, {len(self.mag)}, {len(self.err)}; "
                f"offsets end at {n}"
            )

    @property
    def n_segments(self) -> int:
        return len(self.offsets) - 1

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def time_span(self) -> np.ndarray:
        """Last minus first epoch of every segment (epochs are sorted); 0 for empty ones."""
        first, last = self.offsets[:-1], self.offsets[1:] - 1
        span = np.zeros(self.n_segments)
        has = last >= first
        span[has] = self.time[last[has]] - self.time[first[has]]
        return span

    def segment(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(time, mag, err) views of segment ``i``."""
        lo, hi = self.offsets[i], self.offsets[i + 1]
        return self.time[lo:hi], self.mag[lo:hi], self.err[lo:hi]

    def take(self, segments: np.ndarray) -> LightCurves:
        """A new batch holding the given segments, in the given order."""
        segments = np.asarray(segments, dtype=np.int64)
        counts = self.counts[segments]
        offsets = np.zeros(len(segments) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        # epoch indices: for each chosen segment, its start + arange(count)
        epochs = np.repeat(self.offsets[segments] - offsets[:-1], counts) + np.arange(offsets[-1])
        return LightCurves(offsets, self.time[epochs], self.mag[epochs], self.err[epochs])

    @classmethod
    def from_segments(
        cls, segments: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]
    ) -> LightCurves:
        """Concatenate (time, mag, err) triples; each is sorted by time here."""
        counts = np.array([len(t) for t, _, _ in segments], dtype=np.int64)
        offsets = np.zeros(len(segments) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        parts = []
        for t, m, e in segments:
            order = np.argsort(t, kind="stable")
            parts.append(tuple(np.asarray(a, np.float64)[order] for a in (t, m, e)))
        if not parts:
            empty = np.zeros(0, dtype=np.float64)
            return cls(offsets, empty, empty.copy(), empty.copy())
        time, mag, err = (np.concatenate(col) for col in zip(*parts, strict=True))
        return cls(offsets, time, mag, err)
