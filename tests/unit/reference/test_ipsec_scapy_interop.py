"""reference_impl.ipsec against scapy 2.8's independent ESP/AH (``scapy.layers.ipsec``), transport mode, both ways.

ESP: scapy-encrypted packets open in the reference and reference packets open in scapy, for NULL and AES-CBC
with HMAC-SHA1-96 and HMAC-SHA-256-128; with the same IV both produce the same octets.  Built without extension
headers: scapy's transport-mode ESP would put a trailing Destination Options header inside the ESP payload
(PLATFORM.md), wrong for Mobile IPv6.

AH: without HAO/RH2 the reference's AH equals scapy's octet for octet and each verifies the other's.  With a
Home Address option scapy does not apply RFC 6275 §9.3.1's swap, so the reference's AH over the wire packet is
compared with scapy's AH over the packet "as at destination" built by hand (source = home address, HAO = care-of
address); for the type 2 routing header likewise with destination = home address, RH2 = care-of address,
Segments Left 0 (RFC 6275 §9.3.2).  Scapy's own mutable-field zeroing (``zero_mutable_fields``) of that hand-built
packet is also compared with the reference's ``ah_icv_view`` of the wire headers.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from refimpl_testutil import PROPERTY

from reference_impl import ipsec

scapy_ipsec = pytest.importorskip("scapy.layers.ipsec")
from scapy.layers.inet6 import (  # noqa: E402
    HAO, HBHOptUnknown, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, MIP6MH_BU, RouterAlert,
)
from scapy.layers.ipsec import AH, ESP, IPSecIntegrityError, zero_mutable_fields  # noqa: E402
from scapy.layers.ipsec import SecurityAssociation as ScapySA  # noqa: E402
from scapy.packet import Raw  # noqa: E402

SCAPY_AUTH = {"hmac-sha1-96": "HMAC-SHA1-96", "hmac-sha256-128": "SHA2-256-128"}
SCAPY_CRYPT = {"null": "NULL", "aes-cbc": "AES-CBC"}
KEY_LENGTHS = {"hmac-sha1-96": 20, "hmac-sha256-128": 32}
ESP_COMBOS = [(a, e, k) for a in SCAPY_AUTH for e, k in [("null", 0), ("aes-cbc", 16), ("aes-cbc", 32)]]

COA, HOA, MAP = "2001:db8:1::c0a", "2001:db8:2::b0a", "2001:db8:3::ff"
BU = bytes(MIP6MH_BU(seq=0x1234, mhtime=150))  # 16-octet Binding Update (checksum 0)


def esp_pair(auth: str, enc: str, enc_len: int, spi: int = 0x1000, auth_key: bytes | None = None,
             enc_key: bytes | None = None) -> tuple[ipsec.SecurityAssociation, ScapySA]:
    auth_key = bytes(range(KEY_LENGTHS[auth])) if auth_key is None else auth_key
    enc_key = bytes(range(100, 100 + enc_len)) if enc_key is None else enc_key
    ref = ipsec.SecurityAssociation(spi, "esp", auth, auth_key, enc, enc_key)
    theirs = ScapySA(ESP, spi=spi, crypt_algo=SCAPY_CRYPT[enc], crypt_key=enc_key or None,
                     auth_algo=SCAPY_AUTH[auth], auth_key=auth_key)
    return ref, theirs


def ah_pair(auth: str, spi: int = 0x2000, auth_key: bytes | None = None
            ) -> tuple[ipsec.SecurityAssociation, ScapySA]:
    auth_key = bytes(range(7, 7 + KEY_LENGTHS[auth])) if auth_key is None else auth_key
    return (ipsec.SecurityAssociation(spi, "ah", auth, auth_key),
            ScapySA(AH, spi=spi, auth_algo=SCAPY_AUTH[auth], auth_key=auth_key))


def scapy_esp_open(theirs: ScapySA, wire: bytes) -> tuple[int, bytes]:
    """(next header, payload octets) of scapy's decryption, re-parsed from bytes (PLATFORM.md)."""
    opened = IPv6(bytes(theirs.decrypt(IPv6(wire))))
    assert opened.plen == len(bytes(opened)) - 40
    return opened.nh, bytes(opened)[40:]


# --- ESP ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("auth,enc,enc_len", ESP_COMBOS)
@pytest.mark.parametrize("nh,payload", [(135, BU), (59, b""), (59, b"\x00" * 7)], ids=["bu", "nonext", "nonext7"])
def test_esp_scapy_to_reference(auth, enc, enc_len, nh, payload):
    ref, theirs = esp_pair(auth, enc, enc_len)
    wire = bytes(theirs.encrypt(IPv6(src=COA, dst=MAP, nh=nh) / Raw(payload), seq_num=77))
    assert wire[6] == 50
    assert ipsec.esp_spi(wire[40:]) == (0x1000, 77)
    assert ipsec.esp_decapsulate(ref, wire[40:]) == ipsec.Decapsulated(77, nh, payload)


@pytest.mark.parametrize("auth,enc,enc_len", ESP_COMBOS)
@pytest.mark.parametrize("nh,payload", [(135, BU), (59, b""), (59, b"\x00" * 7)], ids=["bu", "nonext", "nonext7"])
def test_esp_reference_to_scapy(auth, enc, enc_len, nh, payload):
    ref, theirs = esp_pair(auth, enc, enc_len)
    esp = ipsec.esp_encapsulate(ref, 78, nh, payload)
    wire = bytes(IPv6(src=COA, dst=MAP, nh=50, plen=len(esp))) + esp
    assert scapy_esp_open(theirs, wire) == (nh, payload)
    with pytest.raises(IPSecIntegrityError):  # scapy really checks the reference's ICV
        theirs.decrypt(IPv6(wire[:-1] + bytes([wire[-1] ^ 1])))


@pytest.mark.parametrize("auth,enc,enc_len", ESP_COMBOS)
def test_esp_same_iv_same_octets(auth, enc, enc_len):
    """Same SA, sequence number and IV: identical packets (padding 1, 2, ..., RFC 4303 §2.4; ICV §3.3.4)."""
    ref, theirs = esp_pair(auth, enc, enc_len)
    iv = bytes(range(16)) if enc == "aes-cbc" else b""
    for payload in (b"", b"\x01", BU, BU * 3 + b"\x02"):
        wire = bytes(theirs.encrypt(IPv6(src=COA, dst=MAP, nh=135) / Raw(payload), seq_num=5, iv=iv))
        assert ipsec.esp_encapsulate(ref, 5, 135, payload, iv=iv) == wire[40:]


# scapy parses what it decrypted by next header: random octets go with 59 (No Next Header), BUs with 135
payloads = st.one_of(st.tuples(st.just(59), st.binary(max_size=200)),
                     st.builds(lambda s, t: (135, bytes(MIP6MH_BU(seq=s, mhtime=t))), st.integers(0, 0xFFFF),
                               st.integers(0, 0xFFFF)))


@PROPERTY
@given(combo=st.sampled_from(ESP_COMBOS), data=st.data(), seq=st.integers(1, 2**32 - 1), packet=payloads,
       spi=st.integers(256, 2**32 - 1))
def test_property_esp_both_directions(combo, data, seq, packet, spi):
    auth, enc, enc_len = combo
    nh, payload = packet
    auth_key = data.draw(st.binary(min_size=KEY_LENGTHS[auth], max_size=KEY_LENGTHS[auth]))
    enc_key = data.draw(st.binary(min_size=enc_len, max_size=enc_len))
    if enc == "aes-cbc" and not any(enc_key):
        enc_key = b"\x01" + enc_key[1:]  # scapy treats an all-zero key like any other, but b"" as None
    ref, theirs = esp_pair(auth, enc, enc_len, spi, auth_key, enc_key)
    wire = bytes(theirs.encrypt(IPv6(src=COA, dst=MAP, nh=nh) / Raw(payload), seq_num=seq))
    assert ipsec.esp_decapsulate(ref, wire[40:]) == ipsec.Decapsulated(seq, nh, payload)
    esp = ipsec.esp_encapsulate(ref, seq, nh, payload)
    assert scapy_esp_open(theirs, bytes(IPv6(src=COA, dst=MAP, nh=50, plen=len(esp))) + esp) == (nh, payload)


# --- AH without Mobile IPv6 headers: octet-for-octet equality -------------------------------------------------

PLAIN_CHAINS = {
    "none": lambda nh: IPv6(src=COA, dst=MAP, nh=nh, tc=0xB8, fl=0x12345, hlim=17),
    # Router Alert (type 5) is immutable; type 0x3E has the change-en-route bit: its data is zeroed
    "hbh+dstopts": lambda nh: (IPv6(src=COA, dst=MAP, tc=3, fl=9, hlim=2)
                               / IPv6ExtHdrHopByHop(options=[RouterAlert(value=7)])
                               / IPv6ExtHdrDestOpt(nh=nh, options=[HBHOptUnknown(otype=0x3E, optdata=b"abcd"),
                                                                   HBHOptUnknown(otype=0x1E, optdata=b"xy")])),
}


def split_ah(wire: bytes, sa: ipsec.SecurityAssociation) -> tuple[bytes, bytes, bytes]:
    """(headers before AH, AH, payload) of an IPv6 packet whose last extension header before the AH is known by
    walking the chain (Hop-by-Hop / Routing / Destination Options, RFC 8200 §4)."""
    nh, pos = wire[6], 40
    while nh != 51:
        nh, pos = wire[pos], pos + (wire[pos + 1] + 1) * 8
    length = ipsec.ah_length(sa)
    return wire[:pos], wire[pos:pos + length], wire[pos + length:]


@pytest.mark.parametrize("chain", list(PLAIN_CHAINS))
@pytest.mark.parametrize("auth", list(SCAPY_AUTH))
@pytest.mark.parametrize("nh,payload", [(135, BU), (59, b"")], ids=["bu", "nonext"])
def test_ah_equals_scapy_without_mobility_headers(chain, auth, nh, payload):
    ref, theirs = ah_pair(auth)
    wire = bytes(theirs.encrypt(PLAIN_CHAINS[chain](nh) / Raw(payload), seq_num=300))
    headers, ah, rest = split_ah(wire, ref)
    assert rest == payload
    assert ipsec.ah_encapsulate(ref, 300, headers, nh, payload) == ah
    assert ipsec.ah_decapsulate(ref, headers, ah + payload) == ipsec.Decapsulated(300, nh, payload)


@pytest.mark.parametrize("chain", list(PLAIN_CHAINS))
@pytest.mark.parametrize("auth", list(SCAPY_AUTH))
def test_ah_reference_verified_by_scapy(chain, auth):
    ref, theirs = ah_pair(auth)
    template = bytes(theirs.encrypt(PLAIN_CHAINS[chain](135) / Raw(BU), seq_num=1))
    headers, _, _ = split_ah(template, ref)
    ah = ipsec.ah_encapsulate(ref, 9, headers, 135, BU)
    opened = theirs.decrypt(IPv6(headers + ah + BU))
    assert bytes(opened).endswith(BU)
    with pytest.raises(IPSecIntegrityError):
        theirs.decrypt(IPv6(headers + ah[:-5] + bytes([ah[-5] ^ 1]) + ah[-4:] + BU))


@PROPERTY
@given(auth=st.sampled_from(list(SCAPY_AUTH)), data=st.data(), seq=st.integers(1, 2**32 - 1),
       payload=st.binary(max_size=120), tc=st.integers(0, 255), fl=st.integers(0, 0xFFFFF),
       hlim=st.integers(0, 255), spi=st.integers(256, 2**32 - 1))
def test_property_ah_equals_scapy(auth, data, seq, payload, tc, fl, hlim, spi):
    key = data.draw(st.binary(min_size=KEY_LENGTHS[auth], max_size=KEY_LENGTHS[auth]))
    ref, theirs = ah_pair(auth, spi, key)
    wire = bytes(theirs.encrypt(IPv6(src=COA, dst=MAP, nh=135, tc=tc, fl=fl, hlim=hlim) / Raw(payload),
                                seq_num=seq))
    headers, ah, _ = split_ah(wire, ref)
    assert ipsec.ah_encapsulate(ref, seq, headers, 135, payload) == ah


# --- AH with a Home Address option / type 2 routing header: the RFC 6275 transform ------------------------------

def hao_packet(src: str, home_field: str, payload: bytes = BU) -> IPv6:
    return IPv6(src=src, dst=MAP, hlim=64) / IPv6ExtHdrDestOpt(nh=135, options=[HAO(hoa=home_field)]) / Raw(payload)


def rh2_packet(dst: str, rh_address: str, segleft: int, payload: bytes = BU) -> IPv6:
    return (IPv6(src=MAP, dst=dst, hlim=64)
            / IPv6ExtHdrRouting(type=2, segleft=segleft, addresses=[rh_address], nh=135) / Raw(payload))


def scapy_view(packet_with_ah: bytes) -> bytes:
    """Scapy's RFC 4302 §3.3.3.1 zeroing of a received packet (no routing-header reordering)."""
    return bytes(zero_mutable_fields(IPv6(packet_with_ah), sending=False))


@pytest.mark.parametrize("auth", list(SCAPY_AUTH))
def test_ah_home_address_option_against_scapy_as_at_destination(auth):
    """RFC 6275 §9.3.1: MN sends src = care-of, HAO = home; the ICV is that of src = home, HAO = care-of."""
    ref, theirs = ah_pair(auth)
    on_wire = bytes(theirs.encrypt(hao_packet(COA, HOA), seq_num=41))  # scapy: no swap
    at_destination = bytes(theirs.encrypt(hao_packet(HOA, COA), seq_num=41))  # built by hand
    headers, scapy_default_ah, _ = split_ah(on_wire, ref)
    dest_headers, scapy_dest_ah, _ = split_ah(at_destination, ref)
    ah = ipsec.ah_encapsulate(ref, 41, headers, 135, BU)
    assert ah == scapy_dest_ah
    assert ah != scapy_default_ah  # the swap is not a no-op
    # scapy verifies the reference's AH on the as-at-destination packet, and zeroes it to the same ICV input
    theirs.decrypt(IPv6(dest_headers + ah + BU))
    icv_length = {"hmac-sha1-96": 12, "hmac-sha256-128": 16}[auth]
    zeroed_ah = ah[:12] + bytes(icv_length) + ah[12 + icv_length:]
    assert ipsec.ah_icv_view(headers) + zeroed_ah + BU == scapy_view(dest_headers + ah + BU)
    # the reference accepts the wire packet carrying scapy's as-at-destination AH, refuses scapy's default
    assert ipsec.ah_decapsulate(ref, headers, scapy_dest_ah + BU).payload == BU
    with pytest.raises(ipsec.IpsecError, match="ICV mismatch"):
        ipsec.ah_decapsulate(ref, headers, scapy_default_ah + BU)


@pytest.mark.parametrize("auth", list(SCAPY_AUTH))
def test_ah_type2_routing_header_against_scapy_as_at_destination(auth):
    """RFC 6275 §9.3.2: MAP sends dst = care-of, RH2 = home, Segments Left 1; the ICV is that of dst = home,
    RH2 = care-of, Segments Left 0 (RFC 4302 §3.3.3.1.2.2)."""
    ref, theirs = ah_pair(auth)
    on_wire = bytes(theirs.encrypt(rh2_packet(COA, HOA, 1), seq_num=42))
    headers, scapy_sent_ah, _ = split_ah(on_wire, ref)
    ah = ipsec.ah_encapsulate(ref, 42, headers, 135, BU)
    # by hand: the packet as the final destination sees it, with the reference's AH; scapy verifies it as received
    dest_headers = headers[:24] + bytes(IPv6(dst=HOA))[24:40] + headers[40:43] + b"\x00" + headers[44:48] \
        + bytes(IPv6(dst=COA))[24:40]
    assert dest_headers == split_ah(bytes(theirs.encrypt(rh2_packet(HOA, COA, 0), seq_num=42)), ref)[0]
    theirs.decrypt(IPv6(dest_headers + ah + BU))
    icv_length = {"hmac-sha1-96": 12, "hmac-sha256-128": 16}[auth]
    zeroed_ah = ah[:12] + bytes(icv_length) + ah[12 + icv_length:]
    assert ipsec.ah_icv_view(headers) + zeroed_ah + BU == scapy_view(dest_headers + ah + BU)
    # scapy's sender also reorders routing headers (RFC 4302 §3.3.3.1.2.2), so here the two agree on the wire too
    assert ah == scapy_sent_ah
    assert ipsec.ah_decapsulate(ref, headers, scapy_sent_ah + BU).payload == BU


@PROPERTY
@given(auth=st.sampled_from(list(SCAPY_AUTH)), kind=st.sampled_from(["hao", "rh2"]),
       payload=st.binary(max_size=80), seq=st.integers(1, 2**32 - 1),
       hosts=st.lists(st.integers(1, 2**64 - 1), min_size=2, max_size=2, unique=True))
def test_property_mobility_headers_against_scapy(auth, kind, payload, seq, hosts):
    ref, theirs = ah_pair(auth)
    care_of, home = (str(ipaddress.IPv6Address(0x20010DB8 << 96 | i << 64 | h)) for i, h in enumerate(hosts))
    if kind == "hao":
        wire, dest = hao_packet(care_of, home, payload), hao_packet(home, care_of, payload)
        headers, _, _ = split_ah(bytes(theirs.encrypt(wire, seq_num=seq)), ref)
        expected = split_ah(bytes(theirs.encrypt(dest, seq_num=seq)), ref)[1]
    else:
        wire, dest = rh2_packet(care_of, home, 1, payload), rh2_packet(home, care_of, 0, payload)
        headers, expected, _ = split_ah(bytes(theirs.encrypt(wire, seq_num=seq)), ref)
        dest_headers = split_ah(bytes(theirs.encrypt(dest, seq_num=seq)), ref)[0]
        theirs.decrypt(IPv6(dest_headers + ipsec.ah_encapsulate(ref, seq, headers, 135, payload) + payload))
    ah = ipsec.ah_encapsulate(ref, seq, headers, 135, payload)
    assert ah == expected
    assert ipsec.ah_decapsulate(ref, headers, ah + payload).payload == payload


def test_scapy_keys_are_the_rfc_hmacs():
    """Guard for the comparison itself: scapy's SHA2-256-128 is HMAC-SHA-256 truncated to 16 octets (RFC 4868)."""
    ref, theirs = esp_pair("hmac-sha256-128", "null", 0)
    wire = bytes(theirs.encrypt(IPv6(src=COA, dst=MAP, nh=59) / Raw(b""), seq_num=1))
    esp = wire[40:]
    assert esp[-16:] == hmac.new(ref.auth_key, esp[:-16], hashlib.sha256).digest()[:16]
