"""MN test purposes for base §12 (security): the mobile node protects its local BUs with AH or ESP, ignores BAs that
are not protected under its SA, and sends its Home Test Init from the home address, twice encapsulated (§12.2).

Topology (all of them): MN -- acc0 -- tester (R1, MAP-A, HA, CNs), as in test_mn_registration.  The tester plays
MAP-A with the testbed's SA pair ``<mn>@tester`` (``security:`` in the testbed file: manually keyed, no IKE).
"""

from __future__ import annotations

import time

import pytest
from scapy.layers.inet6 import MIP6MH_HoTI

from conformance.suite import mn_support
from conformance.suite.mn_support import MAP_A, MAP_B, NO_RH2, PREFIX_1, MapAd, bu_of, in_prefix, same
from harness.tester.packets import ICMPv6ND_NS, IPv6, ipv6_layers

pytestmark = pytest.mark.role("mn")


@pytest.fixture
def bench(testbed, tester, _dut_session, edition):
    """The MN restarted on acc0 (conftest of the MN purposes: :func:`mn_support.bench`)."""
    yield from mn_support.bench(testbed, tester, _dut_session, edition)

PROTECTED = "HMIP-4140-12.1-P6-MUST-1"
NON_NULL = "HMIP-4140-12.1-P6-MUST-2"
STRONG = "HMIP-4140-12-P1-MUST-1"
#: RFC 6275 §5.1 (the MAP is the home agent of the RCoA, base §6.2): BUs and BAs under an IPsec SA; manually keyed SAs
SA_PROTECTS = "MIP6-6275-5.1-P1-MUST-1"
SA_MANUAL = "MIP6-6275-5.1-P3-MUST-1"
BA_TESTS = "MIP6-6275-11.7.3-P5-MUST-1"  # a BA failing the §11.7.3 tests (authentication among them) is ignored


def _require_sas(bench, judge) -> None:
    judge.require(bench.map_sa is not None, "the testbed declares no IPsec SA pair for the tester as this MN's MAP "
                  "(security: section): the tester cannot protect BAs the MN would accept")


@pytest.mark.tp(id="HMIP-MN-SEC-001", title="The local BU is protected with AH or ESP, with authentication")
@pytest.mark.requirements(PROTECTED, NON_NULL, STRONG, SA_PROTECTS, SA_MANUAL)
def test_local_bu_protected(bench, judge) -> None:
    """
    Purpose:        The MN protects its local BU to the MAP with AH or ESP in transport mode, with a non-null
                    authentication algorithm, and a retransmission carries a new IPsec sequence number.
    Initialisation: MN restarted on acc0.
    Procedure:      1. R1 advertises MAP-A.  2. Leave the first local BU unanswered; capture its retransmission.
    Judgement:      1. Every frame the MN sends to MAP-A carries ESP or AH (transport mode: the Home Address option
                       before it) and verifies under the SA pair of the testbed.   base §12.1, RFC 6275 §5.1
                    2. That pair is one of the testbed's manually keyed pairs (the suite has no IKE): the MN works with
                       manually configured SAs.                                             RFC 6275 §5.1
                    3. ESP: the SA's authentication is not null, and the ICV verified.     base §12.1
                    4. The retransmission's sequence number is greater (anti-replay, RFC 4303 §3.3.3).  base §12
    Reference:      base §12.1 "Binding updates between the MAP and the mobile node MUST be protected with either
                    AH or ESP in transport mode. When ESP is used, a non-null authentication algorithm MUST be
                    used."; RFC 6275 §5.1 "The mobile node and the home agent MUST use an IPsec security association
                    to protect the integrity and authenticity of the Binding Updates and Acknowledgements."; "As with
                    all IPsec security associations in this specification, manual configuration of security
                    associations MUST be supported."
    """
    since = bench.advertise(maps=[MapAd(MAP_A)])
    judge.step("1-2. wait for the first local BU and its retransmission")
    first = bench.tester.wait_for(lambda f: bench.from_mn(f) and IPv6 in f.pkt and same(f.pkt[IPv6].dst, MAP_A),
                                  bench.react_timeout, since, [bench.link])
    judge.require(first is not None, "the MN sent nothing to MAP-A")
    error = getattr(first.pkt, "ipsec_error", None)
    judge.check(PROTECTED, error is None, f"the MN's packet to MAP-A does not verify: {error}", frame=first)
    got = getattr(first.pkt, "ipsec", None)
    judge.check(PROTECTED, got is not None, "the local BU was sent without AH or ESP", frame=first)
    judge.check(SA_PROTECTS, error is None and got is not None, f"the local BU is protected with {got.protocol} "
                f"under SA pair {got.pair}", frame=first)
    manual = {p.name for p in bench.spec.security.pairs}
    judge.check(SA_MANUAL, got.pair in manual, f"the local BU verifies under {got.pair}, "
                + ("one of the testbed's manually keyed pairs" if got.pair in manual else "not a testbed pair"))
    sa = bench.tester.protection.sa(got.pair, got.direction).spec
    judge.record("bu_ipsec", f"{got.protocol} SPI {got.spi:#x} seq {got.seq} ({got.pair}, {sa.auth})")
    judge.check(NON_NULL, sa.auth not in ("null", ""), f"{got.protocol} without authentication", frame=first,
                tshark={f"{got.protocol}.spi": f"0x{got.spi:08x}"})
    second = bench.wait_bu(bench.local_to(MAP_A), bench.react_timeout, first.index + 1)
    judge.require(second is not None, "the MN did not retransmit its local BU")
    again = getattr(second.frame.pkt, "ipsec", None)
    judge.check(STRONG, again is not None and again.spi == got.spi and again.seq > got.seq,
                f"IPsec sequence numbers {got.seq} then {again.seq if again else None} (must increase)",
                frame=second.frame)


def _ignored(bench, judge, build, sa, requirement: str | tuple[str, ...], what: str) -> None:
    second = mn_support.retransmitted_local_bu(bench, judge)
    judge.step(f"3. answer the retransmission (seq {second.seq}) with {what}")
    mark = bench.send(build(second), sa=sa)
    mn_support.judge_ba_ignored(bench, judge, second, mark, requirement)


@pytest.mark.tp(id="HMIP-MN-SEC-002", title="An unprotected BA from the MAP is ignored")
@pytest.mark.requirements(PROTECTED, SA_PROTECTS, BA_TESTS)
def test_unprotected_ba_ignored(bench, judge) -> None:
    """
    Purpose:        A BA that is not protected by AH or ESP does not complete the local registration.
    Initialisation: MN restarted on acc0.
    Procedure:      1. R1 advertises MAP-A.  2. Let the first local BU go unanswered; wait for its retransmission.
                    3. Answer it with a well-formed BA (status 0, type 2 routing header with the RCoA) without
                       IPsec.  4. Watch one window.  5. Positive control: a protected BA.
    Judgement:      1. No home registration follows.  2. The MN keeps retransmitting its local BU.
                                                                 base §12.1, RFC 6275 §5.1, §11.7.3
    Reference:      base §12.1 "Binding updates between the MAP and the mobile node MUST be protected with either
                    AH or ESP in transport mode."; RFC 6275 §5.1 "The mobile node and the home agent MUST use an IPsec
                    security association to protect the integrity and authenticity of the Binding Updates and
                    Acknowledgements."; §11.7.3 (the first test: "The packet meets the authentication requirements for
                    Binding Acknowledgements defined in Sections 6.1.8 and 5.") "Any Binding Acknowledgement not
                    satisfying all of these tests MUST be silently ignored."
    """
    _require_sas(bench, judge)
    _ignored(bench, judge, bench.ba, None, (PROTECTED, SA_PROTECTS, BA_TESTS), "a BA without IPsec")


@pytest.mark.tp(id="HMIP-MN-SEC-003", title="A BA whose ICV does not verify is ignored")
@pytest.mark.requirements(STRONG, BA_TESTS)
def test_forged_ba_ignored(bench, judge) -> None:
    """
    Purpose:        A BA protected under the MN's SPI but with a wrong key (the ICV does not verify) does not
                    complete the local registration (integrity protection, mutual authentication).
    Initialisation: MN restarted on acc0.
    Procedure:      as HMIP-MN-SEC-002, the BA in ESP/AH with the SA's SPI, a sequence number beyond any used, and an
                    authentication key of all 0x5a octets.
    Judgement:      as HMIP-MN-SEC-002.                                             base §12, RFC 6275 §11.7.3
    Reference:      base §12 "it MUST involve mutual authentication, integrity protection and protection against
                    replay attacks."; RFC 6275 §11.7.3 "Any Binding Acknowledgement not satisfying all of these tests
                    MUST be silently ignored." (the authentication requirements of §5 and §6.1.8 are the first test)
    """
    _require_sas(bench, judge)
    spec = bench.tester.protection.sa(bench.map_sa, "to_mn").spec
    key_len = len(bytes.fromhex(spec.auth_key.reveal()))

    def forged(bu):
        frame = bench.ba(bu)
        ip = bytes(frame[IPv6])
        body = bench.tester.protection.forge(
            ip, spec.spi, 1_000_000, protocol=spec.protocol, encryption=spec.encryption,
            enc_key=bytes.fromhex(spec.enc_key.reveal()) if spec.enc_key is not None else None,
            auth=spec.auth, auth_key=b"\x5a" * key_len)
        return bytes(frame)[: len(bytes(frame)) - len(ip)] + body

    _ignored(bench, judge, forged, None, (STRONG, BA_TESTS), "a BA whose ICV was made with the wrong key")


@pytest.mark.tp(id="HMIP-MN-SEC-004", title="A spoofed BA without IPsec and without a type 2 routing header is ignored")
@pytest.mark.requirements(PROTECTED, "HMIP-4140-6.1-P1-MUST-1")
def test_spoofed_ba_without_rh2_ignored(bench, judge) -> None:
    """
    Purpose:        An off-path attacker's BA -- no IPsec, no type 2 routing header -- does not complete the local
                    registration.
    Initialisation: MN restarted on acc0.
    Procedure:      as HMIP-MN-SEC-002, the BA unprotected and without a routing header.
    Judgement:      as HMIP-MN-SEC-002.                                                  base §12.1, §6.1
    Reference:      base §12.1 (BUs and BAs protected); base §6.1 "The mobile node MUST silently ignore binding
                    acknowledgements that do not contain a routing header type 2, which includes the mobile
                    node's RCoA."
    """
    _require_sas(bench, judge)
    _ignored(bench, judge, lambda bu: bench.ba(bu, rh2=NO_RH2), None, PROTECTED,
             "a BA without IPsec and without a routing header")


@pytest.mark.tp(id="HMIP-MN-SEC-005", title="The Home Test Init comes from the home address, encapsulated twice")
@pytest.mark.requirements("HMIP-4140-12.2-P1-MUST-1", "HMIP-5380-12.2-P1-SHOULD-1", "HMIP-4140-12.2-P1-BIND-1",
                          "HMIP-4140-12.2-P1-BIND-2", "HMIP-4140-12.2-P1-BIND-3")
def test_hoti_source_and_encapsulation(bench, judge, edition) -> None:
    """
    Purpose:        The MN's Home Test Init (return routability) has the home address as its source and leaves
                    twice encapsulated: RCoA -> HA inside LCoA -> MAP.
    Topology:       MN -- acc0 -- tester (R1, MAP-A, HA, CNs); the MN has correspondents.
    Initialisation: MN restarted on acc0.
    Procedure:      1. Register with MAP-A and the HA.  2. Wait for a Home Test Init from the MN.
    Judgement:      1. Innermost header: source the home address (rfc5380: or the RCoA, when the MN uses it for
                       route optimisation)                                          base §12.2 MUST / RFC 5380 SHOULD
                    2. Encapsulated twice: three IPv6 headers                                   base §12.2
                    3. Inner encapsulating header: RCoA -> the home agent                        base §12.2
                    4. Outer encapsulating header: LCoA -> MAP                                   base §12.2
    Reference:      base §12.2 "The source address used in HOTI messages MUST be the mobile node's home address.
                    The packet containing the HOTI message is encapsulated twice. The inner encapsulating header
                    contains the RCoA in the source address field and the home agent's address in the destination
                    address field. The outer encapsulating header contains the mobile node's LCoA in the source
                    address field and the MAP's address in the destination"
    """
    judge.require(bench.home_agent is not None and bench.correspondents,
                  "the MN has no home agent or no correspondent: it sends no Home Test Init")
    reg = bench.register([MapAd(MAP_A)], judge=judge)
    judge.step("2. wait for a Home Test Init")
    hoti = bench.tester.wait_for(lambda f: bench.from_mn(f) and MIP6MH_HoTI in f.pkt, bench.react_timeout + 5.0,
                                 reg.local_bu.frame.index, [bench.link])
    judge.require(hoti is not None, "no Home Test Init from the MN")
    layers = ipv6_layers(hoti.pkt)
    judge.record("headers", [f"{l.src} -> {l.dst}" for l in layers])
    inner = layers[-1]
    home_ok = same(inner.src, bench.home_address)
    judge.check("HMIP-4140-12.2-P1-MUST-1", home_ok,
                f"Home Test Init source {inner.src}, the home address is {bench.home_address}", frame=hoti)
    judge.check("HMIP-5380-12.2-P1-SHOULD-1", home_ok or same(inner.src, reg.rcoa),
                f"Home Test Init source {inner.src}: neither the home address nor the RCoA {reg.rcoa}", frame=hoti)
    judge.check("HMIP-4140-12.2-P1-BIND-1", len(layers) == 3, f"{len(layers) - 1} encapsulating headers, not 2")
    judge.check("HMIP-4140-12.2-P1-BIND-2", len(layers) >= 2 and same(layers[-2].src, reg.rcoa)
                and same(layers[-2].dst, bench.home_agent),
                f"inner encapsulating header {layers[-2].src} -> {layers[-2].dst}" if len(layers) >= 2 else "none")
    judge.check("HMIP-4140-12.2-P1-BIND-3", same(layers[0].src, reg.lcoa) and same(layers[0].dst, MAP_A),
                f"outer header {layers[0].src} -> {layers[0].dst} (expected {reg.lcoa} -> {MAP_A})", frame=hoti)


ND_VALIDITY = "ND-4861-6.1.2-P1-MUST-1"
OFF_LINK_SOURCE = "2001:db8:1f0::1"  # R1's global address: in its prefix, but not link-local


def _from_prefix(bench, view) -> bool:
    """A frame from the MN showing it configured an address from R1's prefix: sourced from one, or a Neighbor
    Solicitation (duplicate address detection) for one."""
    if not bench.alive(view) or IPv6 not in view.pkt:
        return False
    pkt = view.pkt
    return in_prefix(pkt[IPv6].src, PREFIX_1) or (ICMPv6ND_NS in pkt and in_prefix(pkt[ICMPv6ND_NS].tgt, PREFIX_1))


@pytest.mark.tp(id="HMIP-MN-SEC-006",
                title="MAP options in Router Advertisements that fail RFC 4861 validation are ignored")
@pytest.mark.requirements(ND_VALIDITY)
def test_invalid_advertisement_ignored(bench, judge) -> None:
    """
    Purpose:        The MN takes MAP options (and the advertisement carrying them) only from valid Router
                    Advertisements: one from a source that is not link-local, or with a hop limit other than 255,
                    did not come from a router on the link and is silently discarded, so the MN neither registers
                    with the MAP it names nor configures an address from its prefix.
    Topology:       MN -- acc0 -- tester (R1, a rogue sender of R1's advertisements, MAP-A, MAP-B, HA).
    Initialisation: MN restarted on acc0; it has heard no advertisement yet.
    Procedure:      1. R1's advertisement (prefix 2001:db8:1f0::/64) with MAP-A (Dist 1, Pref 10), sent from R1's
                       global address 2001:db8:1f0::1, hop limit 255.
                    2. The same with MAP-B (Dist 1, Pref 10) instead, from R1's link-local address with hop
                       limit 254.
                    3. Watch the link for the time the MN may take to react to an advertisement (3 s +
                       MAX_RTR_SOLICITATION_DELAY); an Echo Request to its link-local address proves the capture
                       alive.
                    4. Positive control: R1's valid advertisement (link-local source, hop limit 255) with MAP-A and
                       MAP-B.
    Judgement:      1. During step 3, no local BU to MAP-A.                                RFC 4861 §6.1.2 P1, P2
                    2. During step 3, no local BU to MAP-B.                                RFC 4861 §6.1.2 P1, P3
                    3. During step 3, no frame from the MN sourced from, or soliciting (DAD) an address in,
                       2001:db8:1f0::/64 (the advertisement itself was discarded).          RFC 4861 §6.1.2 P1
                    No local BU to MAP-A or MAP-B after step 4 is INCONCLUSIVE: the MN does not act on these MAP
                    options at all, so ignoring them proves nothing.
    Reference:      RFC 4861 §6.1.2 "A node MUST silently discard any received Router Advertisement messages that
                    do not satisfy all of the following validity checks: - IP Source Address is a link-local
                    address. [...] - The IP Hop Limit field has a value of 255, i.e., the packet could not
                    possibly have been forwarded by a router."  A rogue router on the link sends valid
                    advertisements and is not caught by this: without SEND (RFC 3971), which the suite does not
                    have, MAP options are only as trustworthy as the link.
    """
    judge.step(f"1. R1's RA with MAP-A from {OFF_LINK_SOURCE} (not link-local)")
    since = bench.tester.mark()
    off_link = bench.ra(maps=[MapAd(MAP_A, dist=1, pref=10)])
    off_link[IPv6].src = OFF_LINK_SOURCE
    bench.send(off_link)
    judge.step("2. R1's RA with MAP-B from its link-local address, hop limit 254")
    forwarded = bench.ra(maps=[MapAd(MAP_B, dist=1, pref=10)])
    forwarded[IPv6].hlim = 254
    bench.send(forwarded)
    judge.step(f"3. watch {bench.link} for {bench.react_timeout:.1f} s")
    opened = time.time()
    bench.poke()

    def reaction(view) -> bool:
        b = bu_of(view.frame) if bench.from_mn(view.frame) else None
        return (b is not None and bench.local_to([MAP_A, MAP_B])(b)) or _from_prefix(bench, view)

    hit = bench.tester.absent(reaction, window=bench.react_timeout,
                              alive=lambda f: bench.alive(f) and f.time >= opened, links=[bench.link], since=since)
    judge.step("4. positive control: R1's valid RA with MAP-A and MAP-B")
    control_mark = bench.advertise(maps=[MapAd(MAP_A, dist=1, pref=10), MapAd(MAP_B, dist=1, pref=10)])
    control = bench.wait_local_bu([MAP_A, MAP_B], control_mark)
    judge.require(hit is not None or control is not None,
                  f"no local BU to MAP-A or MAP-B within {bench.react_timeout:.1f} s of a valid advertisement: the MN "
                  "does not act on these MAP options, so ignoring them in invalid ones proves nothing")
    hit_bu = bu_of(hit) if hit is not None and bench.from_mn(hit) else None
    local_bu = hit_bu if hit_bu is not None and bench.local_to([MAP_A, MAP_B])(hit_bu) else None
    for address, rule, what in ((MAP_A, "P2", f"from {OFF_LINK_SOURCE}, not link-local"),
                                (MAP_B, "P3", "with hop limit 254")):
        bad = local_bu is not None and same(local_bu.ip.dst, address)
        judge.check(ND_VALIDITY, not bad,
                    f"local BU to {address}, advertised only in an RA {what} (RFC 4861 §6.1.2 {rule}): "
                    + ("sent" if bad else "none"), frame=hit if bad else None)
    configured = hit is not None and local_bu is None  # any other reaction: it used the prefix (a home BU too)
    judge.check(ND_VALIDITY, not configured,
                f"an address from {PREFIX_1}, advertised only in invalid RAs: "
                + ("used or solicited by the MN" if configured else "not used"), frame=hit if configured else None)
