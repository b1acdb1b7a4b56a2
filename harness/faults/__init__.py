"""Faults the harness injects into a testbed (base §10 MAP failures and the network around them).

Public API: :class:`Fault` (apply / remove / context manager, ``applied_at`` / ``removed_at``), the faults in
:data:`KINDS`, :class:`FaultNotSupported` (the node cannot take it: NOT APPLICABLE) and :class:`FaultError`
(infrastructure).  :mod:`harness.programs.delay` is the userspace delay line (this kernel has no netem).
"""

from .library import (
    KINDS, NFT_PREFIX, AccessPointCrash, EchoLoss, Fault, FaultError, FaultNotSupported, LinkFlap, MapAddressChange, MapCrash,
    MapPreference, PacketLoss, Partition, PathDelay, ZeroLifetimeMap,
)

__all__ = ["KINDS", "NFT_PREFIX", "AccessPointCrash", "EchoLoss", "Fault", "FaultError", "FaultNotSupported", "LinkFlap",
           "MapAddressChange", "MapCrash", "MapPreference", "PacketLoss", "Partition", "PathDelay", "ZeroLifetimeMap"]
