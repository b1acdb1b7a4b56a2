"""The Wi-Fi drivers against real hostapd and wpa_supplicant on mac80211_hwsim radios, in a QEMU guest.

Boots Debian's stock kernel (harness.qemu) and runs ``python3 -m harness.wifi.selftest`` there:
three open APs (channels 1, 6, 11) and one station, each in its own network namespace, driven only
through harness.wifi over LocalDriver(netns=...).  The assertions below check what the drivers
reported; roam times come from wpa_supplicant's -t log (the guest's clock).  Evidence
(results.json, wpa.log, hostapd logs, serial log) stays in the test's tmp directory.
"""

from __future__ import annotations

import json
import time

import pytest

from harness.qemu import build_guest, qemu_available, run_batch

pytestmark = [pytest.mark.slow, pytest.mark.qemu]

GUEST_TIMEOUT = 240.0


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dict:
    reason = qemu_available()
    if reason:
        pytest.skip(reason)
    evidence = tmp_path_factory.mktemp("qemu-wifi")
    started = time.monotonic()
    image = build_guest()
    built = time.monotonic() - started
    result = run_batch('"$PYTHON" -m harness.wifi.selftest --out "$HMIPV6_RESULTS"', timeout=GUEST_TIMEOUT,
                       image=image, workdir=evidence / "guest")
    (evidence / "guest" / "results" / "serial.log").write_text(result.serial_log)
    print(f"\nguest kernel {image.abi}: build/cache {built:.1f} s, boot+selftest {result.duration:.1f} s; "
          f"evidence in {evidence / 'guest' / 'results'}")
    path = result.results_dir / "results.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    assert result.rc == 0 and "error" not in data, \
        f"selftest failed in the guest (rc {result.rc}):\n{data.get('error') or result.output[-3000:]}"
    print("durations:", data["durations"])
    print("roams (ms):", [(r["kind"], round(r["duration_ms"], 1)) for r in data["roams"]])
    return data


def test_first_association_and_scan(lab: dict) -> None:
    aps = lab["aps"]
    assert len(set(aps)) == 3 and lab["sta"] not in aps
    assert lab["first"]["bssid"] in aps and lab["first"]["ssid"] == "hm6selftest"
    assert lab["first"]["address"] == lab["sta"]
    seen = {e["bssid"]: e for e in lab["scan"]}
    assert set(aps) <= set(seen)
    assert [seen[b]["freq"] for b in aps] == [2412, 2437, 2462]
    assert all(e["ssid"] == "hm6selftest" and e["signal_dbm"] is not None for e in seen.values())


def test_roam_to_the_other_ap(lab: dict) -> None:
    roam = lab["roam"]
    assert roam["to"] != roam["from"] and roam["to"] in lab["aps"] and roam["status_bssid"] == roam["to"]
    assert [(r["kind"], r["bssid"], r["previous"]) for r in roam["log"]] == [("roam", roam["to"], roam["from"])]
    assert 0 < roam["log"][0]["duration_ms"] < 5000


def test_ap_lists_the_station_and_the_station_measures_the_link(lab: dict) -> None:
    status = lab["ap_status_after_roam"]
    assert status["state"] == "ENABLED" and status["bssid"] == lab["roam"]["to"]
    assert lab["sta"] in status["stations"] and status["ssid"] == "hm6selftest"
    assert (status["channel"], status["freq"]) in ((1, 2412), (6, 2437), (11, 2462))
    assert lab["signal"]["rssi_dbm"] < 0 and lab["signal"]["freq"] == status["freq"]
    # iw on the same interface agrees with wpa_supplicant
    assert lab["iw_status"] == {"state": "COMPLETED", "bssid": lab["roam"]["to"], "freq": status["freq"],
                                "address": lab["sta"]}


def test_disabling_the_ap_sends_the_station_elsewhere(lab: dict) -> None:
    d = lab["disable"]
    assert d["ap"] == lab["roam"]["to"]
    assert d["state_disabled"] == "DISABLED" and d["stations_disabled"] == []
    assert "CTRL-EVENT-DISCONNECTED bssid=" + d["ap"] in d["disconnected"]
    assert d["reconnected_to"] in lab["aps"] and d["reconnected_to"] != d["ap"]
    assert d["log"][-1]["kind"] == "reconnect" and d["log"][-1]["bssid"] == d["reconnected_to"]
    assert d["log"][-1]["previous"] == d["ap"]
    assert d["state_enabled"] == "ENABLED"


def test_deauthentication_and_reconnection(lab: dict) -> None:
    d = lab["deauth"]
    assert d["ap"] == lab["disable"]["reconnected_to"] and lab["sta"] in d["stations_before"]
    assert d["disconnections"][0]["bssid"] == d["ap"] and not d["disconnections"][0]["locally_generated"]
    assert d["reconnected_to"] in lab["aps"]
    assert d["log"][-1]["kind"] == "reconnect" and d["log"][-1]["bssid"] == d["reconnected_to"]


def test_every_roam_time_comes_from_the_log_and_is_plausible(lab: dict) -> None:
    roams = lab["roams"]
    assert [r["kind"] for r in roams][:2] == ["connect", "roam"] and roams[-1]["kind"] == "reconnect"
    assert all(0 < r["duration_ms"] < 5000 for r in roams)
    assert all(r["connected"] > r["started"] > 1e9 for r in roams)  # epoch seconds of the guest clock
