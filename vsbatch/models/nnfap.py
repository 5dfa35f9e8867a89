"""NN-FAP: a GRU stack that reads a phase-folded light curve and says whether it is periodic.

Miller et al. (seeds/003 Sect. 2) use 13 GRU layers of 1024 units (Keras) ending in one
sigmoid unit trained with binary cross-entropy against FAP = 0 for periodic and FAP = 1 for
aperiodic curves, so their network outputs the FAP directly. Here the network outputs the logit
of P(periodic) and ``NN-FAP = 1 - P(periodic) = sigmoid(-logit)``: the same number, computed
without the cancellation of ``1 - p`` when p is close to 1. The paper found the architecture
"not crucial" ("enough" GRUs suffice); the default is 2 x 64 (38,465 parameters; the paper's
13 x 1024 has 78,736,385 and is ``NnfapModel(hidden=1024, layers=13)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from vsbatch.kernels.arrays import LightCurves
from vsbatch.kernels.status import STATUS_REASONS, KernelStatus
from vsbatch.represent import CHANNELS, fold_cycles, nnfap_input

if TYPE_CHECKING:
    from vsbatch.models.artifacts import Artifact

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


def count_parameters(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def resolve_device(device: str = "auto") -> torch.device:
    """``auto``: the first CUDA device when there is one, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


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


def logits_in_batches(
    model: nn.Module, x: np.ndarray, *, batch_size: int = 1024, device: str = "auto"
) -> np.ndarray:
    """Model logits of ``x`` (n, steps, channels), batch by batch.

    On ``torch.cuda.OutOfMemoryError`` the batch size is halved and the batch retried, down to
    one row, so a small GPU (or one shared with other workers) still finishes the partition.
    """
    dev = resolve_device(device)
    model = model.to(dev).eval()
    out = np.empty(len(x), dtype=np.float64)
    start, size = 0, max(1, int(batch_size))
    with torch.inference_mode():
        while start < len(x):
            chunk = torch.from_numpy(np.ascontiguousarray(x[start : start + size])).to(dev)
            try:
                out[start : start + len(chunk)] = model(chunk).double().cpu().numpy()
            except torch.cuda.OutOfMemoryError:
                if size == 1:
                    raise
                del chunk
                torch.cuda.empty_cache()
                size //= 2
                continue
            start += len(chunk)
    return out


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
    :func:`vsbatch.represent.fold_cycles`): the FAP is still returned, flag them downstream.
    """
    rep = {k: v for k, v in artifact.card["representation"].items() if k in REPRESENTATION_KEYS}
    batch = nnfap_input(lcs, frequency, phase_shifts=phase_shifts, seed=seed, **rep)
    ok = batch.status == KernelStatus.OK
    logits = np.full(len(batch.status), np.nan)
    if ok.any():
        logits[ok] = logits_in_batches(
            artifact.model, batch.x[ok], batch_size=batch_size, device=device
        )
    p_rows = 1.0 / (1.0 + np.exp(-logits))
    fap_rows = 1.0 / (1.0 + np.exp(logits))
    copies = max(1, int(phase_shifts))
    n = lcs.n_segments
    p = p_rows.reshape(n, copies).mean(axis=1)
    fap = fap_rows.reshape(n, copies).mean(axis=1)
    cycles = fold_cycles(lcs, frequency)
    return NnfapPrediction(
        fap=fap,
        p_periodic=p,
        status=batch.status.reshape(n, copies)[:, 0].copy(),
        n_points=batch.n_points.reshape(n, copies)[:, 0].copy(),
        n_cycles=cycles.n_cycles,
        alias_window=cycles.alias_window,
        few_cycles=cycles.few_cycles,
    )
