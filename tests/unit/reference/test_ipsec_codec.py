"""reference_impl.ipsec on its own: ESP (RFC 4303) and AH (RFC 4302) transport mode, SA validation (base document
§12.1), anti-replay (RFC 4303 §3.4.3) and the AH ICV view of Mobile IPv6 headers (RFC 6275 §9.3.1, §9.3.2).

Expected values are computed here independently: packets are built with struct, ICVs with :mod:`hmac`, AES-CBC
with ``cryptography``'s own CBC mode (the code under test chains CBC itself).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import pickle
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st
from refimpl_testutil import FUZZ, PROPERTY

from reference_impl import ipsec
from reference_impl.ipsec import IpsecError, ReplayWindow, SaConfigError, SecurityAssociation, SequenceCounter

BASE_12_1 = "When ESP is used, a non-null authentication algorithm MUST be used."
KEY_LENGTHS = {"hmac-sha1-96": 20, "hmac-sha256-128": 32}
ICV_LENGTHS = {"hmac-sha1-96": 12, "hmac-sha256-128": 16}
DIGESTS = {"hmac-sha1-96": hashlib.sha1, "hmac-sha256-128": hashlib.sha256}
ESP_COMBOS = [(auth, enc, klen) for auth in KEY_LENGTHS for enc, klen in
              [("null", 0), ("aes-cbc", 16), ("aes-cbc", 24), ("aes-cbc", 32)]]

COA = bytes.fromhex("20010db8000000010000000000000c0a")
HOA = bytes.fromhex("20010db8000000020000000000000b0a")
MAP = bytes.fromhex("20010db80000000300000000000000ff")
MH = bytes.fromhex("3b0205000000abcd0001000000020000") + bytes(24)  # 40-octet stand-in for a BU


def esp_sa(auth: str = "hmac-sha256-128", enc: str = "aes-cbc", enc_len: int = 16, spi: int = 0x1000,
           seed: int = 1) -> SecurityAssociation:
    return SecurityAssociation(spi, "esp", auth, bytes([seed]) * KEY_LENGTHS[auth], enc, bytes([seed + 1]) * enc_len)


def ah_sa(auth: str = "hmac-sha256-128", spi: int = 0x2000, seed: int = 3) -> SecurityAssociation:
    return SecurityAssociation(spi, "ah", auth, bytes([seed]) * KEY_LENGTHS[auth])


# --- hand-built IPv6 headers (RFC 8200 §3/§4, RFC 6275 §6.3/§6.4) ---------------------------------------------

def ipv6(src: bytes, dst: bytes, nh: int, plen: int, tc: int = 0, fl: int = 0, hlim: int = 64) -> bytes:
    return struct.pack("!IHBB", (6 << 28) | (tc << 20) | fl, plen, nh, hlim) + src + dst


def options_header(nh: int, options: bytes) -> bytes:
    """Hop-by-Hop / Destination Options header, PadN-padded to a multiple of 8 octets."""
    pad = -(2 + len(options)) % 8
    padding = b"" if pad == 0 else b"\x00" if pad == 1 else bytes([1, pad - 2]) + bytes(pad - 2)
    body = options + padding
    return bytes([nh, (2 + len(body)) // 8 - 1]) + body


def hao_dstopts(nh: int, address: bytes) -> bytes:
    """Destination Options with PadN(4) + Home Address option: the option type at offset 6 (8n+6, RFC 6275 §6.3)."""
    return bytes([nh, 2, 1, 2, 0, 0, 201, 16]) + address


def rh2(nh: int, address: bytes, segments_left: int = 1) -> bytes:
    return bytes([nh, 2, 2, segments_left, 0, 0, 0, 0]) + address


def headers_for(sa: SecurityAssociation, ext: bytes = b"", first_nh: int = 51, payload: bytes = MH,
                src: bytes = COA, dst: bytes = MAP, **ip) -> bytes:
    """IPv6 header (+ ``ext``, whose last Next Header is 51) as sent before an AH of ``sa`` and ``payload``."""
    return ipv6(src, dst, first_nh if ext else 51, len(ext) + ipsec.ah_length(sa) + len(payload), **ip) + ext


def expected_ah(sa: SecurityAssociation, seq: int, view: bytes, nh: int, payload: bytes,
                padding: bytes | None = None) -> bytes:
    """RFC 4302 §2 / §3.3.3 computed by hand over a hand-built ICV view."""
    icv_length = ICV_LENGTHS[sa.auth]
    total = -(-(12 + icv_length) // 8) * 8
    head = struct.pack("!BBHII", nh, total // 4 - 2, 0, sa.spi, seq)
    pad = bytes(total - 12 - icv_length) if padding is None else padding
    icv = hmac.new(sa.auth_key, view + head + bytes(icv_length) + pad + payload, DIGESTS[sa.auth]).digest()
    return head + icv[:icv_length] + pad


def esp_by_hand(sa: SecurityAssociation, seq: int, plaintext: bytes, iv: bytes = b"") -> bytes:
    """SPI | seq | IV | E(plaintext) | ICV with cryptography's own CBC mode and hmac (RFC 4303 §2, RFC 3602)."""
    if sa.encryption == "aes-cbc":
        enc = Cipher(algorithms.AES(sa.enc_key), modes.CBC(iv)).encryptor()
        body = enc.update(plaintext) + enc.finalize()
    else:
        body = plaintext
    head = struct.pack("!II", sa.spi, seq) + iv + body
    return head + hmac.new(sa.auth_key, head, DIGESTS[sa.auth]).digest()[:ICV_LENGTHS[sa.auth]]


def flip(data: bytes, i: int, mask: int = 0x01) -> bytes:
    return data[:i] + bytes([data[i] ^ mask]) + data[i + 1:]


# --- SA configuration (base document §12.1, RFC 4303 §2.1, RFC 2404, RFC 4868, RFC 3602) ----------------------

@pytest.mark.parametrize("auth,enc,enc_len", ESP_COMBOS)
def test_valid_esp_sas_construct_and_hide_keys(auth, enc, enc_len):
    sa = esp_sa(auth, enc, enc_len)
    assert sa.protocol == "esp" and sa.replay_window == 64
    assert sa.auth_key.hex() not in repr(sa) and "auth_key" not in repr(sa) and "enc_key" not in repr(sa)


@pytest.mark.parametrize("auth", [None, "null", "none", "", "NULL", "None"])
@pytest.mark.parametrize("protocol", ["esp", "ah"])
def test_null_authentication_refused_quoting_section_12_1(protocol, auth):
    with pytest.raises(SaConfigError) as exc:
        SecurityAssociation(0x1000, protocol, auth, b"", "null" if protocol == "ah" else "aes-cbc",
                            b"" if protocol == "ah" else bytes(16))
    assert BASE_12_1 in str(exc.value) and "§12.1" in str(exc.value)
    if protocol == "ah":
        assert "AH" in str(exc.value)


@pytest.mark.parametrize("auth,length", [("hmac-sha1-96", n) for n in (0, 16, 19, 21, 32)] +
                         [("hmac-sha256-128", n) for n in (0, 20, 31, 33, 64)])
@pytest.mark.parametrize("protocol", ["esp", "ah"])
def test_auth_key_length_refused(protocol, auth, length):
    with pytest.raises(SaConfigError, match="auth_key"):
        SecurityAssociation(0x1000, protocol, auth, bytes(length))


@pytest.mark.parametrize("enc,length", [("aes-cbc", n) for n in (0, 8, 15, 17, 20, 33)] + [("null", 16), ("null", 1)])
def test_enc_key_length_refused(enc, length):
    with pytest.raises(SaConfigError, match="enc_key"):
        SecurityAssociation(0x1000, "esp", "hmac-sha1-96", bytes(20), enc, bytes(length))


def test_key_must_be_bytes():
    with pytest.raises(SaConfigError):
        SecurityAssociation(0x1000, "esp", "hmac-sha1-96", "k" * 20)
    with pytest.raises(SaConfigError):
        SecurityAssociation(0x1000, "esp", "hmac-sha1-96", bytes(20), "aes-cbc", bytearray(16))


@pytest.mark.parametrize("spi", [0, 1, 255, -1, 2**32, True, "0x1000", 256.0])
def test_reserved_or_invalid_spi_refused(spi):
    with pytest.raises(SaConfigError, match="spi"):
        SecurityAssociation(spi, "esp", "hmac-sha1-96", bytes(20))


@pytest.mark.parametrize("spi", [256, 0x1000, 2**32 - 1])
def test_spi_range_accepted(spi):
    assert SecurityAssociation(spi, "ah", "hmac-sha1-96", bytes(20)).spi == spi


@pytest.mark.parametrize("field,value", [("protocol", "tunnel"), ("protocol", "ESP"), ("auth", "hmac-md5-96"),
                                         ("auth", 5), ("encryption", "3des-cbc"), ("encryption", None)])
def test_unknown_names_refused(field, value):
    kwargs = dict(spi=0x1000, protocol="esp", auth="hmac-sha1-96", auth_key=bytes(20))
    kwargs[field] = value
    with pytest.raises(SaConfigError, match=field):
        SecurityAssociation(**kwargs)


@pytest.mark.parametrize("enc,key", [("aes-cbc", bytes(16)), ("null", bytes(16))], ids=["aes-cbc", "null-with-key"])
def test_ah_with_encryption_refused(enc, key):
    with pytest.raises(SaConfigError, match="AH"):
        SecurityAssociation(0x1000, "ah", "hmac-sha1-96", bytes(20), enc, key)


@pytest.mark.parametrize("size", [0, 32, 64, 96, 1024])
def test_replay_window_sizes_accepted(size):
    assert SecurityAssociation(0x1000, "ah", "hmac-sha1-96", bytes(20), replay_window=size).replay_window == size


@pytest.mark.parametrize("size", [16, 31, 33, 1056, -32, True, 64.0, None])
def test_replay_window_sizes_refused(size):
    with pytest.raises(SaConfigError, match="replay_window"):
        SecurityAssociation(0x1000, "ah", "hmac-sha1-96", bytes(20), replay_window=size)


def test_from_config_full():
    sa = SecurityAssociation.from_config({
        "spi": "0x1000", "protocol": "ESP", "auth": "HMAC-SHA256-128", "auth_key": "0x" + "ab" * 32,
        "encryption": "aes-cbc", "enc_key": ":".join(["cd"] * 16), "replay_window": 128})
    assert sa == SecurityAssociation(0x1000, "esp", "hmac-sha256-128", b"\xab" * 32, "aes-cbc", b"\xcd" * 16, 128)


def test_from_config_defaults_and_int_spi():
    sa = SecurityAssociation.from_config({"spi": 4096, "protocol": "ah", "auth": "hmac-sha1-96",
                                          "auth_key": "01" * 20})
    assert (sa.spi, sa.encryption, sa.enc_key, sa.replay_window) == (4096, "null", b"", 64)


def test_from_config_unknown_keys_named():
    raw = {"spi": 4096, "protocol": "ah", "auth": "hmac-sha1-96", "auth_key": "01" * 20, "mode": "tunnel",
           "lifetime": 5}
    with pytest.raises(SaConfigError, match="lifetime, mode"):
        SecurityAssociation.from_config(raw)


@pytest.mark.parametrize("raw,match", [
    ({"protocol": "ah", "auth": "hmac-sha1-96", "auth_key": "01" * 20}, "missing key.*spi"),
    ({"spi": "lots", "protocol": "ah", "auth": "hmac-sha1-96", "auth_key": "01" * 20}, "spi"),
    ({"spi": 4096, "protocol": "ah", "auth": "hmac-sha1-96", "auth_key": "zz" * 20}, "auth_key: not a hex"),
    ({"spi": 4096, "protocol": "ah", "auth": "hmac-sha1-96", "auth_key": b"\x01" * 20}, "auth_key: must be a hex"),
    ({"spi": 4096, "protocol": "esp", "auth": "hmac-sha1-96", "auth_key": "01" * 20, "encryption": "aes-cbc",
      "enc_key": "01" * 15}, "enc_key"),
    ({"spi": 4096, "protocol": 50, "auth": "hmac-sha1-96", "auth_key": "01" * 20}, "protocol"),
    ({"spi": 255, "protocol": "ah", "auth": "hmac-sha1-96", "auth_key": "01" * 20}, "spi"),
    ({"spi": 4096, "protocol": "esp", "auth": "none", "auth_key": ""}, BASE_12_1),
    ({"spi": 4096, "protocol": "esp", "auth": None, "auth_key": ""}, BASE_12_1),
    (["spi", 4096], "mapping"),
])
def test_from_config_refusals(raw, match):
    with pytest.raises(SaConfigError, match=match):
        SecurityAssociation.from_config(raw)


def test_sa_fields_are_the_configuration_only():
    sa = esp_sa()
    assert [f.name for f in dataclasses.fields(sa)] == ["spi", "protocol", "auth", "auth_key", "encryption",
                                                        "enc_key", "replay_window"]
    assert dataclasses.asdict(sa)["auth_key"] == sa.auth_key
    moved = dataclasses.replace(sa, spi=0x1001)
    assert ipsec.esp_spi(ipsec.esp_encapsulate(moved, 1, 135, MH)) == (0x1001, 1)
    with pytest.raises(SaConfigError):
        dataclasses.replace(sa, spi=7)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sa.spi = 0x1001


def test_sa_pickles_and_compares_by_value():
    sa = esp_sa()
    again = pickle.loads(pickle.dumps(sa))
    assert again == sa and hash(again) == hash(sa)
    data = ipsec.esp_encapsulate(sa, 7, 135, MH)
    assert ipsec.esp_decapsulate(again, data).payload == MH
    assert esp_sa(seed=9) != sa


# --- ESP (RFC 4303) ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("auth,enc,enc_len", ESP_COMBOS)
@pytest.mark.parametrize("length", [0, 1, 2, 3, 13, 14, 15, 16, 40, 255, 1000])
def test_esp_round_trip(auth, enc, enc_len, length):
    sa = esp_sa(auth, enc, enc_len)
    payload = bytes(range(length % 256)) * (length // 256) + bytes(range(length % 256))
    data = ipsec.esp_encapsulate(sa, 42, 135, payload)
    assert ipsec.esp_spi(data) == (sa.spi, 42)
    iv_length, align = (16, 16) if enc == "aes-cbc" else (0, 4)
    ciphertext = len(data) - 8 - iv_length - ICV_LENGTHS[auth]
    assert ciphertext % align == 0 and len(payload) + 2 <= ciphertext < len(payload) + 2 + align
    assert ipsec.esp_decapsulate(sa, data) == ipsec.Decapsulated(42, 135, payload)


def test_esp_null_encryption_matches_hand_built():
    """RFC 4303 §2.4: padding 1, 2, ... so that Pad Length and Next Header end on a 4-octet boundary."""
    sa = esp_sa("hmac-sha1-96", "null", 0)
    payload = b"\x01\x02\x03\x04\x05"
    assert ipsec.esp_encapsulate(sa, 9, 59, payload) == esp_by_hand(sa, 9, payload + b"\x01\x01\x3b")
    assert ipsec.esp_encapsulate(sa, 9, 135, MH) == esp_by_hand(sa, 9, MH + b"\x01\x02\x02\x87")


@pytest.mark.parametrize("auth", list(KEY_LENGTHS))
def test_esp_aes_cbc_matches_hand_built(auth):
    """RFC 3602 §2.4: the ESP padding fills the last AES block; ICV over SPI..ciphertext (RFC 4303 §3.3.4)."""
    sa = esp_sa(auth, "aes-cbc", 32)
    iv = bytes(range(16))
    plaintext = MH + bytes(range(1, 7)) + b"\x06\x87"
    assert len(plaintext) == 48
    assert ipsec.esp_encapsulate(sa, 0xFFFFFFFF, 135, MH, iv=iv) == esp_by_hand(sa, 0xFFFFFFFF, plaintext, iv)


def test_esp_random_iv_per_packet():
    sa = esp_sa()
    a, b = ipsec.esp_encapsulate(sa, 1, 135, MH), ipsec.esp_encapsulate(sa, 1, 135, MH)
    assert a[8:24] != b[8:24] and a != b


@pytest.mark.parametrize("auth,enc,enc_len", ESP_COMBOS)
def test_esp_any_single_byte_tampered_is_refused(auth, enc, enc_len):
    sa = esp_sa(auth, enc, enc_len)
    data = ipsec.esp_encapsulate(sa, 5, 135, MH)
    for i in range(len(data)):
        for mask in (0x01, 0x80):
            with pytest.raises(IpsecError):
                ipsec.esp_decapsulate(sa, flip(data, i, mask))


def test_esp_tampered_ciphertext_fails_icv_before_decryption():
    """RFC 4303 §3.4.4.1: the ICV is checked first, so tampering never reaches the padding checks."""
    sa = esp_sa()
    data = ipsec.esp_encapsulate(sa, 5, 135, MH)
    with pytest.raises(IpsecError, match=r"^ICV mismatch \(RFC 4303 §3.4.4.1\)$"):
        ipsec.esp_decapsulate(sa, flip(data, len(data) - 20))


def test_esp_wrong_key_is_icv_mismatch():
    data = ipsec.esp_encapsulate(esp_sa(seed=1), 5, 135, MH)
    with pytest.raises(IpsecError, match="ICV mismatch"):
        ipsec.esp_decapsulate(esp_sa(seed=5), data)


def test_esp_wrong_spi():
    data = ipsec.esp_encapsulate(esp_sa(spi=0x1000), 5, 135, MH)
    with pytest.raises(IpsecError, match="SPI 0x1000 does not match.*0x1001"):
        ipsec.esp_decapsulate(esp_sa(spi=0x1001), data)


@pytest.mark.parametrize("cut", [1, 4, 16, 28])
def test_esp_truncated(cut):
    sa = esp_sa()
    data = ipsec.esp_encapsulate(sa, 5, 135, MH)
    with pytest.raises(IpsecError):
        ipsec.esp_decapsulate(sa, data[:-cut])
    for short in (b"", data[:7], data[:8], data[:40]):
        with pytest.raises(IpsecError):
            ipsec.esp_decapsulate(sa, short)


@pytest.mark.parametrize("plaintext,match", [
    (MH[:39] + b"\x01\x02\x04\x03\x87", "padding"),  # third pad octet should be 3 (RFC 4303 §2.4)
    (MH + b"\x00\x00\x02\x87", "padding"),          # zero padding instead of 1, 2
    (b"\x01\x02\xfe\x87", "Pad Length"),            # Pad Length beyond the plaintext
    (bytes(range(1, 7)) + b"\x0f\x87", "Pad Length"),  # one more than the octets before it (aes-cbc: 14)
], ids=["pad-1-2-4", "pad-zero", "padlen-254", "padlen-one-too-many"])
@pytest.mark.parametrize("enc,enc_len", [("null", 0), ("aes-cbc", 16)])
def test_esp_bad_padding_refused_after_valid_icv(plaintext, match, enc, enc_len):
    sa = esp_sa("hmac-sha1-96", enc, enc_len)
    iv = bytes(16) if enc == "aes-cbc" else b""
    if enc == "aes-cbc":
        plaintext = bytes(-len(plaintext) % 16) + plaintext
    with pytest.raises(IpsecError, match=match):
        ipsec.esp_decapsulate(sa, esp_by_hand(sa, 1, plaintext, iv))


def test_esp_good_padding_by_hand_accepted():
    sa = esp_sa("hmac-sha1-96", "null", 0)
    # more padding than the minimum is allowed (RFC 4303 §2.4, up to 255 octets)
    data = esp_by_hand(sa, 3, MH + bytes(range(1, 7)) + b"\x06\x87")
    assert ipsec.esp_decapsulate(sa, data) == ipsec.Decapsulated(3, 135, MH)


@pytest.mark.parametrize("enc,enc_len,ciphertext", [("null", 0, 5), ("null", 0, 2), ("aes-cbc", 16, 20),
                                                    ("aes-cbc", 16, 8)])
def test_esp_unaligned_ciphertext_refused(enc, enc_len, ciphertext):
    sa = esp_sa("hmac-sha256-128", enc, enc_len)
    iv = bytes(16) if enc == "aes-cbc" else b""
    head = struct.pack("!II", sa.spi, 1) + iv + bytes(ciphertext)
    data = head + hmac.new(sa.auth_key, head, hashlib.sha256).digest()[:16]
    with pytest.raises(IpsecError):
        ipsec.esp_decapsulate(sa, data)


def test_esp_argument_checks():
    sa = esp_sa()
    for kwargs in ({"seq": -1}, {"seq": 2**32}, {"next_header": 256}, {"iv": bytes(8)}):
        args = {"seq": 1, "next_header": 135, **kwargs}
        with pytest.raises(IpsecError):
            ipsec.esp_encapsulate(sa, args["seq"], args["next_header"], MH, iv=kwargs.get("iv"))
    with pytest.raises(IpsecError):
        ipsec.esp_encapsulate(esp_sa(enc="null", enc_len=0), 1, 135, MH, iv=bytes(16))
    with pytest.raises(IpsecError, match="not ESP"):
        ipsec.esp_encapsulate(ah_sa(), 1, 135, MH)
    with pytest.raises(IpsecError, match="not ESP"):
        ipsec.esp_decapsulate(ah_sa(), ipsec.esp_encapsulate(sa, 1, 135, MH))
    with pytest.raises(IpsecError, match="truncated"):
        ipsec.esp_spi(b"\x00" * 7)


def test_esp_accepts_bytes_like_input():
    sa = esp_sa()
    data = ipsec.esp_encapsulate(sa, 1, 135, MH)
    assert ipsec.esp_decapsulate(sa, memoryview(bytearray(data))).payload == MH


# --- AH (RFC 4302) ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("auth,length,field", [("hmac-sha1-96", 24, 4), ("hmac-sha256-128", 32, 6)])
def test_ah_length_is_8_octet_aligned_for_ipv6(auth, length, field):
    """RFC 4302 §2.2: Payload Length = 4-octet units minus 2; IPv6 needs a multiple of 8 (sha256: 4 pad octets)."""
    sa = ah_sa(auth)
    assert ipsec.ah_length(sa) == length
    headers = headers_for(sa)
    ah = ipsec.ah_encapsulate(sa, 1, headers, 135, MH)
    assert len(ah) == length and ah[1] == field and ah[2:4] == b"\x00\x00" and ah[0] == 135
    assert ah[12 + ICV_LENGTHS[auth]:] == bytes(length - 12 - ICV_LENGTHS[auth])
    assert ipsec.ah_spi(ah) == (sa.spi, 1)


@pytest.mark.parametrize("auth", list(KEY_LENGTHS))
def test_ah_matches_hand_computed_icv(auth):
    """Mutable IPv6 fields (traffic class, flow label, hop limit) enter the ICV as zero (RFC 4302 §3.3.3.1.2.1)."""
    sa = ah_sa(auth)
    headers = headers_for(sa, tc=0xB8, fl=0xABCDE, hlim=255)
    view = headers_for(sa, hlim=0)
    assert ipsec.ah_encapsulate(sa, 77, headers, 135, MH) == expected_ah(sa, 77, view, 135, MH)


CHAINS = {
    "none": (51, b""),
    "hao": (60, hao_dstopts(51, HOA)),
    "rh2": (43, rh2(51, HOA)),
    "hbh+rh2+hao": (0, options_header(43, bytes([5, 2, 0, 0]) + bytes([0x3E, 4]) + b"abcd")
                    + rh2(60, HOA) + hao_dstopts(51, COA)),
}


@pytest.mark.parametrize("chain", list(CHAINS))
@pytest.mark.parametrize("auth", list(KEY_LENGTHS))
@pytest.mark.parametrize("nh,payload", [(135, MH), (59, b""), (59, b"\x00" * 3)], ids=["mh", "nonext", "nonext3"])
def test_ah_round_trip(chain, auth, nh, payload):
    sa = ah_sa(auth)
    first, ext = CHAINS[chain]
    headers = headers_for(sa, ext, first, payload, tc=1, fl=2, hlim=3)
    ah = ipsec.ah_encapsulate(sa, 9, headers, nh, payload)
    assert ipsec.ah_decapsulate(sa, headers, ah + payload) == ipsec.Decapsulated(9, nh, payload)


@pytest.mark.parametrize("chain", list(CHAINS))
def test_ah_mutable_fields_may_change_en_route(chain):
    sa = ah_sa()
    first, ext = CHAINS[chain]
    headers = headers_for(sa, ext, first, tc=1, fl=2, hlim=64)
    ah = ipsec.ah_encapsulate(sa, 9, headers, 135, MH)
    received = ipv6(COA, MAP, first if ext else 51, len(ext) + len(ah) + len(MH), tc=0x2F, fl=0xFFFFF, hlim=1) + ext
    if chain == "hbh+rh2+hao":  # change-en-route option 0x3E: its data may change, the rest may not
        at = received.index(b"abcd")
        received = received[:at] + b"WXYZ" + received[at + 4:]
    assert ipsec.ah_decapsulate(sa, received, ah + MH).payload == MH


@pytest.mark.parametrize("chain", list(CHAINS))
@pytest.mark.parametrize("auth", list(KEY_LENGTHS))
def test_ah_any_single_immutable_byte_tampered_is_refused(chain, auth):
    sa = ah_sa(auth)
    first, ext = CHAINS[chain]
    headers = headers_for(sa, ext, first)
    data = ipsec.ah_encapsulate(sa, 9, headers, 135, MH) + MH
    for i in range(len(data)):
        with pytest.raises(IpsecError):
            ipsec.ah_decapsulate(sa, headers, flip(data, i))
    mutable = {1, 2, 3, 7}
    if chain == "hbh+rh2+hao":
        at = headers.index(b"abcd")
        mutable |= set(range(at, at + 4))
    for i in set(range(len(headers))) - mutable:
        for mask in (0x01, 0x80):
            if i == 0 and mask == 0x01:  # low nibble of octet 0 is traffic class
                continue
            with pytest.raises(IpsecError):
                ipsec.ah_decapsulate(sa, flip(headers, i, mask), data)


def test_ah_icv_padding_is_covered_as_sent():
    """RFC 4302 §3.3.3.2.1: padding octets are included in the ICV calculation as transmitted (not zeroed)."""
    sa = ah_sa("hmac-sha256-128")
    headers = headers_for(sa)
    ah = expected_ah(sa, 4, headers_for(sa, hlim=0), 135, MH, padding=b"\xde\xad\xbe\xef")
    assert ipsec.ah_decapsulate(sa, headers, ah + MH) == ipsec.Decapsulated(4, 135, MH)


def test_ah_wrong_spi_length_and_truncation():
    sa = ah_sa("hmac-sha256-128", spi=0x2000)
    headers = headers_for(sa)
    data = ipsec.ah_encapsulate(sa, 1, headers, 135, MH) + MH
    other = ah_sa("hmac-sha256-128", spi=0x2001)
    with pytest.raises(IpsecError, match="SPI 0x2000 does not match"):
        ipsec.ah_decapsulate(other, headers, data)
    with pytest.raises(IpsecError, match="Payload Length 5"):
        ipsec.ah_decapsulate(sa, headers, data[:1] + b"\x05" + data[2:])
    sha1 = SecurityAssociation(0x2000, "ah", "hmac-sha1-96", bytes(20))
    with pytest.raises(IpsecError, match="Payload Length 6 means 32 octets"):
        ipsec.ah_decapsulate(sha1, headers, data)
    for cut in (data[:11], data[:12], data[:31], b""):
        with pytest.raises(IpsecError):
            ipsec.ah_decapsulate(sa, headers, cut)
    with pytest.raises(IpsecError, match="truncated"):
        ipsec.ah_spi(data[:11])


def test_ah_header_chain_and_payload_length_checked():
    sa = ah_sa()
    good = headers_for(sa)
    with pytest.raises(IpsecError, match="not 51"):
        ipsec.ah_encapsulate(sa, 1, good[:6] + b"\x87" + good[7:], 135, MH)
    with pytest.raises(IpsecError, match="payload length"):
        ipsec.ah_encapsulate(sa, 1, good, 135, MH + b"x")
    ah = ipsec.ah_encapsulate(sa, 1, good, 135, MH)
    with pytest.raises(IpsecError, match="payload length"):
        ipsec.ah_decapsulate(sa, good, ah + MH + b"\x00\x00")  # e.g. Ethernet padding left on
    with pytest.raises(IpsecError, match="not AH"):
        ipsec.ah_encapsulate(esp_sa(), 1, good, 135, MH)
    with pytest.raises(IpsecError, match="not AH"):
        ipsec.ah_decapsulate(esp_sa(), good, ah + MH)
    for seq, nh in ((-1, 135), (2**32, 135), (1, 256)):
        with pytest.raises(IpsecError):
            ipsec.ah_encapsulate(sa, seq, good, nh, MH)


# --- ah_icv_view (RFC 4302 §3.3.3.1.2, RFC 6275 §9.3.1 / §9.3.2) ------------------------------------------------

def test_view_zeroes_mutable_ipv6_fields():
    wire = ipv6(COA, MAP, 51, 100, tc=0xFF, fl=0xFFFFF, hlim=200)
    assert ipsec.ah_icv_view(wire) == ipv6(COA, MAP, 51, 100, hlim=0)
    assert ipsec.ah_icv_view(wire)[:4] == b"\x60\x00\x00\x00"


def test_view_home_address_option_swapped():
    """RFC 6275 §9.3.1: as if the HAO held the care-of address and the IPv6 source the home address."""
    wire = ipv6(COA, MAP, 60, 64, hlim=64) + hao_dstopts(51, HOA)
    assert ipsec.ah_icv_view(wire) == ipv6(HOA, MAP, 60, 64, hlim=0) + hao_dstopts(51, COA)


def test_view_type2_routing_header_as_at_destination():
    """RFC 6275 §9.3.2: as if the routing header held the care-of address, the destination the home address, and
    Segments Left were 0 (RFC 4302 §3.3.3.1.2.2: mutable but predictable)."""
    wire = ipv6(MAP, COA, 43, 64, hlim=64) + rh2(51, HOA, 1)
    assert ipsec.ah_icv_view(wire) == ipv6(MAP, HOA, 43, 64, hlim=0) + rh2(51, COA, 0)


def test_view_type2_routing_header_already_processed_is_unchanged():
    processed = ipv6(MAP, HOA, 43, 64, hlim=0) + rh2(51, COA, 0)
    assert ipsec.ah_icv_view(processed) == processed


def test_view_hao_and_rh2_together():
    wire = ipv6(COA, HOA, 43, 64) + rh2(60, MAP) + hao_dstopts(51, MAP)
    assert ipsec.ah_icv_view(wire) == ipv6(MAP, MAP, 43, 64, hlim=0) + rh2(60, HOA, 0) + hao_dstopts(51, COA)


def test_view_change_en_route_options_zeroed_others_kept():
    """RFC 4302 §3.3.3.1.2.2 / RFC 8200 §4.2: option data zeroed iff bit 0x20 of the type is set."""
    hbh = options_header(60, bytes([5, 2, 0x12, 0x34]) + bytes([0x3E, 3]) + b"xyz" + b"\x00")
    dst = options_header(51, bytes([0x1E, 2]) + b"kk" + bytes([0xFF, 3]) + b"ddd")
    wire = ipv6(COA, MAP, 0, 64) + hbh + dst
    want = (ipv6(COA, MAP, 0, 64, hlim=0)
            + options_header(60, bytes([5, 2, 0x12, 0x34]) + bytes([0x3E, 3]) + bytes(3) + b"\x00")
            + options_header(51, bytes([0x1E, 2]) + b"kk" + bytes([0xFF, 3]) + bytes(3)))
    assert ipsec.ah_icv_view(wire) == want


def test_view_padn_with_nonzero_content_kept():
    dst = bytes([51, 0, 1, 4, 9, 9, 9, 9])  # PadN (type 1: not change-en-route) is covered as sent
    assert ipsec.ah_icv_view(ipv6(COA, MAP, 60, 8) + dst)[40:] == dst


@pytest.mark.parametrize("headers,match", [
    (b"", "truncated"),
    (ipv6(COA, MAP, 51, 0)[:39], "truncated"),
    (b"\x40" + ipv6(COA, MAP, 51, 0)[1:], "version 4"),
    (ipv6(COA, MAP, 60, 0) + bytes([51]), "truncated"),
    (ipv6(COA, MAP, 60, 0) + bytes([51, 1]) + bytes(6), "runs past"),
    (ipv6(COA, MAP, 60, 0) + bytes([0, 0, 1, 0, 0, 0, 0, 0]) + bytes([51, 0, 1, 4, 0, 0, 0, 0]), "Hop-by-Hop"),
    (ipv6(COA, MAP, 60, 0) + bytes([51, 0, 1, 5, 0, 0, 0, 0]), "option 1 .*runs past"),
    (ipv6(COA, MAP, 60, 0) + bytes([51, 0, 1, 2, 0, 0, 0, 0x3E]), "option 62 .*truncated"),
    (ipv6(COA, MAP, 60, 0) + bytes([51, 1, 201, 8]) + bytes(8) + bytes([1, 2, 0, 0]),
     "Home Address option with length 8"),
    (ipv6(COA, MAP, 0, 0) + hao_dstopts(51, HOA), "Home Address option with length 16 in a Hop-by-Hop"),
    (ipv6(COA, MAP, 60, 0) + hao_dstopts(60, HOA) + hao_dstopts(51, HOA), "more than one Home Address"),
    (ipv6(COA, MAP, 60, 0) + bytes([51, 4, 0, 0, 201, 16]) + HOA + bytes([201, 16]) + HOA + bytes(4),
     "more than one Home Address"),
    (ipv6(MAP, COA, 43, 0) + rh2(51, HOA, 2), "type 2 routing header"),
    (ipv6(MAP, COA, 43, 0) + bytes([51, 4, 2, 1, 0, 0, 0, 0]) + HOA + HOA, "type 2 routing header"),
    (ipv6(MAP, COA, 43, 0) + rh2(43, HOA) + rh2(51, HOA), "more than one type 2"),
    (ipv6(MAP, COA, 43, 0) + bytes([51, 2, 0, 1, 0, 0, 0, 0]) + HOA, "routing header type 0"),
    (ipv6(MAP, COA, 44, 0) + bytes([51, 0, 0, 0, 0, 0, 0, 1]), "next header 44"),
    (ipv6(MAP, COA, 135, 0) + MH, "next header 135"),
    (ipv6(MAP, COA, 50, 0) + bytes(16), "next header 50"),
], ids=lambda v: v if isinstance(v, str) else "hdr")
def test_view_malformed_headers(headers, match):
    with pytest.raises(IpsecError, match=match):
        ipsec.ah_icv_view(headers)


def test_view_other_routing_type_with_segments_left_zero_is_kept():
    rh = bytes([51, 2, 3, 0, 0, 0, 0, 0]) + HOA
    assert ipsec.ah_icv_view(ipv6(MAP, COA, 43, 0) + rh)[40:] == rh


# --- anti-replay (RFC 4303 §3.4.3) and the outbound counter (§3.3.3) ---------------------------------------------

def accept_all(window: ReplayWindow, *seqs: int) -> None:
    for seq in seqs:
        assert window.check(seq) is None, seq
        window.accept(seq)


def test_replay_first_packets_and_duplicates():
    w = ReplayWindow()
    assert w.size == 64 and w.top == 0
    accept_all(w, 1, 2, 3)
    assert w.check(2) == "duplicate (replay)"
    with pytest.raises(IpsecError, match=r"duplicate \(replay\) \(RFC 4303 §3.4.3\)"):
        w.accept(2)


def test_replay_seq_zero_refused():
    w = ReplayWindow(32)
    assert w.check(0) == "sequence number 0"
    with pytest.raises(IpsecError):
        w.accept(0)


def test_replay_out_of_order_inside_window_accepted_once():
    w = ReplayWindow(64)
    accept_all(w, 100)
    assert w.check(37) is None  # 100 - 37 = 63 < 64: inside
    assert w.check(37) is None  # check alone changes nothing
    accept_all(w, 37, 99, 50)
    assert [w.check(s) for s in (37, 99, 50, 100)] == ["duplicate (replay)"] * 4
    assert w.check(98) is None and w.top == 100


def test_replay_left_of_window():
    w = ReplayWindow(64)
    accept_all(w, 100)
    assert w.check(36) == "left of the window"
    assert w.check(1) == "left of the window"
    with pytest.raises(IpsecError, match="left of the window"):
        w.accept(36)


def test_replay_window_advances():
    w = ReplayWindow(64)
    accept_all(w, 100, 90)
    accept_all(w, 130)  # slides by 30: 90 is now 40 behind, still marked
    assert w.check(90) == "duplicate (replay)" and w.check(100) == "duplicate (replay)"
    assert w.check(91) is None and w.check(66) == "left of the window" and w.check(67) is None
    accept_all(w, 154)  # 90 is now 64 behind: left of the window
    assert w.check(90) == "left of the window" and w.check(91) is None and w.top == 154


def test_replay_large_jump_clears_window():
    w = ReplayWindow(64)
    accept_all(w, *range(1, 65))
    accept_all(w, 2**32 - 1)
    assert w.check(64) == "left of the window"
    assert w.check(2**32 - 64) is None and w.check(2**32 - 65) == "left of the window"
    assert w.check(2**32 - 1) == "duplicate (replay)"


@pytest.mark.parametrize("size", [32, 1024])
def test_replay_window_edges(size):
    w = ReplayWindow(size)
    accept_all(w, 5000)
    assert w.check(5000 - size + 1) is None and w.check(5000 - size) == "left of the window"


def test_replay_size_zero_disables_checks():
    """RFC 4303 §3.4.3: with anti-replay disabled no inbound checks are made on the sequence number."""
    w = ReplayWindow(0)
    for seq in (0, 5, 5, 1, 2**32 - 1, 1):
        assert w.check(seq) is None
        w.accept(seq)


@pytest.mark.parametrize("size", [-1, 1, 16, 63, 2048])
def test_replay_bad_sizes(size):
    with pytest.raises(ValueError):
        ReplayWindow(size)


@PROPERTY
@given(size=st.sampled_from([32, 64, 128]), seqs=st.lists(st.integers(0, 400), max_size=200))
def test_replay_window_against_set_model(size, seqs):
    """Model: accept iff seq > 0, not seen, and seq > (highest seen) - size (RFC 4303 §3.4.3)."""
    w = ReplayWindow(size)
    seen: set[int] = set()
    for seq in seqs:
        top = max(seen, default=0)
        ok = seq > 0 and seq not in seen and seq > top - size
        assert (w.check(seq) is None) == ok, (seq, top)
        if ok:
            w.accept(seq)
            seen.add(seq)
        else:
            with pytest.raises(IpsecError):
                w.accept(seq)


def test_sequence_counter_counts_from_one():
    c = SequenceCounter()
    assert c.last == 0
    assert [c.next() for _ in range(3)] == [1, 2, 3] and c.last == 3


def test_sequence_counter_refuses_to_cycle():
    """RFC 4303 §3.3.3: the counter MUST NOT cycle; a new SA is needed after 2**32-1."""
    c = SequenceCounter(2**32 - 2)
    assert c.next() == 2**32 - 2 and c.next() == 2**32 - 1
    for _ in range(2):
        with pytest.raises(IpsecError, match="cycle"):
            c.next()
    assert c.last == 2**32 - 1
    with pytest.raises(ValueError):
        SequenceCounter(0)


# --- properties ---------------------------------------------------------------------------------------------------

spis = st.integers(256, 2**32 - 1)
u32 = st.integers(0, 2**32 - 1)


@st.composite
def esp_sas(draw) -> SecurityAssociation:
    auth, enc, enc_len = draw(st.sampled_from(ESP_COMBOS))
    return SecurityAssociation(draw(spis), "esp", auth, draw(st.binary(min_size=KEY_LENGTHS[auth],
                                                                          max_size=KEY_LENGTHS[auth])),
                               enc, draw(st.binary(min_size=enc_len, max_size=enc_len)))


@st.composite
def ah_sas(draw) -> SecurityAssociation:
    auth = draw(st.sampled_from(list(KEY_LENGTHS)))
    key = draw(st.binary(min_size=KEY_LENGTHS[auth], max_size=KEY_LENGTHS[auth]))
    return SecurityAssociation(draw(spis), "ah", auth, key)


@PROPERTY
@given(sa=esp_sas(), seq=u32, nh=st.integers(0, 255), payload=st.binary(max_size=300))
def test_property_esp_round_trip(sa, seq, nh, payload):
    data = ipsec.esp_encapsulate(sa, seq, nh, payload)
    assert ipsec.esp_decapsulate(sa, data) == ipsec.Decapsulated(seq, nh, payload)
    iv = data[8:24] if sa.encryption == "aes-cbc" else b""
    pad = -(len(payload) + 2) % (16 if iv else 4)
    assert data == esp_by_hand(sa, seq, payload + bytes(range(1, pad + 1)) + bytes([pad, nh]), iv)


addresses = st.binary(min_size=16, max_size=16)


@PROPERTY
@given(sa=ah_sas(), seq=u32, nh=st.integers(0, 255), payload=st.binary(max_size=300), chain=st.sampled_from(
    ["none", "hao", "rh2", "both"]), a=addresses, b=addresses, c=addresses, tc=st.integers(0, 255),
    fl=st.integers(0, 0xFFFFF), hlim=st.integers(0, 255))
def test_property_ah_round_trip_and_view(sa, seq, nh, payload, chain, a, b, c, tc, fl, hlim):
    """a = source on the wire, b = destination on the wire, c = the address in the HAO / RH2."""
    ext, view_ext, first = {
        "none": (b"", b"", 51),
        "hao": (hao_dstopts(51, c), hao_dstopts(51, a), 60),
        "rh2": (rh2(51, c), rh2(51, b, 0), 43),
        "both": (rh2(60, c) + hao_dstopts(51, c), rh2(60, b, 0) + hao_dstopts(51, a), 43),
    }[chain]
    src = c if chain in ("hao", "both") else a
    dst = c if chain in ("rh2", "both") else b
    headers = headers_for(sa, ext, first, payload, a, b, tc=tc, fl=fl, hlim=hlim)
    view = ipv6(src, dst, first, len(ext) + ipsec.ah_length(sa) + len(payload), hlim=0) + view_ext
    assert ipsec.ah_icv_view(headers) == view
    ah = ipsec.ah_encapsulate(sa, seq, headers, nh, payload)
    assert ah == expected_ah(sa, seq, view, nh, payload)
    assert ipsec.ah_decapsulate(sa, headers, ah + payload) == ipsec.Decapsulated(seq, nh, payload)


@FUZZ
@given(sa=esp_sas(), data=st.binary(max_size=200), keep_spi=st.booleans())
def test_fuzz_esp_decapsulate_raises_only_ipsec_error(sa, data, keep_spi):
    if keep_spi:
        data = struct.pack("!I", sa.spi) + data
    with pytest.raises(IpsecError):
        ipsec.esp_decapsulate(sa, data)


@FUZZ
@given(sa=esp_sas(), plaintext=st.binary(min_size=1, max_size=80), seq=u32)
def test_fuzz_esp_any_plaintext_with_valid_icv(sa, plaintext, seq):
    """Past the ICV, any decrypted trailer is either well-formed (RFC 4303 §2.4-§2.6) or an IpsecError."""
    align = 16 if sa.encryption == "aes-cbc" else 4
    plaintext = plaintext + bytes(-len(plaintext) % align)
    iv = os.urandom(16) if align == 16 else b""
    data = esp_by_hand(sa, seq, plaintext, iv)
    pad = plaintext[-2]
    well_formed = pad <= len(plaintext) - 2 and plaintext[-2 - pad:-2] == bytes(range(1, pad + 1))
    if well_formed:
        assert ipsec.esp_decapsulate(sa, data) == ipsec.Decapsulated(seq, plaintext[-1], plaintext[:-2 - pad])
    else:
        with pytest.raises(IpsecError):
            ipsec.esp_decapsulate(sa, data)


@FUZZ
@given(sa=ah_sas(), headers=st.binary(max_size=120), data=st.binary(max_size=80), ipv6_prefix=st.booleans(),
       keep_spi=st.booleans())
def test_fuzz_ah_decapsulate_raises_only_ipsec_error(sa, headers, data, ipv6_prefix, keep_spi):
    if ipv6_prefix:
        headers = ipv6(COA, MAP, headers[0] if headers else 51, len(headers) + len(data)) + headers[1:]
    if keep_spi:
        data = data[:4].ljust(4, b"\x00") + struct.pack("!I", sa.spi) + data[4:]
    with pytest.raises(IpsecError):
        ipsec.ah_decapsulate(sa, headers, data)


@FUZZ
@given(first=st.sampled_from([0, 43, 60, 51, 44]), ext=st.binary(max_size=120))
def test_fuzz_icv_view_is_same_length_or_ipsec_error(first, ext):
    headers = ipv6(COA, MAP, first, len(ext)) + ext
    try:
        view = ipsec.ah_icv_view(headers)
    except IpsecError:
        return
    assert len(view) == len(headers) and view[40:] != b"" or len(headers) == 40


@FUZZ
@given(sa=st.one_of(esp_sas(), ah_sas()), data=st.data())
def test_fuzz_mutated_packets_refused(sa, data):
    """Any mutation of a valid packet (flip, truncate, extend) after the IPv6 header is refused."""
    if sa.protocol == "esp":
        packet = ipsec.esp_encapsulate(sa, 1, 135, MH)
    else:
        headers = headers_for(sa)
        packet = ipsec.ah_encapsulate(sa, 1, headers, 135, MH) + MH
    kind = data.draw(st.sampled_from(["flip", "truncate", "extend"]))
    if kind == "flip":
        i = data.draw(st.integers(0, len(packet) - 1))
        mutated = flip(packet, i, data.draw(st.integers(1, 255)))
    elif kind == "truncate":
        mutated = packet[:data.draw(st.integers(0, len(packet) - 1))]
    else:
        mutated = packet + data.draw(st.binary(min_size=1, max_size=20))
    with pytest.raises(IpsecError):
        if sa.protocol == "esp":
            ipsec.esp_decapsulate(sa, mutated)
        else:
            ipsec.ah_decapsulate(sa, headers, mutated)
