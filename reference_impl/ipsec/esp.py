"""ESP in transport mode (RFC 4303): SPI | Sequence Number | IV | ciphertext | ICV.

The ciphertext covers payload | padding 1, 2, 3, ... | Pad Length | Next Header (§2.3-§2.6); the ICV covers
everything before it (§3.3.4).  Anti-replay is the caller's: ``window.check`` → :func:`esp_decapsulate` →
``window.accept``.
"""

from __future__ import annotations

import hmac
import os
import struct

from .errors import IpsecError
from .sa import Decapsulated, SecurityAssociation

__all__ = ["esp_decapsulate", "esp_encapsulate", "esp_spi"]

_HEADER = struct.Struct("!II")
_PADDING = tuple(bytes(range(1, n + 1)) for n in range(256))  # default padding content, RFC 4303 §2.4


def esp_spi(data: bytes) -> tuple[int, int]:
    """(SPI, sequence number) from an ESP header, to find the SA and check the window before anything else."""
    if len(data) < 8:
        raise IpsecError(f"ESP header truncated: {len(data)} octets, need 8 (RFC 4303 §2)")
    return _HEADER.unpack_from(data)


def esp_encapsulate(sa: SecurityAssociation, seq: int, next_header: int, payload: bytes, *,
                    iv: bytes | None = None) -> bytes:
    """The ESP packet carrying ``payload`` (whose protocol is ``next_header``), to follow the IPv6 headers.

    Minimal default padding: the ciphertext ends on the cipher's block boundary and on a 4-octet boundary
    (RFC 4303 §2.4).  ``iv`` None draws a fresh random IV (RFC 3602 §2.3: unpredictable).
    """
    if sa.protocol != "esp":
        raise IpsecError(f"SA {sa.spi:#x} is an {sa.protocol.upper()} SA, not ESP")
    if not 0 <= seq <= 0xFFFFFFFF:
        raise IpsecError(f"sequence number {seq} outside 0..2**32-1 (RFC 4303 §2.2)")
    if not 0 <= next_header <= 255:
        raise IpsecError(f"next header {next_header} outside 0..255 (RFC 4303 §2.6)")
    enc = sa.encryption_algorithm
    if iv is None:
        iv = os.urandom(enc.iv_length) if enc.iv_length else b""
    elif len(iv) != enc.iv_length:
        raise IpsecError(f"IV of {len(iv)} octets, {enc.name} needs {enc.iv_length} ({enc.rfc})")
    pad = -(len(payload) + 2) % enc.alignment
    plaintext = b"".join((payload, _PADDING[pad], bytes((pad, next_header))))
    head = _HEADER.pack(sa.spi, seq) + iv + sa.keyed_cipher.encrypt(iv, plaintext)
    return head + sa.keyed_auth.icv(head)


def esp_decapsulate(sa: SecurityAssociation, data: bytes) -> Decapsulated:
    """Verify and open one ESP packet (``data`` = from the SPI to the end of the IPv6 payload).

    Order of checks: SPI, lengths, ICV in constant time before decryption (RFC 4303 §3.4.4.1), then Pad Length
    and the default padding content 1, 2, 3, ... (§2.4).  Every failure is an :class:`IpsecError`.
    """
    if sa.protocol != "esp":
        raise IpsecError(f"SA {sa.spi:#x} is an {sa.protocol.upper()} SA, not ESP")
    data = bytes(data)
    spi, seq = esp_spi(data)
    if spi != sa.spi:
        raise IpsecError(f"SPI {spi:#x} does not match the SA's {sa.spi:#x} (RFC 4303 §3.4.2)")
    enc = sa.encryption_algorithm
    icv_length = sa.auth_algorithm.icv_length
    start = 8 + enc.iv_length
    end = len(data) - icv_length
    if end - start < enc.alignment:
        raise IpsecError(f"ESP packet of {len(data)} octets too short for {enc.name} with {sa.auth} "
                         f"(RFC 4303 §2)")
    if (end - start) % enc.alignment:
        raise IpsecError(f"ciphertext of {end - start} octets is not a multiple of {enc.alignment} "
                         f"(RFC 4303 §2.4, {enc.rfc})")
    if not hmac.compare_digest(sa.keyed_auth.icv(data[:end]), data[end:]):
        raise IpsecError("ICV mismatch (RFC 4303 §3.4.4.1)")
    plaintext = sa.keyed_cipher.decrypt(data[8:start], data[start:end])
    pad, next_header = plaintext[-2], plaintext[-1]
    payload_end = len(plaintext) - 2 - pad
    if payload_end < 0:
        raise IpsecError(f"Pad Length {pad} exceeds the {len(plaintext) - 2} octets before it (RFC 4303 §2.5)")
    if plaintext[payload_end:-2] != _PADDING[pad]:
        raise IpsecError("padding is not the default 1, 2, 3, ... (RFC 4303 §2.4)")
    return Decapsulated(seq, next_header, plaintext[:payload_end])
