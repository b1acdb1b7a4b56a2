"""Home agent (RFC 6275 §10): sans-I/O core (:class:`HaCore`) and its configuration.  HMIPv6 needs nothing special
from it (base document §6.3): the mobile node registers its RCoA as care-of address."""

from __future__ import annotations

from .config import HaConfig
from .core import HaCore, HomeBU, default_policy

__all__ = ["HaConfig", "HaCore", "HomeBU", "default_policy"]
