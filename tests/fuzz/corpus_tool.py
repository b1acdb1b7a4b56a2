"""The malformed-input corpus in ``tests/data/fuzz_corpus``: reading it, and (run as a script) regenerating it.

One file per case, ``NAME.hex``: comment lines, then the IPv6 packet (no Ethernet header) in hex::

    # NAME: what the input is
    # origin: how it was found (and the bug it exposed, if any)
    # expect: decode-error REASON      (DecodeError whose reason contains REASON, checksums verified)
    # expect: decodes TYPE             (decodes; TYPE = class name of the innermost payload)
    6000000000083a40 2001...

``python tests/fuzz/corpus_tool.py`` rewrites the generated part (files whose origin starts with "generated"):
for one packet of every message type, the shortest truncation and the first length lie that produce each distinct
decoder verdict.  Files recording bugs are written by hand and never overwritten.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parents[0] / "data" / "fuzz_corpus"


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    what: str
    origin: str
    expect: str  # "decode-error REASON" or "decodes TYPE"
    data: bytes
    path: Path | None = None


def load(directory: Path = CORPUS) -> list[Entry]:
    entries = []
    for path in sorted(directory.glob("*.hex")):
        meta: dict[str, str] = {}
        hex_text = []
        for line in path.read_text().splitlines():
            if line.startswith("#"):
                key, _, value = line[1:].strip().partition(":")
                meta[key.strip()] = meta.get(key.strip(), "") + value.strip()
            elif line.strip():
                hex_text.append(line.strip())
        entries.append(Entry(path.stem, meta.get(path.stem, ""), meta.get("origin", ""), meta.get("expect", ""),
                             bytes.fromhex("".join(hex_text).replace(" ", "")), path))
    return entries


def write(entry: Entry, directory: Path = CORPUS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{entry.name}.hex"
    hexed = entry.data.hex()
    lines = [" ".join(hexed[i + j:i + j + 16] for j in range(0, 64, 16) if hexed[i + j:i + j + 16])
             for i in range(0, len(hexed), 64)]
    path.write_text(f"# {entry.name}: {entry.what}\n# origin: {entry.origin}\n# expect: {entry.expect}\n"
                    + "\n".join(lines) + "\n")
    return path


def verdict(data: bytes) -> str:
    """What the reference decoder says about ``data`` (checksums verified), as an ``expect`` line."""
    from reference_impl import wire as w

    try:
        packet = w.decode_packet(data)
    except w.DecodeError as err:
        return f"decode-error {err.reason}"
    while isinstance(packet.payload, w.Packet):
        packet = packet.payload
    return f"decodes {type(packet.payload).__name__}"


def generate() -> list[Entry]:
    """Shortest truncations and first length lies per message type and distinct verdict."""
    sys.path.insert(0, str(HERE))
    from fuzz_support import fix_checksum, fix_payload_length, layout
    from test_fuzz_codec_structured import REPRESENTATIVE

    from reference_impl import wire as w

    import re

    def key_of(kind: str, v: str) -> tuple[str, str]:
        return kind, re.sub(r"\d+", "N", v)  # "routing header type 3 unsupported" ~ "... type 10 ..."

    found: dict[tuple[str, str], Entry] = {}
    for kind, packet in sorted(REPRESENTATIVE.items()):
        data = w.encode_packet(packet)
        for cut in range(40, len(data)):
            head = bytearray(data[:cut])
            fix_payload_length(head)
            fix_checksum(head)
            v = verdict(bytes(head))
            key = key_of(kind, v)
            if v.startswith("decode-error") and key not in found:
                found[key] = Entry(f"{kind}-truncated-{cut}", f"{kind} cut to {cut} octets, payload length and "
                                   "checksum repaired to match", "generated: shortest truncation with this verdict",
                                   v, bytes(head))
        for f in layout(data):
            if f.kind in ("nh", "hlim"):
                continue
            old = int.from_bytes(data[f.offset:f.offset + f.size], "big")
            top = (1 << (8 * f.size)) - 1
            for value in (0, 1, old + 1, old - 1, old + 8, top):
                if value == old or not 0 <= value <= top:
                    continue
                lied = bytearray(data)
                lied[f.offset:f.offset + f.size] = value.to_bytes(f.size, "big")
                fix_checksum(lied)
                v = verdict(bytes(lied))
                key = key_of(kind, v)
                if key not in found and v != verdict(data):
                    found[key] = Entry(f"{kind}-{f.kind.replace('_', '-')}-{value}",
                                       f"{kind} with its {f.kind} field at octet {f.offset} set {old} -> {value}, "
                                       "checksum repaired", "generated: first length lie with this verdict", v,
                                       bytes(lied))
    return list(found.values())


def main() -> int:
    for path in CORPUS.glob("*.hex"):
        if any(line.startswith("# origin: generated") for line in path.read_text().splitlines()):
            path.unlink()
    entries = generate()
    names: set[str] = {p.stem for p in CORPUS.glob("*.hex")}
    for entry in entries:
        name, n = entry.name, 1
        while name in names:
            n += 1
            name = f"{entry.name}-{n}"
        names.add(name)
        write(dataclasses.replace(entry, name=name))
    print(f"{len(entries)} generated corpus files in {CORPUS}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1]))
    raise SystemExit(main())
