"""Addresses of the emulated mobile nodes: distinct RCoAs on the MAP's prefix, LCoAs on the access prefixes.

Interface identifiers (64 bits): ``MARK(16) | generation(8) | tag(16) | index(24)`` for LCoAs and
``0xf1ee(16) | 0(8) | tag(16) | index(24)`` for RCoAs, ``tag`` drawn per run (a run against a testbed left up
does not meet the bindings of an earlier one).  ``MARK`` is ``0xf1ee`` for the bulk of the fleet and ``0x5a3b``
for the sampled mobile nodes whose traffic is checked end to end, so that a single /80 per access prefix --
:meth:`AddressPlan.bulk_ranges` -- covers every LCoA nobody answers for on the access links (see
:mod:`harness.load.guard`).  A move increments the generation and goes to the next access prefix.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection

BULK, SAMPLE = 0xF1EE, 0x5A3B
MAX_MNS = 1 << 24


class AddressPlan:
    def __init__(self, rcoa_prefix: ipaddress.IPv6Network, lcoa_prefixes: list[ipaddress.IPv6Network],
                 tag: int, sampled: Collection[int] = ()) -> None:
        if not 0 <= tag <= 0xFFFF:
            raise ValueError("tag is 16 bits")
        self.rcoa_net = int(rcoa_prefix.network_address)
        self.lcoa_nets = [int(p.network_address) for p in lcoa_prefixes]
        self.prefixes = list(lcoa_prefixes)
        self.tag = tag
        self.sampled = set(sampled)

    def rcoa(self, i: int) -> bytes:
        return (self.rcoa_net | BULK << 48 | self.tag << 24 | i).to_bytes(16, "big")

    def prefix_index(self, i: int, generation: int) -> int:
        return (i + generation) % len(self.lcoa_nets)

    def lcoa(self, i: int, generation: int) -> bytes:
        if not 0 <= i < MAX_MNS:
            raise ValueError(f"at most {MAX_MNS} mobile nodes")
        mark = SAMPLE if i in self.sampled else BULK
        net = self.lcoa_nets[self.prefix_index(i, generation)]
        return (net | mark << 48 | (generation & 0xFF) << 40 | self.tag << 24 | i).to_bytes(16, "big")

    def bulk_ranges(self) -> list[str]:
        """One /80 per access prefix holding every non-sampled LCoA."""
        return [str(ipaddress.IPv6Network((net | BULK << 48, 80))) for net in self.lcoa_nets]
