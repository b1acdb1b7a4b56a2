"""Correspondent node with route optimisation (RFC 6275 §5.2, §9): sans-I/O core (:class:`CnCore`), its
configuration, nonce table, and the return routability primitives (:mod:`.rr`) the mobile node shares."""

from __future__ import annotations

from . import rr
from .config import CnConfig
from .core import CnCore
from .nonces import Nonce, NonceTable

__all__ = ["CnConfig", "CnCore", "Nonce", "NonceTable", "rr"]
