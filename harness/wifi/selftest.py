"""Self-test of the Wi-Fi drivers against real hostapd and wpa_supplicant on mac80211_hwsim radios.

Runs as root inside the QEMU guest of :mod:`harness.qemu` (the host kernel has no Wi-Fi stack)::

    python3 -m harness.wifi.selftest --out /hm/results

Four hwsim radios in four network namespaces: three open APs with the same SSID (channels 1, 6 and
11, namespaces ``hm-ap1``..``hm-ap3``) and one station (``hm-sta``).  The third AP keeps the run short:
wpa_supplicant ignores a BSS that just dropped it for 10 s, so after the disable step the
deauthenticated station still has a BSS it may join at once.  Everything after the daemons are
started goes through the drivers of :mod:`harness.wifi` over
:class:`harness.drivers.local.LocalDriver` in those namespaces: wait for the association, scan,
roam, read the AP's station list, disable/enable the AP, deauthenticate the station, and time every
(re)association from wpa_supplicant's ``-t`` log.  ``results.json`` in ``--out`` holds what was
seen (or ``error`` with a traceback); the exit status is 0 only when every step ran.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from harness.drivers.local import LocalDriver
from harness.wifi import HostapdAP, IwStation, WifiTimeoutError, WpaCliStation

SSID = "hm6selftest"
WORK = Path("/tmp/hm-wifi")
CTRL_AP, CTRL_STA = "/run/hostapd", "/run/wpa_supplicant"
NAMESPACES = {"wlan0": "hm-ap1", "wlan1": "hm-ap2", "wlan2": "hm-ap3", "wlan3": "hm-sta"}
CHANNELS = {"wlan0": 1, "wlan1": 6, "wlan2": 11}
STA_IF = "wlan3"


def sh(*argv: str, timeout: float = 30) -> str:
    """Run a setup command (not a driver command); raise with its stderr on failure."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def setup() -> dict[str, str]:
    """hwsim radios, namespaces, three hostapd and one wpa_supplicant; returns the MAC addresses."""
    WORK.mkdir(parents=True, exist_ok=True)
    sh("modprobe", "mac80211_hwsim", f"radios={len(NAMESPACES)}")
    deadline = time.monotonic() + 10
    while not all(os.path.exists(f"/sys/class/net/{i}") for i in NAMESPACES):
        if time.monotonic() > deadline:
            raise RuntimeError(f"hwsim interfaces {', '.join(NAMESPACES)} did not appear")
        time.sleep(0.1)
    macs = {iface: Path(f"/sys/class/net/{iface}/address").read_text().strip() for iface in NAMESPACES}
    for iface, ns in NAMESPACES.items():
        phy = Path(f"/sys/class/net/{iface}/phy80211/name").read_text().strip()
        sh("ip", "netns", "add", ns)
        sh("iw", "phy", phy, "set", "netns", "name", ns)
    for iface, channel in CHANNELS.items():
        conf = WORK / f"hostapd-{iface}.conf"
        conf.write_text(f"interface={iface}\ndriver=nl80211\nctrl_interface={CTRL_AP}\nssid={SSID}\n"
                        f"hw_mode=g\nchannel={channel}\n")
        sh("ip", "netns", "exec", NAMESPACES[iface], "hostapd", "-B", "-P", str(WORK / f"hostapd-{iface}.pid"),
           "-t", "-f", str(WORK / f"hostapd-{iface}.log"), str(conf))
    conf = WORK / "wpa.conf"
    conf.write_text(f'ctrl_interface={CTRL_STA}\nnetwork={{\n    ssid="{SSID}"\n    key_mgmt=NONE\n}}\n')
    sh("ip", "netns", "exec", NAMESPACES[STA_IF], "wpa_supplicant", "-B", "-i", STA_IF, "-c", str(conf),
       "-t", "-f", str(WORK / "wpa.log"), "-P", str(WORK / "wpa.pid"))
    return macs


def teardown() -> None:
    for pidfile in sorted(WORK.glob("*.pid")):
        try:
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass


def wait_for(what: str, check: Any, timeout: float, interval: float = 0.2) -> Any:
    """Poll ``check()`` until it returns something truthy, or raise naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout:g} s")
        time.sleep(interval)


def as_dict(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        out = dataclasses.asdict(obj)
        if hasattr(obj, "duration_ms"):
            out["duration_ms"] = obj.duration_ms
        return out
    if isinstance(obj, list):
        return [as_dict(o) for o in obj]
    return obj


def run(results: dict[str, Any]) -> None:
    started = time.monotonic()
    results["guest_uptime_at_start"] = float(Path("/proc/uptime").read_text().split()[0])
    durations: dict[str, float] = results.setdefault("durations", {})

    def step(name: str, t0: float) -> None:
        durations[name] = round(time.monotonic() - t0, 3)

    t0 = time.monotonic()
    macs = setup()
    step("setup", t0)
    sta_mac = macs[STA_IF]
    aps = {macs[iface]: HostapdAP(LocalDriver(NAMESPACES[iface][3:], netns=NAMESPACES[iface]), iface, ctrl_dir=CTRL_AP)
           for iface in CHANNELS}
    results.update(aps=list(aps), sta=sta_mac)
    sta = WpaCliStation(LocalDriver("mn", netns=NAMESPACES[STA_IF]), STA_IF, ctrl_dir=CTRL_STA,
                        log_path=str(WORK / "wpa.log"))

    t0 = time.monotonic()
    for bssid, ap in aps.items():
        wait_for(f"{ap.node} ENABLED", lambda ap=ap: ap.status().enabled, 20)
    step("aps_enabled", t0)

    t0 = time.monotonic()
    first = sta.wait_connected(timeout=40)
    step("first_association", t0)
    results["first"] = {"bssid": first.bssid, "ssid": first.ssid, "freq": first.freq, "address": first.address}

    t0 = time.monotonic()
    results["scan"] = as_dict(sta.scan(timeout=20, want=list(aps)))
    step("scan", t0)

    # roam to another AP
    here = first.bssid
    there = next(b for b in aps if b != here)
    t0 = time.monotonic()
    mark = sta.log_mark()
    sta.roam(there)
    roamed = sta.wait_connected(there, timeout=20)
    step("roam", t0)
    results["roam"] = {"from": here, "to": there, "status_bssid": roamed.bssid, "log": as_dict(sta.roams(since=mark))}
    ap_there = aps[there]
    ap_status = wait_for(f"{there} lists the station",
                         lambda: (s := ap_there.status()) and sta_mac in s.stations and s, 10)
    results["ap_status_after_roam"] = as_dict(dataclasses.replace(ap_status, raw={}))
    results["signal"] = as_dict(dataclasses.replace(sta.signal(), raw={}))
    iw_status = IwStation(sta.driver, STA_IF).status()  # iw on the same interface must agree
    results["iw_status"] = {"state": iw_status.state, "bssid": iw_status.bssid, "freq": iw_status.freq,
                            "address": iw_status.address}

    # disable the AP the station is on: it must move to another one
    t0 = time.monotonic()
    mark = sta.log_mark()
    ap_there.disable()
    disabled = ap_there.status()
    lost = sta.wait_event("CTRL-EVENT-DISCONNECTED", since=mark, timeout=15)
    back = sta.wait_connected(timeout=40)
    step("disable_reconnect", t0)
    ap_there.enable()
    enabled = wait_for(f"{there} enabled again", lambda: (s := ap_there.status()).enabled and s, 20)
    results["disable"] = {"ap": there, "state_disabled": disabled.state, "stations_disabled": disabled.stations,
                          "disconnected": lost.text, "reconnected_to": back.bssid,
                          "log": as_dict(sta.roams(since=mark)), "state_enabled": enabled.state}

    # deauthenticate it from the AP it is on now: it reconnects
    t0 = time.monotonic()
    ap_now = aps[back.bssid]
    before = ap_now.stations()
    mark = sta.log_mark()
    ap_now.deauthenticate(sta_mac)
    lost = sta.wait_event("CTRL-EVENT-DISCONNECTED", since=mark, timeout=15)
    try:
        again = sta.wait_connected(timeout=40)
    except WifiTimeoutError:
        results["deauth_status_at_timeout"] = as_dict(dataclasses.replace(sta.status(), raw={}))
        raise
    wait_for("a reconnection in the log", lambda: sta.roams(since=mark), 10)
    step("deauth_reconnect", t0)
    results["deauth"] = {"ap": back.bssid, "stations_before": before,
                         "disconnections": as_dict(sta.disconnections(since=mark)), "disconnected": lost.text,
                         "reconnected_to": again.bssid, "log": as_dict(sta.roams(since=mark))}

    results["roams"] = as_dict(sta.roams())
    durations["total"] = round(time.monotonic() - started, 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("HMIPV6_RESULTS", ".")))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    status = 0
    try:
        run(results)
    except Exception:
        results["error"] = traceback.format_exc()
        status = 1
    finally:
        teardown()
        for name in ("wpa.log", "hostapd-wlan0.log", "hostapd-wlan1.log"):
            if (WORK / name).exists():
                shutil.copy(WORK / name, args.out / name)
        (args.out / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True))
    if status:
        print(results["error"], file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
