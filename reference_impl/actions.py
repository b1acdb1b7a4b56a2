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
``HaBindingAdded``     HA: intercept the home address on the home link (proxy ND) and tunnel it to the care-of
                       address; accept reverse-tunnelled packets from that care-of address (RFC 6275 §10.4).
``HaBindingUpdated``   HA: the care-of address of a home registration changed, or its lifetime was renewed.
``HaBindingRemoved``   HA: stop intercepting and tunnelling (expired, deregistered, prefix expired).
``CnBindingAdded``     CN: send to ``home_address`` with a type 2 routing header via ``care_of_address`` and accept
                       packets from that care-of address carrying the home address option (RFC 6275 §9.3).
``CnBindingUpdated``   CN: the care-of address or lifetime of a correspondent binding changed.
``CnBindingRemoved``   CN: back to plain routing toward the home address.
``AddressAdded``       MN: configure ``address`` on ``iface`` (an LCoA it formed, or its RCoA).
``AddressRemoved``     MN: remove it.
``MnPathsChanged``     MN: the data-plane view changed; hand ``paths`` to :mod:`reference_impl.mn.dataplane`.
=====================  ========================================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from .wire.ipv6 import Packet

__all__ = [
    "Action", "AddressAdded", "AddressRemoved", "BindingAdded", "BindingRemoved", "BindingUpdated", "CnBindingAdded",
    "CnBindingRemoved", "CnBindingUpdated", "HaBindingAdded", "HaBindingRemoved", "HaBindingUpdated", "Log",
    "MapStateChanged", "MnPathsChanged", "Send", "jsonable", "log",
]


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


@dataclass(slots=True, frozen=True)
class HaBindingAdded:
    home_address: bytes
    care_of_address: bytes
    lifetime: int  # granted, seconds
    iface: str  # the home link, where the HA proxies for the home address


@dataclass(slots=True, frozen=True)
class HaBindingUpdated:
    home_address: bytes
    care_of_address: bytes
    old_care_of_address: bytes
    lifetime: int


@dataclass(slots=True, frozen=True)
class HaBindingRemoved:
    home_address: bytes
    care_of_address: bytes
    reason: str  # "expired" | "deregistered" | "prefix-expired"


@dataclass(slots=True, frozen=True)
class CnBindingAdded:
    home_address: bytes
    care_of_address: bytes
    lifetime: int  # granted, seconds


@dataclass(slots=True, frozen=True)
class CnBindingUpdated:
    home_address: bytes
    care_of_address: bytes
    old_care_of_address: bytes
    lifetime: int


@dataclass(slots=True, frozen=True)
class CnBindingRemoved:
    home_address: bytes
    care_of_address: bytes
    reason: str  # "expired" | "deregistered"


@dataclass(slots=True, frozen=True)
class AddressAdded:
    iface: str
    address: bytes
    prefix_length: int
    role: str  # "lcoa" | "rcoa"
    valid_lifetime: int = 0xFFFFFFFF  # seconds, 0xFFFFFFFF = infinite (RFC 4861 §4.6.2)
    preferred_lifetime: int = 0xFFFFFFFF


@dataclass(slots=True, frozen=True)
class AddressRemoved:
    iface: str
    address: bytes
    role: str
    reason: str  # "moved" | "expired" | "map-changed" | "map-failed"


@dataclass(slots=True, frozen=True)
class MnPathsChanged:
    paths: Any  # a reference_impl.mn.dataplane.Paths (frozen); typed Any to keep this module free of mn imports


Action = Union[
    Send, BindingAdded, BindingUpdated, BindingRemoved, MapStateChanged, Log, HaBindingAdded, HaBindingUpdated,
    HaBindingRemoved, CnBindingAdded, CnBindingUpdated, CnBindingRemoved, AddressAdded, AddressRemoved,
    MnPathsChanged,
]


def jsonable(value: Any) -> Any:
    """A log field as JSON can carry it: addresses as text, MACs as aa:bb:.., other bytes as hex, inf as None."""
    from .wire.addresses import fmt, fmt_mac

    if isinstance(value, bytes):
        return fmt(value) if len(value) == 16 else fmt_mac(value) if len(value) == 6 else value.hex()
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return None
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def log(event: str, **fields: Any) -> Log:
    """A structured :class:`Log` action with JSON-ready fields (the one helper every core uses)."""
    return Log(event, {k: jsonable(v) for k, v in fields.items()})
