"""Manually keyed Security Associations for MN-MAP signalling (base document §12.1).

"Binding updates between the MAP and the mobile node MUST be protected with either AH or ESP in transport mode.
When ESP is used, a non-null authentication algorithm MUST be used."  Every SA here therefore carries an
integrity algorithm; anything the suite cannot honour is refused with :class:`SaConfigError` at load time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .algorithms import (
    AUTH_ALGORITHMS, ENCRYPTION_ALGORITHMS, AuthAlgorithm, EncryptionAlgorithm, KeyedAuth, KeyedCipher,
)
from .errors import SaConfigError

__all__ = ["Decapsulated", "SecurityAssociation"]

SPI_MIN = 256  # RFC 4303 §2.1: 1..255 reserved by IANA, 0 reserved for local use / never sent
SPI_MAX = 0xFFFFFFFF
NULL_AUTH_NAMES = ("null", "none", "")
BASE_12_1 = ('base document §12.1: "Binding updates between the MAP and the mobile node MUST be protected with '
             'either AH or ESP in transport mode.  When ESP is used, a non-null authentication algorithm MUST '
             'be used."')
CONFIG_KEYS = frozenset({"spi", "protocol", "auth", "auth_key", "encryption", "enc_key", "replay_window"})
REQUIRED_KEYS = ("spi", "protocol", "auth", "auth_key")


def check_replay_window_size(size: object) -> None:
    """0 (anti-replay off) or 32..1024 in steps of 32 (RFC 4303 §3.4.3: minimum 32, default 64)."""
    if isinstance(size, bool) or not isinstance(size, int) or not (
            size == 0 or (32 <= size <= 1024 and size % 32 == 0)):
        raise SaConfigError(f"replay_window {size!r}: must be 0 (anti-replay off) or 32..1024 in multiples of 32 "
                            "(RFC 4303 §3.4.3)")


@dataclass(frozen=True)
class SecurityAssociation:
    """One direction's SA: SPI, protocol ("esp" | "ah"), integrity algorithm and key, ESP cipher and key.

    Keys stay out of ``repr``.  The keyed HMAC and cipher objects are built once in ``__post_init__`` and kept
    outside the dataclass fields (``keyed_auth``, ``keyed_cipher``), so equality, hashing and ``asdict`` see only
    the configuration.
    """

    spi: int
    protocol: str
    auth: str
    auth_key: bytes = field(repr=False)
    encryption: str = "null"
    enc_key: bytes = field(default=b"", repr=False)
    replay_window: int = 64

    def __post_init__(self) -> None:
        if isinstance(self.spi, bool) or not isinstance(self.spi, int) or not SPI_MIN <= self.spi <= SPI_MAX:
            raise SaConfigError(f"spi {self.spi!r}: must be 256..2**32-1 (RFC 4303 §2.1: 0 is never sent, "
                                "1..255 are reserved by IANA)")
        if self.protocol not in ("esp", "ah"):
            raise SaConfigError(f"protocol {self.protocol!r}: must be 'esp' or 'ah' (base document §12.1)")
        if self.auth is None or (isinstance(self.auth, str) and self.auth.lower() in NULL_AUTH_NAMES):
            extra = "" if self.protocol == "esp" else " (AH without an integrity algorithm is meaningless)"
            raise SaConfigError(f"{self.protocol.upper()} SA {self.spi:#x} with auth {self.auth!r} refused{extra}: "
                                f"{BASE_12_1}")
        auth = AUTH_ALGORITHMS.get(self.auth) if isinstance(self.auth, str) else None
        if auth is None:
            raise SaConfigError(f"auth {self.auth!r}: unknown, expected one of {sorted(AUTH_ALGORITHMS)}")
        if not isinstance(self.auth_key, bytes) or len(self.auth_key) != auth.key_length:
            raise SaConfigError(f"auth_key for {auth.name} must be {auth.key_length} octets ({auth.rfc}), got "
                                f"{_length(self.auth_key)}")
        enc = ENCRYPTION_ALGORITHMS.get(self.encryption) if isinstance(self.encryption, str) else None
        if enc is None:
            raise SaConfigError(f"encryption {self.encryption!r}: unknown, expected one of "
                                f"{sorted(ENCRYPTION_ALGORITHMS)}")
        if self.protocol == "ah" and (enc.name != "null" or self.enc_key):
            raise SaConfigError(f"AH SA {self.spi:#x} with encryption {self.encryption!r}: AH provides no "
                                "confidentiality (RFC 4302 §1); use ESP")
        if not isinstance(self.enc_key, bytes) or len(self.enc_key) not in enc.key_lengths:
            wanted = " or ".join(str(n) for n in enc.key_lengths)
            raise SaConfigError(f"enc_key for {enc.name} must be {wanted} octets ({enc.rfc}), got "
                                f"{_length(self.enc_key)}")
        check_replay_window_size(self.replay_window)
        object.__setattr__(self, "_keyed_auth", auth.keyed(self.auth_key))
        object.__setattr__(self, "_keyed_cipher", enc.keyed(self.enc_key))

    @property
    def auth_algorithm(self) -> AuthAlgorithm:
        return AUTH_ALGORITHMS[self.auth]

    @property
    def encryption_algorithm(self) -> EncryptionAlgorithm:
        return ENCRYPTION_ALGORITHMS[self.encryption]

    @property
    def keyed_auth(self) -> KeyedAuth:
        """The SA's integrity algorithm with its key applied."""
        return self._keyed_auth  # type: ignore[attr-defined]

    @property
    def keyed_cipher(self) -> KeyedCipher:
        """The SA's cipher with its key applied (identity for NULL)."""
        return self._keyed_cipher  # type: ignore[attr-defined]

    def __reduce__(self):  # the keyed objects are rebuilt, not pickled
        return (type(self), (self.spi, self.protocol, self.auth, self.auth_key, self.encryption, self.enc_key,
                             self.replay_window))

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> SecurityAssociation:
        """An SA from a configuration mapping (YAML/JSON): ``spi`` (int or "0x.." string), ``protocol``,
        ``auth``, ``auth_key`` (hex), optional ``encryption``, ``enc_key`` (hex), ``replay_window``.

        Unknown or missing keys and undecodable values raise :class:`SaConfigError`.
        """
        if not isinstance(raw, Mapping):
            raise SaConfigError(f"security association must be a mapping, got {type(raw).__name__}")
        unknown = sorted(str(k) for k in raw if k not in CONFIG_KEYS)
        if unknown:
            raise SaConfigError(f"security association: unknown key(s) {', '.join(unknown)} "
                                f"(allowed: {', '.join(sorted(CONFIG_KEYS))})")
        missing = [k for k in REQUIRED_KEYS if k not in raw]
        if missing:
            raise SaConfigError(f"security association: missing key(s) {', '.join(missing)}")
        spi = raw["spi"]
        if isinstance(spi, str):
            try:
                spi = int(spi.strip(), 0)
            except ValueError:
                raise SaConfigError(f"spi {raw['spi']!r}: not an integer (e.g. 4096 or '0x1000')") from None
        kwargs: dict[str, Any] = {
            "spi": spi,
            "protocol": _name(raw, "protocol"),
            "auth": _name(raw, "auth"),
            "auth_key": _hex(raw, "auth_key"),
        }
        if "encryption" in raw:
            kwargs["encryption"] = _name(raw, "encryption")
        if "enc_key" in raw:
            kwargs["enc_key"] = _hex(raw, "enc_key")
        if "replay_window" in raw:
            kwargs["replay_window"] = raw["replay_window"]
        return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class Decapsulated:
    """What ESP/AH processing hands up: the sequence number, the protected next header and its bytes."""

    seq: int
    next_header: int
    payload: bytes


def _length(value: object) -> str:
    return f"{len(value)}" if isinstance(value, bytes) else f"a {type(value).__name__}"


def _name(raw: Mapping[str, Any], key: str) -> str:
    value = raw[key]
    if value is None:
        return "null" if key in ("auth", "encryption") else ""
    if not isinstance(value, str):
        raise SaConfigError(f"{key} {value!r}: must be a string")
    return value.strip().lower()


def _hex(raw: Mapping[str, Any], key: str) -> bytes:
    value = raw[key]
    if not isinstance(value, str):
        raise SaConfigError(f"{key}: must be a hex string, got {type(value).__name__}")
    text = value.strip()
    text = text[2:] if text[:2].lower() == "0x" else text
    try:
        return bytes.fromhex(text.replace(":", ""))
    except ValueError:
        raise SaConfigError(f"{key}: not a hex string") from None
