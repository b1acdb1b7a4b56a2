"""Per-phase flow statistics (harness.interop.flowstats) on hand-made arrivals."""

from __future__ import annotations

import pytest

from harness.interop.flowstats import Flow, phase_stats

T0, RATE = 1000.0, 100.0  # datagram n sent at T0 + n / 100


def flow(arrivals, sent=300) -> Flow:
    return Flow("cn->mn", T0, RATE, sent, tuple(arrivals))


def steady(seqs, delay=0.005):
    return [(s, T0 + s / RATE + delay) for s in seqs]


def test_clean_flow_has_no_loss_and_nominal_gap() -> None:
    (phase,) = phase_stats(flow(steady(range(300))), [("start", T0)], T0 + 3.0)
    assert (phase.sent, phase.lost, phase.reordered, phase.duplicates) == (300, 0, 0, 0)
    assert phase.interruption == pytest.approx(0.005)  # nothing before: from the event to the first arrival
    assert phase.resume_delay == pytest.approx(0.005)


def test_outage_after_move_is_lost_and_timed() -> None:
    # move at T0 + 1.0 (seq 100); seqs 100..129 lost; 130 arrives at T0 + 1.305
    got = steady(range(100)) + steady(range(130, 300))
    before, after = phase_stats(flow(got), [("before", T0), ("move", T0 + 1.0)], T0 + 3.0)
    assert (before.sent, before.lost) == (100, 0)
    assert (after.sent, after.lost) == (200, 30)
    assert after.resumed_at == pytest.approx(T0 + 1.305)
    # last arrival before the move: seq 99 at T0 + 0.995
    assert after.interruption == pytest.approx(0.31)


def test_in_flight_datagrams_shorten_the_interruption_and_reordering_counts() -> None:
    # datagrams 95..99 (sent before the move) arrive late, after 100..104 (a previous MAP forwarding them)
    got = steady(range(95)) + steady(range(100, 300)) + [(s, T0 + 1.02 + (s - 95) * 0.001) for s in range(95, 100)]
    _, after = phase_stats(flow(got), [("before", T0), ("move", T0 + 1.0)], T0 + 3.0)
    assert after.lost == 0
    assert after.reordered == 5
    assert after.interruption == pytest.approx(0.06, abs=1e-6)  # 94 at 0.945 -> 100 at 1.005


def test_no_resumption_is_none() -> None:
    _, after = phase_stats(flow(steady(range(100))), [("before", T0), ("move", T0 + 1.0)], T0 + 3.0)
    assert after.resumed_at is None and after.interruption is None and after.lost == 200


def test_duplicates_in_phase() -> None:
    got = steady(range(300)) + [(150, T0 + 1.6)]
    _, after = phase_stats(flow(got), [("before", T0), ("move", T0 + 1.0)], T0 + 3.0)
    assert after.duplicates == 1


def test_phase_ends_at_next_event_and_sent_is_capped() -> None:
    # the sender stopped after 250 datagrams: the last phase counts only those
    _, last = phase_stats(flow(steady(range(250)), sent=250), [("a", T0), ("b", T0 + 2.0)], T0 + 5.0)
    assert (last.sent, last.lost) == (50, 0)
