"""Access router: sans-I/O core (:class:`ArCore`) advertising MAP options, with dynamic discovery and MAP
failure detection."""

from __future__ import annotations

from .config import ArConfig, ArInterface, FailureDetection
from .core import ArCore
from .failure import MapProber, ProbeState
from .map_table import Learned, MapTable

__all__ = ["ArConfig", "ArCore", "ArInterface", "FailureDetection", "Learned", "MapProber", "MapTable",
           "ProbeState"]
