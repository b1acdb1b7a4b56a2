"""Wi-Fi attach: a roam figure is reported only for a roam the station logged during this attach or failure."""

from __future__ import annotations

import pytest

from harness.testbed import load, wifi
from harness.wifi.station import StationStatus
from harness.wifi.wpalog import Roam

AP1, AP2 = "02:00:00:00:01:00", "02:00:00:00:02:00"


class FakeStation:
    """A station whose log already holds an old association with AP1 (t=100) and which roams at t=200."""

    def __init__(self, bssid: str) -> None:
        self.bssid, self.asked = bssid, []
        self.logged = [Roam(AP1, 100.0, 100.05, "connect")]

    def status(self) -> StationStatus:
        return StationStatus("COMPLETED", self.bssid)

    def log_mark(self) -> float:
        return max(r.connected for r in self.logged)

    def roam(self, bssid: str) -> None:
        self.asked.append(bssid)
        self.logged.append(Roam(bssid, 200.0, 200.25, "roam", self.bssid))
        self.bssid = bssid

    def wait_connected(self, bssid=None, timeout=0):
        return self.status()

    def roams(self, since=None):
        return [r for r in self.logged if since is None or r.started > since]


class Backend:
    def __init__(self) -> None:
        self.spec = load("testbeds/wifi-vm.yaml")

    def driver(self, node: str):
        return None


@pytest.fixture
def station(monkeypatch):
    holder = {}
    monkeypatch.setattr(wifi, "station_of", lambda node, driver: holder["st"])
    return holder


def test_already_associated_attach_reports_no_roam(station) -> None:
    station["st"] = st = FakeStation(AP1)
    result = wifi.roam_attach(Backend(), "mn", "ar1")
    assert st.asked == [] and result.link == "acc1"
    assert result.roam is None, "the old association in the log is not this attach's roam"


def test_roam_reports_the_roam_logged_during_this_attach(station) -> None:
    station["st"] = st = FakeStation(AP1)
    backend = Backend()
    result = wifi.roam_attach(backend, "mn", "ar2")
    assert st.asked == [AP2] and result.link == "acc2" and "mn" in backend.spec.links["acc2"].members
    assert result.roam["bssid"] == AP2 and result.roam["duration_ms"] == pytest.approx(250.0)


def test_reassociation_reports_only_what_came_after_the_mark(station) -> None:
    station["st"] = st = FakeStation(AP2)  # already on AP2 when asked; its roam there predates the failure
    st.logged.append(Roam(AP2, 150.0, 150.1, "roam", AP1))
    result = wifi.wait_reassociated(Backend(), "mn", AP1, since=160.0)
    assert result.link == "acc2" and result.roam is None
    st.logged.append(Roam(AP2, 170.0, 170.12, "reconnect", AP1))
    result = wifi.wait_reassociated(Backend(), "mn", AP1, since=160.0)
    assert result.roam["kind"] == "reconnect" and result.roam["duration_ms"] == pytest.approx(120.0)
