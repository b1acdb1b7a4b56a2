"""The ND options of a Router Advertisement read from its bytes, whatever their Type (RFC 4861 §4.6).

The tester's decoder (scapy) recognises a MAP option by its Type; judging the Type itself (RFC 5380 §5 "Its value is
23.") needs the options as sent: Type, Length (units of 8 octets) and body, so that an option that is a MAP option
by its layout -- Length 3, the MAP's address in the Global IP Address field (octets 8-23) -- is found under any Type.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from harness.tester.packets import ICMPv6ND_RA

RA_HEADER = 16  # ICMPv6 type, code, checksum, hop limit, flags, router lifetime, reachable time, retrans timer


def nd_options(pkt) -> list[tuple[int, int, bytes]]:
    """(Type, Length, option bytes) of every ND option of the Router Advertisement in ``pkt`` (none without one;
    the walk stops at a zero Length or an option that overruns the message)."""
    if ICMPv6ND_RA not in pkt:
        return []
    data = bytes(pkt[ICMPv6ND_RA])[RA_HEADER:]
    out, pos = [], 0
    while pos + 2 <= len(data):
        otype, units = data[pos], data[pos + 1]
        if units == 0 or pos + 8 * units > len(data):
            break
        out.append((otype, units, data[pos:pos + 8 * units]))
        pos += 8 * units
    return out


def map_address_options(pkt, addresses: Iterable[str]) -> list[tuple[int, str]]:
    """(Type, address) of every option laid out as a MAP option (Length 3) whose Global IP Address field holds one
    of ``addresses``, whatever its Type."""
    wanted = {ipaddress.IPv6Address(a) for a in addresses}
    found = []
    for otype, units, raw in nd_options(pkt):
        if units == 3 and ipaddress.IPv6Address(raw[8:24]) in wanted:
            found.append((otype, str(ipaddress.IPv6Address(raw[8:24]))))
    return found
