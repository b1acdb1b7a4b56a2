"""hmipv6ct end to end: a run writes its report; Ctrl-C and SIGTERM still tear the testbed down."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import netns, paths
from harness.testbed import runstate

pytestmark = pytest.mark.netns

ENV = dict(os.environ, PYTHONPATH=str(paths.ROOT))


def hmipv6ct(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], env=ENV, capture_output=True, text=True,
                          timeout=900, **kw)


def test_run_writes_results_junit_and_latest(tmp_path: Path) -> None:
    out = hmipv6ct("run", "--out", str(tmp_path))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    latest = tmp_path / "latest"
    assert latest.is_symlink()
    doc = json.loads((latest / "results.json").read_text())
    assert set(doc["roles"]) == {"map", "ar", "mn"}, "--dut-role all judges every role the testbed has"
    smoke = [r for r in doc["results"] if r["nodeid"].endswith("test_testbed_ready")]
    assert [r["verdict"] for r in smoke] == ["PASS"] * 3
    assert {r["role"] for r in doc["results"] if r["test_purpose"]} == {"map", "ar", "mn"}
    assert all(r["verdict"] in ("PASS", "NOT APPLICABLE") for r in doc["results"]), doc["results"]
    for role in ("map", "ar", "mn"):
        assert (latest / role / "junit.xml").is_file() and (latest / role / "allure-results").is_dir()
        assert (latest / role / "results.jsonl").is_file()
    assert any(p.suffix == ".pcap" for p in (latest / "map" / "evidence").rglob("*"))
    assert json.loads((latest / "map" / "results.json").read_text())["git_commit"] != "unknown"


def test_list_shows_test_purposes() -> None:
    out = hmipv6ct("list")
    assert out.returncode == 0 and "HMIP-MAP-" in out.stdout


def test_list_interop_shows_the_interop_test_purposes() -> None:
    out = hmipv6ct("list", "--interop")
    ids = [line.split()[0] for line in out.stdout.splitlines() if line.startswith("HMIP-IOP-")]
    assert len(ids) == 9 and "HMIP-IOP-MOVE-001" in ids and "HMIP-MAP-BU-001" not in out.stdout


def test_broken_testbed_file_is_reported_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(paths.DEFAULT_TESTBED.read_text().replace("role: map\n", "rol: map\n", 1))
    out = hmipv6ct("run", "--testbed", str(bad), "--out", str(tmp_path / "reports"))
    assert out.returncode == 2
    assert f"{bad}:" in out.stderr and "unknown key 'rol'" in out.stderr
    assert not (tmp_path / "reports").exists(), "no run directory for a run that never started"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_tears_the_testbed_down(tmp_path: Path, sig: signal.Signals) -> None:
    before = {r.prefix for r in runstate.all_runs()}
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--out", str(tmp_path)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    run = None
    deadline = time.monotonic() + 30
    while run is None and time.monotonic() < deadline:
        run = next((r for r in runstate.all_runs() if r.prefix not in before and r.complete), None)
        time.sleep(0.01)
    assert run is not None, "the run never finished building its testbed"
    proc.send_signal(sig)
    assert proc.wait(timeout=30) != 0
    assert [n for n in netns.list_names() if n.startswith(run.prefix)] == []
    assert not run.workdir.exists()
    doc = json.loads((tmp_path / "latest" / "results.json").read_text())
    assert doc["interrupted"] is True


def test_fault_apply_list_remove_against_a_testbed_left_up(tmp_path: Path) -> None:
    """``hmipv6ct fault`` in separate processes: the applied fault is recorded, seen on the node, and removed."""
    assert hmipv6ct("testbed", "up").returncode == 0
    try:
        args = ("packet_loss", "router=rt", "prefix=2001:db8:20::/64", "percent=100")
        out = hmipv6ct("fault", "apply", *args)
        assert out.returncode == 0 and "applied packet_loss(rt" in out.stdout, out.stderr
        listed = hmipv6ct("fault", "list")
        assert '"fault": "packet_loss"' in listed.stdout and "1 fault(s)" in listed.stdout
        state = next(r for r in runstate.all_runs() if r.detached)
        tables = subprocess.run(["ip", "netns", "exec", state.netns_name("rt"), "nft", "list", "tables"],
                                capture_output=True, text=True).stdout
        assert "hmipv6ct_fault_packet_loss" in tables
        assert hmipv6ct("fault", "apply", "no_such_fault").returncode == 2
        out = hmipv6ct("fault", "remove", *args)
        assert out.returncode == 0 and "removed packet_loss" in out.stdout, out.stderr
        tables = subprocess.run(["ip", "netns", "exec", state.netns_name("rt"), "nft", "list", "tables"],
                                capture_output=True, text=True).stdout
        assert "hmipv6ct_fault_" not in tables and "0 fault(s)" in hmipv6ct("fault", "list").stdout
        assert hmipv6ct("fault", "remove", *args).returncode == 1, "removing a fault twice is an error"
    finally:
        assert hmipv6ct("testbed", "down").returncode == 0
