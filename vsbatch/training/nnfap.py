"""Training of the NN-FAP network (Miller et al., seeds/003 Sect. 2).

As the paper: binary cross-entropy, Adam, 20 % of the data held out for validation, every
training curve shown with 10 random phase shifts, early stopping when the validation loss
changes by less than 1e-5 between epochs. Additions, each recorded in the card: the split is by
light curve (stratified), not by shifted copy, so no curve is on both sides; validation uses
the unshifted fold (what inference sees); training also stops after ``patience`` epochs without
a new best validation loss or at ``epochs``; the weights of the best validation epoch are kept.

Reproducible: one ``seed`` drives the split, the phase shifts, the initial weights and the
batch order; torch runs with deterministic algorithms. On the CPU the same seed and thread
count give the same weights.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from vsbatch.kernels.status import KernelStatus
from vsbatch.models.artifacts import Artifact, save_artifact, table_fingerprint
from vsbatch.models.nnfap import NnfapModel, count_parameters, logits_in_batches, resolve_device
from vsbatch.represent import (
    CHANNELS,
    ERR_CUT_K,
    KNN_K,
    MAG_CLIP,
    MIN_POINTS,
    N_POINTS,
    light_curves_from_table,
    nnfap_input,
)
from vsbatch.training.metrics import evaluate_binary

CLASS_NAMES = ["aperiodic", "periodic"]


@dataclass(frozen=True)
class NnfapTrainingConfig:
    """Everything that decides the trained weights (written to the card)."""

    seed: int = 0
    epochs: int = 30
    batch_size: int = 128
    hidden: int = 64
    layers: int = 2
    dropout: float = 0.0
    learning_rate: float = 1e-3
    val_fraction: float = 0.2
    phase_shifts: int = 10
    min_delta: float = 1e-5
    patience: int = 4
    err_cut: float | str | None = "auto"
    err_cut_k: float = ERR_CUT_K
    min_points: int = MIN_POINTS
    padding: str = "pre"
    fold_column: str = "fold_period"
    threads: int | None = None


def labels_of(keys: pa.Table) -> np.ndarray:
    """1 for periodic, 0 for aperiodic, from ``is_periodic`` or a ``label`` column."""
    if "is_periodic" in keys.column_names:
        return keys.column("is_periodic").to_numpy(zero_copy_only=False).astype(np.int8)
    labels = [str(v).lower() for v in keys.column("label").to_pylist()]
    return np.array([lab in ("periodic", "1", "true") for lab in labels], dtype=np.int8)


def stratified_split(y: np.ndarray, val_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the validation curves: ``val_fraction`` of each class, seeded."""
    rng = np.random.default_rng(seed)
    val = np.zeros(y.size, dtype=bool)
    for cls in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == cls))
        val[idx[: int(round(val_fraction * idx.size))]] = True
    return val


def _representation(cfg: NnfapTrainingConfig) -> dict:
    return {
        "name": "nnfap_sequence",
        "module": "vsbatch.represent.nnfap_input",
        "channels": list(CHANNELS),
        "n_points": N_POINTS,
        "err_cut": cfg.err_cut,
        "err_cut_k": cfg.err_cut_k,
        "min_points": cfg.min_points,
        "knn_k": KNN_K,
        "padding": cfg.padding,
        "mag_scaling": f"(m - q1) / (q99 - q1) clipped to {list(MAG_CLIP)}",
        "cut": "even stride in time order to n_points",
        "train_phase_shifts": cfg.phase_shifts,
    }


def train_nnfap(
    table: pa.Table,
    out_dir: str | Path,
    *,
    seed: int = 0,
    epochs: int = 30,
    batch_size: int = 128,
    hidden: int = 64,
    layers: int = 2,
    val_fraction: float = 0.2,
    patience: int = 4,
    min_delta: float = 1e-5,
    learning_rate: float = 1e-3,
    phase_shifts: int = 10,
    device: str = "auto",
    threads: int | None = None,
    name: str = "nnfap",
    version: str = "1.0.0",
    command: str | None = None,
    card_extra: dict | None = None,
    log: Callable[[str], None] | None = print,
    **representation: object,
) -> Artifact:
    """Train NN-FAP on a labelled long table and save the artifact to ``out_dir``.

    ``table``: long format (source_id, time, mag, mag_err[, band]) with, per source,
    ``is_periodic`` (or ``label`` periodic/aperiodic) and ``fold_period`` (days), e.g. from
    :func:`vsbatch.injection.make_nnfap_training_set`. ``representation`` may override
    ``err_cut``, ``err_cut_k``, ``min_points``, ``padding``. ``device="auto"`` takes CUDA when
    available. ``card_extra`` adds fields to the model card. Returns the saved artifact
    (weights of the best validation epoch).
    """
    cfg = NnfapTrainingConfig(
        seed=seed, epochs=epochs, batch_size=batch_size, hidden=hidden, layers=layers,
        learning_rate=learning_rate, val_fraction=val_fraction, phase_shifts=phase_shifts,
        min_delta=min_delta, patience=patience, threads=threads,
        **representation,  # type: ignore[arg-type]
    )  # fmt: skip
    say = log or (lambda _msg: None)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    dev = resolve_device(device)
    t_start = time.perf_counter()

    lcs, keys = light_curves_from_table(table, _per_source_columns(table, cfg.fold_column))
    y = labels_of(keys)
    freq = 1.0 / keys.column(cfg.fold_column).to_numpy(zero_copy_only=False).astype(float)
    val = stratified_split(y, cfg.val_fraction, cfg.seed)
    rep = {"err_cut": cfg.err_cut, "err_cut_k": cfg.err_cut_k, "min_points": cfg.min_points,
           "padding": cfg.padding}  # fmt: skip
    train_idx, val_idx = np.flatnonzero(~val), np.flatnonzero(val)
    tr = nnfap_input(lcs.take(train_idx), freq[train_idx], phase_shifts=cfg.phase_shifts,
                     seed=cfg.seed, **rep)  # fmt: skip
    va = nnfap_input(lcs.take(val_idx), freq[val_idx], phase_shifts=0, **rep)
    tr_ok, va_ok = tr.status == KernelStatus.OK, va.status == KernelStatus.OK
    x_tr = torch.from_numpy(tr.x[tr_ok])
    y_tr = torch.from_numpy(y[train_idx][tr.segment[tr_ok]].astype(np.float32))
    x_va, y_va = va.x[va_ok], y[val_idx][va_ok]
    say(
        f"train_nnfap: {len(train_idx)} train / {len(val_idx)} validation curves, "
        f"{int(tr_ok.sum())} training rows ({cfg.phase_shifts} phase shifts), "
        f"{int((~tr_ok).sum()) // max(cfg.phase_shifts, 1) + int((~va_ok).sum())} curves "
        f"unusable, device {dev}"
    )

    model = NnfapModel(len(CHANNELS), cfg.hidden, cfg.layers, cfg.dropout).to(dev)
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    loss_fn = nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(cfg.seed)
    curve: list[dict] = []
    best_loss, best_state, best_epoch, stale = np.inf, None, 0, 0
    stop_reason = f"max epochs ({cfg.epochs})"
    prev_val = np.inf
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(x_tr), generator=gen)
        total, count = 0.0, 0
        for lo in range(0, len(order), cfg.batch_size):
            idx = order[lo : lo + cfg.batch_size]
            xb, yb = x_tr[idx].to(dev), y_tr[idx].to(dev)
            optimiser.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        val_logits = logits_in_batches(model, x_va, batch_size=1024, device=str(dev))
        val_loss = _bce(val_logits, y_va)
        val_acc = float(((val_logits > 0) == (y_va == 1)).mean()) if y_va.size else float("nan")
        curve.append({
            "epoch": epoch, "train_loss": total / max(count, 1), "val_loss": val_loss,
            "val_acc": val_acc, "seconds": time.perf_counter() - t0,
        })  # fmt: skip
        say(
            f"epoch {epoch:3d}  train {curve[-1]['train_loss']:.4f}  val {val_loss:.4f}  "
            f"acc {val_acc:.4f}  {curve[-1]['seconds']:.1f} s"
        )
        if val_loss < best_loss:
            best_loss, best_epoch, stale = val_loss, epoch, 0
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        if abs(prev_val - val_loss) < cfg.min_delta:
            stop_reason = f"validation loss changed by < {cfg.min_delta} (paper's rule)"
            break
        if stale >= cfg.patience:
            stop_reason = f"no better validation loss for {cfg.patience} epochs"
            break
        prev_val = val_loss
    if best_state is not None:
        model.load_state_dict(best_state)
    model = model.cpu().eval()

    val_logits = logits_in_batches(model, x_va, batch_size=1024, device="cpu")
    metrics = evaluate_binary(y_va, 1.0 / (1.0 + np.exp(-val_logits)))
    metrics.pop("roc")
    metrics.update(
        {"split": "validation (unshifted folds)", "best_epoch": best_epoch,
         "val_loss": best_loss, "stop_reason": stop_reason,
         "train_seconds": round(time.perf_counter() - t_start, 1)}
    )  # fmt: skip
    arch = model.architecture()
    training_data = {
        "fingerprint": table_fingerprint(table),
        "n_curves": int(lcs.n_segments),
        "n_periodic": int(y.sum()),
        "n_aperiodic": int((y == 0).sum()),
        "n_rows": int(table.num_rows),
        "n_train_rows": int(tr_ok.sum()),
        "n_validation_curves": int(va_ok.sum()),
    }
    if "kind" in table.column_names:
        kinds = _per_source_counts(keys, table)
        training_data["kinds"] = kinds
    return save_artifact(
        model,
        out_dir,
        name=name,
        kind="nnfap",
        version=version,
        architecture=arch,
        representation=_representation(cfg),
        class_names=CLASS_NAMES,
        training_data=training_data,
        command=command or " ".join(shlex.quote(a) for a in sys.argv),
        metrics=metrics,
        training_curve=curve,
        extra={
            "output": "sigmoid(logit) = P(periodic); NN-FAP = 1 - P(periodic) (seeds/003)",
            "training_config": asdict(cfg),
            "device": str(dev),
            "parameters_note": f"{count_parameters(model)} parameters "
            f"({cfg.layers} x GRU({cfg.hidden}) + linear head)",
            **(card_extra or {}),
        },
    )


def _bce(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean binary cross-entropy from logits (stable form)."""
    if y.size == 0:
        return float("nan")
    return float(np.mean(np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits)))))


def _per_source_columns(table: pa.Table, fold_column: str) -> tuple[str, ...]:
    cols = [fold_column]
    cols += [c for c in ("is_periodic", "label", "kind") if c in table.column_names]
    return tuple(cols)


def _per_source_counts(keys: pa.Table, table: pa.Table) -> dict[str, int]:
    values, counts = np.unique(np.array(keys.column("kind").to_pylist(), dtype=str),
                               return_counts=True)  # fmt: skip
    return {str(v): int(c) for v, c in zip(values, counts, strict=True)}
