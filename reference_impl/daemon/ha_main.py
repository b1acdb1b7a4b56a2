"""``hmipv6-ha --config FILE``: the reference Mobile IPv6 home agent (RFC 6275 §10; base document §6.3: HMIPv6 is
transparent to it, the mobile node registers its RCoA as care-of address).

Shaped like ``hmipv6-map``: Binding Updates and Neighbor Solicitations/Advertisements of the home link go to the
:class:`~reference_impl.ha.core.HaCore` (home registrations, DAD, proxy ND, BAs); the data plane tunnels packets
for bound home addresses to their care-of addresses (RFC 2473, HA address as source) and forwards
reverse-tunnelled packets only when the outer source is the care-of address bound to the inner source (§10.4.5).
An nftables table ``ip6 hmipv6_ha`` keeps the kernel from answering Mobility Headers and IPv6-in-IPv6 sent to the
HA, and from forwarding packets to bound home addresses itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..ha.core import HaCore
from .config import ConfigError, ha_config, ha_interfaces, load_config
from .dataplane import DATA_PLANES, KernelSupportError, attach_plane, close_plane, flush_ip6tnl, open_table
from .linkio import LinkSocket
from .nft import NftError
from .runner import Daemon, open_log, signalling_filter

# the HA core's frames: Mobility Headers (Binding Updates), Neighbor Solicitations and Advertisements
_signalling = signalling_filter(protocols=frozenset({135}), icmp_types=frozenset({135, 136}))
TABLE = "hmipv6_ha"


def _open_links(path: str, names: list[str]) -> dict[str, LinkSocket]:
    links: dict[str, LinkSocket] = {}
    try:
        for name in names:
            try:
                links[name] = LinkSocket(name)
            except OSError as exc:
                raise ConfigError(path, f"ha: interface {name!r} (home_iface/listen): {exc.strerror or exc}") from None
    except ConfigError:
        for link in links.values():
            link.close()
        raise
    return links


def main(argv: list[str] | None = None, core_factory: Callable[..., HaCore] = HaCore) -> int:
    """Run the home agent.  ``core_factory`` exists for the project's own tests (deliberately broken cores)."""
    p = argparse.ArgumentParser(prog="hmipv6-ha", description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    args = p.parse_args(argv)
    try:
        cfg = load_config(args.config)
        if cfg.role != "ha":
            raise ConfigError(args.config, f"role is {cfg.role!r}, not 'ha'")
        data_plane = cfg.section.pop("data_plane", "userspace")
        if data_plane not in DATA_PLANES:
            raise ConfigError(args.config,
                              f"ha: data_plane must be 'userspace', 'seg6' or 'ip6tnl', got {data_plane!r}")
        links = _open_links(args.config, ha_interfaces(cfg))
        core_cfg = ha_config(cfg, {n: link.mac for n, link in links.items()})
    except ConfigError as exc:
        print(f"hmipv6-ha: {exc}", file=sys.stderr)
        return 2
    log = open_log("ha", cfg.log_file)
    core = core_factory(core_cfg)
    own = set(core_cfg.addresses)
    try:
        table = open_table(TABLE, own, data_plane)
    except (NftError, KernelSupportError) as exc:
        print(f"hmipv6-ha: {exc}", file=sys.stderr)
        return 2
    try:
        daemon = Daemon("ha", core, links, log, cfg.control_socket, _signalling)
    except OSError as exc:  # the control socket's directory is missing or not writable
        table.remove()
        if data_plane == "ip6tnl":
            flush_ip6tnl()
        print(f"hmipv6-ha: {args.config}: control_socket {cfg.control_socket}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    plane = attach_plane(daemon, data_plane, core, core_cfg.address, own, table, log, core_cfg.home_iface)
    if not core_cfg.proxy_nd:
        log("proxy_nd_off", effect="the daemon does not answer NS for bound home addresses: configure kernel "
                                   "proxy NDP (net.ipv6.conf.IF.proxy_ndp) for them")
    log("starting", config=args.config, edition=cfg.edition, address=core_cfg.address, dad=core_cfg.dad,
        data_plane=data_plane)
    try:
        daemon.run()
    finally:
        table.remove()
        close_plane(plane)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
