"""The daemon's control socket: one JSON request line in, one JSON reply line out, then close."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from typing import Any

Handler = Callable[[dict[str, Any]], dict[str, Any]]
MAX_REQUEST = 65536


class ControlServer:
    """A unix stream socket at ``path`` (replaced if stale).  Requests are served one at a time.

    The path appears only once the socket listens (bound under a temporary name, then renamed): whoever waits
    for the file -- the testbed's readiness check -- can connect at once."""

    def __init__(self, path: str, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        if os.path.exists(path):
            os.unlink(path)  # stale socket of an earlier run
        pending = f"{path}.{os.getpid()}"
        if os.path.exists(pending):
            os.unlink(pending)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(pending)
        os.chmod(pending, 0o600)
        self.sock.listen(8)
        self.sock.setblocking(False)
        os.replace(pending, path)

    def fileno(self) -> int:
        return self.sock.fileno()

    def serve_one(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except BlockingIOError:
            return
        with conn:
            conn.settimeout(2.0)
            try:
                data = b""
                while not data.endswith(b"\n") and len(data) < MAX_REQUEST:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                try:
                    request = json.loads(data.decode() or "{}")
                    if not isinstance(request, dict):
                        raise ValueError("request must be a JSON object")
                    reply = self.handler(request)
                except (ValueError, KeyError, TypeError) as exc:
                    reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                conn.sendall(json.dumps(reply, default=str).encode() + b"\n")
            except OSError:
                return  # the client went away; nothing to answer

    def close(self) -> None:
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def request(path: str, command: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Send one command to the daemon at ``path`` and return its reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(json.dumps(command).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data.decode())
