"""Pre-flight check of a lab testbed (``hmipv6ct testbed check FILE`` for ``backend: lab``).

Before any test starts, per device of the testbed file, and in parallel (one thread per device, so ten
unreachable devices cost one timeout, not ten):

- management: the device is reachable and its login works (SSH: TCP connect, pinned host key, authentication;
  serial: the port opens and a login or shell prompt answers; local: the network namespace exists), each step
  bounded by ``timeout``;
- interfaces: every interface the file names exists and is up (with carrier), its declared address present
  (:meth:`~harness.testbed.backend.TestbedBackend.check_node`);
- access points: the AP software answers (``hostapd_cli`` / ``ubus``) and reports the declared BSSID and SSID;
- stations: a scan sees every access point's BSSID (the declared one, else the one the AP reported);
- the tester: each of its ports has carrier and "sees its link": an Echo Request to ff02::1 and a Neighbor
  Solicitation for every declared member address are sent on it, and some answer must come back in time;
- power ports: the declared ones are listed, and asked for the outlet's state when they have a ``status``
  command (:meth:`harness.wifi.power.PowerPort.state`).

No step can hang the check: every command has a timeout, and a device whose thread is still busy at the
phase's deadline is reported (``check did not finish``) and abandoned.  Results are :class:`DeviceReport`
objects (text blocks with OK / PROBLEM lines, or JSON); a device is healthy when it has no PROBLEM.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import random
import re
import select
import threading
import time
from collections.abc import Callable
from typing import Any

from harness.errors import (
    AuthenticationError, CommandTimeoutError, ConnectError, ConnectionLostError, ConsoleError, DriverError,
    HarnessError, HostKeyMismatchError,
)
from harness.testbed.model import Node, Testbed

OK, PROBLEM, WARN, SKIP, INFO = "OK", "PROBLEM", "WARN", "SKIP", "INFO"
DEFAULT_TIMEOUT = 5.0  # s: reaching a device (each of TCP connect, SSH banner, key exchange, login)
PROBE_WINDOW = 2.0  # s: how long a tester port listens for answers on its link


@dataclasses.dataclass
class Finding:
    status: str  # OK | PROBLEM | WARN | SKIP | INFO
    check: str  # management | interface | address | ap | station | scan | link | power | check
    detail: str  # starts with the node's name: "ar1: UNREACHABLE: ssh 198.51.100.11:22: timed out after 5 s"

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class DeviceReport:
    """What the check found on one device."""

    node: str
    role: str
    access: str  # how it is reached: "ssh root@198.51.100.11:22", "serial /dev/ttyUSB0", "local"
    findings: list[Finding] = dataclasses.field(default_factory=list)
    reachable: bool | None = None  # None: not tried (yet)
    elapsed: float = 0.0
    bssid: str | None = None  # an AP's BSSID as it reported it
    usable: set[str] = dataclasses.field(default_factory=set)  # interfaces found present, up and addressed
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False, compare=False)
    _closed: bool = dataclasses.field(default=False, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not any(f.status == PROBLEM for f in self.findings)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.status == PROBLEM]

    def add(self, status: str, check: str, text: str) -> None:
        """Record a finding (``text`` without the node's name); ignored once the report is closed."""
        with self._lock:
            if not self._closed:
                self.findings.append(Finding(status, check, f"{self.node}: {text}"))

    def reopen(self) -> None:
        with self._lock:
            self._closed = False

    def close(self, status: str | None = None, check: str = "", text: str = "") -> None:
        """Stop taking findings (a thread abandoned at the deadline must not write into a printed report)."""
        with self._lock:
            if status and not self._closed:
                self.findings.append(Finding(status, check, f"{self.node}: {text}"))
            self._closed = True

    def text(self) -> str:
        lines = [f"{self.node} ({self.role}; {self.access})"]
        lines += [f"  {f.status:<8}{f.detail}" for f in self.findings]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"node": self.node, "role": self.role, "access": self.access, "ok": self.ok,
                "reachable": self.reachable, "elapsed": round(self.elapsed, 3), "bssid": self.bssid,
                "checks": [f.as_dict() for f in self.findings]}


@dataclasses.dataclass
class LabCheck:
    """The result of a whole check."""

    testbed: str
    path: str
    timeout: float
    devices: list[DeviceReport]
    elapsed: float

    @property
    def ok(self) -> bool:
        return all(d.ok for d in self.devices)

    def text(self) -> str:
        bad = [d.node for d in self.devices if not d.ok]
        blocks = [d.text() for d in self.devices]
        summary = (f"{self.testbed}: {len(self.devices) - len(bad)}/{len(self.devices)} devices OK in "
                   f"{self.elapsed:.1f} s" + (f"; problems: {', '.join(bad)}" if bad else ""))
        return "\n".join(blocks + [summary])

    def as_dict(self) -> dict[str, Any]:
        return {"testbed": self.testbed, "file": self.path, "ok": self.ok, "timeout": self.timeout,
                "elapsed": round(self.elapsed, 3), "devices": [d.as_dict() for d in self.devices]}


# -- descriptions --------------------------------------------------------------------------------
def _hostport(host: str | None, port: int) -> str:
    host = host or "?"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def access_of(node: Node, detail: bool = True) -> str:
    """How ``node`` is reached, for humans (no credentials); ``detail``: with the SSH user and the baud rate."""
    m = node.management
    if m.type == "ssh":
        return f"ssh {m.user + '@' if detail else ''}{_hostport(m.host, m.port)}"
    if m.type == "serial":
        return f"serial {m.device}" + (f" ({m.baudrate} baud)" if detail else "")
    return f"local, netns {m.netns}" if m.netns else "local"


_CONNECT_PREFIX = re.compile(r"^(connect to \S+( in netns \S+)?|cannot open console \S+):?\s*")


def describe_failure(node: Node, exc: BaseException, timeout: float, elapsed: float | None = None) -> str:
    """``KIND: TARGET: reason`` for a management failure (the node's name is added by the report); ``elapsed``:
    how long the attempt took (tells a silent peer from one that closed the connection)."""
    message = str(exc)
    if isinstance(exc, DriverError) and message.startswith(f"{exc.node}: "):
        message = message[len(exc.node) + 2:]
    if isinstance(exc, HostKeyMismatchError):
        kind = "HOST KEY"
    elif isinstance(exc, AuthenticationError):
        kind = "LOGIN REFUSED"
    elif isinstance(exc, ConsoleError):
        kind = "NO PROMPT"
    elif isinstance(exc, CommandTimeoutError):
        kind = "TIMEOUT"
    elif isinstance(exc, ConnectionLostError):
        kind = "CONNECTION LOST"
    elif isinstance(exc, ConnectError):
        kind = "UNREACHABLE"
        message = _CONNECT_PREFIX.sub("", message)
        waited = elapsed is not None and elapsed >= 0.9 * timeout
        if message in ("timed out", ""):
            message = f"timed out after {timeout:g} s"
        elif "protocol banner" in message:  # TCP connected, then no SSH server spoke
            message = ("no SSH banner within " f"{timeout:g} s" if waited or elapsed is None else
                       "the connection was closed before an SSH banner") + f" ({message})"
        elif "timed out" in message:
            message += f" (after {timeout:g} s)"
    elif node.management.type == "ssh":  # paramiko's own exception, e.g. a key exchange that timed out silently
        kind = "UNREACHABLE"
        waited = elapsed is not None and elapsed >= 0.9 * timeout
        message = (f"SSH negotiation did not finish within {timeout:g} s" if waited else "SSH negotiation failed") \
            + f" ({type(exc).__name__}: {message})"
    else:
        kind = "ERROR"
        message = f"{type(exc).__name__}: {message}"
    return f"{kind}: {access_of(node, detail=False)}: {message}"


def _first_line(text: str, limit: int = 160) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[0] if lines else "(no output)"
    return line if len(line) <= limit else line[:limit] + "..."


# -- the checks -----------------------------------------------------------------------------------
class LabChecker:
    """Runs the check over a :class:`~harness.testbed.lab.LabTestbed` (or anything with its accessors:
    ``driver``, ``check_node``, ``ap``, ``station``, ``power``, ``tester_port``)."""

    def __init__(self, backend, timeout: float = DEFAULT_TIMEOUT, command_timeout: float | None = None,
                 probe_window: float | None = None, scan_timeout: float | None = None,
                 phase_deadline: float | None = None, probe: Callable[..., ProbeResult] | None = None) -> None:
        self.backend = backend
        self.spec: Testbed = backend.spec
        self.timeout = timeout
        self.command_timeout = command_timeout if command_timeout is not None else 2 * timeout
        self.probe_window = probe_window if probe_window is not None else min(PROBE_WINDOW, timeout)
        self.scan_timeout = scan_timeout if scan_timeout is not None else max(self.command_timeout, 10.0)
        self.phase_deadline = phase_deadline
        self.probe = probe or probe_link

    # phase deadlines: generous (each step inside is bounded on its own); only a wedged thread meets them
    def _phase1_deadline(self) -> float:
        if self.phase_deadline is not None:
            return self.phase_deadline
        return 3 * self.timeout + 5 * self.command_timeout + self.probe_window + 5

    def _phase2_deadline(self) -> float:
        if self.phase_deadline is not None:
            return self.phase_deadline
        return self.scan_timeout + 4 * self.command_timeout + 5

    def run(self) -> LabCheck:
        start = time.monotonic()
        nodes = [n for n in self.spec.nodes.values() if n.role != "switch"]
        reports = {n.name: DeviceReport(n.name, n.role, access_of(n)) for n in nodes}
        for node in nodes:  # create the drivers in this thread
            self.backend.driver(node.name)
        _parallel({n.name: (lambda n=n: self._device(n, reports[n.name])) for n in nodes},
                  reports, self._phase1_deadline())
        stations = [n for n in nodes if n.station is not None]
        if stations:
            bssids = self._ap_bssids(reports)
            for node in stations:
                reports[node.name].reopen()
            _parallel({n.name: (lambda n=n: self._scan(n, reports[n.name], bssids)) for n in stations},
                      {n.name: reports[n.name] for n in stations}, self._phase2_deadline())
        return LabCheck(self.spec.name, str(self.spec.path), self.timeout, [reports[n.name] for n in nodes],
                        time.monotonic() - start)

    # -- phase 1: one device ----------------------------------------------------------------------
    def _device(self, node: Node, rep: DeviceReport) -> None:
        start = time.monotonic()
        try:
            try:
                self.backend.driver(node.name).open()
            except Exception as exc:  # noqa: BLE001 -- a DriverError; or an SSH library error the driver let through
                rep.reachable = False
                rep.add(PROBLEM, "management", describe_failure(node, exc, self.timeout, time.monotonic() - start))
                names = ", ".join(i.name for i in node.interfaces.values())
                if names:
                    rep.add(SKIP, "interface", f"interfaces {names}: not checked (no management connection)")
                if node.ap is not None:
                    rep.add(SKIP, "ap", "access point: not checked (no management connection)")
            else:
                rep.reachable = True
                rep.add(OK, "management", f"management: {self._login_text(node)} "
                                          f"({1000 * (time.monotonic() - start):.0f} ms)")
                if node.interfaces:
                    self._interfaces(node, rep)
                if node.ap is not None:
                    self._ap(node, rep)
                if node.role == "tester":
                    self._links(node, rep)
            if node.power is not None:  # the PDU answers (or not) whatever the device does
                self._power(node, rep)
        finally:
            rep.elapsed = time.monotonic() - start

    @staticmethod
    def _login_text(node: Node) -> str:
        m = node.management
        if m.type == "ssh":
            return (f"ssh {m.user}@{_hostport(m.host, m.port)}: host key matches "
                    f"{m.known_hosts.name if m.known_hosts else 'known_hosts'}, logged in")
        if m.type == "serial":
            return f"serial {m.device}: shell answers"
        return f"local: network namespace {m.netns} exists" if m.netns else "local: this host"

    def _interfaces(self, node: Node, rep: DeviceReport) -> None:
        health = self.backend.check_node(node)
        if not health.reachable:
            rep.add(PROBLEM, "interface", f"interfaces: {health.detail}")
            return
        if not health.interfaces:  # 'ip -j addr show' failed or printed something else
            if "exited 127" in health.detail:
                rep.add(WARN, "interface", f"interfaces not checked: the device has no 'ip' command "
                                           f"({health.detail}); check {', '.join(node.interfaces)} by hand")
            else:
                rep.add(PROBLEM, "interface", f"interfaces: {health.detail}")
            return
        for ih in health.interfaces:
            iface = node.interfaces[ih.name]
            where = f"{ih.name} (link {iface.link})"
            if not ih.present:
                rep.add(PROBLEM, "interface", f"INTERFACE {where}: does not exist")
                continue
            if not ih.up:
                rep.add(PROBLEM, "interface", f"INTERFACE {where}: not up (administratively down or no carrier)")
            for addr in ih.missing_addresses:
                rep.add(PROBLEM, "address", f"ADDRESS {addr} missing on {where}")
            if ih.ok:
                rep.usable.add(ih.name)
                addr = f", {iface.address.ip} present" if iface.address else ""
                rep.add(OK, "interface", f"interface {where}: up{addr}")

    def _bounded(self, obj: Any) -> Any:
        """``obj`` (an AP, station or power driver) with its per-command timeout cut to the check's."""
        for attr in ("command_timeout", "timeout"):
            value = getattr(obj, attr, None)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > self.command_timeout:
                setattr(obj, attr, self.command_timeout)
        return obj

    def _ap(self, node: Node, rep: DeviceReport) -> None:
        spec = node.ap
        what = f"{spec.driver} {spec.interface}" + (f" ({spec.radio})" if spec.radio else "")
        try:
            status = self._bounded(self.backend.ap(node.name)).status()
        except Exception as exc:  # noqa: BLE001 -- DriverError, WifiError, or no Wi-Fi drivers installed
            rep.add(PROBLEM, "ap", f"AP SOFTWARE: {what} does not answer: {_reason(exc)}")
            return
        bssid = (getattr(status, "bssid", None) or "").lower() or None
        rep.bssid = bssid
        ssid, channel = getattr(status, "ssid", None), getattr(status, "channel", None)
        state = getattr(status, "state", None)
        text = (f"access point {what}: {state or 'answers'}, ssid {ssid!r}, channel {channel}, bssid {bssid}, "
                f"{len(getattr(status, 'stations', None) or [])} station(s)")
        problems = []
        if getattr(status, "enabled", True) is False:
            problems.append(f"AP STATE: {what} is {state}, not serving (hostapd: ENABLED; OpenWrt: radio up)")
        if spec.bssid and bssid != spec.bssid:
            problems.append(f"BSSID: the AP reports {bssid}, the testbed file says {spec.bssid}")
        if ssid is not None and ssid != spec.ssid:
            problems.append(f"SSID: the AP reports {ssid!r}, the testbed file says {spec.ssid!r}")
        if not bssid and not spec.bssid:
            problems.append("BSSID: the AP reports none and the testbed file declares none")
        if problems:
            rep.add(INFO, "ap", text)
            for problem in problems:
                rep.add(PROBLEM, "ap", problem)
        else:
            rep.add(OK, "ap", text)
        if channel is not None and channel != spec.channel:
            rep.add(WARN, "ap", f"channel: the AP reports {channel}, the testbed file says {spec.channel}")

    def _power(self, node: Node, rep: DeviceReport) -> None:
        """List the declared power port; ask it for the outlet's state when it has a ``status`` template."""
        p = node.power
        if p.type == "none":
            rep.add(INFO, "power", "power: none (declared)")
            return
        templates = [k for k in ("on", "off", "cycle", "status") if getattr(p, k)]
        outlet = f" outlet {p.outlet}" if p.outlet else ""
        rep.add(INFO, "power", f"power: {p.type}{outlet} ({', '.join(templates)})")
        if not p.status:
            return
        try:
            state = self._bounded(self.backend.power(node.name)).state()
        except Exception as exc:  # noqa: BLE001 -- PowerError, a bad template, or no Wi-Fi/power drivers
            reason = _reason(exc)
            for prefix in (f"power {node.name}: status: ", f"power {node.name}: "):  # PowerError's own prefix
                reason = reason.removeprefix(prefix)
            rep.add(PROBLEM, "power", f"POWER: status of{outlet or ' the port'} failed: {reason}")
            return
        rep.add(OK, "power", f"power status: {_first_line(str(state)) if state else '(no answer)'}")

    def _links(self, node: Node, rep: DeviceReport) -> None:
        """Each tester port that is up: does anything on its link answer?"""
        ifaces = [i for i in node.interfaces.values() if i.name in rep.usable]
        skipped = [i for i in node.interfaces.values() if i.name not in rep.usable]
        for iface in skipped:
            rep.add(SKIP, "link", f"link {iface.link}: not probed (port {iface.name} is not usable)")
        results: dict[str, Any] = {}

        def probe(iface) -> None:
            link = self.spec.links[iface.link]
            declared = {str(m.address.ip): name for name, m in link.members.items()
                        if m.address is not None and name != node.name}
            try:
                netns, ifname = self.backend.tester_port(iface.link)
                results[iface.link] = self.probe(netns, ifname, iface.link, declared, self.probe_window)
            except Exception as exc:  # noqa: BLE001
                results[iface.link] = exc

        threads = [threading.Thread(target=probe, args=(i,), daemon=True, name=f"probe:{i.link}") for i in ifaces]
        for t in threads:
            t.start()
        end = time.monotonic() + self.probe_window + 5
        for t in threads:
            t.join(max(0.0, end - time.monotonic()))
        for iface in ifaces:
            res = results.get(iface.link)
            where = f"{iface.link} (port {iface.name})"
            if res is None:
                rep.add(PROBLEM, "link", f"LINK {where}: probe did not finish")
            elif isinstance(res, BaseException):
                rep.add(PROBLEM, "link", f"LINK {where}: cannot probe: {_reason(res)}")
            elif not res.answered:
                rep.add(PROBLEM, "link", f"LINK {where}: silent: no answer to an echo request to ff02::1"
                                         + (f" or to neighbor solicitations for {', '.join(res.declared)}"
                                            if res.declared else "") + f" within {self.probe_window:g} s")
            else:
                rep.add(OK, "link", f"link {iface.link}: sees its link: {res.describe()}")
                silent = [f"{name} ({addr})" for addr, name in res.declared.items() if addr not in res.resolved]
                if silent:
                    rep.add(WARN, "link", f"link {iface.link}: no neighbor advertisement from {', '.join(silent)}")

    # -- phase 2: stations --------------------------------------------------------------------------
    def _ap_bssids(self, reports: dict[str, DeviceReport]) -> dict[str, str | None]:
        """AP node -> its BSSID: declared, else reported in phase 1 (None: unknown)."""
        return {ap.name: ap.ap.bssid or reports[ap.name].bssid for ap in self.spec.access_points()}

    def _scan(self, node: Node, rep: DeviceReport, bssids: dict[str, str | None]) -> None:
        start = time.monotonic()
        st = node.station
        what = f"station {st.driver} {st.interface}"
        try:
            if not rep.reachable:
                rep.add(SKIP, "scan", f"{what}: scan not run (no management connection)")
                return
            try:
                station = self._bounded(self.backend.station(node.name))
                status = station.status()
            except Exception as exc:  # noqa: BLE001
                rep.add(PROBLEM, "station", f"STATION: {what} does not answer: {_reason(exc)}")
                return
            state, cur = getattr(status, "state", None), getattr(status, "bssid", None)
            rep.add(OK, "station", f"{what}: {state}" + (f", associated with {_ap_name(cur, bssids)}" if cur else ""))
            wanted = sorted({b for b in bssids.values() if b})
            entries = self._scan_entries(station, wanted, rep, what)
            if entries is None:
                return
            seen = {(e.bssid or "").lower(): e for e in entries}
            for ap_name, bssid in bssids.items():
                ap = self.spec.nodes[ap_name].ap
                if bssid is None:
                    rep.add(SKIP, "scan", f"scan: {ap_name}: BSSID unknown (the file declares none and the AP "
                                          "did not report one)")
                    continue
                entry = seen.get(bssid)
                if entry is None:
                    rep.add(PROBLEM, "scan", f"SCAN: {what} does not see {ap_name} ({bssid}, ssid {ap.ssid!r}, "
                                             f"channel {ap.channel}) within {self.scan_timeout:g} s, among "
                                             f"{len(entries)} BSS(s)")
                    continue
                rep.add(OK, "scan", f"scan sees {ap_name} ({bssid}) at {entry.freq} MHz, "
                                    f"{entry.signal_dbm} dBm, ssid {entry.ssid!r}")
                if entry.ssid is not None and entry.ssid != ap.ssid:
                    rep.add(WARN, "scan", f"scan: {ap_name} ({bssid}) announces ssid {entry.ssid!r}, "
                                          f"the testbed file says {ap.ssid!r}")
        finally:
            rep.elapsed += time.monotonic() - start

    def _scan_entries(self, station, wanted: list[str], rep: DeviceReport, what: str) -> list | None:
        """Scan until every wanted BSSID is seen or the scan timeout; on that timeout, what the station did see."""
        try:
            return list(station.scan(timeout=self.scan_timeout, want=wanted))
        except Exception as exc:  # noqa: BLE001
            first = exc
        if type(first).__name__ != "WifiTimeoutError":  # the scan itself failed
            rep.add(PROBLEM, "scan", f"SCAN: {what}: {_reason(first)}")
            return None
        try:  # the BSS table as it is now, for one line per access point
            return list(station.scan(timeout=0.0))
        except Exception:  # noqa: BLE001
            rep.add(PROBLEM, "scan", f"SCAN: {what}: {_reason(first)}")
            return None


def _ap_name(bssid: str, bssids: dict[str, str | None]) -> str:
    bssid = bssid.lower()
    name = next((n for n, b in bssids.items() if b == bssid), None)
    return f"{name} ({bssid})" if name else bssid


def _reason(exc: BaseException) -> str:
    """Why something failed, in one line (a driver error without its node's name: the report adds that)."""
    text = str(exc)
    if isinstance(exc, DriverError):
        return text[len(exc.node) + 2:] if text.startswith(f"{exc.node}: ") else text
    if isinstance(exc, ImportError):
        return f"the Wi-Fi drivers are not available ({exc})"
    if isinstance(exc, HarnessError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _parallel(tasks: dict[str, Callable[[], None]], reports: dict[str, DeviceReport], deadline: float) -> None:
    """Run each task in its own daemon thread; a task still running after ``deadline`` seconds is reported in its
    device's report and abandoned (never joined again: the process can exit with it)."""
    threads: dict[str, threading.Thread] = {}
    errors: dict[str, BaseException] = {}

    def wrap(name: str, fn: Callable[[], None]) -> Callable[[], None]:
        def target() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 -- a bug in one device's check must not hide the others
                errors[name] = exc
        return target

    for name, fn in tasks.items():
        threads[name] = threading.Thread(target=wrap(name, fn), name=f"labcheck:{name}", daemon=True)
        threads[name].start()
    end = time.monotonic() + deadline
    for name, t in threads.items():
        t.join(max(0.0, end - time.monotonic()))
    for name, t in threads.items():
        rep = reports[name]
        if t.is_alive():
            last = rep.findings[-1].check if rep.findings else "management"
            rep.close(PROBLEM, "check", f"CHECK: did not finish within {deadline:g} s (stuck after: {last}); "
                                        "abandoned")
        elif name in errors:
            exc = errors[name]
            rep.close(PROBLEM, "check", f"CHECK: failed: {type(exc).__name__}: {exc}")
        else:
            rep.close()


# -- the tester's link probe ----------------------------------------------------------------------
@dataclasses.dataclass
class ProbeResult:
    link: str
    declared: dict[str, str]  # declared member address -> node
    echo: dict[str, str] = dataclasses.field(default_factory=dict)  # echo reply source -> MAC
    resolved: dict[str, str] = dataclasses.field(default_factory=dict)  # declared address -> MAC (from an NA)
    solicitors: set[str] = dataclasses.field(default_factory=set)  # who resolved the tester's own address

    @property
    def answered(self) -> bool:
        return bool(self.echo or self.resolved or self.solicitors)

    def describe(self) -> str:
        names = {mac: self.declared[addr] for addr, mac in self.resolved.items()}
        parts = [f"{self.declared[a]} ({a})" for a in self.resolved]
        others = [f"{src}" + (f" [{names[mac]}]" if mac in names else "") for src, mac in self.echo.items()]
        text = []
        if parts:
            text.append("neighbor advertisement from " + ", ".join(parts))
        if others:
            text.append(f"{len(others)} echo repl{'y' if len(others) == 1 else 'ies'} ({', '.join(sorted(others)[:6])}"
                        + (", ..." if len(others) > 6 else "") + ")")
        if not text and self.solicitors:
            text.append("neighbor solicitation from " + ", ".join(sorted(self.solicitors)))
        return "; ".join(text)


def probe_link(netns: str | None, ifname: str, link: str, declared: dict[str, str], window: float) -> ProbeResult:
    """Send an Echo Request to ff02::1 and a Neighbor Solicitation for each declared address on the tester port
    ``ifname`` (in ``netns``) and collect what answers within ``window`` seconds.  The tester's source is the EUI-64
    link-local address of its port; it answers Neighbor Solicitations for it, so that unicast echo replies come."""
    from harness.tester import packets as P
    from harness.tester.port import Port

    port = Port(link, netns, ifname)
    try:
        mac = P.mac_str(port.mac)
        src = P.link_local_from_mac(mac)
        ident = random.randrange(1, 0xFFFF)
        result = ProbeResult(link, dict(declared))
        echo = bytes(P.Ether(src=mac, dst="33:33:00:00:00:01") / P.IPv6(src=src, dst="ff02::1", hlim=64)
                     / P.ICMPv6EchoRequest(id=ident, seq=1, data=b"hmipv6ct testbed check"))
        solicitations = [
            bytes(P.Ether(src=mac, dst=P.solicited_node_mac(addr)) / P.IPv6(src=src, dst=P.solicited_node(addr), hlim=255)
                  / P.ICMPv6ND_NS(tgt=addr) / P.ICMPv6NDOptSrcLLAddr(lladdr=mac))
            for addr in declared]
        start = time.monotonic()
        end = start + window
        resend = start + window / 2
        for frame in [echo, *solicitations]:
            port.send(frame)
        while True:
            now = time.monotonic()
            if now >= end:
                break
            if resend and now >= resend:  # a lost first frame (a port that just came up) gets a second chance
                resend = 0.0
                for frame in [echo, *[s for s, a in zip(solicitations, declared) if a not in result.resolved]]:
                    port.send(frame)
            if result.echo and len(result.resolved) == len(declared):
                break
            ready, _, _ = select.select([port], [], [], min(0.05, max(0.0, end - now)))
            if not ready:
                continue
            while (got := port.receive()) is not None:
                _ts, data, outgoing = got
                if not outgoing:
                    _answer(port, P, data, mac, src, ident, result)
        return result
    finally:
        port.close()


def _answer(port, P, data: bytes, mac: str, src: str, ident: int, result: ProbeResult) -> None:
    try:
        pkt = P.decode(data)
    except Exception:  # noqa: BLE001 -- not our business: a frame scapy cannot read
        return
    ip = pkt.getlayer(P.IPv6)
    if ip is None:
        return
    ether_src = pkt[P.Ether].src
    if P.ICMPv6EchoReply in pkt and pkt[P.ICMPv6EchoReply].id == ident:
        result.echo[ip.src] = ether_src
    elif P.ICMPv6ND_NA in pkt:
        target = _norm(pkt[P.ICMPv6ND_NA].tgt)
        if target in result.declared:
            result.resolved[target] = ether_src
    elif P.ICMPv6ND_NS in pkt and _norm(pkt[P.ICMPv6ND_NS].tgt) == _norm(src):
        if ip.src != "::":
            result.solicitors.add(ip.src)
        port.send(P.neighbor_advert(pkt, mac, router=False))


def _norm(address: str) -> str:
    try:
        return str(ipaddress.IPv6Address(address))
    except ValueError:
        return address


# -- entry point -----------------------------------------------------------------------------------
def check_lab(spec: Testbed, timeout: float = DEFAULT_TIMEOUT, backend=None) -> LabCheck:
    """Check the lab ``spec`` (a loaded testbed file with ``backend: lab``) device by device."""
    if backend is None:
        from harness.testbed.lab import LabTestbed
        backend = LabTestbed(spec, connect_timeout=timeout)
    try:
        return LabChecker(backend, timeout=timeout).run()
    finally:
        _close_quietly(backend)


def _close_quietly(backend) -> None:
    """Close the drivers, each in a daemon thread with a bound (a driver wedged in an abandoned check must not
    hold the command up)."""
    t = threading.Thread(target=backend.close_drivers, daemon=True, name="labcheck:close")
    t.start()
    t.join(5)
