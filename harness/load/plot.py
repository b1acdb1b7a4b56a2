"""The load run's plot, as SVG written by hand (no plotting library): bindings held and registrations over time,
BU->BA latency percentiles over time (log scale), and BAs per 250 ms (:func:`harness.report.timeline.render`),
with the phases marked."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from harness.report import timeline

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 900, 260, 64, 12, 40, 34
COLOURS = ("#3a6ea5", "#e67e22", "#27ae60", "#8e44ad", "#c0392b")


def _nice(top: float) -> float:
    if top <= 0:
        return 1.0
    step = 10 ** math.floor(math.log10(top))
    for mult in (1, 2, 2.5, 5, 10):
        if mult * step >= top:
            return mult * step
    return 10 * step


def line_chart(title: str, series: Mapping[str, Sequence[tuple[float, float]]], events: Sequence[Mapping[str, Any]],
               x_range: tuple[float, float], unit: str = "", log: bool = False) -> str:
    """An ``<svg>`` with one polyline per series over ``x_range`` seconds; ``log``: log10 y axis."""
    points = [y for s in series.values() for _, y in s if y is not None and (y > 0 or not log)]
    x0, x1 = x_range
    x1 = max(x1, x0 + 1e-6)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="load-chart" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" data-title="{escape(title)}">',
           f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>']
    if not points:
        out.append(f'<text x="{LEFT}" y="{TOP + 20}" font-size="12">no data</text></svg>')
        return "".join(out)
    if log:
        lo = 10 ** math.floor(math.log10(min(points)))
        hi = 10 ** math.ceil(math.log10(max(points) * 1.0001))
        hi = max(hi, lo * 10)
        ty = lambda v: TOP + plot_h - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * plot_h  # noqa: E731
        ticks = [lo * 10 ** k for k in range(round(math.log10(hi / lo)) + 1)]
    else:
        hi = _nice(max(points))
        ty = lambda v: TOP + plot_h - v / hi * plot_h  # noqa: E731
        ticks = [hi * k / 4 for k in range(5)]
    tx = lambda t: LEFT + (t - x0) / (x1 - x0) * plot_w  # noqa: E731
    out.append(f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="#444"/>')
    out.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#444"/>')
    for v in ticks:
        out.append(f'<line x1="{LEFT - 3}" y1="{ty(v):.1f}" x2="{LEFT + plot_w}" y2="{ty(v):.1f}" stroke="#ddd"/>'
                   f'<text x="{LEFT - 5}" y="{ty(v) + 4:.1f}" font-size="10" text-anchor="end">{v:g}{unit}</text>')
    step = timeline._ticks(x1 - x0)
    t = 0.0
    while t <= x1 - x0 + 1e-9:
        out.append(f'<text x="{tx(x0 + t):.1f}" y="{HEIGHT - 12}" font-size="10" text-anchor="middle">{t:g} s</text>')
        t += step
    for k, e in enumerate(events):
        ex = tx(e["time"])
        right = ex > LEFT + plot_w - 110  # label left of the line near the right edge
        anchor = "end" if right else "start"
        out.append(f'<g class="event"><line x1="{ex:.1f}" y1="{TOP}" x2="{ex:.1f}" y2="{TOP + plot_h}" '
                   f'stroke="#999" stroke-dasharray="4 3"/><text x="{ex - 2 if right else ex + 2:.1f}" '
                   f'y="{TOP + 10 + 11 * (k % 4)}" font-size="9" fill="#666" text-anchor="{anchor}">'
                   f'{escape(e["name"].replace(" starts", ""))}</text></g>')
    for n, (name, s) in enumerate(series.items()):
        colour = COLOURS[n % len(COLOURS)]
        pts = " ".join(f"{tx(x):.1f},{ty(y):.1f}" for x, y in s if y is not None and (y > 0 or not log))
        out.append(f'<polyline class="series" data-name="{escape(name)}" fill="none" stroke="{colour}" '
                   f'stroke-width="1.6" points="{pts}"/>')
        lx = LEFT + 170 * n  # legend: one row under the title
        out.append(f'<line x1="{lx}" y1="27" x2="{lx + 16}" y2="27" stroke="{colour}" stroke-width="3"/>'
                   f'<text x="{lx + 20}" y="31" font-size="11">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted ``values`` (q in 0..100)."""
    if not values:
        return None
    return values[min(len(values) - 1, max(0, math.ceil(q / 100 * len(values)) - 1))]


def latency_series(answered: Mapping[str, Sequence[float]], latencies: Mapping[str, Sequence[float]], t0: float,
                   bucket: float = 0.5) -> dict[str, list[tuple[float, float]]]:
    """p50/p90/p99 of BU->BA latency (ms) of all exchanges, per ``bucket`` seconds of BA arrival."""
    buckets: dict[int, list[float]] = {}
    for kind, times in answered.items():
        for t, lat in zip(times, latencies[kind]):
            buckets.setdefault(int((t - t0) // bucket), []).append(lat * 1e3)
    out: dict[str, list[tuple[float, float]]] = {"p50": [], "p90": [], "p99": []}
    for b in sorted(buckets):
        values = sorted(buckets[b])
        for q in (50, 90, 99):
            out[f"p{q}"].append(((b + 0.5) * bucket, percentile(values, q)))  # type: ignore[arg-type]
    return out


def render(raw: Mapping[str, Any], t0: float) -> str:
    """The whole figure: three charts stacked in one SVG document."""
    tl = raw["timeline"]
    events = raw["events"]
    end = max([tl[-1][0] if tl else 1.0] + [e["time"] for e in events])
    x_range = (0.0, end)
    bindings = line_chart("Bindings held and registrations over time (fleet view)",
                          {"bindings held": [(r[0], r[1]) for r in tl],
                           "registered (cumulative)": [(r[0], r[2]) for r in tl],
                           "waiting for a BA": [(r[0], r[5]) for r in tl]}, events, x_range)
    latency = line_chart("BU -> BA latency, per 0.5 s of BA arrival (all exchanges)",
                         latency_series(raw["answered_at"], raw["latencies"], t0), events, x_range, " ms", log=True)
    arrivals = sorted(t - t0 for times in raw["answered_at"].values() for t in times)
    bars = timeline.render("BAs answering an outstanding BU", {"arrivals": arrivals, "events": events}, 0.25,
                           between=x_range)
    charts = [bindings, latency, bars]
    heights = [HEIGHT, HEIGHT, _height(bars)]
    y, body = 0, []
    for chart, h in zip(charts, heights):
        body.append(f'<g transform="translate(0,{y})">{chart}</g>')
        y += h + 10
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y}" viewBox="0 0 {WIDTH} {y}" '
            f'font-family="sans-serif">' + "".join(body) + "</svg>\n")


def _height(svg: str) -> int:
    head = svg[: svg.index(">")]
    try:
        return int(float(head.split('height="', 1)[1].split('"', 1)[0]))
    except (IndexError, ValueError):
        return 200
