"""What ``vsbatch train`` and ``vsbatch evaluate`` ask of a model kind, and what evaluating
returns: the arguments and result of every kind's training and evaluation functions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vsbatch.errors import UsageError


class _Settings:
    """``--set key=value`` settings of a request (its ``params``)."""

    params: dict[str, str]

    def param(self, key: str, default: object, cast: Callable = str) -> object:
        """A ``--set`` value converted with ``cast``, or ``default`` when not given."""
        return _cast(key, self.params[key], cast) if key in self.params else default

    def settings(self, kind: str, table: dict[str, tuple[str, Callable]]) -> dict[str, object]:
        """Every ``--set`` value as ``{field: value}`` through ``table`` (``key -> (field,
        cast)``): an unknown key or a value its cast refuses is the user's mistake (exit 2)."""
        unknown = set(self.params) - set(table)
        if unknown:
            raise UsageError(f"unknown {kind} settings {sorted(unknown)}; known: {sorted(table)}")
        return {table[k][0]: _cast(k, text, table[k][1]) for k, text in self.params.items()}


def _cast(key: str, text: str, cast: Callable) -> object:
    try:
        return cast(text)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--set {key}={text}: {exc}") from exc


@dataclass(frozen=True)
class TrainRequest(_Settings):
    """What ``vsbatch train KIND`` asks for; kinds read the fields they use.

    ``data`` is a vsbatch input catalog (long or nested Parquet, file or folder) with a
    per-source label column; ``params`` holds kind-specific settings (``--set key=value``);
    ``cluster`` and ``workers`` say where training shards are built and, for kinds that train
    data-parallel, how many Dask worker processes train.
    """

    kind: str
    data: str
    out_dir: Path
    name: str
    seed: int = 0
    epochs: int | None = None
    batch_size: int | None = None
    device: str = "auto"
    label_column: str = "label"
    folds: int = 0
    params: dict[str, str] = field(default_factory=dict)
    cluster: str = "local"
    workers: int = 1
    command: str = ""
    resume: bool = False  # continue from the checkpoint in ``out_dir`` (resumable kinds)


@dataclass(frozen=True)
class EvaluateRequest(_Settings):
    """What ``vsbatch evaluate MODEL`` asks for."""

    data: str
    out_dir: Path
    label_column: str = "label"
    group_column: str | None = None
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    """An evaluation report (also written as JSON) and the files it wrote."""

    report: dict
    files: tuple[Path, ...] = ()
