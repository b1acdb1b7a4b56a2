"""MAP test purposes for base §12 (security): BUs between mobile node and MAP MUST be protected with AH or ESP in
transport mode, with integrity, replay protection, and the RCoA bound to the SA that registered it.

Topology (all of them): as in test_map_registration -- the tester plays the mobile node on the MAP's first access
link (LCoA <acc prefix>::c0a, RCoA <MAP /64>::c0a), protecting its BUs with the testbed's manually keyed SA pair
``tester1@<MAP>`` (``security:`` in the testbed file; IKE is not implemented).  The hijack purpose adds a second
played mobile node holding its own pair ``tester2@<MAP>``.  The DUT is restarted before each test.

With the testbed's IPsec off the tester holds no SAs: HMIP-MAP-SEC-001 still runs (a MAP that accepts an
unprotected BU fails it); the purposes that need SAs are INCONCLUSIVE.
"""

from __future__ import annotations

import ipaddress

import pytest

from harness.tester.mobility import PlayedMobileNode, tunnelled_to
from harness.tester.packets import MIP6MH_BA, IPv6, IPv6ExtHdrRouting

pytestmark = pytest.mark.role("map")

PROTECTED = "HMIP-4140-12.1-P6-MUST-1"  # BUs MUST be protected with AH or ESP in transport mode
NON_NULL = "HMIP-4140-12.1-P6-MUST-2"  # ESP: a non-null authentication algorithm MUST be used
STRONG = "HMIP-4140-12-P1-MUST-1"  # mutual authentication, integrity protection, protection against replay
SAME_MN = "HMIP-4140-12.1-P2-BIND-1"  # a BU for an RCoA must come from the MN that set up the SA for it
#: RFC 6275 §5.1, for the MAP as the RCoA's home agent (base §6.2): BUs and BAs protected by an IPsec SA; the home
#: address checked against the SA it was used with; manually configured SAs supported
SA_PROTECTS = "MIP6-6275-5.1-P1-MUST-1"
SA_HOME_ADDRESS = "MIP6-6275-5.1-P2-MUST-1"
SA_MANUAL = "MIP6-6275-5.1-P3-MUST-1"


def _other(mn: PlayedMobileNode, n: int) -> str:
    """Another RCoA on the MAP's prefix (for the positive control that proves the MAP alive)."""
    return str(ipaddress.IPv6Address(mn.rcoa) + n)


def _ba_for(mn: PlayedMobileNode, rcoa: str):
    """A BA to the MN's LCoA whose type 2 routing header holds ``rcoa`` (any status, any sequence number)."""
    def match(f) -> bool:
        rh = f.pkt.getlayer(IPv6ExtHdrRouting)
        return MIP6MH_BA in f.pkt and f.pkt[IPv6].dst == mn.lcoa and rh is not None and list(rh.addresses) == [rcoa]
    return match


def _require_sas(tester, judge) -> None:
    judge.require(tester.protection.name == "ipsec", "the testbed declares no IPsec SAs (security: section): the "
                  "tester cannot protect BUs the DUT would accept")


def _not_answered(mn, judge, mark: int, rcoa: str, ba_timeout: float, control_seq: int):
    """Negative judgement: no BA for ``rcoa`` within one BA timeout after ``mark``, while a properly protected BU
    for another RCoA (the positive control, sent now) is answered in the same window."""
    control = _other(mn, 0x100 + control_seq)
    mn.send_bu(control_seq, 40, rcoa=control)
    return mn.tester.absent(_ba_for(mn, rcoa), ba_timeout, alive=_ba_for(mn, control), links=[mn.link], since=mark)


@pytest.mark.tp(id="HMIP-MAP-SEC-001", title="An unprotected BU is not accepted")
@pytest.mark.requirements(PROTECTED, SA_PROTECTS)
def test_unprotected_bu_refused(dut, tester, mn, judge, ba_timeout) -> None:
    """
    Purpose:        A MAP does not accept a local BU that is not protected by AH or ESP.
    Initialisation: DUT restarted (empty binding cache).
    Procedure:      1. MN' sends BU(seq 11, 40 s, A M) LCoA -> MAP, HAO = RCoA, without AH or ESP.
                    2. Positive control in the same window: a protected BU for another RCoA.
    Judgement:      1. No BA for the RCoA within one BA timeout (a BA of any status would mean the unprotected BU
                       was processed), while the protected BU is answered.   base §12.1, RFC 6275 §5.1
    Reference:      base §12.1 "Binding updates between the MAP and the mobile node MUST be protected with either
                    AH or ESP in transport mode."; RFC 6275 §5.1 "The mobile node and the home agent MUST use an IPsec
                    security association to protect the integrity and authenticity of the Binding Updates and
                    Acknowledgements." (the MAP is the RCoA's home agent, base §6.2)
    """
    judge.step("1. BU seq 11 without IPsec")
    mark = mn.send_bu(11, 40, sa=None)
    if tester.protection.name != "ipsec":  # no SAs: the positive control cannot be protected either
        ba = mn.wait_ba(11, mark, ba_timeout)
        judge.check(PROTECTED, ba is None, "the MAP answered an unprotected BU", frame=ba)
        judge.check(SA_PROTECTS, ba is None, "a BU outside any IPsec SA was processed", frame=ba)
        return
    judge.step("2. positive control: a protected BU for another RCoA")
    ba = _not_answered(mn, judge, mark, mn.rcoa, ba_timeout, 12)
    judge.check(PROTECTED, ba is None, f"the MAP answered an unprotected BU (status {ba.pkt[MIP6MH_BA].status})"
                if ba is not None else "", frame=ba)
    judge.check(SA_PROTECTS, ba is None, "a BU outside any IPsec SA was processed" if ba is not None else
                "the BU outside any IPsec SA was not processed", frame=ba)


@pytest.mark.tp(id="HMIP-MAP-SEC-002", title="A BU whose ICV does not verify is not accepted")
@pytest.mark.requirements(PROTECTED, STRONG)
def test_bad_icv_refused(dut, tester, mn, judge, ba_timeout) -> None:
    """
    Purpose:        A MAP discards a protected BU whose integrity check value is wrong (integrity protection).
    Initialisation: DUT restarted.
    Procedure:      1. Build BU(seq 21) protected with the tester's SA pair, flip the last octet (inside the ICV),
                       send it.  2. Positive control: a properly protected BU for another RCoA.
    Judgement:      1. No BA for the RCoA within one BA timeout, while the control is answered.  base §12, §12.1
    Reference:      base §12 "it MUST involve mutual authentication, integrity protection and protection against
                    replay attacks."
    """
    _require_sas(tester, judge)
    wire = bytearray(mn.wire_bu(21, 40))
    wire[-1] ^= 0x01
    judge.step("1. BU seq 21 with its ICV corrupted")
    mark = mn.send_raw(bytes(wire))
    judge.step("2. positive control")
    ba = _not_answered(mn, judge, mark, mn.rcoa, ba_timeout, 22)
    judge.check(STRONG, ba is None, "the MAP answered a BU whose ICV does not verify", frame=ba)
    judge.check(PROTECTED, ba is None, "a BU failing IPsec verification was processed", frame=ba)


@pytest.mark.tp(id="HMIP-MAP-SEC-003", title="A replayed protected BU is silently dropped")
@pytest.mark.requirements(STRONG)
def test_replayed_bu_dropped(dut, tester, mn, judge, ba_timeout) -> None:
    """
    Purpose:        A MAP's anti-replay check (RFC 4303 §3.4.3) drops a protected BU it has already received, even
                    when the Mobility Header sequence check would no longer stop it.
    Initialisation: DUT restarted.
    Procedure:      1. Register: protected BU seq 1 (its exact bytes kept); BA accepted.
                    2. Deregister: protected BU seq 2, lifetime 0; BA accepted, the binding is gone.
                    3. Replay the bytes of step 1 unchanged (same ESP/AH sequence number).
                    4. Positive control: a fresh protected BU for another RCoA.
    Judgement:      1. No BA at all for the RCoA after the replay (a status-135 BA would show the MAP processed
                       it and only the Mobility Header sequence number stopped it; a success would re-create the
                       binding), while the control is answered.                            base §12
    Reference:      base §12 "it MUST involve mutual authentication, integrity protection and protection against
                    replay attacks."
    """
    _require_sas(tester, judge)
    first = mn.wire_bu(1, 40)
    judge.step("1. register with a protected BU seq 1")
    ba = mn.wait_ba(1, mn.send_raw(first), ba_timeout)
    judge.require(ba is not None and ba.pkt[MIP6MH_BA].status < 128, "the DUT did not accept the protected BU")
    judge.step("2. deregister (seq 2, lifetime 0)")
    ba = mn.register(2, 0, ba_timeout)
    judge.require(ba is not None and ba.pkt[MIP6MH_BA].status < 128, "the DUT did not accept the deregistration")
    judge.step("3. replay the bytes of the BU of step 1")
    mark = mn.send_raw(first)
    judge.step("4. positive control")
    ba = _not_answered(mn, judge, mark, mn.rcoa, ba_timeout, 3)
    judge.check(STRONG, ba is None, "the MAP processed a replayed BU"
                + (f": BA status {ba.pkt[MIP6MH_BA].status}, sequence number {ba.pkt[MIP6MH_BA].seq}" if ba else ""),
                frame=ba)


@pytest.fixture
def attacker(testbed, tester, mn):
    """A second mobile node on the same link with its own SA pair toward the MAP (``tester2@<MAP>``)."""
    mine = tester.protection.pair_for(5, mn.lcoa, mn.map, mn.rcoa, None) if tester.protection.name == "ipsec" else None
    other = next((p.name for p in testbed.spec.security.pairs
                  if p.mn is None and p.name != mine and p.covers(mn.map, mn.rcoa)), None)
    if other is None:
        yield None
        return
    lcoa = str(ipaddress.IPv6Address(mn.lcoa) + 0xB00)
    played = PlayedMobileNode(tester, mn.link, mn.router_mac, lcoa, mn.rcoa, mn.map)
    yield played, other
    played.release()


@pytest.mark.tp(id="HMIP-MAP-SEC-004", title="A BU for an RCoA bound under another SA is refused (RCoA hijack)")
@pytest.mark.requirements(SAME_MN, SA_HOME_ADDRESS)
def test_rcoa_hijack_refused(testbed, dut, tester, mn, attacker, cn, judge, ba_timeout) -> None:
    """
    Purpose:        A MAP accepts a BU for an RCoA only from the mobile node that established the SA under which
                    the RCoA was registered: another mobile node, with a valid SA of its own, cannot re-point it.
    Topology:       MN' (victim, SA pair tester1) and MN'' (attacker, SA pair tester2, LCoA ::b0a+c0a) on the
                    access link; the testbed's first CN.
    Initialisation: DUT restarted.
    Procedure:      1. MN' registers RCoA -> its LCoA (seq 1).
                    2. MN'' sends a BU (seq 100, valid protection under its own SA) binding the same RCoA to its
                       LCoA.  3. Positive control: MN' refreshes (seq 2).  4. The CN pings the RCoA.
    Judgement:      1. No successful BA to MN'' for the RCoA.                   base §12.1, RFC 6275 §5.1
                    2. The CN's Echo Request reaches the victim's LCoA, tunnelled MAP -> LCoA, and nothing for
                       the RCoA is tunnelled to the attacker's LCoA.           base §12.1, RFC 6275 §5.1
    Reference:      base §12.1 "A MAP only needs to ensure that a BU for a particular RCoA was issued by the same
                    mobile node that established the Security Association for that RCoA."; RFC 6275 §5.1 "This MUST
                    be achieved by having the home agent check that the given home address has been used with the
                    right security association." (the RCoA is the home address the MAP serves, base §6.2)
    """
    _require_sas(tester, judge)
    judge.require(attacker is not None, "the testbed gives the tester no second SA pair toward this MAP")
    thief, thief_sa = attacker
    judge.step("1. the victim registers")
    ba = mn.register(1, 40, ba_timeout)
    judge.require(ba is not None and ba.pkt[MIP6MH_BA].status < 128, "the DUT did not accept the victim's BU")
    judge.step(f"2. the attacker binds the victim's RCoA to {thief.lcoa} under SA pair {thief_sa}")
    mark = thief.send_bu(100, 40, sa=thief_sa)
    judge.step("3. positive control: the victim refreshes")
    mn.send_bu(2, 40)
    stolen = tester.absent(lambda f: MIP6MH_BA in f.pkt and f.pkt[IPv6].dst == thief.lcoa
                           and f.pkt[MIP6MH_BA].status < 128, ba_timeout, links=[mn.link], since=mark,
                           alive=lambda f: MIP6MH_BA in f.pkt and f.pkt[IPv6].dst == mn.lcoa and f.pkt[MIP6MH_BA].seq == 2)
    judge.check(SAME_MN, stolen is None, "the MAP accepted the attacker's BU for the victim's RCoA", frame=stolen)
    judge.check(SA_HOME_ADDRESS, stolen is None, f"the RCoA {mn.rcoa}, registered under the victim's SA, was accepted "
                f"under {thief_sa}" if stolen is not None else f"the RCoA {mn.rcoa} arriving under {thief_sa} (not the "
                "SA it was registered with) was refused", frame=stolen)
    node, _ = cn
    judge.step(f"4. {node} pings the RCoA")
    mark = tester.mark()
    testbed.driver(node).run(f"ping -6 -c 1 -W 1 {mn.rcoa}")
    to_victim = tester.wait_for(lambda f: tunnelled_to(f, mn.lcoa, mn.rcoa), 3, mark, [mn.link])
    to_thief = tester.wait_for(lambda f: tunnelled_to(f, thief.lcoa, mn.rcoa), 0, mark, [mn.link])
    detail = ("traffic for the RCoA went to the attacker" if to_thief is not None else
              "no traffic for the RCoA reached the victim's LCoA" if to_victim is None else
              "traffic for the RCoA still goes to the victim's LCoA")
    judge.check(SAME_MN, to_victim is not None and to_thief is None, detail, frame=to_thief or to_victim)
    judge.check(SA_HOME_ADDRESS, to_victim is not None and to_thief is None, detail)


@pytest.mark.tp(id="HMIP-MAP-SEC-005", title="ESP with null authentication is refused")
@pytest.mark.requirements(NON_NULL)
def test_null_authentication_refused(dut, tester, mn, judge, ba_timeout) -> None:
    """
    Purpose:        A MAP refuses an ESP SA without authentication, and does not accept BUs protected by one.
    Initialisation: DUT restarted.
    Procedure:      1. Through the DUT profile's ``install_sa``, ask the DUT to install an SA pair for the RCoA whose
                       ESP SAs use NULL encryption and NULL authentication (SPIs 0x7e57a000/0x7e57a001).
                    2. Send BU(seq 31) in ESP with that SPI and no ICV.  3. Positive control: a protected BU for
                       another RCoA under the testbed's pair.
    Judgement:      1. The DUT refuses the SA (the command reports an error).                base §12.1
                    2. No BA for the RCoA, while the control is answered.                    base §12.1
    Reference:      base §12.1 "When ESP is used, a non-null authentication algorithm MUST be used."
    """
    _require_sas(tester, judge)
    spi = 0x7E57A000
    null_sa = {"spi": spi, "protocol": "esp", "auth": "null", "auth_key": "", "encryption": "null"}
    pair = {"name": "null-auth", "map": f"{mn.map}/128", "rcoa": f"{mn.rcoa}/128",
            "to_map": null_sa, "to_mn": {**null_sa, "spi": spi + 1}}
    judge.step("1. install an ESP SA pair with null authentication")
    accepted, output = dut.install_sa(pair)
    judge.record("install_sa_output", output[-300:])
    judge.check(NON_NULL, not accepted, f"the DUT installed an ESP SA with null authentication: {output[-200:]}")
    judge.step("2. BU in ESP with null authentication")
    bu = mn.bu(31, 40)
    ip = bytes(bu[IPv6])
    wire = bytes(bu)[: len(bytes(bu)) - len(ip)] + tester.protection.forge(ip, spi, 1)
    mark = mn.send_raw(wire)
    judge.step("3. positive control")
    ba = _not_answered(mn, judge, mark, mn.rcoa, ba_timeout, 32)
    judge.check(NON_NULL, ba is None, "the MAP accepted a BU in ESP without authentication", frame=ba)


@pytest.mark.tp(id="HMIP-MAP-SEC-006", title="The BA is protected with the SA pair of the BU")
@pytest.mark.requirements(PROTECTED, NON_NULL, SA_PROTECTS, SA_MANUAL)
def test_ba_protected(dut, tester, mn, judge, ba_timeout) -> None:
    """
    Purpose:        The MAP's Binding Acknowledgement to a protected BU is itself protected, in transport mode,
                    under the SA pair the mobile node used, with an ICV (non-null authentication).
    Initialisation: DUT restarted.
    Procedure:      1. Protected BU(seq 41, 40 s).  2. Wait for the BA.
    Judgement:      1. The BA arrives inside ESP or AH (transport mode: the type 2 routing header before it).
                                                                                 base §12.1, RFC 6275 §5.1
                    2. It verifies under the ``to_mn`` SA of the same pair, whose authentication is not null
                       (the tester checked its ICV; tshark confirms the SPI).                  base §12.1
                    3. The BU, protected under the testbed's manually keyed SA pair (no key management protocol:
                       the suite has no IKE), was accepted, and the BA verifies under that pair: manually
                       configured SAs work.                                                   RFC 6275 §5.1
    Reference:      base §12.1 "Binding updates between the MAP and the mobile node MUST be protected with either
                    AH or ESP in transport mode. When ESP is used, a non-null authentication algorithm MUST be
                    used."; RFC 6275 §5.1 "The mobile node and the home agent MUST use an IPsec security association
                    to protect the integrity and authenticity of the Binding Updates and Acknowledgements."; "As with
                    all IPsec security associations in this specification, manual configuration of security
                    associations MUST be supported."
    """
    _require_sas(tester, judge)
    mark = mn.send_bu(41, 40)
    ba = mn.wait_ba(41, mark, ba_timeout)
    judge.require(ba is not None, "no BA to the protected BU")
    sent = next((f for f in tester.frames(mark, [mn.link]) if f.outgoing and getattr(f.pkt, "ipsec", None)), None)
    got = getattr(ba.pkt, "ipsec", None)
    judge.record("ba_ipsec", None if got is None else f"{got.protocol} SPI {got.spi:#x} seq {got.seq} ({got.pair})")
    judge.check(PROTECTED, got is not None, "the BA came without AH or ESP", frame=ba)
    judge.check(SA_PROTECTS, got is not None, "the BA came without AH or ESP" if got is None else
                f"the BA is protected with {got.protocol} under SA pair {got.pair}", frame=ba)
    judge.check(PROTECTED, got is not None and sent is not None and got.pair == sent.pkt.ipsec.pair
                and got.direction == "to_mn",
                f"the BA is protected under {got.pair if got else None}/{got.direction if got else None}, the BU "
                f"under {sent.pkt.ipsec.pair if sent else None}", frame=ba,
                tshark={f"{got.protocol}.spi": f"0x{got.spi:08x}"} if got else None)
    sa = tester.protection.sa(got.pair, got.direction).spec if got else None
    judge.check(NON_NULL, sa is not None and sa.auth not in ("null", ""), "no authentication on the BA's SA")
    status = ba.pkt[MIP6MH_BA].status
    judge.check(SA_MANUAL, status < 128 and got.pair == sent.pkt.ipsec.pair,
                f"BU under the manually keyed pair {sent.pkt.ipsec.pair}: BA status {status}, protected under "
                f"{got.pair}", frame=ba, tshark={"mip6.ba.status": status})
