"""Smoke test of ``hmipv6ct bench map`` (``benchmarks/bench_map.py``) with tiny parameters: the measurement is
complete and consistent -- every BU answered by an accepted BA and counted by the daemon, every figure with its
ratio to the baseline, the JSON result with parameters and machine -- and nothing is left behind.  Never asserts
on speed."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness import netns
from harness.testbed import runstate

ROOT = Path(__file__).resolve().parents[2]
SIZES, RATES, NEW_RATES = (40, 160), (300, 1000), (50,)
Run = tuple[subprocess.CompletedProcess[str], dict[str, Any]]

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the benchmark builds network namespaces and "
                                                 "uses AF_PACKET sockets"),
    pytest.mark.skipif(shutil.which("ip") is None or shutil.which("nft") is None,
                       reason="needs iproute2 (ip) and nftables (nft)"),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("bench") / "map.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_map", "--seconds", "0.3", "--sizes", ",".join(map(str, SIZES)),
         "--rates", ",".join(map(str, RATES)), "--new-rates", ",".join(map(str, NEW_RATES)),
         "--core-bindings", "20", "--window", "8", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, json.loads(out.read_text())


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def _every_bu_answered(step: dict[str, Any], what: str) -> None:
    assert step["sent"] > 0, what
    assert step["lost"] == 0 and step["unmatched"] == 0, (what, step)
    assert step["received"] + step["late"] == step["sent"], (what, step)
    assert step["statuses"] == {"0": step["sent"]}, (what, step["statuses"])  # every BA accepted the BU
    assert step["daemon_bu_received"] == step["sent"], (what, step)  # the daemon counted each one once
    for figure in ("recv_per_s", "p50_ms", "p99_ms", "cpu_us"):
        assert _positive(step[figure]) and _positive(step[f"{figure}_ratio"]), (what, figure, step)


def test_json_result_has_parameters_machine_and_every_figure(run: Run) -> None:
    proc, doc = run
    assert doc["benchmark"] == "map" and doc["started"] and doc["finished"] >= doc["started"]
    assert doc["params"]["sizes"] == list(SIZES) and doc["params"]["rates"] == list(RATES)
    assert doc["params"]["new_rates"] == list(NEW_RATES) and doc["params"]["fast_refresh"] is True
    assert doc["machine"]["cpus"] >= 1 and doc["machine"]["kernel"] and "loadavg" in doc["machine"]
    assert set(doc["baseline"]) == {str(r) for r in (*NEW_RATES, *RATES, 0)}
    for rate, step in doc["baseline"].items():
        assert step["lost"] == 0 and step["received"] + step["late"] == step["sent"] > 0, (rate, step)
        assert step["recv_per_s_ratio"] == pytest.approx(1.0)
    assert set(doc["sizes"]) == {str(s) for s in SIZES}
    for size, entry in doc["sizes"].items():
        assert entry["memory"]["bindings"] == int(size)
        assert _positive(entry["memory"]["rss_kb"]) and _positive(entry["memory"]["rss_ratio"])
        assert set(entry["refresh"]) == {str(r) for r in (*RATES, 0)}
        for key in ("refresh", "new_dad_on", "new_dad_optimistic"):
            for rate, step in entry[key].items():
                _every_bu_answered(step, f"{key} {rate}/s, {size} bindings")
        for step in entry["refresh"].values():  # plain refreshes took the fast path (unless a timer was due)
            assert step["sent"] / 2 < step["daemon_fast_refreshes"] <= step["sent"]
        assert entry["new_dad_on"][str(NEW_RATES[0])]["p50_ms"] >= 1000  # each BA waited for DAD (1 s)
    assert doc["problems"] == []
    for key in ("core_handle", "core_full", "core_fast"):
        assert _positive(doc["core"][key]["per_s"]) and _positive(doc["core"][key]["per_s_ratio"])
    goals = [g["goal"] for g in doc["goals"]]
    assert [g for g in goals if g.startswith(">= 20,000 refresh BU/s sustained")] and "1 GB" not in str(goals)
    counters = doc["daemon"]["counters"]
    assert counters["decode_errors"] == 0 and counters["internal_errors"] == 0 and counters["send_errors"] == 0
    assert "baseline: AF_PACKET reflector" in proc.stdout and "bytes per binding" in proc.stdout


def test_leaves_nothing_behind(run: Run) -> None:
    _, doc = run
    prefix = doc["prefix"]
    assert runstate.PREFIX_RE.match(prefix)
    assert not [n for n in netns.list_names() if n.startswith(prefix)]
    assert not (runstate.STATE_ROOT / prefix).exists()
    leftovers = subprocess.run(["pgrep", "-f", f"hmipv6ct/{prefix}/"], capture_output=True, text=True).stdout
    assert not leftovers.strip(), leftovers
