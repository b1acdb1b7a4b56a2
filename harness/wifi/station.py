"""Drive a mobile device's Wi-Fi through the command seam (:class:`harness.drivers.base.CommandDriver`).

A :class:`Station` only sends shell commands through its driver, so the same class works over SSH, a
serial console or locally in a network namespace.  Two implementations:

* :class:`WpaCliStation`: ``wpa_cli`` talking to a running wpa_supplicant (status, scans, roams with
  make-before-break, the ``-t`` log for roam timing);
* :class:`IwStation`: ``iw`` alone, for open networks on a device without wpa_supplicant (a "roam"
  is disconnect + connect; no WPA/RSN).

An adb or vendor-CLI station is one more subclass: implement :meth:`Station.status`,
:meth:`Station.roam`, :meth:`Station.reassociate`, :meth:`Station.disconnect`, :meth:`Station.signal`,
:meth:`Station._trigger_scan` and :meth:`Station._scan_results`; polling, deadlines and the event log
come from the base class.

States use wpa_supplicant's ``wpa_state`` words (``COMPLETED`` = connected, ``SCANNING``,
``ASSOCIATING``, ``DISCONNECTED``, ...) whatever the tool, so tests can be written once.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import re
import shlex
import time
from collections.abc import Callable, Iterable

from harness.drivers.base import CommandDriver, CommandResult
from harness.wifi import wpalog
from harness.wifi.errors import WifiError, WifiTimeoutError
from harness.wifi.wpalog import Disconnection, Roam, WpaEvent

__all__ = ["IwStation", "ScanEntry", "SignalInfo", "Station", "StationStatus", "WpaCliStation"]

log = logging.getLogger("harness.wifi")

MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$")
#: what wpa_cli and hostapd_cli print when the daemon does not answer within their own 10 s
#: (wpa_cli then exits 254, hostapd_cli 0)
TIMED_OUT_RE = re.compile(r"^'[^']*' command timed out\.", re.M)
CONNECTED = "COMPLETED"


def check_mac(mac: str, node: str) -> str:
    """``mac`` in lower case, or :class:`WifiError` when it is not ``xx:xx:xx:xx:xx:xx``."""
    if not isinstance(mac, str) or not MAC_RE.match(mac):
        raise WifiError(node, f"not a MAC address: {mac!r}")
    return mac.lower()


def run_checked(driver: CommandDriver, command: str, what: str, timeout: float) -> CommandResult:
    """Run ``command`` on ``driver``; :class:`WifiError` naming ``what`` when it exits non-zero (shared by the
    station and access point drivers)."""
    result = driver.run(command, timeout=timeout)
    if result.exit_status != 0:
        detail = " | ".join((result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-3:])
        raise WifiError(driver.node, f"{what}: {command!r} exited {result.exit_status}: {detail}")
    return result


def parse_kv(text: str) -> dict[str, str]:
    """``key=value`` lines (wpa_cli/hostapd_cli replies) as a dict; other lines are ignored."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key and " " not in key:
            out[key.strip()] = value.strip()
    return out


def _int(value: object) -> int | None:
    try:
        return int(float(str(value)))
    except (TypeError, ValueError):
        return None


def _float(value: object) -> float | None:
    try:
        return float(str(value))
    except (TypeError, ValueError):
        return None


@dataclasses.dataclass(frozen=True)
class StationStatus:
    """Where a station is.  ``state`` uses wpa_supplicant's words; ``raw`` is the tool's own output."""

    state: str
    bssid: str | None = None
    ssid: str | None = None
    freq: int | None = None
    address: str | None = None
    ip_address: str | None = None
    raw: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def connected(self) -> bool:
        return self.state == CONNECTED


@dataclasses.dataclass(frozen=True)
class ScanEntry:
    """One BSS a scan saw.  ``signal_dbm`` is None when the tool reports no level."""

    bssid: str
    freq: int | None
    signal_dbm: float | None
    ssid: str
    flags: str = ""


@dataclasses.dataclass(frozen=True)
class SignalInfo:
    """The link as the station measures it.  ``link_speed`` in Mbit/s."""

    rssi_dbm: int | None
    link_speed: float | None
    freq: int | None
    noise_dbm: int | None = None
    raw: dict[str, str] = dataclasses.field(default_factory=dict)


class Station(abc.ABC):
    """A mobile device's Wi-Fi interface, driven through ``driver``.

    ``log_path`` is a wpa_supplicant log written with ``-t`` on the device (for :meth:`events`,
    :meth:`roams`); ``log_tail_bytes`` reads only that many bytes of its end (``tail -c``) instead of
    the whole file.  ``command_timeout`` bounds every command, ``poll_interval`` the pause between
    two polls of a wait.
    """

    #: tool name used in messages
    tool = "station"

    def __init__(self, driver: CommandDriver, interface: str = "wlan0", *, log_path: str | None = None,
                 log_tail_bytes: int | None = None, command_timeout: float = 15.0,
                 poll_interval: float = 0.2) -> None:
        self.driver = driver
        self.interface = interface
        self.log_path = log_path
        self.log_tail_bytes = log_tail_bytes
        self.command_timeout = command_timeout
        self.poll_interval = poll_interval
        self.clock: Callable[[], float] = time.monotonic
        self.sleep: Callable[[float], None] = time.sleep

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.node!r}, {self.interface!r})"

    @property
    def node(self) -> str:
        return self.driver.node

    # -- what each tool implements --------------------------------------------------------------

    @abc.abstractmethod
    def status(self) -> StationStatus:
        """The current state, BSS and addresses."""

    @abc.abstractmethod
    def roam(self, bssid: str) -> None:
        """Ask the station to move to ``bssid``; returns once asked (see :meth:`wait_connected`)."""

    @abc.abstractmethod
    def reassociate(self) -> None:
        """Ask the station to (re)associate with its network; returns once asked."""

    @abc.abstractmethod
    def disconnect(self) -> None:
        """Leave the current BSS and stay disconnected."""

    @abc.abstractmethod
    def signal(self) -> SignalInfo:
        """RSSI, link speed and frequency of the current link (:class:`WifiError` when not connected)."""

    @abc.abstractmethod
    def _trigger_scan(self) -> None:
        """Start a scan (a scan already running is fine)."""

    @abc.abstractmethod
    def _scan_results(self) -> list[ScanEntry]:
        """What the station's scan table holds now."""

    # -- shared machinery ------------------------------------------------------------------------

    def _run(self, command: str, what: str, timeout: float | None = None) -> CommandResult:
        return run_checked(self.driver, command, what, self.command_timeout if timeout is None else timeout)

    def _deadline_loop(self, timeout: float) -> Iterable[float]:
        """Yield the time left until ``timeout`` has passed, sleeping ``poll_interval`` between yields.

        Always yields at least once; the last yield happens at or after the deadline with 0.0.
        """
        deadline = self.clock() + timeout
        while True:
            left = deadline - self.clock()
            yield max(left, 0.0)
            if left <= 0:
                return
            self.sleep(min(self.poll_interval, max(deadline - self.clock(), 0.0)))

    def scan(self, timeout: float = 10.0, want: Iterable[str] = (), min_entries: int = 1) -> list[ScanEntry]:
        """Trigger a scan and poll the results until they hold ``min_entries`` entries and every BSSID
        in ``want``, or ``timeout`` seconds have passed.

        Results come from the station's scan table, which can also hold BSSes seen by earlier scans
        (until the station expires them).  Missing ``want`` BSSIDs at the deadline raise
        :class:`WifiTimeoutError`; otherwise what was seen is returned (possibly empty).
        """
        wanted = {check_mac(b, self.node) for b in want}
        self._trigger_scan()
        entries: list[ScanEntry] = []
        for left in self._deadline_loop(timeout):
            entries = self._scan_results()
            seen = {e.bssid for e in entries}
            if len(entries) >= min_entries and wanted <= seen:
                return entries
            if left <= 0:
                break
        missing = wanted - {e.bssid for e in entries}
        if missing:
            raise WifiTimeoutError(self.node, f"{self.interface}: scan did not see {', '.join(sorted(missing))} "
                                              f"within {timeout:g} s (saw {', '.join(sorted(e.bssid for e in entries)) or 'nothing'})")
        return entries

    def wait_connected(self, bssid: str | None = None, timeout: float = 30.0) -> StationStatus:
        """Poll :meth:`status` until the station is connected (to ``bssid`` when given).

        Raises :class:`WifiTimeoutError` naming the node, the wanted BSS and the last state seen.
        """
        target = check_mac(bssid, self.node) if bssid else None
        status = None
        for left in self._deadline_loop(timeout):
            status = self.status()
            if status.connected and (target is None or status.bssid == target):
                return status
            if left <= 0:
                break
        assert status is not None
        raise WifiTimeoutError(self.node, f"{self.interface} not connected to {target or 'any BSS'} within "
                                          f"{timeout:g} s (last state {status.state}, bssid {status.bssid or 'none'})")

    # -- the wpa_supplicant -t log ---------------------------------------------------------------

    def _read_log(self, tail_bytes: int | None = None) -> str:
        if not self.log_path:
            raise WifiError(self.node, f"{self.interface}: no event log configured for this {self.tool} station "
                                       "(pass log_path= of a wpa_supplicant log written with -t)")
        path = shlex.quote(self.log_path)
        tail = tail_bytes if tail_bytes is not None else self.log_tail_bytes
        command = f"tail -c {int(tail)} -- {path}" if tail else f"cat -- {path}"
        text = self._run(command, f"cannot read the wpa_supplicant log {self.log_path}").stdout
        if tail and len(text.encode()) >= int(tail):
            text = text.partition("\n")[2]  # tail cut into the file: its first line may be a partial one
        return text

    def events(self, since: float | None = None) -> list[WpaEvent]:
        """Events of the station's wpa_supplicant log (station clock), after ``since`` when given."""
        text = self._read_log()
        events = wpalog.parse(text)
        if text.strip() and not events:
            raise WifiError(self.node, f"{self.log_path} has no timestamped lines: was wpa_supplicant started with -t?")
        return [e for e in events if since is None or e.time > since]

    def log_mark(self) -> float:
        """The station-clock time of the last logged event (0.0 for an empty log): a ``since`` value."""
        events = wpalog.parse(self._read_log(tail_bytes=self.log_tail_bytes or 65536))
        return events[-1].time if events else 0.0

    def roams(self, since: float | None = None) -> list[Roam]:
        """(Re)associations of this interface from the log (see :func:`harness.wifi.wpalog.roams`)
        that started after ``since`` (station clock)."""
        found = wpalog.roams(self.events(), self.interface)
        return [r for r in found if since is None or r.started > since]

    def disconnections(self, since: float | None = None) -> list[Disconnection]:
        """CTRL-EVENT-DISCONNECTED lines of this interface after ``since`` (station clock)."""
        return wpalog.disconnections(self.events(since), self.interface)

    def wait_event(self, contains: str, since: float | None = None, timeout: float = 30.0) -> WpaEvent:
        """Poll the log until a line of this interface after ``since`` contains ``contains``."""
        events: list[WpaEvent] = []
        for left in self._deadline_loop(timeout):
            events = [e for e in self.events(since) if e.interface == self.interface]
            for ev in events:
                if contains in ev.text:
                    return ev
            if left <= 0:
                break
        last = events[-1].text if events else "no new line"
        raise WifiTimeoutError(self.node, f"{self.interface}: no log line containing {contains!r} within "
                                          f"{timeout:g} s (last: {last})")


class WpaCliStation(Station):
    """A station managed by wpa_supplicant, driven with ``wpa_cli [-p CTRL_DIR] -i IFACE ...``.

    ``wpa_cli`` exits 0 even when wpa_supplicant refuses a request; the reply (``OK``, ``FAIL``,
    ``FAIL-BUSY``, ``UNKNOWN COMMAND``) is checked and anything but the expected one raises
    :class:`WifiError`.  A missing control socket makes ``wpa_cli`` exit 255, a wpa_supplicant that
    does not answer within wpa_cli's own 10 s makes it exit 254 (``'STATUS' command timed out.``):
    both raise WifiError, well inside the default ``command_timeout`` of 15 s.
    """

    tool = "wpa_cli"

    def __init__(self, driver: CommandDriver, interface: str = "wlan0", ctrl_dir: str | None = None,
                 log_path: str | None = None, *, log_tail_bytes: int | None = None,
                 command_timeout: float = 15.0, poll_interval: float = 0.2) -> None:
        super().__init__(driver, interface, log_path=log_path, log_tail_bytes=log_tail_bytes,
                         command_timeout=command_timeout, poll_interval=poll_interval)
        self.ctrl_dir = ctrl_dir

    def _cli(self, *args: str) -> str:
        argv = ["wpa_cli"] + (["-p", self.ctrl_dir] if self.ctrl_dir else []) + ["-i", self.interface, *args]
        command = " ".join(shlex.quote(a) for a in argv)
        return self._run(command, f"wpa_cli {args[0]}").stdout

    def _ok(self, *args: str, accept: tuple[str, ...] = ("OK",), hint: str = "") -> str:
        reply = self._cli(*args).strip()
        first = reply.splitlines()[0].strip() if reply else ""
        if first not in accept:
            raise WifiError(self.node, f"{self.interface}: wpa_cli {' '.join(args)} replied {reply or 'nothing'!r}"
                                       + (f" ({hint})" if hint else ""))
        return first

    def status(self) -> StationStatus:
        raw = parse_kv(self._cli("status"))
        if "wpa_state" not in raw:
            raise WifiError(self.node, f"{self.interface}: wpa_cli status gave no wpa_state: {raw}")
        bssid = raw.get("bssid")
        return StationStatus(state=raw["wpa_state"], bssid=bssid.lower() if bssid else None, ssid=raw.get("ssid"),
                             freq=_int(raw.get("freq")), address=raw.get("address"),
                             ip_address=raw.get("ip_address"), raw=raw)

    def _trigger_scan(self) -> None:
        self._ok("scan", accept=("OK", "FAIL-BUSY"))

    def _scan_results(self) -> list[ScanEntry]:
        return parse_scan_results(self._cli("scan_results"))

    def roam(self, bssid: str) -> None:
        bssid = check_mac(bssid, self.node)
        self._ok("roam", bssid, hint="wpa_supplicant refuses a BSS missing from its scan table or of another network")

    def reassociate(self) -> None:
        self._ok("reassociate")

    def disconnect(self) -> None:
        self._ok("disconnect")

    def signal(self) -> SignalInfo:
        reply = self._cli("signal_poll")
        raw = parse_kv(reply)
        if "RSSI" not in raw:
            raise WifiError(self.node, f"{self.interface}: wpa_cli signal_poll replied {reply.strip()!r} (not connected?)")
        noise = _int(raw.get("NOISE"))
        return SignalInfo(rssi_dbm=_int(raw.get("RSSI")), link_speed=_float(raw.get("LINKSPEED")),
                          freq=_int(raw.get("FREQUENCY")), noise_dbm=None if noise == 9999 else noise, raw=raw)


def parse_scan_results(text: str) -> list[ScanEntry]:
    """``wpa_cli scan_results``: a header, then ``bssid TAB freq TAB level TAB flags TAB ssid`` lines."""
    entries = []
    for line in text.splitlines():
        fields = line.split("\t", 4)
        if len(fields) < 3 or not MAC_RE.match(fields[0]):
            continue
        fields += [""] * (5 - len(fields))
        entries.append(ScanEntry(fields[0].lower(), _int(fields[1]), _float(fields[2]), fields[4], fields[3]))
    return entries


_IW_BSS = re.compile(r"^BSS ([0-9a-fA-F:]{17})\(on [^)]*\)(.*)$")
_IW_ERRNO = re.compile(r"\((-\d+)\)")
EBUSY, ENETDOWN, EALREADY = -16, -100, -114


@dataclasses.dataclass(frozen=True)
class _IwBss:
    entry: ScanEntry
    secured: bool
    associated: bool


def parse_iw_scan(text: str) -> list[_IwBss]:
    """``iw dev IFACE scan [dump]``: ``BSS MAC(on IFACE)`` blocks with tab-indented fields."""
    blocks: list[dict[str, object]] = []
    for line in text.splitlines():
        m = _IW_BSS.match(line)
        if m:
            blocks.append({"bssid": m.group(1).lower(), "associated": "associated" in m.group(2), "secured": False})
            continue
        if not blocks or not line.startswith("\t") or line.startswith("\t\t"):
            continue
        key, _, value = line.strip().partition(":")
        value = value.strip()
        cur = blocks[-1]
        if key == "freq":
            cur["freq"] = _int(value)
        elif key == "signal":
            cur["signal"] = _float(value.split()[0]) if value else None
        elif key == "SSID":
            cur["ssid"] = value
        elif key in ("RSN", "WPA"):
            cur["secured"] = True
        elif key == "capability":
            cur["flags"] = value
    return [_IwBss(ScanEntry(str(b["bssid"]), b.get("freq"), b.get("signal"), str(b.get("ssid", "")),  # type: ignore[arg-type]
                             str(b.get("flags", ""))), bool(b["secured"]), bool(b["associated"])) for b in blocks]


def parse_iw_link(text: str) -> dict[str, str]:
    """``iw dev IFACE link``: ``{"bssid": ..., "SSID": ..., "freq": ..., "signal": ..., ...}`` or ``{}``."""
    lines = text.splitlines()
    m = re.match(r"^Connected to ([0-9a-fA-F:]{17})", lines[0]) if lines else None
    if not m:
        return {}
    out = {"bssid": m.group(1).lower()}
    for line in lines[1:]:
        key, sep, value = line.strip().partition(":")
        if sep and key:
            out[key.strip()] = value.strip()
    return out


class IwStation(Station):
    """A station driven with ``iw`` alone (open networks only: iw cannot run a WPA handshake).

    ``iw`` has no roam: :meth:`roam` disconnects and connects to the target (break-before-make),
    with the target's SSID and frequency taken from the scan table.  ``iw`` keeps no event log;
    :meth:`events` and :meth:`roams` work only when ``log_path`` names a wpa_supplicant ``-t`` log.
    """

    tool = "iw"

    def __init__(self, driver: CommandDriver, interface: str = "wlan0", *, log_path: str | None = None,
                 log_tail_bytes: int | None = None, command_timeout: float = 15.0,
                 poll_interval: float = 0.2) -> None:
        super().__init__(driver, interface, log_path=log_path, log_tail_bytes=log_tail_bytes,
                         command_timeout=command_timeout, poll_interval=poll_interval)
        self._last_bssid: str | None = None

    def _iw(self, args: str, what: str, ok_errnos: tuple[int, ...] = ()) -> CommandResult:
        command = f"iw dev {shlex.quote(self.interface)} {args}"
        result = self.driver.run(command, timeout=self.command_timeout)
        if result.exit_status != 0:
            text = (result.stderr.strip() or result.stdout.strip() or "no output")
            m = _IW_ERRNO.search(text)
            errno = int(m.group(1)) if m else None
            if errno is not None and errno in ok_errnos:
                return result
            hint = {ENETDOWN: " (interface down)", EBUSY: " (device busy)"}.get(errno or 0, "")
            raise WifiError(self.node, f"{what}: {command!r} exited {result.exit_status}: "
                                       f"{' | '.join(text.splitlines()[-3:])}{hint}")
        return result

    def status(self) -> StationStatus:
        link = parse_iw_link(self._iw("link", "iw link").stdout)
        info = parse_iw_info(self._iw("info", "iw info").stdout)
        address = info.get("addr")
        if not link:
            return StationStatus("DISCONNECTED", address=address, raw={**info})
        self._last_bssid = link["bssid"]
        return StationStatus(CONNECTED, bssid=link["bssid"], ssid=link.get("SSID"), freq=_int(link.get("freq")),
                             address=address, raw={**info, **link})

    def _trigger_scan(self) -> None:
        self._iw("scan trigger", "iw scan trigger", ok_errnos=(EBUSY,))

    def _bss_table(self) -> list[_IwBss]:
        return parse_iw_scan(self._iw("scan dump", "iw scan dump").stdout)

    def _scan_results(self) -> list[ScanEntry]:
        return [b.entry for b in self._bss_table()]

    def _connect(self, bssid: str) -> None:
        table = {b.entry.bssid: b for b in self._bss_table()}
        bss = table.get(bssid)
        if bss is None:
            raise WifiError(self.node, f"{self.interface}: {bssid} is not in iw's scan table; scan first")
        if bss.secured:
            raise WifiError(self.node, f"{self.interface}: {bssid} uses WPA/RSN, which iw cannot join; use WpaCliStation")
        if bss.entry.freq is None:
            raise WifiError(self.node, f"{self.interface}: iw's scan table gives no frequency for {bssid}")
        if self.status().connected:  # iw refuses a connect while connected (EALREADY)
            self._iw("disconnect", "iw disconnect")
        ssid = shlex.quote(bss.entry.ssid)
        self._iw(f"connect {ssid} {bss.entry.freq} {bssid}", "iw connect")
        self._last_bssid = bssid

    def roam(self, bssid: str) -> None:
        self._connect(check_mac(bssid, self.node))

    def reassociate(self) -> None:
        current = self.status()
        target = current.bssid or self._last_bssid
        if target is None:
            raise WifiError(self.node, f"{self.interface}: iw cannot reassociate: no current or previous BSS "
                                       "(iw does not choose a network; use roam(bssid))")
        self._connect(target)

    def disconnect(self) -> None:
        self._iw("disconnect", "iw disconnect")

    def signal(self) -> SignalInfo:
        link = parse_iw_link(self._iw("link", "iw link").stdout)
        if not link:
            raise WifiError(self.node, f"{self.interface}: iw link: not connected")
        rate = link.get("tx bitrate", "")
        return SignalInfo(rssi_dbm=_int(link.get("signal", "").split(" ")[0]),
                          link_speed=_float(rate.split(" ")[0]) if rate else None,
                          freq=_int(link.get("freq")), raw=link)


def parse_iw_info(text: str) -> dict[str, str]:
    """``iw dev IFACE info``: ``{"ifname": ..., "addr": ..., "type": ..., ...}``."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and parts[0] in ("Interface", "ifindex", "wdev", "addr", "ssid", "type", "wiphy", "channel"):
            out["ifname" if parts[0] == "Interface" else parts[0]] = parts[1]
    return out
