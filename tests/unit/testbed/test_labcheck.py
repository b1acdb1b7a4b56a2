"""The lab pre-flight check (harness.testbed.labcheck), LabTestbed's Wi-Fi seams, and the example lab file.

The devices are fakes here: command drivers that answer ``ip -j addr show`` from a table (or fail to connect,
or hang), and access point / station / power objects with the harness.wifi API (its status dataclasses).  The real thing (an sshd in a
namespace, unreachable hosts, the real CLI) is tests/integration/test_lab_check.py.
"""

from __future__ import annotations

import json
import textwrap
import threading
import time
from pathlib import Path

import pytest

from harness import paths
from harness.drivers.base import CommandDriver, CommandResult
from harness.errors import (
    AuthenticationError, ConnectError, ConsoleError, DriverError, HostKeyMismatchError, TestbedError, TestbedFileError,
)
from harness.testbed import load
from harness.testbed import labcheck
from harness.testbed.backend import AttachResult
from harness.testbed.lab import HandoverNotSupported, LabTestbed
from harness.testbed.labcheck import OK, PROBLEM, SKIP, WARN, LabChecker, ProbeResult
from harness.wifi import ap as wifi_ap
from harness.wifi.station import ScanEntry, StationStatus

EXAMPLE = paths.TESTBEDS_DIR / "lab-example.yaml"
EXAMPLE_ENV = {"LAB_MN_PASSWORD": "console-secret"}


# -- the example lab file ------------------------------------------------------------------------------------------
def test_lab_example_loads_with_its_environment() -> None:
    tb = load(EXAMPLE, environ=EXAMPLE_ENV)
    assert tb.backend == "lab" and tb.dut == "map1" and tb.dut_profile == "example-vendor"
    assert (paths.TESTBEDS_DIR / "profiles" / f"{tb.dut_profile}.yaml").is_file()
    # the tester has a port on every link; each AP is on exactly one access link
    assert {i.link for i in tb.tester.interfaces.values()} == set(tb.links)
    aps = {n.name: n for n in tb.access_points()}
    assert set(aps) == {"ap1", "ap2", "ap3"}
    assert {n.ap.driver for n in aps.values()} == {"hostapd", "openwrt"}
    assert [tb.access_point_on(link.name).name for link in tb.access_links()] == ["ap1", "ap2", "ap3"]
    assert all(tb.advertising_router(link.name).role == "ar" for link in tb.access_links())
    # the mobile node: a wpa_cli station on a serial console, its password from the environment, never shown
    mn = tb.nodes["mn"]
    assert mn.management.type == "serial" and mn.station.driver == "wpa_cli" and mn.station.log
    assert mn.management.password.reveal() == "console-secret" and "console-secret" not in repr(mn.management)
    assert mn.management.password.source == "env LAB_MN_PASSWORD"
    # SSH: a key and pinned host keys, resolved next to the file; documentation addresses only
    for node in tb.nodes.values():
        m = node.management
        if m.type == "ssh":
            assert m.key_file.is_file() and m.known_hosts.is_file() and m.host.startswith("198.51.100.")
    for link in tb.links.values():
        assert str(link.prefix).startswith("2001:db8:")
    # the PDU: command templates, run on the tester host; its community string is the shell's, not the file's
    powered = {n.name: n.power for n in tb.nodes.values() if n.power}
    assert set(powered) == {"ap2", "ap3"}
    assert all(p.type == "command" and p.on and p.off and p.status and "{outlet}" in p.status and
               "$LAB_PDU_COMMUNITY" in p.on for p in powered.values())
    assert tb.timers.name == "rfc"
    # and the Wi-Fi factories take it: templates valid for CommandPower, the AP and station drivers it names
    from harness.testbed.wifi import access_point_of, power_of, station_of
    from harness.wifi.ap import HostapdAP, OpenWrtAP
    from harness.wifi.power import CommandPower
    from harness.wifi.station import WpaCliStation

    for name in powered:
        port = power_of(tb.nodes[name])
        assert isinstance(port, CommandPower) and port.outlet == tb.nodes[name].power.outlet
    assert isinstance(access_point_of(tb.nodes["ap1"], FakeDriver("ap1")), HostapdAP)
    assert all(isinstance(access_point_of(tb.nodes[n], FakeDriver(n)), OpenWrtAP) for n in ("ap2", "ap3"))
    assert isinstance(station_of(mn, FakeDriver("mn")), WpaCliStation)


def test_lab_example_without_its_environment_variable_names_it_with_file_and_line() -> None:
    with pytest.raises(TestbedFileError) as info:
        load(EXAMPLE, environ={})
    err = info.value
    assert err.path == str(EXAMPLE) and "environment variable LAB_MN_PASSWORD is not set" in err.problem
    line = EXAMPLE.read_text().splitlines()[err.line - 1]
    assert "LAB_MN_PASSWORD" in line, f"line {err.line} is {line!r}"
    assert str(err).startswith(f"{EXAMPLE}:{err.line}: ")


# -- fakes -------------------------------------------------------------------------------------------------------
def ApStatus(state, bssid, ssid, channel, freq=None, stations=None) -> wifi_ap.ApStatus:
    return wifi_ap.ApStatus(state, bssid, ssid, channel, freq, list(stations or []))


class FakeDriver(CommandDriver):
    """A node's management connection: ``open`` fails with ``error``, waits ``delay`` or blocks on ``hang``;
    ``ip -j addr show`` answers from ``ifaces`` ({name: (flags, [addresses])})."""

    def __init__(self, node: str, ifaces: dict | None = None, error: Exception | None = None, delay: float = 0.0,
                 hang: threading.Event | None = None, ip_status: int = 0) -> None:
        self.node, self.ifaces, self.error, self.delay, self.hang = node, ifaces or {}, error, delay, hang
        self.ip_status = ip_status
        self.opened = False
        self.transcript = []

    def open(self) -> None:
        if self.opened:
            return
        if self.hang is not None:
            self.hang.wait()
        time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        self.opened = True

    def _run(self, command: str, timeout: float) -> CommandResult:
        if command == "ip -j addr show":
            if self.ip_status:
                return CommandResult(command, self.ip_status, "", "sh: ip: not found")
            out = [{"ifname": name, "flags": flags,
                    "addr_info": [{"family": "inet6", "local": a} for a in addrs]}
                   for name, (flags, addrs) in self.ifaces.items()]
            return CommandResult(command, 0, json.dumps(out))
        return CommandResult(command, 127, "", "unknown")

    def close(self) -> None:
        self.opened = False


class FakeAP:
    def __init__(self, status: ApStatus | None = None, error: Exception | None = None) -> None:
        self._status, self.error = status, error

    def status(self) -> ApStatus:
        if self.error:
            raise self.error
        return self._status


class FakeStation:
    """harness.wifi.station's scan contract: wait for ``want``, else WifiTimeoutError."""

    command_timeout = 15.0

    def __init__(self, entries: list[ScanEntry], status: StationStatus | None = None) -> None:
        self.entries = entries
        self._status = status or StationStatus("COMPLETED", "00:00:5e:00:53:01", "hm6lab", 2412)
        self.scans: list[tuple[float, list[str]]] = []

    def status(self) -> StationStatus:
        return self._status

    def scan(self, timeout: float = 10.0, want=(), min_entries: int = 1) -> list[ScanEntry]:
        from harness.wifi.errors import WifiTimeoutError

        self.scans.append((timeout, list(want)))
        missing = set(want) - {e.bssid for e in self.entries}
        if missing:
            raise WifiTimeoutError("mn", f"wlan0: scan did not see {', '.join(sorted(missing))} within {timeout:g} s")
        return self.entries


class FakePower:
    """harness.wifi.power.PowerPort's read-out: state()."""

    def __init__(self, answer: str | None = "on", error: Exception | None = None) -> None:
        self.answer, self.error = answer, error

    def state(self) -> str | None:
        if self.error:
            raise self.error
        return self.answer


UP = ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"]
NO_CARRIER = ["BROADCAST", "MULTICAST", "UP"]

LAB = """\
name: fakelab
backend: lab
nodes:
  ar1:
    role: ar
    management: {type: ssh, host: 198.51.100.11, key_file: id_test, known_hosts: known}
  ar2:
    role: ar
    management: {type: ssh, host: "2001:db8:ff::12", port: 2222, key_file: id_test, known_hosts: known}
  ap1:
    role: ap
    management: {type: ssh, host: 198.51.100.31, key_file: id_test, known_hosts: known}
    ap: {ssid: hm6lab, channel: 1, bssid: "00:00:5e:00:53:01", ctrl_dir: /run/hostapd}
  ap2:
    role: ap
    management: {type: ssh, host: 198.51.100.32, key_file: id_test, known_hosts: known}
    ap: {ssid: hm6lab, channel: 6, driver: openwrt, radio: radio0}
    power: {type: command, outlet: "4", "on": "pdu on {outlet}", "off": "pdu off {outlet}", status: "pdu status {outlet}"}
  mn:
    role: mn
    management: {type: serial, device: /dev/ttyUSB7, user: root, password: {env: FAKELAB_PW}}
    station: {driver: wpa_cli, interface: wlan0}
  tester:
    role: tester
    management: local
links:
  acc1:
    prefix: 2001:db8:110::/64
    access: true
    members: {ar1: {iface: eth1, address: "::1", advertise: true}, ap1: br0, mn: wlan0, tester: t1}
  acc2:
    prefix: 2001:db8:120::/64
    access: true
    members: {ar2: {iface: eth1, address: "::1", advertise: true}, ap2: br-lan, tester: t2}
"""


def lab_spec(tmp_path: Path, text: str = LAB):
    (tmp_path / "id_test").write_text("not really a key\n")
    (tmp_path / "known").write_text("")
    path = tmp_path / "lab.yaml"
    path.write_text(textwrap.dedent(text))
    return load(path, environ={"FAKELAB_PW": "pw"})


def healthy_drivers() -> dict[str, FakeDriver]:
    return {
        "ar1": FakeDriver("ar1", {"lo": (UP, ["::1"]), "eth1": (UP, ["2001:db8:110::1"])}),
        "ar2": FakeDriver("ar2", {"eth1": (UP, ["2001:db8:120::1"])}),
        "ap1": FakeDriver("ap1", {"br0": (UP, [])}),
        "ap2": FakeDriver("ap2", {"br-lan": (UP, [])}),
        "mn": FakeDriver("mn", {"wlan0": (UP, ["fe80::1"])}),
        "tester": FakeDriver("tester", {"t1": (UP, []), "t2": (UP, [])}),
    }


class FakeLab(LabTestbed):
    """A LabTestbed whose devices are the fakes above."""

    def __init__(self, spec, drivers=None, aps=None, stations=None, powers=None) -> None:
        super().__init__(spec, connect_timeout=5)
        self.fakes = drivers if drivers is not None else healthy_drivers()
        self.aps = aps if aps is not None else {
            "ap1": FakeAP(ApStatus("ENABLED", "00:00:5e:00:53:01", "hm6lab", 1, 2412, ["00:00:5e:00:53:99"])),
            "ap2": FakeAP(ApStatus("ENABLED", "00:00:5E:00:53:02", "hm6lab", 6, 2437)),
        }
        self.stations = stations if stations is not None else {"mn": FakeStation([
            ScanEntry("00:00:5e:00:53:01", 2412, -41.0, "hm6lab"), ScanEntry("00:00:5e:00:53:02", 2437, -55.0, "hm6lab"),
            ScanEntry("00:00:5e:00:53:77", 2462, -80.0, "neighbours")])}
        self.powers = powers if powers is not None else {"ap2": FakePower()}

    def _make_driver(self, node):
        return self.fakes[node.name]

    def ap(self, node):
        return self.aps[node]

    def station(self, node):
        return self.stations[node]

    def power(self, node):
        if node in self.powers:
            return self.powers[node]
        return super().power(node)  # the real factory: harness.wifi.power.CommandPower


def answered(netns, ifname, link, declared, window) -> ProbeResult:
    """A link probe that finds every declared member answering (no packets sent)."""
    return ProbeResult(link, dict(declared), echo={"fe80::1": "00:00:5e:00:53:aa"},
                       resolved={a: "00:00:5e:00:53:aa" for a in declared})


def silent(netns, ifname, link, declared, window) -> ProbeResult:
    return ProbeResult(link, dict(declared))


def run_check(backend, probe=answered, **kw) -> labcheck.LabCheck:
    checker = LabChecker(backend, timeout=kw.pop("timeout", 5.0), probe=probe, **kw)
    return checker.run()


def lines(result: labcheck.LabCheck, node: str, status: str | None = None) -> list[str]:
    dev = next(d for d in result.devices if d.node == node)
    return [f.detail for f in dev.findings if status is None or f.status == status]


# -- the check --------------------------------------------------------------------------------------------------
def test_a_healthy_lab_is_ok_device_by_device(tmp_path: Path) -> None:
    spec = lab_spec(tmp_path)
    result = run_check(FakeLab(spec))
    assert result.ok, result.text()
    assert [d.node for d in result.devices] == ["ar1", "ar2", "ap1", "ap2", "mn", "tester"]
    assert all(d.reachable for d in result.devices)
    assert "ar1: interface eth1 (link acc1): up, 2001:db8:110::1 present" in lines(result, "ar1", OK)
    assert any(line.startswith("ar2: management: ssh root@[2001:db8:ff::12]:2222: host key matches known")
               for line in lines(result, "ar2", OK))
    # ap2 declares no BSSID: the one it reports (lower-cased) is what the station's scan must show
    dev = next(d for d in result.devices if d.node == "ap2")
    assert dev.bssid == "00:00:5e:00:53:02"
    assert any("scan sees ap2 (00:00:5e:00:53:02) at 2437 MHz" in line for line in lines(result, "mn", OK))
    assert any("associated with ap1 (00:00:5e:00:53:01)" in line for line in lines(result, "mn", OK))
    assert "ap2: power status: on" in lines(result, "ap2", OK)
    assert "ap2: power: command outlet 4 (on, off, status)" in lines(result, "ap2")
    assert any(line.startswith("tester: link acc1: sees its link: neighbor advertisement from ar1 (2001:db8:110::1)")
               for line in lines(result, "tester", OK))
    text = result.text()
    assert text.splitlines()[0] == "ar1 (ar; ssh root@198.51.100.11:22)"
    assert text.splitlines()[-1].startswith("fakelab: 6/6 devices OK in ")
    doc = json.loads(json.dumps(result.as_dict()))
    assert doc["ok"] is True and [d["node"] for d in doc["devices"]] == [d.node for d in result.devices]
    assert {c["status"] for d in doc["devices"] for c in d["checks"]} <= {OK, "INFO"}


@pytest.mark.parametrize("error, expected", [
    (ConnectError("ar1", "connect to [198.51.100.11]:22 timed out"),
     "ar1: UNREACHABLE: ssh 198.51.100.11:22: timed out after 5 s"),
    (ConnectError("ar1", "connect to [198.51.100.11]:22: Connection refused"),
     "ar1: UNREACHABLE: ssh 198.51.100.11:22: Connection refused"),
    (ConnectError("ar1", "connect to [198.51.100.11]:22: Network is unreachable"),
     "ar1: UNREACHABLE: ssh 198.51.100.11:22: Network is unreachable"),
    (HostKeyMismatchError("ar1", "host key for 198.51.100.11 differs from the pinned one: expected A, server "
                                 "presented B"),
     "ar1: HOST KEY: ssh 198.51.100.11:22: host key for 198.51.100.11 differs from the pinned one: expected A, "
     "server presented B"),
    (AuthenticationError("ar1", "root@198.51.100.11 refused login (key id_test)"),
     "ar1: LOGIN REFUSED: ssh 198.51.100.11:22: root@198.51.100.11 refused login (key id_test)"),
])
def test_a_management_failure_is_one_problem_line_naming_device_and_cause(tmp_path: Path, error, expected) -> None:
    spec = lab_spec(tmp_path)
    drivers = healthy_drivers()
    drivers["ar1"] = FakeDriver("ar1", error=error)
    result = run_check(FakeLab(spec, drivers=drivers))
    assert not result.ok
    assert lines(result, "ar1", PROBLEM) == [expected]
    assert lines(result, "ar1", SKIP) == ["ar1: interfaces eth1: not checked (no management connection)"]
    assert [d.node for d in result.devices if not d.ok] == ["ar1"]
    assert result.text().splitlines()[-1].endswith("5/6 devices OK in " + f"{result.elapsed:.1f} s; problems: ar1")


def test_serial_console_failures(tmp_path: Path) -> None:
    spec = lab_spec(tmp_path)
    drivers = healthy_drivers()
    drivers["mn"] = FakeDriver("mn", error=ConsoleError("mn", "no login or shell prompt on /dev/ttyUSB7 within 5 s "
                                                              "(last output b'')"))
    result = run_check(FakeLab(spec, drivers=drivers))
    assert lines(result, "mn", PROBLEM) == [
        "mn: NO PROMPT: serial /dev/ttyUSB7: no login or shell prompt on /dev/ttyUSB7 within 5 s (last output b'')"]
    assert "mn: station wpa_cli wlan0: scan not run (no management connection)" in lines(result, "mn", SKIP)
    drivers["mn"] = FakeDriver("mn", error=ConnectError(
        "mn", "cannot open console /dev/ttyUSB7: [Errno 2] could not open port /dev/ttyUSB7"))
    result = run_check(FakeLab(spec, drivers=drivers))
    assert lines(result, "mn", PROBLEM) == [
        "mn: UNREACHABLE: serial /dev/ttyUSB7: [Errno 2] could not open port /dev/ttyUSB7"]


def test_interface_problems_are_named(tmp_path: Path) -> None:
    spec = lab_spec(tmp_path)
    drivers = healthy_drivers()
    drivers["ar1"] = FakeDriver("ar1", {"eth1": (NO_CARRIER, [])})
    drivers["ar2"] = FakeDriver("ar2", {"eth0": (UP, [])})
    drivers["ap1"] = FakeDriver("ap1", ip_status=127)  # no 'ip' (a vendor shell): a warning, not a problem
    result = run_check(FakeLab(spec, drivers=drivers))
    assert lines(result, "ar1", PROBLEM) == [
        "ar1: INTERFACE eth1 (link acc1): not up (administratively down or no carrier)",
        "ar1: ADDRESS 2001:db8:110::1 missing on eth1 (link acc1)"]
    assert lines(result, "ar2", PROBLEM) == ["ar2: INTERFACE eth1 (link acc2): does not exist"]
    assert not lines(result, "ap1", PROBLEM) and "has no 'ip' command" in lines(result, "ap1", WARN)[0]
    assert [d.node for d in result.devices if not d.ok] == ["ar1", "ar2"]


def test_a_disabled_access_point_is_a_problem(tmp_path: Path) -> None:
    spec = lab_spec(tmp_path)
    aps = {"ap1": FakeAP(ApStatus("ENABLED", "00:00:5e:00:53:01", "hm6lab", 1)),
           "ap2": FakeAP(ApStatus("DISABLED", None, None, None))}
    result = run_check(FakeLab(spec, aps=aps))
    assert lines(result, "ap2", PROBLEM) == [
        "ap2: AP STATE: openwrt wlan0 (radio0) is DISABLED, not serving (hostapd: ENABLED; OpenWrt: radio up)",
        "ap2: BSSID: the AP reports none and the testbed file declares none"]


def test_access_point_problems(tmp_path: Path) -> None:
    spec = lab_spec(tmp_path)
    aps = {"ap1": FakeAP(ApStatus("ENABLED", "00:00:5e:00:53:09", "other", 1)),
           "ap2": FakeAP(error=DriverError("ap2", "command 'ubus call hostapd.phy0-ap0 get_status' exited 4"))}
    result = run_check(FakeLab(spec, aps=aps))
    assert lines(result, "ap1", PROBLEM) == [
        "ap1: BSSID: the AP reports 00:00:5e:00:53:09, the testbed file says 00:00:5e:00:53:01",
        "ap1: SSID: the AP reports 'other', the testbed file says 'hm6lab'"]
    assert lines(result, "ap2", PROBLEM) == [
        "ap2: AP SOFTWARE: openwrt wlan0 (radio0) does not answer: command 'ubus call hostapd.phy0-ap0 get_status' "
        "exited 4"]
    # ap2's BSSID is unknown (declared nowhere, not reported): the station cannot be checked against it
    assert ("mn: scan: ap2: BSSID unknown (the file declares none and the AP did not report one)"
            in lines(result, "mn", SKIP))
    assert any("scan sees ap1 (00:00:5e:00:53:01)" in line for line in lines(result, "mn", OK))


def test_a_station_that_does_not_see_an_access_point(tmp_path: Path) -> None:
    spec = lab_spec(tmp_path)
    station = FakeStation([ScanEntry("00:00:5e:00:53:01", 2412, -40.0, "hm6lab")],
                          StationStatus("DISCONNECTED", None, None))
    result = run_check(FakeLab(spec, stations={"mn": station}), timeout=2.0)
    assert lines(result, "mn", PROBLEM) == [
        "mn: SCAN: station wpa_cli wlan0 does not see ap2 (00:00:5e:00:53:02, ssid 'hm6lab', channel 6) within 10 s, "
        "among 1 BSS(s)"]
    assert "mn: station wpa_cli wlan0: DISCONNECTED" in lines(result, "mn", OK)
    assert any("scan sees ap1 (00:00:5e:00:53:01)" in line for line in lines(result, "mn", OK))
    # it waited (bounded) for both BSSIDs, then read the table as it was
    assert station.scans == [(10.0, ["00:00:5e:00:53:01", "00:00:5e:00:53:02"]), (0.0, [])]
    assert station.command_timeout == 4.0, "each station command is bounded by the check's command timeout"
    assert [d.node for d in result.devices if not d.ok] == ["mn"]


def test_a_scan_that_fails(tmp_path: Path) -> None:
    from harness.wifi.errors import WifiError

    class Busy(FakeStation):
        def scan(self, timeout: float = 10.0, want=(), min_entries: int = 1):
            raise WifiError("mn", "wlan0: 'wpa_cli -i wlan0 scan' answered FAIL-BUSY")

    result = run_check(FakeLab(lab_spec(tmp_path), stations={"mn": Busy([])}))
    assert lines(result, "mn", PROBLEM) == ["mn: SCAN: station wpa_cli wlan0: wlan0: 'wpa_cli -i wlan0 scan' answered "
                                            "FAIL-BUSY"]


def test_power_port_status(tmp_path: Path) -> None:
    from harness.wifi.errors import PowerError

    spec = lab_spec(tmp_path)
    result = run_check(FakeLab(spec, powers={"ap2": FakePower(error=PowerError("ap2", "status: no route to PDU"))}))
    assert lines(result, "ap2", PROBLEM) == ["ap2: POWER: status of outlet 4 failed: no route to PDU"]
    # the PDU is asked even when the device itself does not answer
    drivers = healthy_drivers()
    drivers["ap2"] = FakeDriver("ap2", error=ConnectError("ap2", "connect to [198.51.100.32]:22 timed out"))
    result = run_check(FakeLab(spec, drivers=drivers, powers={"ap2": FakePower("off")}))
    assert lines(result, "ap2", PROBLEM) == ["ap2: UNREACHABLE: ssh 198.51.100.32:22: timed out after 5 s"]
    assert lines(result, "ap2", OK) == ["ap2: power status: off"]


def test_power_status_through_the_real_power_port(tmp_path: Path) -> None:
    """harness.wifi.power.CommandPower (via harness.testbed.wifi.power_of) runs the template on this host,
    bounded by the check's command timeout."""
    spec = lab_spec(tmp_path, LAB.replace('status: "pdu status {outlet}"', 'status: "echo outlet {outlet} is ON"'))
    backend = FakeLab(spec, powers={})
    result = run_check(backend, timeout=1.0)
    assert lines(result, "ap2", OK)[-1] == "ap2: power status: outlet 4 is on"
    assert backend.power("ap2").timeout == 2.0
    spec = lab_spec(tmp_path, LAB.replace('status: "pdu status {outlet}"', 'status: "sh -c \'echo oops >&2; exit 3\'"'))
    result = run_check(FakeLab(spec, powers={}))
    [problem] = lines(result, "ap2", PROBLEM)
    assert problem.startswith("ap2: POWER: status of outlet 4 failed: ") and "sh -c" in problem and \
        problem.endswith("exited 3: oops")


def test_silent_tester_links_are_reported(tmp_path: Path) -> None:
    spec = lab_spec(tmp_path)
    drivers = healthy_drivers()
    drivers["tester"] = FakeDriver("tester", {"t1": (UP, [])})  # t2 missing: not probed
    probed = []

    def probe(netns, ifname, link, declared, window):
        probed.append((ifname, link, declared, window))
        return silent(netns, ifname, link, declared, window)

    result = run_check(FakeLab(spec, drivers=drivers), probe=probe, timeout=1.5)
    assert probed == [("t1", "acc1", {"2001:db8:110::1": "ar1"}, 1.5)]
    assert lines(result, "tester", PROBLEM) == [
        "tester: INTERFACE t2 (link acc2): does not exist",
        "tester: LINK acc1 (port t1): silent: no answer to an echo request to ff02::1 or to neighbor "
        "solicitations for 2001:db8:110::1 within 1.5 s"]
    assert "tester: link acc2: not probed (port t2 is not usable)" in lines(result, "tester", SKIP)


def test_devices_are_checked_in_parallel(tmp_path: Path) -> None:
    spec = lab_spec(tmp_path)
    drivers = healthy_drivers()
    for name, drv in drivers.items():
        drv.delay = 0.6
    drivers["ar1"] = FakeDriver("ar1", error=ConnectError("ar1", "connect to [198.51.100.11]:22 timed out"), delay=0.6)
    start = time.monotonic()
    result = run_check(FakeLab(spec, drivers=drivers))
    elapsed = time.monotonic() - start
    assert elapsed < 1.5, f"six devices of 0.6 s each took {elapsed:.2f} s: not in parallel"
    assert [d.node for d in result.devices if not d.ok] == ["ar1"]


def test_a_wedged_device_is_abandoned_at_the_deadline(tmp_path: Path) -> None:
    spec = lab_spec(tmp_path)
    drivers = healthy_drivers()
    release = threading.Event()
    drivers["ap1"] = FakeDriver("ap1", hang=release)
    try:
        start = time.monotonic()
        result = run_check(FakeLab(spec, drivers=drivers), phase_deadline=0.5)
        assert time.monotonic() - start < 2
    finally:
        release.set()
    assert lines(result, "ap1", PROBLEM) == [
        "ap1: CHECK: did not finish within 0.5 s (stuck after: management); abandoned"]
    time.sleep(0.1)  # the released thread finishes; a closed report takes no more findings
    assert len(lines(result, "ap1")) == 1
    assert [d.node for d in result.devices if not d.ok] == ["ap1"]


def test_a_bug_in_one_check_is_reported_for_that_device(tmp_path: Path) -> None:
    spec = lab_spec(tmp_path)

    class Broken(FakeAP):
        def status(self):
            raise ZeroDivisionError("oops")

    result = run_check(FakeLab(spec, aps={"ap1": Broken(), "ap2": FakeAP(ApStatus("ENABLED", "00:00:5e:00:53:02",
                                                                                      "hm6lab", 6))}))
    assert lines(result, "ap1", PROBLEM) == ["ap1: AP SOFTWARE: hostapd wlan0 does not answer: ZeroDivisionError: oops"]


def test_describe_failure_tells_a_closed_connection_from_a_silent_one(tmp_path: Path) -> None:
    node = lab_spec(tmp_path).nodes["ar1"]
    exc = ConnectError("ar1", "SSH handshake failed: Error reading SSH protocol banner")
    assert labcheck.describe_failure(node, exc, 5, elapsed=5.01) == (
        "UNREACHABLE: ssh 198.51.100.11:22: no SSH banner within 5 s (SSH handshake failed: Error reading SSH "
        "protocol banner)")
    assert "the connection was closed before an SSH banner" in labcheck.describe_failure(node, exc, 5, elapsed=0.01)
    # paramiko's start_client returns on its timeout without an error; the driver then lets SSHException through
    import paramiko

    exc = paramiko.SSHException("No existing session")
    assert labcheck.describe_failure(node, exc, 5, elapsed=5.0) == (
        "UNREACHABLE: ssh 198.51.100.11:22: SSH negotiation did not finish within 5 s (SSHException: No existing "
        "session)")


def test_an_exception_the_driver_lets_through_is_still_one_management_problem(tmp_path: Path) -> None:
    import paramiko

    spec = lab_spec(tmp_path)
    drivers = healthy_drivers()
    drivers["ar1"] = FakeDriver("ar1", error=paramiko.SSHException("No existing session"))
    result = run_check(FakeLab(spec, drivers=drivers))
    assert lines(result, "ar1", PROBLEM) == [
        "ar1: UNREACHABLE: ssh 198.51.100.11:22: SSH negotiation failed (SSHException: No existing session)"]


# -- the link probe's packet handling (the wire itself: tests/integration/test_lab_check.py) ------------------------
def test_probe_answers_solicitations_for_its_address_and_collects_replies() -> None:
    from harness.tester import packets as P

    mac = "02:00:5e:00:53:10"
    src = P.link_local_from_mac(mac)
    sent: list[bytes] = []

    class Port:
        def send(self, frame: bytes) -> None:
            sent.append(frame)

    result = ProbeResult("acc1", {"2001:db8:110::1": "ar1"})
    peer = "00:00:5e:00:53:20"
    ns = (P.Ether(src=peer, dst=P.solicited_node_mac(src)) / P.IPv6(src="fe80::20", dst=P.solicited_node(src), hlim=255)
          / P.ICMPv6ND_NS(tgt=src) / P.ICMPv6NDOptSrcLLAddr(lladdr=peer))
    labcheck._answer(Port(), P, bytes(ns), mac, src, 77, result)
    assert result.solicitors == {"fe80::20"} and len(sent) == 1
    na = P.decode(sent[0])
    assert na[P.ICMPv6ND_NA].tgt == src and na[P.Ether].dst == peer and na[P.IPv6].dst == "fe80::20"
    reply = P.Ether(src=peer, dst=mac) / P.IPv6(src="fe80::20", dst=src) / P.ICMPv6EchoReply(id=77, seq=1)
    other = P.Ether(src=peer, dst=mac) / P.IPv6(src="fe80::21", dst=src) / P.ICMPv6EchoReply(id=78, seq=1)
    adv = (P.Ether(src=peer, dst=mac) / P.IPv6(src="2001:db8:110::1", dst=src, hlim=255)
           / P.ICMPv6ND_NA(tgt="2001:db8:110:0::1", S=1))
    for frame in (reply, other, adv):
        labcheck._answer(Port(), P, bytes(frame), mac, src, 77, result)
    assert result.echo == {"fe80::20": peer} and result.resolved == {"2001:db8:110::1": peer}
    assert result.answered and result.describe() == (
        "neighbor advertisement from ar1 (2001:db8:110::1); 1 echo reply (fe80::20 [ar1])")
    assert not ProbeResult("acc2", {}).answered


# -- LabTestbed: parallel health, Wi-Fi handover, accessors ---------------------------------------------------------
def test_lab_backend_check_is_parallel_and_bounded(tmp_path: Path) -> None:
    spec = lab_spec(tmp_path)
    drivers = healthy_drivers()
    for drv in drivers.values():
        drv.delay = 0.5
    release = threading.Event()
    drivers["ar2"] = FakeDriver("ar2", hang=release)
    try:
        start = time.monotonic()
        health = FakeLab(spec, drivers=drivers).check(deadline=1.0)
        assert time.monotonic() - start < 1.8
    finally:
        release.set()
    by_node = {h.node: h for h in health}
    assert [h.node for h in health] == ["ar1", "ar2", "ap1", "ap2", "mn", "tester"]
    assert not by_node["ar2"].reachable and "did not finish within 1 s" in by_node["ar2"].detail
    assert all(h.ok for n, h in by_node.items() if n != "ar2")


def test_attach_without_a_station_is_not_supported(tmp_path: Path) -> None:
    spec = lab_spec(tmp_path, LAB.replace("    station: {driver: wpa_cli, interface: wlan0}\n", ""))
    with pytest.raises(HandoverNotSupported, match="'mn' has no 'station' settings") as info:
        LabTestbed(spec).attach("mn", "ar2")
    assert isinstance(info.value, TestbedError) and "roaming its Wi-Fi station" in str(info.value)
    with pytest.raises(TestbedError, match="no node 'nobody'"):
        LabTestbed(spec).attach("nobody", "ar2")


def test_attach_with_a_station_roams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.testbed.wifi as wifi

    spec = lab_spec(tmp_path)
    calls = []

    def roam_attach(backend, mn, router):
        calls.append((backend, mn, router))
        return AttachResult(mn, router, "acc2", 1.0, 2.0)

    monkeypatch.setattr(wifi, "roam_attach", roam_attach)
    backend = LabTestbed(spec)
    result = backend.attach("mn", "ar2")
    assert calls == [(backend, "mn", "ar2")] and result.link == "acc2"


def test_wifi_accessors_use_the_factories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.testbed.wifi as wifi

    spec = lab_spec(tmp_path)
    monkeypatch.setattr(wifi, "access_point_of", lambda node, driver: ("ap", node.name, driver))
    monkeypatch.setattr(wifi, "station_of", lambda node, driver: ("station", node.name, driver))
    monkeypatch.setattr(wifi, "power_of", lambda node: ("power", node.name, node.power.outlet))
    backend = LabTestbed(spec, connect_timeout=3)
    ap = backend.ap("ap1")
    assert ap[:2] == ("ap", "ap1") and ap[2] is backend.driver("ap1") and backend.ap("ap1") is ap
    assert backend.station("mn")[:2] == ("station", "mn")
    assert backend.power("ap2") == ("power", "ap2", "4")
    assert backend.driver("ar1").connect_timeout == 3 and backend.driver("mn").prompt_timeout == 3
    with pytest.raises(TestbedError, match="no node 'ap9'"):
        backend.ap("ap9")
    backend.close_drivers()
    assert backend.ap("ap1") is not ap, "closing the drivers drops the Wi-Fi drivers built on them"


# -- the CLI ------------------------------------------------------------------------------------------------------
def test_cli_check_of_a_lab_prints_blocks_or_json_and_exits_1(tmp_path: Path, capsys) -> None:
    from harness import cli

    (tmp_path / "id_test").write_text("x\n")
    (tmp_path / "known").write_text("")
    path = tmp_path / "lab.yaml"
    path.write_text(textwrap.dedent("""\
        name: gonelab
        backend: lab
        nodes:
          mn1: {role: mn, management: {type: serial, device: /nonexistent/hm6-tty1}}
          mn2: {role: mn, management: {type: serial, device: /nonexistent/hm6-tty2}}
        links:
          acc1: {access: true, members: {mn1: wlan0, mn2: wlan0}}
        """))
    assert cli.main(["testbed", "check", str(path), "--timeout", "1"]) == 1
    out = capsys.readouterr().out
    for node in ("mn1", "mn2"):
        assert f"{node} (mn; serial /nonexistent/hm6-{node.replace('mn', 'tty')} (115200 baud))" in out
        problems = [line for line in out.splitlines() if line.strip().startswith(f"PROBLEM {node}: ")]
        assert len(problems) == 1 and f"UNREACHABLE: serial /nonexistent/hm6-tty{node[-1]}:" in problems[0]
    assert "gonelab: 0/2 devices OK" in out and "problems: mn1, mn2" in out
    assert cli.main(["testbed", "check", str(path), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["timeout"] == 5.0
    assert [(d["node"], d["ok"], d["reachable"]) for d in doc["devices"]] == [("mn1", False, False), ("mn2", False, False)]
    assert doc["devices"][0]["checks"][0]["status"] == PROBLEM


def test_cli_check_of_a_broken_file_gives_file_and_line_and_exit_2(tmp_path: Path, capsys) -> None:
    from harness import cli

    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nbackend: lab\nnodes:\n  ar1: {rol: ar}\nlinks: {}\n")
    assert cli.main(["testbed", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:4: node 'ar1': unknown key 'rol' (did you mean 'role'?)" in err
