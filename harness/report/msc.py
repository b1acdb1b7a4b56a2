"""Message sequence charts drawn from a test's evidence pcaps, as inline SVG for the HTML report.

:func:`arrows` keeps the signalling -- Mobility Header messages (plain or IPv6-in-IPv6), Router Solicitations,
Router Advertisements carrying a MAP option, ICMPv6 errors, DAD Neighbor Solicitations -- and every frame a check
point judged; one message seen on several links becomes one :class:`Arrow`.  :func:`render_svg` draws them: a
column per node, a row per message.

Frames are pre-filtered on their raw bytes, so only candidates reach scapy (interop captures hold tens of thousands
of data packets).  A message cut short (IPv6 payload length beyond the captured bytes) or that scapy cannot read is
shown with fields ``malformed (...)``; a frame too short to show its message type is skipped, and so is the
unreadable tail of a pcap written by a killed run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import itertools
import struct
from collections.abc import Iterator, Mapping, Sequence
from html import escape as _e  # quotes too: safe in attributes
from pathlib import Path
from typing import Any

from harness.tester import packets, pcap

__all__ = ["Arrow", "arrows", "chart", "render_svg"]

MERGE_WINDOW = 0.2  # s: sightings of one message on several links
JUDGED_TOLERANCE = 1e-6  # s: a check point's frame time against a capture time
_MH_KINDS = {0: "BRR", 1: "HoTI", 2: "CoTI", 3: "HoT", 4: "CoT", 5: "BU", 6: "BA", 7: "BE"}
_ICMP_KINDS = {128: "Echo Request", 129: "Echo Reply", 133: "RS", 134: "RA", 135: "NS", 136: "NA", 137: "Redirect"}
_ICMP_ERRORS = {1: "Destination Unreachable", 2: "Packet Too Big", 3: "Time Exceeded", 4: "Parameter Problem"}
_PROTOS = {6: "TCP", 17: "UDP", 50: "ESP", 59: "No Next Header"}
_EXT_HEADERS = (0, 43, 60, 51)  # hop-by-hop, routing, destination options, AH
_MULTICAST = {"ff02::1": "all nodes", "ff02::2": "all routers", "ff02::16": "all MLDv2 routers"}


@dataclasses.dataclass(frozen=True)
class Arrow:
    """One message, with every link it was seen on.

    ``links`` are in path order: highest hop limit (of the inner header) first, then capture time -- the tester
    time-stamps the frames it sends itself after sending them, so they can look later than their forwarded copies."""

    time: float  # capture time of the first sighting (epoch seconds)
    links: tuple[str, ...]
    src: str  # column label of the sender (inner header when tunnelled)
    dst: str
    kind: str  # "BU", "BA", "RA", "NS", "ICMPv6 error", "Echo Request", "UDP", ...
    fields: str  # decoded key fields
    tunnel: str | None  # "outer-src -> outer-dst" (labels) when seen IPv6-in-IPv6
    judged: tuple[str, ...]  # requirement IDs of the check points that judged one of its frames


@dataclasses.dataclass
class _Scan:
    """What the raw bytes say: the innermost upper-layer protocol and its message type, and (src, dst, hop limit)
    of each IPv6 header, outermost first."""

    proto: int
    mtype: int | None
    headers: list[tuple[bytes, bytes, int]]
    truncated: bool


def _scan(frame: bytes) -> _Scan | None:
    off, etype = 14, frame[12:14]
    if etype == b"\x81\x00":  # 802.1Q
        off, etype = 18, frame[16:18]
    if etype != b"\x86\xdd":
        return None
    headers: list[tuple[bytes, bytes, int]] = []
    end = None
    while True:
        if len(frame) < off + 40:
            return None
        if end is None:
            end = off + 40 + struct.unpack_from("!H", frame, off + 4)[0]
        nh = frame[off + 6]
        headers.append((frame[off + 8:off + 24], frame[off + 24:off + 40], frame[off + 7]))
        off += 40
        while nh in _EXT_HEADERS and len(frame) >= off + 2:
            nh, off = frame[off], off + ((frame[off + 1] + 2) * 4 if nh == 51 else (frame[off + 1] + 1) * 8)
        if nh != 41:
            break
    mtype = None
    if nh in (135, 58):
        at = off + 2 if nh == 135 else off
        if len(frame) <= at:
            return None
        mtype = frame[at]
    truncated = end > len(frame) or (nh == 135 and off + (frame[off + 1] + 1) * 8 > len(frame))
    return _Scan(nh, mtype, headers, truncated)


def _wanted(scan: _Scan) -> bool:
    """Signalling worth an arrow even when unjudged (RAs are checked for a MAP option after decoding)."""
    if scan.proto == 135:
        return True
    if scan.proto != 58 or scan.mtype is None:
        return False
    return scan.mtype < 128 or scan.mtype in (133, 134) or (scan.mtype == 135 and scan.headers[-1][0] == bytes(16))


def _kind(scan: _Scan) -> str:
    if scan.proto == 135:
        return _MH_KINDS.get(scan.mtype, f"MH type {scan.mtype}")
    if scan.proto == 58:
        return "ICMPv6 error" if scan.mtype < 128 else _ICMP_KINDS.get(scan.mtype, f"ICMPv6 type {scan.mtype}")
    return _PROTOS.get(scan.proto, f"IPv6 next header {scan.proto}")


def _letters(flags: Any, names: str) -> str:
    return " ".join(c for c in names if getattr(flags, c))


def _fields(kind: str, inner: Any, msg: Any) -> tuple[str, bool]:
    """(key fields, shown even when unjudged) of the message layer ``msg`` under the innermost IPv6 ``inner``."""
    if kind == "BU":
        hao = inner.getlayer(packets.HAO)
        return _join(f"seq={msg.seq}", _letters(msg.flags, "AHLKMRP"), f"lifetime={msg.mhtime * 4} s",
                     f"HAO {hao.hoa}" if hao is not None else ""), True
    if kind == "BA":
        rh = inner.getlayer(packets.IPv6ExtHdrRouting)
        rh2 = f"RH2 {rh.addresses[0]}" if rh is not None and rh.type == 2 and rh.addresses else ""
        status = f"status={msg.status} ({'accepted' if msg.status < 128 else 'rejected'})"
        return _join(status, f"seq={msg.seq}", _letters(msg.flags, "KRP"), f"lifetime={msg.mhtime * 4} s", rh2), True
    if kind == "BE":
        return f"status={msg.status} HoA {msg.ha}", True
    if kind in ("HoT", "CoT"):
        return f"nonce index={msg.index}", True
    if kind == "RA":
        maps = [f"MAP {o.addr} dist={o.dist} pref={o.pref}{' R' if o.R else ''} lifetime={o.validlifetime}"
                for o in msg.iterpayloads() if isinstance(o, packets.ICMPv6NDOptMAP)]
        return ", ".join([*maps, f"router lifetime={msg.routerlifetime}"]), bool(maps)
    if kind == "RS":
        slla = msg.getlayer(packets.ICMPv6NDOptSrcLLAddr)
        return (f"SLLA {slla.lladdr}" if slla is not None else ""), True
    if kind in ("NS", "NA"):
        flags = " " + _letters(msg, "RSO") if kind == "NA" else ""
        return f"target {msg.tgt}{flags}".rstrip(), kind == "NS"  # only DAD NSs get here unjudged
    if kind == "ICMPv6 error":
        extra = {2: f" mtu={getattr(msg, 'mtu', '?')}", 4: f" ptr={getattr(msg, 'ptr', '?')}"}.get(msg.type, "")
        return f"{_ICMP_ERRORS.get(msg.type, f'type {msg.type}')} code={msg.code}{extra}", True
    if kind in ("Echo Request", "Echo Reply"):
        return f"id={msg.id:#x} seq={msg.seq}", False
    if kind in ("UDP", "TCP"):
        return f"port {msg.sport} -> {msg.dport}", False
    return "", kind.startswith("MH type") or kind in _MH_KINDS.values()


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _describe(scan: _Scan, data: bytes) -> tuple[str, str, bool]:
    """(kind, fields, shown even when unjudged)."""
    kind = _kind(scan)
    if scan.truncated:
        return kind, "malformed (truncated)", True
    try:
        inner = packets.innermost(packets.decode(data))
        msg = next(lay for lay in inner.payload.iterpayloads() if not type(lay).__name__.startswith("IPv6ExtHdr"))
        return (kind, *_fields(kind, inner, msg))
    except Exception:  # noqa: BLE001 -- scapy fails on odd bytes in many unlisted ways
        return kind, "malformed (undecodable)", True


class _Labels:
    """Column labels: node names from the address book, else a description of the address."""

    def __init__(self, addresses: Mapping[str, Any] | None) -> None:
        book = addresses or {}
        self.nodes: dict[ipaddress.IPv6Address, str] = {}
        for text, name in (book.get("nodes") or {}).items():
            with contextlib.suppress(ValueError):
                self.nodes[ipaddress.IPv6Address(text)] = str(name)
        self.links: list[tuple[ipaddress.IPv6Network, str]] = []
        for link, prefix in (book.get("links") or {}).items():
            with contextlib.suppress(ValueError):
                self.links.append((ipaddress.IPv6Network(prefix, strict=False), link))
        self.links.sort(key=lambda entry: -entry[0].prefixlen)  # longest prefix first

    def __call__(self, text: str, link: str) -> str:
        try:
            address = ipaddress.IPv6Address(text)
        except ValueError:
            return text
        if address in self.nodes:
            return self.nodes[address]
        if address.is_multicast:
            name = _MULTICAST.get(str(address))
            return f"{address} ({name})" if name else str(address)
        if address.is_link_local:
            return f"{address} ({link})"
        for net, name in self.links:
            if address in net:
                return f"{name} host {ipaddress.IPv6Address(int(address) & int(net.hostmask))}"
        return str(address)


@dataclasses.dataclass
class _Pending:
    key: tuple[str, str, str, str]
    time: float
    src: str
    dst: str
    tunnel: str | None
    sightings: list[tuple[int, float, str]]  # (-hop limit, time, link)
    judged: list[str]


def _frames(path: Path) -> Iterator[tuple[float, bytes]]:
    try:
        yield from pcap.read(path)
    except (OSError, ValueError, struct.error):  # missing, not a pcap, or cut short by a killed run
        return


def _non_ipv6(data: bytes) -> tuple[str, str, str]:
    try:
        eth = packets.decode(data)
        return eth.payload.name or "frame", eth.src, eth.dst
    except Exception:  # noqa: BLE001 -- as in _describe
        return "malformed frame", "?", "?"


def _marks(judged: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[float, str]]]:
    marks: dict[str, list[tuple[float, str]]] = {}
    for check in judged:
        frame = check.get("frame") or {}
        with contextlib.suppress(KeyError, TypeError, ValueError):
            marks.setdefault(str(frame["link"]), []).append((float(frame["time"]), str(check.get("requirement", "?"))))
    return marks


def arrows(pcaps: Mapping[str, Path], addresses: Mapping[str, Any] | None = None,
           judged: Sequence[Mapping[str, Any]] = (), limit: int = 150) -> tuple[list[Arrow], int]:
    """(arrows in time order, how many were left out: beyond ``limit``, or periodic RAs repeating the last one of
    their router); judged arrows are always kept."""
    marks = _marks(judged)
    found = []
    for link, path in pcaps.items():
        for t, data in _frames(Path(path)):
            scan = _scan(data)
            reqs = [req for when, req in marks.get(link, ()) if abs(when - t) <= JUDGED_TOLERANCE]
            if reqs or (scan is not None and _wanted(scan)):
                found.append((t, link, data, scan, reqs))
    found.sort(key=lambda f: f[0])
    label = _Labels(addresses)
    pending: list[_Pending] = []
    by_key: dict[tuple[str, str, str, str], list[_Pending]] = {}
    for t, link, data, scan, reqs in found:
        if scan is None:  # a judged frame that is not (readable) IPv6: labelled by its MAC addresses
            kind, src, dst = _non_ipv6(data)
            fields, shown, hlim, tunnel = "", True, 0, None
        else:
            kind, fields, shown = _describe(scan, data)
            (src_b, dst_b, hlim), outer = scan.headers[-1], scan.headers[0]
            src, dst = str(ipaddress.IPv6Address(src_b)), str(ipaddress.IPv6Address(dst_b))
            tunnel = None if len(scan.headers) == 1 else " -> ".join(
                label(str(ipaddress.IPv6Address(a)), link) for a in outer[:2])
        if not (shown or reqs):
            continue
        key = (kind, src, dst, fields)
        recent = itertools.takewhile(lambda p, t=t: t - p.time <= MERGE_WINDOW, reversed(by_key.get(key, [])))
        match = next((p for p in recent if link not in (s[2] for s in p.sightings)), None)
        if match is None:
            match = _Pending(key, t, label(src, link), label(dst, link), tunnel, [], [])
            pending.append(match)
            by_key.setdefault(key, []).append(match)
        match.sightings.append((-hlim, t, link))
        match.tunnel = match.tunnel or tunnel
        match.judged += [r for r in reqs if r not in match.judged]
    # a periodic RA identical to the last one its router sent on that path says nothing new (an interop run's
    # captures hold hundreds): left out unless judged; a changed RA (a MAP option withdrawn, restored) is kept
    last_ra: dict[tuple[str, str], str] = {}
    shown = []
    for p in pending:
        if p.key[0] == "RA" and not p.judged:
            if last_ra.get((p.src, p.dst)) == p.key[3]:
                continue
            last_ra[(p.src, p.dst)] = p.key[3]
        shown.append(p)
    keep = [p for p in shown if p.judged]
    keep += [p for p in shown if not p.judged][:max(0, limit - len(keep))]
    keep.sort(key=lambda p: p.time)
    out = [Arrow(p.time, tuple(s[2] for s in sorted(p.sightings)), p.src, p.dst, p.key[0], p.key[3], p.tunnel,
                 tuple(p.judged)) for p in keep]
    return out, len(pending) - len(keep)


_COL_W, _MARGIN, _TOP, _ROW_H, _CHAR_W = 190, 120, 46, 36, 6.2


def _n(v: float) -> str:
    return f"{v:.1f}".removesuffix(".0")


def _svg(width: float, height: float, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="msc" width="{_n(width)}" height="{_n(height)}" '
            f'viewBox="0 0 {_n(width)} {_n(height)}" font-family="sans-serif" font-size="11">'
            f'<rect width="100%" height="100%" fill="#fff"/>{"".join(body)}</svg>')


def _label_text(a: Arrow) -> str:
    return _join(a.kind, a.fields, f"[tunnel {a.tunnel}]" if a.tunnel else "")


def _header(label: str, x: float) -> str:
    cut = label.rfind(" ", 0, 25) if len(label) > 24 else -1  # long labels on two lines
    lines = [label[:cut], label[cut + 1:]] if cut > 0 else [label]
    spans = "".join(f'<tspan x="{_n(x)}" dy="{0 if i == 0 else 13}">{_e(line)}</tspan>' for i, line in enumerate(lines))
    return f'<text x="{_n(x)}" y="16" text-anchor="middle" font-weight="bold">{spans}</text>'


def _arrow(a: Arrow, x1: float, x2: float, y: float, t0: float, width: float) -> str:
    colour, stroke_w = ("#c0392b", 2.5) if a.judged else ("#222", 1.2)
    dash = ' stroke-dasharray="6 3"' if a.tunnel else ""
    stroke = f'stroke="{colour}" stroke-width="{stroke_w}"{dash} fill="none"'
    text = _label_text(a)
    if x1 == x2:  # a message to itself: a small loop on the right of the lifeline
        shaft = f'<path class="shaft" d="M{_n(x1)} {_n(y - 8)} h30 v14 h-30" {stroke}/>'
        head = f"{_n(x1)},{_n(y + 6)} {_n(x1 + 8)},{_n(y + 2)} {_n(x1 + 8)},{_n(y + 10)}"
        centre = x1 + 34 + _CHAR_W * len(text) / 2
    else:
        shaft = f'<line class="shaft" x1="{_n(x1)}" y1="{_n(y)}" x2="{_n(x2)}" y2="{_n(y)}" {stroke}/>'
        d = 8 if x2 > x1 else -8
        head = f"{_n(x2)},{_n(y)} {_n(x2 - d)},{_n(y - 4)} {_n(x2 - d)},{_n(y + 4)}"
        centre = (x1 + x2) / 2
    half = _CHAR_W * len(text) / 2
    centre = min(max(centre, _MARGIN + half), width - half - 4)
    title = f"{text}\n{a.src} -> {a.dst} on {', '.join(a.links)}"
    if a.judged:
        title += "\njudged by " + ", ".join(a.judged)
    attrs = (f'class="arrow{" judged" if a.judged else ""}" data-kind="{_e(a.kind)}" data-src="{_e(a.src)}" '
             f'data-dst="{_e(a.dst)}" data-time="{a.time:.6f}" data-links="{_e(",".join(a.links))}"'
             + (f' data-judged="{_e(" ".join(a.judged))}"' if a.judged else ""))
    return (f'<g {attrs}><title>{_e(title)}</title>{shaft}<polygon points="{head}" fill="{colour}"/>'
            f'<text class="label" x="{_n(centre)}" y="{_n(y - 6)}" text-anchor="middle" fill="{colour}" '
            f'stroke="#fff" stroke-width="3" paint-order="stroke">{_e(text)}</text>'
            f'<text class="when" x="4" y="{_n(y - 4)}" font-size="10" fill="#555">+{a.time - t0:.3f} s</text>'
            f'<text class="links" x="4" y="{_n(y + 9)}" font-size="10" fill="#555">{_e(",".join(a.links))}</text></g>')


def render_svg(arrows: Sequence[Arrow], omitted: int = 0) -> str:
    """A self-contained ``<svg class="msc">`` (no external fonts, CSS or scripts): a column per node label, a row per
    arrow (``<g class="arrow" data-kind data-src data-dst ...>``); tunnelled messages dashed, judged ones red and thick
    with their requirement IDs in the ``<title>`` tooltip."""
    notes = []
    if omitted:
        notes.append(f"{omitted} more message(s) not shown")
    if not arrows:
        body = [f'<text x="10" y="{20 + 16 * i}">{_e(line)}</text>'
                for i, line in enumerate(["no signalling captured", *notes])]
        return _svg(320, 30 + 16 * len(notes), body)
    columns: list[str] = []
    for a in arrows:
        columns += [label for label in (a.src, a.dst) if label not in columns]
    xs = {label: _MARGIN + _COL_W * (i + 0.5) for i, label in enumerate(columns)}
    widest = max(_CHAR_W * len(_label_text(a)) + (34 if a.src == a.dst else 0) for a in arrows)
    width = max(_MARGIN + _COL_W * len(columns) + 10, _MARGIN + widest + 10)
    bottom = _TOP + _ROW_H * len(arrows) + 12
    notes.append("dashed: IPv6-in-IPv6; red: judged by a check point (hover for its requirements)")
    height = bottom + 16 * len(notes) + 4
    body = []
    for label, x in xs.items():
        body.append(f'<g class="column" data-label="{_e(label)}">{_header(label, x)}<line class="lifeline" '
                    f'x1="{_n(x)}" y1="{_TOP - 8}" x2="{_n(x)}" y2="{_n(bottom)}" stroke="#999" stroke-width="1"/></g>')
    t0 = min(a.time for a in arrows)
    for i, a in enumerate(arrows):
        body.append(_arrow(a, xs[a.src], xs[a.dst], _TOP + _ROW_H * (i + 0.5) + 6, t0, width))
    body += [f'<text class="note" x="4" y="{_n(bottom + 14 + 16 * i)}" font-size="10" fill="#555">{_e(note)}</text>'
             for i, note in enumerate(notes)]
    return _svg(width, height, body)


def chart(pcaps: Mapping[str, Path], addresses: Mapping[str, Any] | None = None,
          judged: Sequence[Mapping[str, Any]] = (), limit: int = 150) -> str:
    """The chart of a test's pcaps: ``render_svg(*arrows(...))``."""
    return render_svg(*arrows(pcaps, addresses, judged, limit))
