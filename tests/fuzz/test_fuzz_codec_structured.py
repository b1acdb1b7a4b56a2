"""Structure-aware fuzzing of the reference codec (issue 9).

Messages are built field by field by hypothesis strategies (:mod:`fuzz_support`), encoded, and then lied about
where the lengths are: the IPv6 payload length, extension header and option lengths, the Mobility Header length,
mobility and ND option lengths (0 included), the MAP option's length, plus truncation at every length and field
overflow.  Properties: decoding returns a value or raises DecodeError -- nothing else -- and a valid message
decodes to what was encoded.  (``tests/unit/reference/test_refimpl_wire_fuzz.py`` feeds random and blindly mutated
bytes; this file knows the structure.)
"""

from __future__ import annotations

import dataclasses
import random

import pytest
from fuzz_support import (
    FUZZ, HOME, LCOA, MAP, RCOA, AR_LL, AR_MAC, CN, HA, check_bytes_paths, check_decode, fix_checksum,
    fix_payload_length, frames, layout, mobility_messages, mutate, packets,
)
from hypothesis import given
from hypothesis import strategies as st

from reference_impl import wire as w


# --- valid input: decode(encode(x)) == x ----------------------------------------------------------------------------

@FUZZ
@given(packets())
def test_every_message_round_trips(packet):
    """Every message type, every field over its range (reserved bits, unknown options and MH types, HAO, RH2,
    Hop-by-Hop, destination options, IPv6-in-IPv6 nesting): what is encoded decodes to the same value."""
    data = w.encode_packet(packet)
    assert w.decode_packet(data) == packet
    assert w.decode_packet(data, verify_checksums=False) == packet
    check_bytes_paths(data)


@FUZZ
@given(frames())
def test_frames_round_trip(frame):
    assert w.decode_frame(w.encode_frame(frame)) == frame


@FUZZ
@given(mobility_messages(pads=True), st.sampled_from([None, RCOA]), st.sampled_from([None, RCOA]))
def test_padding_is_layout_not_content(msg, home, rh2):
    """Pad1/PadN in a list are emitted verbatim (odd layouts on purpose) and dropped by the decoder."""
    packet = w.Packet(LCOA, MAP, msg, home_address=home, rh2_address=rh2)
    decoded = w.decode_packet(w.encode_packet(packet))
    if hasattr(msg, "options"):
        expected = dataclasses.replace(msg, options=tuple(o for o in msg.options if not isinstance(o, (w.Pad1, w.PadN))))
    else:
        expected = msg
    assert decoded.payload == expected


# --- lies: only DecodeError, and what decodes still round-trips ---------------------------------------------------

@FUZZ
@given(packets(), st.integers(0, 2**32), st.integers(1, 4))
def test_structured_mutations_raise_only_decode_error(packet, seed, lies):
    """Length lies, truncations, overflowing fields and byte edits on structured packets; half of them repaired
    (payload length, checksum) so the decoder reaches the inner parsers."""
    data = mutate(w.encode_packet(packet), random.Random(seed), lies)
    check_decode(data)
    check_bytes_paths(data)


@FUZZ
@given(packets(), st.integers(0, 2**32))
def test_component_decoders_on_structured_bytes(packet, seed):
    """The message-level decoders (Mobility Header, ICMPv6, option lists) on mutated upper layers."""
    data = bytearray(mutate(w.encode_packet(packet), random.Random(seed), 1, repair=False))
    upper = bytes(data[40:])
    for fn in (w.decode_icmpv6, w.decode_mh, w.decode_nd_options, w.decode_mobility_options):
        for chunk in (upper, upper[4:], upper[6:], upper[8:], upper[16:]):
            try:
                fn(chunk)
            except w.DecodeError:
                pass


# --- exhaustive: every truncation and every length lie of one packet per message type ------------------------------

MAC = AR_MAC
REPRESENTATIVE = {
    "bu": w.Packet(LCOA, MAP, w.BindingUpdate(7, w.BU_A | w.BU_M | w.BU_K, 100, (
        w.AlternateCareOfAddress(LCOA), w.NonceIndices(1, 2), w.BindingAuthorizationData(bytes(12)),
        w.BindingRefreshAdvice(9), w.MobilityOptionUnknown(42, b"xyz"))), home_address=RCOA),
    "ba": w.Packet(MAP, LCOA, w.BindingAcknowledgement(0, 7, 100, 0x80, (w.BindingRefreshAdvice(3),)),
                   rh2_address=RCOA),
    "be": w.Packet(CN, LCOA, w.BindingError(1, HOME, (w.MobilityOptionUnknown(99, b""),), 7)),
    "brr": w.Packet(CN, HOME, w.BindingRefreshRequest((), 0xFFFF), rh2_address=HOME),
    "hot": w.Packet(CN, HOME, w.MobilityUnknown(3, bytes(18))),
    "mh_unknown": w.Packet(CN, HOME, w.MobilityUnknown(200, bytes(2))),
    "ra": w.Packet(AR_LL, w.ALL_NODES, w.RouterAdvertisement(64, 0xFF, 1800, 1, 2, (
        w.SourceLinkLayerAddress(MAC), w.Mtu(1500, 0xFFFF), w.PrefixInformation(w.ip6("2001:db8:110::"), 64),
        w.AdvertisementInterval(1500), w.MapOption(MAP, 15, 15, True, 0xFFFFFFFF, 0x7F),
        w.MapOption(w.ip6("2001:db8:200::1"), 0, 0, False, 0), w.NdOptionUnknown(31, bytes(6)))), hop_limit=255),
    "rs": w.Packet(w.ip6("fe80::2"), w.ALL_ROUTERS, w.RouterSolicitation((w.SourceLinkLayerAddress(MAC),), 1, 1),
                   hop_limit=255),
    "ns": w.Packet(w.UNSPECIFIED, w.solicited_node(RCOA), w.NeighborSolicitation(RCOA, (w.NdOptionUnknown(14, bytes(6)),)),
                   hop_limit=255),
    "na": w.Packet(MAP, w.ALL_NODES, w.NeighborAdvertisement(RCOA, True, True, True, (w.TargetLinkLayerAddress(MAC),),
                                                             0x1FFFFFFF), hop_limit=255),
    "echo": w.Packet(MAP, w.ip6("2001:db8:100::2"), w.EchoReply(0x4D50, 3, b"hmipv6 map probe")),
    "icmp_error": w.Packet(CN, HOME, w.Icmpv6Opaque(4, 1, bytes(4) + w.encode_packet(
        w.Packet(HOME, CN, w.MobilityUnknown(1, bytes(10)))))),
    "tunnel": w.Packet(MAP, LCOA, w.Packet(HA, RCOA, w.Packet(CN, HOME, w.EchoRequest(1, 2, b"x"), home_address=RCOA,
                                                              rh2_address=HOME)), hop_by_hop=bytes(6)),
    "ext_headers": w.Packet(LCOA, MAP, w.RawPayload(17, bytes(12)), hop_by_hop=bytes((5, 2, 0, 0, 1, 0)),
                            home_address=RCOA, rh2_address=HOME,
                            dest_options=(w.Ipv6Option(0x1E, b"ab"), w.Ipv6Option(0xC9, bytes(3)))),
}


@pytest.mark.parametrize("name", sorted(REPRESENTATIVE))
def test_every_truncation(name):
    """Truncated at every length: as received (payload length still claiming the original) and repaired (payload
    length and checksum consistent with what is left, so the inner parsers meet the truncation)."""
    data = w.encode_packet(REPRESENTATIVE[name])
    for cut in range(len(data) + 1):
        head = bytearray(data[:cut])
        check_decode(bytes(head))
        fix_payload_length(head)
        fix_checksum(head)
        check_decode(bytes(head))
        check_bytes_paths(bytes(head))


@pytest.mark.parametrize("name", sorted(REPRESENTATIVE))
def test_every_length_lie(name):
    """Every length (and type) field of the packet set to 0, 1, its maximum and ±1, ±8 around its value, with and
    without the checksum repaired afterwards."""
    data = w.encode_packet(REPRESENTATIVE[name])
    fields = layout(data)
    assert fields, "the layout walk found nothing to lie about"
    for f in fields:
        old = int.from_bytes(data[f.offset:f.offset + f.size], "big")
        top = (1 << (8 * f.size)) - 1
        for value in {0, 1, 2, 3, 4, 5, 23, top, old + 1, old - 1, old + 8, old - 8} - {old}:
            lied = bytearray(data)
            lied[f.offset:f.offset + f.size] = (value & top).to_bytes(f.size, "big")
            check_decode(bytes(lied))
            fix_checksum(lied)
            check_decode(bytes(lied))
            check_bytes_paths(bytes(lied))
