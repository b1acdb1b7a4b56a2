"""A fleet of emulated mobile nodes for load tests of a MAP: many sans-I/O registration state machines in one
object (:class:`Fleet`), with bytes-and-struct local BUs and BAs (:mod:`.messages`) protected by one IPsec SA pair
(:mod:`.protection`, base §12.1).  Driven by ``hmipv6ct load`` (harness/load)."""

from __future__ import annotations

from .config import FleetConfig
from .core import EXCHANGES, Fleet
from .messages import BaView, LocalBuBuilder, check_builder, parse_ba
from .protection import FleetProtection, SaProtection, Unprotected

__all__ = ["BaView", "EXCHANGES", "Fleet", "FleetConfig", "FleetProtection", "LocalBuBuilder", "SaProtection",
           "Unprotected", "check_builder", "parse_ba"]
