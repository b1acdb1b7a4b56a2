"""``hmipv6ct load`` in a CI-sized form: 100 emulated mobile nodes against the reference MAP of a virtual testbed the
run builds itself.  Asserted: the measurement is complete and consistent -- every mobile node's registration was
answered and counted, every BA the MAP says it sent was seen by the fleet, every move was answered, the sampled RCoAs
were found tunnelled to their current LCoA by the tester's capture before and after their moves -- and the outputs
exist (JSON with parameters and machine, table, SVG).  Nothing about rates or latencies (wall-clock figures)."""

from __future__ import annotations

import ast
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import harness.load.check
from harness.load.cli import main

MNS, SAMPLE, MOVES = 100, 4, 20


@pytest.mark.netns
def test_load_smoke(tmp_path, capsys):
    result, out = tmp_path / "load.json", tmp_path / "out"
    rc = main(["--mns", str(MNS), "--rate", "200", "--moves", str(MOVES), "--duration", "2", "--sample", str(SAMPLE),
               "--json", str(result), "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    doc = json.loads(result.read_text())
    assert doc["benchmark"] == "load" and doc["params"]["mns"] == MNS and doc["machine"]["cpus"]

    reg = doc["registration"]
    assert reg["complete"] and reg["registered"] == MNS  # every mobile node got its accepting BA
    assert doc["statuses"] == {"0": MNS + MOVES} and doc["rejected"] == {} and doc["waiting_at_end"] == 0
    assert doc["counters"]["accepted_register"] == MNS and doc["counters"]["accepted_move"] == MOVES
    assert doc["latency"]["register"]["count"] == MNS and doc["latency"]["move"]["count"] == MOVES
    acc = doc["accounting"]  # the MAP's own count of BAs sent, against what the fleet saw on the wire
    assert acc["map_ba_sent"] == acc["fleet_ba_seen"] and acc["unaccounted"] == 0
    assert doc["map"]["bindings"] == MNS and doc["map"]["security"]["dropped"] == 0

    before, after = doc["tunnel_check"]["before_moves"], doc["tunnel_check"]["after_moves"]
    assert before["checked"] == SAMPLE and before["tunnelled_to_current_lcoa"] == SAMPLE
    assert after["checked"] == SAMPLE and after["moved"] == SAMPLE  # the sampled nodes move first
    assert after["tunnelled_to_current_lcoa"] == SAMPLE and after["moved_ok"] == SAMPLE
    assert before["misdirected"] == after["misdirected"] == 0

    assert "registration: 100/100 registered" in printed
    assert (out / "table.txt").read_text().strip() in printed
    svg = ET.parse(out / "load.svg").getroot()
    assert svg.tag.endswith("svg") and len(list(svg.iter("{http://www.w3.org/2000/svg}polyline"))) >= 6


def test_tunnel_check_is_the_testers_own():
    """The tunnelled-traffic judgement uses the tester's capture and scapy, never the reference codec."""
    tree = ast.parse(Path(harness.load.check.__file__).read_text())
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not any(m.startswith("reference_impl") for m in modules), modules
    assert {"harness.tester", "harness.tester.packets"} <= modules
