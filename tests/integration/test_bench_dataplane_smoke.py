"""Smoke test of ``hmipv6ct bench dataplane`` (benchmarks/bench_dataplane.py) with tiny parameters: every path runs
through the real MAP daemon (and the baselines), every frame sent is accounted for and arrived intact at the right
address, the JSON result is complete, nothing is left behind.  Never asserts on speed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.bench_dataplane import LABELS, RATIOS, ROWS
from harness import netns
from harness.testbed import runstate

ROOT = Path(__file__).resolve().parents[2]
BINDINGS = 8

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and AF_PACKET sockets"),
    pytest.mark.skipif(shutil.which("ip") is None or shutil.which("nft") is None,
                       reason="needs iproute2 (ip) and nftables (nft)"),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench") / "dataplane.json"
    # a low fixed offered rate: no path is overloaded, so every frame must arrive
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_dataplane", "--seconds", "0.3", "--repeat", "1",
                           "--bindings", str(BINDINGS), "--rate", "2000", "--ring-mb", "8", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, json.loads(out.read_text())


def test_every_frame_arrived_intact_at_the_right_address(run) -> None:
    _, doc = run
    rows = doc["rows"]
    assert set(rows) == set(ROWS)
    for key, row in rows.items():
        if ROWS[key][1] == "sink":  # the generator's ceiling: nothing is received
            assert row["pps"] > 0, key
            continue
        assert row["accounted"], key
        assert row["ok"] > 0 and row["ok"] + row["lost"] == row["sent"], (key, row)
        assert row["lost"] == 0, (key, row)
        for bad in ("misrouted", "corrupt", "wrong_form", "duplicate", "rx_ring_drops"):
            assert row[bad] == 0, (key, bad, row)
        assert row["bindings_reached"] == BINDINGS, key  # each binding's packets at its own LCoA (or the CN)
        assert sum(row["hop_limits"].values()) == row["ok"], key


def test_the_daemon_forwarded_what_arrived(run) -> None:
    """Cross-check with the daemon's own counters: it tunnelled (or reverse-forwarded) at least every frame that
    arrived; on the kernel path it tunnelled none (the kernel did)."""
    _, doc = run
    rows = doc["rows"]
    assert rows["userspace_down"]["dut_counters"]["tunnelled"] >= rows["userspace_down"]["ok"]
    assert rows["userspace_up"]["dut_counters"]["reverse_forwarded"] >= rows["userspace_up"]["ok"]
    assert rows["seg6_up"]["dut_counters"]["reverse_forwarded"] >= rows["seg6_up"]["ok"]
    for key in ("seg6_down", "seg6home_down"):
        assert rows[key]["dut_counters"]["tunnelled"] == 0, key
    # the bench's neighbours are permanent: the daemon sent on its packet sockets (cached next hops), no error
    for key in ("userspace_down", "userspace_up", "seg6_up"):
        counters = rows[key]["dut_counters"]
        assert counters["link_sent"] >= rows[key]["ok"] and counters["link_send_errors"] == 0, (key, counters)
    for reg in doc["registration"]:
        for plane in ("userspace", "seg6"):
            assert reg[plane]["accepted"] == reg[plane]["daemon_bindings"] == BINDINGS


def test_json_carries_parameters_machine_figures_and_ratios(run) -> None:
    proc, doc = run
    assert doc["benchmark"] == "dataplane"
    assert doc["params"]["bindings"] == BINDINGS and doc["params"]["rate"] == 2000
    assert doc["machine"]["cpus"] >= 1 and "kernel" in doc["machine"]
    assert set(doc["ratios"]) == set(RATIOS)
    for key, ratio in doc["ratios"].items():
        assert ratio["baseline"] == RATIOS[key][0] and ratio["goal"] == RATIOS[key][1]
        assert ratio["by_rate"] > 0 and ratio["by_cpu"] is not None and ratio["by_cpu"] > 0, key
    for key, row in doc["rows"].items():
        assert row["label"] == LABELS[key] and row["label"] in proc.stdout
        assert row["per_core"] is not None and row["per_core"] > 0, key


def test_nothing_is_left_behind(run) -> None:
    _, doc = run
    assert not [n for n in netns.list_names() if n.startswith(doc["prefix"])]
    assert not (runstate.STATE_ROOT / doc["prefix"]).exists()
