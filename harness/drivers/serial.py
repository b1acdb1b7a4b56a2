"""Run commands on a serial console (pyserial), logging in first when asked to.

The console echoes what is typed, so the typed line must never look like the output the
driver waits for.  Each command is sent as one line::

    printf '__B%s_%s__\\n' SEQ NONCE; ( COMMAND ) </dev/null; printf '__E%s_%s_%d__\\n' SEQ NONCE $?

The echo shows ``__B%s_%s__``; only the shell's output contains ``__BSEQ_NONCE__``.  The
output between the two markers is the command's stdout and stderr (a console cannot tell
them apart).  The subshell keeps ``exit``/``cd`` from touching the login shell.  Commands
that are not plain printable ASCII (newlines, tabs, UTF-8, ``!``, ``#``) are typed as
``eval "$(printf '\\ooo...')"`` so line editing and history expansion never see them.
The shell prompt is set to ``HMIPV6CT# `` (typed as ``'HMIPV6''CT# '`` so its echo does
not match).  Keep commands well under 4 KiB: canonical-mode ttys truncate longer lines.
"""

from __future__ import annotations

import codecs
import datetime
import re
import secrets
import time
from typing import IO

import serial

from harness.drivers.base import CommandDriver, CommandResult
from harness.errors import (
    AuthenticationError,
    CommandTimeoutError,
    ConnectError,
    ConnectionLostError,
    ConsoleError,
    redact,
    register_secret,
    secret_values,
)

PROMPT = "HMIPV6CT# "
_SET_PROMPT = "PS1='HMIPV6''CT# '; PS2=''"
_PROMPT_RE = re.compile(re.escape(PROMPT.encode()))
_ANSI_RE = re.compile(rb"\x1b(\[[0-9;?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[=>78])")
_LOGIN_RE = re.compile(rb"login:\s*$", re.I)
_PASSWORD_RE = re.compile(rb"password:\s*$", re.I)
_SHELL_RE = re.compile(rb"[#$%>]\s*$")
_REFUSED_RE = re.compile(rb"login incorrect|authentication fail|access denied", re.I)
_READ_TIMEOUT = 0.05  # granularity of every wait
_QUIET = 0.15  # a prompt counts once the console has been silent this long
_WAKE_INTERVAL = 1.0


def escape_console(text: str) -> str:
    """One log line's worth of ``text``: control characters and backslashes escaped."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch in "\r\n\t":
            out.append({"\r": "\\r", "\n": "\\n", "\t": "\\t"}[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)


def shell_line(command: str) -> str:
    """``command`` as text that is safe to type at an interactive shell prompt."""
    if (
        re.fullmatch(r"[ -~]*", command)
        and "!" not in command
        and "#" not in command
        and not command.rstrip().endswith("\\")
        and command.strip()
    ):
        return command
    escaped = "".join(
        chr(b) if 0x20 <= b < 0x7F and chr(b) not in "'\\%!" else f"\\{b:03o}"
        for b in command.encode()
    )
    return f"eval \"$(printf '{escaped}')\""


class ConsoleLog:
    """Append-only console transcript: ``TIMESTAMP >> sent`` / ``TIMESTAMP << received`` / ``TIMESTAMP !! event``.

    Registered secrets (:func:`harness.errors.register_secret`: the console password, any credential of the
    testbed) are masked, also when one arrives cut across two reads: received text that may be the start of a
    secret is held back until the next read, a line sent, or close."""

    def __init__(self, path: str) -> None:
        self._file: IO[str] = open(path, "a", encoding="utf-8", buffering=1)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def _line(self, direction: str, text: str) -> None:
        if text:
            stamp = datetime.datetime.now().isoformat(timespec="milliseconds")
            self._file.write(f"{stamp} {direction} {escape_console(text)}\n")

    def _flush(self) -> None:
        pending, self._pending = self._pending, ""
        self._line("<<", redact(pending))

    def sent(self, text: str) -> None:
        self._flush()
        self._line(">>", redact(text))

    def received(self, data: bytes) -> None:
        text = redact(self._pending + self._decoder.decode(data))
        hold = 0
        for secret in secret_values():  # the longest tail that could be a secret's beginning
            for k in range(min(len(secret) - 1, len(text)), hold, -1):
                if text.endswith(secret[:k]):
                    hold = k
                    break
        self._pending = text[len(text) - hold:] if hold else ""
        self._line("<<", text[: len(text) - hold])

    def event(self, text: str) -> None:
        """What happened to the console itself (``TIMESTAMP !! text``): it was lost, it timed out."""
        self._flush()
        self._line("!!", redact(text))

    def close(self) -> None:
        self._pending += self._decoder.decode(b"", final=True)
        self._flush()
        self._file.close()


class SerialDriver(CommandDriver):
    """A shell on a serial console.  stderr is merged into stdout (``stderr`` is "")."""

    def __init__(
        self,
        node: str,
        device: str,
        baudrate: int = 115200,
        user: str | None = None,
        password: str | None = None,
        prompt_timeout: float = 10,
        default_timeout: float = 30,
        log_path: str | None = None,
    ) -> None:
        self.node = node
        self.device = device
        self.baudrate = baudrate
        self.user = user
        self._password = password
        self.prompt_timeout = prompt_timeout
        self.default_timeout = default_timeout
        self.log_path = log_path
        self._port: serial.Serial | None = None
        self._log: ConsoleLog | None = None
        self._buf = bytearray()
        self._seq = 0
        register_secret(password)  # never in the console log, an error message or a log record

    def __repr__(self) -> str:
        login = f", user={self.user!r}" if self.user else ""
        return f"SerialDriver(node={self.node!r}, device={self.device!r}{login})"

    # -- low level ---------------------------------------------------------------------

    def _lost(self, exc: BaseException) -> ConnectionLostError:
        error = ConnectionLostError(self.node, f"console {self.device} lost: {exc}")
        if self._log:
            self._log.event(str(error))
        self.close()
        return error

    def _send(self, text: str, shown: str | None = None) -> None:
        assert self._port is not None
        if self._log:
            self._log.sent(text if shown is None else shown)
        try:
            self._port.write(text.encode())
            self._port.flush()
        except (serial.SerialException, OSError) as exc:
            raise self._lost(exc) from exc

    def _read(self) -> bytes:
        """Append what arrives within one read timeout to the buffer; return it."""
        port = self._port
        if port is None:
            raise ConnectionLostError(self.node, f"console {self.device} is closed")
        try:
            data = port.read(port.in_waiting or 1)
            if data and port.in_waiting:  # coalesce: one log line per burst, not per byte
                data += port.read(port.in_waiting)
        except (serial.SerialException, OSError, TypeError) as exc:
            # pyserial raises TypeError when the port is closed under it
            raise self._lost(exc) from exc
        if data:
            self._buf += data
            if self._log:
                self._log.received(data)
        return data

    def _expect(
        self, pattern: re.Pattern[bytes], deadline: float, start: int = 0
    ) -> re.Match[bytes] | None:
        """Read until ``pattern`` appears in the buffer (from ``start``) or the deadline."""
        while True:
            match = pattern.search(self._buf, start)
            if match or time.monotonic() >= deadline:
                return match
            self._read()

    def _settle(self, deadline: float) -> None:
        """Read until the console has been quiet for a moment, or the deadline."""
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            if self._read():
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= _QUIET:
                return

    def _tail(self) -> bytes:
        """Last line of the buffer, escape sequences and CRs removed."""
        text = _ANSI_RE.sub(b"", bytes(self._buf)).replace(b"\r", b"")
        return text.rsplit(b"\n", 1)[-1]

    @staticmethod
    def _text(data: bytes) -> str:
        return data.replace(b"\r\n", b"\n").decode("utf-8", errors="replace")

    # -- session -----------------------------------------------------------------------

    def open(self) -> None:
        if self._port is not None:
            return
        try:
            # a console that stops reading must not block a write forever: bounded like a prompt
            self._port = serial.Serial(
                self.device, self.baudrate, timeout=_READ_TIMEOUT, exclusive=True,
                write_timeout=self.prompt_timeout,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ConnectError(self.node, f"cannot open console {self.device}: {exc}") from None
        if self.log_path:
            self._log = ConsoleLog(self.log_path)
        try:
            self._login()
            self._sync(_SET_PROMPT + "; ", self.prompt_timeout)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        port, self._port = self._port, None
        log, self._log = self._log, None
        if port is not None:
            try:
                port.close()
            except Exception:
                pass
        if log is not None:
            try:
                log.close()
            except Exception:
                pass

    def _login(self) -> None:
        """Wake the console and get to a shell prompt, logging in if it asks."""
        self._buf.clear()
        self._send("\r")
        deadline = time.monotonic() + self.prompt_timeout
        last_wake = time.monotonic()
        sent_user = sent_password = False
        while True:
            self._settle(deadline)
            tail = self._tail()
            if (sent_password and _REFUSED_RE.search(self._buf)) or (
                sent_user and _LOGIN_RE.search(tail)
            ):
                raise AuthenticationError(
                    self.node, f"console login as {self.user!r} refused on {self.device}"
                )
            if _LOGIN_RE.search(tail):
                if not self.user:
                    raise AuthenticationError(
                        self.node, f"{self.device} asks for a login but no user is configured"
                    )
                self._buf.clear()
                self._send(self.user + "\r")
                sent_user = True
                deadline = time.monotonic() + self.prompt_timeout
            elif _PASSWORD_RE.search(tail) and sent_user and not sent_password:
                if self._password is None:
                    raise AuthenticationError(
                        self.node, f"{self.device} asks for a password but none is configured"
                    )
                self._buf.clear()
                self._send(self._password + "\r", shown="********\r")
                sent_password = True
                deadline = time.monotonic() + self.prompt_timeout
            elif _PASSWORD_RE.search(tail) and not sent_user:
                # someone left a half-done login: fail it to get a fresh login prompt
                self._buf.clear()
                self._send("\r")
            elif _SHELL_RE.search(tail):
                return
            elif time.monotonic() >= deadline:
                raise ConsoleError(
                    self.node,
                    f"no login or shell prompt on {self.device} within "
                    f"{self.prompt_timeout:g} s (last output {tail[-60:]!r})",
                )
            elif not sent_user and time.monotonic() - last_wake >= _WAKE_INTERVAL:
                self._send("\r")
                last_wake = time.monotonic()

    def _nonce(self) -> tuple[int, str]:
        self._seq += 1
        return self._seq, secrets.token_hex(4)

    def _sync(self, prefix: str, timeout: float) -> None:
        """Type ``prefix`` + a sync marker; wait for the marker and the prompt after it."""
        seq, nonce = self._nonce()
        self._buf.clear()
        self._send(f"{prefix}printf '__S%s_%s__\\n' {seq} {nonce}\r")
        deadline = time.monotonic() + timeout
        marker = self._expect(re.compile(rb"__S%d_%s__" % (seq, nonce.encode())), deadline)
        if marker is None or self._expect(_PROMPT_RE, deadline, marker.end()) is None:
            raise ConsoleError(
                self.node,
                f"shell on {self.device} did not answer the sync marker within {timeout:g} s "
                f"(last output {self._tail()[-60:]!r})",
            )
        self._buf.clear()

    def _drain(self) -> None:
        assert self._port is not None
        try:
            waiting = self._port.in_waiting
        except (serial.SerialException, OSError, TypeError) as exc:
            raise self._lost(exc) from exc
        while waiting and self._read():
            waiting = self._port.in_waiting if self._port else 0

    def _run(self, command: str, timeout: float) -> CommandResult:
        seq, nonce = self._nonce()
        tag = b"%d_%s" % (seq, nonce.encode())
        begin_re = re.compile(rb"__B" + tag + rb"__\r*\n")
        end_re = re.compile(rb"__E" + tag + rb"_(\d+)__")
        self._drain()
        self._buf.clear()
        self._send(
            f"printf '__B%s_%s__\\n' {seq} {nonce}; ( {shell_line(command)} ) </dev/null; "
            f"printf '__E%s_%s_%d__\\n' {seq} {nonce} $?\r"
        )
        end = self._expect(end_re, time.monotonic() + timeout)
        begin = begin_re.search(self._buf)
        if end is None:
            partial = self._text(bytes(self._buf[begin.end():])) if begin else ""
            if self._log:
                self._log.event(f"{command!r} did not finish within {timeout:g} s: interrupting it (^C)")
            self._interrupt()
            raise CommandTimeoutError(self.node, command, timeout, partial)
        if begin is None or begin.end() > end.start():
            raise ConsoleError(self.node, f"lost the begin marker of {command!r}")
        output = self._text(bytes(self._buf[begin.end() : end.start()]))
        status = int(end.group(1))
        # let the prompt arrive so the next command is not typed ahead of it
        self._expect(_PROMPT_RE, time.monotonic() + min(self.prompt_timeout, 2), end.end())
        self._buf.clear()
        return CommandResult(command, status, output, "")

    def _interrupt(self) -> None:
        """After a timeout: ^C, then resynchronise; close the port if that fails."""
        for wait in (min(self.prompt_timeout, 3.0), self.prompt_timeout):
            self._send("\x03")
            time.sleep(0.1)
            try:
                self._sync("", wait)
                return
            except ConsoleError:
                continue
        self.close()  # unknown state: the next command reconnects and logs in again
