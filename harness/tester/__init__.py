"""The tester: an independent node with a quiet port on every link it must watch or drive.

It crafts and parses with scapy (never with the reference implementation's codec), sends
raw frames, captures everything on its ports continuously, waits for packets matching a
predicate with a deadline, writes evidence pcaps, and can impersonate any node's address on
a link (answering Neighbor Solicitations for it) while its own interfaces stay silent.
Every Mobility Header it sends or receives passes through :mod:`.protection`.
"""

from __future__ import annotations

import time

import threading
from collections.abc import Iterable
from pathlib import Path

from harness.errors import CaptureError
from harness.tester import packets
from harness.tester.capture import Capture, Frame, Predicate
from harness.tester.port import Port
from harness.tester.protection import AUTO, MhProtection, NoProtection, for_testbed
from harness.verdicts import Inconclusive

__all__ = ["AUTO", "Capture", "Frame", "Predicate", "Tester", "MhProtection", "NoProtection"]


class _Layered:
    """A frame seen from one of its tunnel layers: ``.pkt`` is that IPv6 header and what it carries."""

    def __init__(self, frame: Frame, layer: int) -> None:
        self.frame, self.layer = frame, layer
        self.link, self.time, self.outgoing = frame.link, frame.time, frame.outgoing

    @property
    def pkt(self):
        layers = packets.ipv6_layers(self.frame.pkt)
        return layers[self.layer] if layers else self.frame.pkt

class Tester:
    """Ports on ``links`` of a testbed backend, a capture over all of them, and impersonation."""

    __test__ = False  # not a pytest test class

    def __init__(self, backend, links: Iterable[str] | None = None,
                 protection: MhProtection | None = None) -> None:
        tester = backend.spec.tester
        if tester is None:
            raise CaptureError(f"testbed {backend.spec.name!r} has no tester node")
        if links is None:
            links = [iface.link for iface in tester.interfaces.values()]
        security = getattr(backend.spec, "security", None)  # None: a bare backend (no testbed file), no IPsec
        self.protection: MhProtection = protection or (for_testbed(security) if security is not None
                                                       else NoProtection())
        self.ports: dict[str, Port] = {}
        try:
            for link in links:
                ns, ifname = backend.tester_port(link)
                self.ports[link] = Port(link, ns, ifname)
        except BaseException:
            self.close()
            raise
        self._claims: dict[str, dict[str, tuple[str, bool]]] = {}  # link -> {ip: (mac, router)}
        self._lock = threading.Lock()
        self.capture = Capture(self.ports.values(), self._decode, self._respond)

    # -- sending -------------------------------------------------------------------
    def send(self, link: str, frame, sa: str | None = AUTO) -> None:
        """Send an Ethernet frame (scapy packet or bytes) on ``link``.

        A frame carrying a Mobility Header is passed through the protection seam first: ``sa`` names the IPsec SA
        pair to protect it with (None: send it unprotected; AUTO: the seam's choice, see
        :class:`~harness.tester.protection.IpsecProtection`).  Bytes already protected go out unchanged.
        """
        port = self._port(link)
        pkt = frame if not isinstance(frame, (bytes, bytearray)) else packets.Ether(bytes(frame))
        if packets.IPv6 in pkt and self._carries_mh(pkt):
            eth = pkt.copy()
            ip_bytes = self.protection.protect(bytes(eth[packets.IPv6]), sa)
            data = bytes(eth)[: len(bytes(eth)) - len(bytes(eth[packets.IPv6]))] + ip_bytes
        else:
            data = bytes(pkt)
        port.send(data)
        self.capture.record_sent(link, data)

    def mac(self, link: str) -> str:
        return packets.mac_str(self._port(link).mac)

    # -- receiving -----------------------------------------------------------------
    def mark(self) -> int:
        return self.capture.mark()

    def wait_for(self, predicate: Predicate, timeout: float, since: int | None = None,
                 links: Iterable[str] | None = None) -> Frame | None:
        """First frame (not sent by the tester) matching ``predicate`` before the deadline, else None."""
        return self.capture.wait_for(predicate, timeout, since, links)

    def absent(self, predicate: Predicate, window: float, alive: Predicate, links: Iterable[str] | None = None,
               since: int | None = None) -> Frame | None:
        """A negative judgement: the offending frame if one matching ``predicate`` appeared within ``window``
        (also inside IPv6-in-IPv6: the predicate is tried on every tunnel layer), else None.

        Raises :class:`~harness.verdicts.Inconclusive` unless a frame matching ``alive`` was captured in the
        same window, proving the capture was working while nothing was seen.  Choose ``window`` of at least
        one retransmission interval of what must not appear.
        """
        start = self.mark() if since is None else since
        links = list(links) if links is not None else None
        hit = self.capture.wait_for(lambda f: any(predicate(_Layered(f, layer)) for layer in
                                                  range(len(packets.ipv6_layers(f.pkt)) or 1)),
                                    window, start, links)
        if hit is not None:
            return hit
        proof = self.capture.wait_for(alive, 0, start, links)
        if proof is None:
            raise Inconclusive(f"no frame proved the capture alive during the {window:.2f} s window "
                               "of a negative judgement")
        return None

    def let_time_pass(self, until: float) -> None:
        """Return at wall-clock time ``until`` (captured frames carry wall-clock times): a protocol timer has to run
        out and there is nothing on the wire to wait for instead.  Counted with the protocol waits."""
        remaining = until - time.time()
        if remaining > 0:
            self.capture.wait_for(lambda f: False, remaining, links=())

    def frames(self, since: int = 0, links: Iterable[str] | None = None) -> list[Frame]:
        return self.capture.frames(since, links, outgoing=None)

    def save_pcaps(self, directory: Path, since: int = 0) -> list[Path]:
        return self.capture.save(directory, since)

    # -- impersonation -----------------------------------------------------------------
    def impersonate(self, link: str, address: str, mac: str | None = None, router: bool = False) -> str:
        """Answer Neighbor Solicitations for ``address`` on ``link``; return the MAC used."""
        mac = mac or self.mac(link)
        with self._lock:
            self._claims.setdefault(link, {})[address] = (mac, router)
        return mac

    def release(self, link: str | None = None, address: str | None = None) -> None:
        with self._lock:
            if link is None:
                self._claims.clear()
            elif address is None:
                self._claims.pop(link, None)
            else:
                self._claims.get(link, {}).pop(address, None)

    def _respond(self, frame: Frame, port: Port) -> None:
        claims = self._claims.get(frame.link)
        data = frame.data
        # fast byte check: IPv6, next header ICMPv6, type 135 (Neighbor Solicitation)
        if not claims or len(data) < 78 or data[12:14] != b"\x86\xdd" or data[20] != 58 or data[54] != 135:
            return
        ns = frame.pkt
        target = ns[packets.ICMPv6ND_NS].tgt
        claim = claims.get(target)
        if claim is not None:
            answer = packets.neighbor_advert(ns, claim[0], claim[1])
            port.send(answer)
            self.capture.record_sent(frame.link, answer)

    # -- the protection seam -----------------------------------------------------------
    @staticmethod
    def _carries_mh(pkt) -> bool:
        return any(isinstance(layer, packets.MobilityHeader) for layer in pkt.iterpayloads())

    def _decode(self, data: bytes):
        """scapy's view of a frame, with an ESP/AH-protected Mobility Header opened: ``pkt.ipsec`` says how it was
        protected (None: it was not); a frame that fails verification keeps its ESP/AH layer and is flagged
        ``pkt.unverified`` with the reason in ``pkt.ipsec_error``."""
        pkt = packets.decode(data)
        if len(data) < 54 or data[12:14] != b"\x86\xdd":  # the seam reads the frame's bytes, not scapy's rebuild
            return pkt
        ip = data[14:54 + int.from_bytes(data[18:20], "big")]  # without Ethernet padding
        opened = self.protection.unprotect(ip)
        if opened.error is not None:
            pkt.unverified = True  # failed verification: predicates see it flagged
            pkt.ipsec_error = opened.error
        elif opened.ipsec is not None:
            pkt = packets.Ether(data[:14] + opened.ipv6)
            pkt.ipsec = opened.ipsec
        return pkt

    def _port(self, link: str) -> Port:
        try:
            return self.ports[link]
        except KeyError:
            raise CaptureError(f"the tester has no port on link {link!r} (ports: {', '.join(self.ports)})") from None

    def close(self) -> None:
        capture = getattr(self, "capture", None)
        if capture is not None:
            capture.close()
        for port in self.ports.values():
            port.close()
