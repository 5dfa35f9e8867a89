"""Checkpoint and resume of the shared training loop: a run stopped after some epochs
and resumed gives the weights of the uninterrupted run, and checkpoints never unpickle."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from vsbatch.training.loop import FitConfig, FitResult, fit


def _data() -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(96, 6, generator=gen)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return (x[:72], y[:72]), (x[72:], y[72:])


def _train(
    epochs: int,
    path: Path,
    *,
    init_seed: int = 0,
    resume: bool = False,
    log: Callable[[str], None] | None = None,
    batch_size: int = 16,
) -> FitResult:
    """A tiny net with dropout (so the global torch RNG matters), SGD momentum, ExponentialLR."""
    torch.manual_seed(init_seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=0.9)
    train, validation = _data()
    return fit(model, [train], validation, loss_fn=nn.CrossEntropyLoss(), optimiser=optimiser,
               config=FitConfig(epochs=epochs, batch_size=batch_size, seed=3, patience=50),
               scheduler=scheduler, checkpoint=path, resume=resume, log=log)  # fmt: skip


def _assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)


def _last_weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def test_two_epochs_then_resume_to_four_equals_four_straight(tmp_path: Path) -> None:
    straight = _train(4, tmp_path / "straight.pt")
    first = _train(2, tmp_path / "split.pt")
    assert first.resumed_after_epoch == 0 and len(first.curve) == 2
    saved = torch.load(tmp_path / "split.pt", weights_only=True)
    assert {"model", "optimiser", "scheduler", "best_state", "best_val_loss", "rng"} <= set(saved)
    assert saved["epoch"] == 2 and saved["best_val_loss"] == pytest.approx(first.best_val_loss)
    resumed = _train(4, tmp_path / "split.pt", init_seed=99, resume=True)  # init overwritten
    assert resumed.resumed_after_epoch == 2
    assert [c["epoch"] for c in resumed.curve] == [1, 2, 3, 4]
    for got, want in zip(resumed.curve, straight.curve, strict=True):
        assert got["val_loss"] == pytest.approx(want["val_loss"], abs=1e-6)
        assert got["train_loss"] == pytest.approx(want["train_loss"], abs=1e-6)
    assert resumed.best_epoch == straight.best_epoch
    _assert_same_weights(resumed.model.state_dict(), straight.model.state_dict())
    _assert_same_weights(_last_weights(tmp_path / "split.pt"),
                         _last_weights(tmp_path / "straight.pt"))  # fmt: skip


def test_a_run_killed_mid_epoch_resumes_from_the_last_complete_epoch(tmp_path: Path) -> None:
    straight = _train(4, tmp_path / "straight.pt")

    def crash_in_epoch_3(message: str) -> None:
        if message.startswith("epoch   3"):  # before epoch 3's checkpoint is written
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(4, tmp_path / "killed.pt", log=crash_in_epoch_3)
    assert torch.load(tmp_path / "killed.pt", weights_only=True)["epoch"] == 2
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    resumed = _train(4, tmp_path / "killed.pt", init_seed=7, resume=True)
    _assert_same_weights(resumed.model.state_dict(), straight.model.state_dict())


def test_resume_refuses_other_settings_missing_files_and_pickled_objects(tmp_path: Path) -> None:
    _train(1, tmp_path / "ck.pt")
    with pytest.raises(ValueError, match="another training"):
        _train(2, tmp_path / "ck.pt", resume=True, batch_size=8)
    with pytest.raises(ValueError, match="no checkpoint"):
        _train(2, tmp_path / "absent.pt", resume=True)
    evil = tmp_path / "evil.pt"
    torch.save({"format": 1, "payload": _Payload()}, evil)  # loading would need unpickling
    _Payload.loaded = False
    with pytest.raises(ValueError, match="not a readable training checkpoint"):
        _train(2, evil, resume=True)
    assert not _Payload.loaded


class _Payload:
    """An object whose unpickling would be visible (weights_only must refuse it first)."""

    loaded = False

    def __reduce__(self) -> tuple:
        return (_mark_loaded, ())


def _mark_loaded() -> _Payload:
    _Payload.loaded = True
    return _Payload()
