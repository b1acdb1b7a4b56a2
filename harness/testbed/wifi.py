"""Wi-Fi in a testbed: the station, access point and power drivers a node's description asks for, and the
handover of a Wi-Fi mobile node (``attach`` = a roam to the BSSID of the target router's access point).

Shared by the lab backend (real devices) and the virtual Wi-Fi lab (hwsim radios in a QEMU guest): both
reach the devices through their command drivers, so the same code roams a phone in a lab and a
``wpa_supplicant`` in the guest.  The roam's duration is read from the station's own log
(``wpa_supplicant -t``), not from host polling.
"""

from __future__ import annotations

import logging
import time

from harness.drivers.base import CommandDriver
from harness.errors import TestbedError
from harness.testbed.backend import AttachResult
from harness.testbed.model import Node

log = logging.getLogger("harness.testbed.wifi")

ROAM_TIMEOUT = 20.0  # s: association under TCG takes ~6 s; a lab roam < 2 s


def station_of(node: Node, driver: CommandDriver):
    """The station driver of mobile node ``node`` (its ``station`` settings), over ``driver``."""
    from harness.wifi.station import IwStation, WpaCliStation

    st = node.station
    if st is None:
        raise TestbedError(f"node {node.name!r} has no 'station' settings: it is not a Wi-Fi mobile node")
    if st.driver == "iw":
        return IwStation(driver, st.interface)
    return WpaCliStation(driver, st.interface, ctrl_dir=st.ctrl_dir, log_path=st.log)


def access_point_of(node: Node, driver: CommandDriver):
    """The access point driver of ``node`` (role ap), over ``driver``."""
    from harness.wifi.ap import HostapdAP, OpenWrtAP

    ap = node.ap
    if ap is None:
        raise TestbedError(f"node {node.name!r} has no 'ap' settings: it is not an access point")
    if ap.driver == "openwrt":
        return OpenWrtAP(driver, radio=ap.radio or "radio0", iface=ap.interface)
    return HostapdAP(driver, ap.interface, ctrl_dir=ap.ctrl_dir)


def power_of(node: Node):
    """The power port of ``node`` (a no-op one when the testbed declares none)."""
    from harness.wifi.power import CommandPower, NoPower

    p = node.power
    if p is None or p.type == "none":
        return NoPower(node.name)
    return CommandPower(node.name, p.on, p.off, cycle=p.cycle, status=p.status, outlet=p.outlet)


def target_link(spec, router: str) -> str:
    """The access link named ``router``, or the one router ``router`` advertises on."""
    if router in spec.links and spec.links[router].access:
        return router
    try:
        return spec.access_link_of(router).name
    except KeyError:
        raise TestbedError(f"{router!r} is neither an access link nor a router advertising on one") from None


def bssid_of(backend, ap_node: Node) -> str:
    """The BSSID of ``ap_node``: declared in the testbed, else read from the AP."""
    if ap_node.ap.bssid:
        return ap_node.ap.bssid
    status = access_point_of(ap_node, backend.driver(ap_node.name)).status()
    if not status.bssid:
        raise TestbedError(f"access point {ap_node.name!r} reports no BSSID (state {status.state})")
    return status.bssid.lower()


def roam_attach(backend, mn: str, router: str, timeout: float = ROAM_TIMEOUT) -> AttachResult:
    """Roam ``mn``'s station to the access point of ``router``'s access link and wait until it is associated.

    The result's ``roam`` carries the roam as the station logged it (BSSID, start, connected, duration in ms,
    kind) when the station keeps a ``-t`` log; ``link_down``/``link_up`` are host times around the command.
    """
    spec = backend.spec
    node = spec.nodes[mn]
    link = target_link(spec, router)
    ap_node = spec.access_point_on(link)
    if ap_node is None:
        raise TestbedError(f"access link {link!r} has no access point: a Wi-Fi station cannot attach to it")
    bssid = bssid_of(backend, ap_node)
    station = station_of(node, backend.driver(mn))
    iface = next((i for i in node.interfaces.values() if spec.links[i.link].access), None)
    if iface is None:
        raise TestbedError(f"{mn!r} has no interface on an access link")
    before = station.status()
    mark = station.log_mark() if node.station.log else None  # only a roam logged after this counts
    down = time.time()
    if (before.bssid or "").lower() == bssid and before.state == "COMPLETED":
        log.info("%s already associated with %s (%s): no roam", mn, ap_node.name, bssid)
    else:
        from harness.wifi.errors import WifiError
        try:
            station.roam(bssid)
        except WifiError:  # e.g. an AP that was down at the last scan: not in the scan table; scan, then ask again
            station.scan(timeout=timeout, want=[bssid])
            station.roam(bssid)
    station.wait_connected(bssid, timeout=timeout)
    up = time.time()
    roam = _roam_from_log(station, bssid, mark) if mark is not None else None
    _move_member(spec, mn, iface, link)
    log.info("%s roamed to %s (%s, %s) in %.0f ms (host), %s", mn, ap_node.name, bssid, link,
             1000 * (up - down), f"{roam['duration_ms']:.0f} ms (station log)" if roam else "no roam logged")
    return AttachResult(mn, router, link, down, up, roam=roam)


def _move_member(spec, mn: str, iface, link: str) -> None:
    """Record in the testbed model that ``mn``'s access interface is now on ``link``."""
    if iface.link != link:
        del spec.links[iface.link].members[mn]
        iface.link = link
        spec.links[link].members[mn] = iface


def _roam_from_log(station, bssid: str, since: float) -> dict | None:
    """The last (re)association with ``bssid`` the station logged after ``since`` (station clock), if any."""
    roams = [r for r in station.roams(since) if r.bssid.lower() == bssid]
    if not roams:
        return None
    r = roams[-1]
    return {"bssid": r.bssid, "kind": r.kind, "started": r.started, "connected": r.connected,
            "duration_ms": round(r.duration_ms, 3), "source": "station log (wpa_supplicant -t)"}


def log_mark(backend, mn: str) -> float | None:
    """The station-clock time of the last event in ``mn``'s station log (None without a log): the ``since`` of a
    reassociation about to be caused."""
    node = backend.spec.nodes[mn]
    return station_of(node, backend.driver(mn)).log_mark() if node.station and node.station.log else None


def wait_reassociated(backend, mn: str, away_from: str, since: float | None,
                      timeout: float = ROAM_TIMEOUT) -> AttachResult:
    """After ``mn``'s access point (BSSID ``away_from``) failed: wait until its station is associated with another
    access point of the testbed; the result names that AP's link and the reconnection the station logged after
    ``since`` (:func:`log_mark`, taken before the failure)."""
    spec = backend.spec
    node = spec.nodes[mn]
    station = station_of(node, backend.driver(mn))
    by_bssid = {bssid_of(backend, ap): ap for ap in spec.access_points()}
    iface = next(i for i in node.interfaces.values() if spec.links[i.link].access)
    down = time.time()
    deadline = time.monotonic() + timeout
    while True:
        st = station.status()
        bssid = (st.bssid or "").lower()
        if st.state == "COMPLETED" and bssid and bssid != away_from.lower():
            break
        if time.monotonic() > deadline:
            raise TestbedError(f"{mn}: no association with another access point within {timeout:g} s after "
                               f"{away_from} failed (state {st.state}, bssid {st.bssid or 'none'})")
        time.sleep(0.2)
    up = time.time()
    ap = by_bssid.get(bssid)
    if ap is None:
        raise TestbedError(f"{mn} associated with {bssid}, which is not an access point of testbed {spec.name!r}")
    link = next(iter(ap.interfaces.values())).link
    _move_member(spec, mn, iface, link)
    roam = _roam_from_log(station, bssid, since) if since is not None else None
    router = spec.advertising_router(link)
    log.info("%s reassociated with %s (%s, %s) after %s failed: %s", mn, ap.name, bssid, link, away_from,
             f"{roam['duration_ms']:.0f} ms (station log)" if roam else "no reconnection logged")
    return AttachResult(mn, router.name if router else link, link, down, up, roam=roam)
