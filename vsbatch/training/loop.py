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

Checkpoints (``fit(checkpoint=PATH)``): after every epoch the whole training state -- weights,
optimiser and scheduler state, epoch, best weights and validation loss, early-stopping
counters, training curve and the torch, NumPy and Python RNG states -- is written atomically
(temporary file, fsync, rename; rank 0 under DDP), so a killed process leaves the previous
epoch's checkpoint intact. ``resume=True`` restores it and continues: every epoch's batch order
is seeded by (seed, epoch, rank), so a resumed run reproduces the uninterrupted one. A
checkpoint is read with ``torch.load(weights_only=True)``: tensors and plain containers only,
nothing is unpickled.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vsbatch.io.catalog import atomic_path

Inputs = torch.Tensor | tuple[torch.Tensor, ...]
CHECKPOINT_FORMAT = 1


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
    resumed_after_epoch: int = 0  # epochs restored from a checkpoint (0: trained from scratch)


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


@contextlib.contextmanager
def rank_process_group(
    rank: int, world: int, init_method: str | None, device: str
) -> Iterator[tuple[int, int] | None]:
    """Rank ``rank`` of a ``world``-process torch.distributed group (gloo on CPUs, NCCL on
    GPUs) while the block runs. Yields what :func:`~vsbatch.training.loop.fit` takes as
    ``distributed``: ``(rank, world)``, or None for a single process (no group). Every kind
    that trains data-parallel enters it in the tasks of :meth:`Runner.run_ranks`."""
    if world == 1:
        yield None
        return
    import torch.distributed as dist

    dist.init_process_group("gloo" if device == "cpu" else "nccl", init_method=init_method,
                            rank=rank, world_size=world)  # fmt: skip
    try:
        yield rank, world
    finally:
        dist.destroy_process_group()


def _rank_order(n: int, seed: int, epoch: int, rank: int, keep: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch * 1009 + rank)
    return torch.randperm(n, generator=gen)[:keep]


def _rows_per_rank(
    train: Sequence[tuple[Inputs, torch.Tensor]], distributed: tuple[int, int] | None
) -> int:
    """Training rows every rank takes per epoch: the smallest rank's count (over all processes
    under DDP), so that all ranks take the same number of equal-sized steps."""
    sizes = torch.tensor([_length(x) for x, _ in train], dtype=torch.int64)
    per_rank = int(sizes.min())
    if distributed is not None:
        import torch.distributed as dist

        shared = sizes.clone()
        dist.all_reduce(shared, op=dist.ReduceOp.MIN)
        per_rank = int(shared)
    if per_rank == 0:
        raise ValueError("a rank has no training rows")
    return per_rank


def _fresh_state() -> dict:
    """The loop's counters before the first epoch (what a checkpoint stores besides tensors)."""
    return {"epoch": 0, "best_val_loss": np.inf, "best_epoch": 0, "best_state": None, "stale": 0,
            "prev": np.inf, "curve": [], "stop_reason": "", "seconds": 0.0}  # fmt: skip


def _batch(
    train: Sequence[tuple[Inputs, torch.Tensor]],
    ranks: Sequence[int],
    orders: dict[int, torch.Tensor],
    lo: int,
    batch_size: int,
    device: torch.device,
) -> tuple[Inputs, torch.Tensor]:
    """One step's rows: each rank's next ``batch_size`` rows, concatenated across the virtual
    ranks this process holds."""
    xs, ys = [], []
    for i, r in enumerate(ranks):
        idx = orders[r][lo : lo + batch_size]
        xs.append(_take(train[i][0], idx, device))
        ys.append(train[i][1][idx].to(device))
    if len(xs) == 1:
        return xs[0], ys[0]
    if isinstance(xs[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*xs, strict=True)), torch.cat(ys)
    return torch.cat(xs), torch.cat(ys)


def _train_epoch(
    net: nn.Module,
    train: Sequence[tuple[Inputs, torch.Tensor]],
    ranks: Sequence[int],
    epoch: int,
    per_rank: int,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimiser: torch.optim.Optimizer,
    config: FitConfig,
    device: torch.device,
) -> float:
    """One pass over every rank's rows in seeded order; the summed loss of the rows seen."""
    net.train()
    orders = {r: _rank_order(_length(train[i][0]), config.seed, epoch, r, per_rank)
              for i, r in enumerate(ranks)}  # fmt: skip
    total = 0.0
    for lo in range(0, per_rank, config.batch_size):
        optimiser.zero_grad()
        xb, yb = _batch(train, ranks, orders, lo, config.batch_size, device)
        loss = loss_fn(_forward(net, xb), yb)
        loss.backward()  # under DDP, backward averages the gradients across ranks
        optimiser.step()
        total += float(loss.detach()) * _length(xb)
    return total


def _update_state(state: dict, epoch: int, val_loss: float, model: nn.Module,
                  config: FitConfig) -> None:  # fmt: skip
    """Record an epoch's validation loss: keep the best weights, decide whether to stop."""
    state["epoch"] = epoch
    if val_loss < state["best_val_loss"]:
        state.update(best_val_loss=val_loss, best_epoch=epoch, stale=0, best_state={
            k: v.detach().cpu().clone() for k, v in model.state_dict().items()})  # fmt: skip
    else:
        state["stale"] += 1
    if config.min_delta > 0 and abs(state["prev"] - val_loss) < config.min_delta:
        state["stop_reason"] = f"validation loss changed by < {config.min_delta}"
    elif state["stale"] >= config.patience:
        state["stop_reason"] = f"no better validation loss for {config.patience} epochs"
    state["prev"] = val_loss


def _finish(result: FitResult, model: nn.Module, state: dict, config: FitConfig,
            started: float) -> FitResult:  # fmt: skip
    """Load the best epoch's weights and fill in how training went."""
    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    result.model = model.cpu().eval()
    result.best_epoch = state["best_epoch"]
    result.best_val_loss = float(state["best_val_loss"])
    result.stop_reason = state["stop_reason"] or f"max epochs ({config.epochs})"
    result.seconds = round(state["seconds"] + time.perf_counter() - started, 1)
    return result


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
    checkpoint: str | Path | None = None,
    resume: bool = False,
    checkpoint_identity: dict | None = None,
) -> FitResult:
    """Train ``model`` and keep the weights of the epoch with the lowest validation loss.

    ``train`` is a list of ``(inputs, targets)``, one per rank: a single element for ordinary
    training, several for ``virtual_ranks`` in one process (see the module docstring). With
    ``distributed=(rank, world_size)`` a torch.distributed process group must be initialised
    and ``train`` holds this rank's rows only; the model is wrapped in DistributedDataParallel.
    Validation loss is ``loss_fn`` on all of ``validation`` (every rank computes the same).
    With ``checkpoint``, the training state is saved there after every epoch and, with
    ``resume``, restored from it first (see the module docstring); ``config.epochs`` may be
    raised on resume, the seed, batch size and data sizes may not change, nor anything in
    ``checkpoint_identity`` (plain values, e.g. a training-data fingerprint).
    """
    say = log or (lambda _msg: None)
    dev = torch.device(device)
    model.to(dev)
    started = time.perf_counter()
    rank = distributed[0] if distributed else 0
    ranks = range(len(train)) if distributed is None else [rank]
    per_rank = _rows_per_rank(train, distributed)
    x_va, y_va = validation
    result = FitResult(model)
    state = _fresh_state()
    identity = {"seed": config.seed, "batch_size": config.batch_size, "rows_per_rank": per_rank,
                "ranks": len(train) if distributed is None else distributed[1],
                "validation_rows": len(y_va), **(checkpoint_identity or {})}  # fmt: skip
    if checkpoint is not None and resume:
        state = _restore(Path(checkpoint), identity, model, optimiser, scheduler)
        result.resumed_after_epoch = state["epoch"]
        say(f"resumed from {checkpoint} after epoch {state['epoch']}")
        if state["stop_reason"] or state["epoch"] >= config.epochs:
            say(f"nothing left to train: {state['stop_reason'] or 'epochs already reached'}")
    net = model if distributed is None else nn.parallel.DistributedDataParallel(model)
    result.curve = state["curve"]
    first = config.epochs + 1 if state["stop_reason"] else state["epoch"] + 1
    for epoch in range(first, config.epochs + 1):
        t0 = time.perf_counter()
        total = _train_epoch(net, train, ranks, epoch, per_rank, loss_fn, optimiser, config, dev)
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
        _update_state(state, epoch, val_loss, model, config)
        if checkpoint is not None and rank == 0:
            seconds = state["seconds"] + time.perf_counter() - started
            _save(Path(checkpoint), {**state, "seconds": seconds}, identity, model, optimiser,
                  scheduler)  # fmt: skip
        if state["stop_reason"]:
            break
    return _finish(result, model, state, config, started)


def _rng_states() -> dict:
    """Global RNG states as tensors and plain values (what ``weights_only`` loading accepts)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "python": random.getstate(),
    }


def _set_rng_states(rng: dict) -> None:
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    name, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(rng["python"])


def _save(
    path: Path, state: dict, identity: dict, model: nn.Module, optimiser: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
) -> None:  # fmt: skip
    """Write the checkpoint beside ``path``, fsync, then rename over it (never half-written)."""
    data = {
        "format": CHECKPOINT_FORMAT, "identity": identity, **state,
        "best_val_loss": float(state["best_val_loss"]), "prev": float(state["prev"]),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimiser": optimiser.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": _rng_states(),
    }  # fmt: skip
    with atomic_path(path) as tmp:
        torch.save(data, tmp)


def _restore(
    path: Path, identity: dict, model: nn.Module, optimiser: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
) -> dict:  # fmt: skip
    """Load a checkpoint into the model, optimiser, scheduler and RNGs; the loop's counters."""
    if not path.is_file():
        raise ValueError(f"{path}: no checkpoint to resume from")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError and friends: every one is a refusal
        raise ValueError(f"{path}: not a readable training checkpoint ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a vsbatch training checkpoint")
    if data["identity"] != identity:
        raise ValueError(
            f"{path}: written by another training ({data['identity']}, now {identity}); "
            "resume with the same data, seed and batch size, or start afresh"
        )
    model.load_state_dict(data["model"])
    optimiser.load_state_dict(data["optimiser"])
    if scheduler is not None and data["scheduler"] is not None:
        scheduler.load_state_dict(data["scheduler"])
    _set_rng_states(data["rng"])
    return {k: data[k] for k in ("epoch", "best_val_loss", "best_epoch", "best_state", "stale",
                                 "prev", "curve", "stop_reason", "seconds")}  # fmt: skip


def _accuracy(out: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of logits (binary: one logit per row; classes: one column per class)."""
    if len(y) == 0:
        return float("nan")
    pred = (out > 0).to(y.dtype) if out.ndim == 1 else out.argmax(dim=1)
    return float((pred == y).float().mean())
