"""Wire codec robustness: random and mutated bytes never raise anything but DecodeError."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from refimpl_testutil import FUZZ

from reference_impl import wire as w
from reference_impl.wire import fastpath

LCOA = w.ip6("2001:db8:1::100")
MAP = w.ip6("2001:db8:f::1")
RCOA = w.ip6("2001:db8:f::abcd")
MAC = w.mac("02:00:00:00:00:01")

CORPUS = [
    w.encode_packet(p)
    for p in (
        w.Packet(LCOA, MAP, w.BindingUpdate(7, w.BU_A | w.BU_M, 100, (w.AlternateCareOfAddress(LCOA),
                                                                     w.NonceIndices(1, 2),
                                                                     w.BindingAuthorizationData(bytes(12)))),
                 home_address=RCOA),
        w.Packet(MAP, LCOA, w.BindingAcknowledgement(0, 7, 100, options=(w.BindingRefreshAdvice(3),)),
                 rh2_address=RCOA),
        w.Packet(MAP, LCOA, w.BindingError(1, RCOA)),
        w.Packet(MAP, LCOA, w.BindingRefreshRequest()),
        w.Packet(w.ip6("fe80::1"), w.ALL_NODES, w.RouterAdvertisement(options=(
            w.SourceLinkLayerAddress(MAC), w.Mtu(1500), w.PrefixInformation(w.ip6("2001:db8:1::")),
            w.AdvertisementInterval(1000), w.MapOption(MAP))), hop_limit=255),
        w.Packet(w.ip6("fe80::2"), w.ALL_ROUTERS, w.RouterSolicitation((w.SourceLinkLayerAddress(MAC),))),
        w.Packet(w.UNSPECIFIED, w.solicited_node(RCOA), w.NeighborSolicitation(RCOA)),
        w.Packet(MAP, w.ALL_NODES, w.NeighborAdvertisement(RCOA, o=True, options=(w.TargetLinkLayerAddress(MAC),))),
        w.Packet(MAP, LCOA, w.Packet(RCOA, LCOA, w.EchoRequest(1, 2, b"data"), home_address=MAP),
                 hop_by_hop=bytes(6)),
        w.Packet(MAP, LCOA, w.Icmpv6Opaque(1, 0, bytes(48))),
    )
]


def _check(data: bytes) -> None:
    for verify in (True, False):
        try:
            packet = w.decode_packet(data, verify_checksums=verify)
        except w.DecodeError as err:
            assert isinstance(err.offset, int) and 0 <= err.offset <= len(data) + 1
            continue
        again = w.decode_packet(w.encode_packet(packet))  # what we decode we can re-encode, identically
        assert again == packet
    for fn in (fastpath.peek, fastpath.upper_layer, fastpath.decapsulate, fastpath.decrement_hop_limit,
               fastpath.frame_payload):
        fn(data)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data):
    """Random bytes: decode either succeeds (and re-encodes to the same view) or raises DecodeError only."""
    _check(data)
    _check(b"\x60" + data)
    try:
        w.decode_frame(data)
    except w.DecodeError:
        pass


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "plen"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[i] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[i:]
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[i:i + draw(st.integers(1, 16))]
        elif kind == "plen" and len(data) >= 6:
            data[4:6] = draw(st.integers(0, 0xFFFF)).to_bytes(2, "big")
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_packets(data):
    """Valid packets with flipped/inserted/deleted bytes: only DecodeError escapes."""
    _check(data)


@FUZZ
@given(st.binary(max_size=120))
def test_component_decoders(data):
    """Message-level decoders on random bytes: only DecodeError escapes."""
    for fn in (w.decode_icmpv6, w.decode_mh, w.decode_nd_options, w.decode_mobility_options):
        try:
            fn(data)
        except w.DecodeError:
            pass
