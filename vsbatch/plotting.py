"""Figure helpers shared by ``vsbatch report`` and ``vsbatch inspect``.

Both draw on matplotlib Figures on the Agg canvas (no pyplot, no global backend state) inside
``matplotlib.rc_context(STYLE)``, describe each drawn axes by a :class:`PanelInfo` (what a
reader or a test can check without looking at pixels) and colour classes the same way.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis as TickAxis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from vsbatch.kernels.fourier import FourierFit

STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8.5,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "figure.dpi": 100,
    "savefig.dpi": 100,
}
CLASS_COLOURS = {
    "BL": "#d62728",
    "nBL": "#1f77b4",
    "cBL/PC": "#ff7f0e",
    "unclassified": "#8c8c8c",
}
_CYCLE_COLOURS = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


@dataclass(frozen=True)
class PanelInfo:
    """One drawn axes: what a reader (or a test) can check without looking at pixels."""

    title: str
    xlabel: str
    ylabel: str
    y_inverted: bool = False


def figure(width: float, height: float) -> Figure:
    """A matplotlib Figure on the Agg canvas (no pyplot, no global backend state).

    Create and draw it inside ``matplotlib.rc_context(STYLE)``: fonts and grids are read then.
    """
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes, pixel size = figsize x dpi (no tight bounding box)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def panel_info(ax: Axes) -> PanelInfo:
    """The titles and orientation of a drawn axes."""
    return PanelInfo(ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), bool(ax.yaxis_inverted()))


def cycle_colour(index: int) -> str:
    """The index-th of a fixed colour cycle that avoids the class colours."""
    return _CYCLE_COLOURS[index % len(_CYCLE_COLOURS)]


def class_colour(name: str, index: int) -> str:
    """A class's own colour (BL, nBL, ...), else the index-th of the cycle."""
    return CLASS_COLOURS.get(name, cycle_colour(index))


def log_axis_labels(axis: TickAxis) -> None:
    """Plain numbers (0.2, 0.5, 1, 2) on a log axis: periods read better than powers of ten.

    Over a decade or more the minor ticks at 2 and 5 are labelled; on a narrower axis (RR
    Lyrae periods span 0.2-1 d) every minor tick is, so the axis never shows one lone label.
    """
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))

    def minor(value: float, _: int) -> str:
        lo, hi = sorted(axis.get_view_interval())
        labelled = (2, 5) if lo > 0 and hi / lo >= 10 else range(2, 10)
        leading = round(value / 10 ** math.floor(math.log10(value)))
        return f"{value:g}" if leading in labelled else ""

    axis.set_minor_formatter(FuncFormatter(minor))


def fourier_curve(fit: FourierFit, i: int, phase: np.ndarray) -> np.ndarray:
    """The fitted series m = A0 + sum A_k cos(2 pi k phase + phi_k) (t0 = 0, as the catalog)."""
    k_max = int(fit.order_used[i])
    out = np.full(phase.shape, fit.a0[i])
    for k in range(1, k_max + 1):
        out += fit.amplitude[i, k - 1] * np.cos(2 * np.pi * k * phase + fit.phase[i, k - 1])
    return out


__all__ = [
    "CLASS_COLOURS",
    "STYLE",
    "PanelInfo",
    "class_colour",
    "cycle_colour",
    "figure",
    "fourier_curve",
    "log_axis_labels",
    "panel_info",
    "png_bytes",
]
