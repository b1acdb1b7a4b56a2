"""Continuous capture on every tester port, with waits on predicates and deadlines.

One background thread reads all ports (``select``) and appends :class:`Frame` objects to a
single time-ordered list.  Tests take a :meth:`Capture.mark` and then wait for a frame that
matches a predicate *after* that mark, with a deadline; evidence pcaps are written from the
same frames.  Frames are decoded with scapy lazily, only when a predicate looks at them.
"""

from __future__ import annotations

import dataclasses
import os
import select
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from harness.tester import pcap
from harness.tester.port import Port


@dataclasses.dataclass
class Frame:
    """One captured Ethernet frame."""

    index: int
    time: float
    link: str
    data: bytes
    outgoing: bool  # sent by the tester itself
    _decoder: Callable[[bytes], Any] = dataclasses.field(repr=False, default=None)
    _pkt: Any = dataclasses.field(repr=False, default=None)

    @property
    def pkt(self) -> Any:
        """The frame decoded by scapy (``Ether``), after the Mobility Header protection seam."""
        if self._pkt is None:
            self._pkt = self._decoder(self.data)
        return self._pkt


Predicate = Callable[[Frame], bool]


class Capture:
    """Owns the ports' receive side.  Thread-safe; ``close()`` stops the thread."""

    def __init__(self, ports: Iterable[Port], decoder: Callable[[bytes], Any],
                 on_frame: Callable[[Frame, Port], None] | None = None) -> None:
        self.ports = {p.link: p for p in ports}
        self._decoder = decoder
        self._on_frame = on_frame
        self._frames: list[Frame] = []
        self._base = 0  # index of _frames[0] (older frames are trimmed)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self.errors: list[str] = []
        # flush(): a request number written to a wake-up pipe; the thread then drains every port and posts it done
        self._flush_asked = 0
        self._flush_done = 0
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        #: seconds spent in :meth:`wait_for` so far: the protocol waits of the tests (the rest of a test's wall
        #: time is the harness's overhead, reported per test by the pytest plugin)
        self.waited = 0.0
        self._thread = threading.Thread(target=self._loop, name="tester-capture", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        by_fd = {p.fileno(): p for p in self.ports.values()}
        watched = [*by_fd, self._wake_r]
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select(watched, [], [], 0.05)
            except (OSError, ValueError):
                return
            asked = None
            if self._wake_r in ready:
                try:
                    while os.read(self._wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
                with self._cond:
                    asked = self._flush_asked  # every request made before this read is answered by this pass
                ready = list(by_fd)  # drain every port, not only those select saw
            for fd in ready:
                port = by_fd[fd]
                while True:
                    try:
                        got = port.receive()
                    except OSError as exc:
                        self.errors.append(f"{port.link}: {exc}")
                        break
                    if got is None:
                        break
                    ts, data, outgoing = got
                    frame = self._append(port.link, ts or time.time(), data, outgoing)
                    if self._on_frame is not None and not outgoing:
                        try:
                            self._on_frame(frame, port)
                        except Exception as exc:  # a responder bug must not stop the capture
                            self.errors.append(f"responder on {port.link}: {exc!r}")
            if asked is not None:
                with self._cond:
                    self._flush_done = max(self._flush_done, asked)
                    self._cond.notify_all()

    def _append(self, link: str, ts: float, data: bytes, outgoing: bool) -> Frame:
        with self._cond:
            frame = Frame(self._base + len(self._frames), ts, link, data, outgoing, self._decoder)
            self._frames.append(frame)
            self._cond.notify_all()
        return frame

    def record_sent(self, link: str, data: bytes) -> Frame:
        """Record a frame the tester sent (a packet socket does not see its own sends)."""
        return self._append(link, time.time(), data, True)

    def mark(self) -> int:
        """A position: later waits and dumps only consider frames captured after it."""
        with self._cond:
            return self._base + len(self._frames)

    def frames(self, since: int = 0, links: Iterable[str] | None = None, outgoing: bool | None = None) -> list[Frame]:
        wanted = set(links) if links is not None else None
        with self._cond:
            start = max(0, since - self._base)
            chosen = self._frames[start:]
        return [f for f in chosen if (wanted is None or f.link in wanted)
                and (outgoing is None or f.outgoing == outgoing)]

    def wait_for(self, predicate: Predicate, timeout: float, since: int | None = None,
                 links: Iterable[str] | None = None, outgoing: bool = False) -> Frame | None:
        """First frame after ``since`` (default: now) matching ``predicate``, or None at the deadline.

        Frames sent by the tester itself are skipped unless ``outgoing=True``.
        """
        started = time.monotonic()
        try:
            return self._wait_for(predicate, started + timeout, since, links, outgoing)
        finally:
            self.waited += time.monotonic() - started

    def _wait_for(self, predicate: Predicate, deadline: float, since: int | None, links: Iterable[str] | None,
                  outgoing: bool) -> Frame | None:
        wanted = set(links) if links is not None else None
        position = self.mark() if since is None else since
        while True:
            with self._cond:
                start = max(0, position - self._base)
                batch = self._frames[start:]
                position = self._base + len(self._frames)
            for frame in batch:
                if frame.outgoing != outgoing or (wanted is not None and frame.link not in wanted):
                    continue
                try:
                    if predicate(frame):
                        return frame
                except (AttributeError, IndexError, TypeError, ValueError):
                    continue  # a predicate that cannot read this frame: not a match
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            with self._cond:
                if self._base + len(self._frames) == position:
                    self._cond.wait(min(remaining, 0.2))

    def flush(self, timeout: float = 1.0) -> bool:
        """Return once every frame already queued on the ports' sockets has been read: the capture thread is woken
        and drains every port (no waiting for the ports to fall silent).  False if ``timeout`` came first."""
        deadline = time.monotonic() + timeout
        if not self._thread.is_alive():
            return False
        with self._cond:
            self._flush_asked += 1
            target = self._flush_asked
        try:
            os.write(self._wake_w, b"f")
        except BlockingIOError:
            pass  # the pipe is full of earlier wake-ups: the thread is woken anyway
        except OSError:
            return False  # closed meanwhile
        with self._cond:
            while self._flush_done < target and self._thread.is_alive():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return self._flush_done >= target

    def save(self, directory: Path, since: int = 0, prefix: str = "") -> list[Path]:
        """Write one pcap per link with frames after ``since``; return the files written."""
        self.flush()
        directory.mkdir(parents=True, exist_ok=True)
        by_link: dict[str, list[Frame]] = {}
        for frame in self.frames(since):
            by_link.setdefault(frame.link, []).append(frame)
        written = []
        for link, frames in sorted(by_link.items()):
            path = directory / f"{prefix}{link}.pcap"
            pcap.write(path, ((f.time, f.data) for f in frames))
            written.append(path)
        return written

    def positions(self, since: int = 0) -> dict[int, tuple[str, int]]:
        """Frame index -> (link, 1-based frame number) in the pcaps :meth:`save` writes for ``since``."""
        counts: dict[str, int] = {}
        result = {}
        for frame in self.frames(since):
            counts[frame.link] = counts.get(frame.link, 0) + 1
            result[frame.index] = (frame.link, counts[frame.link])
        return result

    def trim(self, before: int) -> None:
        """Forget frames before position ``before`` (keeps memory bounded across tests)."""
        with self._cond:
            drop = max(0, min(before - self._base, len(self._frames)))
            del self._frames[:drop]
            self._base += drop

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
