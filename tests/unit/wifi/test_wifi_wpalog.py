"""wpa_supplicant -t log parsing, on logs recorded in the QEMU guest (tests/data/wifi/record.sh).

wpa.log: connect, three `wpa_cli roam`s, AP deauthenticate, AP disable (wpa_supplicant first tries
the disabled BSS, gives up, joins the other one), wpa_cli disconnect + reassociate, hostapd killed,
wpa_supplicant terminated.  wpa_first_run.log: the same scenario from an earlier version of
record.sh (fewer iw/hostapd_cli steps in between), kept for the extra sequences it has.
"""

from __future__ import annotations

import pytest

from harness.wifi import wpalog
from tests.unit.wifi.recorded import AP1, AP2, DATA

LOG = (DATA / "wpa.log").read_text()
FIRST = (DATA / "wpa_first_run.log").read_text()


def test_parse_keeps_every_timestamped_line_with_the_station_clock() -> None:
    events = wpalog.parse(LOG)
    assert len(events) == len(LOG.splitlines())
    assert events[0] == wpalog.WpaEvent(1795735498.990783, "Successfully initialized wpa_supplicant")
    assert events[2].interface == "wlan2"
    assert events[0].interface is None
    assert [e.time for e in events] == sorted(e.time for e in events)


def test_roams_of_the_recorded_run() -> None:
    found = wpalog.roams(wpalog.parse(LOG), "wlan2")
    assert [(r.kind, r.bssid, r.previous) for r in found] == [
        ("connect", AP1, None),
        ("roam", AP2, AP1), ("roam", AP1, AP2), ("roam", AP2, AP1),   # wpa_cli roam x3
        ("reconnect", AP1, AP2),                                       # hostapd_cli deauthenticate
        ("reconnect", AP2, AP1),                                       # hostapd_cli disable
        ("reconnect", AP2, AP2),                                       # wpa_cli disconnect + reassociate
        ("reconnect", AP1, AP2),                                       # hostapd killed
    ]
    # timing from the log's own clock: SME line -> CTRL-EVENT-CONNECTED
    assert found[1].started == 1795735536.880287 and found[1].connected == 1795735536.940839
    assert found[1].duration_ms == pytest.approx(60.552, abs=1e-3)
    assert [round(r.duration_ms, 1) for r in found[1:4]] == [60.6, 73.4, 76.5]
    # after the disable: 552.034304 tried the disabled AP1 (never completed), 552.639183 AP2
    assert (found[5].started, found[5].connected) == (1795735552.639183, 1795735552.657639)
    assert all(0 < r.duration_ms < 5000 for r in found)


def test_an_abandoned_attempt_does_not_start_the_roam_that_completes() -> None:
    found = wpalog.roams(wpalog.parse(FIRST), "wlan2")
    after_disable = [r for r in found if r.started > 1795734763.4][0]
    # 771.622548: tried the disabled AP1 (never completed); 772.238542: AP2, connected 772.256798
    assert (after_disable.bssid, after_disable.kind, after_disable.started) == (AP2, "reconnect", 1795734772.238542)
    assert after_disable.duration_ms == pytest.approx(18.256, abs=1e-3)
    assert len(found) == 8 and not any(r.bssid == AP1 and r.started == 1795734771.622548 for r in found)


def test_association_line_starts_the_roam_when_there_is_no_sme_line() -> None:
    no_sme = "\n".join(line for line in LOG.splitlines() if "SME: Trying to authenticate" not in line)
    found = wpalog.roams(wpalog.parse(no_sme), "wlan2")
    assert len(found) == 8
    assert found[1].started == 1795735536.925374  # "Trying to associate with" line
    assert found[1].kind == "roam"


def test_the_last_attempt_to_the_same_bss_counts() -> None:
    lines = LOG.splitlines()
    i = [n for n, line in enumerate(lines) if "SME: Trying to authenticate" in line][1]  # the first wpa_cli roam
    stamp, text = lines[i].split(": ", 1)
    earlier = f"{float(stamp) - 0.5:.6f}: {text}"  # an earlier attempt to the same BSS that got nowhere
    found = wpalog.roams(wpalog.parse("\n".join(lines[:i] + [earlier] + lines[i:])), "wlan2")
    assert found[1].started == float(stamp)


def test_an_attempt_is_forgotten_once_connected() -> None:
    # drop the SME line of the last reconnection: its start is then its association line, not the
    # attempt to the same BSS abandoned 12 s before (771.622548)
    lines = [line for line in FIRST.splitlines() if not line.startswith("1795734783.608344")]
    last = wpalog.roams(wpalog.parse("\n".join(lines)), "wlan2")[-1]
    assert (last.bssid, last.started, last.kind) == (AP1, 1795734783.619749, "reconnect")


def test_same_bss_without_disconnection_is_a_reassociation() -> None:
    # the disconnect/reassociate sequence with its CTRL-EVENT-DISCONNECTED removed
    lines = [line for line in FIRST.splitlines() if not line.startswith("1795734773.885416")]
    found = wpalog.roams(wpalog.parse("\n".join(lines)), "wlan2")
    assert [r.kind for r in found if r.started == 1795734774.447842] == ["reassociate"]


def test_a_restart_makes_the_next_association_a_first_connect() -> None:
    found = wpalog.roams(wpalog.parse(LOG + FIRST), "wlan2")
    assert [r.kind for r in found].count("connect") == 2
    assert found[8].kind == "connect" and found[8].started == 1795734753.651846


def test_interface_filter_and_unfiltered_agree_on_a_single_interface_log() -> None:
    events = wpalog.parse(LOG)
    assert wpalog.roams(events) == wpalog.roams(events, "wlan2")
    assert wpalog.roams(events, "wlan0") == []


def test_disconnections() -> None:
    found = wpalog.disconnections(wpalog.parse(LOG), "wlan2")
    assert [(d.bssid, d.reason, d.locally_generated) for d in found] == [
        (AP2, 2, False), (AP1, 3, False), (AP2, 3, True), (AP2, 3, False), (AP1, 3, True)]
    assert found[0].time == 1795735542.087165


def test_lines_without_timestamp_are_skipped() -> None:
    assert wpalog.parse("garbage\nwlan0: no time\n") == []
    untimed = "\n".join(line.split(": ", 1)[1] for line in LOG.splitlines())
    assert wpalog.parse(untimed) == []
