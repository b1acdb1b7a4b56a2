"""``hmipv6-cn --config FILE``: the reference Mobile IPv6 correspondent node with route optimisation (RFC 6275
§5.2, §9; base document §6.4: HMIPv6 is transparent to it, the care-of address it learns is the RCoA).

The host stack keeps its sockets; the daemon sits beside it:

* Signalling: Mobility Headers addressed to the CN (HoTI, CoTI, BU; behind a Home Address option too) are read
  from AF_PACKET on the ``listen`` interfaces and fed to :class:`~reference_impl.cn.core.CnCore`; its HoT, CoT,
  BA and Binding Errors go out through a raw IPv6 socket.
* Route optimisation out (§9.3.2): for each correspondent binding the daemon routes the home address into its
  TUN device (``ip -6 route replace HOA/128 dev TUN proto 99``); each packet the host sends there leaves with the
  care-of address as destination and a type 2 routing header holding the home address (checksums unchanged:
  the pseudo-header destination is the home address).  Mobility Headers are never sent that way (§6.1).
* Route optimisation in (§9.3.1): packets to the CN carrying a Home Address option are accepted only when a
  binding holds the home address with the packet's source as care-of address (otherwise the core answers with
  a rate-limited Binding Error status 1); accepted ones are rewritten (source = home address, option removed)
  and written into the TUN device, so sockets see the home address as their peer.
* An nftables table ``ip6 hmipv6_cn`` drops, at raw prerouting priority, Mobility Headers and packets whose first
  extension header is Destination Options to the CN's addresses, after AF_PACKET has seen them: the host kernel
  (no Mobile IPv6) would answer a Home Address option with ICMPv6 Parameter Problem.  Packets with other
  destination options only are handed back to the kernel unchanged through the TUN device.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from ..actions import Action, CnBindingAdded, CnBindingRemoved, CnBindingUpdated, Send
from ..cn.core import CnCore
from ..wire import DecodeError, decode_packet, encode_packet, fastpath, fmt
from .config import ConfigError, cn_config, load_config
from .linkio import LinkSocket, RawSender
from .nft import NftError, Table
from .runner import MAX_BATCH, Daemon, JsonLog, open_log, signalling_filter
from .tun import TunDevice, TunError

# the CN core's frames: Mobility Headers (HoTI, CoTI, BU)
_signalling = signalling_filter(protocols=frozenset({135}))
TABLE = "hmipv6_cn"
ROUTE_PROTO = "99"  # marks this daemon's kernel routes, so a restart can flush stale ones
_MH, _ICMPV6, _DSTOPTS = 135, 58, 60
_ND = range(133, 138)


def _checksum_kept(packet: bytes) -> int | None:
    """The ICMPv6 / Mobility Header checksum of ``packet`` as sent, to re-emit it unchanged (a rewritten packet
    keeps its sender's checksum, right or wrong: the pseudo-header addresses do not change, RFC 6275 §6.3/§6.4)."""
    found = fastpath.upper_layer(packet)
    if found is None:
        return None
    proto, at = found
    if proto not in (_ICMPV6, _MH):
        return None  # anything else is carried as opaque bytes: its checksum is never recomputed
    at += 2 if proto == _ICMPV6 else 4
    return int.from_bytes(packet[at:at + 2], "big") if at + 2 <= len(packet) else None


def _not_for_ro(packet: bytes) -> bool:
    """RFC 6275 §9.3.2 / §6.1: Neighbor Discovery and Mobility Header packets never get a type 2 routing header."""
    found = fastpath.upper_layer(packet)
    if found is None:
        return False
    proto, at = found
    return proto == _MH or (proto == _ICMPV6 and at < len(packet) and packet[at] in _ND)


class CnDataPlane:
    """Route optimisation for the host stack through the TUN device ``tun`` (see the module docstring)."""

    def __init__(self, core: CnCore, tun: TunDevice, raw: RawSender, links: dict[str, LinkSocket], log: JsonLog,
                 dispatch: Callable[[list[Action]], None]) -> None:
        self.core, self.tun, self.raw, self.links, self.log, self.dispatch = core, tun, raw, links, log, dispatch
        self.own = frozenset(core.config.addresses)
        self.uplink = next(iter(links.values()))  # the first ``listen`` interface: plain sends bypass the TUN route
        self.counters = {"route_optimised": 0, "sent_plain": 0, "no_binding": 0, "home_address_accepted": 0,
                         "home_address_rejected": 0, "passed_to_host": 0, "decode_errors": 0, "send_errors": 0,
                         "tun_ignored": 0, "route_errors": 0}

    # -- routes ----------------------------------------------------------------------------------------------------
    def _ip(self, *args: str) -> None:
        proc = subprocess.run(["ip", *args], capture_output=True, text=True)
        if proc.returncode != 0:
            self.counters["route_errors"] += 1
            self.log("kernel_route_error", command=" ".join(args), error=proc.stderr.strip())

    def flush(self) -> None:
        """Remove this daemon's routes (and those a previous run left)."""
        subprocess.run(["ip", "-6", "route", "flush", "proto", ROUTE_PROTO], capture_output=True)

    def routes(self) -> list[str]:
        proc = subprocess.run(["ip", "-6", "route", "show", "proto", ROUTE_PROTO], capture_output=True, text=True)
        return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]

    def on_action(self, action: Action) -> bool:
        if isinstance(action, (CnBindingAdded, CnBindingUpdated)):
            self._ip("-6", "route", "replace", f"{fmt(action.home_address)}/128", "dev", self.tun.name,
                     "proto", ROUTE_PROTO)
        elif isinstance(action, CnBindingRemoved):
            self._ip("-6", "route", "del", f"{fmt(action.home_address)}/128", "dev", self.tun.name,
                     "proto", ROUTE_PROTO)
        return False

    # -- sending ---------------------------------------------------------------------------------------------------
    def bypasses_tun(self, action: Send) -> bool:
        """True for a packet the core sends to a home address with a binding (a Home Test): the kernel route would
        take it into the TUN device, so it goes out bound to an interface instead, without a routing header."""
        packet = action.packet
        return packet.rh2_address is None and action.link_dst is None and self.core.route_for(packet.dst) is not None

    def send_plain(self, data: bytes, iface: str | None = None) -> None:
        link = self.links.get(iface) if iface else None
        link = link or self.uplink
        try:
            self.raw.send(data, link.name, link.index)  # SO_BINDTODEVICE: routes via other devices (the TUN) skipped
            self.counters["sent_plain"] += 1
        except OSError as exc:
            self.counters["send_errors"] += 1
            self.log("send_error", error=str(exc), dst=data[24:40], iface=link.name)

    def _send(self, data: bytes) -> None:
        try:
            self.raw.send(data)
        except OSError as exc:
            self.counters["send_errors"] += 1
            self.log("send_error", error=str(exc), dst=data[24:40])
            return
        self.counters["route_optimised"] += 1

    # -- host -> mobile node (§9.3.2) ------------------------------------------------------------------------------
    def read_tun(self) -> None:
        for _ in range(MAX_BATCH):
            data = self.tun.read()
            if data is None:
                return
            head = fastpath.peek(data)
            if head is None:
                self.counters["tun_ignored"] += 1  # not IPv6
                continue
            _nh, _src, dst = head
            coa = self.core.route_for(dst)
            if coa is None:
                # multicast the kernel sends on the device, or a race with a removed binding: the route is gone
                self.counters["tun_ignored" if dst[0] == 0xFF else "no_binding"] += 1
                continue
            if _not_for_ro(data):
                self.send_plain(data)
                continue
            try:
                decoded = decode_packet(data, verify_checksums=False)
            except DecodeError as exc:
                self.counters["decode_errors"] += 1
                self.log("decode_error", iface=self.tun.name, reason=str(exc), head=data[:64].hex())
                continue
            if decoded.rh2_address is not None:
                self.counters["decode_errors"] += 1  # the host already routes it through a care-of address
                continue
            ro = dataclasses.replace(decoded, dst=coa, rh2_address=dst)
            self._send(encode_packet(ro, checksum=_checksum_kept(data)))

    # -- mobile node -> host (§9.3.1) ------------------------------------------------------------------------------
    def on_data(self, iface: str, frame: bytes) -> bool:
        """True when the frame was consumed here (a data packet to the CN behind Destination Options)."""
        packet = fastpath.frame_payload(frame)
        if packet is None or packet[6] != _DSTOPTS or packet[24:40] not in self.own:
            return False
        found = fastpath.upper_layer(packet)
        if found is None or found[0] == _MH:
            return False  # signalling (the core reads the Home Address option itself) or malformed (decoder logs)
        try:
            decoded = decode_packet(packet, verify_checksums=False)
        except DecodeError as exc:
            self.counters["decode_errors"] += 1
            self.log("decode_error", iface=iface, reason=str(exc), head=packet[:64].hex())
            return True
        length = 40 + int.from_bytes(packet[4:6], "big")
        if decoded.home_address is None:  # other destination options only: the kernel's, unchanged
            self._deliver(packet[:length])
            self.counters["passed_to_host"] += 1
            return True
        home = decoded.home_address
        accept, actions = self.core.check_home_address(time.monotonic(), decoded.src, decoded.dst, home,
                                                       decoded.next_header)
        self.dispatch(actions)
        if not accept:
            self.counters["home_address_rejected"] += 1
            return True
        plain = dataclasses.replace(decoded, src=home, home_address=None)
        self._deliver(encode_packet(plain, checksum=_checksum_kept(packet)))
        self.counters["home_address_accepted"] += 1
        return True

    def _deliver(self, data: bytes) -> None:
        try:
            self.tun.write(data)
        except OSError as exc:
            self.counters["send_errors"] += 1
            self.log("tun_write_error", error=str(exc))


class CnDaemon(Daemon):
    """The shared event loop, with the core's packets to a bound home address (HoT) kept out of the TUN route."""

    plane: CnDataPlane | None = None

    def _send(self, action: Send) -> None:
        if self.plane is not None and self.plane.bypasses_tun(action):
            self.plane.send_plain(encode_packet(action.packet), action.iface)
            self.counters["sent"] += 1
            return
        super()._send(action)


def main(argv: list[str] | None = None, core_factory: Callable[..., CnCore] = CnCore) -> int:
    """Run the correspondent node.  ``core_factory`` exists for the project's own tests."""
    p = argparse.ArgumentParser(prog="hmipv6-cn", description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    args = p.parse_args(argv)
    links: dict[str, LinkSocket] = {}
    try:
        cfg = load_config(args.config)
        if cfg.role != "cn":
            raise ConfigError(args.config, f"role is {cfg.role!r}, not 'cn'")
        core_cfg, settings = cn_config(cfg)
        for name in settings.listen:
            try:
                links[name] = LinkSocket(name)
            except OSError as exc:
                raise ConfigError(args.config, f"cn: listen: interface {name!r}: {exc.strerror or exc}") from None
    except ConfigError as exc:
        for link in links.values():
            link.close()
        print(f"hmipv6-cn: {exc}", file=sys.stderr)
        return 2
    log = open_log("cn", cfg.log_file)
    core = core_factory(core_cfg)
    own = [fmt(a) for a in core_cfg.addresses]
    cleanup: list[Callable[[], Any]] = []
    try:
        table = Table(TABLE, own, l4protos=(_MH,), first_headers=(_DSTOPTS,))  # replaces a stale table
        cleanup.append(table.remove)
        subprocess.run(["ip", "-6", "route", "flush", "proto", ROUTE_PROTO], capture_output=True)  # stale routes
        tun = TunDevice(settings.tun_device, settings.tun_mtu)
        cleanup.append(tun.close)
        daemon = CnDaemon("cn", core, links, log, cfg.control_socket, _signalling,
                          commands={"forget-nonces": lambda now, arg: core.forget_nonces(now)})
    except (NftError, TunError, OSError) as exc:
        for undo in reversed(cleanup):
            undo()
        for link in links.values():
            link.close()
        print(f"hmipv6-cn: {exc}", file=sys.stderr)
        return 2
    plane = CnDataPlane(core, tun, daemon.raw, links, log, daemon.dispatch)
    daemon.plane = plane
    daemon.on_action, daemon.on_data = plane.on_action, plane.on_data
    daemon.readers[tun] = plane.read_tun
    daemon.extra_state = lambda: {"dataplane": "tun", "tun_device": tun.name, "routes": plane.routes(),
                                  "dataplane_counters": dict(plane.counters)}
    log("starting", config=args.config, edition=cfg.edition, address=core_cfg.address, tun_device=tun.name,
        listen=settings.listen)
    try:
        daemon.run()
    finally:
        plane.flush()
        for undo in reversed(cleanup):
            undo()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
