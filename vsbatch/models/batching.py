"""Device choice and batched inference shared by every model kind."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def count_parameters(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def resolve_device(device: str = "auto") -> torch.device:
    """``auto``: the first CUDA device when there is one, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def outputs_in_batches(
    model: nn.Module,
    x: np.ndarray | tuple[np.ndarray, ...],
    *,
    batch_size: int = 1024,
    device: str = "auto",
) -> np.ndarray:
    """Model outputs (float64, first axis = rows of ``x``), batch by batch.

    ``x`` is one array or a tuple of arrays (models with several inputs), rows along the first
    axis. On ``torch.cuda.OutOfMemoryError`` the batch size is halved and the batch retried,
    down to one row, so a small GPU (or one shared with other workers) still finishes.
    """
    inputs = x if isinstance(x, tuple) else (x,)
    n = len(inputs[0])
    dev = resolve_device(device)
    model = model.to(dev).eval()
    parts: list[np.ndarray] = []
    start, size = 0, max(1, int(batch_size))
    with torch.inference_mode():
        while start < n:
            chunk = [torch.from_numpy(np.ascontiguousarray(a[start : start + size])).to(dev)
                     for a in inputs]  # fmt: skip
            try:
                parts.append(model(*chunk).double().cpu().numpy())
            except torch.cuda.OutOfMemoryError:
                if size == 1:
                    raise
                del chunk
                torch.cuda.empty_cache()
                size //= 2
                continue
            start += len(chunk[0])
    return np.concatenate(parts) if parts else np.empty(0)
