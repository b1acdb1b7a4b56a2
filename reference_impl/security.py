"""The one seam through which mobility signalling is authenticated (base document §12, RFC 5380 §12).

Today only :class:`NullSecurity` exists: every BU verifies and BAs go out unchanged.  An IPsec/IKEv2 (RFC 4877)
implementation later replaces it without touching the cores: ``verify`` sees each received BU packet before any
processing, ``protect`` each BA packet after it is built.
"""

from __future__ import annotations

from typing import Protocol

from .wire.ipv6 import Packet

__all__ = ["NullSecurity", "SignallingSecurity"]


class SignallingSecurity(Protocol):
    def verify(self, packet: Packet, iface: str) -> bool:
        """True if the received signalling packet is authentic and may be processed."""

    def protect(self, packet: Packet) -> Packet:
        """The packet to transmit in place of the given outgoing signalling packet."""


class NullSecurity:
    """Identity seam: accepts everything, protects nothing (a documented deviation from §12's MUSTs)."""

    def verify(self, packet: Packet, iface: str) -> bool:
        return True

    def protect(self, packet: Packet) -> Packet:
        return packet
