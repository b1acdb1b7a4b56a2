"""The tunnelling data planes of the MAP and the home agent: userspace (works on any Linux), RFC 2473 tunnels
on raw bytes; and two kernel paths for anchor -> care-of address (``seg6`` encap.red routes, ``ip6tnl``
flow-based tunnel routes), reverse tunnels still in userspace.

The same classes serve both roles; only the actions differ: the MAP core emits ``BindingAdded/Updated/
Removed`` keyed by the RCoA (tunnelled to the LCoA), the home agent core ``HaBindingAdded/Updated/Removed``
keyed by the home address (tunnelled to the care-of address).  :func:`binding_change` reads either.

Packets for a bound address are encapsulated to its care-of address (base §6.2: the MAP "acts like a local
home agent"; RFC 6275 §10.4.2 for the HA); packets tunnelled from a care-of address to the anchor are
decapsulated and forwarded only when the outer source is the care-of address bound to the inner source
(RFC 6275 §10.4.5).  The nftables table keeps the kernel from also forwarding or rejecting them.  Hot path:
bytes and struct only, one loop per received batch (:meth:`TunnelPlane.on_batch`); forwarded packets leave on the
daemon's own packet socket of the output link behind a cached next-hop Ethernet header where :mod:`.nexthop` knows
one (route and reachable neighbour read from the kernel over rtnetlink, forgotten on any change), else from a raw
socket (bound to the anchor's address for tunnelled ones: no source address selection per packet).

The kernel data planes keep the forwarded traffic away from the daemon: their table (:class:`LocalTable`) drops
only what is addressed to the daemon itself, in the ``input`` hook, so forwarded packets meet no rule of it; and
a socket filter (:data:`KERNEL_PLANE_FILTER`) keeps the bulk of them out of the daemon's packet sockets.  What is
left of the kernel path's cost is measured by ``hmipv6ct bench dataplane``.
"""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Callable

from ..actions import (
    Action, BindingAdded, BindingRemoved, BindingUpdated, HaBindingAdded, HaBindingRemoved, HaBindingUpdated,
)
from ..wire import fmt
from .linkio import RawSender
from .nexthop import Entry, NextHops
from .nft import NftError, Table, Transaction, delete_table

ICMPV6, ND_FIRST, ND_LAST, TUNNEL = 58, 133, 137, 41
_ETHERTYPE_IPV6 = b"\x86\xdd"
_VERSION_6 = 6 << 28
_OUTER = struct.Struct("!IHBB16s16s").pack  # RFC 2473 outer header: version, payload length, 41, hop limit, src, dst
# the same followed by the inner header's first 7 octets and its (decremented) hop limit: one pack, one join; and
# all that behind an Ethernet header
_OUTER_HEAD = struct.Struct("!IHBB16s16s7sB").pack
_ETH_OUTER_HEAD = struct.Struct("!14sIHBB16s16s7sB").pack
_DECREMENTED = [bytes((max(h - 1, 0),)) for h in range(256)]  # a hop limit (> 1) as forwarded: one less


def binding_change(action: Action) -> tuple[str, bytes, bytes] | None:
    """``("added" | "updated" | "removed", bound address, care-of address)`` for a MAP or home agent binding
    action (RCoA/LCoA, home address/care-of address), else None."""
    if isinstance(action, (BindingAdded, BindingUpdated, BindingRemoved)):
        kind = "added" if isinstance(action, BindingAdded) else "updated" if isinstance(action, BindingUpdated) \
            else "removed"
        return kind, action.rcoa, action.lcoa
    if isinstance(action, (HaBindingAdded, HaBindingUpdated, HaBindingRemoved)):
        kind = "added" if isinstance(action, HaBindingAdded) else "updated" if isinstance(action, HaBindingUpdated) \
            else "removed"
        return kind, action.home_address, action.care_of_address
    return None


class _Lcoa:
    __slots__ = ("lcoa",)

    def __init__(self, lcoa: bytes) -> None:
        self.lcoa = lcoa


def _plain_lookups(core) -> bool:
    """True when ``core``'s ``tunnel_for``/``check_reverse_tunnel`` are MapCore's or HaCore's own (reading
    ``core.cache.bindings``, a dict of bindings with ``.lcoa``), which the batch loop may then inline."""
    from ..ha.core import HaCore
    from ..map.core import MapCore
    kind = type(core)
    return any(getattr(kind, "tunnel_for", None) is plain.tunnel_for
               and getattr(kind, "check_reverse_tunnel", None) is plain.check_reverse_tunnel
               and isinstance(getattr(getattr(core, "cache", None), "bindings", None), dict)
               for plain in (MapCore, HaCore))


class TunnelPlane:
    """Userspace tunnelling for a MAP (``core``: a MapCore) or a home agent (an HaCore): both offer
    ``tunnel_for(dst)``, ``check_reverse_tunnel(outer_src, inner_src)`` and ``cache.bindings``."""

    userspace_down = True  # packets for bound addresses are tunnelled here (False: a kernel route does it)

    def __init__(self, core, address: bytes, own: set[bytes], raw: RawSender, table: Table, log,
                 hops: NextHops | None = None) -> None:
        self.core, self.address, self.own, self.raw, self.table, self.log = core, address, own, raw, table, log
        self.counters = {"tunnelled": 0, "reverse_forwarded": 0, "reverse_rejected": 0, "hop_limit_exceeded": 0,
                         "send_errors": 0, "link_sent": 0, "link_send_errors": 0}
        self.hops = hops  # next hops on the daemon's packet sockets (see .nexthop); None: every send is raw
        self._tunnel_for, self._raw_send = core.tunnel_for, raw.send  # the hot path's calls, bound once
        self._check_reverse = core.check_reverse_tunnel
        self._send_many = getattr(raw, "send_many", None) or self._send_each
        self._direct = _plain_lookups(core)
        bind_source = getattr(raw, "bind_source", None)
        if bind_source is not None:  # tunnelled packets (source: our address) skip source address selection
            try:
                bind_source(address)
            except OSError as exc:
                log("bind_source_error", address=address, error=str(exc))

    def on_action(self, action: Action) -> bool:
        change = binding_change(action)
        if change is None:
            return False
        kind, bound, _coa = change
        if kind == "added":
            self.table.intercept(fmt(bound))
        elif kind == "removed":
            self.table.release(fmt(bound))
        return False

    @property
    def pending(self) -> bool:
        """True while intercept-set changes are staged (see :meth:`flush`)."""
        return getattr(self.table, "pending", False)

    def flush(self) -> None:
        """Apply the staged intercept-set changes in one nftables transaction (and wait for it)."""
        self.finish(self.start())

    def start(self) -> Transaction | None:
        """Start applying the staged intercept-set changes in one nftables transaction; the daemon goes on with
        other frames and calls :meth:`finish` when nft is done, then sends what it held back meanwhile
        (:meth:`~.runner.Daemon.commit`): the BA of a new binding therefore leaves only after the MAP intercepts
        the RCoA (base §6.1: the MAP receives packets for the RCoA once the binding exists), while the new
        bindings of one batch share one ``nft`` run.  None when nothing was started (a table without
        transactions has applied the changes already)."""
        start_flush = getattr(self.table, "start_flush", None)
        return None if start_flush is None else start_flush()

    def finish(self, txn: Transaction | None) -> None:
        """Wait for ``txn`` to end.  A change nft refuses is logged with its address; then the table is rebuilt
        with every bound address (someone may have removed it under us) -- never fatal."""
        if txn is None:
            return
        failed = self.table.finish_flush(txn)
        self.counters["nft_transactions"] = getattr(self.table, "transactions", 0)
        self.counters["nft_changes"] = getattr(self.table, "changes", 0)
        if not failed:
            return
        for address, error in failed:
            self.log("nft_error", error=error, address=address, action="rebuilding the table")
        try:
            self.table.rebuild([fmt(r) for r in self.core.cache.bindings])
        except NftError as again:
            self.log("nft_error", error=str(again).splitlines()[0], addresses=[a for a, _ in failed],
                     action="giving up for these addresses")

    def on_data(self, iface: str, frame: bytes) -> bool:
        """True when the frame was data-plane traffic (consumed here).  The hot path: one method, bytes and
        struct, the outer header packed straight in front of the frame's IPv6 packet."""
        if len(frame) < 54 or frame[12:14] != _ETHERTYPE_IPV6:
            return False
        nh, dst = frame[20], frame[38:54]
        if nh == TUNNEL and dst in self.own:
            self._reverse(frame)
            return True
        if nh == ICMPV6 and len(frame) > 54 and ND_FIRST <= frame[54] <= ND_LAST:
            return False  # Neighbor Discovery about a bound address is the core's (proxy), never tunnelled
        lcoa = self._tunnel_for(dst)
        if lcoa is None:
            return False
        hop_limit = frame[21]
        if hop_limit <= 1:  # RFC 8200 §3: discard
            self.counters["hop_limit_exceeded"] += 1
            return True
        # RFC 2473 IPv6-in-IPv6 to the care-of address around the packet, its hop limit decremented
        packet = (_OUTER(_VERSION_6, len(frame) - 14, TUNNEL, 64, self.address, lcoa)
                  + frame[14:21] + _DECREMENTED[hop_limit] + frame[22:])
        try:
            self._raw_send(packet)
        except OSError as exc:
            self._send_failed(packet, exc)
            return True
        self.counters["tunnelled"] += 1
        return True

    def on_batch(self, iface: str, frames: list[bytes], other: Callable[[str, bytes], None]) -> None:
        """A received batch: what :meth:`on_data` does frame by frame, in one loop (the per-frame Python calls
        of the event loop were a third of the daemon's cost per packet).  Every frame that is not tunnelled
        traffic (signalling, Neighbor Discovery, anything unbound or malformed) goes to ``other`` (the daemon's
        per-frame path) at its place in the batch; a frame whose handling raises goes there too, which logs the
        error, and the loop goes on.

        A forwarded packet whose next hop :attr:`hops` knows (a packet socket of the daemon, a cached Ethernet
        header: :mod:`.nexthop`) leaves at once on that socket; the others are sent together at the end through
        the raw socket (:meth:`RawSender.send_many`), as is one whose packet socket send fails (its next hop is
        then forgotten).  Forwarded packets may so leave after a packet the core sends for a later frame of the
        same batch (the core never sends data packets: nothing it judges depends on that order)."""
        own, check, address = self.own, self._check_reverse, self.address
        decremented, outer, outer_head, eth_outer_head = _DECREMENTED, _OUTER, _OUTER_HEAD, _ETH_OUTER_HEAD
        # the binding cache read directly (a dict of objects with .lcoa) where the core's lookups are the plain
        # ones (MapCore's, HaCore's); else (a subclass overriding them) through its methods
        direct = self._direct
        bget = self.core.cache.bindings.get if direct else self._by_method
        hops, tunnelling = self.hops, self.userspace_down
        if hops is not None:
            entries, resolve, now = hops.entries, hops.resolve, hops.clock()
        else:
            entries, resolve, now = {}, None, 0.0
        get_entry = entries.get
        down: list[bytes] = []  # tunnelled, from our address, through the raw socket
        up: list[bytes] = []  # decapsulated, from a mobile node's address, through the raw socket
        forwarded = exceeded = linked = linked_down = 0
        failed_link: list[tuple[bytes, bytes]] = []  # (destination, packet) whose packet socket send failed
        # within this batch: an unbound inner destination of the reverse tunnel -> its next hop entry, so that a
        # batch towards one correspondent looks the binding cache and the next hops up once; emptied whenever a
        # frame went to ``other`` (the core may have bound that destination meanwhile)
        routes: dict[bytes, Entry] = {}
        route_get = routes.get
        passed_on = other

        def other(iface: str, frame: bytes) -> None:
            try:
                passed_on(iface, frame)
            finally:
                routes.clear()
        for frame in frames:
            try:
                size = len(frame)
                if size < 54 or frame[12] != 0x86 or frame[13] != 0xDD:
                    other(iface, frame)  # not IPv6
                    continue
                nh = frame[20]
                if nh == TUNNEL:
                    if frame[38:54] in own:  # reverse tunnel (RFC 6275 §10.4.5); what is unusual: _reverse
                        end = 54 + ((frame[18] << 8) | frame[19])
                        if end > size:
                            end = size
                        if end < 94 or frame[14] >> 4 != 6 or frame[54] >> 4 != 6:
                            self._reverse(frame)
                            continue
                        if direct:
                            binding = bget(frame[62:78])
                            if binding is None or binding.lcoa != frame[22:38]:
                                self._reverse(frame)
                                continue
                        elif not check(frame[22:38], frame[62:78]):
                            self._reverse(frame)
                            continue
                        forwarded += 1
                        hop_limit = frame[61]
                        if hop_limit <= 1:
                            exceeded += 1
                            continue
                        inner_dst = frame[78:94]
                        via = route_get(inner_dst)
                        if via is None:
                            binding = bget(inner_dst)
                            if binding is not None:  # to another mobile node of this anchor: into its tunnel
                                down.append(outer(_VERSION_6, end - 54, TUNNEL, 64, address, binding.lcoa)
                                            + frame[54:61] + decremented[hop_limit] + frame[62:end])
                                continue
                            if resolve is not None:
                                via = get_entry(inner_dst)
                                if via is None or via[2] <= now:
                                    via = resolve(inner_dst)
                                routes[inner_dst] = via
                        if via is not None:
                            send, head, _expiry, mtu = via
                            if send is not None and end - 54 <= mtu:
                                packet = head + frame[54:61] + decremented[hop_limit] + frame[62:end]
                                try:
                                    send(packet)
                                    linked += 1
                                except OSError:
                                    failed_link.append((inner_dst, packet))
                                continue
                        up.append(frame[54:61] + decremented[hop_limit] + frame[62:end])
                        continue
                elif nh == 60:
                    other(iface, frame)  # a destination options header (a BU: the fast refresh path)
                    continue
                dst = frame[38:54]
                binding = bget(dst) if tunnelling else None
                if binding is None or (nh == ICMPV6 and size > 54 and ND_FIRST <= frame[54] <= ND_LAST):
                    other(iface, frame)
                    continue
                hop_limit = frame[21]
                if hop_limit <= 1:  # RFC 8200 §3: discard
                    exceeded += 1
                    continue
                lcoa = binding.lcoa
                if resolve is not None:
                    entry = get_entry(lcoa)
                    if entry is None or entry[2] <= now:
                        entry = resolve(lcoa)
                    send, head, _expiry, mtu = entry
                    if send is not None and size + 26 <= mtu:  # outer header + packet within the MTU
                        # Ethernet, outer header, the inner header's first 7 octets and its hop limit less one
                        packet = eth_outer_head(head, _VERSION_6, size - 14, TUNNEL, 64, address, lcoa,
                                                frame[14:21], hop_limit - 1) + frame[22:]
                        try:
                            send(packet)
                            linked_down += 1
                        except OSError:
                            failed_link.append((lcoa, packet))
                        continue
                down.append(outer_head(_VERSION_6, size - 14, TUNNEL, 64, address, lcoa, frame[14:21], hop_limit - 1)
                            + frame[22:])
            except Exception:  # noqa: BLE001 - the per-frame path meets it again and logs it
                other(iface, frame)
        counters = self.counters
        if forwarded:
            counters["reverse_forwarded"] += forwarded
        if exceeded:
            counters["hop_limit_exceeded"] += exceeded
        if linked or linked_down:
            counters["link_sent"] += linked + linked_down
            counters["tunnelled"] += linked_down
        if failed_link:
            counters["link_send_errors"] += len(failed_link)
            for dst, packet in failed_link:  # forget the next hop; the kernel routes the packet itself
                hops.invalidate(dst)  # type: ignore[union-attr]
                (down if packet[22:38] == address else up).append(packet[14:])
        if down:
            failed = self._send_many(down, address)
            counters["tunnelled"] += len(down) - len(failed)
            for packet, exc in failed:
                self._send_failed(packet, exc)
        if up:
            for packet, exc in self._send_many(up, None):
                self._send_failed(packet, exc)

    def _by_method(self, dst: bytes) -> _Lcoa | None:
        """``bindings.get(dst)`` through ``core.tunnel_for`` (for a core whose lookups are its own)."""
        lcoa = self._tunnel_for(dst)
        return None if lcoa is None else _Lcoa(lcoa)

    def _send_each(self, packets: list[bytes], source: bytes | None) -> list[tuple[bytes, OSError]]:
        """:meth:`RawSender.send_many` for a sender that has only ``send``."""
        failed = []
        for packet in packets:
            try:
                self._raw_send(packet)
            except OSError as exc:
                failed.append((packet, exc))
        return failed

    def _tunnel(self, packet: bytes, lcoa: bytes) -> None:
        hop_limit = packet[7]
        if hop_limit <= 1:
            self.counters["hop_limit_exceeded"] += 1
            return
        if self._send(_OUTER(_VERSION_6, len(packet), TUNNEL, 64, self.address, lcoa)
                      + packet[:7] + _DECREMENTED[hop_limit] + packet[8:]):
            self.counters["tunnelled"] += 1

    def _send(self, packet: bytes) -> bool:
        """Hand ``packet`` to the kernel; a failure (no route, too big for the path) is counted, never fatal."""
        try:
            self._raw_send(packet)
            return True
        except OSError as exc:
            self._send_failed(packet, exc)
            return False

    def _send_failed(self, packet: bytes, exc: OSError) -> None:
        self.counters["send_errors"] += 1
        self.log("send_error", error=str(exc), dst=packet[24:40])

    def _reverse(self, frame: bytes) -> None:
        """A packet tunnelled to us (RFC 2473; ``frame``: Ethernet, outer IPv6, inner IPv6): forwarded only if
        its tunnel source is the care-of address bound to its inner source (RFC 6275 §10.4.5)."""
        plen = (frame[18] << 8) | frame[19]
        end = min(54 + plen, len(frame))  # the inner packet: frame[54:end]
        if len(frame) < 94 or frame[14] >> 4 != 6 or end - 54 < 40 or frame[54] >> 4 != 6:
            self.counters["reverse_rejected"] += 1
            return
        outer_src, inner_src = frame[22:38], frame[62:78]
        if not self.core.check_reverse_tunnel(outer_src, inner_src):
            self.counters["reverse_rejected"] += 1
            self.log("reverse_tunnel_rejected", outer_src=outer_src, inner_src=inner_src)
            return
        self.counters["reverse_forwarded"] += 1
        lcoa = self._tunnel_for(frame[78:94])
        if lcoa is not None:  # to another mobile node of this MAP or HA: straight back into a tunnel
            self._tunnel(frame[54:end], lcoa)
            return
        hop_limit = frame[61]
        if hop_limit <= 1:
            self.counters["hop_limit_exceeded"] += 1
            return
        self._send(frame[54:61] + _DECREMENTED[hop_limit] + frame[62:end])


ROUTE_PROTO = "99"  # marks this daemon's kernel routes, so a restart can flush stale ones


class Seg6Plane(TunnelPlane):
    """Kernel path for MAP -> LCoA: a seg6 ``encap.red`` route with one segment per binding emits plain
    RFC 2473 IPv6-in-IPv6 (no SRH) on kernels without ip6tnl.  Reverse tunnels stay in userspace."""

    userspace_down = False

    def __init__(self, core, address: bytes, own: set[bytes], raw: RawSender, table: Table, log, home_iface: str) -> None:
        super().__init__(core, address, own, raw, table, log)
        self.home_iface = home_iface
        self.flush()
        self._ip("sr", "tunsrc", "set", fmt(address))

    def _ip(self, *args: str) -> None:
        proc = subprocess.run(["ip", *args], capture_output=True, text=True)
        if proc.returncode != 0:
            self.log("kernel_route_error", command=" ".join(args), error=proc.stderr.strip())

    def flush(self) -> None:
        """Remove routes a previous run of this daemon left (stale bindings)."""
        subprocess.run(["ip", "-6", "route", "flush", "proto", ROUTE_PROTO], capture_output=True)

    def on_action(self, action: Action) -> bool:
        change = binding_change(action)
        if change is None:
            return False
        kind, bound, coa = change
        if kind in ("added", "updated"):
            self._ip("-6", "route", "replace", f"{fmt(bound)}/128", "encap", "seg6", "mode", "encap.red",
                     "segs", fmt(coa), "dev", self.home_iface, "proto", ROUTE_PROTO)
        else:
            self._ip("-6", "route", "del", f"{fmt(bound)}/128", "proto", ROUTE_PROTO)
        return False

    def on_data(self, iface: str, frame: bytes) -> bool:
        if frame[12:14] != b"\x86\xdd" or len(frame) < 54:
            return False
        if frame[20] == TUNNEL and frame[38:54] in self.own:
            self._reverse(frame)
            return True
        return False  # packets for RCoAs: the kernel route encapsulates them

    # on_batch: TunnelPlane's, reverse tunnels only (userspace_down is False); everything else to ``other``


IP6TNL_DEVICE = "hmip6tnl"  # the flow-based tunnel device of data_plane ip6tnl, one per network namespace


class KernelSupportError(RuntimeError):
    """The kernel lacks what a kernel data plane needs; the message is one line, for the command line."""


def prepare_ip6tnl(device: str = IP6TNL_DEVICE) -> None:
    """Remove what an earlier run left (``proto 99`` routes, the device), then create the flow-based
    (``external``: addresses per route, from ``encap ip6``) ip6tnl device and bring it up."""
    flush_ip6tnl(device)
    for args in (["link", "add", device, "type", "ip6tnl", "external"], ["link", "set", device, "up"]):
        proc = subprocess.run(["ip", *args], capture_output=True, text=True)
        if proc.returncode != 0:
            error = " ".join(proc.stderr.split()) or f"exit status {proc.returncode}"
            if "Unknown device type" in error or "Operation not supported" in error:
                raise KernelSupportError(
                    "data_plane ip6tnl needs the kernel's IPv6-in-IPv6 tunnel driver (CONFIG_IPV6_TUNNEL, "
                    f"module ip6_tunnel), which this kernel lacks: 'ip {' '.join(args)}': {error}")
            subprocess.run(["ip", "link", "del", device], capture_output=True)
            raise KernelSupportError(
                f"data_plane ip6tnl: cannot set up the tunnel device: 'ip {' '.join(args)}': {error}")


def flush_ip6tnl(device: str = IP6TNL_DEVICE) -> None:
    subprocess.run(["ip", "-6", "route", "flush", "proto", ROUTE_PROTO], capture_output=True)
    subprocess.run(["ip", "link", "del", device], capture_output=True)


class Ip6tnlPlane(TunnelPlane):
    """Kernel path for MAP -> LCoA on kernels with ip6_tunnel: one flow-based ip6tnl device (made by
    :func:`prepare_ip6tnl`) and per binding ``RCOA/128 encap ip6 dst LCOA src MAP hoplimit 64`` through
    it, tagged ``proto 99``.  Flow-based mode adds no Tunnel Encapsulation Limit option, so the kernel
    emits plain RFC 2473 IPv6-in-IPv6 (next header 41), like the userspace path; the kernel decrements
    the inner hop limit when it forwards (``net.ipv6.conf.all.forwarding`` must be 1).

    Reverse tunnels stay in userspace: a flow-based device accepts IPv6-in-IPv6 from *any* remote, so
    without the nftables table's drop of protocol 41 to the MAP's addresses (:class:`LocalTable`: input hook,
    before local delivery hands it to the device) the kernel would decapsulate and forward them with no LCoA
    check (and the daemon would forward a second copy).
    Hence the table is checked on each new binding and rebuilt if someone removed it."""

    def __init__(self, core, address: bytes, own: set[bytes], raw: RawSender, table: Table, log,
                 device: str = IP6TNL_DEVICE) -> None:
        super().__init__(core, address, own, raw, table, log)
        self.device = device
        try:
            with open("/proc/sys/net/ipv6/conf/all/forwarding") as f:
                if f.read().strip() == "0":
                    log("kernel_forwarding_off", data_plane="ip6tnl",
                        effect="packets to RCoAs are not tunnelled: set net.ipv6.conf.all.forwarding=1")
        except OSError:
            pass

    _ip = Seg6Plane._ip  # logs a failed command, never fatal

    def flush(self) -> None:
        """Remove this plane's routes and the device (at exit; a stale copy goes at the next start)."""
        flush_ip6tnl(self.device)

    def on_action(self, action: Action) -> bool:
        change = binding_change(action)
        if change is None:
            return False
        kind, bound, coa = change
        if kind in ("added", "updated"):
            if kind == "added":
                self._guard_table()
            self._ip("-6", "route", "replace", f"{fmt(bound)}/128", "encap", "ip6", "dst", fmt(coa),
                     "src", fmt(self.address), "hoplimit", "64", "dev", self.device, "proto", ROUTE_PROTO)
        else:
            self._ip("-6", "route", "del", f"{fmt(bound)}/128", "proto", ROUTE_PROTO)
        return False

    def _guard_table(self) -> None:
        """Re-add an own address (a no-op while the table exists); rebuild the table when it is gone."""
        probe = subprocess.run(["nft", "add", "element", "ip6", self.table.name, "own",
                                f"{{ {fmt(self.address)} }}"], capture_output=True, text=True)
        if probe.returncode == 0:
            return
        self.log("nft_error", error=(probe.stderr.strip().splitlines() or ["?"])[0], action="rebuilding the table")
        try:
            self.table.rebuild([])
        except NftError as exc:
            self.log("nft_error", error=str(exc).splitlines()[0], action="giving up for this binding")

    on_data = Seg6Plane.on_data  # reverse tunnels only; the kernel route encapsulates packets for RCoAs
    userspace_down = False


DATA_PLANES = ("userspace", "seg6", "ip6tnl")


def _bpf(*program: tuple[int, str | int, str | int, int] | str) -> list[tuple[int, int, int, int]]:
    """Classic BPF from ``(code, jt, jf, k)`` tuples whose jumps may name a label (a plain string in the list)."""
    labels, insns = {}, []
    for item in program:
        if isinstance(item, str):
            labels[item] = len(insns)
        else:
            insns.append(item)
    out = []
    for pc, (code, jt, jf, k) in enumerate(insns):
        out.append((code, labels[jt] - pc - 1 if isinstance(jt, str) else jt,
                    labels[jf] - pc - 1 if isinstance(jf, str) else jf, k))
    return out


_LD_LEN, _LDB, _AND, _JEQ, _JGE, _RET = 0x80, 0x30, 0x54, 0x15, 0x35, 0x06
# What the daemon of a kernel data plane is not woken for: packets the kernel forwards (to the bound addresses)
# whose first next header is TCP, UDP or No Next Header, and ICMPv6 echoes.  Everything else reaches it as
# before -- signalling (Mobility Header, ESP/AH, extension header chains, Neighbor Discovery), tunnelled packets
# (41) and anything malformed (short, not version 6), whatever its accept filter then does with it.
KERNEL_PLANE_FILTER = _bpf(
    (_LD_LEN, 0, 0, 0), (_JGE, 0, "pass", 55),
    (_LDB, 0, 0, 14), (_AND, 0, 0, 0xF0), (_JEQ, 0, "pass", 0x60),
    (_LDB, 0, 0, 20), (_JEQ, "drop", 0, 6), (_JEQ, "drop", 0, 17), (_JEQ, "drop", 0, 59), (_JEQ, 0, "pass", ICMPV6),
    (_LDB, 0, 0, 54), (_JEQ, "drop", 0, 128), (_JEQ, "drop", 0, 129),
    "pass", (_RET, 0, 0, 0xFFFFFFFF),
    "drop", (_RET, 0, 0, 0),
)


class LocalTable(Table):
    """The table of a kernel data plane: the kernel forwards the bound addresses' packets itself, so nothing is
    intercepted, and the drop of signalling and tunnelled packets to the daemon's own addresses sits in the
    ``input`` hook -- which only packets for this host traverse -- at raw priority, before local delivery (where
    the kernel would answer them with ICMPv6 errors, or an ip6tnl device would decapsulate them unchecked).  The
    forwarded bulk traffic then meets no rule of this daemon.  Same sets as :class:`Table` (``intercept`` stays,
    unused by any rule)."""

    def rebuild(self, intercepted: list[str]) -> None:
        delete_table(self.name)
        protos = ", ".join(str(p) for p in self.l4protos)
        elements = f"elements = {{ {', '.join(self.own)} }}" if self.own else ""
        firsts = ", ".join(str(h) for h in self.first_headers)
        script = f"""table ip6 {self.name} {{
  set own {{
    type ipv6_addr
    {elements}
  }}
  set intercept {{
    type ipv6_addr
  }}
  chain input {{
    type filter hook input priority raw; policy accept;
    ip6 daddr @own meta l4proto {{ {protos} }} drop
    {f'ip6 daddr @own ip6 nexthdr {{ {firsts} }} drop' if firsts else ''}
  }}
}}
"""
        proc = subprocess.run(["nft", "-f", "-"], input=script, text=True, capture_output=True)
        if proc.returncode != 0:
            raise NftError(f"nft failed: {proc.stderr.strip()}\n--- script ---\n{script}")


def open_table(name: str, own: set[bytes], data_plane: str) -> Table:
    """The daemon's nftables table (replacing a stale copy) and, for ``ip6tnl``, the tunnel device.  Raises
    :class:`NftError` or :class:`KernelSupportError` with nothing left behind."""
    kind = Table if data_plane == "userspace" else LocalTable
    table = kind(name, [fmt(a) for a in own], l4protos=(41, 135, 50, 51))  # ESP/AH: protected BUs (base §12.1)
    if data_plane == "ip6tnl":
        try:
            prepare_ip6tnl()
        except KernelSupportError:
            table.remove()
            raise
    return table


def link_next_hops(daemon, log) -> NextHops | None:
    """Next hops on the daemon's packet sockets (:mod:`.nexthop`), their change notifications read by its event
    loop; None (every forwarded packet through the raw socket) where rtnetlink is unavailable."""
    links = getattr(daemon, "links", None)
    if not links:
        return None
    try:
        hops = NextHops(links)
        readers = getattr(daemon, "readers", None)
        if readers is None:
            hops.close()
            return None
        readers[hops.subscribe()] = hops.on_readable
    except OSError as exc:
        log("next_hop_error", error=str(exc), effect="forwarded packets leave through the raw socket")
        return None
    if not hops.by_index:
        hops.close()
        return None
    return hops


def attach_plane(daemon, data_plane: str, core, address: bytes, own: set[bytes], table: Table, log,
                 home_iface: str, link_send: bool = True) -> TunnelPlane:
    """The MAP's or HA's data plane by its configured name (one of :data:`DATA_PLANES`), wired into ``daemon``;
    ``link_send``: forwarded packets leave on the daemon's packet sockets where the next hop is known."""
    if data_plane == "seg6":
        plane: TunnelPlane = Seg6Plane(core, address, own, daemon.raw, table, log, home_iface)
    elif data_plane == "ip6tnl":
        plane = Ip6tnlPlane(core, address, own, daemon.raw, table, log)
    else:
        plane = TunnelPlane(core, address, own, daemon.raw, table, log)
    if link_send:
        plane.hops = link_next_hops(daemon, log)
    daemon.on_action, daemon.on_data = plane.on_action, plane.on_data
    daemon.on_batch = plane.on_batch
    daemon.staged = plane  # intercept-set changes batched into nft transactions, sends held until applied
    daemon.extra_state = lambda: {"dataplane": data_plane, "dataplane_counters": dict(plane.counters),
                                  "next_hops": None if plane.hops is None else dict(plane.hops.counters)}
    if data_plane != "userspace":  # the kernel forwards the bulk traffic: no copy of each packet to the daemon
        for name, link in daemon.links.items():
            try:
                link.attach_filter(KERNEL_PLANE_FILTER)
            except (OSError, AttributeError) as exc:
                log("socket_filter_error", iface=name, error=str(exc), effect="the daemon reads every frame")
    return plane


def close_plane(plane: TunnelPlane) -> None:
    """At exit: remove the kernel routes (and device) a kernel data plane installed."""
    if plane.hops is not None:
        plane.hops.close()
    if isinstance(plane, (Seg6Plane, Ip6tnlPlane)):
        plane.flush()
