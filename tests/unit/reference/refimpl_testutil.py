"""Shared helpers for the reference-implementation unit tests (independent of the code under test)."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

from hypothesis import HealthCheck, settings

# Hypothesis settings used by every property test here: no example database on disk, no per-example deadline
# (scapy is slow), bounded example counts so the whole directory stays fast.
PROPERTY = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FUZZ = settings(max_examples=600, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def ones_complement_checksum(data: bytes) -> int:
    """RFC 1071, written out plainly: 16-bit big-endian words, end-around carry, complement."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def pseudo_header(src: bytes, dst: bytes, length: int, next_header: int) -> bytes:
    """RFC 8200 §8.1 pseudo-header: source, destination, 32-bit length, 3 zero octets, next header."""
    return src + dst + length.to_bytes(4, "big") + b"\x00\x00\x00" + bytes([next_header])


def write_pcap(path: Path, frames: list[bytes]) -> None:
    """Classic libpcap file, linktype 1 (Ethernet), microsecond timestamps."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", i, 0, len(frame), len(frame)))
            f.write(frame)


TSHARK = shutil.which("tshark")


def tshark_fields(pcap: Path, options: list[str] = ()) -> list[list[tuple[str, str]]]:
    """Run ``tshark -r F -T json`` (with extra ``options``, e.g. ESP SAs); per frame, every (field, value) pair in
    document order.

    tshark repeats keys inside one JSON object (one ``icmpv6.opt`` per option), so pairs are collected with
    ``object_pairs_hook`` instead of building dicts.
    """
    out = subprocess.run([TSHARK, "-r", str(pcap), *options, "-T", "json"], check=True, capture_output=True,
                         timeout=120)

    def hook(pairs):
        return ("obj", pairs)

    packets = json.loads(out.stdout, object_pairs_hook=hook)
    result = []
    for pkt in packets:
        flat: list[tuple[str, str]] = []

        def walk(node):
            if isinstance(node, tuple) and node[0] == "obj":
                for key, value in node[1]:
                    if isinstance(value, (tuple, list)):
                        walk(value)
                    else:
                        flat.append((key, value))
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(pkt)
        result.append(flat)
    return result


def field(pairs: list[tuple[str, str]], name: str) -> list[str]:
    """All values of one tshark field in a frame."""
    return [v for k, v in pairs if k == name]
