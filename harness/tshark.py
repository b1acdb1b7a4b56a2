"""Independent confirmation of judged fields with tshark.

A tshark start costs about 0.3 s, so a test's expectations are grouped per evidence pcap, and the frames of each pcap
are decoded by the session's persistent tshark (:mod:`harness.tshark_stream`, one process per preference list, fed a
pcapng stream) -- or, where that cannot be used, by one ``tshark -r FILE -T json`` run per pcap (:func:`fields_of`).
Field names are tshark's (``mip6.ba.status``, ``icmpv6.opt.map.distance``, ``ipv6.routing.type``…); values are
compared as strings, booleans as 1/0 (tshark 4.0).  With the testbed's IPsec on, tshark gets its ESP SAs
(:func:`esp_options`) and decrypts the Mobility Headers itself, checking the ICVs.
"""

from __future__ import annotations

import dataclasses
import json
import os
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


def mode() -> str:
    """How fields are being confirmed this session (for the evidence record)."""
    return _MODE[0] if STREAMING else "per-file tshark runs (HM6_TSHARK_STREAM=0)"


_MODE = ["persistent tshark"]
# False (or HM6_TSHARK_STREAM=0): one tshark run per pcap, as before the persistent tshark (harness.tshark_stream)
STREAMING = os.environ.get("HM6_TSHARK_STREAM", "1") != "0"


def decode(pcap: Path, frames: list[int], options: list[str] = (), fields: Iterable[str] = ()
           ) -> dict[int, dict[str, list[str]]]:
    """:func:`fields_of`, answered by the session's persistent tshark when it can be (same fields, same values).

    Per-file run instead when streaming is off or could not start this session, when the file is not a classic
    pcap or holds IPv6 fragments, or when an expected field depends on other frames (``tshark_stream.STATEFUL``).
    A persistent tshark that dies, hangs or prints garbage is restarted once; failing again, RuntimeError."""
    from harness import tshark_stream

    if not STREAMING or _MODE[0] != "persistent tshark" or any(f.startswith(tshark_stream.STATEFUL) for f in fields):
        return fields_of(pcap, frames, options)
    stream = tshark_stream.stream_for(options)
    for attempt in (1, 2):
        try:
            return stream.fields_of(pcap, frames)
        except tshark_stream.NotStreamable:
            return fields_of(pcap, frames, options)
        except OSError as exc:  # tshark cannot be started this way at all
            _MODE[0] = f"per-file tshark runs (persistent tshark could not start: {exc})"
            return fields_of(pcap, frames, options)
        except tshark_stream.StreamError as exc:
            if stream.answered == 0:  # it never worked: do without it for the rest of the session
                stream.close()
                _MODE[0] = f"per-file tshark runs (persistent tshark did not work: {exc})"
                return fields_of(pcap, frames, options)
            if attempt == 2:
                raise RuntimeError(f"tshark failed on {pcap}: {exc} (after a restart)") from exc
    raise AssertionError("unreachable")


def confirm(expectations: list[Expectation], options: list[str] = ()) -> list[str]:
    """The disagreements between the tester's reading and tshark's (empty when they agree)."""
    problems = []
    by_pcap: dict[Path, list[Expectation]] = {}
    for e in expectations:
        by_pcap.setdefault(e.pcap, []).append(e)
    for pcap, group in by_pcap.items():
        decoded = decode(pcap, [e.frame for e in group], list(options), [e.field for e in group])
        for e in group:
            values = decoded.get(e.frame, {}).get(e.field)
            if values is None:
                problems.append(f"{e.what}: tshark shows no {e.field} in frame {e.frame} of {pcap.name}")
            elif e.value not in values:
                problems.append(f"{e.what}: tshark reads {e.field}={values} in frame {e.frame} of {pcap.name}, "
                                f"the tester read {e.value}")
    return problems
