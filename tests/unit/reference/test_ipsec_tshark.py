"""reference_impl.ipsec read by tshark 4.0 (a third, independent implementation): ESP is decrypted and its ICV
checked by tshark with the same SAs given as ``esp_sa`` UAT records; AH headers (SPI, sequence number, length, ICV
field with its IPv6 padding) and the Mobility Header behind them are decoded as the reference wrote them.

tshark is a required tool of this suite: no skip.
"""

from __future__ import annotations

import struct

from refimpl_testutil import TSHARK, field, ones_complement_checksum, pseudo_header, tshark_fields, write_pcap

from reference_impl import ipsec

COA = bytes.fromhex("20010db8000000010000000000000c0a")
HOA = bytes.fromhex("20010db8000000020000000000000b0a")
MAP = bytes.fromhex("20010db80000000300000000000000ff")
ETHERNET = bytes.fromhex("020000000002" "020000000001" "86dd")

TSHARK_AUTH = {"hmac-sha1-96": "HMAC-SHA-1-96 [RFC2404]", "hmac-sha256-128": "HMAC-SHA-256-128 [RFC4868]"}
TSHARK_ENC = {"null": "NULL", "aes-cbc": "AES-CBC [RFC3602]"}
KEY_LENGTHS = {"hmac-sha1-96": 20, "hmac-sha256-128": 32}
ICV_LENGTHS = {"hmac-sha1-96": 12, "hmac-sha256-128": 16}


def binding_update(seq: int, src: bytes, dst: bytes) -> bytes:
    """16-octet BU (RFC 6275 §6.1.7: A and L flags, lifetime 100 × 4 s, PadN(2)) with its checksum (§6.1.1)."""
    mh = struct.pack("!BBBBHHHH", 59, 1, 5, 0, 0, seq, 0xA000, 100) + bytes([1, 2, 0, 0])
    checksum = ones_complement_checksum(pseudo_header(src, dst, len(mh), 135) + mh)
    return mh[:4] + struct.pack("!H", checksum) + mh[6:]


def ipv6(src: bytes, dst: bytes, nh: int, plen: int) -> bytes:
    return struct.pack("!IHBB", 6 << 28, plen, nh, 64) + src + dst


def esp_sas() -> list[ipsec.SecurityAssociation]:
    sas = []
    for i, (auth, enc, enc_len) in enumerate([(a, e, k) for a in TSHARK_AUTH
                                              for e, k in [("null", 0), ("aes-cbc", 16), ("aes-cbc", 32)]]):
        sas.append(ipsec.SecurityAssociation(0x1000 + i, "esp", auth, bytes(range(i, i + KEY_LENGTHS[auth])), enc,
                                             bytes(range(50 + i, 50 + i + enc_len))))
    return sas


def uat_options(sas: list[ipsec.SecurityAssociation]) -> list[str]:
    options = ["-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE"]
    for sa in sas:
        enc_key = f"0x{sa.enc_key.hex()}" if sa.enc_key else ""
        options += ["-o", f'uat:esp_sa:"IPv6","*","*","{sa.spi:#010x}","{TSHARK_ENC[sa.encryption]}","{enc_key}",'
                          f'"{TSHARK_AUTH[sa.auth]}","0x{sa.auth_key.hex()}"']
    return options


def tshark_json_with(pcap, options: list[str]) -> list[list[tuple[str, str]]]:
    """Like ``tshark_fields`` but with extra preferences (the ESP SAs)."""
    return tshark_fields(pcap, options)


def colon_hex(data: bytes) -> str:
    return ":".join(f"{b:02x}" for b in data)


def test_tshark_decrypts_and_verifies_reference_esp(tmp_path):
    """RFC 4303 §2: SPI, sequence number, IV, padding 1, 2, ..., Pad Length, Next Header 135, ICV good."""
    assert TSHARK is not None, "tshark is required (Debian package 'tshark')"
    sas = esp_sas()
    bus = [binding_update(0x100 + i, COA, MAP) for i in range(len(sas))]
    frames = []
    for i, (sa, bu) in enumerate(zip(sas, bus)):
        esp = ipsec.esp_encapsulate(sa, 1000 + i, 135, bu)
        frames.append(ETHERNET + ipv6(COA, MAP, 50, len(esp)) + esp)
    tampered = bytearray(frames[-1])
    tampered[-1] ^= 1
    frames.append(bytes(tampered))
    pcap = tmp_path / "esp.pcap"
    write_pcap(pcap, frames)
    decoded = tshark_json_with(pcap, uat_options(sas))
    assert len(decoded) == len(frames)
    for i, (sa, bu, pairs) in enumerate(zip(sas, bus, decoded)):
        assert field(pairs, "esp.spi") == [f"{sa.spi:#010x}"]
        assert field(pairs, "esp.sequence") == [str(1000 + i)]
        assert field(pairs, "esp.icv_good") == ["1"], sa
        assert field(pairs, "esp.icv") == [colon_hex(frames[i][-ICV_LENGTHS[sa.auth]:])]
        assert field(pairs, "esp.protocol") == ["0x87"]
        assert field(pairs, "esp.contained_data") == [colon_hex(bu)]
        pad = int(field(pairs, "esp.pad_len")[0])
        assert (len(bu) + 2 + pad) % (16 if sa.encryption == "aes-cbc" else 4) == 0
        assert field(pairs, "mip6.mhtype") == ["5"]
        assert field(pairs, "mip6.bu.seqnr") == [str(0x100 + i)]
    assert field(decoded[-1], "esp.icv_bad") == ["1"]


def test_tshark_reads_reference_ah(tmp_path):
    """RFC 4302 §2: Next Header, Payload Length (4 for HMAC-SHA1-96, 6 for HMAC-SHA-256-128 with 4 octets of
    IPv6 padding), SPI, sequence number, ICV field; the BU behind it, also after a HAO and an RH2."""
    assert TSHARK is not None, "tshark is required (Debian package 'tshark')"
    cases = []  # (sa, frame, ah, bu)
    for j, auth in enumerate(TSHARK_AUTH):
        sa = ipsec.SecurityAssociation(0x2000 + j, "ah", auth, bytes(range(9, 9 + KEY_LENGTHS[auth])))
        length = ipsec.ah_length(sa)
        hao = bytes([51, 2, 1, 2, 0, 0, 201, 16]) + HOA
        rh2 = bytes([51, 2, 2, 1, 0, 0, 0, 0]) + HOA
        for k, (first, ext, src, dst, pseudo) in enumerate([
                (51, b"", COA, MAP, (COA, MAP)),
                (60, hao, COA, MAP, (HOA, MAP)),  # mobile node → MAP with Home Address option
                (43, rh2, MAP, COA, (MAP, HOA)),  # MAP → mobile node with type 2 routing header
        ]):
            bu = binding_update(0x200 + 10 * j + k, *pseudo)
            headers = ipv6(src, dst, first, len(ext) + length + len(bu)) + ext
            ah = ipsec.ah_encapsulate(sa, 500 + 10 * j + k, headers, 135, bu)
            cases.append((sa, ETHERNET + headers + ah + bu, ah, bu, 500 + 10 * j + k))
    pcap = tmp_path / "ah.pcap"
    write_pcap(pcap, [c[1] for c in cases])
    decoded = tshark_fields(pcap)
    assert len(decoded) == len(cases)
    for (sa, _, ah, bu, seq), pairs in zip(cases, decoded):
        assert field(pairs, "ah.next_header") == ["135"]
        assert field(pairs, "ah.length") == [str(ipsec.ah_length(sa) // 4 - 2)]
        assert [int(v, 0) for v in field(pairs, "ah.spi")] == [sa.spi]
        assert field(pairs, "ah.sequence") == [str(seq)]
        icv_field = field(pairs, "ah.icv")
        assert icv_field == [colon_hex(ah[12:])]
        assert len(ah[12:]) == ICV_LENGTHS[sa.auth] + (4 if sa.auth == "hmac-sha256-128" else 0)
        assert field(pairs, "mip6.mhtype") == ["5"]
        assert field(pairs, "mip6.bu.seqnr") == [str(int.from_bytes(bu[6:8], "big"))]
