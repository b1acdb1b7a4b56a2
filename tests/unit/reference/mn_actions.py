"""Reading a mobile node core's actions in unit tests: its sends, log events, and the BUs inside tunnels."""

from __future__ import annotations

from reference_impl import wire as w
from reference_impl.actions import Log, Send


def sends(actions) -> list[Send]:
    return [a for a in actions if isinstance(a, Send)]


def logs(actions, event: str) -> list[Log]:
    return [a for a in actions if isinstance(a, Log) and a.event == event]


def layers(packet: w.Packet) -> list[w.Packet]:
    """Outer header first, innermost packet last."""
    out = [packet]
    while isinstance(out[-1].payload, w.Packet):
        out.append(out[-1].payload)
    return out


def bus(actions, kind: str | None = None) -> list[Send]:
    """Sends carrying a BU (innermost), optionally only local (M) / home (H) / correspondent ones."""
    found = []
    for s in sends(actions):
        bu = layers(s.packet)[-1].payload
        if isinstance(bu, w.BindingUpdate):
            k = "map" if bu.m else "ha" if bu.h else "cn"
            if kind is None or k == kind:
                found.append(s)
    return found
