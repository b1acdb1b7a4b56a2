"""A frame read with TP_STATUS_CSUMNOTREADY (offloaded checksum, e.g. over veth) is completed on receipt."""

from __future__ import annotations

import struct

from scapy.layers.inet import TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from reference_impl.daemon.linkio import complete_checksum


def _partial(frame: bytes, at: int) -> bytes:
    """What an offloading sender leaves: the checksum field holds some unfinished value (here: garbage)."""
    return frame[:at] + b"\x12\x34" + frame[at + 2:]


def test_udp_checksum_completed_as_scapy_computes_it() -> None:
    good = bytes(Ether() / IPv6(src="2001:db8:20::10", dst="2001:db8:10::100") / UDP(sport=4000, dport=9000)
                 / (b"HM6F" + bytes(60)))
    at = 14 + 40 + 6
    assert complete_checksum(_partial(good, at)) == good


def test_tcp_checksum_completed() -> None:
    good = bytes(Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=1, dport=2) / b"payload")
    assert complete_checksum(_partial(good, 14 + 40 + 16)) == good


def test_other_packets_are_left_alone() -> None:
    frame = bytes(Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2", nh=41) / IPv6() / UDP())
    assert complete_checksum(frame) == frame
    assert complete_checksum(frame[:30]) == frame[:30]


def test_ethernet_padding_is_kept() -> None:
    good = bytes(Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=1, dport=2))
    padded = good + bytes(10)
    fixed = complete_checksum(_partial(padded, 14 + 40 + 6))
    assert fixed == padded and struct.unpack_from("!H", fixed, 60)[0] != 0x1234
