"""Keep the access routers of the virtual testbed from resolving thousands of emulated LCoAs.

The MAP routes BAs and tunnelled packets for an LCoA to that LCoA's access router, which would solicit each LCoA
on its access link.  The host's IPv6 neighbour table is one table for every network namespace (gc_thresh3, 1024
entries by default): ten thousand unanswered solicitations would overflow it for every testbed on the machine.
The tester reads BAs on the MAP's link (its port sees every frame there), so on the virtual testbed each access
router of the MAP's domain drops, before routing, packets to the bulk LCoA range (:meth:`AddressPlan.bulk_ranges`)
-- an nftables table in its namespace, removed at the end.  The sampled mobile nodes' LCoAs lie outside that
range: the tester answers Neighbor Solicitations for them on the access links and checks their traffic there.

A lab's access routers are real devices: nothing is installed there (their neighbour caches must hold the fleet,
or the BAs are lost beyond the MAP's link, which the measurement does not need).
"""

from __future__ import annotations

import subprocess

TABLE = "hm6load"


def _nft(ns: str, script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script, text=True,
                          capture_output=True)


def install(tb, routers: list[str], ranges: list[str]) -> list[str]:
    """Install the drop on each router of a netns testbed; returns the routers guarded (none on a lab)."""
    if getattr(tb.spec, "backend", None) != "netns":
        return []
    # one statement per line: nft rejects some rulesets given on a single line (PLATFORM.md)
    script = (f"table ip6 {TABLE} {{\n  chain prerouting {{\n"
              "    type filter hook prerouting priority raw; policy accept;\n"
              f"    ip6 daddr {{ {', '.join(ranges)} }} counter drop\n  }}\n}}\n")
    done = []
    for router in routers:
        ns = tb.netns_of(router)
        _nft(ns, f"delete table ip6 {TABLE}\n")  # a stale copy from an interrupted run on a reused testbed
        proc = _nft(ns, script)
        if proc.returncode != 0:
            remove(tb, done)
            raise RuntimeError(f"{router}: nft failed: {proc.stderr.strip()}")
        done.append(router)
    return done


def remove(tb, routers: list[str]) -> None:
    for router in routers:
        try:
            _nft(tb.netns_of(router), f"delete table ip6 {TABLE}\n")
        except Exception:  # noqa: BLE001 - the testbed may be going down already
            pass
