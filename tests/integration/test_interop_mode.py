"""``hmipv6ct run --interop`` on the virtual testbed for every DUT role: every interop test purpose PASSes with the
reference in the DUT's place, and its results carry the per-flow, per-phase measurements and the faults (the
access point failure, HMIP-IOP-APFAIL-001, is NOT APPLICABLE without Wi-Fi: tests/slow/test_wifi_vm_lab.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import paths

pytestmark = pytest.mark.netns

ROLES = ("map", "ar", "mn")
PURPOSES = {"HMIP-IOP-MOVE-001", "HMIP-IOP-ZLT-001", "HMIP-IOP-ECHO-001", "HMIP-IOP-CRASH-001", "HMIP-IOP-PREF-001",
            "HMIP-IOP-LINK-001", "HMIP-IOP-PART-001", "HMIP-IOP-LOSS-001", "HMIP-IOP-DELAY-001"}
FAULTS = {"HMIP-IOP-ZLT-001": "zero_lifetime_map", "HMIP-IOP-ECHO-001": "echo_loss", "HMIP-IOP-CRASH-001": "map_crash",
          "HMIP-IOP-PREF-001": "map_preference", "HMIP-IOP-LINK-001": "link_down", "HMIP-IOP-PART-001": "partition",
          "HMIP-IOP-LOSS-001": "packet_loss", "HMIP-IOP-DELAY-001": "path_delay"}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("interop")
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "--interop", "--out", str(out)],
                          capture_output=True, text=True, timeout=1500, cwd=paths.ROOT)
    return proc, out / "latest"


def test_interop_run_passes_for_every_role(run) -> None:
    proc, _ = run
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.stdout.count("PASS           HMIP-IOP-") == len(PURPOSES) * len(ROLES), proc.stdout[-4000:]


@pytest.mark.parametrize("role", ROLES)
def test_results_carry_flows_phases_and_faults(run, role: str) -> None:
    _, latest = run
    doc = json.loads((latest / role / "results.json").read_text())
    results = {r["test_purpose"]: r for r in doc["results"]}
    # the access point failure needs Wi-Fi access points: NOT APPLICABLE here, with the reason (tests/slow runs it)
    apfail = results.pop("HMIP-IOP-APFAIL-001")
    assert apfail["verdict"] == "NOT APPLICABLE" and "access point" in apfail["reason"], apfail
    assert set(results) == PURPOSES
    for tp, r in results.items():
        assert r["verdict"] == "PASS", f"{role} {tp}: {r['reason']}"
        e2e = [c for c in r["checks"] if c["requirement"] == "END-TO-END"]
        assert e2e and all(c["ok"] for c in e2e), f"{role} {tp}: no end-to-end check point"
        phases = r["records"]["phases"]
        assert set(phases) == {"cn->mn", "mn->cn", "echo"}, f"{role} {tp}: flows measured: {set(phases)}"
        for flow, stats in phases.items():
            assert stats and all(s["sent"] > 0 for s in stats), f"{role} {tp} {flow}: an empty phase"
        assert any(k.endswith("/interruption") for k in r["measurements"])
        if tp in FAULTS:
            kinds = {f["fault"] for f in r["faults"]}
            assert FAULTS[tp] in kinds, f"{role} {tp}: faults recorded: {kinds}"
            assert all(f["applied_at"] and f["removed_at"] for f in r["faults"]), f"{role} {tp}: {r['faults']}"
    move = results["HMIP-IOP-MOVE-001"]["records"]["phases"]["cn->mn"]
    assert [p["name"] for p in move][1:] == ["intra-domain move to ar2", "inter-domain move to ar3"]
    assert all(p["interruption"] is not None for p in move)
    assert results["HMIP-IOP-DELAY-001"]["measurements"]["previous_map_forwarded"]["value"] >= 1
    assert results["HMIP-IOP-ECHO-001"]["records"]["ar_declared_map_failed"] is True


def test_report_plots_every_flow_with_its_events(run) -> None:
    """Every interop test purpose's timeline (packets per 10 ms of each flow, the moves and faults marked) is in
    report.html, drawn from the timeline.json evidence the run saved."""
    _, latest = run
    page = (latest / "report.html").read_text()
    for role in ROLES:
        for tp in PURPOSES:
            timelines = json.loads((latest / role / "evidence" / tp / "timeline.json").read_text())
            assert set(timelines) == {"cn->mn", "mn->cn", "echo"}, f"{role} {tp}"
            assert all(s["arrivals"] and s["events"] for s in timelines.values()), f"{role} {tp}"
    assert page.count('class="timeline"') == len(ROLES) * len(PURPOSES) * 3
    # MOVE-001 and DELAY-001 move to AR3: marked on each of their three flows' timelines, in every role
    assert page.count('data-name="inter-domain move to ar3"') == len(ROLES) * 2 * 3
