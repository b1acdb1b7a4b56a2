"""The tester's IPsec seam (scapy) and the reference's (its own ESP/AH code) interoperate on the same testbed SAs,
in both directions, for ESP and AH, with the Home Address option and the type 2 routing header in place."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest
from scapy.layers.inet6 import HAO, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting
from scapy.layers.inet6 import MIP6MH_BA, MIP6MH_BU

from harness.testbed import security as tbsec
from harness.testbed.model import Secret
from harness.tester.protection import IpsecProtection
from reference_impl import wire as w
from reference_impl.security import IpsecSecurity, SaPair, SecurityDrop

MAP, LCOA, RCOA = "2001:db8:100::1", "2001:db8:110::c0a", "2001:db8:100::c0a"


def _spec(ipsec: str, auth: str = "hmac-sha256-128", encryption: str = "aes-cbc") -> tbsec.SecuritySpec:
    pairs = tbsec.generate(ipsec, auth, encryption if ipsec == "esp" else "null", Secret("seed", "test"),
                           ["mn"], {"map1": MAP})
    return tbsec.SecuritySpec(ipsec, pairs)


def _reference(spec: tbsec.SecuritySpec, side: str, **end) -> IpsecSecurity:
    section = spec.daemon_section(**end)
    return IpsecSecurity([SaPair.from_config(p) for p in section["sas"]], side)


def _bu(seq: int = 7, rcoa: str = RCOA) -> bytes:
    return bytes(IPv6(src=LCOA, dst=MAP, hlim=64) / IPv6ExtHdrDestOpt(options=[HAO(hoa=rcoa)])
                 / MIP6MH_BU(seq=seq, flags="AM", mhtime=10))


MODES = [("esp", "hmac-sha256-128", "aes-cbc"), ("esp", "hmac-sha1-96", "null"), ("ah", "hmac-sha256-128", "null"),
         ("ah", "hmac-sha1-96", "null")]


@pytest.mark.parametrize("ipsec,auth,encryption", MODES)
def test_tester_bu_opens_at_the_reference_map(ipsec, auth, encryption) -> None:
    spec = _spec(ipsec, auth, encryption)
    tester, ref = IpsecProtection(spec.pairs), _reference(spec, "map", map_node="map1")
    wire = tester.protect(_bu())
    assert wire[6] == 60 and wire[40] == (50 if ipsec == "esp" else 51)  # HAO stays before ESP/AH (RFC 6275 §6.3)
    plain, pair = ref.open(w.decode_packet(wire))
    assert pair == "tester1@map1"
    assert isinstance(plain.payload, w.BindingUpdate) and plain.payload.seq == 7
    assert plain.home_address == w.ip6(RCOA)


@pytest.mark.parametrize("ipsec,auth,encryption", MODES)
def test_reference_ba_opens_at_the_tester(ipsec, auth, encryption) -> None:
    spec = _spec(ipsec, auth, encryption)
    tester, ref = IpsecProtection(spec.pairs), _reference(spec, "map", map_node="map1")
    ba = w.Packet(w.ip6(MAP), w.ip6(LCOA), w.BindingAcknowledgement(0, 7, 10), rh2_address=w.ip6(RCOA))
    wire = w.encode_packet(ref.protect(ba, "tester1@map1"))
    opened = tester.unprotect(wire)
    assert opened.error is None, opened.error
    assert opened.ipsec.pair == "tester1@map1" and opened.ipsec.direction == "to_mn"
    pkt = IPv6(opened.ipv6)
    assert pkt[MIP6MH_BA].seq == 7 and pkt[IPv6ExtHdrRouting].addresses == [RCOA]


@pytest.mark.parametrize("ipsec,auth,encryption", MODES)
def test_mn_side_both_ways(ipsec, auth, encryption) -> None:
    """The reference MN's BU opens at the tester playing a MAP, and the tester's BA opens at the reference MN."""
    spec = _spec(ipsec, auth, encryption)
    tester, mn = IpsecProtection(spec.pairs), _reference(spec, "mn", mn="mn")
    played_map = "2001:db8:1a::1"
    rcoa = "2001:db8:1a::99"
    pair = mn.pair_for(w.ip6(played_map), w.ip6(rcoa))
    assert pair == "mn@tester"
    bu = w.Packet(w.ip6(LCOA), w.ip6(played_map), w.BindingUpdate(3, w.BU_A | w.BU_M, 10), home_address=w.ip6(rcoa))
    opened = tester.unprotect(w.encode_packet(mn.protect(bu, pair)))
    assert opened.error is None and IPv6(opened.ipv6)[MIP6MH_BU].seq == 3
    ba = bytes(IPv6(src=played_map, dst=LCOA) / IPv6ExtHdrRouting(type=2, segleft=1, addresses=[rcoa])
               / MIP6MH_BA(seq=3, mhtime=10))
    plain, got = mn.open(w.decode_packet(tester.protect(ba)))
    assert got == "mn@tester" and isinstance(plain.payload, w.BindingAcknowledgement)


def test_tampered_replayed_and_foreign_packets_are_refused() -> None:
    spec = _spec("esp")
    tester, ref = IpsecProtection(spec.pairs), _reference(spec, "map", map_node="map1")
    wire = tester.protect(_bu())
    ref.open(w.decode_packet(wire))
    with pytest.raises(SecurityDrop, match="RFC 4303 §3.4.3"):
        ref.open(w.decode_packet(wire))  # the same ESP sequence number again
    bad = bytearray(tester.protect(_bu(8)))
    bad[-1] ^= 1
    with pytest.raises(SecurityDrop, match="ICV|integrity"):
        ref.open(w.decode_packet(bytes(bad)))
    # another valid pair (tester2) opens too, and is named: the MAP binds the RCoA to the pair (base §12.1)
    plain, pair = ref.open(w.decode_packet(tester.protect(_bu(9), "tester2@map1")))
    assert pair == "tester2@map1"
    # an RCoA outside the pair's selector (an MN's pair covers the MAP's /64 only) is refused by the selectors
    mn_pair = IpsecProtection(spec.pairs)
    wire = mn_pair.protect(_bu(10, "2001:db8:999::1"), "mn@map1")
    with pytest.raises(SecurityDrop, match="selectors"):
        _reference(spec, "map", map_node="map1").open(w.decode_packet(wire))


def test_unknown_spi_is_flagged_by_the_tester() -> None:
    spec = _spec("esp")
    wire = IpsecProtection(spec.pairs).protect(_bu())
    other = tbsec.SecuritySpec("esp", tuple(dataclasses.replace(p, to_map=dataclasses.replace(p.to_map, spi=p.to_map.spi + 0x100))
                                            for p in spec.pairs))
    opened = IpsecProtection(other.pairs).unprotect(wire)
    assert opened.ipv6 is None and "no ESP SA" in opened.error


def test_generated_pairs_cover_every_mn_map_relation() -> None:
    spec = _spec("esp")
    names = [p.name for p in spec.pairs]
    assert names == ["mn@map1", "mn@tester", "tester1@map1", "tester2@map1"]
    spis = [s.spi for p in spec.pairs for s in (p.to_map, p.to_mn)]
    assert len(set(spis)) == len(spis) and min(spis) >= 256
    assert spec.pair("mn@map1").rcoa == ipaddress.IPv6Network("2001:db8:100::/64")
    assert spec.pair("tester1@map1").rcoa == ipaddress.IPv6Network("::/0")
    assert "Secret" in repr(spec.pair("mn@map1").to_map.auth_key)
