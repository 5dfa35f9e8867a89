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
