"""Capture.flush drains what is queued without waiting for the ports to fall silent (evidence is saved after every
test: a flush that waited for idle passes cost ~0.17 s per test and never finished on a busy link)."""

from __future__ import annotations

import socket
import threading

from harness.tester.capture import Capture


class PairPort:
    """A tester port over a datagram socket pair: what ``send`` writes, the capture reads."""

    def __init__(self, link: str) -> None:
        self.link = link
        self.sock, self.peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self):
        try:
            return None, self.sock.recv(65535), False
        except BlockingIOError:
            return None

    def send(self, data: bytes) -> None:
        self.peer.send(data)

    def close(self) -> None:
        self.sock.close()
        self.peer.close()


def test_flush_returns_with_every_queued_frame_while_the_link_stays_busy() -> None:
    quiet, busy = PairPort("quiet"), PairPort("busy")
    capture = Capture([quiet, busy], decoder=lambda data: data)
    stop = threading.Event()
    chatter = threading.Thread(target=lambda: [busy.send(b"noise") for _ in iter(stop.is_set, True)], daemon=True)
    try:
        chatter.start()
        for i in range(200):
            quiet.send(b"frame %d" % i)
        assert capture.flush(timeout=30.0), "flush timed out although every frame was queued"
        got = [f.data for f in capture.frames(0, ["quiet"])]
        assert got == [b"frame %d" % i for i in range(200)]
    finally:
        stop.set()
        chatter.join(timeout=5)
        capture.close()
        quiet.close()
        busy.close()


def test_flush_after_close_does_not_hang() -> None:
    port = PairPort("x")
    capture = Capture([port], decoder=lambda data: data)
    capture.close()
    assert capture.flush(timeout=5.0) is False
    port.close()
