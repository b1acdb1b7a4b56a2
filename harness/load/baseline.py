"""The in-process baseline every load figure is also given against: the same fleet registering the same way with
the reference MAP core (:class:`reference_impl.map.core.MapCore`) in this process -- BU built and protected,
decoded, handled (DAD off), BA encoded and protected, then opened and handled by the fleet -- with no sockets,
no daemon, no kernel.  Its registrations per second are what the reference MAP's logic could do on one core of
this machine at best; the ratio of the measured rate to it shows what the I/O, the daemon and the testbed cost.
"""

from __future__ import annotations

import time
from typing import Any

from reference_impl.actions import Send
from reference_impl.fleet import Fleet, FleetConfig, SaProtection, Unprotected
from reference_impl.map.config import MapConfig
from reference_impl.map.core import MapCore
from reference_impl.security import IpsecSecurity, NullSecurity, SaPair
from reference_impl.wire import decode_packet, encode_packet, ip6

MAP = "2001:db8:4d::1"


def measure(count: int, sa_config: dict[str, Any] | None, lifetime: int = 24) -> dict[str, Any]:
    """Register ``count`` mobile nodes in process; returns registrations/s and the mean time per registration."""
    map_address = ip6(MAP)
    if sa_config is not None:  # the same keys and algorithms, selectors opened to this in-process MAP
        sa_config = {**sa_config, "map": "::/0", "rcoa": "::/0"}
    config = MapConfig(address=map_address, home_iface="m0", link_address=bytes(6), max_bindings=count + 1, dad="off")
    core = MapCore(config, security=IpsecSecurity([SaPair.from_config(sa_config)], "map") if sa_config
                   else NullSecurity())
    fleet = Fleet(FleetConfig(map_address, lifetime=lifetime),
                  SaProtection(SaPair.from_config(sa_config)) if sa_config else Unprotected())
    prefix = int.from_bytes(map_address, "big") & ~((1 << 64) - 1)
    lcoas = int.from_bytes(ip6("2001:db8:4c::"), "big")
    for i in range(count):
        fleet.add((prefix | 0xF1EE << 48 | i).to_bytes(16, "big"), (lcoas | 0xF1EE << 48 | i).to_bytes(16, "big"))
    start = time.perf_counter()
    for i in range(count):
        now = time.perf_counter() - start
        for bu in fleet.register(now, i):
            for action in core.handle(now, "m0", decode_packet(bu)):
                if isinstance(action, Send) and action.packet.rh2_address is not None:  # a BA (RH2 = RCoA)
                    fleet.handle(time.perf_counter() - start, encode_packet(action.packet))
    elapsed = time.perf_counter() - start
    registered = fleet.counters["accepted_register"]
    if registered != count:
        raise RuntimeError(f"in-process baseline: {registered}/{count} registered: {fleet.summary(elapsed)}")
    return {"count": count, "seconds": elapsed, "registrations_per_s": count / elapsed,
            "us_per_registration": 1e6 * elapsed / count}
