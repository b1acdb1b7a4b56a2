"""WpaCliStation and IwStation on outputs recorded in the QEMU guest (tests/data/wifi/record.sh).

The recorded station was wlan2 (wpa_supplicant, ctrl_interface /run/wpa_supplicant) and wlan3 (iw
only).  RecordedDriver answers only the exact command lines the recording ran.  Reading the log
goes through a real LocalDriver (real ``cat``/``tail`` on the recorded log).
"""

from __future__ import annotations

import pytest

from harness.drivers.local import LocalDriver
from harness.errors import DriverError, InfrastructureError
from harness.wifi import IwStation, ScanEntry, WifiError, WifiTimeoutError, WpaCliStation
from tests.unit.wifi.recorded import AP1, AP2, DATA, IWSTA, STA, RecordedDriver, Reply, recorded, with_clock

CTRL = "/run/wpa_supplicant"


def wpa(*names: str) -> tuple[WpaCliStation, RecordedDriver]:
    driver = RecordedDriver("mn", *names)
    return WpaCliStation(driver, "wlan2", ctrl_dir=CTRL), driver


def iw(*names: str, extra: dict | None = None) -> tuple[IwStation, RecordedDriver]:
    driver = RecordedDriver("mn", *names, extra=extra)
    return IwStation(driver, "wlan3"), driver


# -- wpa_cli -------------------------------------------------------------------------------------

def test_wpa_status_connected() -> None:
    station, driver = wpa("wpa_cli_status_completed")
    status = station.status()
    assert driver.sent == ["wpa_cli -p /run/wpa_supplicant -i wlan2 status"]
    assert status.connected and status.state == "COMPLETED"
    assert (status.bssid, status.ssid, status.freq, status.address) == (AP1, "hm6lab", 2412, STA)
    assert status.raw["key_mgmt"] == "NONE"


def test_wpa_status_scanning() -> None:
    status = wpa("wpa_cli_status_early")[0].status()
    assert (status.state, status.connected, status.bssid, status.address) == ("SCANNING", False, None, STA)


def test_wpa_scan_triggers_then_polls_results() -> None:
    station, driver = wpa("wpa_cli_scan", "wpa_cli_scan_results")
    with_clock(station)
    entries = station.scan(timeout=5, want=[AP1, AP2.upper()])
    assert driver.sent == ["wpa_cli -p /run/wpa_supplicant -i wlan2 scan",
                           "wpa_cli -p /run/wpa_supplicant -i wlan2 scan_results"]
    assert entries == [ScanEntry(AP1, 2412, -30.0, "hm6lab", "[ESS]"), ScanEntry(AP2, 2437, -30.0, "hm6lab", "[ESS]")]


def test_wpa_scan_accepts_a_scan_already_running() -> None:
    station, _ = wpa("wpa_cli_scan_again", "wpa_cli_scan_results")  # FAIL-BUSY
    assert len(station.scan(timeout=1)) == 2


def test_wpa_scan_waits_with_short_polls_until_the_deadline() -> None:
    station, driver = wpa("wpa_cli_scan", "wpa_cli_scan_results")
    clock = with_clock(station)
    with pytest.raises(WifiTimeoutError) as err:
        station.scan(timeout=3, want=[AP1, "02:00:00:00:99:00"])
    assert "02:00:00:00:99:00" in str(err.value) and "within 3 s" in str(err.value) and str(err.value).startswith("mn: ")
    assert max(clock.sleeps) <= station.poll_interval and sum(clock.sleeps) == pytest.approx(3)
    assert driver.sent.count("wpa_cli -p /run/wpa_supplicant -i wlan2 scan_results") > 10


def test_wpa_roam_ok_and_refused() -> None:
    station, driver = wpa("wpa_cli_roam", "wpa_cli_roam_unknown")
    station.roam(AP2.upper())
    assert driver.sent[-1] == f"wpa_cli -p /run/wpa_supplicant -i wlan2 roam {AP2}"
    with pytest.raises(WifiError, match="replied 'FAIL'"):
        station.roam("02:00:00:00:99:00")


def test_wpa_roam_rejects_a_non_mac_before_sending_anything() -> None:
    station, driver = wpa("wpa_cli_roam")
    with pytest.raises(WifiError, match="not a MAC"):
        station.roam("02:00:00:00:01:00; reboot")
    assert driver.sent == []


def test_wpa_reassociate_disconnect() -> None:
    station, driver = wpa("wpa_cli_reassociate", "wpa_cli_disconnect")
    station.reassociate()
    station.disconnect()
    assert [c.split()[-1] for c in driver.sent] == ["reassociate", "disconnect"]


def test_wpa_refusal_of_a_plain_ok_command_raises() -> None:
    command, reply = recorded("wpa_cli_disconnect")
    driver = RecordedDriver("mn", extra={command: [Reply(0, "FAIL\n")]})
    with pytest.raises(WifiError, match="disconnect replied 'FAIL'"):
        WpaCliStation(driver, "wlan2", ctrl_dir=CTRL).disconnect()


def test_wpa_signal() -> None:
    info = wpa("wpa_cli_signal_poll")[0].signal()
    assert (info.rssi_dbm, info.link_speed, info.freq, info.noise_dbm) == (-30, 36.0, 2412, -92)
    assert info.raw["WIDTH"] == "20 MHz (no HT)"


def test_wpa_signal_when_disconnected() -> None:
    with pytest.raises(WifiError, match="signal_poll replied 'FAIL'"):
        wpa("wpa_cli_signal_poll_disconnected")[0].signal()


def test_wpa_missing_control_socket() -> None:
    driver = RecordedDriver("mn", "wpa_cli_no_such_iface")
    with pytest.raises(WifiError) as err:
        WpaCliStation(driver, "wlan9", ctrl_dir=CTRL).status()
    assert isinstance(err.value, DriverError) and isinstance(err.value, InfrastructureError)
    assert err.value.node == "mn"
    assert "exited 255" in str(err.value) and "Failed to connect to non-global ctrl_ifname: wlan9" in str(err.value)


def test_wpa_supplicant_that_does_not_answer() -> None:
    # wpa_supplicant SIGSTOPped: wpa_cli waited its own 10 s, printed this and exited 254
    assert float((DATA / "wpa_cli_stopped.seconds").read_text()) < station_timeout()
    with pytest.raises(WifiError, match="wpa_cli status: .* exited 254: 'STATUS' command timed out."):
        wpa("wpa_cli_stopped")[0].status()


def station_timeout() -> float:
    return WpaCliStation(RecordedDriver(), "wlan2").command_timeout


def test_wait_connected_polls_until_completed() -> None:
    station, driver = wpa("wpa_cli_status_early", "wpa_cli_status_early", "wpa_cli_status_completed")
    clock = with_clock(station)
    status = station.wait_connected(timeout=10)
    assert status.bssid == AP1 and len(driver.sent) == 3 and clock.sleeps == [0.2, 0.2]


def test_wait_connected_to_a_bssid_after_a_roam() -> None:
    station, _ = wpa("wpa_cli_status_completed", "wpa_cli_status_roamed")
    with_clock(station)
    assert station.wait_connected(AP2, timeout=10).bssid == AP2


def test_wait_connected_timeout_names_node_bssid_and_last_state() -> None:
    station, _ = wpa("wpa_cli_status_completed")
    with_clock(station)
    with pytest.raises(WifiTimeoutError) as err:
        station.wait_connected(AP2, timeout=2)
    message = str(err.value)
    assert message.startswith("mn: wlan2 not connected to " + AP2)
    assert "last state COMPLETED" in message and f"bssid {AP1}" in message


# -- the log, read through a real LocalDriver -----------------------------------------------------

def test_events_and_roams_through_the_driver() -> None:
    station = WpaCliStation(LocalDriver("mn"), "wlan2", log_path=str(DATA / "wpa.log"))
    events = station.events()
    assert len(events) == len((DATA / "wpa.log").read_text().splitlines())
    roams = station.roams()
    assert [r.kind for r in roams] == ["connect", "roam", "roam", "roam"] + ["reconnect"] * 4
    later = station.roams(since=roams[3].started)
    assert [r.started for r in later] == [r.started for r in roams[4:]]
    assert [d.reason for d in station.disconnections(since=1795735550.0)] == [3, 3, 3]
    assert station.log_mark() == events[-1].time
    assert station.wait_event("CTRL-EVENT-DISCONNECTED", since=roams[3].connected).time == 1795735542.087165


def test_events_from_the_tail_of_the_log_drop_the_cut_line() -> None:
    data = (DATA / "wpa.log").read_bytes()
    lines = data.splitlines(keepends=True)
    start = sum(len(line) for line in lines[:-10])  # the 10th line from the end...
    tail = len(data) - (start + 3)                   # ...cut 3 digits into its timestamp
    station = WpaCliStation(LocalDriver("mn"), "wlan2", log_path=str(DATA / "wpa.log"), log_tail_bytes=tail)
    events = station.events()
    assert len(events) == 9
    assert events[0].time == float(lines[-9].split(b": ", 1)[0])


def test_a_tail_longer_than_the_log_keeps_the_first_line() -> None:
    size = (DATA / "wpa.log").stat().st_size
    station = WpaCliStation(LocalDriver("mn"), "wlan2", log_path=str(DATA / "wpa.log"), log_tail_bytes=size + 1)
    events = station.events()
    assert events[0].text == "Successfully initialized wpa_supplicant" and len(events) == 59


def test_events_since() -> None:
    station = WpaCliStation(LocalDriver("mn"), "wlan2", log_path=str(DATA / "wpa.log"))
    assert all(e.time > 1795735560.0 for e in station.events(since=1795735560.0))
    assert len(station.events(since=1795735560.0)) == 14


def test_wait_event_timeout() -> None:
    station = WpaCliStation(LocalDriver("mn"), "wlan2", log_path=str(DATA / "wpa.log"))
    with_clock(station)
    with pytest.raises(WifiTimeoutError, match="no log line containing 'CTRL-EVENT-EAP'"):
        station.wait_event("CTRL-EVENT-EAP", timeout=1)


def test_log_errors(tmp_path) -> None:
    with pytest.raises(WifiError, match="cannot read the wpa_supplicant log .*No such file"):
        WpaCliStation(LocalDriver("mn"), "wlan2", log_path=str(tmp_path / "nope.log")).events()
    untimed = tmp_path / "untimed.log"
    untimed.write_text("\n".join(line.split(": ", 1)[1] for line in (DATA / "wpa.log").read_text().splitlines()))
    with pytest.raises(WifiError, match="no timestamped lines: was wpa_supplicant started with -t"):
        WpaCliStation(LocalDriver("mn"), "wlan2", log_path=str(untimed)).events()
    with pytest.raises(WifiError, match="no event log configured"):
        WpaCliStation(LocalDriver("mn"), "wlan2").roams()


# -- iw ------------------------------------------------------------------------------------------

def test_iw_status_connected_and_not() -> None:
    station, driver = iw("iw_link_connected", "iw_info")
    status = station.status()
    assert driver.sent == ["iw dev wlan3 link", "iw dev wlan3 info"]
    assert (status.state, status.bssid, status.ssid, status.freq, status.address) == ("COMPLETED", AP1, "hm6lab", 2412, IWSTA)
    status = iw("iw_link_not_connected", "iw_info")[0].status()
    assert (status.state, status.connected, status.bssid, status.address) == ("DISCONNECTED", False, None, IWSTA)


def test_iw_scan_parses_bss_blocks() -> None:
    station, driver = iw("iw_scan_busy_or_ok", "iw_scan_dump")
    with_clock(station)
    entries = station.scan(timeout=5, want=[AP1, AP2])
    assert driver.sent == ["iw dev wlan3 scan trigger", "iw dev wlan3 scan dump"]
    assert entries == [ScanEntry(AP1, 2412, -30.0, "hm6lab", "ESS ShortSlotTime (0x0401)"),
                       ScanEntry(AP2, 2437, -30.0, "hm6lab", "ESS ShortSlotTime (0x0401)")]


def test_iw_full_scan_output_parses_the_same() -> None:
    from harness.wifi.station import parse_iw_scan
    full = parse_iw_scan((DATA / "iw_scan.out").read_text())
    assert [(b.entry.bssid, b.entry.freq, b.secured) for b in full] == [(AP1, 2412, False), (AP2, 2437, False)]


def test_iw_scan_on_a_down_interface() -> None:
    with pytest.raises(WifiError, match=r"Network is down \(-100\) \(interface down\)"):
        iw("iw_scan_trigger_down")[0].scan(timeout=1)


def test_iw_scan_trigger_busy_is_a_running_scan() -> None:
    # iw's own error format (as recorded for -100, -114, -19) for -16
    command, _ = recorded("iw_scan_busy_or_ok")
    station, _ = iw("iw_scan_dump", extra={command: [Reply(240, "", "command failed: Device or resource busy (-16)\n")]})
    assert len(station.scan(timeout=1)) == 2


def test_iw_roam_is_disconnect_then_connect() -> None:
    station, driver = iw("iw_scan_dump", "iw_link_connected", "iw_info", "iw_disconnect", "iw_connect_ap2")
    station.roam(AP2)
    assert driver.sent == ["iw dev wlan3 scan dump", "iw dev wlan3 link", "iw dev wlan3 info",
                           "iw dev wlan3 disconnect", f"iw dev wlan3 connect hm6lab 2437 {AP2}"]


def test_iw_roam_when_not_connected_just_connects() -> None:
    station, driver = iw("iw_scan_dump", "iw_link_not_connected", "iw_info", "iw_connect")
    station.roam(AP1)
    assert driver.sent[-1] == f"iw dev wlan3 connect hm6lab 2412 {AP1}" and "iw dev wlan3 disconnect" not in driver.sent


def test_iw_connect_refused_while_connected_is_reported() -> None:
    # iw link said "Not connected." but the kernel still refused: EALREADY, as recorded
    command, reply = recorded("iw_connect_while_connected")
    station, _ = iw("iw_scan_dump", "iw_link_not_connected", "iw_info",
                    extra={f"iw dev wlan3 connect hm6lab 2437 {AP2}": [reply]})
    with pytest.raises(WifiError, match=r"exited 142: command failed: Operation already in progress \(-114\)"):
        station.roam(AP2)


def test_iw_cannot_roam_to_unknown_or_secured_bss() -> None:
    with pytest.raises(WifiError, match="not in iw's scan table; scan first"):
        iw("iw_scan_dump")[0].roam("02:00:00:00:99:00")
    command, reply = recorded("iw_scan_dump")
    rsn = reply.stdout.replace("\tSSID: hm6lab\n", "\tSSID: hm6lab\n\tRSN:\t * Version: 1\n", 1)
    station, _ = iw(extra={command: [Reply(0, rsn)]})
    with pytest.raises(WifiError, match="WPA/RSN, which iw cannot join; use WpaCliStation"):
        station.roam(AP1)


def test_iw_reassociate_needs_a_known_bss() -> None:
    with pytest.raises(WifiError, match="iw cannot reassociate"):
        iw("iw_link_not_connected", "iw_info")[0].reassociate()
    station, driver = iw("iw_link_connected", "iw_info", "iw_scan_dump", "iw_disconnect", "iw_connect")
    station.reassociate()
    assert driver.sent[-2:] == ["iw dev wlan3 disconnect", f"iw dev wlan3 connect hm6lab 2412 {AP1}"]


def test_iw_signal() -> None:
    info = iw("iw_link_connected_ap2")[0].signal()
    assert (info.rssi_dbm, info.link_speed, info.freq) == (-30, 6.0, 2437)
    with pytest.raises(WifiError, match="not connected"):
        iw("iw_link_not_connected")[0].signal()


def test_iw_disconnect_and_missing_device() -> None:
    station, driver = iw("iw_disconnect")
    station.disconnect()
    assert driver.sent == ["iw dev wlan3 disconnect"]
    driver = RecordedDriver("mn", "iw_no_such_dev")
    with pytest.raises(WifiError, match=r"exited 237: command failed: No such device \(-19\)"):
        IwStation(driver, "wlan9").status()


def test_iw_has_no_event_log_of_its_own() -> None:
    with pytest.raises(WifiError, match="no event log configured for this iw station"):
        iw()[0].events()
