"""``hmipv6-map --config FILE``: the reference Mobility Anchor Point.

Besides the keys of :func:`~.config.map_config`, the ``map`` section takes ``data_plane``, ``advertise``,
``relay_from`` and, for rates of tens of thousands of BUs per second:

* ``fast_refresh`` (default true): plain refreshes go from frame bytes to BA bytes through
  :meth:`MapCore.refresh_fast` (:class:`RefreshFastPath`); every other BU takes the full decode-to-core path.
* ``refresh_log_burst`` (default 50): fast-path refreshes logged per second (their ``binding_refreshed`` and
  ``ba_sent`` lines); the rest are counted, and the next refresh logged says how many went unlogged.  null: all.

Control commands beyond ``show``: ``set-preference``, ``sa-add``, ``stats`` (counters, binding count and the
daemon's resident memory, without the binding list ``show`` carries), ``set-dad on|off|optimistic`` (the ``dad``
key at run time: it applies to registrations that start afterwards) and ``preload`` (:func:`preload`, for
capacity benchmarks).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from ..actions import BindingAdded, Log, Send
from ..map.core import MapCore
from ..security import IpsecSecurity, SaPair
from ..wire import BU_A, BU_M, BindingAcknowledgement, BindingUpdate, Packet, fastpath, fmt, ip6
from .config import ConfigError, load_config, map_config, signalling_security
from .advertiser import MapWithAdvertiser, advertiser
from .dataplane import (
    DATA_PLANES, KernelSupportError, TunnelPlane, attach_plane, close_plane, flush_ip6tnl, open_table,
)
from .linkio import LinkSocket
from .nft import NftError, Table
from .runner import Daemon, JsonLog, open_log, signalling_filter

REFRESH_LOG_BURST = 50  # fast-path refreshes logged per second by default

# the MAP core's frames: Mobility Headers (plain or in ESP/AH), Neighbor Solicitations and Advertisements
_MH = frozenset({135, 50, 51})
_signalling = signalling_filter(protocols=_MH, icmp_types=frozenset({135, 136}))
_with_rs = signalling_filter(protocols=_MH, icmp_types=frozenset({133, 135, 136}))
_with_rs_ra = signalling_filter(protocols=_MH, icmp_types=frozenset({133, 134, 135, 136}))


def main(argv: list[str] | None = None, core_factory: Callable[..., MapCore] = MapCore) -> int:
    """Run the MAP.  ``core_factory`` exists for the project's own negative-control tests, which run
    deliberately broken cores; the shipped command line cannot change it."""
    p = argparse.ArgumentParser(prog="hmipv6-map", description=__doc__)
    p.add_argument("--config", required=True)
    args = p.parse_args(argv)
    try:
        cfg = load_config(args.config)
        if cfg.role != "map":
            raise ConfigError(args.config, f"role is {cfg.role!r}, not 'map'")
        data_plane = cfg.section.pop("data_plane", "userspace")
        fast_refresh = bool(cfg.section.pop("fast_refresh", True))
        log_burst = cfg.section.pop("refresh_log_burst", REFRESH_LOG_BURST)
        if log_burst is not None and (not isinstance(log_burst, int) or log_burst < 0):
            raise ConfigError(args.config, f"map: refresh_log_burst must be an integer >= 0 or null, got {log_burst!r}")
        advertise = cfg.section.pop("advertise", [])  # [{iface, max_interval, min_interval, ...}] (§7.1.2)
        relay_from = tuple(cfg.section.pop("relay_from", []))  # learn and relay other MAPs' options (§7.1.2 ¶2)
        if relay_from and not advertise:
            raise ConfigError(args.config, "map: relay_from needs 'advertise' (the relayed options go out "
                                           "in the MAP's own advertisements)")
        if data_plane not in DATA_PLANES:
            raise ConfigError(args.config,
                              f"map: data_plane must be 'userspace', 'seg6' or 'ip6tnl', got {data_plane!r}")
        names = list(dict.fromkeys([cfg.section.get("home_iface"), *cfg.section.get("listen", []),
                                    *(a["iface"] for a in advertise), *relay_from]))
        links = {name: LinkSocket(name) for name in names if name}
        core_cfg = map_config(cfg, {n: link.mac for n, link in links.items()})
        security = signalling_security(cfg)
    except (ConfigError, OSError) as exc:
        print(f"hmipv6-map: {exc}", file=sys.stderr)
        return 2
    log = open_log("map", cfg.log_file)
    core = core_factory(core_cfg, cfg.edition)
    core.security = security
    own = {core_cfg.address, *core_cfg.extra_addresses}
    try:  # before the control socket exists: a kernel without ip6tnl is a one-line error
        table = open_table("hmipv6_map", own, data_plane)
    except (NftError, KernelSupportError) as exc:
        print(f"hmipv6-map: {exc}", file=sys.stderr)
        return 2
    if advertise:  # the MAP's own option in RAs on the configured interfaces
        driven = MapWithAdvertiser(core, advertiser(core, advertise, {n: l.mac for n, l in links.items()},
                                                    time.monotonic(), cfg.edition, relay_from))
        set_preference = lambda now, arg: driven.set_preference(now, int(arg))  # noqa: E731
    else:
        driven = core
        set_preference = lambda now, arg: core.set_preference(int(arg))  # noqa: E731
    try:
        frames = _with_rs_ra if relay_from else _with_rs if advertise else _signalling
        daemon = Daemon("map", driven, links, log, cfg.control_socket, frames,
                        commands={"set-preference": set_preference, "sa-add": lambda now, arg: add_sa(core, arg)})
    except OSError as exc:  # the control socket's directory is missing or not writable
        table.remove()
        if data_plane == "ip6tnl":
            flush_ip6tnl()
        print(f"hmipv6-map: {args.config}: control_socket {cfg.control_socket}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    plane = attach_plane(daemon, data_plane, core, core_cfg.address, own, table, log, core_cfg.home_iface)
    if fast_refresh and type(core) is MapCore:  # negative-control variants (subclasses) keep the full path
        daemon.on_data = RefreshFastPath(daemon, core, daemon.on_data, log_burst).on_data
    daemon.commands["stats"] = lambda now, arg: stats(daemon, core)
    daemon.commands["preload"] = lambda now, arg: preload(core, plane, table, log, now, arg)
    daemon.commands["set-dad"] = lambda now, arg: set_dad(core, log, arg)
    log("starting", config=args.config, edition=cfg.edition, address=core_cfg.address, dad=core_cfg.dad)
    try:
        daemon.run()
    finally:
        table.remove()
        close_plane(plane)
    return 0


def add_sa(core: MapCore, arg: object) -> dict[str, object]:
    """``sa-add JSON``: install a manually keyed SA pair at run time (what IKEv2 would do), with the checks the
    configuration file gets -- an ESP pair with null authentication is refused (base §12.1)."""
    if not isinstance(core.security, IpsecSecurity):
        return {"ok": False, "error": "IPsec is off in this MAP's configuration"}
    pair = SaPair.from_config(json.loads(str(arg)), "sa-add")
    core.security.add(pair)
    return {"ok": True, "added": pair.name}


class RefreshFastPath:
    """Plain refreshes from frame bytes to BA bytes, ahead of the data plane (``next_on_data``).

    A frame that :func:`~reference_impl.wire.fastpath.local_bu` reads and :meth:`MapCore.refresh_fast` accepts
    is answered here: the same BA bytes, counters and state the full path gives (``to_core``, ``sent``; the BA
    through the raw socket, as :meth:`Daemon._send` sends a BA to a global address).  Its two log lines are
    written for the first ``burst`` refreshes of each second (None: all).  Anything else goes on unchanged.
    """

    def __init__(self, daemon: Daemon, core: MapCore, next_on_data: Callable[[str, bytes], bool] | None,
                 burst: int | None) -> None:
        self.daemon, self.core, self.next, self.burst = daemon, core, next_on_data, burst
        self._second, self._logged, self._unlogged = 0, 0, 0
        daemon.counters["fast_refreshes"] = 0
        daemon.counters["refreshes_unlogged"] = 0

    def on_data(self, iface: str, frame: bytes) -> bool:
        if len(frame) >= 94 and frame[20] == 60 and frame[12:14] == b"\x86\xdd":
            bu = fastpath.local_bu(frame[14:])
            if bu is not None:
                src, dst, rcoa, seq, flags, lifetime = bu
                got = self.core.refresh_fast(time.monotonic(), iface, src, dst, rcoa, seq, flags, lifetime)
                if got is not None:
                    self._answer(iface, src, dst, rcoa, seq, *got)
                    return True
        return self.next is not None and self.next(iface, frame)

    def _send(self, iface: str, src: bytes, ba: bytes) -> None:
        counters = self.daemon.counters
        try:
            self.daemon.raw.send(ba)
            counters["sent"] += 1
        except OSError as exc:
            counters["send_errors"] += 1
            self.daemon.log("send_error", error=str(exc), dst=src, iface=iface)

    def _answer(self, iface: str, src: bytes, dst: bytes, rcoa: bytes, seq: int, status: int, units: int) -> None:
        counters = self.daemon.counters
        counters["to_core"] += 1
        counters["fast_refreshes"] += 1
        ba = fastpath.binding_ack(dst, src, rcoa, status, seq, units)
        if self.daemon.holding():  # after the staged intercept-set changes and the BAs held for them
            self.daemon.hold(lambda: self._send(iface, src, ba))
        else:
            self._send(iface, src, ba)
        if self.burst is not None:
            second = int(time.monotonic())
            if second != self._second:
                self._second, self._logged = second, 0
            if self._logged >= self.burst:
                self._unlogged += 1
                counters["refreshes_unlogged"] += 1
                return
            self._logged += 1
        first = True
        for action in self.core.refresh_logs(src, rcoa, seq, status, units):
            assert isinstance(action, Log)
            fields = dict(action.fields)
            if first and self._unlogged:
                fields["unlogged_before"], self._unlogged = self._unlogged, 0
            first = False
            self.daemon.log(action.event, **fields)


def rss_kb() -> int:
    """Resident set size of this process (VmRSS, kB)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def stats(daemon: Daemon, core: MapCore) -> dict[str, Any]:
    """``stats``: what ``show`` says except the binding, DAD and tombstone lists (cheap with a million)."""
    reply: dict[str, Any] = {"ok": True, "daemon": daemon.name, "counters": dict(daemon.counters),
                             "core": json.loads(json.dumps(core.counters)), "bindings": len(core.cache),
                             "pending_dad": core.bindings_in_use() - len(core.cache), "rss_kb": rss_kb()}
    if daemon.extra_state is not None:
        reply.update(daemon.extra_state())
    return reply


def set_dad(core: MapCore, log: JsonLog, arg: object) -> dict[str, Any]:
    """``set-dad MODE``: DAD for registrations that start from now on (those waiting for DAD finish as begun)."""
    mode = str(arg)
    if mode not in ("on", "off", "optimistic"):
        return {"ok": False, "error": f"set-dad: 'on', 'off' or 'optimistic', not {mode!r}"}
    old, core.config = core.config.dad, dataclasses.replace(core.config, dad=mode)
    log("dad_mode_changed", old=old, new=mode)
    return {"ok": True, "dad": mode}


def preload(core: MapCore, plane: TunnelPlane, table: Table, log: JsonLog, now: float, arg: object) -> dict[str, Any]:
    """``preload {"count": N, "rcoa": A, "lcoa": B, "seq": 1, "lifetime": 4 s units, "iface": name}``: register
    RCoA A+i -> LCoA B+i (i < N) as if each had sent a local BU (A and M set, no options) from its LCoA to
    the MAP address: each goes through :meth:`MapCore.handle` -- the policy, binding cache and timers a wire BU
    meets after decoding.  For capacity benchmarks; three differences, all for speed:

    * DAD is skipped (the BUs are handled as with ``dad: off``; the configuration is restored after);
    * the BAs and unsolicited NAs are counted, not sent, and the per-binding log lines are not written (one
      ``preloaded`` line sums them up);
    * the userspace data plane's nftables intercept set is rebuilt once with every bound RCoA, instead of one
      ``nft`` run per binding (the kernel data planes still get one route command per binding); for the instant
      of the rebuild the table is absent.

    The garbage collector is off during the loop; then one full collection runs (its duration, ``gc_full_ms``,
    is the pause such a collection costs with this cache) and everything alive is frozen (``gc.freeze``), so
    later collections never scan the preloaded cache again.
    """
    spec = json.loads(str(arg)) if not isinstance(arg, dict) else arg
    count, seq = int(spec["count"]), int(spec.get("seq", 1))
    units = int(spec.get("lifetime", 1000))
    rcoa0, lcoa0 = int.from_bytes(ip6(spec["rcoa"]), "big"), int.from_bytes(ip6(spec["lcoa"]), "big")
    iface = str(spec.get("iface", core.config.home_iface))
    dst = core.config.address
    statuses: dict[str, int] = {}
    added: list[BindingAdded] = []
    other_sends = 0
    started = time.monotonic()
    saved = core.config
    core.config = dataclasses.replace(saved, dad="off")
    collecting = gc.isenabled()
    gc.disable()
    try:
        for i in range(count):
            packet = Packet((lcoa0 + i).to_bytes(16, "big"), dst, BindingUpdate(seq, BU_A | BU_M, units),
                            home_address=(rcoa0 + i).to_bytes(16, "big"))
            for action in core.handle(now, iface, packet):
                if isinstance(action, BindingAdded):
                    added.append(action)
                elif isinstance(action, Send):
                    if isinstance(action.packet.payload, BindingAcknowledgement):
                        key = str(action.packet.payload.status)
                        statuses[key] = statuses.get(key, 0) + 1
                    else:
                        other_sends += 1
    finally:
        core.config = saved
        if collecting:
            gc.enable()
    handled = time.monotonic()
    gc.collect()
    collected = time.monotonic()
    gc.freeze()
    before_plane = rss_kb()
    if type(plane) is TunnelPlane:
        try:
            table.rebuild([fmt(r) for r in core.cache.bindings])
        except NftError as exc:
            return {"ok": False, "error": str(exc).splitlines()[0]}
    else:
        for action in added:
            plane.on_action(action)
    done = time.monotonic()
    summary = {"count": count, "ba_statuses": statuses, "bindings_added": len(added), "unsent_other": other_sends,
               "bindings": len(core.cache), "core_s": round(handled - started, 3),
               "gc_full_ms": round(1e3 * (collected - handled), 1), "dataplane_s": round(done - collected, 3),
               "rss_before_dataplane_kb": before_plane, "rss_kb": rss_kb()}
    log("preloaded", **summary)
    return {"ok": True, **summary}


if __name__ == "__main__":
    raise SystemExit(main())
