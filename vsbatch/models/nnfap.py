"""NN-FAP: a GRU stack that reads a phase-folded light curve and says whether it is periodic.

Miller et al. (Sect. 2) use 13 GRU layers of 1024 units (Keras) ending in one
sigmoid unit trained with binary cross-entropy against FAP = 0 for periodic and FAP = 1 for
aperiodic curves, so their network outputs the FAP directly. Here the network outputs the logit
of P(periodic) and ``NN-FAP = 1 - P(periodic) = sigmoid(-logit)``: the same number, computed
without the cancellation of ``1 - p`` when p is close to 1. The paper found the architecture
"not crucial" ("enough" GRUs suffice); the default is 2 x 64 (38,465 parameters; the paper's
13 x 1024 has 78,736,385 and is ``NnfapModel(hidden=1024, layers=13)``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.status import STATUS_REASONS, KernelStatus
from vsbatch.models.batching import count_parameters, outputs_in_batches
from vsbatch.represent.nnfap import CHANNELS, fold_cycles, nnfap_input

if TYPE_CHECKING:
    from vsbatch.models.loaded import Artifact

REPRESENTATION_KEYS = ("n_points", "err_cut", "err_cut_k", "min_points", "knn_k", "padding")


class NnfapModel(nn.Module):
    """GRU layers over the (n, 200, 4) NN-FAP sequence; the last state -> logit of periodic."""

    def __init__(
        self, input_channels: int = len(CHANNELS), hidden: int = 64, layers: int = 2,
        dropout: float = 0.0,
    ) -> None:  # fmt: skip
        super().__init__()
        self.input_channels, self.hidden, self.layers, self.dropout = (
            input_channels, hidden, layers, dropout,
        )  # fmt: skip
        self.gru = nn.GRU(
            input_channels, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0
        )
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logit of P(periodic), shape (n,)."""
        _, h = self.gru(x)
        return self.head(h[-1]).squeeze(-1)

    def architecture(self) -> dict:
        """What the model card records to rebuild this module."""
        return {
            "class": "NnfapModel",
            "input_channels": self.input_channels,
            "hidden": self.hidden,
            "layers": self.layers,
            "dropout": self.dropout,
            "parameters": count_parameters(self),
        }

    @classmethod
    def from_architecture(cls, arch: dict) -> NnfapModel:
        return cls(
            int(arch.get("input_channels", len(CHANNELS))),
            int(arch["hidden"]),
            int(arch["layers"]),
            float(arch.get("dropout", 0.0)),
        )


@dataclass(frozen=True)
class _Scores:
    fap: np.ndarray
    p_periodic: np.ndarray
    status: np.ndarray
    n_points: np.ndarray


def _scores(
    artifact: Artifact, lcs: LightCurves, frequency: np.ndarray | float, batch_size: int,
    device: str, phase_shifts: int = 0, seed: int = 0,
) -> _Scores:  # fmt: skip
    """NN-FAP and P(periodic) per light curve (averaged over phase shifts), NaN if unscored."""
    rep = {k: v for k, v in artifact.card["representation"].items() if k in REPRESENTATION_KEYS}
    batch = nnfap_input(lcs, frequency, phase_shifts=phase_shifts, seed=seed, **rep)
    ok = batch.status == KernelStatus.OK
    logits = np.full(len(batch.status), np.nan)
    if ok.any():
        logits[ok] = outputs_in_batches(
            artifact.model, batch.x[ok], batch_size=batch_size, device=device
        )
    copies, n = max(1, int(phase_shifts)), lcs.n_segments
    return _Scores(
        fap=(1.0 / (1.0 + np.exp(logits))).reshape(n, copies).mean(axis=1),
        p_periodic=(1.0 / (1.0 + np.exp(-logits))).reshape(n, copies).mean(axis=1),
        status=batch.status.reshape(n, copies)[:, 0].copy(),
        n_points=batch.n_points.reshape(n, copies)[:, 0].copy(),
    )


@dataclass(frozen=True)
class NnfapPrediction:
    """Per light curve of the input batch; NaN where ``status`` is not OK."""

    fap: np.ndarray  # float64, NN-FAP = 1 - P(periodic)
    p_periodic: np.ndarray  # float64
    status: np.ndarray  # int8 KernelStatus (TOO_FEW_POINTS, BAD_FREQUENCY)
    n_points: np.ndarray  # int32 epochs kept by the error cut
    n_cycles: np.ndarray  # float64 baseline x frequency (the paper trusts NN-FAP from 2 up)
    alias_window: np.ndarray  # float64 strongest spectral window within 2/T of the frequency
    few_cycles: np.ndarray  # bool: the fold samples (an alias of) fewer than two cycles

    def reasons(self) -> list[str]:
        """Failure text of each light curve (``"ok"`` where scored)."""
        return [STATUS_REASONS[KernelStatus(int(s))] for s in self.status]

    @property
    def catalog_fap(self) -> np.ndarray:
        """The FAP users read: the network's, but 1 where the fold samples (an alias of) fewer
        than two cycles, since no fold judge can tell one cycle of a transient from a period
        (Miller et al. Sect. 3.2); NaN stays NaN."""
        return np.where(self.few_cycles & np.isfinite(self.fap), 1.0, self.fap)


def predict_nnfap(
    artifact: Artifact,
    lcs: LightCurves,
    frequency: np.ndarray | float,
    *,
    batch_size: int = 1024,
    device: str = "auto",
    phase_shifts: int = 0,
    seed: int = 0,
) -> NnfapPrediction:
    """NN-FAP of every light curve of ``lcs`` folded at ``frequency`` (c/d, scalar or per curve).

    Why: the inference stage calls this once per partition. The representation parameters
    (error cut, 200 points, padding, ...) come from the artifact's model card so inference
    always matches training. ``phase_shifts > 0`` averages P(periodic) over that many seeded
    random phase shifts (test-time augmentation; the paper uses one fold). ``few_cycles``
    marks folds NN-FAP cannot judge (fewer than two cycles, or an alias of such a fold; see
    :func:`vsbatch.represent.nnfap.fold_cycles`): ``fap`` is the network's, ``catalog_fap`` is 1
    there.
    """
    scores = _scores(artifact, lcs, frequency, batch_size, device, phase_shifts, seed)
    cycles = fold_cycles(lcs, frequency)
    return NnfapPrediction(
        fap=scores.fap,
        p_periodic=scores.p_periodic,
        status=scores.status,
        n_points=scores.n_points,
        n_cycles=cycles.n_cycles,
        alias_window=cycles.alias_window,
        few_cycles=cycles.few_cycles,
    )


@dataclass(frozen=True)
class NnfapPeriodogram:
    """NN-FAP of one light curve folded at every frequency of a grid (Miller et al. Sect. 6)."""

    frequency: np.ndarray  # float64, c/d
    fap: np.ndarray  # float64 NN-FAP per frequency (NaN where the fold cannot be scored)

    @property
    def best_frequency(self) -> float:
        """The frequency whose fold NN-FAP finds most periodic (lowest NN-FAP)."""
        return float(self.frequency[np.nanargmin(self.fap)])


def nnfap_periodogram(
    artifact: Artifact,
    lcs: LightCurves,
    frequency: np.ndarray | None = None,
    *,
    maximum_frequency: float = 25.0,
    samples_per_peak: float = 5.0,
    batch_size: int = 4096,
    device: str = "auto",
) -> NnfapPeriodogram:
    """NN-FAP over a grid of trial frequencies for the single light curve in ``lcs``.

    Why: the paper replaces the Lomb-Scargle power by NN-FAP over the whole grid to find
    periods LS misses (their Fig. 11). The default grid is the one the period stage searches
    for this curve (:func:`vsbatch.kernels.periodogram.frequency_grid`); frequencies are
    scored ``batch_size`` at a time, so memory stays bounded for grids of any length.
    """
    from vsbatch.kernels.periodogram import frequency_grid

    if lcs.n_segments != 1:
        raise ValueError(f"one light curve expected, got {lcs.n_segments}")
    if frequency is None:
        grid = frequency_grid(
            lcs, maximum_frequency=maximum_frequency, samples_per_peak=samples_per_peak
        )
        frequency = grid.frequencies(0)
    frequency = np.asarray(frequency, dtype=np.float64)
    fap = np.full(frequency.size, np.nan)
    for lo in range(0, frequency.size, batch_size):
        chunk = frequency[lo : lo + batch_size]
        copies = lcs.take(np.zeros(chunk.size, dtype=np.int64))
        fap[lo : lo + chunk.size] = _scores(artifact, copies, chunk, batch_size, device).fap
    return NnfapPeriodogram(frequency, fap)


YEAR = 365.25  # days: the yearly alias is f +/- 1/YEAR
ALIAS_TERMS = ((1.0, 1.0), (1.0, -1.0), (1.0, 1.0 / YEAR), (1.0, -1.0 / YEAR), (2.0, 0.0),
               (0.5, 0.0))  # fmt: skip
"""(factor, shift): the aliases ``factor * f + shift`` of a candidate (1 c/d, yearly, 2f, f/2)."""


def candidate_frequencies(
    lcs: LightCurves, k: int = 64, *, aliases: bool = True, maximum_frequency: float = 25.0,
    samples_per_peak: float = 5.0,
) -> np.ndarray:  # fmt: skip
    """(n, m) trial frequencies per light curve: its ``k`` highest GLS peaks on the period
    stage's grid and, with ``aliases``, their 1 c/d, yearly, double and half aliases inside the
    grid's range; NaN-padded. Why: the true period of a real star is nearly always one of
    these, so NN-FAP need not score the whole grid."""
    from vsbatch.kernels.periodogram import frequency_grid, gls_power, top_peaks

    grid = frequency_grid(lcs, maximum_frequency=maximum_frequency,
                          samples_per_peak=samples_per_peak)  # fmt: skip
    peaks = top_peaks(gls_power(lcs, grid), k).frequency
    if not aliases:
        return peaks
    terms = np.array(ALIAS_TERMS)
    alias = peaks[:, :, None] * terms[:, 0] + terms[:, 1]
    inside = (alias >= grid.minimum_frequency[:, None, None]) & (
        alias <= grid.maximum_frequency[:, None, None])  # fmt: skip
    alias = np.where(inside, alias, np.nan).reshape(len(peaks), peaks.shape[1] * len(terms))
    return np.concatenate([peaks, alias], axis=1)


@dataclass(frozen=True)
class NnfapTopK:
    """NN-FAP of every light curve at its GLS candidates (see :func:`nnfap_top_k`)."""

    frequency: np.ndarray  # (n, m) c/d, NaN-padded
    fap: np.ndarray  # (n, m) the network's NN-FAP (NaN where not scored)
    few_cycles: np.ndarray  # (n, m) bool: the fold samples (an alias of) fewer than two cycles

    def best(self, *, rule: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(frequency, NN-FAP) of the most periodic-looking candidate per light curve; with
        ``rule`` few-cycle folds count as FAP 1 (the catalog's ``nnfap_fap``)."""
        fap = np.where(self.few_cycles, 1.0, self.fap) if rule else self.fap
        fap = np.where(np.isfinite(fap), fap, np.inf)
        j = np.argmin(fap, axis=1)
        rows = np.arange(len(j))
        found = np.isfinite(fap[rows, j])
        return (np.where(found, self.frequency[rows, j], np.nan),
                np.where(found, fap[rows, j], np.nan))  # fmt: skip


def nnfap_top_k(
    artifact: Artifact, lcs: LightCurves, k: int = 64, *, aliases: bool = True,
    maximum_frequency: float = 25.0, samples_per_peak: float = 5.0, batch_size: int = 4096,
    device: str = "auto", max_epochs_per_batch: int = 4_000_000,
) -> NnfapTopK:  # fmt: skip
    """The NN-FAP periodogram at catalog speed: every light curve of ``lcs`` folded at its
    :func:`candidate_frequencies` and scored in batches of many curves (at most
    ``max_epochs_per_batch`` copied epochs each, so memory stays bounded)."""
    freq = candidate_frequencies(lcs, k, aliases=aliases, maximum_frequency=maximum_frequency,
                                 samples_per_peak=samples_per_peak)  # fmt: skip
    seg, col = np.nonzero(np.isfinite(freq))
    fap = np.full(freq.shape, np.nan)
    few = np.zeros(freq.shape, dtype=bool)
    epochs = lcs.counts[seg]
    batch = (np.cumsum(epochs) - epochs) // max_epochs_per_batch
    edges = np.r_[np.flatnonzero(np.diff(batch, prepend=-1) > 0), seg.size]
    for lo, hi in itertools.pairwise(edges):
        s, c = seg[lo:hi], col[lo:hi]
        copies = lcs.take(s)
        fap[s, c] = _scores(artifact, copies, freq[s, c], batch_size, device).fap
        few[s, c] = fold_cycles(copies, freq[s, c]).few_cycles
    return NnfapTopK(freq, fap, few)
