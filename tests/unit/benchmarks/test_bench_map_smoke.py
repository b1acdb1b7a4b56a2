"""Smoke test of ``benchmarks/bench_map.py``: the script runs end to end and cleans up.  Never asserts on speed."""

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

from benchmarks.bench_map import COLUMNS
from harness import netns
from harness.testbed import runstate

ROOT = Path(__file__).resolve().parents[3]
Run = tuple[subprocess.CompletedProcess[str], dict[str, Any]]
FORMATS = {key: spec for key, _, spec in COLUMNS}  # how the table prints each figure
FIGURES = tuple(FORMATS)
ALL_ROWS = ("baseline", "refresh", "new_off", "new_on", "forward", "core_handle", "core_bytes")
NETWORK_ROWS = ALL_ROWS[:5]

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the benchmark builds network namespaces and "
                                                 "uses AF_PACKET sockets"),
    pytest.mark.skipif(shutil.which("ip") is None or shutil.which("nft") is None,
                       reason="needs iproute2 (ip) and nftables (nft)"),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_map", "--seconds", "0.3", "--bindings", "20", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, json.loads(out.read_text())


def test_prints_every_figure_with_positive_finite_ratios(run: Run) -> None:
    proc, doc = run
    rows = {row["key"]: row for row in doc["rows"]}
    assert set(rows) == set(ALL_ROWS)
    for key, row in rows.items():
        assert row["label"] in proc.stdout, key
        expected = FIGURES if key in NETWORK_ROWS else ("recv_per_s", "cpu_us")
        for figure in expected:
            value, ratio = row.get(figure), row.get(f"{figure}_ratio")
            assert value is not None and ratio is not None, (key, figure)
            assert math.isfinite(value) and value > 0, (key, figure, value)
            assert math.isfinite(ratio) and ratio > 0, (key, figure, ratio)
            assert format(value, FORMATS[figure]) in proc.stdout, (key, figure, value)
    assert rows["baseline"]["recv_per_s_ratio"] == pytest.approx(1.0)
    for key in ("refresh", "new_off", "new_on"):
        assert rows[key]["statuses"].get("0", 0) > 0, key  # the daemon accepted BUs
    assert doc["prereg"]["received"] + doc["prereg"]["late"] == 20
    assert doc["daemons"]["daemon_off"]["decode_errors"] == 0
    assert "dad_retrans_timer" in proc.stdout and "dad: off" in proc.stdout


def test_leaves_nothing_behind(run: Run) -> None:
    _, doc = run
    prefix = doc["meta"]["prefix"]
    assert runstate.PREFIX_RE.match(prefix)
    assert not [n for n in netns.list_names() if n.startswith(prefix)]
    assert not (runstate.STATE_ROOT / prefix).exists()
    leftovers = subprocess.run(["pgrep", "-f", f"hmipv6ct/{prefix}/"], capture_output=True, text=True).stdout
    assert not leftovers.strip(), leftovers
