"""A reference daemon started ahead of time: imports done, waiting to run.

    python -m reference_impl.daemon.standby map_main --config PATH

imports ``reference_impl.daemon.map_main`` (the interpreter and every module the daemon needs), then blocks until
a line arrives on standard input, and only then runs ``main(["--config", PATH])``: the configuration is read and
every socket, route and table is set up after the go, exactly as for a daemon started then.  A test harness that
restarts a daemon before every test keeps one in standby, so the restart costs no interpreter start-up.  End of
input without a line: exit 0 without running.
"""

from __future__ import annotations

import importlib
import sys

DAEMONS = ("map_main", "ar_main", "mn_main", "ha_main", "cn_main")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in DAEMONS:
        print(f"usage: python -m reference_impl.daemon.standby {{{','.join(DAEMONS)}}} DAEMON-ARGS...",
              file=sys.stderr)
        return 2
    module = importlib.import_module(f"reference_impl.daemon.{argv[0]}")
    if not sys.stdin.readline():
        return 0  # the harness went away or no longer needs this one
    sys.stdin.close()
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
