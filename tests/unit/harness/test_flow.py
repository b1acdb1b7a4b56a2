"""The UDP test flow's accounting: loss, duplicates and reordering from sequence numbers."""

from __future__ import annotations

import json

import pytest

from harness.programs.flow import parse, payload, summarise


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


def test_the_stop_handler_only_sets_a_flag() -> None:
    """The handler raises nothing: an exception from a signal handler can escape the loop's ``try`` in CPython
    3.11-3.13 (python/cpython#108214) and the report is lost; a second signal while the report is written is
    harmless for the same reason."""
    import signal

    from harness.programs import flow

    saved = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        flow._Stop.install()
        assert not flow._Stop.requested
        assert signal.getsignal(signal.SIGTERM) == flow._Stop.handler
        flow._Stop.handler(signal.SIGTERM, None)
        flow._Stop.handler(signal.SIGTERM, None)
        assert flow._Stop.requested
    finally:
        signal.signal(signal.SIGTERM, saved[0])
        signal.signal(signal.SIGINT, saved[1])


@pytest.mark.parametrize("cmd", [["recv", "--bind", "::1", "--port", "0"],
                                 ["ping", "--src", "::1", "--dst", "::1", "--rate", "200"]])
def test_flow_programs_write_their_report_when_terminated(tmp_path, cmd) -> None:
    """The flow programs end on SIGTERM (sent several times here) and write their report."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "report.json"
    proc = subprocess.Popen([sys.executable, "-m", "harness.programs.flow", *cmd, "--out", str(out)])
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "report.json.ready").exists():
            assert time.monotonic() < deadline and proc.poll() is None, f"{cmd[0]} never became ready"
            time.sleep(0.01)
        for _ in range(5):
            os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    report = json.loads(out.read_text())
    if cmd[0] == "recv":
        assert report["received"] == 0
    else:  # the loopback answers every echo request but the ones in flight when the signal came
        assert report["sent"] >= report["received"] >= report["sent"] - 2
