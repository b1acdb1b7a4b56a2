"""The virtual Wi-Fi lab, guest side: the HMIPv6 topology in network namespaces with mac80211_hwsim radios.

Runs inside the QEMU guest (``python3 -m harness.testbed.wifivm_guest``), started by the host's
:class:`~harness.testbed.wifivm_backend.WifiVmTestbed` over SSH.  It builds the testbed with the
netns backend's code, except that

* each access point (role ``ap``) is a namespace holding a hwsim radio and a bridge joining it to its
  access link's wired segment; ``hostapd`` runs there (``bridge=``), with the BSSID, SSID and channel
  of the testbed file;
* the mobile node's access interface is a hwsim radio (not a veth) on which ``wpa_supplicant`` runs with
  a ``-t`` log, so a handover is a real roam;
* the tester is not in the guest: its ports are the virtio NICs backed by the host's tap devices
  (matched by MAC), added to the links' bridges.

It then serves the host one JSON object per line on stdin/stdout: ``{"op": "call", "method": M,
"node": N}`` for the service control of the netns backend (start/stop/kill/restart a daemon...), and
``{"op": "down"}``; end of input also tears everything down.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from harness.errors import TestbedError
from harness.testbed import loader
from harness.testbed.model import Node, Testbed
from harness.testbed.netns_backend import NetnsTestbed, _run

log = logging.getLogger("harness.testbed.wifivm_guest")

CALLS = ("start_service", "stop_service", "kill_service", "restart_service", "service_running", "control_command",
         "dut_variables")


def wifi_dir(node: str) -> str:
    """Where a Wi-Fi node's daemon keeps its control socket, pid and log in the guest (``/run`` is shared by all
    namespaces, so each node has its own directory)."""
    return f"/run/hm-wifi/{node}"


def fill_wifi_defaults(spec: Testbed) -> None:
    """Give every access point and station of the lab its own control directory (and the station a log) in the
    guest where the file names none: ``/run`` is shared by all namespaces, so the programs' defaults would collide.
    Applied to the testbed on the host (the drivers) and in the guest (the programs) alike."""
    for node in spec.nodes.values():
        if node.ap is not None and node.ap.ctrl_dir is None:
            node.ap.ctrl_dir = f"{wifi_dir(node.name)}/hostapd"
        if node.station is not None:
            node.station.ctrl_dir = node.station.ctrl_dir or f"{wifi_dir(node.name)}/wpa_supplicant"
            node.station.log = node.station.log or f"{wifi_dir(node.name)}/wpa_supplicant.log"


def hostapd_conf(node: Node) -> str:
    ap = node.ap
    lines = [f"interface={ap.interface}", "driver=nl80211", "bridge=br0", f"ssid={ap.ssid}",
             f"hw_mode={'a' if ap.channel > 14 else 'g'}", f"channel={ap.channel}",
             f"ctrl_interface={ap.ctrl_dir}", "ctrl_interface_group=0",
             "ap_max_inactivity=3600", "logger_stdout=-1", "logger_stdout_level=1"]
    if ap.bssid:
        lines.append(f"bssid={ap.bssid}")
    if ap.passphrase is not None:
        lines += ["wpa=2", "wpa_key_mgmt=WPA-PSK", "rsn_pairwise=CCMP", f"wpa_passphrase={ap.passphrase.reveal()}"]
    return "\n".join(lines) + "\n"


def wpa_conf(node: Node, spec: Testbed) -> str:
    st = node.station
    aps = spec.access_points()
    ssid = st.ssid or (aps[0].ap.ssid if aps else "hmipv6")
    psk = next((a.ap.passphrase for a in aps if a.ap.ssid == ssid and a.ap.passphrase is not None), None)
    network = [f'    ssid="{ssid}"', "    scan_ssid=1"]
    network += [f'    psk="{psk.reveal()}"', "    key_mgmt=WPA-PSK"] if psk else ["    key_mgmt=NONE"]
    return (f"ctrl_interface={st.ctrl_dir}\n"
            "ap_scan=1\nfast_reauth=1\n"
            "network={\n" + "\n".join(network) + "\n}\n")


class GuestWifiTestbed(NetnsTestbed):
    """The netns testbed with hwsim access points and station, and the host's tap ports as the tester's."""

    def __init__(self, spec: Testbed, tester_macs: dict[str, str], edition: str = "rfc4140") -> None:
        tester = spec.tester
        if tester is not None:  # the tester lives on the host; its ports arrive as virtio NICs
            for iface in tester.interfaces.values():
                spec.links[iface.link].members.pop(tester.name, None)
            del spec.nodes[tester.name]
        for node in spec.nodes.values():  # reached through the guest's own SSH/serial + ip netns exec
            node.management.type = "local"
        spec.backend = "netns"
        fill_wifi_defaults(spec)
        self.tester_macs = tester_macs
        super().__init__(spec, edition=edition)

    def _wait_ready(self, node: Node, timeout: float = 90.0) -> None:
        super()._wait_ready(node, timeout)  # under TCG a Python daemon takes seconds to start

    def down(self) -> None:
        """Keep the daemons' and Wi-Fi programs' logs (``/hm/results/logs``, on the host) before tearing down."""
        if self.state is not None:
            keep = Path(os.environ.get("HMIPV6_RESULTS", "/hm/results")) / "logs"
            for pattern, base in (("*/*.err", self.state.workdir), ("*/*.log", Path("/run/hm-wifi"))):
                for path in base.glob(pattern):
                    dest = keep / path.parent.name / path.name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        dest.write_bytes(path.read_bytes())
                    except OSError:
                        pass
        super().down()

    def _node_sysctls(self, node: Node) -> list[str]:
        if node.role == "ap":  # a layer-2 bridge: no addresses, no RAs of its own
            return ["net.ipv6.conf.default.disable_ipv6=1", "net.ipv6.conf.all.disable_ipv6=1"]
        return super()._node_sysctls(node)

    def _veth_interfaces(self, node: Node) -> list:
        if node.station is not None:
            return [i for i in node.interfaces.values() if i.name != node.station.interface]
        return super()._veth_interfaces(node)

    def _build_nodes(self) -> None:
        for module in ("tun", "virtio_net"):  # the CN's and MN's TUN devices; the tester's ports
            _run(["modprobe", module], what=f"loading {module}")
        super()._build_nodes()
        self._attach_tester_nics()
        self._build_radios()

    # -- the tester's ports --------------------------------------------------------------------------------
    def _attach_tester_nics(self) -> None:
        by_mac = {}
        for dev in Path("/sys/class/net").iterdir():
            try:
                by_mac[(dev / "address").read_text().strip()] = dev.name
            except OSError:
                continue
        batch = []
        for i, (link, mac) in enumerate(sorted(self.tester_macs.items())):
            dev = by_mac.get(mac.lower())
            if dev is None:
                raise TestbedError(f"no guest NIC with MAC {mac} for the tester's port on {link}")
            if link not in self._bridges:
                raise TestbedError(f"tester port for unknown link {link!r}")
            _run(["ip", "link", "set", dev, "netns", self.switch_ns], what=f"moving {dev} to the switch")
            name = f"tp{i}"
            batch += [f"link set {dev} name {name}", f"link set {name} master {self._bridges[link]} up"]
        if batch:
            _run(["ip", "-n", self.switch_ns, "-batch", "-"], "\n".join(batch) + "\n", "tester ports")

    # -- radios ----------------------------------------------------------------------------------------------
    def _build_radios(self) -> None:
        aps = self.spec.access_points()
        stations = [n for n in self.spec.nodes.values() if n.station is not None]
        radios = aps + stations
        if not radios:
            return
        subprocess.run(["rmmod", "mac80211_hwsim"], capture_output=True)
        _run(["modprobe", "mac80211_hwsim", f"radios={len(radios)}"], what="loading mac80211_hwsim")
        deadline = time.monotonic() + 10
        while len(list(Path("/sys/class/ieee80211").iterdir())) < len(radios):
            if time.monotonic() > deadline:
                raise TestbedError("mac80211_hwsim radios did not appear")
            time.sleep(0.05)
        phys = sorted(p.name for p in Path("/sys/class/ieee80211").iterdir())
        for node, phy in zip(radios, phys):
            wlan = next(p.name for p in (Path("/sys/class/ieee80211") / phy / "device" / "net").iterdir())
            ns = self.netns_of(node.name)
            name = node.ap.interface if node.ap else node.station.interface
            _run(["iw", "phy", phy, "set", "netns", "name", ns], what=f"moving {phy} to {node.name}")
            cmds = [f"link set {wlan} name {name}"]
            if node.ap and node.ap.bssid:
                cmds.append(f"link set {name} address {node.ap.bssid}")
            if node.station:
                cmds.append(f"link set {name} address {self._station_mac(node)}")
                cmds.append(f"link set {name} up")
            _run(["ip", "-n", ns, "-batch", "-"], "\n".join(cmds) + "\n", f"{node.name}: radio")
            os.makedirs(wifi_dir(node.name), exist_ok=True)
        for node in aps:
            self._start_ap(node)
        for node in stations:
            self._start_station(node)

    def _station_mac(self, node: Node) -> str:
        iface = node.interfaces.get(node.station.interface)
        return iface.mac if iface is not None and iface.mac else "02:00:00:00:aa:01"

    def _start_ap(self, node: Node) -> None:
        ns, d = self.netns_of(node.name), wifi_dir(node.name)
        wired = next(iter(node.interfaces.values())).name
        _run(["ip", "-n", ns, "-batch", "-"],
             "link add br0 type bridge ageing_time 0 mcast_snooping 0 stp_state 0 forward_delay 0\n"
             f"link set {wired} master br0\nlink set br0 up\n", f"{node.name}: bridge")
        conf = Path(d) / "hostapd.conf"
        conf.write_text(hostapd_conf(node))
        proc = subprocess.Popen(["ip", "netns", "exec", ns, "hostapd", "-t", "-P", f"{d}/hostapd.pid",
                                 "-f", f"{d}/hostapd.log", str(conf)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        self._started(proc, f"hostapd {node.name}")
        Path(f"{d}/hostapd.pid").write_text(f"{proc.pid}\n")  # -P is written only with -B; `ip netns exec` execs
        self._wait(lambda: "AP-ENABLED" in _read(f"{d}/hostapd.log"), proc, f"hostapd on {node.name}",
                   f"{d}/hostapd.log")

    def _start_station(self, node: Node) -> None:
        ns, d = self.netns_of(node.name), wifi_dir(node.name)
        conf = Path(d) / "wpa_supplicant.conf"
        conf.write_text(wpa_conf(node, self.spec))
        logfile = node.station.log
        proc = subprocess.Popen(["ip", "netns", "exec", ns, "wpa_supplicant", "-i", node.station.interface,
                                 "-c", str(conf), "-D", "nl80211", "-t", "-f", logfile, "-P", f"{d}/wpa_supplicant.pid"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        self._started(proc, f"wpa_supplicant {node.name}")
        ctrl = Path(node.station.ctrl_dir) / node.station.interface
        self._wait(ctrl.exists, proc, f"wpa_supplicant on {node.name}", logfile)

    @staticmethod
    def _wait(ready, proc: subprocess.Popen, what: str, logfile: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                state = f"exited {proc.returncode}" if proc.poll() is not None else f"not ready after {timeout:g} s"
                raise TestbedError(f"{what} {state}: {_read(logfile)[-1200:].strip() or 'no log'}")
            time.sleep(0.05)


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _reply(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def serve(stdin=sys.stdin) -> int:
    """The agent loop (see the module docstring)."""
    testbed: GuestWifiTestbed | None = None
    try:
        for line in stdin:
            if not line.strip():
                continue
            try:
                msg = json.loads(line)
                op = msg.get("op")
                if op == "up":
                    spec = loader.load(msg["testbed"])
                    testbed = GuestWifiTestbed(spec, msg.get("tester_macs", {}), msg.get("edition", "rfc4140"))
                    started = time.monotonic()
                    testbed.up()
                    _reply({"ok": True, "prefix": testbed.prefix, "workdir": str(testbed.state.workdir),
                            "netns": {n: testbed.netns_of(n) for n in spec.nodes},
                            "macs": {n: {i.name: i.mac for i in node.interfaces.values()}
                                     for n, node in spec.nodes.items()},
                            "seconds": round(time.monotonic() - started, 2)})
                elif op == "call":
                    if testbed is None:
                        raise TestbedError("the guest testbed is not up")
                    if msg.get("method") not in CALLS:
                        raise TestbedError(f"unknown call {msg.get('method')!r}")
                    _reply({"ok": True, "result": getattr(testbed, msg["method"])(msg["node"])})
                elif op == "down":
                    break
                else:
                    raise TestbedError(f"unknown op {op!r}")
            except Exception as exc:  # the host decides; the agent stays up
                log.exception("request failed")
                _reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    finally:
        if testbed is not None:
            testbed.down()
        _reply({"ok": True, "down": True})
    return 0


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    return serve()


if __name__ == "__main__":
    sys.exit(main())
