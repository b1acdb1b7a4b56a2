"""End to end on the virtual testbed with every reference daemon: MN, MAP1/MAP2, AR1-3, HA, CN1/CN2.

The mobile node registers with MAP1 and the HA and binds at CN1 with return routability; a CN1 -> MN UDP flow with
sequence numbers runs through MAP1 (the path is read from the captures), the MN moves AR1 -> AR2 (intra-domain:
only the MAP is updated) and AR2 -> AR3 (inter-domain: new MAP, HA and CN updated, the previous MAP forwards
the packets still in flight, which a 100 ms delay line in front of MAP1's domain (2001:db8:100::/40, on RT's CN-facing port) guarantees).  The same scenario
runs with HMIPv6 switched off (plain Mobile IPv6): the baseline later benchmarks compare against.  Lost
datagrams are counted per phase and written to the test's report (``e2e-*.json`` in the pytest temp dir).
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness import paths
from harness.tester.packets import MIP6MH_BU, UDP, IPv6, ipv6_layers

pytestmark = pytest.mark.netns

FLOW_PORT, FLOW_RATE, DELAY = 9000, 100.0, 0.1


# -- helpers ----------------------------------------------------------------------------------------------------
def addr(tb, node: str) -> str:
    iface = next(i for i in tb.spec.nodes[node].interfaces.values() if i.address is not None)
    return str(iface.address.ip)


def prefix(tb, link: str) -> ipaddress.IPv6Network:
    return tb.spec.links[link].prefix


def show(tb, node: str) -> dict:
    out = subprocess.run(["ip", "netns", "exec", tb.netns_of(node), "sh", "-c", tb.control_command(node) + " show"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, f"{node}: control command failed: {out.stderr.strip()}"
    return json.loads(out.stdout)


def wait_state(tb, node: str, cond: Callable[[dict], bool], timeout: float, what: str) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = show(tb, node)["state"]
        if cond(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"{node}: {what} not reached within {timeout} s; state: {json.dumps(state)[:3000]}")
        time.sleep(0.05)


def bul(state: dict, kind: str, peer: str | None = None) -> dict | None:
    return next((e for e in state["binding_update_list"] if e["kind"] == kind and (peer is None or e["peer"] == peer)
                 and e["expires_at"] is not None and e["state"] == "bound"), None)


def in_net(address: str | None, net: ipaddress.IPv6Network) -> bool:
    return address is not None and ipaddress.IPv6Address(address) in net


def bu_to(dst: str, coa: str | None = None):
    """A BU whose (possibly tunnelled) IPv6 header is addressed to ``dst`` — any tunnel depth."""
    def match(f) -> bool:
        for layer in ipv6_layers(f.pkt):
            if layer.dst == dst and MIP6MH_BU in layer and (coa is None or layer.src == coa or _hao(layer) == coa):
                return True
        return False
    return match


def _hao(layer) -> str | None:
    from harness.tester.packets import HAO
    return layer[HAO].hoa if HAO in layer else None


def flow_frame(outer_src: str | None, outer_dst: str | None, inner_dst: str):
    """A flow datagram to ``inner_dst``, tunnelled ``outer_src -> outer_dst`` (None: not tunnelled)."""
    def match(f) -> bool:
        layers = ipv6_layers(f.pkt)
        if UDP not in f.pkt or f.pkt[UDP].dport != FLOW_PORT:
            return False
        if outer_dst is None:
            return len(layers) == 1 and layers[0].dst == inner_dst
        return (len(layers) >= 2 and layers[0].src == outer_src and layers[0].dst == outer_dst
                and layers[-1].dst == inner_dst)
    return match


class Proc:
    """A helper process in a node's namespace, started and ended by PID."""

    def __init__(self, tb, node: str, argv: list[str], log: Path) -> None:
        self.log = log
        with open(log, "w") as out:
            self.proc = subprocess.Popen(["ip", "netns", "exec", tb.netns_of(node), sys.executable, *argv],
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                         cwd=str(paths.ROOT))
        tb.state_required().started(self.proc.pid, f"{argv[1]} {node}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)


def run_flow_phases(tb, tester, tmp_path: Path, hmipv6: bool) -> dict:
    """The whole scenario; returns the per-phase report (also written to ``tmp_path``)."""
    spec, t = tb.spec, tb.spec.timers
    tb.attach("mn", "ar1")
    spec.nodes["mn"].daemon_options["hmipv6"] = hmipv6
    mn_home = None
    ha, cn1, map1, map2 = addr(tb, "ha"), addr(tb, "cn1"), spec.map_address("map1"), spec.map_address("map2")
    window = max(1.0, 1.25 * t.max_bindack_timeout)  # >= one retransmission interval of what must not appear
    report: dict = {"hmipv6": hmipv6, "delay_s": DELAY, "rate_pps": FLOW_RATE, "phases": {}}
    procs: list[Proc] = []
    first = tester.mark()
    tb.start_service("mn")
    lcoas: list[str] = []
    try:
        # 1. registration: MAP1 (HMIPv6), HA, CN1 with return routability
        def registered(s: dict) -> bool:
            ok = in_net(s["lcoa"], prefix(tb, "acc1")) and bul(s, "ha") is not None and bul(s, "cn", cn1) is not None
            return ok and (bul(s, "map", map1) is not None if hmipv6 else s["mode"] == "mipv6")
        state = wait_state(tb, "mn", registered, 20, "registration with MAP1, the HA and CN1")
        mn_home, lcoa1 = state["home_address"], state["lcoa"]
        coa1 = bul(state, "ha")["bound_coa"]
        if hmipv6:
            rcoa1 = bul(state, "map", map1)["home"]
            assert coa1 == rcoa1 and in_net(rcoa1, prefix(tb, "dom1")), "HA binding is not to MAP1's RCoA"
        else:
            assert coa1 == lcoa1 and state["mode"] == "mipv6"
        assert bul(state, "cn", cn1)["bound_coa"] == coa1, "CN1 binding is not to the care-of address the HA holds"

        # the flow CN1 -> home address, and a delay line in front of MAP1's domain (in-flight packets at the move)
        procs.append(Proc(tb, "rt", ["-m", "harness.programs.delay", "--iface", spec.nodes["rt"].interface_on("cn").name,
                                     "--prefix", str(prefix(tb, "dom1").supernet(new_prefix=40)),
                                     "--delay", str(DELAY)], tmp_path / "delay.log"))
        recv_out = tmp_path / f"recv-{'hmipv6' if hmipv6 else 'mipv6'}.json"
        procs.append(Proc(tb, "mn", ["-m", "harness.programs.flow", "recv", "--bind", mn_home, "--port", str(FLOW_PORT),
                                     "--out", str(recv_out)], tmp_path / "recv.log"))
        deadline = time.monotonic() + 5
        while not Path(str(recv_out) + ".ready").exists() or "ready" not in (tmp_path / "delay.log").read_text():
            assert time.monotonic() < deadline, "flow receiver or delay line did not start"
            time.sleep(0.02)
        mark = tester.mark()
        procs.append(Proc(tb, "cn1", ["-m", "harness.programs.flow", "send", "--src", cn1, "--dst", mn_home,
                                      "--port", str(FLOW_PORT), "--rate", str(FLOW_RATE),
                                      "--out", str(tmp_path / "send.json")], tmp_path / "send.log"))
        # path from the captures: route-optimised CN1 -> CoA on the core link, then tunnelled to the LCoA
        on_core = tester.wait_for(flow_frame(None, None, coa1), 5, mark, ["core"])
        assert on_core is not None, f"no CN1 -> {coa1} flow datagram on the core link"
        if hmipv6:
            assert tester.wait_for(flow_frame(map1, lcoa1, rcoa1), 5, mark, ["dom1"]) is not None, \
                "flow datagrams are not tunnelled MAP1 -> LCoA on MAP1's domain link"
        else:
            assert tester.wait_for(flow_frame(None, None, lcoa1), 5, mark, ["acc1"]) is not None
        report["phases"]["before"] = time.time()

        # 2. AR1 -> AR2
        mark = tester.mark()
        moved = tb.attach("mn", "ar2")
        report["phases"]["move1"] = moved.link_up
        if hmipv6:
            state = wait_state(tb, "mn", lambda s: in_net(s["lcoa"], prefix(tb, "acc2")) and (
                (b := bul(s, "map", map1)) is not None and b["bound_coa"] == s["lcoa"]), 10, "the intra-domain move")
            lcoa2 = state["lcoa"]
            assert tester.wait_for(bu_to(map1, lcoa2), 2, mark) is not None, "no local BU from the new LCoA to MAP1"
            # intra-domain: only the MAP is updated; the flow tunnelled to the new LCoA proves the capture alive
            offending = tester.absent(lambda l: bu_to(ha)(l) or bu_to(cn1)(l), window,
                                      alive=flow_frame(map1, lcoa2, rcoa1), since=mark)
            assert offending is None, f"intra-domain move sent a BU beyond the MAP: {offending.pkt.summary()}"
            assert bul(show(tb, "mn")["state"], "ha")["bound_coa"] == rcoa1, "HA binding changed on an intra-domain move"
        else:
            state = wait_state(tb, "mn", lambda s: in_net(s["lcoa"], prefix(tb, "acc2")) and (
                (b := bul(s, "ha")) is not None and b["bound_coa"] == s["lcoa"]), 10, "the move (Mobile IPv6)")
            lcoa2 = state["lcoa"]
            assert tester.wait_for(flow_frame(None, None, lcoa2), 5, mark, ["acc2"]) is not None

        # 3. AR2 -> AR3 (another MAP domain)
        time.sleep(0.5)  # let the flow run on the new path for a while (a phase of the measurement, not a wait)
        mark = tester.mark()
        moved = tb.attach("mn", "ar3")
        report["phases"]["move2"] = moved.link_up
        def rebound(s: dict) -> bool:
            ok = in_net(s["lcoa"], prefix(tb, "acc3"))
            ha_b, cn_b = bul(s, "ha"), bul(s, "cn", cn1)
            if hmipv6:
                m2 = bul(s, "map", map2)
                return (ok and m2 is not None and ha_b is not None and ha_b["bound_coa"] == m2["home"]
                        and cn_b is not None and cn_b["bound_coa"] == m2["home"])
            return ok and ha_b is not None and ha_b["bound_coa"] == s["lcoa"] and cn_b is not None \
                and cn_b["bound_coa"] == s["lcoa"]
        state = wait_state(tb, "mn", rebound, 15, "the inter-domain move (new RCoA at HA and CN1)")
        lcoa3 = state["lcoa"]
        if hmipv6:
            rcoa2 = bul(state, "map", map2)["home"]
            assert in_net(rcoa2, prefix(tb, "dom2")) and rcoa2 != rcoa1
            for dst, coa, what in ((map2, lcoa3, "new MAP"), (ha, rcoa2, "HA"), (cn1, rcoa2, "CN1"),
                                   (map1, lcoa3, "previous MAP")):
                assert tester.wait_for(bu_to(dst, coa), 3, mark) is not None, f"no BU to the {what} after the move"
            # previous MAP forwarding (base §8): datagrams still in flight to RCoA1 reach MAP1 and are tunnelled
            # to the new LCoA (they cross the core link MAP1 -> RT towards MAP2's domain)
            fwd = tester.wait_for(flow_frame(map1, lcoa3, rcoa1), 3, mark, ["core"])
            assert fwd is not None, "MAP1 forwarded no in-flight datagram to the new LCoA"
            assert tester.wait_for(flow_frame(map2, lcoa3, rcoa2), 5, mark, ["dom2"]) is not None, \
                "the flow did not continue through MAP2"
            report["previous_map_forwarded"] = sum(
                1 for f in tester.frames(mark, ["core"]) if flow_frame(map1, lcoa3, rcoa1)(f))
        else:
            assert tester.wait_for(flow_frame(None, None, lcoa3), 5, mark, ["acc3"]) is not None
            offending = tester.absent(lambda l: MIP6MH_BU in l.pkt and l.pkt[IPv6].dst in (map1, map2), window,
                                      alive=flow_frame(None, None, lcoa3), since=mark)
            assert offending is None, "HMIPv6 switched off, yet a BU went to a MAP"
        time.sleep(0.5)
        lcoas = [lcoa1, lcoa2, lcoa3]
        if hmipv6:  # base §6.6: no LCoA ever reaches the CN or the HA (at any tunnel depth, on their links)
            leaked = [f for f in tester.frames(first, ["cn", "home"])
                      if any(layer.src in lcoas or layer.dst in lcoas for layer in ipv6_layers(f.pkt))]
            assert not leaked, f"an LCoA reached the CN/HA side: {leaked[0].pkt.summary()}"
            report["frames_checked_for_lcoa"] = len(tester.frames(first, ["cn", "home"]))
    finally:
        for proc in reversed(procs):
            proc.stop()
        tb.stop_service("mn")
        spec.nodes["mn"].daemon_options.pop("hmipv6", None)
    sent = json.loads((tmp_path / "send.json").read_text())["sent"]
    got = json.loads(recv_out.read_text())
    arrivals = got["arrivals"]
    assert arrivals, "the mobile node received no datagram of the flow"
    for name, (start, end) in {"after_move1": (report["phases"]["move1"], report["phases"]["move2"]),
                               "after_move2": (report["phases"]["move2"], float("inf"))}.items():
        assert any(start < ts < end for _, ts, _ in arrivals), f"the flow did not continue {name}"
    assert all(peer == cn1 for _, _, peer in arrivals), "a datagram reached the socket with a peer other than CN1"
    report.update(sent=sent, received=got["received"], lost=sent - got["received"], duplicates=got["duplicates"],
                  reordered=got["reordered"], missing=got["missing"][:200])
    (tmp_path / f"e2e-{'hmipv6' if hmipv6 else 'mipv6'}.json").write_text(json.dumps(report, indent=1))
    print(f"\n{'HMIPv6' if hmipv6 else 'Mobile IPv6'}: sent {sent}, received {got['received']}, lost "
          f"{sent - got['received']}, previous-MAP forwarded {report.get('previous_map_forwarded', '-')}")
    return report


def test_hmipv6_end_to_end(tb, tester, tmp_path) -> None:
    report = run_flow_phases(tb, tester, tmp_path, hmipv6=True)
    assert report["previous_map_forwarded"] >= 1
    assert report["frames_checked_for_lcoa"] > 100  # the §6.6 check looked at real traffic


def test_plain_mobile_ipv6_baseline(tb, tester, tmp_path) -> None:
    report = run_flow_phases(tb, tester, tmp_path, hmipv6=False)
    assert report["received"] > 0
