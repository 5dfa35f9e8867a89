"""The training loop every model kind uses: seeded epochs, best-validation-epoch weights,
early stopping, a training curve for the card, and data-parallel training across processes.

Why one loop: NN-FAP, the type classifiers and the Blazhko ResNet differ in networks, losses
and optimisers, not in how epochs, validation, stopping and reproducibility work. Inputs are a
tensor or a tuple of tensors (a hybrid model takes two), indexed along the first axis.

Data parallel (torch DistributedDataParallel semantics): with ``world_size`` ranks, rank ``r``
holds its own training rows; every step each rank takes ``batch_size`` rows of its own
(permutation seeded per rank and epoch), gradients are averaged across ranks, and every rank
takes the same optimiser step. Each rank's rows per epoch are cut to the smallest rank's
count so that all ranks take the same number of equal-sized steps; averaging equal-sized
per-rank mean losses is then the mean loss of the union, which is what
:func:`fit` with ``virtual_ranks`` computes in one process: the two give the same weights up
to floating-point summation order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

Inputs = torch.Tensor | tuple[torch.Tensor, ...]


def _take(x: Inputs, idx: torch.Tensor, device: torch.device) -> Inputs:
    if isinstance(x, tuple):
        return tuple(t[idx].to(device) for t in x)
    return x[idx].to(device)


def _length(x: Inputs) -> int:
    return len(x[0]) if isinstance(x, tuple) else len(x)


def _forward(model: nn.Module, x: Inputs) -> torch.Tensor:
    return model(*x) if isinstance(x, tuple) else model(x)


@dataclass(frozen=True)
class FitConfig:
    """What decides the trained weights besides the data (recorded in the model card)."""

    epochs: int = 30
    batch_size: int = 128
    seed: int = 0
    patience: int = 5  # epochs without a new best validation loss before stopping
    min_delta: float = 0.0  # stop when |val_loss - previous val_loss| < min_delta (0: off)
    eval_batch_size: int = 1024


@dataclass
class FitResult:
    """The fitted model (best validation epoch loaded) and how training went."""

    model: nn.Module
    curve: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = float("nan")
    stop_reason: str = ""
    seconds: float = 0.0


@torch.no_grad()
def predict(
    model: nn.Module, x: Inputs, *, batch_size: int = 1024, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """Model outputs for every row of ``x`` in batches (eval mode), on the CPU."""
    model.eval()
    dev = torch.device(device)
    n = _length(x)
    outs = [
        _forward(model, _take(x, torch.arange(lo, min(lo + batch_size, n)), dev)).cpu()
        for lo in range(0, n, batch_size)
    ]
    return torch.cat(outs) if outs else torch.empty(0)


def _rank_order(n: int, seed: int, epoch: int, rank: int, keep: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch * 1009 + rank)
    return torch.randperm(n, generator=gen)[:keep]


def fit(
    model: nn.Module,
    train: Sequence[tuple[Inputs, torch.Tensor]],
    validation: tuple[Inputs, torch.Tensor],
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimiser: torch.optim.Optimizer,
    config: FitConfig,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    device: str | torch.device = "cpu",
    log: Callable[[str], None] | None = None,
    distributed: tuple[int, int] | None = None,
) -> FitResult:
    """Train ``model`` and keep the weights of the epoch with the lowest validation loss.

    ``train`` is a list of ``(inputs, targets)``, one per rank: a single element for ordinary
    training, several for ``virtual_ranks`` in one process (see the module docstring). With
    ``distributed=(rank, world_size)`` a torch.distributed process group must be initialised
    and ``train`` holds this rank's rows only; the model is wrapped in DistributedDataParallel.
    Validation loss is ``loss_fn`` on all of ``validation`` (every rank computes the same).
    """
    say = log or (lambda _msg: None)
    dev = torch.device(device)
    model.to(dev)
    started = time.perf_counter()
    rank = distributed[0] if distributed else 0
    ranks = range(len(train)) if distributed is None else [rank]
    sizes = torch.tensor([_length(x) for x, _ in train], dtype=torch.int64)
    per_rank = int(sizes.min())
    if distributed is not None:
        import torch.distributed as dist

        shared = sizes.clone()
        dist.all_reduce(shared, op=dist.ReduceOp.MIN)
        per_rank = int(shared)
    if per_rank == 0:
        raise ValueError("a rank has no training rows")
    net = model if distributed is None else nn.parallel.DistributedDataParallel(model)
    x_va, y_va = validation
    result = FitResult(model)
    best_state, best, stale, prev = None, np.inf, 0, np.inf
    result.stop_reason = f"max epochs ({config.epochs})"
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        orders = {r: _rank_order(_length(train[i][0]), config.seed, epoch, r, per_rank)
                  for i, r in enumerate(ranks)}  # fmt: skip
        total = 0.0
        for lo in range(0, per_rank, config.batch_size):
            optimiser.zero_grad()
            xs, ys = [], []
            for i, r in enumerate(ranks):
                idx = orders[r][lo : lo + config.batch_size]
                xs.append(_take(train[i][0], idx, dev))
                ys.append(train[i][1][idx].to(dev))
            if len(xs) == 1:
                xb, yb = xs[0], ys[0]
            elif isinstance(xs[0], tuple):
                xb = tuple(torch.cat(parts) for parts in zip(*xs, strict=True))
                yb = torch.cat(ys)
            else:
                xb, yb = torch.cat(xs), torch.cat(ys)
            loss = loss_fn(_forward(net, xb), yb)
            loss.backward()  # under DDP, backward averages the gradients across ranks
            optimiser.step()
            total += float(loss.detach()) * _length(xb)
        if scheduler is not None:
            scheduler.step()
        out = predict(model, x_va, batch_size=config.eval_batch_size, device=dev)
        val_loss = float(loss_fn(out, y_va)) if len(y_va) else float("nan")
        val_acc = _accuracy(out, y_va)
        result.curve.append({
            "epoch": epoch, "train_loss": total / (per_rank * len(ranks)), "val_loss": val_loss,
            "val_acc": val_acc, "seconds": round(time.perf_counter() - t0, 3),
        })  # fmt: skip
        say(f"epoch {epoch:3d}  train {result.curve[-1]['train_loss']:.4f}  val {val_loss:.4f}  "
            f"acc {val_acc:.4f}  {result.curve[-1]['seconds']:.1f} s")  # fmt: skip
        if val_loss < best:
            best, result.best_epoch, stale = val_loss, epoch, 0
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        if config.min_delta > 0 and abs(prev - val_loss) < config.min_delta:
            result.stop_reason = f"validation loss changed by < {config.min_delta}"
            break
        if stale >= config.patience:
            result.stop_reason = f"no better validation loss for {config.patience} epochs"
            break
        prev = val_loss
    if best_state is not None:
        model.load_state_dict(best_state)
    result.model = model.cpu().eval()
    result.best_val_loss = float(best)
    result.seconds = round(time.perf_counter() - started, 1)
    return result


def _accuracy(out: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of logits (binary: one logit per row; classes: one column per class)."""
    if len(y) == 0:
        return float("nan")
    pred = (out > 0).to(y.dtype) if out.ndim == 1 else out.argmax(dim=1)
    return float((pred == y).float().mean())
