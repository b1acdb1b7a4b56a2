"""How a fleet protects its BUs and opens the MAP's BAs (base §12.1), on bytes.

One SA pair serves the whole fleet (e.g. the testbed's ``tester1@<map>`` pair, whose RCoA selector is any RCoA):
BUs go out under ``to_map`` with one outbound sequence counter, BAs come back under ``to_mn`` through one
anti-replay window (RFC 4303 §3.4.3).  The MAP then records that pair as the owner of every RCoA the fleet
registers (base §12.1), which is consistent: the same "mobile node" (the pair) always updates them.

ESP and AH in transport mode come from :mod:`reference_impl.ipsec`; only the header splicing is done here, with
``struct``, so that thousands of BUs per second stay cheap.  :class:`Unprotected` is for MAPs running without
IPsec (a documented deviation of such a lab).
"""

from __future__ import annotations

from collections.abc import Callable

from ..ipsec import (
    IpsecError, ReplayWindow, SecurityAssociation, SequenceCounter, ah_decapsulate, ah_encapsulate, ah_length,
    ah_spi, esp_decapsulate, esp_encapsulate, esp_spi,
)
from ..security import SaPair

__all__ = ["FleetProtection", "SaProtection", "Unprotected"]

NH_ESP, NH_AH, NH_MOBILITY = 50, 51, 135

# head(next_header, octets after the Destination Options header) -> IPv6 header + Destination Options (HAO)
HeadBuilder = Callable[[int, int], bytes]


class FleetProtection:
    """The seam: ``seal`` builds a whole BU packet around a Mobility Header, ``open`` yields a BA's Mobility
    Header (or a reason to drop the packet)."""

    required: bool = False
    name: str | None = None

    def seal(self, head: HeadBuilder, mh: bytes) -> bytes:
        raise NotImplementedError

    def open(self, packet: bytes, next_header: int, pos: int, end: int) -> bytes | str:
        """``packet[pos:end]`` is the upper layer after the extension headers (next header ``next_header``)."""
        raise NotImplementedError


class Unprotected(FleetProtection):
    """No IPsec: plain Mobility Headers both ways (a MAP requiring base §12.1 discards these BUs)."""

    def seal(self, head: HeadBuilder, mh: bytes) -> bytes:
        return head(NH_MOBILITY, len(mh)) + mh

    def open(self, packet: bytes, next_header: int, pos: int, end: int) -> bytes | str:
        if next_header != NH_MOBILITY:
            return f"next header {next_header}, not a plain Mobility Header"
        return packet[pos:end]


class SaProtection(FleetProtection):
    """ESP or AH in transport mode with one manually keyed SA pair (``side`` mobile node)."""

    required = True

    def __init__(self, pair: SaPair) -> None:
        self.pair = pair
        self.name = pair.name
        self.out: SecurityAssociation = pair.to_map
        self.inbound: SecurityAssociation = pair.to_mn
        self.counter = SequenceCounter()
        self.window = ReplayWindow(pair.to_mn.replay_window)
        self.esp = pair.to_map.protocol == "esp"
        self._ah_length = 0 if self.esp else ah_length(pair.to_map)

    def seal(self, head: HeadBuilder, mh: bytes) -> bytes:
        seq = self.counter.next()
        if self.esp:
            esp = esp_encapsulate(self.out, seq, NH_MOBILITY, mh)
            return head(NH_ESP, len(esp)) + esp
        headers = head(NH_AH, self._ah_length + len(mh))
        return headers + ah_encapsulate(self.out, seq, headers, NH_MOBILITY, mh) + mh

    def open(self, packet: bytes, next_header: int, pos: int, end: int) -> bytes | str:
        sa = self.inbound
        wanted = NH_ESP if sa.protocol == "esp" else NH_AH
        if next_header == NH_MOBILITY:
            return "unprotected Mobility Header (base §12.1)"
        if next_header != wanted:
            return f"next header {next_header}, expected {sa.protocol.upper()}"
        data = packet[pos:end]
        try:
            spi, seq = esp_spi(data) if wanted == NH_ESP else ah_spi(data)
            if spi != sa.spi:
                return f"SPI {spi:#x}, expected {sa.spi:#x} (RFC 4303 §3.4.2)"
            why = self.window.check(seq)
            if why is not None:
                return f"sequence number {seq}: {why} (RFC 4303 §3.4.3)"
            inner = esp_decapsulate(sa, data) if wanted == NH_ESP else ah_decapsulate(sa, packet[:pos], data)
        except IpsecError as exc:
            return str(exc)
        self.window.accept(inner.seq)  # only after the ICV verified
        if inner.next_header != NH_MOBILITY:
            return f"protects next header {inner.next_header}, not a Mobility Header"
        return inner.payload
