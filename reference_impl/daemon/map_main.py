"""``hmipv6-map --config FILE``: the reference Mobility Anchor Point."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from ..map.core import MapCore
from ..security import IpsecSecurity, SaPair
from .config import ConfigError, load_config, map_config, signalling_security
from .advertiser import MapWithAdvertiser, advertiser
from .dataplane import DATA_PLANES, KernelSupportError, attach_plane, close_plane, flush_ip6tnl, open_table
from .linkio import LinkSocket
from .nft import NftError
from .runner import Daemon, open_log, signalling_filter

# the MAP core's frames: Mobility Headers, Neighbor Solicitations and Advertisements
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


if __name__ == "__main__":
    raise SystemExit(main())
