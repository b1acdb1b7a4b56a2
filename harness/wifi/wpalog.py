"""Parse a wpa_supplicant log written with ``-t`` (``-f FILE``) into events, roams and disconnections.

Each line of such a log starts with the station's own clock, ``1700000000.123456: ``.  All timing
here comes from those timestamps, never from the host that reads the log, so a roam measured over
a slow management link (SSH, serial console) is still measured to the microsecond.

The default debug level (no ``-d``) is enough: the lines used here are logged at INFO level::

    wlan0: SME: Trying to authenticate with 02:00:00:00:01:00 (SSID='lab' freq=2437 MHz)
    wlan0: Trying to associate with 02:00:00:00:01:00 (SSID='lab' freq=2437 MHz)
    wlan0: CTRL-EVENT-CONNECTED - Connection to 02:00:00:00:01:00 completed [id=0 id_str=]
    wlan0: CTRL-EVENT-DISCONNECTED bssid=02:00:00:00:01:00 reason=3 locally_generated=1
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

__all__ = ["Disconnection", "Roam", "WpaEvent", "disconnections", "parse", "roams"]

_LINE = re.compile(r"^(\d+\.\d+): (.*)$")
_IFACE = re.compile(r"^([A-Za-z0-9_.@-]+): ")
_MAC = r"([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})"
_SME = re.compile(r"SME: Trying to authenticate with " + _MAC)
_ASSOC = re.compile(r"(?<!SME: )Trying to associate with " + _MAC)
_CONNECTED = re.compile(r"CTRL-EVENT-CONNECTED - Connection to " + _MAC + " completed")
_DISCONNECTED = re.compile(r"CTRL-EVENT-DISCONNECTED bssid=" + _MAC + r"(?: reason=(\d+))?(.*)")
_RESET = ("Successfully initialized wpa_supplicant", "CTRL-EVENT-TERMINATING")


@dataclasses.dataclass(frozen=True)
class WpaEvent:
    """One log line: the station's clock (seconds since the epoch) and the text after ``TIME: ``."""

    time: float
    text: str

    @property
    def interface(self) -> str | None:
        """The line's leading ``NAME: `` (the interface for per-interface messages such as
        ``wlan0: CTRL-EVENT-...``; a module name such as ``nl80211`` for some debug lines), or None."""
        m = _IFACE.match(self.text)
        return m.group(1) if m else None


@dataclasses.dataclass(frozen=True)
class Roam:
    """One (re)association: from the first frame sent to the target BSS to CTRL-EVENT-CONNECTED.

    ``kind`` is ``"roam"`` (connected to another BSS when the attempt started), ``"connect"`` (first
    association since wpa_supplicant started), ``"reconnect"`` (after a CTRL-EVENT-DISCONNECTED) or
    ``"reassociate"`` (to the BSS it was already connected to, without a disconnection).
    ``previous`` is the BSS connected before (for a reconnect: the one the station lost).
    """

    bssid: str
    started: float
    connected: float
    kind: str
    previous: str | None = None

    @property
    def duration_ms(self) -> float:
        return (self.connected - self.started) * 1000.0


@dataclasses.dataclass(frozen=True)
class Disconnection:
    """A CTRL-EVENT-DISCONNECTED line: when, from which BSS, the 802.11 reason code, who decided."""

    time: float
    bssid: str
    reason: int | None
    locally_generated: bool


def parse(text: str) -> list[WpaEvent]:
    """Events of a ``-t`` log, in file order.  Lines without a timestamp (a line cut by ``tail -c``,
    an unterminated last line being written) are skipped."""
    events = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            events.append(WpaEvent(float(m.group(1)), m.group(2)))
    return events


def _for(events: Iterable[WpaEvent], interface: str | None) -> Iterable[WpaEvent]:
    for ev in events:
        if interface is None or ev.interface in (interface, None):
            yield ev


def roams(events: Iterable[WpaEvent], interface: str | None = None) -> list[Roam]:
    """Every completed (re)association in ``events`` (only ``interface``'s lines when given).

    A roam starts at ``SME: Trying to authenticate with BSSID`` (or ``Trying to associate with
    BSSID`` when the driver does its own SME and there is no such line) and ends at the following
    ``CTRL-EVENT-CONNECTED - Connection to BSSID completed``.  When several attempts were made to the
    same BSS, the last one counts; attempts that never completed produce nothing.  The kind is
    decided by the state when the attempt started (see :class:`Roam`).
    """
    found: list[Roam] = []
    connected_to: str | None = None
    lost: str | None = None  # BSS of the last disconnection since start-up
    pending: dict[str, tuple[float, str, str | None]] = {}  # bssid -> (started, kind, previous)

    def kind_now(bssid: str) -> tuple[str, str | None]:
        if connected_to is not None:
            return ("roam" if connected_to != bssid else "reassociate"), connected_to
        if lost is not None:
            return "reconnect", lost
        return "connect", None

    for ev in _for(events, interface):
        text = ev.text
        if any(marker in text for marker in _RESET):
            connected_to, lost = None, None
            pending.clear()
            continue
        m = _SME.search(text)
        if m:
            bssid = m.group(1).lower()
            pending[bssid] = (ev.time, *kind_now(bssid))
            continue
        m = _ASSOC.search(text)
        if m:
            bssid = m.group(1).lower()
            if bssid not in pending:  # no SME line: the driver authenticates by itself
                pending[bssid] = (ev.time, *kind_now(bssid))
            continue
        m = _CONNECTED.search(text)
        if m:
            bssid = m.group(1).lower()
            if bssid in pending:
                started, kind, previous = pending[bssid]
                found.append(Roam(bssid, started, ev.time, kind, previous))
            pending.clear()
            connected_to = bssid
            continue
        m = _DISCONNECTED.search(text)
        if m:
            lost = m.group(1).lower()
            connected_to = None
    return found


def disconnections(events: Iterable[WpaEvent], interface: str | None = None) -> list[Disconnection]:
    """Every CTRL-EVENT-DISCONNECTED in ``events`` (only ``interface``'s lines when given)."""
    found = []
    for ev in _for(events, interface):
        m = _DISCONNECTED.search(ev.text)
        if m:
            reason = int(m.group(2)) if m.group(2) else None
            found.append(Disconnection(ev.time, m.group(1).lower(), reason, "locally_generated=1" in m.group(3)))
    return found
