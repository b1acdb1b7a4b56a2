"""The UDP test flow's accounting: loss, duplicates and reordering from sequence numbers."""

from __future__ import annotations

from harness.tester.flow import parse, payload, summarise


def test_payload_round_trip_and_foreign_datagrams() -> None:
    seq, sent = parse(payload(12345, 64))
    assert seq == 12345 and sent > 0
    assert parse(b"x" * 64) is None and parse(b"short") is None


def test_loss_duplicates_and_reordering_are_counted() -> None:
    arrivals = [(0, 0.0), (1, 0.1), (3, 0.2), (2, 0.3), (3, 0.4), (6, 0.5)]
    got = summarise(arrivals, sent=8)
    assert got["received"] == 5 and got["lost"] == 3 and got["missing"] == [4, 5, 7]
    assert got["duplicates"] == 1 and got["reordered"] == 1
    assert summarise([], sent=3)["lost"] == 3
