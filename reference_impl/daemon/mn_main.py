"""``hmipv6-mn --config FILE``: the reference HMIPv6 mobile node (plain Mobile IPv6 with ``hmipv6: false``).

The host stack keeps its sockets; the daemon sits beside it:

* The home address (and every RCoA, base §6.5) lives on a TUN device; a policy rule sends packets *from* those
  addresses into it, the daemon reads them and hands them to :func:`~reference_impl.mn.dataplane.outgoing`
  (reverse tunnel through the MAP and the HA, route optimisation with a Home Address option), then transmits
  the result on the link to the current router's MAC.
* Every frame of the interface is shown to :func:`~reference_impl.mn.dataplane.incoming`: signalling and RAs go
  to the core, tunnelled or route-optimised packets are unwrapped and written into the TUN device (the kernel
  delivers them to the home address), other traffic is the kernel's.  An nftables table keeps the kernel
  (without Mobile IPv6) from answering what the daemon consumes with ICMPv6 errors.
* The daemon reads Router Advertisements itself (``accept_ra`` is turned off on the interface: the kernel would
  ignore the MAP option anyway), configures the LCoA the core forms, and keeps a default route via the router.
* Carrier changes (rtnetlink) are the link-layer movement trigger (RFC 6275 §11.5.1): ``link_up``/``link_down``.
* On the home link (RFC 6275 §11.5.5, ``Paths.at_home``) nothing changes in the kernel set-up: packets from the
  home address still come through the TUN device and leave untunnelled to the current router; packets to it
  arriving on the link are the kernel's (the home address is a local address, on the TUN device); Neighbor
  Solicitations for it are answered by the core (the kernel answers only for addresses on the link interface).

Handover latency: the kernel changes a move needs (the new LCoA, the nftables set of own addresses, the default
route, policy rules) are made in-process (:mod:`.mn_kernel`: rtnetlink and libnftables, ~0.1 ms each instead of a
3-5 ms ``ip``/``nft`` fork).  The new LCoA and its nftables entry are in place before the Binding Update leaves
(the BU's source must receive the BA: the access router resolves it with NS, and the kernel must not answer the
tunnel/BA with ICMPv6 errors); removals of old addresses wait until the batch's BUs have been sent.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from ..actions import Action, AddressAdded, AddressRemoved, MnPathsChanged
from ..mn.config import MnConfig
from ..mn.core import MnCore
from ..mn.dataplane import Paths, incoming, outgoing, upper_layer_mtu
from ..wire import fmt
from ..wire.addresses import ip6
from .config import ConfigError, DaemonConfig, load_config, signalling_security
from .linkio import LinkSocket
from .mn_kernel import KernelError, NftLib, Rtnl, link_state
from .netlink import RTM_NEWLINK, messages
from .nft import NftError, Table
from .runner import Daemon, JsonLog, open_log
from .tun import TunDevice, TunError

RTMGRP_LINK = 1
RULE_PRIORITY = "1000"
ROUTE_PROTO = "99"

_DAEMON_KEYS = {"tun", "table"}  # the daemon's own settings; the rest are MnConfig fields
_CONVERTED = {"iface", "home_address", "home_agent", "correspondents", "interface_id", "provisioned_rcoas"}
MN_KEYS = ({f.name for f in dataclasses.fields(MnConfig)} - {"link_address", "lcoa_source"}) | _DAEMON_KEYS


def mn_config(cfg: DaemonConfig, mac: bytes) -> MnConfig:
    """The core's configuration from the ``mn`` section (keys: the :class:`MnConfig` fields, addresses as text)."""
    s = cfg.section
    unknown = set(s) - MN_KEYS
    if unknown:
        raise ConfigError(cfg.path, f"mn: unknown keys {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(MN_KEYS))})")
    try:
        kwargs: dict[str, Any] = {"iface": s["iface"], "link_address": mac, "home_address": ip6(s["home_address"])}
        if s.get("home_agent") is not None:
            kwargs["home_agent"] = ip6(s["home_agent"])
        kwargs["correspondents"] = tuple(ip6(a) for a in s.get("correspondents", ()))
        if s.get("interface_id") is not None:
            kwargs["interface_id"] = bytes.fromhex(str(s["interface_id"]).replace(":", ""))
        kwargs["provisioned_rcoas"] = tuple((ip6(m), ip6(r)) for m, r in s.get("provisioned_rcoas", ()))
        types = {f.name: f.type for f in dataclasses.fields(MnConfig)}
        for key, value in s.items():
            if key in _CONVERTED | _DAEMON_KEYS:
                continue
            kind = types[key]
            kwargs[key] = (bool(value) if kind == "bool" else int(value) if kind == "int"
                           else float(value) if kind == "float" else value)
        return MnConfig(**kwargs)
    except KeyError as exc:
        raise ConfigError(cfg.path, f"mn: missing {exc}") from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(cfg.path, f"mn: {exc}") from None


class CarrierWatch:
    """Carrier of one interface, from rtnetlink's link messages themselves.

    Each RTM_NEWLINK message carries the carrier at that moment (IFF_LOWER_UP, IFLA_CARRIER), so a quick down-up flap
    whose two messages are drained together is still seen as two changes -- re-reading ``/sys`` after draining
    would see "up" twice and miss the movement.  The kernel itself can fold a flap into one message saying "up"
    (its link watcher reports the state it finds when it runs); that message's carrier down count
    (IFLA_CARRIER_DOWN_COUNT) is then higher than the last one seen: a loss, reported as down then up."""

    def __init__(self, iface: str) -> None:
        self.iface = iface
        self.index = socket.if_nametoindex(iface)
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK, socket.NETLINK_ROUTE)
        self.sock.bind((0, RTMGRP_LINK))
        self.up = self.read()
        self.downs = self.read_downs()
        self.overruns = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self) -> bool:
        try:
            with open(f"/sys/class/net/{self.iface}/carrier") as f:
                return f.read().strip() == "1"
        except OSError:  # reading the carrier of a down interface fails with EINVAL
            return False

    def read_downs(self) -> int | None:
        try:
            with open(f"/sys/class/net/{self.iface}/carrier_down_count") as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def _lost(self, downs: int | None) -> bool:
        """Record the down count ``downs``; True if the carrier was lost since the last count."""
        lost = downs is not None and self.downs is not None and downs > self.downs
        if downs is not None:
            self.downs = downs
        return lost

    def changes(self) -> list[bool]:
        """Drain the notifications; every carrier change they report, in order (a flap: ``[False, True]``)."""
        state, seen, overrun = self.up, [], False
        while True:
            try:
                data = self.sock.recv(65535)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                overrun = True  # notifications were lost; the socket goes on delivering later ones
                continue
            for kind, body in messages(data):
                link = link_state(body, self.index) if kind == RTM_NEWLINK else None
                if link is None:
                    continue
                carrier, downs = link
                if self._lost(downs) and state:  # lost (and maybe back) since the last message: a flap
                    state = False
                    seen.append(False)
                if carrier != state:
                    state = carrier
                    seen.append(carrier)
        if overrun:  # messages were lost: the state and down count now (without a count a flap is assumed when up)
            self.overruns += 1
            now, downs = self.read(), self.read_downs()
            if (self._lost(downs) if downs is not None else now) and state:
                state = False
                seen.append(False)
            if now != state:
                seen.append(now)
            state = now
        self.up = state
        return seen

    def changed(self) -> bool | None:
        """The last carrier state if any change was reported, else None (flaps collapse: use :meth:`changes`)."""
        seen = self.changes()
        return seen[-1] if seen else None

    def close(self) -> None:
        self.sock.close()


def _ip(log: JsonLog, *args: str) -> bool:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        log("kernel_config_error", command="ip " + " ".join(args), error=proc.stderr.strip())
    return proc.returncode == 0


def _sysctl(name: str, value: str) -> str:
    """Set a sysctl; return its previous value."""
    path = "/proc/sys/" + name.replace(".", "/")
    with open(path) as f:
        old = f.read().strip()
    with open(path, "w") as f:
        f.write(value)
    return old


class MnHost:
    """Carries out the core's decisions on this host: addresses, routes, the TUN device and the link."""

    def __init__(self, core: MnCore, link: LinkSocket, tun: TunDevice, table: Table, table_id: str,
                 log: JsonLog) -> None:
        self.core, self.link, self.tun, self.table, self.table_id, self.log = core, link, tun, table, table_id, log
        self.paths: Paths = core.paths()
        self.daemon: Daemon | None = None
        self.sources: set[bytes] = {core.config.home_address}  # what the TUN device carries: home address, RCoAs
        self.mtu = 0
        self.saved_sysctls: dict[str, str] = {}
        self.counters = {"tun_out": 0, "tun_dropped": 0, "delivered": 0, "dropped": 0, "link_sent": 0}
        self.rtnl = Rtnl()
        try:
            self.nft: NftLib | None = NftLib()
        except KernelError as exc:  # no libnftables: the nft command (slower) does it
            log("nft_library_unavailable", error=str(exc))
            self.nft = None
        self.deferred: list[tuple[bytes, Callable[[], None]]] = []  # removals, after the batch's Sends
        self._index: dict[str, int] = {}

    def index(self, iface: str) -> int:
        if iface not in self._index:
            self._index[iface] = socket.if_nametoindex(iface)
        return self._index[iface]

    def kernel(self, command: str, call: Callable[[], None], *, quiet: bool = False) -> bool:
        """One in-process kernel change; failures are logged like the ``ip`` command's (``quiet``: ignored)."""
        try:
            call()
            return True
        except (KernelError, OSError) as exc:
            if not quiet:
                self.log("kernel_config_error", command=command, error=str(exc))
            return False

    def flush(self) -> None:
        """The deferred kernel changes of the last batch of actions, in order."""
        while self.deferred:
            self.deferred.pop(0)[1]()

    # -- setting up and tearing down ------------------------------------------------------------------------
    def setup(self) -> None:
        iface, home = self.core.config.iface, fmt(self.core.config.home_address)
        for name in ("accept_ra", "autoconf"):  # the daemon reads RAs (and their MAP options) itself
            self.saved_sysctls[name] = _sysctl(f"net.ipv6.conf.{iface}.{name}", "0")
        self.teardown_kernel_state()
        _ip(self.log, "-6", "addr", "add", f"{home}/128", "dev", self.tun.name, "nodad")
        _ip(self.log, "-6", "route", "replace", "default", "dev", self.tun.name, "table", self.table_id)
        _ip(self.log, "-6", "rule", "add", "from", home, "lookup", self.table_id, "priority", RULE_PRIORITY)
        self._set_mtu()

    def restore(self) -> None:
        """At exit: the host autoconfigures again as it did before the daemon started."""
        for name, value in self.saved_sysctls.items():
            _sysctl(f"net.ipv6.conf.{self.core.config.iface}.{name}", value)

    def teardown_kernel_state(self) -> None:
        """Remove the rules and routes this daemon (or a crashed earlier run) installed."""
        for _ in range(64):
            if subprocess.run(["ip", "-6", "rule", "del", "priority", RULE_PRIORITY], capture_output=True).returncode:
                break
        subprocess.run(["ip", "-6", "route", "flush", "table", self.table_id], capture_output=True)
        subprocess.run(["ip", "-6", "route", "flush", "proto", ROUTE_PROTO], capture_output=True)

    # -- core actions ---------------------------------------------------------------------------------------
    def on_action(self, action: Action) -> bool:
        """Carry out one action.  Called by the runner after it has sent a ``Send`` action; additions take effect
        at once (the BU that follows in the batch is sent from the new LCoA), removals are deferred to
        :meth:`flush` after the batch, behind its BUs."""
        if isinstance(action, MnPathsChanged):
            old, self.paths = self.paths, action.paths
            self._set_mtu()
            if action.paths.router != old.router:
                router = action.paths.router
                if router is not None:
                    self.kernel(f"ip -6 route replace default via {fmt(router)} dev {self.link.name} proto {ROUTE_PROTO}",
                                lambda: self.rtnl.default_route(True, int(ROUTE_PROTO), router,
                                                                self.index(self.link.name)))
                else:
                    self.kernel("ip -6 route del default", lambda: self.rtnl.default_route(False, int(ROUTE_PROTO)),
                                quiet=True)
        elif isinstance(action, AddressAdded):
            self._add(action)
        elif isinstance(action, AddressRemoved):
            self.deferred.append((action.address, lambda: self._remove(action)))
        return False

    def _add(self, action: AddressAdded) -> None:
        address, raw = fmt(action.address), action.address
        # removed earlier in this batch and added again: the kernel keeps it (as removing, then adding, would)
        self.deferred = [(a, call) for a, call in self.deferred if a != raw]
        if action.role == "rcoa":  # base §6.5: usable as a source, sent through the MAP tunnel
            tun = self.index(self.tun.name)
            self.kernel(f"ip -6 addr replace {address}/128 dev {self.tun.name} nodad",
                        lambda: self.rtnl.addr(True, tun, raw, 128))
            self.kernel(f"ip -6 rule add from {address} lookup {self.table_id} priority {RULE_PRIORITY}",
                        lambda: self.rtnl.source_rule(True, raw, int(self.table_id), int(RULE_PRIORITY)))
            self.sources.add(raw)
        else:
            length, valid, preferred = action.prefix_length, action.valid_lifetime, action.preferred_lifetime
            lifetimes = "" if valid == 0xFFFFFFFF else f" valid_lft {valid} preferred_lft {preferred}"
            self.kernel(f"ip -6 addr replace {address}/{length} dev {action.iface} nodad{lifetimes}",
                        lambda: self.rtnl.addr(True, self.index(action.iface), raw, length, valid=valid,
                                               preferred=preferred if valid != 0xFFFFFFFF else 0xFFFFFFFF))
        self._own(address, True)

    def _remove(self, action: AddressRemoved) -> None:
        address, raw = fmt(action.address), action.address
        if action.role == "rcoa":
            self.kernel("ip -6 rule del", lambda: self.rtnl.source_rule(False, raw, int(self.table_id)), quiet=True)
            self.kernel("ip -6 addr del", lambda: self.rtnl.addr(False, self.index(self.tun.name), raw, 128),
                        quiet=True)
            self.sources.discard(raw)
        else:
            self.kernel("ip -6 addr del", lambda: self.rtnl.addr(False, self.index(action.iface), raw, 64),
                        quiet=True)
        self._own(address, False)

    def _set_mtu(self) -> None:
        """RFC 5380 §11: the TUN device's MTU leaves room for the encapsulations the home address's packets get
        (the worst case: reverse tunnel to the HA inside the MAP tunnel, 80 octets)."""
        mtu = max(1280, min(upper_layer_mtu(self.paths), self.paths.link_mtu - 80))
        if mtu != self.mtu:
            if self.kernel(f"ip link set {self.tun.name} mtu {mtu}",
                           lambda: self.rtnl.set_mtu(self.index(self.tun.name), mtu)):
                self.log("tun_mtu", mtu=mtu, link_mtu=self.paths.link_mtu)
                self.mtu = mtu

    def _own(self, address: str, add: bool) -> None:
        if self.nft is not None:  # in-process; the Table's list is kept so that a rebuild keeps the address
            own = self.table.own
            try:
                if add:
                    if address not in own:
                        own.append(address)
                    self.nft.run(f"add element ip6 {self.table.name} own {{ {address} }}")
                else:
                    if address in own:
                        own.remove(address)
                    try:
                        self.nft.run(f"delete element ip6 {self.table.name} own {{ {address} }}")
                    except KernelError:
                        pass  # not in the set (as `nft delete element` failing before): nothing to do
                return
            except KernelError as exc:
                self.log("nft_error", error=str(exc).splitlines()[0], action="rebuilding the table")
                try:
                    self.table.rebuild([])
                except NftError as again:
                    self.log("nft_error", error=str(again).splitlines()[0])
                return
        try:
            self.table.add_own(address) if add else self.table.remove_own(address)
        except NftError as exc:
            self.log("nft_error", error=str(exc).splitlines()[0], action="rebuilding the table")
            try:
                self.table.rebuild([])
            except NftError as again:
                self.log("nft_error", error=str(again).splitlines()[0])

    # -- packets --------------------------------------------------------------------------------------------
    def on_data(self, iface: str, frame: bytes) -> bool:
        """Every frame of the link: True when consumed here (signalling to the core, data to the TUN device)."""
        if frame[12:14] != b"\x86\xdd" or len(frame) < 54:
            return False
        verdict, data = incoming(self.paths, frame[14:])
        if verdict == "pass":
            return False
        if verdict == "deliver":
            self.tun.write(data)
            self.counters["delivered"] += 1
        elif verdict == "drop":
            self.counters["dropped"] += 1
        else:  # "signal": the core gets the packet as it arrived (it unwraps tunnels itself)
            assert self.daemon is not None
            self.daemon.to_core(iface, frame)
        return True

    def on_tun(self) -> None:
        """Packets of the host stack from the home address or an RCoA."""
        for _ in range(64):
            packet = self.tun.read()
            if packet is None:
                return
            if len(packet) < 40 or packet[0] >> 4 != 6 or packet[8:24] not in self.sources:
                self.counters["tun_dropped"] += 1
                continue
            out = outgoing(self.paths, packet)
            mac = self.paths.router_mac
            if out is None or mac is None:
                self.counters["tun_dropped"] += 1
                continue
            self.link.send(mac + self.link.mac + b"\x86\xdd" + out)
            self.counters["tun_out"] += 1


class MnDaemon(Daemon):
    """The runner's daemon, carrying out the host's deferred kernel changes after each batch of actions."""

    host: MnHost | None = None

    def dispatch(self, actions: list[Action]) -> None:
        super().dispatch(actions)
        if self.host is not None and self.host.deferred:
            try:
                self.host.flush()
            except Exception as exc:  # noqa: BLE001 - as the runner does for actions
                self.host.deferred.clear()
                self.internal_error("action", exc, action="deferred kernel change")


def main(argv: list[str] | None = None, core_factory: Callable[..., MnCore] = MnCore) -> int:
    """Run the mobile node.  ``core_factory`` exists for the project's own negative-control tests."""
    p = argparse.ArgumentParser(prog="hmipv6-mn", description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    args = p.parse_args(argv)
    link: LinkSocket | None = None
    try:
        cfg = load_config(args.config)
        if cfg.role != "mn":
            raise ConfigError(args.config, f"role is {cfg.role!r}, not 'mn'")
        tun_name, table_id = str(cfg.section.get("tun", "mip6tun")), str(cfg.section.get("table", 1999))
        link = LinkSocket(str(cfg.section.get("iface")))
        core_cfg = mn_config(cfg, link.mac)
        security = signalling_security(cfg)
        tun = TunDevice(tun_name)
    except (ConfigError, OSError, TunError) as exc:
        if link is not None:
            link.close()
        print(f"hmipv6-mn: {exc}", file=sys.stderr)
        return 2
    log = open_log("mn", cfg.log_file)
    carrier = CarrierWatch(core_cfg.iface)
    if "link_up_at_start" not in cfg.section:  # router discovery at start only with a carrier
        core_cfg = dataclasses.replace(core_cfg, link_up_at_start=carrier.up)
    core = core_factory(core_cfg, cfg.edition)
    core.security = security
    try:
        table = Table("hmipv6_mn", [fmt(core_cfg.home_address)], l4protos=(41, 135, 50, 51), first_headers=(43, 60))
    except NftError as exc:
        link.close()
        tun.close()
        carrier.close()
        print(f"hmipv6-mn: {exc}", file=sys.stderr)
        return 2
    host = MnHost(core, link, tun, table, table_id, log)

    def on_carrier() -> None:
        for state in carrier.changes():  # a flap drained at once is link_down then link_up: still a movement hint
            now = time.monotonic()
            daemon.dispatch(core.link_up(now, core_cfg.iface) if state else core.link_down(now, core_cfg.iface))

    def add_correspondent(now: float, arg: Any) -> list[Action]:
        return core.add_correspondent(now, ip6(str(arg)))

    daemon = MnDaemon("mn", core, {core_cfg.iface: link}, log, cfg.control_socket, lambda iface, frame: False,
                    on_action=host.on_action, on_data=host.on_data, commands={"add-correspondent": add_correspondent},
                    readers={tun: host.on_tun, carrier: on_carrier})
    host.daemon = daemon
    daemon.host = host
    daemon.extra_state = lambda: {"dataplane_counters": dict(host.counters), "carrier": carrier.up,
                                  "carrier_overruns": carrier.overruns}
    host.setup()
    log("starting", config=args.config, edition=cfg.edition, home_address=core_cfg.home_address,
        hmipv6=core_cfg.hmipv6, carrier=carrier.up)
    try:
        daemon.run()
    finally:
        host.teardown_kernel_state()
        host.restore()
        for address in list(host.sources - {core_cfg.home_address}):
            subprocess.run(["ip", "-6", "addr", "del", f"{fmt(address)}/128", "dev", tun_name], capture_output=True)
        if core.lcoa is not None:
            subprocess.run(["ip", "-6", "addr", "del", f"{fmt(core.lcoa)}/64", "dev", core_cfg.iface],
                           capture_output=True)
        tun.close()
        carrier.close()
        table.remove()
        host.rtnl.close()
        if host.nft is not None:
            host.nft.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
