"""What every figure of the report returns: its PNG and a description of what it shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vsbatch.plotting import PanelInfo


@dataclass(frozen=True)
class FigureInfo:
    """One embedded image of the report."""

    title: str
    caption: str
    panels: tuple[PanelInfo, ...]
    points_sampled: int = 0  # scatter points drawn (each layer capped at sample_cap)
    rows_binned: int = 0  # rows summarised by the SQL histograms of this figure


@dataclass(frozen=True)
class RenderedFigure:
    """A drawn figure: its description and its PNG bytes."""

    info: FigureInfo
    png: bytes


Drawer = Callable[[], RenderedFigure]
"""Draws a figure once the histogram scan its plan registered has run."""
