"""Small helpers for Linux network namespaces (``ip netns`` names under /run/netns).

Sockets keep the namespace they were created in, so the harness process can talk to
services inside a namespace (an sshd on ``::1``, an AF_PACKET tap on a tester port)
without ``ip netns exec`` subprocesses: :func:`socket_in` creates the socket in a short-lived
thread that entered the namespace with ``setns(2)`` (which only affects the calling thread).
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading
from collections.abc import Callable
from typing import TypeVar

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000

T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if hasattr(os, "setns"):  # Python >= 3.12
        os.setns(fd, CLONE_NEWNET)
        return
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def exists(name: str) -> bool:
    return os.path.exists(path(name))


def list_names() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def call_in(name: str | None, fn: Callable[[], T]) -> T:
    """Run ``fn()`` in a fresh thread that has entered namespace ``name`` (None: stay here)."""
    if name is None:
        return fn()
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            fd = os.open(path(name), os.O_RDONLY)
        except FileNotFoundError:
            error.append(FileNotFoundError(f"network namespace {name!r} does not exist"))
            return
        try:
            _setns(fd)
            result.append(fn())
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)
        finally:
            os.close(fd)

    t = threading.Thread(target=target, name=f"netns:{name}", daemon=True)
    t.start()
    t.join()
    if error:
        raise error[0]
    return result[0]


def socket_in(name: str | None, family: int, type_: int, proto: int = 0) -> socket.socket:
    """Create a socket that lives in network namespace ``name``."""
    return call_in(name, lambda: socket.socket(family, type_, proto))


def connect_tcp(name: str | None, host: str, port: int, timeout: float) -> socket.socket:
    """Open a TCP connection from inside namespace ``name`` to ``host:port``."""

    def make() -> socket.socket:
        return socket.create_connection((host, port), timeout=timeout)

    return call_in(name, make)


def inode(name: str) -> int:
    """Inode of the namespace file: equal to ``stat(/proc/PID/ns/net).st_ino`` of its members."""
    return os.stat(path(name)).st_ino


def pids_in(name: str) -> list[int]:
    """PIDs of processes whose network namespace is ``name`` (like ``ip netns pids``)."""
    try:
        ino = inode(name)
    except FileNotFoundError:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino == ino:
                found.append(int(entry))
        except OSError:
            continue
    return sorted(found)
