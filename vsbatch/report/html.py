"""Markup of the report page: escaping, tables, embedded figures and the page frame."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence

from vsbatch.report.rendered import RenderedFigure

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1200px;color:#222;line-height:1.4;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;
margin-top:1.6em}table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#444;margin-top:.3em}.note{color:#666;font-style:italic}
.warn{color:#a33}code{background:#f4f4f4;padding:0 .2em}
"""


def esc(x: object) -> str:
    """Text for HTML, None as empty."""
    return html.escape("" if x is None else str(x))


def html_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """An HTML table; numbers right-aligned with thousands separators."""
    out = ["<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>"]
    for row in rows:
        cells = []
        for v in row:
            if isinstance(v, bool) or v is None or not isinstance(v, int | float):
                cells.append(f"<td>{esc(v)}</td>")
            elif isinstance(v, int):
                cells.append(f'<td class="n">{v:,}</td>')
            else:
                cells.append(f'<td class="n">{v:,.6g}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out) + "</table>"


def figure_html(r: RenderedFigure) -> str:
    """The PNG embedded as a data URI, with its axes described in the alt text."""
    data = base64.b64encode(r.png).decode("ascii")
    axes = "; ".join(f"{p.title}: {p.ylabel} against {p.xlabel}" for p in r.info.panels)
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{esc(r.info.title)}. {esc(axes)}"'
        f' title="{esc(r.info.title)}"><figcaption><b>{esc(r.info.title)}.</b> '
        f"{esc(r.info.caption)}</figcaption></figure>"
    )


def page_html(title: str, heading: str, intro: str, sections: list[str]) -> str:
    """The whole self-contained page (styles inline)."""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{esc(heading)}</h1>"
        f'<p class="note">{intro}</p>' + "\n".join(sections) + "</body></html>\n"
    )
