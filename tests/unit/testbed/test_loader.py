"""Testbed file validation: every malformed file gives one error naming file, line and problem."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.errors import TestbedFileError
from harness.testbed import load

GOOD = """\
name: lab
backend: lab
dut: map1
nodes:
  map1:
    role: map
    management: {type: ssh, host: 192.0.2.1, key_file: id_test, known_hosts: known}
  mn:
    role: mn
    management: {type: serial, device: /dev/ttyUSB0, user: root, password: {env: HMIP_TEST_PW}}
  tester:
    role: tester
    management: local
links:
  acc1:
    prefix: 2001:db8:110::/64
    access: true
    members: {map1: {iface: eth1, address: "::1", advertise: true}, mn: wlan0, tester: eth2}
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "id_test").write_text("not really a key\n")
    (tmp_path / "known").write_text("")
    path = tmp_path / "tb.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def error_for(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> TestbedFileError:
    path = write(tmp_path, text)
    with pytest.raises(TestbedFileError) as info:
        load(path, environ={"HMIP_TEST_PW": "pw"} if environ is None else environ)
    err = info.value
    assert str(path) in str(err), "the error names the file"
    return err


def test_good_file_loads(tmp_path: Path) -> None:
    tb = load(write(tmp_path, GOOD), environ={"HMIP_TEST_PW": "s3cret"})
    assert tb.dut == "map1" and tb.nodes["mn"].management.password.reveal() == "s3cret"
    assert str(tb.links["acc1"].members["map1"].address) == "2001:db8:110::1/64"
    assert tb.timers.name == "rfc" and tb.timers.map_probe_interval == 10.0


def test_secret_is_never_shown(tmp_path: Path) -> None:
    tb = load(write(tmp_path, GOOD), environ={"HMIP_TEST_PW": "s3cret"})
    mgmt = tb.nodes["mn"].management
    assert "s3cret" not in repr(mgmt) and "s3cret" not in str(mgmt.password)
    assert "HMIP_TEST_PW" in repr(mgmt.password)


def test_unknown_key_names_line_and_suggests(tmp_path: Path) -> None:
    err = error_for(tmp_path, GOOD.replace("    role: mn", "    rol: mn"))
    assert err.line == 9
    assert "unknown key 'rol'" in err.problem and "did you mean 'role'" in err.problem


def test_link_to_unknown_node(tmp_path: Path) -> None:
    err = error_for(tmp_path, GOOD.replace("mn: wlan0", "mm: wlan0"))
    assert err.line == 18 and "member 'mm' is not a node" in err.problem


def test_missing_credential(tmp_path: Path) -> None:
    err = error_for(tmp_path, GOOD.replace(", key_file: id_test", ""))
    assert err.line == 7 and "needs a credential" in err.problem


def test_unreadable_key_file(tmp_path: Path) -> None:
    err = error_for(tmp_path, GOOD.replace("key_file: id_test", "key_file: missing_key"))
    assert err.line == 7 and "key_file" in err.problem and "missing_key" in err.problem
    assert "not readable" in err.problem


def test_environment_variable_not_set(tmp_path: Path) -> None:
    err = error_for(tmp_path, GOOD, environ={})
    assert err.line == 10 and "environment variable HMIP_TEST_PW is not set" in err.problem


def test_yaml_syntax_error(tmp_path: Path) -> None:
    err = error_for(tmp_path, GOOD.replace("role: map\n", "role: [map\n"))
    assert err.line is not None and "YAML syntax error" in err.problem


def test_duplicate_key(tmp_path: Path) -> None:
    err = error_for(tmp_path, GOOD.replace("    role: map\n", "    role: map\n    role: ar\n"))
    assert err.line == 7 and "duplicate key 'role'" in err.problem


def test_address_outside_prefix(tmp_path: Path) -> None:
    err = error_for(tmp_path, GOOD.replace('address: "::1"', "address: 2001:db8:999::1"))
    assert err.line == 18 and "not in the link prefix" in err.problem


def test_unknown_role_and_dut(tmp_path: Path) -> None:
    assert "not one of" in error_for(tmp_path, GOOD.replace("role: map", "role: mapp")).problem
    err = error_for(tmp_path, GOOD.replace("dut: map1", "dut: map9"))
    assert err.line == 3 and "unknown node 'map9'" in err.problem


def test_bad_route_and_timers(tmp_path: Path) -> None:
    text = GOOD.replace("    role: map\n", "    role: map\n    routes: ['2001:db8::/32 through 2001:db8::1']\n")
    assert "PREFIX via ADDRESS" in error_for(tmp_path, text).problem
    err = error_for(tmp_path, GOOD.replace("dut: map1", "dut: map1\ntimers: {profile: rfc, factor: 0.1}"))
    assert "cannot be scaled" in err.problem


def test_missing_file() -> None:
    with pytest.raises(TestbedFileError, match="cannot read testbed file"):
        load("/nonexistent/testbed.yaml")


def test_netns_node_names_must_fit_namespaces(tmp_path: Path) -> None:
    text = GOOD.replace("backend: lab", "backend: netns").replace("  map1:\n", "  Map_1:\n").replace("dut: map1", "dut: Map_1")
    text = text.replace("members: {map1:", "members: {Map_1:")
    assert "node names must be" in error_for(tmp_path, text).problem


def test_bundled_virtual_testbed_is_valid() -> None:
    from harness import paths
    tb = load(paths.DEFAULT_TESTBED)
    assert tb.backend == "netns" and tb.timers.name == "scaled"
    assert {n.role for n in tb.nodes.values()} >= {"map", "ar", "mn", "ha", "cn", "tester", "router"}
    assert [link.name for link in tb.access_links()] == ["acc1", "acc2", "acc3", "acc0"]
    tester = tb.tester
    assert {i.link for i in tester.interfaces.values()} == set(tb.links), "the tester has a port on every link"


def test_lab_example_is_valid_and_needs_its_secret_from_the_environment() -> None:
    from harness import paths
    path = paths.TESTBEDS_DIR / "lab-example.yaml"
    with pytest.raises(TestbedFileError, match="LAB_MN_PASSWORD is not set"):
        load(path, environ={})
    tb = load(path, environ={"LAB_MN_PASSWORD": "x"})
    assert tb.backend == "lab" and tb.nodes["map1"].management.known_hosts.name == "known_hosts"


def test_unknown_pics_item_is_an_error(tmp_path: Path) -> None:
    err = error_for(tmp_path, GOOD.replace("dut: map1\n", "dut: map1\npics: {previous_map_fowarding: true}\n"))
    assert err.line == 4 and "unknown item 'previous_map_fowarding'" in err.problem and "previous_map_forwarding" in err.problem


def test_pics_parameters_are_checked(tmp_path: Path) -> None:
    ok = GOOD.replace("dut: map1\n", "dut: map1\npics: {echo_failure_detection: {window: 2.5}, onlink_prefix_list: true}\n")
    tb = load(write(tmp_path, ok), environ={"HMIP_TEST_PW": "x"})
    assert tb.pics["echo_failure_detection"] == {"window": 2.5}
    err = error_for(tmp_path, GOOD.replace("dut: map1\n", "dut: map1\npics: {echo_failure_detection: {windw: 2}}\n"))
    assert "unknown parameters windw" in err.problem


def test_one_hmipv6_daemon_per_node_and_autostart_is_boolean(tmp_path: Path) -> None:
    two = GOOD.replace("    role: map\n", "    role: map\n    services: [hmipv6-map, hmipv6-ha]\n")
    err = error_for(tmp_path, two)
    assert err.line == 7 and "at most one HMIPv6 daemon" in err.problem
    bad = GOOD.replace("    role: mn\n", "    role: mn\n    services: [hmipv6-mn]\n    autostart: later\n")
    err = error_for(tmp_path, bad)
    assert err.line == 11 and "autostart must be true or false" in err.problem
    ok = GOOD.replace("    role: mn\n", "    role: mn\n    services: [hmipv6-mn]\n    autostart: false\n")
    tb = load(write(tmp_path, ok), environ={"HMIP_TEST_PW": "pw"})
    assert tb.nodes["mn"].services == ["hmipv6-mn"] and tb.nodes["mn"].autostart is False
    assert tb.nodes["map1"].autostart is True


def test_reference_daemon_configs_render_as_yaml(tmp_path: Path) -> None:
    """Nested daemon_options (e.g. the MAP's relay_from list) reach the daemon's YAML file as plain data."""
    import yaml

    from harness.testbed.refconfig import RENDER
    spec = load(Path(__file__).parents[3] / "testbeds" / "virtual.yaml")
    for node in spec.nodes.values():
        for service in node.services:
            text = yaml.safe_dump(RENDER[service](spec, node, tmp_path))
            assert yaml.safe_load(text)["role"] == service.removeprefix("hmipv6-")
    assert yaml.safe_load(yaml.safe_dump(RENDER["hmipv6-map"](spec, spec.nodes["map1"], tmp_path)))["map"][
        "relay_from"] == ["eth0", "eth2"]


WIFI = GOOD.replace("""  tester:
    role: tester""", """  ap1:
    role: ap
    management: {type: ssh, host: 192.0.2.9, key_file: id_test, known_hosts: known}
    ap: {ssid: lab, channel: 6, bssid: "02:00:00:00:01:00"}
  tester:
    role: tester""").replace("mn: wlan0, tester: eth2}", "ap1: eth0, mn: wlan0, tester: eth2}")


def test_wifi_access_point_and_station_load(tmp_path: Path) -> None:
    text = WIFI.replace("password: {env: HMIP_TEST_PW}}", "password: {env: HMIP_TEST_PW}}\n    station: {log: /tmp/w.log}")
    tb = load(write(tmp_path, text), environ={"HMIP_TEST_PW": "pw"})
    assert tb.access_point_on("acc1").name == "ap1" and tb.nodes["ap1"].ap.channel == 6
    assert tb.nodes["mn"].station.driver == "wpa_cli" and tb.nodes["mn"].station.log == "/tmp/w.log"


@pytest.mark.parametrize("change, message", [
    (("channel: 6", "channel: 15"), "channel 15 is not a 2.4 or 5 GHz Wi-Fi channel"),
    (('bssid: "02:00:00:00:01:00"', "bssid: 02-00"), "is not a MAC address"),
    (("ap: {ssid: lab, channel: 6, bssid: \"02:00:00:00:01:00\"}", "ap: {channel: 6}"), "missing required key 'ssid'"),
    (("ap1: eth0, mn: wlan0", "mn: wlan0"), "must be a member of exactly one access link"),
    (("password: {env: HMIP_TEST_PW}}", "password: {env: HMIP_TEST_PW}}\n    station: {interface: wlan9}"),
     "station interface 'wlan9' is not its access-link interface"),
    (("role: map\n", "role: map\n    station: {}\n"), "'station' settings belong to a mobile node"),
    (("password: {env: HMIP_TEST_PW}}", "password: {env: HMIP_TEST_PW}}\n    power: {type: command, on: x, off: y}"),
     "YAML reads a bare on/off/yes/no as a boolean"),
    (("password: {env: HMIP_TEST_PW}}", "password: {env: HMIP_TEST_PW}}\n    power: {type: command, 'on': x}"),
     "type command needs 'on' and 'off'"),
])
def test_wifi_mistakes_name_line_and_problem(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    assert change[0] in WIFI
    err = error_for(tmp_path, WIFI.replace(change[0], change[1], 1))
    assert message in err.problem and err.line, str(err)
