"""Exceptions raised by the harness.

Two families are kept strictly apart, because they lead to different verdicts::

    HarnessError
    ├── InfrastructureError          -> ERROR verdict (the test could not judge the DUT)
    │   ├── TestbedError             a testbed could not be built, reached or torn down
    │   │   └── TestbedFileError     a testbed file is malformed (names file, line, problem)
    │   ├── DriverError              a management connection failed
    │   │   ├── ConnectError         the device cannot be reached at all
    │   │   ├── AuthenticationError  the credentials were refused
    │   │   ├── HostKeyMismatchError the SSH host key differs from the pinned one
    │   │   ├── ConnectionLostError  an established connection dropped
    │   │   ├── NodeLostError        a node found gone earlier in the run (not tried again for a while)
    │   │   ├── CommandTimeoutError  a command did not finish within its timeout
    │   │   └── ConsoleError         a serial console misbehaved (no prompt, garbled marker)
    │   └── CaptureError             the tester could not send or capture
    └── (DUT requirement violations are not exceptions of this tree; see the verdict module)

Secrets (passwords, private keys, IPsec keys: anything typed :class:`~harness.testbed.model.Secret` in a testbed)
are registered here (:func:`register_secret`, :func:`register_secrets_in`) and masked by :func:`redact` in every
text the harness writes: harness error messages, log records (:func:`install_log_redaction`), console logs, the
journal, results, evidence and reports.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

# -- secrets ----------------------------------------------------------------------------------------------------------
MASK = "********"
MIN_SECRET = 4  # shorter values are not registered: masking every occurrence of them would mangle ordinary text
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register_secret(value: Any) -> None:
    """Mask ``value`` (a string, or anything with ``reveal()`` such as a Secret) in everything written from now on."""
    global _pattern
    if value is None:
        return
    text = value.reveal() if hasattr(value, "reveal") else value
    if not isinstance(text, str):
        text = text.hex() if isinstance(text, (bytes, bytearray)) else str(text)
    text = text.strip("\r\n")
    if len(text) < MIN_SECRET or text in _secrets:
        return
    _secrets.add(text)
    _pattern = re.compile("|".join(re.escape(s) for s in sorted(_secrets, key=len, reverse=True)))


def register_key_file(path: Any) -> None:
    """Register a private key file's content: each line of its body (a PEM/OpenSSH key's base64 lines), so the key
    is masked however it is cut or joined."""
    try:
        text = Path(str(path)).expanduser().read_text(errors="replace")
    except (OSError, ValueError):
        return
    for line in text.splitlines():
        line = line.strip()
        if len(line) >= 16 and not line.startswith("-----") and ":" not in line:
            register_secret(line)


def register_secrets_in(obj: Any) -> int:
    """Register every Secret found in ``obj`` (a testbed spec, a node, its ``security`` section: any tree of
    dataclasses, dicts, lists and objects); return how many were found.  A Secret is anything with ``reveal()``."""
    seen: set[int] = set()
    found = 0

    def walk(o: Any, depth: int) -> None:
        nonlocal found
        if o is None or isinstance(o, (str, bytes, int, float, bool, Path)) or id(o) in seen or depth > 12:
            return
        seen.add(id(o))
        if callable(getattr(o, "reveal", None)) and not isinstance(o, type):
            register_secret(o)
            found += 1
            return
        if isinstance(o, dict):
            for k, v in o.items():
                walk(k, depth + 1)
                walk(v, depth + 1)
        elif isinstance(o, (list, tuple, set, frozenset)):
            for v in o:
                walk(v, depth + 1)
        elif hasattr(o, "__dataclass_fields__"):
            for name in o.__dataclass_fields__:
                walk(getattr(o, name, None), depth + 1)
        elif hasattr(o, "__dict__") and type(o).__module__.startswith("harness."):
            for v in vars(o).values():
                walk(v, depth + 1)

    walk(obj, 0)
    return found


def secret_values() -> list[str]:
    """The registered values (for a writer that must also mask a secret cut across two writes)."""
    return sorted(_secrets, key=len, reverse=True)


def redact(text: Any) -> Any:
    """``text`` with every registered secret replaced by ``********`` (non-strings are returned as they are)."""
    if _pattern is None or not isinstance(text, str):
        return text
    return _pattern.sub(MASK, text)


def redact_data(obj: Any) -> Any:
    """A copy of JSON-like ``obj`` (dicts, lists, tuples, strings) with every string redacted."""
    if _pattern is None:
        return obj
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact(k): redact_data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_data(v) for v in obj]
    return obj


def redact_exception(exc: BaseException | None) -> None:
    """Mask secrets in an exception and the ones it was raised from, in place (its ``args`` and string attributes),
    so whatever formats it later (pytest's report, Allure, a log's traceback) cannot show them."""
    seen: set[int] = set()
    while exc is not None and _pattern is not None and id(exc) not in seen:
        seen.add(id(exc))
        try:
            exc.args = tuple(_redact_value(a) for a in exc.args)
        except Exception:  # noqa: BLE001 -- an exception that refuses new args keeps them
            pass
        names = set(getattr(exc, "__dict__", {})) | {"strerror", "filename", "filename2", "msg", "reason", "cmd",
                                                      "output", "stdout", "stderr"}
        for name in names:  # what str() of OSError, CalledProcessError ... is made of
            try:
                value = getattr(exc, name, None)
                masked = _redact_value(value)
                if masked is not value and masked != value:
                    setattr(exc, name, masked)
            except Exception:  # noqa: BLE001 -- a read-only attribute keeps its value
                continue
        exc = exc.__cause__ or exc.__context__


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (bytes, bytearray)):
        text = value.decode("utf-8", errors="surrogateescape")
        masked = redact(text)
        return value if masked == text else type(value)(masked.encode("utf-8", errors="surrogateescape"))
    if isinstance(value, dict):
        return {_redact_value(k): _redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redact_value(v) for v in value) if type(value) in (list, tuple) else value
    return value


def install_log_redaction() -> None:
    """Mask secrets in every log record created from now on (whatever handler writes it).  Idempotent."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "hmipv6ct_redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _pattern is not None:
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 -- a malformed record is the logging module's to report
                return record
            masked = redact(message)
            if masked != message:
                record.msg, record.args = masked, None
        return record

    factory.hmipv6ct_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


# -- the exceptions -----------------------------------------------------------------------------------------------------
class HarnessError(Exception):
    """Base of every error the harness raises on purpose.  Its message never shows a registered secret."""

    def __str__(self) -> str:
        return redact(super().__str__())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class InfrastructureError(HarnessError):
    """The test bed, not the device under test, failed: the verdict is ERROR, never FAIL."""


class TestbedError(InfrastructureError):
    """A testbed could not be built, reached or torn down."""

    __test__ = False  # not a pytest test class


class TestbedFileError(TestbedError):
    """A testbed file is malformed.  ``str()`` reads ``FILE:LINE: problem``."""

    __test__ = False

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {problem}")


class DriverError(InfrastructureError):
    """A management connection (SSH, serial, local) failed.  ``node`` names the device."""

    def __init__(self, node: str, message: str) -> None:
        self.node = node
        super().__init__(f"{node}: {message}")


class ConnectError(DriverError):
    """The device could not be reached (refused, unreachable, no such serial port)."""


class AuthenticationError(DriverError):
    """The device refused the credentials (wrong password or key, wrong console login)."""


class HostKeyMismatchError(DriverError):
    """The SSH server presented a host key that differs from the pinned one."""


class ConnectionLostError(DriverError):
    """An established management connection dropped."""


class NodeLostError(DriverError):
    """The node was found gone earlier in the run (its management connection dropped and did not come back): tests
    that need it fail at once with that cause, instead of each waiting for a connection timeout."""


class CommandTimeoutError(DriverError):
    """A command did not complete within its timeout.  Partial output is kept."""

    def __init__(self, node: str, command: str, timeout: float, partial_output: str = "") -> None:
        self.command = command
        self.timeout = timeout
        self.partial_output = partial_output
        super().__init__(node, f"command {command!r} did not finish within {timeout:g} s")


class ConsoleError(DriverError):
    """A serial console did not behave (no login prompt, no shell prompt, lost marker)."""


class CaptureError(InfrastructureError):
    """The tester could not open, send on or capture from a link."""
