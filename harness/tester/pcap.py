"""Minimal pcap (libpcap classic, nanosecond) writer and reader for evidence files."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

MAGIC_NS = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
_HDR = struct.Struct("<IHHiIII")
_REC = struct.Struct("<IIII")


def write(path: str | Path, frames: Iterable[tuple[float, bytes]], snaplen: int = 262144) -> int:
    """Write (timestamp, frame) pairs; return how many were written."""
    n = 0
    with open(path, "wb") as f:
        f.write(_HDR.pack(MAGIC_NS, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET))
        for ts, data in frames:
            sec = int(ts)
            nsec = int(round((ts - sec) * 1e9))
            if nsec >= 1_000_000_000:
                sec, nsec = sec + 1, nsec - 1_000_000_000
            f.write(_REC.pack(sec, nsec, len(data), len(data)))
            f.write(data)
            n += 1
    return n


def read(path: str | Path) -> Iterator[tuple[float, bytes]]:
    """Yield (timestamp, frame) from a pcap written by :func:`write` (or any LE pcap)."""
    with open(path, "rb") as f:
        magic, _, _, _, _, _, linktype = _HDR.unpack(f.read(_HDR.size))
        if magic not in (MAGIC_NS, 0xA1B2C3D4):
            raise ValueError(f"{path}: not a little-endian pcap file (magic {magic:#x})")
        scale = 1e-9 if magic == MAGIC_NS else 1e-6
        while header := f.read(_REC.size):
            sec, frac, caplen, _ = _REC.unpack(header)
            yield sec + frac * scale, f.read(caplen)
