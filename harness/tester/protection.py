"""The one seam every Mobility Header the tester sends or receives passes through.

Identity for now.  IPsec (ESP/AH transport mode between mobile node and MAP, base §12) plugs
in here as another :class:`MhProtection`, so no test changes when security is switched on.
"""

from __future__ import annotations

from typing import Protocol


class MhProtection(Protocol):
    def protect(self, ipv6: bytes) -> bytes:
        """Turn an IPv6 packet carrying a Mobility Header into what goes on the wire."""

    def unprotect(self, ipv6: bytes) -> bytes | None:
        """The plain IPv6 packet behind a received one, or None if it fails verification."""


class NoProtection:
    """Mobility Headers travel unprotected."""

    name = "none"

    def protect(self, ipv6: bytes) -> bytes:
        return ipv6

    def unprotect(self, ipv6: bytes) -> bytes | None:
        return ipv6
