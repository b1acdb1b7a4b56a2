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


def test_the_stop_handler_ends_the_loop_once_and_then_ignores_signals() -> None:
    """A second SIGTERM while a flow program writes its report (a stop retried, a clean-up) must not lose the
    report: the handler raises once and leaves SIGTERM and SIGINT ignored."""
    import signal

    from harness.programs import flow

    saved = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGTERM, flow._stop)
        with pytest.raises(KeyboardInterrupt):
            flow._stop(signal.SIGTERM, None)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, saved[0])
        signal.signal(signal.SIGINT, saved[1])


def test_recv_writes_its_report_when_terminated(tmp_path) -> None:
    """The flow programs end on SIGTERM (sent several times here) and write their report."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "report.json"
    proc = subprocess.Popen([sys.executable, "-m", "harness.programs.flow", "recv", "--bind", "::1", "--port", "0",
                             "--out", str(out)])
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "report.json.ready").exists():
            assert time.monotonic() < deadline and proc.poll() is None, "recv never became ready"
            time.sleep(0.01)
        for _ in range(5):
            os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert json.loads(out.read_text())["received"] == 0
