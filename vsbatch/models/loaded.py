"""A loaded model artifact: the network, its card and its folder.

Kept apart from :mod:`vsbatch.models.artifacts` (which writes, finds and loads artifacts and
so imports every network module) so that network modules whose inference helpers take an
artifact (:mod:`vsbatch.models.nnfap`) do not import the loader that builds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn


@dataclass(frozen=True)
class Artifact:
    """A loaded model and its card."""

    card: dict
    model: nn.Module
    path: Path

    @property
    def name(self) -> str:
        return str(self.card["name"])

    @property
    def version(self) -> str:
        return str(self.card["version"])

    @property
    def version_tag(self) -> str:
        """``name version (sha256 prefix)``: what prediction columns record."""
        return f"{self.name} {self.version} ({self.card['weights_sha256'][:12]})"
