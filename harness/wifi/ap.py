"""Drive access points through the command seam (:class:`harness.drivers.base.CommandDriver`).

* :class:`HostapdAP`: ``hostapd_cli [-p CTRL_DIR] -i IFACE ...`` against a running hostapd;
* :class:`OpenWrtAP`: an OpenWrt router: ``ubus`` (hostapd's and rpcd-iwinfo's objects,
  ``network.wireless``) and ``uci`` + ``wifi reload`` to switch the radio.

States use hostapd's words: ``ENABLED`` (beaconing), ``DISABLED``, or hostapd's own others
(``COUNTRY_UPDATE``, ``DFS``, ...).  MAC addresses are returned in lower case.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import re
import shlex
from typing import Any

from harness.drivers.base import CommandDriver, CommandResult
from harness.wifi.errors import WifiError
from harness.wifi.station import MAC_RE, TIMED_OUT_RE, check_mac, parse_kv, run_checked

__all__ = ["AccessPoint", "ApStatus", "HostapdAP", "OpenWrtAP", "parse_all_sta"]

ENABLED, DISABLED = "ENABLED", "DISABLED"


@dataclasses.dataclass(frozen=True)
class ApStatus:
    """What an AP says about itself.  ``raw`` is the tool's own output (parsed)."""

    state: str
    bssid: str | None
    ssid: str | None
    channel: int | None
    freq: int | None
    stations: list[str]
    raw: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.state == ENABLED


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


class AccessPoint(abc.ABC):
    """One BSS of an access point, driven through ``driver``; every command bounded by ``command_timeout``."""

    def __init__(self, driver: CommandDriver, command_timeout: float = 20.0) -> None:
        self.driver = driver
        self.command_timeout = command_timeout

    @property
    def node(self) -> str:
        return self.driver.node

    def _run(self, command: str, what: str, timeout: float | None = None) -> CommandResult:
        return run_checked(self.driver, command, what, self.command_timeout if timeout is None else timeout)

    @abc.abstractmethod
    def status(self) -> ApStatus:
        """State, BSSID, SSID, channel and associated stations."""

    @abc.abstractmethod
    def stations(self) -> list[str]:
        """MAC addresses of the associated stations."""

    @abc.abstractmethod
    def enable(self) -> None:
        """Start beaconing."""

    @abc.abstractmethod
    def disable(self) -> None:
        """Stop beaconing (associated stations are deauthenticated)."""

    @abc.abstractmethod
    def deauthenticate(self, mac: str) -> None:
        """Send a deauthentication to ``mac`` and forget it."""


def parse_all_sta(text: str) -> dict[str, dict[str, str]]:
    """``hostapd_cli all_sta``: per station a MAC line then ``key=value`` lines."""
    stations: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if MAC_RE.match(line):
            current = stations.setdefault(line.lower(), {})
        elif current is not None and "=" in line:
            key, _, value = line.partition("=")
            current[key] = value
    return stations


class HostapdAP(AccessPoint):
    """A hostapd BSS, driven with ``hostapd_cli [-p CTRL_DIR] -i IFACE ...``.

    ``hostapd_cli`` exits 0 when hostapd refuses a request (``FAIL``) and also when hostapd does not
    answer within its own 10 s (``'STATUS' command timed out.``): both raise :class:`WifiError`.
    """

    def __init__(self, driver: CommandDriver, interface: str = "wlan0", ctrl_dir: str | None = None,
                 command_timeout: float = 20.0) -> None:
        super().__init__(driver, command_timeout)
        self.interface = interface
        self.ctrl_dir = ctrl_dir

    def __repr__(self) -> str:
        return f"HostapdAP({self.node!r}, {self.interface!r})"

    def _cli(self, *args: str) -> str:
        argv = ["hostapd_cli"] + (["-p", self.ctrl_dir] if self.ctrl_dir else []) + ["-i", self.interface, *args]
        command = " ".join(shlex.quote(a) for a in argv)
        out = self._run(command, f"hostapd_cli {args[0]}").stdout
        if TIMED_OUT_RE.search(out):
            raise WifiError(self.node, f"{self.interface}: hostapd did not answer {args[0]!r}: {out.strip()}")
        return out

    def _ok(self, *args: str) -> None:
        reply = self._cli(*args).strip()
        if reply.splitlines()[:1] != ["OK"]:
            try:
                state = parse_kv(self._cli("status")).get("state", "unknown")
            except WifiError:
                state = "unknown"
            raise WifiError(self.node, f"{self.interface}: hostapd_cli {' '.join(args)} replied "
                                       f"{reply or 'nothing'!r} (AP state {state})")

    def _all_sta(self) -> dict[str, dict[str, str]]:
        return parse_all_sta(self._cli("all_sta"))

    def station_info(self) -> dict[str, dict[str, str]]:
        """hostapd's per-station data (``flags``, ``aid``, ``signal``, ``connected_time``...) by MAC."""
        return self._all_sta()

    def status(self) -> ApStatus:
        raw = parse_kv(self._cli("status"))
        if "state" not in raw:
            raise WifiError(self.node, f"{self.interface}: hostapd_cli status gave no state: {raw}")
        index = "0"
        for key, value in raw.items():  # several BSSes on one radio: pick ours
            m = re.fullmatch(r"bss\[(\d+)\]", key)
            if m and value == self.interface:
                index = m.group(1)
        bssid = raw.get(f"bssid[{index}]")
        return ApStatus(state=raw["state"], bssid=bssid.lower() if bssid else None, ssid=raw.get(f"ssid[{index}]"),
                        channel=_int(raw.get("channel")), freq=_int(raw.get("freq")),
                        stations=list(self._all_sta()), raw=raw)

    def stations(self) -> list[str]:
        return list(self._all_sta())

    def enable(self) -> None:
        self._ok("enable")

    def disable(self) -> None:
        self._ok("disable")

    def deauthenticate(self, mac: str) -> None:
        self._ok("deauthenticate", check_mac(mac, self.node))


class OpenWrtAP(AccessPoint):
    """An OpenWrt access point (one radio, one AP interface) driven over ubus and uci.

    Reads ``ubus call network.wireless status`` (radio up/disabled), ``ubus call iwinfo info
    '{"device":"IFACE"}'`` (BSSID, SSID, channel; needs rpcd's iwinfo plugin) and ``ubus call
    hostapd.IFACE get_clients``; deauthenticates with ``ubus call hostapd.IFACE del_client``;
    disables/enables the radio with ``uci set wireless.RADIO.disabled=1|0 && uci commit wireless &&
    wifi reload`` (persistent: it survives a reboot, like any uci change).
    """

    def __init__(self, driver: CommandDriver, radio: str = "radio0", iface: str = "wlan0",
                 ubus_object: str | None = None, command_timeout: float = 30.0,
                 reload_timeout: float = 60.0) -> None:
        super().__init__(driver, command_timeout)
        self.radio = radio
        self.iface = iface
        self.ubus_object = ubus_object or f"hostapd.{iface}"
        self.reload_timeout = reload_timeout

    def __repr__(self) -> str:
        return f"OpenWrtAP({self.node!r}, {self.radio!r}, {self.iface!r})"

    def _ubus(self, path: str, method: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        command = f"ubus call {shlex.quote(path)} {shlex.quote(method)}"
        if args is not None:
            command += " " + shlex.quote(json.dumps(args, separators=(",", ":")))
        out = self._run(command, f"ubus call {path} {method}").stdout
        if not out.strip():
            return {}
        try:
            data = json.loads(out)
        except ValueError as exc:
            raise WifiError(self.node, f"ubus call {path} {method} did not reply JSON ({exc}): {out[:200]!r}") from None
        if not isinstance(data, dict):
            raise WifiError(self.node, f"ubus call {path} {method} replied {type(data).__name__}, not an object")
        return data

    def _radio(self) -> dict[str, Any]:
        wireless = self._ubus("network.wireless", "status")
        radio = wireless.get(self.radio)
        if not isinstance(radio, dict):
            raise WifiError(self.node, f"no radio {self.radio!r} in network.wireless status "
                                       f"(radios: {', '.join(sorted(wireless)) or 'none'})")
        return radio

    def _clients(self) -> dict[str, dict[str, Any]]:
        clients = self._ubus(self.ubus_object, "get_clients").get("clients", {})
        return {mac.lower(): info for mac, info in clients.items()
                if not isinstance(info, dict) or info.get("assoc", True)}

    def status(self) -> ApStatus:
        radio = self._radio()
        up = bool(radio.get("up")) and not radio.get("disabled")
        if not up:
            return ApStatus(DISABLED, None, None, None, None, [], {"wireless": radio})
        info = self._ubus("iwinfo", "info", {"device": self.iface})
        bssid = info.get("bssid")
        return ApStatus(state=ENABLED, bssid=bssid.lower() if isinstance(bssid, str) else None, ssid=info.get("ssid"),
                        channel=_int(info.get("channel")), freq=_int(info.get("frequency")),
                        stations=list(self._clients()), raw={"wireless": radio, "iwinfo": info})

    def stations(self) -> list[str]:
        return list(self._clients())

    def _set_disabled(self, value: int) -> None:
        radio = shlex.quote(f"wireless.{self.radio}.disabled={value}")
        self._run(f"uci set {radio} && uci commit wireless && wifi reload",
                  f"{'disable' if value else 'enable'} {self.radio}", timeout=self.reload_timeout)

    def enable(self) -> None:
        self._set_disabled(0)

    def disable(self) -> None:
        self._set_disabled(1)

    def deauthenticate(self, mac: str, reason: int = 5) -> None:
        """``del_client`` with ``deauth: true``; reason 5 = "AP unable to handle all associated STAs"."""
        self._ubus(self.ubus_object, "del_client",
                   {"addr": check_mac(mac, self.node), "reason": reason, "deauth": True})
