"""Independent confirmation of judged fields with tshark, batched: one tshark run per pcap file.

A tshark start costs about 0.3 s, so a test's expectations are grouped per evidence pcap and checked in
one ``tshark -r FILE -T json`` run.  Field names are tshark's (``mip6.ba.status``, ``icmpv6.opt.map.distance``,
``ipv6.routing.type``…); values are compared as strings, booleans as 1/0 (tshark 4.0).  With the testbed's IPsec
on, tshark gets its ESP SAs (:func:`esp_options`) and decrypts the Mobility Headers itself, checking the ICVs.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class Expectation:
    pcap: Path
    frame: int  # 1-based frame number in the pcap
    field: str
    value: str
    what: str = ""  # the check point it confirms


def available() -> bool:
    return shutil.which("tshark") is not None


def _flatten(layers: Any, out: dict[str, list[str]]) -> None:
    if isinstance(layers, dict):
        for key, value in layers.items():
            if isinstance(value, (dict, list)):
                _flatten(value, out)
                if isinstance(value, list) and all(isinstance(v, str) for v in value):
                    out.setdefault(key, []).extend(value)
            else:
                out.setdefault(key, []).append(str(value))
    elif isinstance(layers, list):
        for item in layers:
            _flatten(item, out)


_ENC = {"null": "NULL", "aes-cbc": "AES-CBC [RFC3602]"}
_AUTH = {"hmac-sha1-96": "HMAC-SHA-1-96 [RFC2404]", "hmac-sha256-128": "HMAC-SHA-256-128 [RFC4868]"}


def esp_options(security: Any) -> list[str]:
    """tshark ``-o`` options giving it every ESP SA of a testbed's ``security`` section (keys on tshark's command
    line only, never logged)."""
    if security is None or not security.on:
        return []
    opts = ["-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE"]
    for pair in security.pairs:
        for sa in (pair.to_map, pair.to_mn):
            if sa.protocol != "esp":
                continue
            enc_key = f"0x{sa.enc_key.reveal()}" if sa.enc_key is not None else ""
            opts += ["-o", f'uat:esp_sa:"IPv6","*","*","0x{sa.spi:08x}","{_ENC[sa.encryption]}","{enc_key}",'
                           f'"{_AUTH[sa.auth]}","0x{sa.auth_key.reveal()}"']
    return opts


def fields_of(pcap: Path, frames: Iterable[int], options: list[str] = ()) -> dict[int, dict[str, list[str]]]:
    """Every field tshark decodes in the given frames: {frame number: {field: [values]}}; ``options``: extra
    ``-o`` preferences (:func:`esp_options`)."""
    wanted = sorted(set(frames))
    flt = " || ".join(f"frame.number == {n}" for n in wanted)
    # --no-duplicate-keys: an IPv6-in-IPv6 frame has two "ipv6" layers; keep both (values become lists)
    try:
        proc = subprocess.run(["tshark", "-r", str(pcap), *options, "-T", "json", "--no-duplicate-keys", "-Y", flt],
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"tshark failed on {pcap}: no answer within 60 s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"tshark failed on {pcap}: {proc.stderr.strip()[-300:]}")
    result: dict[int, dict[str, list[str]]] = {}
    for packet in json.loads(proc.stdout or "[]"):
        layers = packet["_source"]["layers"]
        flat: dict[str, list[str]] = {}
        _flatten(layers, flat)
        result[int(flat["frame.number"][0])] = flat
    return result


def confirm(expectations: list[Expectation], options: list[str] = ()) -> list[str]:
    """The disagreements between the tester's reading and tshark's (empty when they agree)."""
    problems = []
    by_pcap: dict[Path, list[Expectation]] = {}
    for e in expectations:
        by_pcap.setdefault(e.pcap, []).append(e)
    for pcap, group in by_pcap.items():
        decoded = fields_of(pcap, (e.frame for e in group), options)
        for e in group:
            values = decoded.get(e.frame, {}).get(e.field)
            if values is None:
                problems.append(f"{e.what}: tshark shows no {e.field} in frame {e.frame} of {pcap.name}")
            elif e.value not in values:
                problems.append(f"{e.what}: tshark reads {e.field}={values} in frame {e.frame} of {pcap.name}, "
                                f"the tester read {e.value}")
    return problems
