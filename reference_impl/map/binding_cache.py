"""The MAP's binding cache: RCoA -> LCoA with lifetime and sequence number (RFC 6275 §9.1, §10.3.1).

Also keeps de-registered entries as *tombstones* for MAX_DELETE_BCE_TIMEOUT (RFC 6275 §10.3.2) so that a delayed
older BU is answered with status 135 instead of re-creating the binding.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Binding", "BindingCache", "Tombstone", "seq_newer"]


def seq_newer(new: int, last: int) -> bool:
    """RFC 6275 §9.5.1: ``new`` is greater than ``last`` modulo 2**16 (``last`` and the 32768 values before it
    count as "less than or equal")."""
    return 0 < ((new - last) & 0xFFFF) < 0x8000


@dataclass(slots=True)
class Binding:
    rcoa: bytes
    lcoa: bytes  # the care-of address: Alternate CoA option if present, else the BU's source
    seq: int
    lifetime: int  # granted, seconds (a multiple of 4)
    expires: float
    created: float
    refreshed: float
    bu_source: bytes  # where BAs go (RFC 6275 §9.5.4)
    h_flag: bool
    optimistic: bool = False  # DAD still running after an optimistic accept
    sa: str | None = None  # the SA pair that installed it (base §12.1); None without IPsec


@dataclass(slots=True)
class Tombstone:
    seq: int
    until: float


class BindingCache:
    __slots__ = ("bindings", "tombstones")

    def __init__(self) -> None:
        self.bindings: dict[bytes, Binding] = {}
        self.tombstones: dict[bytes, Tombstone] = {}

    def __len__(self) -> int:
        return len(self.bindings)

    def get(self, rcoa: bytes) -> Binding | None:
        return self.bindings.get(rcoa)

    def last_seq(self, rcoa: bytes) -> int | None:
        """Sequence number of the last accepted BU for ``rcoa`` (live entry or tombstone), None if unknown."""
        binding = self.bindings.get(rcoa)
        if binding is not None:
            return binding.seq
        tomb = self.tombstones.get(rcoa)
        return None if tomb is None else tomb.seq

    def add(self, binding: Binding) -> None:
        self.tombstones.pop(binding.rcoa, None)
        self.bindings[binding.rcoa] = binding

    def remove(self, rcoa: bytes, tombstone_until: float | None = None) -> Binding | None:
        binding = self.bindings.pop(rcoa, None)
        if binding is not None and tombstone_until is not None:
            self.tombstones[rcoa] = Tombstone(binding.seq, tombstone_until)
        return binding
