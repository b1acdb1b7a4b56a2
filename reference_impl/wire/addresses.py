"""IPv6 and Ethernet address helpers.  Addresses are plain ``bytes`` (16 for IPv6, 6 for MAC)."""

from __future__ import annotations

import socket

__all__ = [
    "ALL_NODES",
    "ALL_ROUTERS",
    "UNSPECIFIED",
    "fmt",
    "fmt_mac",
    "in_prefix",
    "ip6",
    "ip6_prefix",
    "is_link_local",
    "is_multicast",
    "is_unicast_routable",
    "link_local_from_mac",
    "mac",
    "multicast_mac",
    "prefix_of",
    "solicited_node",
]


def ip6(text: str) -> bytes:
    """``"2001:db8::1"`` → 16 bytes.  Raises ValueError on anything that is not an IPv6 address."""
    try:
        return socket.inet_pton(socket.AF_INET6, text)
    except (OSError, TypeError) as exc:
        raise ValueError(f"not an IPv6 address: {text!r}") from exc


def ip6_prefix(text: str) -> tuple[bytes, int]:
    """``"2001:db8:1::/64"`` → (16 bytes with host bits cleared, 64)."""
    address, _, length = text.partition("/")
    if not length.isdigit():
        raise ValueError(f"not an IPv6 prefix: {text!r}")
    return prefix_of(ip6(address), int(length)), int(length)


def fmt(address: bytes) -> str:
    """16 bytes → canonical text (RFC 5952), e.g. ``"2001:db8::1"``."""
    if len(address) != 16:
        raise ValueError(f"an IPv6 address has 16 bytes, not {len(address)}")
    return socket.inet_ntop(socket.AF_INET6, address)


def mac(text: str) -> bytes:
    """``"02:00:00:00:00:01"`` → 6 bytes."""
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6 or not all(len(p) in (1, 2) for p in parts):
        raise ValueError(f"not a MAC address: {text!r}")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError as exc:
        raise ValueError(f"not a MAC address: {text!r}") from exc


def fmt_mac(address: bytes) -> str:
    """6 bytes → ``"02:00:00:00:00:01"``."""
    return ":".join(f"{b:02x}" for b in address)


UNSPECIFIED = bytes(16)
ALL_NODES = ip6("ff02::1")
ALL_ROUTERS = ip6("ff02::2")
_SOLICITED_NODE_PREFIX = ip6("ff02::1:ff00:0")[:13]
_LINK_LOCAL_PREFIX = ip6("fe80::")[:8]


def solicited_node(address: bytes) -> bytes:
    """Solicited-node multicast group of ``address`` (RFC 4291 §2.7.1): ff02::1:ffXX:XXXX."""
    return _SOLICITED_NODE_PREFIX + address[13:16]


def multicast_mac(group: bytes) -> bytes:
    """Ethernet destination for an IPv6 multicast group (RFC 2464 §7): 33:33 + low 32 bits."""
    return b"\x33\x33" + group[12:16]


def link_local_from_mac(hw: bytes) -> bytes:
    """fe80::/64 address with the modified EUI-64 identifier of a 48-bit MAC (RFC 4291 App. A)."""
    iid = bytes([hw[0] ^ 0x02, hw[1], hw[2], 0xFF, 0xFE, hw[3], hw[4], hw[5]])
    return _LINK_LOCAL_PREFIX + iid


def is_multicast(address: bytes) -> bool:
    return address[0] == 0xFF


def is_link_local(address: bytes) -> bool:
    """fe80::/10."""
    return address[0] == 0xFE and (address[1] & 0xC0) == 0x80


def is_unicast_routable(address: bytes) -> bool:
    """Unicast with a scope wider than link-local: not ::, ::1, multicast, fe80::/10 (RFC 6275 §9.5.1)."""
    if len(address) != 16 or address == UNSPECIFIED or address == bytes(15) + b"\x01":
        return False
    return not is_multicast(address) and not is_link_local(address)


def prefix_of(address: bytes, length: int) -> bytes:
    """``address`` with all bits after the first ``length`` cleared."""
    if not 0 <= length <= 128:
        raise ValueError(f"prefix length {length} outside 0..128")
    value = int.from_bytes(address, "big")
    mask = ((1 << length) - 1) << (128 - length) if length else 0
    return (value & mask).to_bytes(16, "big")


def in_prefix(address: bytes, prefix: bytes, length: int) -> bool:
    """True if the first ``length`` bits of ``address`` equal those of ``prefix``.  A length outside 0..128 (a
    Prefix Information option may carry any octet there) is no prefix at all: False."""
    if not 0 <= length <= 128:
        return False
    full, rest = divmod(length, 8)
    if address[:full] != prefix[:full]:
        return False
    if rest == 0:
        return True
    mask = (0xFF << (8 - rest)) & 0xFF
    return (address[full] & mask) == (prefix[full] & mask)
