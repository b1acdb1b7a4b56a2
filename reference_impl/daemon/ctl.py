"""``hmipv6-ctl``: show or steer a running reference daemon through its control socket.

    hmipv6-ctl --config FILE show                 # state as JSON (binding cache, options, timers)
    hmipv6-ctl --config FILE set-preference 0     # MAP: preference for new bindings (0 = none)
    hmipv6-ctl --config FILE map-down ADDRESS     # AR: advertise that MAP with valid lifetime 0 (§10)
    hmipv6-ctl --config FILE map-up ADDRESS       # AR: undo map-down
    hmipv6-ctl --config FILE map-readdress "OLD NEW"   # AR: advertise a configured MAP under a new address
    hmipv6-ctl --config FILE add-correspondent ADDRESS # MN: start route optimisation with a correspondent
    hmipv6-ctl --config FILE forget-nonces        # CN: drop its return-routability nonces
    hmipv6-ctl --config FILE sa-add JSON          # MAP: install a manually keyed SA pair (refused: null auth)
"""

from __future__ import annotations

import argparse
import json
import sys

from .config import load_config
from .control import request


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hmipv6-ctl", description=__doc__.splitlines()[0])
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--config", help="the daemon's configuration file (names its control socket)")
    target.add_argument("--socket", help="the control socket itself")
    p.add_argument("command", choices=("show", "set-preference", "map-down", "map-up", "map-readdress",
                                       "add-correspondent", "forget-nonces", "sa-add"))
    p.add_argument("argument", nargs="?")
    args = p.parse_args(argv)
    path = args.socket or load_config(args.config).control_socket
    command: dict[str, object] = {"cmd": args.command}
    if args.command not in ("show", "forget-nonces"):
        if args.argument is None:
            p.error(f"{args.command} needs an argument")
    if args.argument is not None:
        command["arg"] = args.argument
    try:
        reply = request(path, command)
    except OSError as exc:
        print(f"hmipv6-ctl: cannot reach the daemon at {path}: {exc}", file=sys.stderr)
        return 2
    json.dump(reply, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0 if reply.get("ok", True) else 1


if __name__ == "__main__":
    raise SystemExit(main())
