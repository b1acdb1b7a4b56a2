"""Run commands over SSH (paramiko), optionally from inside a network namespace.

Host keys are pinned: the server's key must match an entry of an OpenSSH ``known_hosts``
file, looked up as ``host`` (port 22) or ``[host]:port`` (strict by default; an unknown or
different key is a :class:`~harness.errors.HostKeyMismatchError` naming the host, the pinned and
the presented fingerprints and the known_hosts file).  Passwords and the private key's content
never appear in ``repr()``, logs or exception messages (they are registered with
:func:`harness.errors.register_secret`).  Every step has a deadline: connecting, the handshake,
authentication and starting a command are bounded by ``connect_timeout`` (a server that stops
answering has its transport closed under the waiting call), a command by its timeout.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import threading
import time

import paramiko
from paramiko.common import cMSG_CHANNEL_REQUEST

from harness import netns as netns_mod
from harness.drivers.base import CommandDriver, CommandResult
from harness.errors import (
    AuthenticationError,
    CommandTimeoutError,
    ConnectError,
    ConnectionLostError,
    HostKeyMismatchError,
    register_key_file,
    register_secret,
)

log = logging.getLogger("harness.drivers.ssh")


def known_hosts_name(host: str, port: int) -> str:
    """The name OpenSSH files a host key under: ``host`` or ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def describe_key(key: paramiko.PKey) -> str:
    """``ssh-ed25519 SHA256:...`` as OpenSSH prints it."""
    return f"{key.get_name()} {key.fingerprint}"


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


class SshDriver(CommandDriver):
    """One SSH connection to a node; each command runs in its own session channel.

    Commands get an empty stdin (EOF).  A command that ends by a signal, or whose exit
    status the server does not report, returns exit status -1 (paramiko ignores
    ``exit-signal``).  On timeout a ``signal KILL`` request is sent and the channel closed;
    OpenSSH honours the request only for non-root logins (it needs the privilege-separated
    session child), so a timed-out command of root may run on until it writes (SIGPIPE).
    """

    def __init__(
        self,
        node: str,
        host: str,
        port: int = 22,
        user: str = "root",
        password: str | None = None,
        key_file: str | None = None,
        known_hosts: str | None = None,
        strict_host_key: bool = True,
        netns: str | None = None,
        connect_timeout: float = 10,
        keepalive: float = 5,
        default_timeout: float = 30,
    ) -> None:
        self.node = node
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self.key_file = key_file
        self.known_hosts = known_hosts
        self.strict_host_key = strict_host_key
        self.netns = netns
        self.connect_timeout = connect_timeout
        self.keepalive = keepalive
        self.default_timeout = default_timeout
        self._transport: paramiko.Transport | None = None
        register_secret(password)
        if key_file:
            register_key_file(key_file)

    def __repr__(self) -> str:
        auth = "+".join(
            name for name, used in (("key", self.key_file), ("password", self._password)) if used
        ) or "none"
        where = f", netns={self.netns!r}" if self.netns else ""
        return (
            f"SshDriver(node={self.node!r}, {self.user}@{known_hosts_name(self.host, self.port)}"
            f"{where}, auth={auth})"
        )

    # -- connection ------------------------------------------------------------------

    def open(self) -> None:
        if self._transport is not None and self._transport.is_active():
            return
        self.close()
        sock = self._connect_socket()
        transport = paramiko.Transport(sock)
        try:
            self._handshake(transport)
            self._authenticate(transport)
        except BaseException:
            transport.close()
            raise
        if self.keepalive:
            transport.set_keepalive(int(max(1, self.keepalive)))
        self._transport = transport
        log.debug("%s: connected to %s", self.node, known_hosts_name(self.host, self.port))

    def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            try:
                transport.close()
            except Exception:  # close never raises
                pass

    def _connect_socket(self) -> socket.socket:
        target = f"[{self.host}]:{self.port}" + (f" in netns {self.netns}" if self.netns else "")
        try:
            return netns_mod.connect_tcp(self.netns, self.host, self.port, self.connect_timeout)
        except socket.gaierror as exc:
            raise ConnectError(self.node, f"cannot resolve {self.host!r}: {exc.strerror}") from exc
        except (TimeoutError, socket.timeout) as exc:
            raise ConnectError(self.node, f"connect to {target} timed out") from exc
        except FileNotFoundError as exc:
            raise ConnectError(self.node, str(exc)) from exc
        except OSError as exc:
            raise ConnectError(self.node, f"connect to {target}: {exc.strerror or exc}") from exc

    def _pinned_keys(self) -> dict[str, paramiko.PKey]:
        """Pinned keys for this host by key type (empty when none)."""
        if not self.known_hosts:
            return {}
        hostkeys = paramiko.HostKeys()
        try:
            hostkeys.load(os.path.expanduser(self.known_hosts))
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise HostKeyMismatchError(
                self.node, f"cannot read known_hosts {self.known_hosts}: {exc.strerror}"
            ) from exc
        found = hostkeys.lookup(known_hosts_name(self.host, self.port))
        return dict(found.items()) if found else {}

    def _handshake(self, transport: paramiko.Transport) -> None:
        pinned = self._pinned_keys()
        if pinned:
            # ask for a pinned key type first, as OpenSSH does
            options = transport.get_security_options()
            wanted = []
            for name in pinned:
                wanted += ["rsa-sha2-512", "rsa-sha2-256"] if name == "ssh-rsa" else [name]
            wanted = [t for t in wanted if t in options.key_types]
            options.key_types = wanted + [t for t in options.key_types if t not in wanted]
        transport.banner_timeout = self.connect_timeout
        transport.handshake_timeout = self.connect_timeout
        transport.auth_timeout = self.connect_timeout
        try:
            transport.start_client(timeout=self.connect_timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectError(self.node, f"SSH handshake failed: {exc}") from exc
        # start_client returns quietly when its timeout expires: no session, no host key yet
        try:
            key = transport.get_remote_server_key() if transport.is_active() else None
        except paramiko.SSHException:
            key = None
        if key is None:
            raise ConnectError(self.node, f"SSH handshake with {known_hosts_name(self.host, self.port)} did not "
                                          f"complete within {self.connect_timeout:g} s")
        self._check_host_key(key, pinned)

    def _check_host_key(self, key: paramiko.PKey, pinned: dict[str, paramiko.PKey]) -> None:
        name = known_hosts_name(self.host, self.port)
        presented = describe_key(key)
        if any(key == k for k in pinned.values()):
            return
        if not self.strict_host_key:
            log.warning("%s: accepting unpinned host key %s for %s", self.node, presented, name)
            return
        if pinned:
            expected = ", ".join(describe_key(k) for k in pinned.values())
            message = f"host key for {name} differs from the pinned one: expected {expected}, " \
                      f"server presented {presented} (pinned in {self.known_hosts}; if the device's key " \
                      "changed on purpose, replace its line there)"
        else:
            if not self.known_hosts:
                source = "(no known_hosts file given)"
            elif not os.path.exists(os.path.expanduser(self.known_hosts)):
                source = f"{self.known_hosts} (the file does not exist)"
            else:
                source = self.known_hosts
            message = f"no pinned key for {name} in {source}; server presented {presented} " \
                      "(strict host key checking: pin the device's key in its known_hosts file)"
            expected = ""
        error = HostKeyMismatchError(self.node, message)
        error.expected = expected  # type: ignore[attr-defined]
        error.presented = presented  # type: ignore[attr-defined]
        error.known_hosts = self.known_hosts  # type: ignore[attr-defined]
        raise error

    def _auth_timed_out(self, exc: paramiko.AuthenticationException) -> None:
        """A server that does not answer an authentication request is not one that refused it."""
        if "timeout" in str(exc).lower():
            raise ConnectError(self.node, f"{known_hosts_name(self.host, self.port)} did not answer the "
                                          f"authentication within {self.connect_timeout:g} s") from None

    def _authenticate(self, transport: paramiko.Transport) -> None:
        tried = []
        try:
            if self.key_file:
                tried.append(f"key {self.key_file}")
                register_key_file(self.key_file)
                try:
                    pkey = paramiko.PKey.from_path(os.path.expanduser(self.key_file))
                except (OSError, paramiko.SSHException, ValueError) as exc:
                    raise AuthenticationError(
                        self.node, f"cannot load key {self.key_file}: {exc}"
                    ) from None
                try:
                    transport.auth_publickey(self.user, pkey)
                except paramiko.AuthenticationException as exc:
                    self._auth_timed_out(exc)
            if self._password is not None and not transport.is_authenticated():
                tried.append("password")
                try:
                    transport.auth_password(self.user, self._password)
                except paramiko.AuthenticationException as exc:
                    self._auth_timed_out(exc)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectError(
                self.node, f"connection closed during authentication: {type(exc).__name__}"
            ) from None
        if not transport.is_authenticated():
            what = " and ".join(tried) or "no credentials configured"
            raise AuthenticationError(
                self.node,
                f"{self.user}@{known_hosts_name(self.host, self.port)} refused login ({what})",
            )

    # -- commands ----------------------------------------------------------------------

    def _lost(self, what: str) -> ConnectionLostError:
        transport, self._transport = self._transport, None
        reason = transport.get_exception() if transport is not None else None
        if transport is not None:
            transport.close()
        expired = getattr(transport, "hmipv6ct_expired", None)
        if expired:
            detail = f": the server did not answer {expired} within {self.connect_timeout:g} s"
        else:
            detail = f": {str(reason) or type(reason).__name__}" if reason is not None else ""
        return ConnectionLostError(self.node, f"SSH connection lost {what}{detail}")

    @contextlib.contextmanager
    def _deadline(self, transport: paramiko.Transport, what: str):
        """Bound a paramiko call that waits for the server without a timeout of its own (``exec_command``): when
        ``connect_timeout`` passes first, the transport is closed under it, which ends the wait."""
        def expire() -> None:
            transport.hmipv6ct_expired = what  # type: ignore[attr-defined]
            transport.close()

        timer = threading.Timer(self.connect_timeout, expire)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def exec_channel(self, command: str) -> paramiko.Channel:
        """Start ``command`` and return its channel, for a long-running program spoken to on stdin/stdout (an
        agent); the caller closes it."""
        self.open()
        transport = self._transport
        try:
            chan = transport.open_session(timeout=self.connect_timeout)
            with self._deadline(transport, "starting a command"):
                chan.exec_command(command)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if not transport.is_active():
                raise self._lost(f"starting {command!r}") from exc
            raise ConnectionLostError(self.node, f"cannot start {command!r}: {exc}") from exc
        return chan

    def _run(self, command: str, timeout: float) -> CommandResult:
        transport = self._transport
        assert transport is not None
        try:
            chan = transport.open_session(timeout=self.connect_timeout)
            with self._deadline(transport, "starting a command"):
                chan.exec_command(command)
            chan.shutdown_write()
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if not transport.is_active():
                raise self._lost("before the command started") from exc
            raise ConnectionLostError(self.node, f"cannot start command: {exc}") from exc
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        try:
            fd = chan.fileno()
            while True:
                while chan.recv_ready():
                    out += chan.recv(65536)
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                done = chan.closed or (chan.eof_received and chan.status_event.is_set())
                if done and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._abort(chan)
                    raise CommandTimeoutError(self.node, command, timeout, _decode(bytes(out)))
                select.select([fd], [], [], min(remaining, 0.05))
            status = chan.exit_status
            if status == -1 and (
                not transport.is_active() or (not chan.eof_received and self._dying(transport))
            ):
                raise self._lost("during the command")
        finally:
            chan.close()
        return CommandResult(command, status, _decode(bytes(out)), _decode(bytes(err)))

    @staticmethod
    def _dying(transport: paramiko.Transport, grace: float = 0.3) -> bool:
        """Whether the transport is (about to be) dead: paramiko closes channels first."""
        deadline = time.monotonic() + grace
        while transport.is_active():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _abort(self, chan: paramiko.Channel) -> None:
        """Best effort: SIGKILL the remote command's process group, then close the channel."""
        try:
            m = paramiko.Message()
            m.add_byte(cMSG_CHANNEL_REQUEST)
            m.add_int(chan.remote_chanid)
            m.add_string("signal")
            m.add_boolean(False)
            m.add_string("KILL")
            chan.transport._send_user_message(m)  # paramiko has no public signal request
        except Exception:
            pass
        chan.close()
