"""``hmipv6-ar --config FILE``: the reference HMIPv6 access router (RAs with MAP options, MAP failure detection)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..ar.core import ArCore
from ..wire import ip6
from .config import ConfigError, ar_config, load_config
from .linkio import LinkSocket
from .runner import Daemon, open_log, signalling_filter

# the AR core's frames: Router Solicitations and Advertisements, Echo Replies (MAP probes)
_signalling = signalling_filter(icmp_types=frozenset({129, 133, 134}))


def _old_new(arg: object) -> tuple[bytes, bytes]:
    """``map-readdress``'s argument: "OLD NEW" (or "OLD,NEW", or a two-element list) -> two addresses."""
    words = [str(w) for w in arg] if isinstance(arg, (list, tuple)) else str(arg or "").replace(",", " ").split()
    if len(words) != 2:
        raise ValueError(f"map-readdress needs two addresses, OLD NEW (got {arg!r})")
    return ip6(words[0]), ip6(words[1])


def main(argv: list[str] | None = None, core_factory: Callable[..., ArCore] = ArCore) -> int:
    """Run the AR.  ``core_factory`` exists for the project's own negative-control tests (see map_main)."""
    p = argparse.ArgumentParser(prog="hmipv6-ar", description=__doc__)
    p.add_argument("--config", required=True)
    args = p.parse_args(argv)
    try:
        cfg = load_config(args.config)
        if cfg.role != "ar":
            raise ConfigError(args.config, f"role is {cfg.role!r}, not 'ar'")
        links = {spec["name"]: LinkSocket(spec["name"]) for spec in cfg.section.get("interfaces", [])}
        core_cfg = ar_config(cfg, {n: link.mac for n, link in links.items()})
    except (ConfigError, OSError, KeyError) as exc:
        print(f"hmipv6-ar: {exc}", file=sys.stderr)
        return 2
    log = open_log("ar", cfg.log_file)
    core = core_factory(core_cfg, cfg.edition)
    daemon = Daemon("ar", core, links, log, cfg.control_socket, _signalling, commands={
        "map-down": lambda now, arg: core.force_map_down(now, ip6(str(arg))),
        "map-up": lambda now, arg: core.restore_map(now, ip6(str(arg))),
        "map-readdress": lambda now, arg: core.readdress_map(now, *_old_new(arg)),
    })
    log("starting", config=args.config, edition=cfg.edition)
    daemon.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
