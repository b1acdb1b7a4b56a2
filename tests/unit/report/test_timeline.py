"""Timeline plots: packets per 10 ms, the gap of an interruption visible, events marked and named."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.report import timeline

NS = {"s": "http://www.w3.org/2000/svg"}


def test_bins_count_packets_per_10_ms() -> None:
    assert timeline.bins([0.0, 0.004, 0.011, 0.0299], 0.0, 0.03) == [2, 1, 1]
    assert timeline.bins([-1.0, 5.0], 0.0, 0.03) == [0, 0, 0]  # outside the span: left out


def test_an_interruption_is_a_gap_in_the_bars_and_events_are_marked() -> None:
    # 50/s for 2 s, nothing from 0.9 s to 1.3 s (a handover), the move at 0.9 s
    arrivals = [i * 0.02 for i in range(100) if not 0.9 <= i * 0.02 < 1.3]
    svg = ET.fromstring(timeline.render("cn->mn", {"arrivals": arrivals, "events": [
        {"name": "move to ar2", "time": 0.9}, {"name": "BA", "time": 1.25}]}))
    bars = svg.findall(".//s:rect[@class='bar']", NS)
    assert len(bars) == len(arrivals) and all(b.get("data-count") == "1" for b in bars)
    xs = sorted(float(b.get("x")) for b in bars)
    gaps = [b - a for a, b in zip(xs, xs[1:])]
    assert max(gaps) > 15 * min(gaps)  # the 0.4 s hole against the 20 ms spacing
    events = svg.findall(".//s:g[@class='event']", NS)
    assert [e.get("data-name") for e in events] == ["move to ar2", "BA"]
    legend = " ".join(t.text for e in events for t in e.findall("s:text", NS))
    assert "1: move to ar2 at +0.900 s" in legend and "2: BA at +1.250 s" in legend


def test_no_data_is_said_not_drawn_empty() -> None:
    assert "no data" in timeline.render("echo", {"arrivals": [], "events": []})
