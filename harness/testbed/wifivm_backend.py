"""The virtual Wi-Fi lab: the HMIPv6 topology with real Wi-Fi (mac80211_hwsim, hostapd, wpa_supplicant) in a
QEMU guest, managed like a physical lab.

The host has no Wi-Fi stack; Debian's stock kernel in a QEMU guest has (see the platform notes).  ``up``:

1. builds or reuses the cached guest artefacts (:func:`harness.qemu.build_guest`: kernel and modules through
   ``apt-get download``, an initramfs; keyed by kernel version);
2. creates the tester's namespace on the host with one tap device per tester link, handed to QEMU as virtio
   NICs: the tester captures and sends on the guest's links from the host, as in a lab with one tester port
   per link;
3. boots the guest (:class:`harness.qemu.vm.GuestVM`): a serial console on a pty with a login prompt, and
   SSH forwarded to ``127.0.0.1`` only;
4. over SSH starts the guest agent (:mod:`harness.testbed.wifivm_guest`), which builds the nodes as network
   namespaces inside the guest, with hwsim radios for the access points (``hostapd``) and the mobile node
   (``wpa_supplicant -t``), and starts the reference daemons.

Node commands go through the same drivers as in a physical lab: SSH to the guest (the mobile node: its
serial console), each wrapped in ``ip netns exec`` (:class:`~harness.drivers.netns_exec.NetnsExecDriver`).
``attach(mn, ar)`` is a roam of the station to the BSSID of ``ar``'s access point
(:func:`harness.testbed.wifi.roam_attach`), timed from the station's own log.  Service control
(start/stop/kill a daemon) is asked of the agent, which owns the daemons' processes.

Everything the run creates on the host (the tester namespace, QEMU's PID) is journaled before it exists, so
``hmipv6ct clean`` removes it after a crash; everything inside the guest ends with QEMU.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sys
import time
from pathlib import Path

from harness.drivers.base import CommandDriver
from harness.drivers.local import LocalDriver
from harness.drivers.netns_exec import NetnsExecDriver
from harness.drivers.serial import SerialDriver
from harness.drivers.ssh import SshDriver
from harness.errors import DriverError, TestbedError
from harness.qemu.guest import GUEST_ENV, GUEST_RESULTS
from harness.testbed import runstate, wifi
from harness.testbed.backend import AttachResult, TestbedBackend
from harness.testbed.model import Node, Testbed
from harness.testbed.netns_backend import _run
from harness.testbed.wifivm_guest import fill_wifi_defaults, wifi_dir

log = logging.getLogger("harness.testbed.wifivm")

TESTER = "tester"
AGENT_TIMEOUT = 240.0  # s: the guest builds ~14 namespaces, 4 radios and starts 8 daemons under TCG
SSH_TIMEOUT = 60.0


def _mac(seed: str, link: str) -> str:
    digest = hashlib.sha256(f"{seed}/tester/{link}".encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


class WifiVmTestbed(TestbedBackend):
    """See the module docstring."""

    program_start_timeout = 60.0  # s: Python programs on the nodes start in seconds under TCG, not milliseconds

    def __init__(self, spec: Testbed, edition: str = "rfc4140", cache_dir: Path | None = None) -> None:
        super().__init__(spec)
        fill_wifi_defaults(spec)  # the guest does the same: drivers and programs agree on control directories
        self.edition = edition
        self.cache_dir = cache_dir
        self.state: runstate.RunState | None = None
        self.vm = None
        self._agent = None  # the agent's SSH channel
        self._agent_driver: SshDriver | None = None
        self._agent_buf = b""
        self._netns: dict[str, str] = {}
        self.timings: dict[str, float] = {}

    # -- state ------------------------------------------------------------------------------------------------
    @property
    def journal(self) -> runstate.RunState | None:
        return self.state

    def owns_node(self, node: str) -> bool:
        return True  # every node lives in the run's guest

    @property
    def tester_ns(self) -> str:
        return self.state.netns_name(TESTER)

    def netns_of(self, node: str) -> str:
        """The node's namespace inside the guest."""
        if node not in self._netns:
            raise TestbedError(f"no node {node!r} in the guest")
        return self._netns[node]

    # -- build ------------------------------------------------------------------------------------------------
    def up(self) -> None:
        from harness.qemu import build_guest, qemu_available
        from harness.qemu.vm import GuestVM, TapPort

        if self.state is not None:
            raise TestbedError(f"testbed already up as {self.state.prefix}")
        why = qemu_available()
        if why:
            raise TestbedError(f"the virtual Wi-Fi lab needs QEMU: {why}")
        started = time.monotonic()
        self.state = runstate.RunState.create(str(self.spec.path.resolve()))
        state = self.state
        t = time.monotonic()
        self.report_progress("virtual Wi-Fi lab: guest kernel, modules and initramfs (cached, else fetched with "
                             "apt-get download: about 30 s the first time) ...")
        image = build_guest(self.cache_dir, progress=self.report_progress)
        self.timings["image"] = time.monotonic() - t
        tester = self.spec.tester
        taps = []
        if tester is not None:
            state.will_create_namespaces([self.tester_ns])
            _run(["ip", "netns", "add", self.tester_ns], what="creating the tester namespace")
            _run(["ip", "netns", "exec", self.tester_ns, "sh", "-c",
                  "sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 && "
                  "ip link set lo up"], what="tester namespace")
            for iface in tester.interfaces.values():
                taps.append(TapPort(iface.name, _mac(state.prefix, iface.link), self.tester_ns))
        self.vm = GuestVM(image, state.workdir / "guest", taps=taps)
        t = time.monotonic()
        self.report_progress(f"virtual Wi-Fi lab: guest kernel {image.abi} ready in {self.timings['image']:.1f} s; "
                             "booting it (TCG, about 10 s) ...")
        try:
            self.vm.start()
        finally:
            if self.vm.pid:
                state.started(self.vm.pid, "qemu (virtual Wi-Fi lab)")
        self.timings["boot"] = time.monotonic() - t
        if taps:
            _run(["ip", "-n", self.tester_ns, "-batch", "-"], "".join(f"link set {tp.name} up\n" for tp in taps),
                 "tester ports up")
        t = time.monotonic()
        self.report_progress(f"virtual Wi-Fi lab: booted in {self.timings['boot']:.1f} s; building the topology in the "
                             "guest (namespaces, hwsim radios, hostapd, wpa_supplicant, reference daemons: about 40 s) ...")
        self._start_agent(taps, tester)
        self.timings["topology"] = time.monotonic() - t
        state.complete = True
        state.save()
        self.timings["total"] = time.monotonic() - started
        self.report_progress(f"virtual Wi-Fi lab {state.prefix} up in {self.timings['total']:.1f} s (" +
                             ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items() if k != "total") + ")")

    def _guest_driver(self, node: str) -> SshDriver:
        return SshDriver(node, "127.0.0.1", self.vm.ssh_port, user="root", key_file=str(self.vm.client_key),
                         known_hosts=str(self.vm.known_hosts), connect_timeout=10)

    def _start_agent(self, taps, tester: Node | None) -> None:
        drv = self._guest_driver("guest")
        deadline = time.monotonic() + SSH_TIMEOUT
        while True:  # QEMU's forwarder accepts before the guest's sshd listens
            try:
                drv.open()
                break
            except DriverError as exc:
                if time.monotonic() > deadline:
                    raise TestbedError(f"the guest's SSH server did not answer within {SSH_TIMEOUT:g} s: {exc}")
                time.sleep(0.3)
        self._agent_driver = drv
        guest_spec = self.vm.workdir / "testbed.yaml"
        shutil.copyfile(self.spec.path, guest_spec)
        tester_macs = {}
        if tester is not None:
            tester_macs = {i.link: tp.mac for i, tp in zip(tester.interfaces.values(), taps)}
        self._agent = drv.exec_channel(
            f"cd {GUEST_RESULTS} && . {GUEST_ENV} && exec {sys.executable} -m harness.testbed.wifivm_guest "
            f"2>>{GUEST_RESULTS}/agent.log")
        reply = self._ask({"op": "up", "testbed": "/hm/testbed.yaml", "edition": self.edition,
                           "tester_macs": tester_macs}, AGENT_TIMEOUT)
        self._netns = reply["netns"]
        for node, macs in reply.get("macs", {}).items():
            for name, mac in macs.items():
                if node in self.spec.nodes and name in self.spec.nodes[node].interfaces:
                    self.spec.nodes[node].interfaces[name].mac = mac
        self.guest_workdir = reply["workdir"]
        for node in self.spec.nodes.values():  # where each node is reached (shown by checks and reports)
            m = node.management
            if node.role == "tester":
                m.netns = self.tester_ns
            elif m.type == "serial":
                m.device, m.user = str(self.vm.console), self.vm.console_user
            else:  # the guest's SSH server; the node's namespace in the guest is netns_of(node)
                m.type, m.host, m.port, m.user = "ssh", "127.0.0.1", self.vm.ssh_port, "root"
        log.info("guest topology %s built in %.1f s (guest time)", reply["prefix"], reply.get("seconds", 0))

    def _ask(self, msg: dict, timeout: float = 30.0) -> dict:
        """Send the agent one request and return its reply (raises TestbedError with the agent's error)."""
        chan = self._agent
        if chan is None:
            raise TestbedError("the guest agent is not running")
        chan.sendall((json.dumps(msg) + "\n").encode())
        deadline = time.monotonic() + timeout
        while b"\n" not in self._agent_buf:
            if chan.exit_status_ready() and not chan.recv_ready():
                raise TestbedError(f"the guest agent ended (status {chan.recv_exit_status()}): "
                                   f"{self._agent_log()[-1500:]}")
            if time.monotonic() > deadline:
                raise TestbedError(f"the guest agent did not answer {msg.get('op')} {msg.get('method', '')} within "
                                   f"{timeout:g} s: {self._agent_log()[-1500:]}")
            if chan.recv_ready():
                self._agent_buf += chan.recv(65536)
            else:
                time.sleep(0.02)
        line, self._agent_buf = self._agent_buf.split(b"\n", 1)
        reply = json.loads(line)
        if not reply.get("ok"):
            raise TestbedError(f"guest: {reply.get('error')}")
        return reply

    def _agent_log(self) -> str:
        try:
            return (self.vm.workdir / "results" / "agent.log").read_text(errors="replace")
        except (OSError, AttributeError):
            return ""

    # -- drivers, tester ----------------------------------------------------------------------------------------
    def _make_driver(self, node: Node) -> CommandDriver:
        if node.role == "tester":
            return LocalDriver(node.name, netns=self.tester_ns)
        if self.vm is None:
            raise TestbedError("the virtual Wi-Fi lab is not up")
        if node.management.type == "serial":
            device = SerialDriver(node.name, str(self.vm.console), user=self.vm.console_user,
                                  password=self.vm.console_password, prompt_timeout=20,
                                  log_path=str(self.vm.workdir / f"console-{node.name}.log"))
        else:
            device = self._guest_driver(node.name)
        return NetnsExecDriver(node.name, device, self.netns_of(node.name))

    def tester_port(self, link: str) -> tuple[str | None, str]:
        tester = self.spec.tester
        if tester is None:
            raise TestbedError(f"testbed {self.spec.name!r} has no tester node")
        return self.tester_ns, tester.interface_on(link).name

    # -- handover ---------------------------------------------------------------------------------------------
    def attach(self, mn: str, router: str) -> AttachResult:
        return wifi.roam_attach(self, mn, router)

    def station(self, node: str):
        return wifi.station_of(self.spec.nodes[node], self.driver(node))

    def ap(self, node: str):
        return wifi.access_point_of(self.spec.nodes[node], self.driver(node))

    def power(self, node: str):
        return wifi.power_of(self.spec.nodes[node])

    def crash_access_point(self, node: str) -> None:
        """Kill the AP's hostapd (SIGKILL, by the PID it wrote): its BSS vanishes at once."""
        d = wifi_dir(node)
        self.driver(node).run(f"kill -KILL $(cat {d}/hostapd.pid)", timeout=30).check()

    def restore_access_point(self, node: str, timeout: float = 60.0) -> None:
        """Start the AP's hostapd again with its configuration and wait until it reports the BSS enabled."""
        d = wifi_dir(node)
        self.driver(node).run(f"hostapd -B -t -P {d}/hostapd.pid -f {d}/hostapd.log {d}/hostapd.conf",
                              timeout=timeout).check()
        ap = self.ap(node)
        deadline = time.monotonic() + timeout
        while (state := ap.status().state) != "ENABLED":
            if time.monotonic() > deadline:
                raise TestbedError(f"{node}: hostapd restarted but the AP is {state} after {timeout:g} s")
            time.sleep(0.3)

    # -- services (the agent owns the daemons) ------------------------------------------------------------------
    def _call(self, method: str, node: str, timeout: float = 60.0):
        if node not in self.spec.nodes:
            raise TestbedError(f"no node {node!r} in testbed {self.spec.name!r}")
        return self._ask({"op": "call", "method": method, "node": node}, timeout)["result"]

    def start_service(self, node: str) -> None:
        self._call("start_service", node)

    def stop_service(self, node: str) -> None:
        self._call("stop_service", node)

    def restart_service(self, node: str) -> None:
        self._call("restart_service", node)

    def kill_service(self, node: str) -> None:
        self._call("kill_service", node)

    def service_running(self, node: str) -> bool:
        return bool(self._call("service_running", node))

    def control_command(self, node: str) -> str | None:
        return self._call("control_command", node)

    def dut_variables(self, node: str) -> dict[str, str]:
        return self._call("dut_variables", node) or {}

    # -- teardown ---------------------------------------------------------------------------------------------
    def down(self) -> None:
        self.close_drivers()
        if self._agent is not None:
            try:
                self._ask({"op": "down"}, 30.0)
            except Exception as exc:  # the guest goes anyway
                log.warning("guest agent: %s", exc)
            self._agent.close()
            self._agent = None
        if self._agent_driver is not None:
            self._agent_driver.close()
            self._agent_driver = None
        if self.vm is not None:
            self.vm.stop()
        state, self.state = self.state, None
        if state is None:
            return
        removed = runstate.destroy(state.prefix, state.namespaces, state.processes, state.workdir)
        log.info("virtual Wi-Fi lab %s down: removed %d items", state.prefix, len(removed))
