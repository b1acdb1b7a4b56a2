"""MAP scenario: a crash that loses the binding cache, the restart, and the mobile node's re-registration
(base §10; RFC 6275 §9.5.1).

Topology: MN' played by the tester on the MAP's first access link (as in test_map_registration); the tester also
plays a correspondent on a link of the MAP other than its domain link (testbeds/virtual.yaml: core), sending a
numbered UDP stream to the RCoA (:mod:`harness.tester.stream`).  The fault ``map_crash`` kills the MAP's daemon
without letting it clean up and starts it again; a testbed or device that cannot do that makes the test NOT
APPLICABLE.
"""

from __future__ import annotations

import ipaddress
import time

import pytest

from harness.tester.mobility import PlayedMobileNode, tunnelled_to
from harness.tester.packets import MIP6MH_BA
from harness.tester.stream import Stream

pytestmark = pytest.mark.role("map")

ANY_SEQ = "MIP6-6275-9.5.1-P4-MUST-1"
TUNNEL = "HMIP-4140-6.1-P2-BIND-4"
SEQ_BEFORE, SEQ_AFTER = 3000, 7  # 7 is "older" than 3000 modulo 2**16: refused if the MAP still knew 3000


@pytest.fixture
def upstream(testbed, dut):
    """(link, MAC of the MAP on it): a link of the MAP other than its domain link, where the tester plays a CN."""
    spec = testbed.spec
    home = spec.map_link(dut.node)
    for iface in spec.nodes[dut.node].interfaces.values():
        link = spec.links[iface.link]
        if link.name != home.name and "tester" in link.members and iface.mac:
            return link, iface.mac
    pytest.skip("NOT APPLICABLE: the testbed gives the MAP no other link with a known MAC that the tester is on")


@pytest.mark.tp(id="HMIP-MAP-CRASH-001",
                title="After a crash that lost the binding cache, a refreshing BU with any sequence number is "
                      "accepted and traffic follows the new binding only")
@pytest.mark.requirements(ANY_SEQ, TUNNEL)
def test_restart_accepts_any_sequence(testbed, dut, tester, mn, upstream, inject, judge, ba_timeout) -> None:
    """
    Purpose:        A MAP that crashed and restarted has no binding cache entry for the RCoA, so it accepts the
                    mobile node's next BU whatever its sequence number, and from then on tunnels the RCoA's
                    traffic to the care-of address of that BU -- never to one known only before the crash.
    Topology:       MN' (tester) on the MAP's access link with two LCoAs (::c0a, then ::c0b: it "moved" on the same
                    link while the MAP was down); a CN played by the tester on the MAP's upstream link.
    Initialisation: DUT restarted (empty binding cache).
    Procedure:      1. MN' registers RCoA -> LCoA1 with sequence number 3000 (lifetime 40 s).
                    2. The CN starts a 50/s UDP stream to the RCoA; it must arrive tunnelled to LCoA1.
                    3. Apply map_crash (SIGKILL of the MAP's daemon: no clean-up), then remove it (restart).
                    4. MN' sends BU(seq 7, lifetime 40 s, A M) from LCoA2 for the same RCoA: 7 is older than 3000
                       modulo 2**16, so only a MAP that lost its entry may accept it.
                    5. The stream runs on for 2 s after the BA.
    Judgement:      1. The BU is accepted (BA status < 128): no cache entry, any sequence number.
                    2. The stream arrives tunnelled MAP -> LCoA2.
                    3. After the BA, no datagram of the stream is tunnelled to LCoA1 (stale state from before the
                       crash would misdeliver it), while datagrams to LCoA2 prove the capture alive.
                    Measured: restart (crash to the daemon answering its management), fault_to_reaction (restart to
                    the BA), recovery (crash to the first datagram at LCoA2), lost_packets (stream datagrams sent
                    from the crash to the recovery that arrived nowhere), datagrams tunnelled to LCoA1 after the
                    restart but before the new BU (recorded, not judged: no clause covers a MAP forwarding without
                    a binding it lost).
    Reference:      RFC 6275 §9.5.1 "If the receiving node has no Binding Cache entry for the indicated home
                    address, it MUST accept any Sequence Number value in a received Binding Update from this mobile
                    node."; base §6.1 "all packets addressed to the mobile node's RCoA are intercepted by the MAP
                    and tunnelled to the mobile node's LCoA."; base §10 "If a MAP fails, its binding cache content
                    will be lost".
    """
    link, map_mac = upstream
    cn_address = str(link.prefix.network_address + 0x99)
    lcoa2 = str(ipaddress.IPv6Address(mn.lcoa) + 1)
    judge.step(f"1. register {mn.rcoa} -> {mn.lcoa} with sequence number {SEQ_BEFORE}")
    ba = mn.register(SEQ_BEFORE, 40, ba_timeout)
    judge.require(ba is not None and ba.pkt[MIP6MH_BA].status < 128, "the DUT did not accept the first registration")

    judge.step(f"2. UDP stream {cn_address} -> {mn.rcoa} from {link.name}")
    second = PlayedMobileNode(tester, mn.link, mn.router_mac, lcoa2, mn.rcoa, mn.map)
    start = tester.mark()
    with Stream(tester, link.name, map_mac, cn_address, mn.rcoa) as stream:
        try:
            first = tester.wait_for(lambda f: Stream.seq_of(f) is not None and tunnelled_to(f, mn.lcoa, mn.rcoa),
                                    3.0, start, [mn.link])
            judge.require(first is not None, f"the stream did not reach {mn.lcoa} tunnelled before the crash "
                                             "(see HMIP-MAP-TUN-001)")

            judge.step("3. crash the MAP, then restart it")
            fault = inject("map_crash", map_node=dut.node)
            fault.remove()
            judge.measure("restart", round(fault.removed_at - fault.applied_at, 3), "s")

            judge.step(f"4. BU seq {SEQ_AFTER} from {lcoa2}")
            mark = second.send_bu(SEQ_AFTER, 40)
            bu_sent = time.time()
            judge.record("tunnelled_to_lcoa1_between_restart_and_new_bu", len(stream.arrivals(
                start, [mn.link], lambda f: tunnelled_to(f, mn.lcoa, mn.rcoa) and fault.removed_at < f.time < bu_sent)))
            ba2 = second.wait_ba(SEQ_AFTER, mark, ba_timeout)
            status = ba2.pkt[MIP6MH_BA].status if ba2 is not None else None
            judge.check(ANY_SEQ, status is not None and status < 128,
                        "no BA" if status is None else
                        f"BA status {status} for sequence number {SEQ_AFTER} after the restart"
                        + (f" (it still knew sequence number {ba2.pkt[MIP6MH_BA].seq})" if status == 135 else ""),
                        frame=ba2, tshark={"mip6.ba.status": status} if ba2 is not None else None)
            judge.measure("fault_to_reaction", round(ba2.time - fault.removed_at, 3), "s",
                          "restart to the BA of the new registration")

            judge.step("5. the stream follows the new binding only")
            new_path = tester.wait_for(lambda f: Stream.seq_of(f) is not None and tunnelled_to(f, lcoa2, mn.rcoa),
                                       3.0, mark, [mn.link])
            judge.check(TUNNEL, new_path is not None,
                        f"stream datagrams tunnelled to {lcoa2} after the new BA: " + ("seen" if new_path else "none"),
                        frame=new_path)
            stale = tester.absent(lambda f: Stream.seq_of(f) is not None and tunnelled_to(f, mn.lcoa, mn.rcoa)
                                  and f.time > ba2.time, window=2.0, since=mark, links=[mn.link],
                                  alive=lambda f: Stream.seq_of(f) is not None and tunnelled_to(f, lcoa2, mn.rcoa))
            judge.check(TUNNEL, stale is None,
                        f"after the BA for {lcoa2} a datagram was still tunnelled to the pre-crash LCoA {mn.lcoa}"
                        if stale is not None else f"nothing tunnelled to {mn.lcoa} after the new binding",
                        frame=stale)
        finally:
            stream.stop()
            second.release()
    recovered = new_path.time
    judge.measure("recovery", round(recovered - fault.applied_at, 3), "s", "crash to the first datagram at LCoA2")
    arrived = stream.arrivals(start, [mn.link], lambda f: tunnelled_to(f, mn.lcoa, mn.rcoa)
                              or tunnelled_to(f, lcoa2, mn.rcoa))
    outage = stream.summary(arrived, between=(fault.applied_at, recovered))
    judge.measure("lost_packets", outage["lost"], "packets",
                  f"of {outage['expected']} sent from the crash to the recovery, at 50/s")
    judge.record("stream", {k: v for k, v in stream.summary(arrived).items() if k != "missing"})
    judge.timeline("CN -> RCoA stream at the access link", [t for _, t in arrived],
                   [("MAP crashed", fault.applied_at), ("MAP restarted", fault.removed_at), ("BU from LCoA2", bu_sent),
                    ("BA", ba2.time)])
