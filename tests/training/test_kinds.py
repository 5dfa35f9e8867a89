"""``vsbatch train`` checks every kind shares, before any data is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from vsbatch.errors import UsageError
from vsbatch.training.kinds import train
from vsbatch.training.requests import TrainRequest


def _request(kind: str, *, resume: bool = False) -> TrainRequest:
    return TrainRequest(kind=kind, data="missing.parquet", out_dir=Path("unused"), name=kind,
                        resume=resume)  # fmt: skip


def test_resume_is_refused_for_a_kind_without_checkpoints() -> None:
    with pytest.raises(UsageError, match=r"--resume: nnfap .*resumable kinds: blazhko"):
        train(_request("nnfap", resume=True))


def test_an_unknown_kind_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown model kind 'gru'"):
        train(_request("gru"))


def test_set_values_a_kind_cannot_read_are_usage_errors(tmp_path: Path) -> None:
    """``--set lr=fast`` and ``--set bogus=1`` are the user's mistakes: exit 2, named."""
    table = {"lr": ("learning_rate", float)}
    request = TrainRequest("hybrid", "x.parquet", tmp_path, "hybrid", params={"lr": "fast"})
    with pytest.raises(UsageError, match="--set lr=fast"):
        request.settings("hybrid", table)
    with pytest.raises(UsageError, match="unknown hybrid settings"):
        TrainRequest("hybrid", "x", tmp_path, "h", params={"bogus": "1"}).settings("hybrid", table)
    assert TrainRequest("hybrid", "x", tmp_path, "h", params={"lr": "2e-4"}).settings(
        "hybrid", table
    ) == {"learning_rate": 2e-4}
