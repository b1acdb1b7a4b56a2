"""The daemon's control socket appears only once it listens (the testbed's readiness check waits for the file)."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

from reference_impl.daemon.control import ControlServer, request


def test_path_appears_listening_and_serves(tmp_path: Path) -> None:
    path = str(tmp_path / "d.sock")
    Path(path).write_text("stale")  # an earlier run's leftover is replaced
    server = ControlServer(path, lambda req: {"ok": True, "echo": req.get("command")})
    try:
        assert sorted(os.listdir(tmp_path)) == ["d.sock"]  # no temporary name left behind
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.connect(path)  # listening already: no ECONNREFUSED window
        probe.close()
        server.serve_one()  # the probe's empty request
        replies: list[dict] = []
        client = threading.Thread(target=lambda: replies.append(request(path, {"command": "show"})))
        client.start()
        server.sock.setblocking(True)
        server.serve_one()
        client.join(timeout=5)
        assert replies == [{"ok": True, "echo": "show"}]
    finally:
        server.close()


def test_path_does_not_exist_before_listen(tmp_path: Path, monkeypatch) -> None:
    """Old behaviour (bind at the final path, then listen) let the readiness check connect in between."""
    path = str(tmp_path / "d.sock")
    seen: list[bool] = []

    class Watched(socket.socket):
        def listen(self, *args) -> None:
            seen.append(os.path.exists(path))
            super().listen(*args)

    from reference_impl.daemon import control
    monkeypatch.setattr(control.socket, "socket", Watched)
    server = ControlServer(path, lambda req: {"ok": True})
    server.close()
    assert seen == [False]
