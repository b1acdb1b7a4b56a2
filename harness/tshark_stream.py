"""One persistent tshark per session (per preference list) that decodes evidence frames fed to it as a pcapng stream.

A tshark start costs about 0.3 s; :mod:`harness.tshark` paid it once per evidence pcap.  Here one
``tshark -r - -l -T json --no-duplicate-keys`` process reads a pcapng stream on stdin and prints each packet's JSON as
soon as it is dissected (tshark 4.0 does so with ``-l``), so a request costs only the dissection.

Equivalence with ``tshark -r FILE -Y 'frame.number == ...'`` (single pass):

- For a request on frames W of a pcap, frames 1..max(W) of that pcap are sent in order, so every wanted frame is
  dissected after the same earlier frames of its file as in a per-file run; frames after it cannot change it.
- Frame numbers and the frame-context fields (``frame.number``, ``frame.time_relative``, ``frame.time_delta``,
  ``frame.time_delta_displayed``) are rewritten to what the per-file run prints; the fields that only exist because
  the stream is pcapng (``frame.interface_id`` and its tree) are dropped.  Timestamps are passed on exactly
  (nanoseconds), each link-layer type gets its own interface description block.
- What the stream cannot undo is dissector state carried over from earlier files.  It is kept out: ESP sequence
  analysis is off in the stream (:data:`STREAM_OPTIONS`); frame references (:data:`REFERENCES`, e.g. an echo reply's
  ``icmpv6.resp_to``) are renumbered, or dropped when they name a frame of an earlier file; UDP conversation fields
  are dropped; a file with IPv6 fragments or TCP, a pcapng file, or more than :data:`MAX_FRAMES` frames to send is
  left to a per-file run (:class:`NotStreamable`), and so is any expectation on a field of :data:`STATEFUL`.
  Judged fields are header fields of one frame; the unit tests compare whole field dicts on real captures, every
  capture decoded twice in one stream, against per-file runs with the same preferences.

A process that dies, hangs past the deadline or prints something unparsable raises :class:`StreamError` and is ended
by its PID; :mod:`harness.tshark` restarts it once and falls back to per-file runs when it cannot start at all.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import struct
import subprocess
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from harness.tshark import _flatten as flatten

_PCAP_MAGICS = {  # magic as read little-endian -> (byte order, nanosecond resolution)
    0xA1B2C3D4: ("<", False), 0xA1B23C4D: ("<", True),
    0xD4C3B2A1: (">", False), 0x4D3CB2A1: (">", True),
}
_SHB, _IDB, _EPB = 0x0A0D0D0A, 0x00000001, 0x00000006
# more frames than this in one request: a per-file run is faster (the stream prints every frame sent, ~0.5 ms each)
MAX_FRAMES = 400
_DROPPED = ("frame.section_number",)  # only there because the stream is pcapng (with frame.interface_*)
# the stream's own preferences: ESP sequence analysis would compare SPIs' sequence numbers across evidence files
STREAM_OPTIONS = ["-o", "esp.do_esp_sequence_analysis:FALSE"]
# frame-number fields (FT_FRAMENUM) the suite's frames can carry, with the fields derived along with them: renumbered
# to the file's numbering, or dropped when they name a frame of an earlier file (state a per-file run does not have)
REFERENCES = {"icmpv6.resp_to": ("icmpv6.resptime",), "icmpv6.resp_in": (), "icmp.resp_to": ("icmp.resptime",),
              "icmp.resp_in": (), "esp.sequence-analysis.previous-frame": ()}
# fields that depend on other frames' dissection (conversations, sequence analysis, reassembly, expert items derived
# from them): an expectation naming one is confirmed by a per-file run (harness.tshark), never by the stream
STATEFUL = ("esp.sequence-analysis", "icmpv6.resp", "icmp.resp", "_ws.", "ipv6.fragment", "ipv6.reassembled", "tcp.",
            "udp.stream", "udp.time_")
# conversation fields the stream cannot give as a per-file run would (UDP conversations span files): left out
_CONVERSATION = ("udp.stream", "udp.time_relative", "udp.time_delta")


class StreamError(RuntimeError):
    """The persistent tshark failed (died, hung, printed garbage); the process is gone."""


class NotStreamable(ValueError):
    """The evidence file is not a classic pcap this module can read (the caller runs tshark on the file instead)."""


class Fragmented(NotStreamable):
    """A frame sent is an IPv6 fragment: its reassembly could take up fragments of earlier files."""


def read_pcap(path: Path) -> tuple[int, int, list[tuple[int, int, bytes]]]:
    """A classic pcap's (link-layer type, snaplen, [(timestamp in ns, original length, bytes)]) in file order."""
    data = Path(path).read_bytes()
    if len(data) < 24:
        raise NotStreamable(f"{path}: too short for a pcap header")
    magic = struct.unpack_from("<I", data)[0]
    if magic not in _PCAP_MAGICS:
        raise NotStreamable(f"{path}: not a classic pcap (magic {magic:#x})")
    order, nano = _PCAP_MAGICS[magic]
    _, _, _, _, snaplen, linktype = struct.unpack_from(order + "HHiIII", data, 4)
    rec = struct.Struct(order + "IIII")
    frames, off = [], 24
    while off + rec.size <= len(data):
        sec, frac, caplen, origlen = rec.unpack_from(data, off)
        off += rec.size
        if off + caplen > len(data):
            break  # a truncated last record: tshark stops there too (with a warning)
        frames.append((sec * 1_000_000_000 + (frac if nano else frac * 1000), origlen, data[off:off + caplen]))
        off += caplen
    return linktype & 0x0FFFFFFF, snaplen, frames


def _block(kind: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


def _shb() -> bytes:
    return _block(_SHB, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def _idb(linktype: int, snaplen: int) -> bytes:
    # option if_tsresol (9) = 9: nanoseconds; then opt_endofopt
    return _block(_IDB, struct.pack("<HHI", linktype, 0, snaplen) + struct.pack("<HHB3x", 9, 1, 9) + b"\0\0\0\0")


def _epb(iface: int, ts_ns: int, origlen: int, data: bytes) -> bytes:
    return _block(_EPB, struct.pack("<IIIII", iface, ts_ns >> 32, ts_ns & 0xFFFFFFFF, len(data), origlen) + data)


def _seconds(ns: int) -> str:
    """A time difference as tshark 4.0 prints it in JSON (``0.000123000``)."""
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    return f"{sign}{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


class TsharkStream:
    """One persistent tshark with the preferences ``options``; :meth:`fields_of` answers like
    :func:`harness.tshark.fields_of` on a per-file run."""

    def __init__(self, options: Iterable[str] = (), timeout: float = 30.0) -> None:
        self.options = list(options)
        self.timeout = timeout
        self.program = ["tshark"]  # the tests put a stand-in here (one that hangs, one that dies)
        self.proc: subprocess.Popen | None = None
        self.answered = 0  # requests answered by the current or an earlier process
        self._lock = threading.Lock()
        self._stderr_tail = b""

    # -- process --------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start tshark (raises OSError when it cannot be run)."""
        self.close()
        argv = [*self.program, "-r", "-", "-l", *self.options, *STREAM_OPTIONS, "-T", "json", "--no-duplicate-keys"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     bufsize=0)
        self._sent = 0  # frames written to this process
        self._ifaces: dict[tuple[int, int], int] = {}
        self._buffer = b""
        self._opened = False  # the "[" that opens tshark's JSON array has been read
        self._stderr_tail = b""
        self._drainer = threading.Thread(target=self._drain_stderr, args=(self.proc,), daemon=True)
        self._drainer.start()
        os.set_blocking(self.proc.stdin.fileno(), False)
        self._pending = _shb()

    def _drain_stderr(self, proc: subprocess.Popen) -> None:
        for line in iter(proc.stderr.readline, b""):
            if b"Running as user" not in line:
                self._stderr_tail = (self._stderr_tail + line)[-2000:]

    def close(self) -> None:
        """End the process (by its PID): stdin closed, then terminate/kill if it does not leave in 2 s."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        self._drainer.join(timeout=2)
        if not self._drainer.is_alive():
            proc.stderr.close()

    def _fail(self, what: str) -> StreamError:
        proc = self.proc
        status = proc.poll() if proc is not None else None
        if proc is not None and status is None:
            proc.kill()
            proc.wait(timeout=5)
        self.close()  # also reads what it wrote on stderr to the end
        tail = self._stderr_tail.decode(errors="replace").strip()[-300:]
        return StreamError(f"persistent tshark {what}" + (f" (exit status {status})" if status is not None else "")
                           + (f": {tail}" if tail else ""))

    # -- requests -------------------------------------------------------------------------------------------
    def fields_of(self, pcap: Path, frames: Iterable[int]) -> dict[int, dict[str, list[str]]]:
        """Every field tshark decodes in the given frames of ``pcap``: {frame number: {field: [values]}}."""
        linktype, snaplen, records = read_pcap(pcap)
        wanted = {n for n in frames if 1 <= n <= len(records)}
        if not wanted:
            return {}
        if max(wanted) > MAX_FRAMES:
            raise NotStreamable(f"{pcap}: {max(wanted)} frames to send (a per-file run is faster)")
        with self._lock:
            if self.proc is None:
                self.start()
            key = (linktype, snaplen)
            chunks = [self._pending]
            self._pending = b""
            if key not in self._ifaces:
                self._ifaces[key] = len(self._ifaces)
                chunks.append(_idb(linktype, snaplen))
            iface = self._ifaces[key]
            last = max(wanted)
            chunks += [_epb(iface, ts, origlen, data) for ts, origlen, data in records[:last]]
            base = self._sent
            self._sent += last
            packets = self._exchange(b"".join(chunks), last, time.monotonic() + self.timeout)
            try:
                numbers = [int(p["_source"]["layers"]["frame"]["frame.number"]) for p in packets]
            except (KeyError, TypeError, ValueError):
                numbers = []
            if numbers != list(range(base + 1, base + last + 1)):
                raise self._fail(f"answered frames {numbers[:3]}... for frames {base + 1}..{base + last}")
            self.answered += 1
        result: dict[int, dict[str, list[str]]] = {}
        displayed_prev: int | None = None
        for packet in packets:
            layers = packet["_source"]["layers"]
            frame = layers["frame"]
            number = int(frame["frame.number"]) - base
            protocols = frame.get("frame.protocols", "")
            if "ipv6.fraghdr" in protocols:
                raise Fragmented(f"{pcap}: frame {number} is an IPv6 fragment (reassembly is state across files)")
            if ":tcp" in protocols:
                raise NotStreamable(f"{pcap}: frame {number} is TCP (its analysis is state across files)")
            if number not in wanted:
                continue
            flat: dict[str, list[str]] = {}
            flatten(layers, flat)
            ts = records[number - 1][0]
            for name in (*_DROPPED, *_CONVERSATION):
                flat.pop(name, None)
            for name in [k for k in flat if k.startswith("frame.interface_")]:
                flat.pop(name)
            flat["frame.number"] = [str(number)]
            for name, companions in REFERENCES.items():
                if name in flat:
                    refs = [int(v) - base for v in flat[name]]
                    if all(r >= 1 for r in refs):
                        flat[name] = [str(r) for r in refs]
                    else:
                        for dropped in (name, *companions):
                            flat.pop(dropped, None)
            if "frame.time_relative" in flat:
                flat["frame.time_relative"] = [_seconds(ts - records[0][0])]
            if "frame.time_delta" in flat:
                flat["frame.time_delta"] = [_seconds(ts - records[number - 2][0]) if number > 1 else _seconds(0)]
            if "frame.time_delta_displayed" in flat:
                flat["frame.time_delta_displayed"] = [_seconds(ts - displayed_prev if displayed_prev is not None
                                                               else 0)]
            displayed_prev = ts
            result[number] = flat
        return result

    def _exchange(self, data: bytes, count: int, deadline: float) -> list[dict]:
        """Write ``data``, read ``count`` packet objects; StreamError on death, deadline or garbage."""
        proc = self.proc
        out_fd, in_fd = proc.stdout.fileno(), proc.stdin.fileno()
        packets: list[dict] = []
        view = memoryview(data)
        while len(packets) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._fail(f"gave no answer within {self.timeout:.0f} s")
            readable, writable, _ = select.select([out_fd], [in_fd] if view else [], [], remaining)
            if writable:
                try:
                    n = os.write(in_fd, view[:65536])
                except BlockingIOError:
                    n = 0
                except (BrokenPipeError, OSError):
                    raise self._fail("stopped reading its input") from None
                view = view[n:]
            if readable:
                chunk = os.read(out_fd, 1 << 20)
                if not chunk:
                    raise self._fail("ended")
                self._buffer += chunk
                try:
                    packets += self._parse()
                except ValueError as exc:
                    raise self._fail(f"printed something that is not JSON ({exc})") from None
        if len(packets) > count:
            raise self._fail(f"printed {len(packets)} packets for {count} frames")
        return packets

    def _parse(self) -> list[dict]:
        """The complete packet objects at the start of the buffer (consumed); the rest stays."""
        text = self._buffer
        packets = []
        pos = 0
        while True:
            while pos < len(text) and text[pos] in b" \t\r\n,":
                pos += 1
            if not self._opened and pos < len(text):
                if text[pos:pos + 1] != b"[":
                    raise ValueError(f"unexpected {text[pos:pos + 20]!r}")
                self._opened = True
                pos += 1
                continue
            if pos >= len(text):
                break
            if text[pos:pos + 1] != b"{":
                raise ValueError(f"unexpected {text[pos:pos + 20]!r}")
            end = _object_end(text, pos)
            if end is None:
                break  # incomplete: wait for more
            obj = json.loads(text[pos:end])
            packets.append(obj)
            pos = end
        self._buffer = text[pos:]
        return packets


def _object_end(text: bytes, start: int) -> int | None:
    """The end of the top-level JSON object starting at ``start`` (None: not complete yet).  tshark closes each
    packet object with a line holding only ``  }`` (deeper objects are indented further, and JSON strings hold no
    raw newline), and prints the separator only when the next packet comes."""
    i = text.find(b"\n  }", start)
    return None if i == -1 else i + 4


_STREAMS: dict[tuple[str, ...], TsharkStream] = {}


def stream_for(options: Iterable[str]) -> TsharkStream:
    """The session's persistent tshark for these preferences (created, not started)."""
    key = tuple(options)
    if key not in _STREAMS:
        _STREAMS[key] = TsharkStream(key)
    return _STREAMS[key]


def close_all() -> None:
    """End every persistent tshark of the session (registered with atexit; the pytest plugin may call it earlier)."""
    for stream in list(_STREAMS.values()):
        stream.close()
    _STREAMS.clear()


atexit.register(close_all)
