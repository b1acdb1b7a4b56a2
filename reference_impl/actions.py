"""What the sans-I/O cores ask their I/O layer to do.  Small frozen dataclasses; ``handle()``/``tick()`` return
lists of them in the order they must be carried out.

=====================  ========================================================================================
``Send``               transmit ``packet`` (a :class:`~reference_impl.wire.Packet`; encode with
                       :func:`~reference_impl.wire.encode_packet`).  ``iface`` None means "route by destination";
                       ``link_dst`` is the Ethernet destination when the core knows it (multicast groups, or a
                       link-layer address learnt from the message being answered), else None: resolve it (or let
                       the kernel do so through a raw IPv6 socket).
``BindingAdded``       MAP: start tunnelling RCoA -> LCoA (route ``rcoa/128`` into a tunnel to ``lcoa``) and
                       accept reverse-tunnelled packets from ``lcoa`` with inner source ``rcoa``.
``BindingUpdated``     MAP: the LCoA of an existing binding changed (move the route) or its lifetime was renewed.
``BindingRemoved``     MAP: stop tunnelling (expired, deregistered, prefix expired, DAD conflict).
``MapStateChanged``    AR: a MAP became unavailable (advertised with valid lifetime 0) or available again.
``Log``                a structured event for the daemon's log / the test report (JSON-serialisable fields).
=====================  ========================================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from .wire.ipv6 import Packet

__all__ = ["Action", "BindingAdded", "BindingRemoved", "BindingUpdated", "Log", "MapStateChanged", "Send"]


@dataclass(slots=True, frozen=True)
class Send:
    iface: str | None
    packet: Packet
    link_dst: bytes | None = None


@dataclass(slots=True, frozen=True)
class BindingAdded:
    rcoa: bytes
    lcoa: bytes
    lifetime: int  # granted, seconds
    iface: str  # the MAP's interface on the RCoA link (where it proxies for the RCoA)


@dataclass(slots=True, frozen=True)
class BindingUpdated:
    rcoa: bytes
    lcoa: bytes
    old_lcoa: bytes
    lifetime: int


@dataclass(slots=True, frozen=True)
class BindingRemoved:
    rcoa: bytes
    lcoa: bytes
    reason: str  # "expired" | "deregistered" | "prefix-expired" | "dad-conflict"


@dataclass(slots=True, frozen=True)
class MapStateChanged:
    map_address: bytes
    available: bool
    reason: str  # "probe-timeout" | "probe-reply" | "manual" | "manual-restore"


@dataclass(slots=True, frozen=True)
class Log:
    event: str
    fields: Mapping[str, Any] = field(default_factory=dict)


Action = Union[Send, BindingAdded, BindingUpdated, BindingRemoved, MapStateChanged, Log]
