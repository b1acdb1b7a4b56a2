"""MN test purposes: the local BU, its retransmission and refresh, the BAs the MN must ignore, and the home
registration that follows the MAP's BA.

Topology (all of them, conformance/suite/mn_support.py): the mobile node alone on acc0 with the tester, which
plays the access router R1 (prefix 2001:db8:1f0::/64), the MAP MAP-A (2001:db8:1a::1, RCoA prefix
2001:db8:1a::/64), the home agent and the correspondents.  The MN is restarted on acc0 before each test and
stopped after it.
"""

from __future__ import annotations

import ipaddress
import itertools

import pytest

from conformance.suite import mn_support
from conformance.suite.mn_support import MAP_A, NO_RH2, PREFIX_1, MapAd, in_prefix, prefix64, same

pytestmark = pytest.mark.role("mn")


@pytest.fixture
def bench(testbed, tester, _dut_session, edition):
    """The MN restarted on acc0 (the plugin's ``_dut_session`` handle, not ``dut``: restarting it on its
    testbed link first would let it register with the testbed's own MAP)."""
    yield from mn_support.bench(testbed, tester, _dut_session, edition)


def _addr(a: str) -> str:
    return str(ipaddress.IPv6Address(a))


@pytest.mark.tp(id="HMIP-MN-BU-001", title="Local BU: LCoA as source, RCoA from the MAP prefix in the HAO, A and M set")
@pytest.mark.requirements("HMIP-4140-3.1-P10-MUST-1", "HMIP-4140-6.1-P1-BIND-2", "HMIP-4140-6.1-P1-BIND-1",
                          "HMIP-4140-6-P1-BIND-1", "HMIP-4140-4.1-P1-MUST-1", "HMIP-4140-2-P6-BIND-1",
                          "HMIP-4140-5-P6-MUST-1", "HMIP-4140-7.2-P7-MUST-1", "HMIP-4140-3.1-P8-BIND-1",
                          "MIP6-6275-6.1.1-P17-BIND-1")
def test_local_bu_format(bench, judge, edition) -> None:
    """
    Purpose:        The first local BU after a Router Advertisement with a MAP option binds an RCoA formed on
                    the MAP's prefix (carried in the Home Address option) to an LCoA formed on the advertised
                    on-link prefix (the IPv6 source), with A and M set.
    Topology:       MN -- acc0 -- tester (R1 2001:db8:1f0::/64, MAP-A 2001:db8:1a::1).
    Initialisation: MN restarted on acc0 (no binding, no stored MAP option).
    Procedure:      1. R1 advertises prefix 2001:db8:1f0::/64 and a MAP option for MAP-A (Dist 1, Pref 10,
                       R=1 in rfc4140, R=0 in rfc5380: INC-5).
                    2. Wait for the local BU to MAP-A (not answered).
    Judgement:      1. Its IPv6 source is an address on the advertised prefix 2001:db8:1f0::/64    base §3.1
                    2. ... and is not the RCoA nor on the MAP's prefix (the LCoA is the source)   base §6.1
                    3. A Home Address option (length 16) holds an address on MAP-A's /64 (the RCoA)
                                                                        base §6, §6.1, §5 (R), §7.2, §3.1
                    4. A and M are set                                                        base §4.1, §2
                    5. The Mobility Header checksum uses the Home Address option's address   RFC 6275 §6.1.1
                    (Recorded: H, L, K, lifetime, an Alternate Care-of Address option, whether the RCoA's
                    interface identifier is the LCoA's.)
    Reference:      base §3.1 "The LCoA included in the binding update MUST be the mobile node's address derived
                    from the prefix advertised on its link."; §6.1 "The local BU ... includes the mobile node's
                    RCoA in the Home Address Option. ... The LCoA is used as the source address of the BU.";
                    §4.1 "When a mobile node registers with the MAP, the M and A flags MUST be set".
    """
    judge.step("1. R1 advertises 2001:db8:1f0::/64 and MAP-A")
    since = bench.advertise(maps=[MapAd(MAP_A)])
    judge.step("2. wait for the local BU to MAP-A")
    bu = bench.wait_local_bu(MAP_A, since)
    judge.require(bu is not None, f"no local BU to {MAP_A} within {bench.react_timeout:.1f} s")
    src, hao = bu.ip.src, bu.hao
    judge.record("flags", bu.flags)
    judge.record("lifetime_s", bu.lifetime)
    judge.record("alternate_coa_option", bu.alt_coa)
    map_net = prefix64(MAP_A)
    on_link = in_prefix(src, PREFIX_1)
    judge.check("HMIP-4140-3.1-P10-MUST-1", on_link, f"source {src} is not on the advertised prefix {PREFIX_1}",
                frame=bu.frame, tshark={"ipv6.src": _addr(src)})
    judge.check("HMIP-4140-6.1-P1-BIND-2", on_link and not same(src, hao) and not in_prefix(src, map_net),
                f"source {src} (RCoA {hao}): the LCoA is not the source")
    opt = bu.hao_option
    judge.check("HMIP-4140-6.1-P1-BIND-1", opt is not None and opt.optlen == 16,
                "no Home Address option" if opt is None else f"Home Address option length {opt.optlen}")
    judge.check("HMIP-4140-6-P1-BIND-1", in_prefix(hao, map_net),
                f"Home Address option {hao} is not on the MAP option's prefix {map_net}",
                frame=bu.frame, tshark={"ipv6.opt.mipv6.home_address": _addr(hao)})
    judge.record("rcoa_iid_is_lcoa_iid", (int(ipaddress.IPv6Address(hao)) ^ int(ipaddress.IPv6Address(src)))
                 & ((1 << 64) - 1) == 0)
    if edition == "rfc4140":
        judge.check("HMIP-4140-5-P6-MUST-1", in_prefix(hao, map_net), f"R=1 but the RCoA {hao} is not on {map_net}")
        judge.check("HMIP-4140-7.2-P7-MUST-1", in_prefix(hao, map_net), f"R=1 but the home address in the BU is {hao}")
        judge.check("HMIP-4140-3.1-P8-BIND-1", in_prefix(hao, map_net), f"the home address in the BU is {hao}")
    judge.check("HMIP-4140-4.1-P1-MUST-1", bu.flag("A") and bu.flag("M"), f"flags {bu.flags or 'none'} (A and M must "
                "be set)", frame=bu.frame, tshark={"mip6.bu.a_flag": int(bu.flag("A")), "mip6.bu.m_flag": int(bu.flag("M"))})
    judge.check("HMIP-4140-2-P6-BIND-1", bu.flag("M"), "the local BU does not have the M flag set")
    carried, computed = bench.checksum_ok(bu)
    judge.check("MIP6-6275-6.1.1-P17-BIND-1", carried == computed,
                f"checksum {carried:#06x}, expected {computed:#06x} (pseudo-header source = the HAO address)",
                frame=bu.frame, tshark={"mip6.csum": f"0x{carried:04x}"})


@pytest.mark.tp(id="HMIP-MN-BU-002", title="Local BU lifetime <= the MAP option's and the on-link prefix's valid lifetime")
@pytest.mark.requirements("MIP6-6275-11.7.1-P11-SHOULD-1")
def test_local_bu_lifetime_bounded(bench, judge) -> None:
    """
    Purpose:        The lifetime a local BU requests does not exceed the RCoA's validity (the MAP option's valid
                    lifetime) nor the LCoA's (the on-link prefix's valid lifetime).
    Topology:       MN -- acc0 -- tester (R1, MAP-A).
    Initialisation: MN restarted on acc0; it requests more than 12 s by itself (the virtual testbed's MN asks
                    for 20 s).
    Procedure:      1. R1 advertises MAP-A with valid lifetime 12 s and the prefix with 86400 s.
                    2. Wait for the local BU.
                    3. Restart the MN; R1 advertises MAP-A with 86400 s and the prefix with valid (and preferred)
                       lifetime 8 s.  4. Wait for the local BU.
    Judgement:      1. The first BU's lifetime is <= 12 s.  2. The second BU's lifetime is <= 8 s.
    Reference:      RFC 6275 §11.7.1 "The value specified in the Lifetime field ... SHOULD be less than or equal
                    to the remaining valid lifetime of the home address and the care-of address specified for the
                    binding." (home address = the RCoA, valid as long as the MAP option says: base §5).
    """
    judge.step("1. MAP-A valid lifetime 12 s, prefix 86400 s")
    bu = bench.wait_local_bu(MAP_A, bench.advertise(maps=[MapAd(MAP_A, valid=12)]))
    judge.require(bu is not None, "no local BU after the first Router Advertisement")
    judge.record("lifetime_option_12s", bu.lifetime)
    judge.check("MIP6-6275-11.7.1-P11-SHOULD-1", 0 < bu.lifetime <= 12,
                f"requested {bu.lifetime} s with a MAP option valid for 12 s", frame=bu.frame,
                tshark={"mip6.bu.lifetime": bu.msg.mhtime})
    judge.step("3. restart; MAP-A 86400 s, prefix valid 8 s")
    bench.start()
    bu = bench.wait_local_bu(MAP_A, bench.advertise(maps=[MapAd(MAP_A)], prefix_valid=8))
    judge.require(bu is not None, "no local BU after the second Router Advertisement")
    judge.record("lifetime_prefix_8s", bu.lifetime)
    judge.check("MIP6-6275-11.7.1-P11-SHOULD-1", 0 < bu.lifetime <= 8,
                f"requested {bu.lifetime} s with an LCoA (prefix) valid for 8 s", frame=bu.frame,
                tshark={"mip6.bu.lifetime": bu.msg.mhtime})


@pytest.mark.tp(id="HMIP-MN-BU-003", title="Unacknowledged local BU: retransmitted with exponential back-off, new sequence numbers")
@pytest.mark.requirements("MIP6-6275-11.8-P6-SHOULD-1", "MIP6-6275-11.8-P7-MUST-1", "MIP6-6275-11.8-P9-MUST-1")
def test_local_bu_backoff(bench, judge) -> None:
    """
    Purpose:        Without a BA the MN retransmits its local BU, doubling the interval each time until
                    MAX_BINDACK_TIMEOUT, each time with a greater sequence number.
    Topology:       MN -- acc0 -- tester (R1, MAP-A); the MAP never answers.
    Initialisation: MN restarted on acc0.
    Procedure:      1. R1 advertises MAP-A.  2. Capture local BUs to MAP-A until the interval has reached
                    MAX_BINDACK_TIMEOUT (testbed timer profile) and once more, or at most 8 BUs.
    Judgement:      1. The BU is retransmitted                                           RFC 6275 §11.8 SHOULD
                    2. Each interval is twice the one before (+-25 % and 30 ms), capped at
                       MAX_BINDACK_TIMEOUT (then equal to it)                              RFC 6275 §11.8 MUST
                    3. Each retransmission has a greater sequence number (modulo 2**16)   RFC 6275 §11.8 MUST
                    (Recorded: the intervals; the first should be InitialBindackTimeoutFirstReg.)
    Reference:      RFC 6275 §11.8 "The retransmissions by the mobile node MUST use an exponential back-off
                    process in which the timeout period is doubled upon each retransmission, until either the
                    node receives a response or the timeout period reaches the value MAX_BINDACK_TIMEOUT.";
                    "Retransmitted Binding Updates MUST use a Sequence Number value greater than that used for
                    the previous transmission of this Binding Update."
    """
    t = bench.timers
    cap = t.max_bindack_timeout
    expected, total, step = [], 0.0, t.initial_bindack_timeout_first_reg
    while len(expected) < 7:
        expected.append(step)
        total += step
        if step >= cap:
            break
        step = min(2 * step, cap)
    deadline_window = total * 1.3 + 2.0
    judge.step("1. R1 advertises MAP-A; the MAP stays silent")
    since = bench.advertise(maps=[MapAd(MAP_A)])
    first = bench.wait_local_bu(MAP_A, since)
    judge.require(first is not None, "no local BU to MAP-A")
    judge.step(f"2. capture the retransmissions for up to {deadline_window:.1f} s")
    bus = bench.collect(bench.local_to(MAP_A), len(expected) + 1, deadline_window, since)
    judge.check("MIP6-6275-11.8-P6-SHOULD-1", len(bus) >= 2, f"the local BU was not retransmitted within "
                f"{deadline_window:.1f} s")
    judge.require(len(bus) >= 3, f"only {len(bus)} transmissions: the back-off cannot be judged")
    intervals = [b.time - a.time for a, b in itertools.pairwise(bus)]
    judge.record("intervals_s", [round(i, 4) for i in intervals])
    judge.record("first_interval_vs_InitialBindackTimeoutFirstReg", (round(intervals[0], 4), t.initial_bindack_timeout_first_reg))
    for n, (a, b) in enumerate(itertools.pairwise(intervals), start=2):
        want = min(2 * a, cap)
        judge.check("MIP6-6275-11.8-P7-MUST-1", abs(b - want) <= 0.25 * want + 0.03,
                    f"retransmission interval {n} is {b:.3f} s after {a:.3f} s (expected {want:.3f} s: doubled, "
                    f"capped at MAX_BINDACK_TIMEOUT {cap:g} s)")
    for a, b in itertools.pairwise(bus):
        judge.check("MIP6-6275-11.8-P9-MUST-1", 0 < (b.seq - a.seq) % 65536 < 32768,
                    f"sequence number {b.seq} after {a.seq}", frame=b.frame, tshark={"mip6.bu.seqnr": b.seq})


@pytest.mark.tp(id="HMIP-MN-BU-004", title="A BA granting less than requested: the local binding is refreshed before the granted lifetime ends")
@pytest.mark.requirements("MIP6-6275-11.7.3-P7-MUST-3")
def test_local_bu_refresh(bench, judge) -> None:
    """
    Purpose:        When the MAP grants a shorter lifetime than requested, the MN counts its binding down from
                    the granted lifetime and refreshes it before it ends.
    Topology:       MN -- acc0 -- tester (R1, MAP-A, HA).
    Initialisation: MN restarted on acc0.
    Procedure:      1. R1 advertises MAP-A.  2. The MAP answers the local BU with lifetime 4 s (one unit; the MN
                    asked for more).  3. Wait up to 5 s for a new local BU.
    Judgement:      1. A new local BU to MAP-A (a greater sequence number) is sent before 4 s have passed since
                       the acknowledged BU; a MN that kept the requested lifetime refreshes too late.
    Reference:      RFC 6275 §11.7.3 "if the value specified in the Lifetime field in the Binding Acknowledgement
                    is less than the Lifetime value sent in the Binding Update being acknowledged, the mobile node
                    MUST subtract the difference between these two Lifetime values from the remaining lifetime for
                    the binding as maintained in the corresponding Binding Update List entry".
    """
    judge.step("1-2. register with MAP-A; the BA grants 4 s")
    reg = bench.register([MapAd(MAP_A)], ba_lifetime=4, home=False, judge=judge)
    judge.require(reg.local_bu.lifetime > 4, f"the MN asked for only {reg.local_bu.lifetime} s: a 4 s grant is "
                  "not shorter")
    acked = reg.local_bu
    expiry = acked.time + 4
    later = lambda b: b.frame.index > acked.frame.index and 0 < (b.seq - acked.seq) % 65536 < 32768
    judge.step("3. wait for the refresh")
    refresh = bench.wait_bu(lambda b: bench.local_to(MAP_A)(b) and later(b), 5.0, acked.frame.index + 1)
    judge.record("refresh_after_s", None if refresh is None else round(refresh.time - acked.time, 3))
    judge.check("MIP6-6275-11.7.3-P7-MUST-3", refresh is not None and refresh.time < expiry,
                "no new local BU within 5 s" if refresh is None else
                f"the refresh came {refresh.time - acked.time:.2f} s after the BU, when the granted 4 s had ended",
                frame=getattr(refresh, "frame", None))


def _retransmitted_then_bogus_ba(bench, judge, rh2: str):
    """Steps shared by the BA-ignored purposes: the first BU, its retransmission, the bogus BA (protected, when
    the testbed's IPsec is on, with the pair the MN uses: the routing header is what is judged here)."""
    second = mn_support.retransmitted_local_bu(bench, judge)
    judge.step(f"3. answer the retransmission (seq {second.seq}) with a BA whose routing header is {rh2}")
    mark = bench.send(bench.ba(second, rh2=rh2), sa=bench.map_sa)
    return second, mark


def _judge_ignored(bench, judge, second, mark) -> None:
    mn_support.judge_ba_ignored(bench, judge, second, mark, "HMIP-4140-6.1-P1-MUST-1")


@pytest.mark.tp(id="HMIP-MN-BA-001", title="A BA without a type 2 routing header is silently ignored")
@pytest.mark.requirements("HMIP-4140-6.1-P1-MUST-1")
def test_ba_without_rh2_ignored(bench, judge) -> None:
    """
    Purpose:        A BA from the MAP without a type 2 routing header does not complete the local registration.
    Topology:       MN -- acc0 -- tester (R1, MAP-A, HA).
    Initialisation: MN restarted on acc0.
    Procedure:      1. R1 advertises MAP-A.  2. Let the first local BU go unanswered; wait for its retransmission.
                    3. Answer the retransmission with a BA (status 0, its sequence number, MAP -> LCoA) that has
                       no routing header.  4. Poke the MN (Echo Request) and watch one window (>= 3 initial
                       retransmission intervals).  5. Positive control: a proper BA.
    Judgement:      1. No home registration follows (looking inside tunnels), while the capture shows the MN
                       alive in the same window.
                    2. The MN keeps retransmitting its local BU.
                    (Precondition after the test point: a proper BA is followed by the home registration.)
    Reference:      base §6.1 "The mobile node MUST silently ignore binding acknowledgements that do not contain
                    a routing header type 2, which includes the mobile node's RCoA."
    """
    second, mark = _retransmitted_then_bogus_ba(bench, judge, NO_RH2)
    _judge_ignored(bench, judge, second, mark)


@pytest.mark.tp(id="HMIP-MN-BA-002", title="A BA whose type 2 routing header holds another RCoA is silently ignored")
@pytest.mark.requirements("HMIP-4140-6.1-P1-MUST-1")
def test_ba_other_rcoa_ignored(bench, judge) -> None:
    """
    Purpose:        A BA whose type 2 routing header names an address other than the MN's RCoA does not complete
                    the local registration.
    Topology:       MN -- acc0 -- tester (R1, MAP-A, HA).
    Initialisation: MN restarted on acc0.
    Procedure:      as HMIP-MN-BA-001, the BA's type 2 routing header holding RCoA xor 1 (on the same MAP prefix).
    Judgement:      as HMIP-MN-BA-001.
    Reference:      base §6.1 "The mobile node MUST silently ignore binding acknowledgements that do not contain
                    a routing header type 2, which includes the mobile node's RCoA."
    """
    rcoa = str(prefix64(MAP_A).network_address + (bench.iid() ^ 1))
    second, mark = _retransmitted_then_bogus_ba(bench, judge, rcoa)
    judge.require(second.hao is not None and not same(second.hao, rcoa), f"the MN's RCoA is {second.hao}")
    _judge_ignored(bench, judge, second, mark)


@pytest.mark.tp(id="HMIP-MN-HA-001", title="The home registration waits for the MAP's BA")
@pytest.mark.requirements("HMIP-4140-6.1-P5-SHOULD-1", "HMIP-5380-6.1-P5-SHOULD-1")
def test_home_registration_waits_for_map_ba(bench, judge, edition) -> None:
    """
    Purpose:        The MN does not register the RCoA with its HA before the MAP has acknowledged the local BU.
    Topology:       MN -- acc0 -- tester (R1, MAP-A, HA).
    Initialisation: MN restarted on acc0.
    Procedure:      1. R1 advertises MAP-A.  2. Withhold the BA for one window (>= 3 initial retransmission
                    intervals), poking the MN (Echo Request).  3. Then acknowledge the latest local BU.
    Judgement:      1. No BU to the HA (inside or outside tunnels) during the window, while the capture shows the
                       MN alive in it.
                    (Precondition after the test point: the home registration follows the BA: HMIP-MN-HA-002.)
    Reference:      base §6.1 "The mobile node SHOULD wait for the binding acknowledgement from the MAP before
                    registering with its HA."; RFC 5380 §6.1 "... before registering the RCoA with other nodes
                    (e.g., CN or HA, if available)."
    """
    requirement = "HMIP-4140-6.1-P5-SHOULD-1" if edition == "rfc4140" else "HMIP-5380-6.1-P5-SHOULD-1"
    judge.require(bench.home_agent is not None, "the MN has no home agent")
    since = bench.advertise(maps=[MapAd(MAP_A)])
    first = bench.wait_local_bu(MAP_A, since)
    judge.require(first is not None, "no local BU to MAP-A")
    judge.step("2. no BA for one window")
    early = bench.absent_bu(bench.home_bu, since=since)
    judge.check(requirement, early is None, "the MN sent its home registration before the MAP acknowledged the local BU",
                frame=getattr(early, "frame", None))
    judge.step("3. acknowledge the latest local BU")
    latest = bench.bus(bench.local_to(MAP_A), since)[-1]
    bench.send(bench.ba(latest))
    judge.require(bench.wait_home_bu(since) is not None, "no home registration even after the MAP's BA")


@pytest.mark.tp(id="HMIP-MN-HA-002", title="After the MAP's BA the RCoA is registered with the HA through the MAP tunnel")
@pytest.mark.requirements("HMIP-4140-6.1-P4-MUST-1", "HMIP-4140-6.1-P4-BIND-1", "HMIP-4140-6.1-P2-BIND-2",
                          "MIP6-6275-11.7.1-P4-MUST-1", "MIP6-6275-11.7.1-P5-MUST-1", "MIP6-6275-11.7.1-P6-MUST-1",
                          "MIP6-6275-11.7.1-P7-MUST-1")
def test_home_registration_after_map_ba(bench, judge) -> None:
    """
    Purpose:        Once the MAP acknowledged the local BU, the MN registers the binding (home address, RCoA)
                    with its HA: a home registration from the RCoA, reverse-tunnelled LCoA -> MAP.
    Topology:       MN -- acc0 -- tester (R1, MAP-A, HA).
    Initialisation: MN restarted on acc0.
    Procedure:      1. R1 advertises MAP-A.  2. The MAP acknowledges the local BU.  3. Wait for the BU to the HA.
    Judgement:      1. A BU to the HA follows, registering the RCoA as care-of address        base §6.1 MUST
                    2. Its Home Address option holds the home address and its (inner) source is the RCoA
                                                                                              base §6.1
                    3. It leaves in the MAP tunnel: outer source the LCoA, outer destination the MAP  base §6.1
                    4. H and A set, Home Address option = home address, source = the care-of address unless an
                       Alternate Care-of Address option names it                        RFC 6275 §11.7.1
    Reference:      base §6.1 "After registering with the MAP, the mobile node MUST register its new RCoA with its
                    HA by sending a BU that specifies the binding (RCoA, Home Address) as in Mobile IPv6. The
                    mobile node's Home Address is used in the home address option and the RCoA is used as the
                    care-of address in the source address field."
    """
    judge.require(bench.home_agent is not None, "the MN has no home agent")
    reg = bench.register([MapAd(MAP_A)], home=False, judge=judge)
    hbu = bench.wait_home_bu(reg.local_bu.frame.index + 1)
    judge.check("HMIP-4140-6.1-P4-MUST-1", hbu is not None and same(hbu.coa, reg.rcoa),
                "no BU to the HA after the MAP's BA" if hbu is None else
                f"the BU to the HA registers {hbu.coa}, not the RCoA {reg.rcoa}")
    judge.check("HMIP-4140-6.1-P4-BIND-1", same(hbu.hao, bench.home_address) and same(hbu.ip.src, reg.rcoa),
                f"Home Address option {hbu.hao}, source {hbu.ip.src} (expected {bench.home_address}, {reg.rcoa})",
                frame=hbu.frame)
    judge.check("HMIP-4140-6.1-P2-BIND-2", hbu.tunnelled and same(hbu.outer.src, reg.lcoa) and same(hbu.outer.dst, MAP_A),
                f"outer header {hbu.outer.src} -> {hbu.outer.dst} (expected {reg.lcoa} -> {MAP_A})")
    judge.record("flags", hbu.flags)
    judge.record("alternate_coa", hbu.alt_coa)
    judge.check("MIP6-6275-11.7.1-P4-MUST-1", hbu.flag("H"), f"flags {hbu.flags}: H is not set")
    judge.check("MIP6-6275-11.7.1-P5-MUST-1", hbu.flag("A"), f"flags {hbu.flags}: A is not set")
    judge.check("MIP6-6275-11.7.1-P6-MUST-1", same(hbu.hao, bench.home_address), f"Home Address option {hbu.hao}")
    judge.check("MIP6-6275-11.7.1-P7-MUST-1", hbu.alt_coa is not None or same(hbu.ip.src, reg.rcoa),
                f"source {hbu.ip.src} without an Alternate Care-of Address option")


@pytest.mark.tp(id="HMIP-MN-HA-003", title="The home binding's lifetime does not exceed the MAP binding's")
@pytest.mark.requirements("HMIP-4140-6.1-P5-MUST-NOT-1")
def test_home_lifetime_bounded_by_map(bench, judge) -> None:
    """
    Purpose:        The lifetime the MN requests from its HA for the RCoA is not larger than the lifetime the
                    MAP granted in its BA.
    Topology:       MN -- acc0 -- tester (R1, MAP-A, HA).
    Initialisation: MN restarted on acc0.
    Procedure:      1. R1 advertises MAP-A.  2. The MAP acknowledges the local BU granting 8 s (less than asked).
                    3. Wait for the BU to the HA.
    Judgement:      1. Its lifetime is <= 8 s.
    Reference:      base §6.1 "when binding the RCoA with the HA and correspondent nodes, the binding lifetime MUST
                    NOT be larger than the mobile node's binding lifetime with the MAP, which is received in the
                    Binding Acknowledgement."
    """
    judge.require(bench.home_agent is not None, "the MN has no home agent")
    reg = bench.register([MapAd(MAP_A)], ba_lifetime=8, home=False, judge=judge)
    judge.require(reg.local_bu.lifetime > 8, f"the MN asked the MAP for only {reg.local_bu.lifetime} s")
    hbu = bench.wait_home_bu(reg.local_bu.frame.index + 1)
    judge.require(hbu is not None, "no BU to the HA after the MAP's BA")
    judge.record("home_lifetime_s", hbu.lifetime)
    judge.check("HMIP-4140-6.1-P5-MUST-NOT-1", hbu.lifetime <= 8,
                f"the HA is asked for {hbu.lifetime} s, the MAP granted 8 s", frame=hbu.frame,
                tshark={"mip6.bu.lifetime": hbu.msg.mhtime})
