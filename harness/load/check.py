"""Is traffic to a sampled RCoA really tunnelled to that mobile node's current LCoA?  Judged by the tester alone.

The tester plays a correspondent on another link of the MAP (the core): it sends UDP with a random token to each
sampled RCoA, addressed to the MAP's MAC there.  On the access links it answers Neighbor Solicitations for the
sampled LCoAs for the whole run (their access router forwards BAs and the tunnel to them), captures, and parses
with scapy (:mod:`harness.tester`, never the reference codec): a sample passes when a frame carrying its token
arrives on its LCoA's access link as IPv6-in-IPv6 with outer source = the MAP, outer destination = the current LCoA
and inner destination = the RCoA.  The LCoAs a sampled node left are still answered for, so that a copy the MAP
still tunnels there reaches the tester: such copies are counted as misdirected.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import time

from harness.tester import NoProtection, Tester
from harness.tester.packets import UDP, Ether, IPv6, ipv6_layers
from scapy.packet import Raw


@dataclasses.dataclass
class Probe:
    index: int  # the mobile node
    rcoa: str
    lcoa: str  # expected outer destination
    link: str  # the access link of that LCoA
    old_lcoa: str | None = None  # before its last move
    ok: bool = False
    misdirected: int = 0
    attempts: int = 0
    outer_src: str | None = None
    seen_dst: list[str] = dataclasses.field(default_factory=list)


def same(a: str, b: str) -> bool:
    return ipaddress.IPv6Address(a) == ipaddress.IPv6Address(b)


def cn_source(prefix: ipaddress.IPv6Network, tag: int) -> str:
    return str(prefix.network_address + ((0x5E << 32) | (tag << 8) | 1))


class TunnelCheck:
    """The tester's ports on the correspondent link and the access links, open for the whole run."""

    def __init__(self, tb, target, tag: int) -> None:
        self.target = target
        self.links = [link for link in dict.fromkeys(target.lcoa_links) if link]
        self.tester = Tester(tb, links=[target.cn_link, *self.links], protection=NoProtection())
        self.source = cn_source(tb.spec.links[target.cn_link].prefix, tag)

    def claim(self, link: str, lcoa: str) -> None:
        """Answer Neighbor Solicitations for ``lcoa`` on ``link`` from now on (a sampled node's LCoA)."""
        if link in self.tester.ports:
            self.tester.impersonate(link, lcoa)

    def run(self, probes: list[Probe], timeout: float = 2.0, attempts: int = 3) -> list[Probe]:
        """Send, capture and judge every probe (up to ``attempts`` rounds for those not seen); returns ``probes``."""
        tester, target = self.tester, self.target
        src_mac = tester.mac(target.cn_link)
        self.tester.capture.trim(self.tester.mark())  # the run's earlier frames are not needed
        for _ in range(attempts):
            pending = [p for p in probes if not p.ok and p.link in tester.ports]
            if not pending:
                break
            mark = tester.mark()
            tokens: dict[bytes, Probe] = {}
            for k, p in enumerate(pending):
                token = b"hmipv6ct-load " + os.urandom(8).hex().encode()
                tokens[token] = p
                p.attempts += 1
                tester.send(target.cn_link, Ether(dst=target.cn_mac, src=src_mac)
                            / IPv6(src=self.source, dst=p.rcoa, hlim=64) / UDP(sport=40000 + k % 1000, dport=9)
                            / Raw(token))
            deadline = time.monotonic() + timeout
            for token, p in tokens.items():
                frame = tester.wait_for(lambda f, token=token, link=p.link: f.link == link and token in f.data,
                                        max(0.0, deadline - time.monotonic()), mark, [p.link])
                if frame is not None:
                    _judge(p, frame, target.map_address)
            # every copy of this round's tokens: one toward another LCoA (the one before a move) is misdirected
            tester.capture.flush(0.2)
            for f in tester.frames(mark, self.links):
                if f.outgoing:
                    continue
                for token, p in tokens.items():
                    if token in f.data:
                        layers = ipv6_layers(f.pkt)
                        if layers and not same(layers[0].dst, p.lcoa):
                            p.misdirected += 1
                            p.seen_dst.append(layers[0].dst)
        return probes

    def close(self) -> None:
        self.tester.close()


def _judge(p: Probe, frame, map_address: str) -> None:
    layers = ipv6_layers(frame.pkt)
    if len(layers) < 2:
        p.seen_dst.append(f"not tunnelled ({layers[0].dst if layers else '?'})")
        return
    outer, inner = layers[0], layers[1]
    p.outer_src = outer.src
    p.ok = same(outer.src, map_address) and same(outer.dst, p.lcoa) and same(inner.dst, p.rcoa)
    if not p.ok:
        p.seen_dst.append(outer.dst)
