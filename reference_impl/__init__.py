"""Reference implementation of HMIPv6 nodes that devices under test are checked against.

Sub-packages: :mod:`.wire` (codec), :mod:`.map` (Mobility Anchor Point core), :mod:`.ar` (access router core).
The cores are sans-I/O: decoded packets and ``now`` in, actions and the next deadline out.  Nothing here
imports scapy or the harness.
"""

from __future__ import annotations

__all__ = ["ar", "ipsec", "map", "security", "wire"]
