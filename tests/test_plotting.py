"""Figure helpers shared by the report and inspect."""

from __future__ import annotations

from vsbatch.plotting import figure, log_axis_labels, png_bytes


def _labels(lo: float, hi: float) -> list[str]:
    fig = figure(6, 3)
    ax = fig.add_subplot()
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    log_axis_labels(ax.xaxis)
    png_bytes(fig)  # draw, so the formatters run
    ticks = ax.xaxis.get_majorticklabels() + ax.xaxis.get_minorticklabels()
    return [t.get_text() for t in ticks if t.get_text() and lo <= t.get_position()[0] <= hi]


def test_a_log_axis_narrower_than_a_decade_gets_several_labels() -> None:
    """RR Lyrae periods (0.3-0.9 d) once showed one lone label, 0.5."""
    assert _labels(0.3, 0.9) == ["0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"]


def test_a_wide_log_axis_labels_decades_and_their_2_and_5() -> None:
    assert _labels(0.05, 5) == ["0.1", "1", "0.05", "0.2", "0.5", "2", "5"]
