"""Internet checksum (RFC 1071) and the IPv6 upper-layer pseudo-header (RFC 8200 §8.1).

Mobile IPv6 twists (RFC 6275 §6.1.1 and §11.3.1, RFC 8200 §8.1): with a Home Address option the pseudo-header
source is the home address; with a (type 2) routing header the pseudo-header destination is the final
destination, i.e. the address in the routing header.  :func:`pseudo_addresses` applies both.
"""

from __future__ import annotations

import struct

__all__ = ["internet_checksum", "pseudo_addresses", "upper_layer_checksum", "verify_upper_layer_checksum"]

_PSEUDO_TAIL = struct.Struct("!I3xB")


def _sum16(data: bytes) -> int:
    if len(data) & 1:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def internet_checksum(data: bytes) -> int:
    """One's complement of the one's complement sum of ``data`` (odd length padded with a zero byte)."""
    return ~_sum16(data) & 0xFFFF


def pseudo_addresses(src: bytes, dst: bytes, home_address: bytes | None,
                     rh2_address: bytes | None) -> tuple[bytes, bytes]:
    """Source and destination to put in the pseudo-header of a packet carrying HAO and/or RH2."""
    return (home_address if home_address is not None else src, rh2_address if rh2_address is not None else dst)


def upper_layer_checksum(src: bytes, dst: bytes, next_header: int, upper: bytes) -> int:
    """Checksum of ``upper`` (its checksum field zeroed by the caller) under the IPv6 pseudo-header."""
    return internet_checksum(src + dst + _PSEUDO_TAIL.pack(len(upper), next_header) + upper)


def verify_upper_layer_checksum(src: bytes, dst: bytes, next_header: int, upper: bytes) -> bool:
    """True if ``upper`` (checksum field included) sums to 0xFFFF under the pseudo-header."""
    return _sum16(src + dst + _PSEUDO_TAIL.pack(len(upper), next_header) + upper) == 0xFFFF
