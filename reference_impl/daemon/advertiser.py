"""The MAP daemon's own Router Advertisements: its MAP option toward configured interfaces (base §7.1.2).

The MAP core builds the option (Dist, current Pref, R, valid lifetime); an access-router core with no
prefixes, router lifetime 0 (the MAP is not offered as a default router by these RAs) and the MAP's option
as its local option sends it with RFC 4861 timing.  With ``relay_from`` interfaces (rfc4140 dynamic
discovery) the same core learns other MAPs' options from RAs received there and sends them, Dist + 1,
together with its own (§7.1.1 ¶2, §7.1.2 ¶2).  ``MapWithAdvertiser`` presents both cores to the event
loop as one, and keeps the advertised option in step when the preference changes at run time.
"""

from __future__ import annotations

from typing import Any

from ..actions import Action
from ..ar.config import ArConfig, ArInterface, FailureDetection
from ..ar.core import ArCore
from ..map.core import MapCore
from ..wire import RouterAdvertisement, RouterSolicitation


def advertiser(map_core: MapCore, interfaces: list[dict[str, Any]], macs: dict[str, bytes], now: float,
               edition: str, relay_from: tuple[str, ...] = ()) -> ArCore:
    """The advertising core: ``interfaces`` are the RA specs ({iface, max_interval, ...}), ``relay_from`` the
    interfaces whose received MAP options are relayed (dynamic discovery; ignored in the rfc5380 edition)."""
    ifaces = tuple(ArInterface(
        name=spec["iface"], link_address=macs[spec["iface"]], advertise=True, prefixes=(), router_lifetime=0,
        max_interval=float(spec.get("max_interval", 600.0)), min_interval=spec.get("min_interval"),
        min_delay_between_ras=spec.get("min_delay_between_ras"), send_map_options=True) for spec in interfaces)
    listening = tuple(ArInterface(name=name, link_address=macs[name], advertise=False, send_map_options=False,
                                  listen_map_options=True) for name in relay_from)
    return ArCore(ArConfig(interfaces=ifaces + listening, local_map=map_core.map_option(now),
                           discovery="dynamic" if relay_from else "manual",
                           failure_detection=FailureDetection(enabled=False)), edition)


class MapWithAdvertiser:
    """A MAP core and its advertiser behind the one-core interface the event loop drives."""

    def __init__(self, map_core: MapCore, ar_core: ArCore) -> None:
        self.map, self.ar = map_core, ar_core
        self._ar_ifaces = {i.name for i in ar_core.config.interfaces if i.advertise}
        self._relay_ifaces = {i.name for i in ar_core.config.interfaces if i.listen_map_options}

    def start(self, now: float) -> list[Action]:
        return self.map.start(now) + self.ar.start(now)

    def handle(self, now: float, iface: str, packet) -> list[Action]:
        if isinstance(packet.payload, RouterSolicitation):
            return self.ar.handle(now, iface, packet) if iface in self._ar_ifaces else []
        if isinstance(packet.payload, RouterAdvertisement):
            return self.ar.handle(now, iface, packet) if iface in self._relay_ifaces else []
        return self.map.handle(now, iface, packet)

    def tick(self, now: float) -> list[Action]:
        return self.map.tick(now) + self.ar.tick(now)

    def next_deadline(self) -> float | None:
        deadlines = [d for d in (self.map.next_deadline(), self.ar.next_deadline()) if d is not None]
        return min(deadlines) if deadlines else None

    def set_preference(self, now: float, preference: int) -> list[Action]:
        """Change Pref (0 = not for new bindings, §7.1.2) and advertise the new option."""
        return self.map.set_preference(preference) + self.ar.set_local_map(now, self.map.map_option(now))

    def snapshot(self) -> dict[str, Any]:
        return {**self.map.snapshot(), "advertising": self.ar.snapshot()}
