"""The virtual Wi-Fi lab end to end: ``hmipv6ct run --interop --testbed testbeds/wifi-vm.yaml`` in a QEMU guest with
real Wi-Fi (mac80211_hwsim, hostapd, wpa_supplicant), driven through the same drivers as a physical lab.

One run, two test purposes: HMIP-IOP-MOVE-001 (the reference MN associates with AP1, registers with MAP1 through
AR1, roams to AR2 -- intra-domain -- and AR3 -- inter-domain -- while CN1 <-> MN flows run) and HMIP-IOP-APFAIL-001
(AR1's access point's hostapd is killed; the station reassociates elsewhere and the flows resume).  Judged here from
the run's results.json: the verdicts, the roam times read from the station's own log, and the Binding Updates on
the wire per phase (an intra-domain move tells only the MAP the new LCoA -- the HA and CN may see refreshes of the
unchanged RCoA --; an inter-domain move updates the new MAP and the HA).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import paths
from harness.qemu import qemu_available
from harness.testbed import load

pytestmark = [pytest.mark.slow, pytest.mark.qemu]

TESTBED = paths.ROOT / "testbeds" / "wifi-vm.yaml"
RUN_TIMEOUT = 900


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    why = qemu_available()
    if why:
        pytest.skip(why)
    missing = [tool for tool in ("hostapd", "wpa_supplicant", "iw", "hostapd_cli", "wpa_cli")
               if shutil.which(tool) is None and not os.access(f"/usr/sbin/{tool}", os.X_OK)]
    assert not missing, f"bootstrap.sh installs hostapd, wpasupplicant and iw; missing: {', '.join(missing)}"
    out = tmp_path_factory.mktemp("wifi-vm")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "--interop", "--testbed", str(TESTBED),
                           "--dut-role", "map", "--out", str(out), "--",
                           "-k", "flows_across_moves or access_point_failure"],
                          env=dict(os.environ, PYTHONPATH=str(paths.ROOT)), capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)
    elapsed = time.monotonic() - started
    runs = sorted(p for p in out.iterdir() if p.is_dir() and p.name != "latest")
    assert runs, f"no run directory (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    doc = json.loads((runs[-1] / "results.json").read_text())
    print(f"\nvirtual Wi-Fi lab run: {elapsed:.0f} s wall (boot, topology, two scenarios); {runs[-1]}")
    return {"doc": doc, "proc": proc, "dir": runs[-1]}


def _test(run: dict, tp: str) -> dict:
    tests = {t["test_purpose"]: t for t in run["doc"]["results"]}
    assert tp in tests, f"{tp} did not run: {sorted(tests)}\n{run['proc'].stdout[-3000:]}"
    return tests[tp]


def _in(prefix: str, address: str) -> bool:
    return ipaddress.IPv6Address(address) in ipaddress.IPv6Network(prefix)


def test_moves_with_real_roams_keep_the_flows(run: dict) -> None:
    t = _test(run, "HMIP-IOP-MOVE-001")
    assert t["verdict"] == "PASS", f"{t['verdict']}: {t['reason']}"
    m = t["measurements"]
    # the first attach is a roam only when the station had associated elsewhere at start (no roam, no figure)
    for phase in ("intra-domain move to ar2", "inter-domain move to ar3"):
        roam = m.get(f"roam/{phase}")
        assert roam is not None, f"no roam time for {phase}: {sorted(m)}"
        assert 0 < roam["value"] < 5000 and roam["unit"] == "ms", roam
        assert "station's log" in roam["note"], roam
    # every flow resumed after each move (the verdict says so; the interruption is measured too)
    for flow in ("cn->mn", "mn->cn", "echo"):
        assert m[f"{flow}/intra-domain move to ar2/interruption"]["value"] is not None


def test_registration_and_moves_signal_what_hmipv6_says(run: dict) -> None:
    spec = load(TESTBED)
    map1, map2 = spec.map_address("map1"), spec.map_address("map2")
    ha = str(spec.nodes["ha"].interface_on("home").address.ip)
    sig = _test(run, "HMIP-IOP-MOVE-001")["records"]["signalling"]
    acc = {name: str(spec.links[name].prefix) for name in ("acc1", "acc2", "acc3")}
    # registered with MAP1 through AR1: a local BU from an LCoA on acc1
    assert any(bu["dst"] == map1 and _in(acc["acc1"], bu["src"]) for bu in sig["attached"]), sig["attached"]
    # intra-domain: only the MAP is told of the new LCoA.  A BU to the HA or a CN in the phase can only be a periodic
    # refresh of the unchanged RCoA (source in MAP1's domain prefix), never one carrying the new LCoA.
    intra = sig["intra-domain move to ar2"]
    dom1 = str(spec.links["dom1"].prefix)
    assert any(bu["dst"] == map1 for bu in intra), intra
    assert all(_in(acc["acc2"], bu["src"]) for bu in intra if bu["dst"] == map1), intra
    others = [bu for bu in intra if bu["dst"] != map1]
    assert all(_in(dom1, bu["src"]) for bu in others), f"a BU beyond the MAP carries a new care-of address: {others}"
    # inter-domain: the new MAP, and the HA (from the new RCoA)
    inter = sig["inter-domain move to ar3"]
    assert any(bu["dst"] == map2 and _in(acc["acc3"], bu["src"]) for bu in inter), inter
    assert any(bu["dst"] == ha for bu in inter), inter


def test_access_point_failure_reconnects_and_flows_resume(run: dict) -> None:
    t = _test(run, "HMIP-IOP-APFAIL-001")
    assert t["verdict"] == "PASS", f"{t['verdict']}: {t['reason']}"
    phase = next(k for k in t["measurements"] if k.startswith("roam/access point"))
    roam = t["measurements"][phase]
    assert 0 < roam["value"] < 10000, roam
    assert [f["fault"] for f in t["faults"]] == ["ap_crash"], t["faults"]
    assert t["faults"][0]["removed_at"] is not None


CRASH = """
import os, sys
from harness.testbed import load, open_backend
tb = open_backend(load(sys.argv[1]))
def crash(*args):  # the runner dies once the guest is up: no teardown at all
    print("UP", tb.state.prefix, tb.vm.pid, tb.tester_ns, flush=True)
    os._exit(9)
tb._start_agent = crash
tb.up()
"""


def test_clean_removes_a_crashed_runs_guest_and_tester_namespace() -> None:
    why = qemu_available()
    if why:
        pytest.skip(why)
    env = dict(os.environ, PYTHONPATH=str(paths.ROOT))
    out = subprocess.run([sys.executable, "-c", CRASH, str(TESTBED)], env=env, capture_output=True, text=True,
                         timeout=300)
    words = out.stdout.split()
    assert out.returncode == 9 and words[:1] == ["UP"], out.stdout + out.stderr[-2000:]
    prefix, pid, tester_ns = words[1], int(words[2]), words[3]
    assert _qemu_running(pid) and tester_ns in _namespaces()
    cleaned = subprocess.run([sys.executable, "-m", "harness", "clean"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert f"removed process {pid} (qemu" in cleaned.stdout and f"removed namespace {tester_ns}" in cleaned.stdout
    assert not _qemu_running(pid), "QEMU survived clean"
    assert tester_ns not in _namespaces()
    from harness.testbed import runstate
    assert not (runstate.STATE_ROOT / prefix).exists(), f"the run's state {prefix} was kept: {cleaned.stdout}"


def _qemu_running(pid: int) -> bool:
    """QEMU with that PID exists and is not a zombie (an orphan's zombie may linger under a non-reaping init)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z" and "qemu" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")


def _namespaces() -> list[str]:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
