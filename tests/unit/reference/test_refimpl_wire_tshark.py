"""Wire codec cross-checked against tshark 4.0 (an independent decoder): codec-built frames in a pcap, read back
with ``tshark -T json``, field values compared (field names per PLATFORM.md "Independent decoders")."""

from __future__ import annotations

import random

import pytest
from refimpl_testutil import TSHARK, field, tshark_fields, write_pcap

from reference_impl import wire as w

pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark not installed (Debian package 'tshark')")

MAC_A = w.mac("02:00:00:00:00:0a")
MAC_B = w.mac("02:00:00:00:00:0b")


def _addr(rng: random.Random) -> bytes:
    return w.ip6("2001:db8::")[:4] + rng.randbytes(12)


def _build(rng: random.Random) -> list[w.Packet]:
    packets: list[w.Packet] = []
    for _ in range(20):
        flags = rng.choice([w.BU_A | w.BU_M, w.BU_A | w.BU_H | w.BU_K, w.BU_M, 0]) | rng.choice([0, 0x0004, 0x0002])
        options = rng.choice([(), (w.AlternateCareOfAddress(_addr(rng)),), (w.NonceIndices(1, 2),)])
        packets.append(w.Packet(_addr(rng), _addr(rng), w.BindingUpdate(rng.randrange(65536), flags,
                                                                         rng.randrange(65536), options),
                                home_address=_addr(rng)))
    for _ in range(20):
        packets.append(w.Packet(_addr(rng), _addr(rng), w.BindingAcknowledgement(
            rng.choice([0, 1, 128, 129, 130, 131, 132, 133, 134, 135, 139]), rng.randrange(65536),
            rng.randrange(65536), rng.choice([0, w.BA_K])), rh2_address=_addr(rng)))
    for _ in range(10):
        maps = tuple(w.MapOption(_addr(rng), rng.randrange(1, 16), rng.randrange(16), rng.random() < 0.5,
                                 rng.randrange(2**32), rng.randrange(128)) for _ in range(rng.randrange(1, 4)))
        ra = w.RouterAdvertisement(64, 0, 1800, options=(w.SourceLinkLayerAddress(MAC_A),) + maps
                                   + (w.AdvertisementInterval(rng.randrange(2**32)),))
        packets.append(w.Packet(w.ip6("fe80::a"), w.ALL_NODES, ra, hop_limit=255))
    return packets


def _int(text: str) -> int:
    return int(text, 0)


def test_tshark_reads_codec_frames_identically(tmp_path):
    """tshark reads the MAP option (base §5), BU incl. M flag (base §4.1), BA, HAO and RH2 (RFC 6275 §6) as the
    codec wrote them."""
    packets = _build(random.Random(4140))
    frames = [w.encode_frame(w.Frame(MAC_B, MAC_A, p)) for p in packets]
    pcap = tmp_path / "codec.pcap"
    write_pcap(pcap, frames)
    decoded = tshark_fields(pcap)
    assert len(decoded) == len(packets)
    for packet, frame, pairs in zip(packets, frames, decoded):
        m = packet.payload
        if isinstance(m, w.BindingUpdate):
            assert field(pairs, "mip6.mhtype") == ["5"]
            assert _int(field(pairs, "mip6.csum")[0]) == int.from_bytes(frame[14 + 64 + 4:14 + 64 + 6], "big")
            assert field(pairs, "ipv6.opt.mipv6.home_address") == [w.fmt(packet.home_address)]
            assert field(pairs, "mip6.bu.seqnr") == [str(m.seq)]
            for name, bit in (("mip6.bu.a_flag", w.BU_A), ("mip6.bu.h_flag", w.BU_H), ("mip6.bu.l_flag", w.BU_L),
                              ("mip6.bu.k_flag", w.BU_K), ("mip6.bu.m_flag", w.BU_M),
                              ("mip6.nemo.bu.r_flag", 0x0400), ("mip6.bu.p_flag", 0x0200)):
                assert field(pairs, name) == ["1" if m.flags & bit else "0"], name
            assert field(pairs, "mip6.bu.lifetime") == [str(m.lifetime)]
            alt = [w.fmt(m.alternate_coa)] if m.alternate_coa is not None else []
            assert field(pairs, "mip6.acoa.acoa") == alt
        elif isinstance(m, w.BindingAcknowledgement):
            assert field(pairs, "mip6.mhtype") == ["6"]
            assert field(pairs, "ipv6.routing.type") == ["2"]
            assert field(pairs, "ipv6.routing.segleft") == ["1"]
            assert field(pairs, "ipv6.routing.mipv6.home_address") == [w.fmt(packet.rh2_address)]
            assert field(pairs, "mip6.ba.status") == [str(m.status)]
            assert field(pairs, "mip6.ba.k_flag") == ["1" if m.k else "0"]
            assert field(pairs, "mip6.ba.seqnr") == [str(m.seq)]
            assert field(pairs, "mip6.ba.lifetime") == [str(m.lifetime)]
            assert _int(field(pairs, "mip6.csum")[0]) == int.from_bytes(frame[14 + 64 + 4:14 + 64 + 6], "big")
        else:
            maps = m.map_options
            assert field(pairs, "icmpv6.checksum.status") == ["1"]  # tshark verifies ICMPv6 checksums
            assert field(pairs, "icmpv6.opt.map.distance") == [str(o.dist) for o in maps]
            assert field(pairs, "icmpv6.opt.map.preference") == [str(o.pref) for o in maps]
            assert field(pairs, "icmpv6.opt.map.flag.r") == ["1" if o.r else "0" for o in maps]
            assert [_int(v) for v in field(pairs, "icmpv6.opt.map.flag.reserved")] == [o.reserved for o in maps]
            assert field(pairs, "icmpv6.opt.map.valid_lifetime") == [str(o.valid_lifetime) for o in maps]
            assert field(pairs, "icmpv6.opt.map.global_address") == [w.fmt(o.address) for o in maps]
