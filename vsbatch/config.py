"""Run configuration: every option that changes catalog content, hashed into the manifest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from vsbatch import __version__

DEFAULT_STAGES = ("stats",)


@dataclass(frozen=True)
class RunConfig:
    """What a run computes. Execution settings (workers, cluster) are not part of it."""

    min_epochs: int = 5
    partition_epochs: int = 100_000
    stages: tuple[str, ...] = DEFAULT_STAGES
    column_map: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.min_epochs < 1:
            raise ValueError("min_epochs must be at least 1")
        if self.partition_epochs < 1:
            raise ValueError("partition_epochs must be at least 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def content_hash(self) -> str:
        """Hash of everything that changes output values (not the partitioning bound)."""
        content = self.to_dict()
        content.pop("partition_epochs")
        content["vsbatch_version"] = __version__
        text = json.dumps(content, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict) -> RunConfig:
        data = dict(data)
        data["stages"] = tuple(data.get("stages", DEFAULT_STAGES))
        return cls(**data)
