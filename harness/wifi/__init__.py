"""Wi-Fi lab devices driven over the command seam: stations, access points, power ports, and the
wpa_supplicant ``-t`` log parser that times roams with the station's own clock.

Every class takes a :class:`harness.drivers.base.CommandDriver` (SSH, serial, local in a network
namespace), except the power ports, which run commands on the tester host.  Failures raise
:class:`WifiError` (a :class:`harness.errors.DriverError`) or :class:`PowerError` (an
:class:`harness.errors.InfrastructureError`): an ERROR verdict, never a FAIL.
"""

from __future__ import annotations

from .ap import AccessPoint, ApStatus, HostapdAP, OpenWrtAP
from .errors import PowerError, WifiError, WifiTimeoutError
from .power import CommandPower, NoPower, PowerPort
from .station import IwStation, ScanEntry, SignalInfo, Station, StationStatus, WpaCliStation
from .wpalog import Disconnection, Roam, WpaEvent, disconnections, roams

__all__ = [
    "AccessPoint", "ApStatus", "CommandPower", "Disconnection", "HostapdAP", "IwStation", "NoPower",
    "OpenWrtAP", "PowerError", "PowerPort", "Roam", "ScanEntry", "SignalInfo", "Station", "StationStatus",
    "WifiError", "WifiTimeoutError", "WpaCliStation", "WpaEvent", "disconnections", "roams",
]
