"""CI smoke of ``hmipv6ct bench handover`` (``benchmarks/bench_handover.py``): two moves with one correspondent, in
HMIPv6 and in plain MIPv6 mode, through the command line, with two correspondents sharing an aggregate rate (so the
aggregate-stream figures are exercised).  Asserts only that the measurement is complete and
consistent -- every move measured, every datagram accounted for, the signalling captured equal to the mobile node
daemon's own counters, the delay element forwarding everything it received, the report written -- never a time."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import netns

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict, Path]:
    out = tmp_path_factory.mktemp("handover")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_handover", "--moves", "2", "--cns", "2", "--rate", "400",
         "--interval", "0.8", "--json", str(out / "result.json"), "--out", str(out / "report")],
        cwd=ROOT, capture_output=True, text=True, timeout=150)
    print(proc.stdout[-4000:], proc.stderr[-4000:])
    doc = json.loads((out / "result.json").read_text()) if (out / "result.json").exists() else {}
    if doc.get("prefix"):  # only this run's namespaces: other runs may be building their own meanwhile
        left = [n for n in netns.list_names() if n.startswith(doc["prefix"] + "-")]
        assert not left, f"the benchmark left namespaces behind: {left}"
    return proc, doc, out


@pytest.mark.netns
def test_cli_completes_and_writes_the_result(run) -> None:
    proc, doc, out = run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert doc["benchmark"] == "handover" and doc["params"]["moves"] == 2 and doc["params"]["cns"] == [2]
    assert doc["machine"]["cpus"] and "loadavg" in doc["machine"]
    assert doc["complete"] is True
    assert "hmipv6ct bench handover" in proc.stdout and "counters" in proc.stdout
    html = (out / "report" / "handover.html").read_text()
    assert "<table>" in html and "<svg" in html
    for svg in (out / "report").glob("*.svg"):
        ET.fromstring(svg.read_text())
    assert (out / "report" / "testbed.yaml").exists()


@pytest.mark.netns
def test_every_move_and_datagram_is_accounted_for(run) -> None:
    _, doc, _ = run
    assert {(c["mode"], c["n_cns"]) for c in doc["configs"]} == {("hmipv6", 2), ("mipv6", 2)}
    for c in doc["configs"]:
        s = c["summary"]
        assert s["measured"] >= 2, (c["mode"], s)
        measured = [m for m in c["moves"] if m["resumed"] and m["registered"] and m["interruption"] is not None]
        assert len(measured) == s["measured"]
        for m in measured:  # each measured move has all its parts, per flow and on the aggregate of the flows
            assert m["detection"] is not None and m["first_bu"] is not None and m["lost"] is not None
            assert len(m["flow_interruptions_ms"]) == 2 and all(v is not None for v in m["flow_interruptions_ms"])
            assert m["agg_interruption"] is not None and m["resolution"] is not None and m["resolution"] > 0
            assert m["verdict_agg" if c["mode"] == "hmipv6" else "verdict_agg_echo"] in ("ok", "unresolved", "fail")
        # the rate is the aggregate, split evenly; the per-N criterion counts every measured move once
        assert c["flow_rate"] == 200 and c["aggregate_rate"] == 400
        assert s["slot_ms"] == 2.5 and s["flow_interval_ms"] == 5.0
        crit = s["criterion_agg" if c["mode"] == "hmipv6" else "criterion_agg_echo"]
        assert crit["ok"] + crit["unresolved"] + crit["fail"] == crit["checked"] == s["measured"]
        assert c["sender"]["sends"] == s["sent"] + c["send_errors"]
        for a in c["accounting"]:
            assert a["sent"] > 0 and a["received"] > 0
            assert a["sent"] == a["received"] + a["lost_in_moves"] + a["lost_other"] + a["lost_tail"]
        assert s["sent"] == sum(a["sent"] for a in c["accounting"])


@pytest.mark.netns
def test_signalling_is_counted_and_matches_the_daemon(run) -> None:
    _, doc, _ = run
    for c in doc["configs"]:
        check = c["cross_check"]
        assert check["equal"], check
        measured = [m for m in c["moves"] if m["resumed"] and m["registered"] and m["interruption"] is not None]
        for m in measured:
            sig = m["signalling"]  # (no RS when a periodic RA came before the solicitation's random delay ended)
            if c["mode"] == "hmipv6":
                assert sig.get("bu_map", 0) >= 1 and m["rtt_map"] is not None
            else:  # plain MIPv6: home registration, then route optimisation with the CN (CoTI + BU)
                assert sig.get("bu_ha", 0) >= 1 and sig.get("coti", 0) >= 1 and sig.get("bu_cn", 0) >= 1
                assert sig.get("bu_map", 0) == 0


@pytest.mark.netns
def test_delay_element_forwarded_everything(run) -> None:
    _, doc, _ = run
    directions = doc["forwarder"]["directions"]
    assert len(directions) == 4  # core and domain links, both ways
    for name, d in directions.items():
        assert d["sent"] > 0 and d["dropped"] == 0 and d["send_errors"] == 0, (name, d)
        assert d["received"] == d["sent"] + d["queued"], (name, d)  # queued: in the line when it stopped
        assert d["lateness"]["min_ms"] >= 0  # never released before its due time
    assert doc["delay_element"]["core_map1_cn1"]["received"] == doc["delay_element"]["core_map1_cn1"]["sent"]
