"""Timeline plots: a measured flow's packets per 10 ms, with the moves and faults marked, as inline SVG.

Input: one series of ``timeline.json`` (:meth:`harness.verdicts.Judgement.timeline`): the arrival times of a flow's
packets and the events of the scenario.  The plot spans from the first event or arrival to the last, one bar per
bin that holds packets; a gap in the bars is the interruption a user saw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

BIN = 0.010  # seconds per bar
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 900, 190, 46, 12, 34, 30


def bins(arrivals: Sequence[float], start: float, end: float, width: float = BIN) -> list[int]:
    """Packets per bin from ``start`` to ``end`` (arrivals outside are left out)."""
    n = max(1, math.ceil((end - start) / width))
    counts = [0] * n
    for t in arrivals:
        i = int((t - start) // width)
        if 0 <= i < n:
            counts[i] += 1
        elif t == end:
            counts[-1] += 1
    return counts


def _ticks(span: float) -> float:
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300):
        if span / step <= 12:
            return step
    return 600.0


def span(timelines: Mapping[str, Mapping[str, Any]]) -> tuple[float, float] | None:
    """(first, last) time over every series of a test: its plots share one time axis."""
    times = [t for s in timelines.values() for t in [*s.get("arrivals", []), *(e["time"] for e in s.get("events", []))]]
    return (min(times), max(times)) if times else None


def render(name: str, series: Mapping[str, Any], width: float = BIN, *,
           between: tuple[float, float] | None = None) -> str:
    """An ``<svg class="timeline">`` for one series: ``{"arrivals": [t...], "events": [{"name", "time"}...]}``, over
    ``between`` (default: the series' own first and last time)."""
    arrivals = list(series.get("arrivals", []))
    events = list(series.get("events", []))
    between = between or span({name: series})
    if between is None:
        return f'<svg class="timeline" width="{WIDTH}" height="40"><text x="4" y="20">{escape(name)}: no data</text></svg>'
    start, end = between[0], between[1] + width
    counts = bins(arrivals, start, end, width)
    top = max(counts) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    x = lambda t: LEFT + (t - start) / (end - start) * plot_w  # noqa: E731
    y = lambda c: TOP + plot_h - c / top * plot_h  # noqa: E731
    bar = max(plot_w / len(counts), 0.5)
    out = [f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" data-series="{escape(name)}" data-bins="{len(counts)}">',
           f'<text x="{LEFT}" y="14" font-size="12" font-weight="bold">{escape(name)}: packets per '
           f'{width * 1000:g} ms ({len(arrivals)} packets)</text>',
           f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="#444"/>',
           f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#444"/>',
           f'<text x="{LEFT - 4}" y="{TOP + 4}" font-size="10" text-anchor="end">{top}</text>',
           f'<text x="{LEFT - 4}" y="{TOP + plot_h}" font-size="10" text-anchor="end">0</text>']
    step = _ticks(end - start)
    t = 0.0
    while t <= end - start + 1e-9:
        out.append(f'<text x="{x(start + t):.1f}" y="{HEIGHT - 12}" font-size="10" text-anchor="middle">'
                   f'{t:g} s</text>')
        t += step
    out.append('<g class="bars" fill="#3a6ea5">')
    for i, c in enumerate(counts):
        if c:
            out.append(f'<rect class="bar" x="{LEFT + i * plot_w / len(counts):.2f}" y="{y(c):.2f}" '
                       f'width="{bar:.2f}" height="{TOP + plot_h - y(c):.2f}" data-count="{c}"/>')
    out.append("</g>")
    for k, e in enumerate(events, 1):  # numbered marks on the plot, named in the legend below it
        ex = x(e["time"])
        out.append(f'<g class="event" data-name="{escape(e["name"])}"><line x1="{ex:.1f}" y1="{TOP - 4}" x2="{ex:.1f}" '
                   f'y2="{TOP + plot_h}" stroke="#c0392b" stroke-dasharray="4 2"/>'
                   f'<text x="{ex + 2:.1f}" y="{TOP - 4 + (k % 2) * 10}" font-size="10" fill="#c0392b">{k}</text>'
                   f'<text x="{LEFT + ((k - 1) % 3) * plot_w / 3:.1f}" y="{HEIGHT + 14 * ((k - 1) // 3) + 4}" '
                   f'font-size="11" fill="#c0392b">{k}: {escape(e["name"])} at +{e["time"] - start:.3f} s</text></g>')
    out.append("</svg>")
    legend = 14 * ((len(events) + 2) // 3) + 8
    out[0] = out[0].replace(f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}"',
                            f'height="{HEIGHT + legend}" viewBox="0 0 {WIDTH} {HEIGHT + legend}"')
    return "".join(out)
