"""Wire codec: per-message encode/decode, golden checksum vectors, strict decoding."""

from __future__ import annotations

import pytest
from refimpl_testutil import ones_complement_checksum, pseudo_header

from reference_impl import wire as w
from reference_impl.wire import fastpath

LCOA = w.ip6("2001:db8:1::100")
MAP = w.ip6("2001:db8:f::1")
RCOA = w.ip6("2001:db8:f::abcd")
MAC1 = w.mac("02:00:00:00:00:01")
MAC2 = w.mac("02:00:00:00:00:02")


def roundtrip(packet: w.Packet) -> w.Packet:
    data = w.encode_packet(packet)
    back = w.decode_packet(data)
    assert back == packet
    assert w.encode_packet(back) == data
    return back


# --- addresses ----------------------------------------------------------------------------------------------------


def test_address_helpers():
    """RFC 4291 §2.7.1 solicited-node group, RFC 2464 §7 multicast MAC, RFC 5952 text form."""
    assert w.fmt(w.ip6("2001:DB8:0:0::1")) == "2001:db8::1"
    assert w.fmt(w.solicited_node(RCOA)) == "ff02::1:ff00:abcd"
    assert w.multicast_mac(w.ip6("ff02::1:ff00:abcd")) == bytes.fromhex("3333ff00abcd")
    assert w.fmt(w.link_local_from_mac(MAC1)) == "fe80::ff:fe00:1"
    assert w.in_prefix(RCOA, MAP, 64) and not w.in_prefix(LCOA, MAP, 64)
    assert w.in_prefix(w.ip6("2001:db8:f:80::"), w.ip6("2001:db8:f:ff::"), 57)
    assert not w.in_prefix(w.ip6("2001:db8:f:80::"), w.ip6("2001:db8:f::"), 57)
    assert w.prefix_of(RCOA, 64) == w.ip6("2001:db8:f::")
    assert w.is_unicast_routable(RCOA)
    assert not any(w.is_unicast_routable(w.ip6(a)) for a in ("::", "::1", "fe80::1", "ff02::1"))
    assert w.fmt_mac(MAC1) == "02:00:00:00:00:01"
    with pytest.raises(ValueError):
        w.ip6("2001:db8::g")
    with pytest.raises(ValueError):
        w.mac("02:00:00:00:00")


# --- golden vectors -----------------------------------------------------------------------------------------------

# BU: LCoA 2001:db8:1::100 -> MAP 2001:db8:f::1, HAO = RCoA 2001:db8:f::abcd, seq 7, A+M, lifetime 100 (400 s).
BU_GOLDEN = bytes.fromhex(
    "6000000000283c40" "20010db8000100000000000000000100" "20010db8000f00000000000000000001"
    "8702" "01020000" "c910" "20010db8000f0000000000000000abcd"          # Dest Options: PadN(2), HAO at 8n+6
    "3b010500" "2e9b" "0007" "8800" "0064" "01020000"                     # MH: BU + PadN(2) to 16 octets
)
# BA: MAP -> LCoA with RH2 = RCoA, status 0, seq 7, lifetime 100.
BA_GOLDEN = bytes.fromhex(
    "6000000000282b40" "20010db8000f00000000000000000001" "20010db8000100000000000000000100"
    "87020201" "00000000" "20010db8000f0000000000000000abcd"             # RH type 2, segments left 1
    "3b010600" "b59b" "00" "00" "0007" "0064" "01020000"                  # MH: BA + PadN(2)
)


def test_golden_bu_checksum_uses_home_address():
    """RFC 6275 §6.1.1: the BU checksum pseudo-header source is the Home Address option's address."""
    mh = bytearray(BU_GOLDEN[64:])
    mh[4:6] = b"\x00\x00"
    expected = ones_complement_checksum(pseudo_header(RCOA, MAP, len(mh), 135) + bytes(mh))
    assert expected == 0x2E9B
    wrong = ones_complement_checksum(pseudo_header(LCOA, MAP, len(mh), 135) + bytes(mh))
    assert wrong != 0x2E9B  # the IPv6 source would give another value
    packet = w.Packet(LCOA, MAP, w.BindingUpdate(seq=7, flags=w.BU_A | w.BU_M, lifetime=100), home_address=RCOA)
    assert w.encode_packet(packet) == BU_GOLDEN
    assert w.decode_packet(BU_GOLDEN) == packet


def test_golden_ba_checksum_uses_routing_header_address():
    """RFC 6275 §6.1.1 / RFC 8200 §8.1: with a type 2 routing header the pseudo-header destination is the
    address in the routing header (the RCoA), not the IPv6 destination."""
    mh = bytearray(BA_GOLDEN[64:])
    mh[4:6] = b"\x00\x00"
    expected = ones_complement_checksum(pseudo_header(MAP, RCOA, len(mh), 135) + bytes(mh))
    assert expected == 0xB59B
    assert ones_complement_checksum(pseudo_header(MAP, LCOA, len(mh), 135) + bytes(mh)) != 0xB59B
    packet = w.Packet(MAP, LCOA, w.BindingAcknowledgement(status=0, seq=7, lifetime=100), rh2_address=RCOA)
    assert w.encode_packet(packet) == BA_GOLDEN
    assert w.decode_packet(BA_GOLDEN) == packet


def test_library_checksum_matches_plain_routine():
    """RFC 1071: the library checksum equals the plain test routine (odd length included)."""
    data = bytes(range(1, 200))
    assert w.internet_checksum(data) == ones_complement_checksum(data)


# --- per message round trips --------------------------------------------------------------------------------------


def test_binding_update_fields_and_flags():
    """RFC 6275 §6.1.7 + base §4.1: M is mask 0x0800; reserved bits stay visible; lifetime in 4 s units."""
    bu = w.BindingUpdate(seq=0xFFFF, flags=w.BU_A | w.BU_H | w.BU_L | w.BU_K | w.BU_M | 0x0005, lifetime=0x1234,
                         options=(w.AlternateCareOfAddress(LCOA), w.NonceIndices(1, 2),
                                  w.BindingAuthorizationData(bytes(range(12)))))
    back = roundtrip(w.Packet(LCOA, MAP, bu, home_address=RCOA)).payload
    assert (back.a, back.h, back.l, back.k, back.m) == (True, True, True, True, True)
    assert back.reserved_flags == 5 and back.lifetime_seconds == 0x1234 * 4
    assert back.alternate_coa == LCOA


def test_mobility_option_alignment():
    """RFC 6275 §6.2.5–6.2.7: Alt-CoA at 8n+6, Nonce Indices at 2n, BAD at 8n+2 and last without trailing pad."""
    bu = w.BindingUpdate(seq=1, options=(w.NonceIndices(1, 2), w.AlternateCareOfAddress(LCOA),
                                         w.BindingAuthorizationData(bytes(12))))
    mh = w.encode_mh(bu)
    assert len(mh) % 8 == 0
    pos, seen = 12, {}
    while pos < len(mh):
        if mh[pos] == 0:
            pos += 1
            continue
        seen[mh[pos]] = pos
        pos += 2 + mh[pos + 1]
    assert seen[4] % 2 == 0 and seen[3] % 8 == 6 and seen[5] % 8 == 2
    assert seen[5] + 2 + 12 == len(mh)
    assert w.decode_mh(mh) == bu


def test_verbatim_padding_is_kept_on_encode_and_dropped_on_decode():
    """RFC 6275 §6.2.2/§6.2.3: explicit padding is emitted as given; decoded option lists hold no padding."""
    bu = w.BindingUpdate(seq=1, options=(w.Pad1(), w.AlternateCareOfAddress(LCOA)))
    mh = w.encode_mh(bu)
    assert mh[12] == 0 and mh[13] == 3  # Pad1 then the option, no alignment inserted
    assert w.decode_mh(mh).options == (w.AlternateCareOfAddress(LCOA),)


def test_binding_ack_error_brr_unknown():
    """RFC 6275 §6.1.2, §6.1.8, §6.1.9 and unknown MH types kept opaque."""
    roundtrip(w.Packet(MAP, LCOA, w.BindingAcknowledgement(135, 9, 0, flags=w.BA_K | 0x01,
                                                          options=(w.BindingRefreshAdvice(50),)), rh2_address=RCOA))
    roundtrip(w.Packet(MAP, LCOA, w.BindingError(2, RCOA, reserved=3)))
    roundtrip(w.Packet(MAP, LCOA, w.BindingRefreshRequest(options=(w.MobilityOptionUnknown(200, b"ab"),))))
    assert len(w.encode_mh(w.BindingRefreshRequest())) == 8  # no options: Header Len 0
    assert len(w.encode_mh(w.BindingUpdate(seq=1))) == 16  # 4 octets of padding, Header Len 1
    assert len(w.encode_mh(w.BindingError(1, RCOA))) == 24  # Header Len 2
    roundtrip(w.Packet(MAP, LCOA, w.MobilityUnknown(1, bytes(10))))
    ba = w.BindingAcknowledgement(0, 1, 3)
    assert ba.lifetime_seconds == 12 and not ba.k


def test_router_advertisement_with_map_option():
    """RFC 4861 §4.2, RFC 6275 §7.1/§7.3, base §5: MAP option type 23 length 3, Dist/Pref nibbles, R bit."""
    ra = w.RouterAdvertisement(
        cur_hop_limit=64, flags=w.RA_M | w.RA_H | 0x01, router_lifetime=1800, reachable_time=5, retrans_timer=6,
        options=(
            w.SourceLinkLayerAddress(MAC1), w.Mtu(1500),
            w.PrefixInformation(w.ip6("2001:db8:1::"), 64, w.PI_L | w.PI_A | w.PI_R, 100, 50),
            w.AdvertisementInterval(1500),
            w.MapOption(MAP, dist=3, pref=12, r=True, valid_lifetime=600, reserved=0x11),
            w.MapOption(RCOA, dist=15, pref=0, r=False, valid_lifetime=0),
            w.NdOptionUnknown(99, bytes(6)),
        ))
    back = roundtrip(w.Packet(w.ip6("fe80::1"), w.ALL_NODES, ra, hop_limit=255)).payload
    assert back.map_options[0].dist == 3 and back.map_options[0].pref == 12 and back.map_options[0].reserved == 0x11
    option = w.MapOption(MAP, dist=3, pref=12, r=True, valid_lifetime=600)
    raw = w.encode_icmpv6(w.RouterAdvertisement(options=(option,)))
    assert raw[16:24] == bytes.fromhex("17033c8000000258")


def test_rs_ns_na_echo_opaque():
    """RFC 4861 §4.1, §4.3, §4.4 (R/S/O flags), RFC 4443 §4.1/§4.2 and error messages kept opaque."""
    ll = w.ip6("fe80::2")
    roundtrip(w.Packet(ll, w.ALL_ROUTERS, w.RouterSolicitation((w.SourceLinkLayerAddress(MAC2),)), hop_limit=255))
    roundtrip(w.Packet(w.UNSPECIFIED, w.solicited_node(RCOA), w.NeighborSolicitation(RCOA), hop_limit=255))
    na = w.NeighborAdvertisement(RCOA, r=False, s=True, o=False, options=(w.TargetLinkLayerAddress(MAC1),))
    roundtrip(w.Packet(MAP, ll, na, hop_limit=255))
    data = w.encode_icmpv6(w.NeighborAdvertisement(RCOA, r=True, s=False, o=True))
    assert data[4] == 0xA0
    roundtrip(w.Packet(LCOA, MAP, w.EchoRequest(0x4D50, 3, b"hello")))
    roundtrip(w.Packet(MAP, LCOA, w.EchoReply(0x4D50, 3, b"hello")))
    roundtrip(w.Packet(MAP, LCOA, w.Icmpv6Opaque(1, 3, bytes(4) + bytes(40))))
    roundtrip(w.Packet(MAP, LCOA, w.Icmpv6Opaque(143, 0, bytes(20))))


def test_tunnel_nesting_and_extension_headers():
    """RFC 2473 IPv6-in-IPv6; Hop-by-Hop kept; other destination options kept beside the HAO."""
    inner = w.Packet(RCOA, LCOA, w.EchoRequest(1, 2), home_address=MAP,
                     dest_options=(w.Ipv6Option(0x1E, b"xyz"),))
    outer = w.Packet(MAP, LCOA, inner, hop_by_hop=bytes((5, 2, 0, 0)) + bytes(2), hop_limit=3)
    back = roundtrip(outer)
    assert back.inner == inner and back.next_header == 41 and back.hop_by_hop is not None
    assert w.Packet(MAP, LCOA, w.RawPayload(17, b"udp")).next_header == 17
    roundtrip(w.Packet(MAP, LCOA, w.RawPayload(59)))


def test_frames():
    """RFC 2464: Ethernet II framing with ethertype 0x86DD; trailing Ethernet padding ignored."""
    frame = w.Frame(MAC2, MAC1, w.Packet(LCOA, MAP, w.BindingUpdate(seq=1, flags=w.BU_A | w.BU_M), home_address=RCOA))
    data = w.encode_frame(frame)
    assert data[12:14] == b"\x86\xdd"
    assert w.decode_frame(data) == frame
    assert w.decode_frame(data + bytes(20)) == frame  # Ethernet padding after the payload length is ignored


def test_hao_alignment_8n_plus_6():
    """RFC 6275 §6.3: the Home Address option has alignment 8n+6."""
    data = w.encode_packet(w.Packet(LCOA, MAP, w.EchoRequest(1, 1), home_address=RCOA,
                                    dest_options=(w.Ipv6Option(0x1E, b"ab"),)))
    dest = data[40:]
    pos = 2
    while dest[pos] != 201:
        pos += 1 if dest[pos] == 0 else 2 + dest[pos + 1]
    assert pos % 8 == 6
    assert (dest[1] + 1) * 8 % 8 == 0


# --- strict decoding ----------------------------------------------------------------------------------------------


def _errors(data: bytes) -> w.DecodeError:
    with pytest.raises(w.DecodeError) as info:
        w.decode_packet(data)
    assert isinstance(info.value, ValueError)
    return info.value


def test_bad_checksums_rejected_unless_asked():
    """RFC 6275 §6.1.1 / RFC 4443 §2.3: a wrong checksum is a DecodeError unless verify_checksums=False."""
    bad = bytearray(BU_GOLDEN)
    bad[-9] ^= 0x01  # flip a bit in the sequence number
    err = _errors(bytes(bad))
    assert err.reason == "bad mobility header checksum" and err.offset == 64 + 4
    assert w.decode_packet(bytes(bad), verify_checksums=False).payload.seq == 6
    forced = w.encode_packet(w.Packet(LCOA, MAP, w.EchoRequest(1, 1)), checksum=0x1234)
    assert _errors(forced).reason == "bad icmpv6 checksum"


def test_truncation_and_lengths():
    """RFC 8200 §3 and RFC 6275 §6.1.1: truncation and length fields beyond the data are DecodeErrors."""
    assert _errors(BU_GOLDEN[:39]).reason == "ipv6 header truncated"
    assert _errors(BU_GOLDEN[:-1]).reason == "ipv6 payload length exceeds packet"
    bad = bytearray(BU_GOLDEN)
    bad[0] = 0x40
    assert _errors(bytes(bad)).reason == "ip version is not 6"
    bad = bytearray(BU_GOLDEN)
    bad[65] = 5  # MH header len beyond the packet
    assert _errors(bytes(bad)).reason == "mobility header length exceeds packet"


def test_hao_wrong_length():
    """RFC 6275 §6.3: the Home Address option length MUST be 16."""
    bad = bytearray(BU_GOLDEN)
    bad[40 + 7] = 15  # HAO length 15
    err = _errors(bytes(bad))
    assert err.reason in ("home address option length != 16", "ipv6 option overruns header")
    bad = bytearray(BA_GOLDEN)
    bad[40 + 4:40 + 8] = b"\x00\x00\x00\x00"  # keep structure, make a HAO of length 14 in a dest-opts header
    data = w.encode_packet(w.Packet(LCOA, MAP, w.EchoRequest(1, 1), dest_options=(w.Ipv6Option(201, bytes(14)),)))
    assert _errors(data).reason == "home address option length != 16"


def test_routing_header_must_be_valid_type_2():
    """RFC 6275 §6.4.1: Hdr Ext Len 2, Segments Left 1, one address; other routing types unsupported."""
    for index, value, reason in (
        (40 + 2, 0, "routing header type 0 unsupported (only type 2)"),
        (40 + 3, 0, "type 2 routing header segments left != 1"),
        (40 + 3, 2, "type 2 routing header segments left != 1"),
    ):
        bad = bytearray(BA_GOLDEN)
        bad[index] = value
        assert _errors(bytes(bad)).reason == reason
    longer = bytearray(BA_GOLDEN[:40]) + bytes((135, 4, 2, 1)) + bytes(4) + bytes(32) + BA_GOLDEN[64:]
    longer[4:6] = (len(longer) - 40).to_bytes(2, "big")
    assert _errors(bytes(longer)).reason == "type 2 routing header length != 2"


def test_nd_option_length_zero_and_wrong_sizes():
    """RFC 4861 §4.6: options with length 0 MUST be discarded; fixed options have fixed lengths."""
    ra = w.encode_packet(w.Packet(w.ip6("fe80::1"), w.ALL_NODES, w.RouterAdvertisement(
        options=(w.SourceLinkLayerAddress(MAC1),)), hop_limit=255))
    bad = bytearray(ra)
    bad[40 + 16 + 1] = 0
    with pytest.raises(w.DecodeError) as info:
        w.decode_packet(bytes(bad), verify_checksums=False)
    assert info.value.reason == "nd option length 0" and info.value.offset == 40 + 16
    for opt_type, units, reason in ((23, 2, "map option length != 3"), (3, 3, "prefix information length != 4"),
                                    (5, 2, "mtu option length != 1"), (7, 2, "advertisement interval length != 1")):
        body = w.encode_icmpv6(w.RouterAdvertisement(options=(w.NdOptionUnknown(opt_type, bytes(units * 8 - 2)),)))
        with pytest.raises(w.DecodeError) as info:
            w.decode_icmpv6(body)
        assert info.value.reason == reason


def test_mobility_option_fixed_lengths():
    """RFC 6275 §6.2.4–§6.2.6: fixed mobility option lengths are enforced."""
    for otype, olen, reason in ((2, 3, "binding refresh advice length != 2"),
                                (3, 15, "alternate care-of address length != 16"),
                                (4, 16, "nonce indices length != 4")):
        mh = w.encode_mh(w.BindingUpdate(seq=1, options=(w.MobilityOptionUnknown(otype, bytes(olen)),)))
        with pytest.raises(w.DecodeError) as info:
            w.decode_mh(mh)
        assert info.value.reason == reason


def test_duplicate_headers_rejected():
    """RFC 6275 §6.3 (one HAO per header chain) and RFC 8200 §4.1 (Hop-by-Hop only first)."""
    twice = w.encode_packet(w.Packet(LCOA, MAP, w.EchoRequest(1, 1), home_address=RCOA,
                                     dest_options=(w.Ipv6Option(201, RCOA),)))
    assert _errors(twice).reason == "more than one home address option"
    hbh_late = bytearray(w.encode_packet(w.Packet(LCOA, MAP, w.RawPayload(59), home_address=RCOA)))
    hbh_late[40] = 0  # dest-opts header now says the next one is Hop-by-Hop
    hbh_late += bytes((59, 0)) + bytes(6)
    hbh_late[4:6] = (len(hbh_late) - 40).to_bytes(2, "big")
    assert _errors(bytes(hbh_late)).reason == "hop-by-hop header not first"


def test_decode_frame_rejects_other_ethertypes():
    """Only IPv6 frames are decoded; short frames are DecodeErrors."""
    with pytest.raises(w.DecodeError):
        w.decode_frame(MAC1 + MAC2 + b"\x08\x00" + bytes(40))
    with pytest.raises(w.DecodeError):
        w.decode_frame(MAC1)


def test_encode_rejects_out_of_range_values():
    """Encoding never silently truncates: out-of-range fields raise ValueError."""
    with pytest.raises(ValueError):
        w.encode_packet(w.Packet(LCOA, MAP, w.BindingUpdate(seq=70000)))
    with pytest.raises(ValueError):
        w.encode_packet(w.Packet(LCOA[:4], MAP, w.EchoRequest(1, 1)))
    with pytest.raises(ValueError):
        w.encode_icmpv6(w.RouterAdvertisement(options=(w.MapOption(MAP, dist=16),)))


# --- fast paths ---------------------------------------------------------------------------------------------------


def test_fastpath_peek_and_tunnel():
    """RFC 2473 encapsulation/decapsulation and header peeks on raw bytes agree with the full codec."""
    assert fastpath.peek(BU_GOLDEN) == (60, LCOA, MAP)
    assert fastpath.upper_layer(BU_GOLDEN) == (135, 64)
    assert fastpath.upper_layer(BA_GOLDEN) == (135, 64)
    inner = w.encode_packet(w.Packet(RCOA, LCOA, w.EchoRequest(1, 1)))
    outer = fastpath.encapsulate(MAP, LCOA, inner)
    assert w.decode_packet(outer) == w.Packet(MAP, LCOA, w.decode_packet(inner))
    assert fastpath.decapsulate(outer) == (MAP, inner)
    assert fastpath.decapsulate(inner) is None
    assert fastpath.decrement_hop_limit(outer)[7] == 63
    assert fastpath.decrement_hop_limit(outer[:7] + b"\x01" + outer[8:]) is None
    frame = w.encode_frame(w.Frame(MAC1, MAC2, w.decode_packet(outer)))
    assert fastpath.frame_payload(frame) == outer
    assert fastpath.peek(b"\x40" + bytes(50)) is None
    assert fastpath.upper_layer(BU_GOLDEN[:50]) is None
