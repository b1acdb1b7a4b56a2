"""HMIPv6 mobile node: sans-I/O core (:class:`MnCore`), its configuration, MAP selection (:mod:`.selection`) and the
data plane as pure functions on bytes (:mod:`.dataplane`)."""

from __future__ import annotations

from . import dataplane
from .config import MnConfig
from .core import MnCore
from .dataplane import Paths, incoming, outgoing, upper_layer_mtu
from .selection import form_address, select_maps

__all__ = ["MnConfig", "MnCore", "Paths", "dataplane", "form_address", "incoming", "outgoing", "select_maps",
           "upper_layer_mtu"]
