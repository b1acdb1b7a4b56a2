"""The daemon's nftables table: hand signalling and tunnelled traffic to userspace before the kernel sees it.

Without Mobile IPv6 (this host's kernel) the kernel answers a BU with a Home Address option, a BA with a
type 2 routing header and IPv6-in-IPv6 to a local address with ICMPv6 errors; with Mobile IPv6 built in
(Debian's kernel) it drops HAO/RH2 packets that have no xfrm state silently (docs/kernel-mip6.md).  AF_PACKET sees a frame before
netfilter, so a prerouting drop at raw priority leaves the daemon as its only consumer.  The table is
named per daemon and deleted (with any stale copy from a crashed run) at start and at exit.
"""

from __future__ import annotations

import subprocess


class NftError(RuntimeError):
    pass


def _nft(script: str) -> None:
    proc = subprocess.run(["nft", "-f", "-"], input=script, text=True, capture_output=True)
    if proc.returncode != 0:
        raise NftError(f"nft failed: {proc.stderr.strip()}\n--- script ---\n{script}")


def delete_table(name: str) -> bool:
    """Delete ``ip6 NAME`` if it exists; True if it did."""
    return subprocess.run(["nft", "delete", "table", "ip6", name], capture_output=True).returncode == 0


class Table:
    """``ip6 NAME`` with a set of own addresses and a set of addresses the daemon intercepts."""

    def __init__(self, name: str, own: list[str], l4protos: tuple[int, ...] = (41, 135),
                 first_headers: tuple[int, ...] = ()) -> None:
        """``l4protos``: upper-layer protocols to own addresses the daemon takes; ``first_headers``: also packets
        whose first next header is one of these (e.g. 43: a type 2 routing header the kernel would ignore and
        then answer the datagram inside with an ICMPv6 error)."""
        self.name, self.own, self.l4protos, self.first_headers = name, list(own), l4protos, first_headers
        self.rebuild([])

    def rebuild(self, intercepted: list[str]) -> None:
        """(Re)create the table from scratch, replacing any copy (a stale one from an earlier run)."""
        name, own = self.name, self.own
        delete_table(name)
        protos = ", ".join(str(p) for p in self.l4protos)
        elements = ", ".join(own)
        held = ", ".join(dict.fromkeys(intercepted))
        # one statement per line: nft rejects some rulesets given on a single line
        _nft(f"""table ip6 {name} {{
  set own {{
    type ipv6_addr
    {f'elements = {{ {elements} }}' if own else ''}
  }}
  set intercept {{
    type ipv6_addr
    {f'elements = {{ {held} }}' if intercepted else ''}
  }}
  chain prerouting {{
    type filter hook prerouting priority raw; policy accept;
    ip6 daddr @own meta l4proto {{ {protos} }} drop
    {f'ip6 daddr @own ip6 nexthdr {{ {", ".join(str(h) for h in self.first_headers)} }} drop' if self.first_headers else ''}
    ip6 daddr @intercept drop
  }}
}}
""")

    def add_own(self, address: str) -> None:
        """An address that became ours (kept across :meth:`rebuild`)."""
        if address not in self.own:
            self.own.append(address)
        _nft(f"add element ip6 {self.name} own {{ {address} }}\n")

    def remove_own(self, address: str) -> None:
        if address in self.own:
            self.own.remove(address)
        subprocess.run(["nft", "delete", "element", "ip6", self.name, "own", f"{{ {address} }}"], capture_output=True)

    def intercept(self, address: str) -> None:
        _nft(f"add element ip6 {self.name} intercept {{ {address} }}\n")

    def release(self, address: str) -> None:
        subprocess.run(["nft", "delete", "element", "ip6", self.name, "intercept", f"{{ {address} }}"],
                       capture_output=True)

    def remove(self) -> None:
        delete_table(self.name)
