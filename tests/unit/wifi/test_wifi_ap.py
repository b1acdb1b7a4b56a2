"""HostapdAP on hostapd_cli outputs recorded in the QEMU guest (tests/data/wifi/record.sh), and
OpenWrtAP on example ubus replies built from OpenWrt's documented JSON shapes (NOT recorded from a
device; see tests/data/wifi/openwrt/README.md)."""

from __future__ import annotations

import pytest

from harness.wifi import HostapdAP, OpenWrtAP, WifiError
from tests.unit.wifi.recorded import AP1, DATA, IWSTA, STA, RecordedDriver, Reply, recorded

OPENWRT = DATA / "openwrt"


def hostapd(*names: str, interface: str = "wlan0") -> tuple[HostapdAP, RecordedDriver]:
    driver = RecordedDriver("ap1", *names)
    return HostapdAP(driver, interface, ctrl_dir="/run/hostapd"), driver


def test_hostapd_status_with_a_station() -> None:
    ap, driver = hostapd("hostapd_cli_status_sta", "hostapd_cli_all_sta")
    status = ap.status()
    assert driver.sent == ["hostapd_cli -p /run/hostapd -i wlan0 status", "hostapd_cli -p /run/hostapd -i wlan0 all_sta"]
    assert (status.state, status.enabled, status.bssid, status.ssid, status.channel, status.freq) == \
        ("ENABLED", True, AP1, "hm6lab", 1, 2412)
    assert status.stations == [STA] and status.raw["num_sta[0]"] == "1"


def test_hostapd_status_disabled_and_empty() -> None:
    status = hostapd("hostapd_cli_status_disabled", "hostapd_cli_all_sta_empty")[0].status()
    assert (status.state, status.enabled, status.stations, status.bssid) == ("DISABLED", False, [], AP1)


def test_hostapd_stations_and_their_data() -> None:
    ap, _ = hostapd("hostapd_cli_all_sta_two")
    assert ap.stations() == [IWSTA, STA]
    info = ap.station_info()
    assert info[STA]["flags"] == "[AUTH][ASSOC][AUTHORIZED][SHORT_PREAMBLE]" and info[IWSTA]["aid"] == "2"


def test_hostapd_enable_disable_deauthenticate() -> None:
    ap, driver = hostapd("hostapd_cli_disable")
    ap.disable()
    ap, driver = hostapd("hostapd_cli_enable")
    ap.enable()
    ap, driver = hostapd("hostapd_cli_deauthenticate", interface="wlan1")
    ap.deauthenticate(STA.upper())
    assert driver.sent == [f"hostapd_cli -p /run/hostapd -i wlan1 deauthenticate {STA}"]


def test_hostapd_refusal_says_fail_and_the_state() -> None:
    ap, _ = hostapd("hostapd_cli_disable_again", "hostapd_cli_status_disabled")
    with pytest.raises(WifiError) as err:
        ap.disable()
    assert str(err.value) == "ap1: wlan0: hostapd_cli disable replied 'FAIL' (AP state DISABLED)"


def test_hostapd_that_does_not_answer() -> None:
    # hostapd SIGSTOPped: hostapd_cli waited its own 10 s and exited 0 with this line
    assert float((DATA / "hostapd_cli_stopped.seconds").read_text()) < HostapdAP(RecordedDriver()).command_timeout
    command, _ = recorded("hostapd_cli_stopped")
    ap, _ = hostapd("hostapd_cli_stopped", interface=command.split()[4])
    with pytest.raises(WifiError, match="hostapd did not answer 'status': 'STATUS' command timed out."):
        ap.status()


def test_hostapd_not_running() -> None:
    command, _ = recorded("hostapd_cli_no_daemon")  # the killed one of the two
    ap, _ = hostapd("hostapd_cli_no_daemon", interface=command.split()[4])
    with pytest.raises(WifiError, match="exited 255: Failed to connect to hostapd - wpa_ctrl_open: No such file"):
        ap.status()


# -- OpenWrt (documented shapes, not recorded) ---------------------------------------------------

WIRELESS = "ubus call network.wireless status"
IWINFO = """ubus call iwinfo info '{"device":"wlan0"}'"""
CLIENTS = "ubus call hostapd.wlan0 get_clients"


def openwrt(replies: dict[str, str | Reply], **kwargs: object) -> tuple[OpenWrtAP, RecordedDriver]:
    extra = {cmd: [r if isinstance(r, Reply) else Reply(0, (OPENWRT / r).read_text())] for cmd, r in replies.items()}
    driver = RecordedDriver("owrt", extra=extra)
    return OpenWrtAP(driver, **kwargs), driver  # type: ignore[arg-type]


def test_openwrt_status() -> None:
    ap, driver = openwrt({WIRELESS: "network_wireless_status.json", IWINFO: "iwinfo_info.json",
                          CLIENTS: "hostapd_get_clients.json"})
    status = ap.status()
    assert driver.sent == [WIRELESS, IWINFO, CLIENTS]
    assert (status.state, status.bssid, status.ssid, status.channel, status.freq) == \
        ("ENABLED", "02:00:00:aa:00:00", "hm6lab", 1, 2412)
    assert status.stations == [STA]  # the authenticated-only client is not associated
    assert status.raw["iwinfo"]["mode"] == "Master"


def test_openwrt_disabled_radio_is_not_asked_for_iwinfo() -> None:
    ap, driver = openwrt({WIRELESS: "network_wireless_status_disabled.json"})
    status = ap.status()
    assert (status.state, status.bssid, status.stations) == ("DISABLED", None, []) and driver.sent == [WIRELESS]


def test_openwrt_unknown_radio() -> None:
    ap, _ = openwrt({WIRELESS: "network_wireless_status.json"}, radio="radio7")
    with pytest.raises(WifiError, match=r"no radio 'radio7' in network.wireless status \(radios: radio0, radio1\)"):
        ap.status()


def test_openwrt_second_radio_uses_its_hostapd_object() -> None:
    ap, driver = openwrt({"ubus call hostapd.wlan1 get_clients": "hostapd_get_clients.json"}, radio="radio1", iface="wlan1")
    assert ap.stations() == [STA]


def test_openwrt_deauthenticate_disable_enable_commands() -> None:
    deauth = """ubus call hostapd.wlan0 del_client '{"addr":"02:00:00:00:02:00","reason":5,"deauth":true}'"""
    off = "uci set wireless.radio0.disabled=1 && uci commit wireless && wifi reload"
    on = "uci set wireless.radio0.disabled=0 && uci commit wireless && wifi reload"
    ap, driver = openwrt({deauth: Reply(0, ""), off: Reply(0, ""), on: Reply(0, "")})
    ap.deauthenticate(STA.upper())
    ap.disable()
    ap.enable()
    assert driver.sent == [deauth, off, on]


def test_openwrt_ubus_errors() -> None:
    # ubus's cli.c: "Command failed: <ubus_strerror>" on stderr, exit status = ubus status (4: not found)
    ap, _ = openwrt({CLIENTS: Reply(4, "", "Command failed: Not found\n")})
    with pytest.raises(WifiError, match="ubus call hostapd.wlan0 get_clients: .* exited 4: Command failed: Not found"):
        ap.stations()
    ap, _ = openwrt({CLIENTS: Reply(0, "not json")})
    with pytest.raises(WifiError, match="did not reply JSON"):
        ap.stations()
    off = "uci set wireless.radio0.disabled=1 && uci commit wireless && wifi reload"
    ap, _ = openwrt({off: Reply(1, "", "uci: Entry not found\n")})
    with pytest.raises(WifiError, match="disable radio0: .*uci: Entry not found"):
        ap.disable()


def test_recorded_commands_match_the_drivers() -> None:
    """The hostapd_cli command lines in the recording are the ones HostapdAP sends."""
    for name in ("hostapd_cli_status", "hostapd_cli_all_sta", "hostapd_cli_enable"):
        command, reply = recorded(name)
        assert command.startswith("hostapd_cli -p /run/hostapd -i wlan0 ") and reply.exit_status == 0
