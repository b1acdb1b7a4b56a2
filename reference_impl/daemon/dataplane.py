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
bytes and struct only.
"""

from __future__ import annotations

import subprocess

from ..actions import (
    Action, BindingAdded, BindingRemoved, BindingUpdated, HaBindingAdded, HaBindingRemoved, HaBindingUpdated,
)
from ..wire import fastpath, fmt
from .linkio import RawSender
from .nft import NftError, Table

ICMPV6, ND_FIRST, ND_LAST, TUNNEL = 58, 133, 137, 41


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


class TunnelPlane:
    """Userspace tunnelling for a MAP (``core``: a MapCore) or a home agent (an HaCore): both offer
    ``tunnel_for(dst)``, ``check_reverse_tunnel(outer_src, inner_src)`` and ``cache.bindings``."""

    def __init__(self, core, address: bytes, own: set[bytes], raw: RawSender, table: Table, log) -> None:
        self.core, self.address, self.own, self.raw, self.table, self.log = core, address, own, raw, table, log
        self.counters = {"tunnelled": 0, "reverse_forwarded": 0, "reverse_rejected": 0, "hop_limit_exceeded": 0,
                         "send_errors": 0}

    def on_action(self, action: Action) -> bool:
        change = binding_change(action)
        if change is None:
            return False
        kind, bound, _coa = change
        if kind == "added":
            self._intercept(fmt(bound))
        elif kind == "removed":
            self.table.release(fmt(bound))
        return False

    def _intercept(self, bound: str) -> None:
        """Hand the bound address's packets to userspace; if the table was removed under us (someone flushed
        the ruleset), rebuild it with every bound address and go on — never let the daemon die of it."""
        try:
            self.table.intercept(bound)
        except NftError as exc:
            self.log("nft_error", error=str(exc).splitlines()[0], action="rebuilding the table")
            try:
                self.table.rebuild([fmt(r) for r in self.core.cache.bindings] + [bound])
            except NftError as again:
                self.log("nft_error", error=str(again).splitlines()[0], action="giving up for this binding")

    def on_data(self, iface: str, frame: bytes) -> bool:
        """True when the frame was data-plane traffic (consumed here)."""
        if frame[12:14] != b"\x86\xdd" or len(frame) < 54:
            return False
        packet = frame[14:]
        nh, dst = packet[6], packet[24:40]
        if nh == TUNNEL and dst in self.own:
            self._reverse(packet)
            return True
        if nh == ICMPV6 and len(packet) > 40 and ND_FIRST <= packet[40] <= ND_LAST:
            return False  # Neighbor Discovery about a bound address is the core's (proxy), never tunnelled
        lcoa = self.core.tunnel_for(dst)
        if lcoa is None:
            return False
        self._tunnel(packet, lcoa)
        return True

    def _tunnel(self, packet: bytes, lcoa: bytes) -> None:
        inner = fastpath.decrement_hop_limit(packet)
        if inner is None:
            self.counters["hop_limit_exceeded"] += 1
            return
        if self._send(fastpath.encapsulate(self.address, lcoa, inner)):
            self.counters["tunnelled"] += 1

    def _send(self, packet: bytes) -> bool:
        """Hand ``packet`` to the kernel; a failure (no route, too big for the path) is counted, never fatal."""
        try:
            self.raw.send(packet)
            return True
        except OSError as exc:
            self.counters["send_errors"] += 1
            self.log("send_error", error=str(exc), dst=packet[24:40])
            return False

    def _reverse(self, packet: bytes) -> None:
        got = fastpath.decapsulate(packet)
        if got is None:
            self.counters["reverse_rejected"] += 1
            return
        outer_src, inner = got
        inner_src, inner_dst = inner[8:24], inner[24:40]
        if not self.core.check_reverse_tunnel(outer_src, inner_src):
            self.counters["reverse_rejected"] += 1
            self.log("reverse_tunnel_rejected", outer_src=outer_src, inner_src=inner_src)
            return
        self.counters["reverse_forwarded"] += 1
        lcoa = self.core.tunnel_for(inner_dst)
        if lcoa is not None:  # to another mobile node of this MAP or HA: straight back into a tunnel
            self._tunnel(inner, lcoa)
            return
        forwarded = fastpath.decrement_hop_limit(inner)
        if forwarded is None:
            self.counters["hop_limit_exceeded"] += 1
            return
        self._send(forwarded)


ROUTE_PROTO = "99"  # marks this daemon's kernel routes, so a restart can flush stale ones


class Seg6Plane(TunnelPlane):
    """Kernel path for MAP -> LCoA: a seg6 ``encap.red`` route with one segment per binding emits plain
    RFC 2473 IPv6-in-IPv6 (no SRH) on kernels without ip6tnl.  Reverse tunnels stay in userspace."""

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
        packet = frame[14:]
        if packet[6] == TUNNEL and packet[24:40] in self.own:
            self._reverse(packet)
            return True
        return False  # packets for RCoAs: the kernel route encapsulates them


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
    without the nftables table's raw-prerouting drop of protocol 41 to the MAP's addresses the kernel
    would decapsulate and forward them with no LCoA check (and the daemon would forward a second copy).
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


DATA_PLANES = ("userspace", "seg6", "ip6tnl")


def open_table(name: str, own: set[bytes], data_plane: str) -> Table:
    """The daemon's nftables table (replacing a stale copy) and, for ``ip6tnl``, the tunnel device.  Raises
    :class:`NftError` or :class:`KernelSupportError` with nothing left behind."""
    table = Table(name, [fmt(a) for a in own], l4protos=(41, 135, 50, 51))  # ESP/AH: protected BUs (base §12.1)
    if data_plane == "ip6tnl":
        try:
            prepare_ip6tnl()
        except KernelSupportError:
            table.remove()
            raise
    return table


def attach_plane(daemon, data_plane: str, core, address: bytes, own: set[bytes], table: Table, log,
                 home_iface: str) -> TunnelPlane:
    """The MAP's or HA's data plane by its configured name (one of :data:`DATA_PLANES`), wired into ``daemon``."""
    if data_plane == "seg6":
        plane: TunnelPlane = Seg6Plane(core, address, own, daemon.raw, table, log, home_iface)
    elif data_plane == "ip6tnl":
        plane = Ip6tnlPlane(core, address, own, daemon.raw, table, log)
    else:
        plane = TunnelPlane(core, address, own, daemon.raw, table, log)
    daemon.on_action, daemon.on_data = plane.on_action, plane.on_data
    daemon.extra_state = lambda: {"dataplane": data_plane, "dataplane_counters": dict(plane.counters)}
    return plane


def close_plane(plane: TunnelPlane) -> None:
    """At exit: remove the kernel routes (and device) a kernel data plane installed."""
    if isinstance(plane, (Seg6Plane, Ip6tnlPlane)):
        plane.flush()
