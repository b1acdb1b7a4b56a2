"""Mobility Anchor Point: sans-I/O core (:class:`MapCore`), its configuration and the BU admission policy."""

from __future__ import annotations

from .binding_cache import Binding, BindingCache, Tombstone, seq_newer
from .config import INFINITE, MapConfig, Prefix
from .core import MapCore
from .policy import LocalBU, default_policy

__all__ = [
    "INFINITE", "Binding", "BindingCache", "LocalBU", "MapConfig", "MapCore", "Prefix", "Tombstone",
    "default_policy", "seq_newer",
]
