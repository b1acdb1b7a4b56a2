"""Integrity and encryption algorithms for ESP/AH, keyed once per SA.

Integrity: HMAC-SHA1-96 (RFC 2404: 160-bit key, 96-bit ICV) and HMAC-SHA-256-128 (RFC 4868 §2.1: 256-bit key,
128-bit ICV), computed with :mod:`hmac`; the keyed HMAC object is built once and copied per packet.
Encryption (ESP only): NULL (RFC 2410) and AES-CBC (RFC 3602: 128/192/256-bit key, explicit 16-octet IV per
packet, no padding of its own: ESP's padding fills the last block, RFC 3602 §2.4), keyed once per SA too.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Callable

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = [
    "AUTH_ALGORITHMS", "ENCRYPTION_ALGORITHMS", "AuthAlgorithm", "EncryptionAlgorithm", "KeyedAuth", "KeyedCipher",
]


@dataclass(frozen=True, slots=True)
class AuthAlgorithm:
    """An HMAC-based integrity algorithm: the ICV is the HMAC truncated to ``icv_length`` octets."""

    name: str
    rfc: str
    digest: Callable[..., object]  # hashlib constructor
    key_length: int
    icv_length: int

    def keyed(self, key: bytes) -> KeyedAuth:
        return KeyedAuth(hmac.new(key, digestmod=self.digest), self.icv_length)


class KeyedAuth:
    """A keyed HMAC, reused for every packet of one SA (a copy of the keyed state per ICV)."""

    __slots__ = ("_proto", "icv_length")

    def __init__(self, proto: hmac.HMAC, icv_length: int) -> None:
        self._proto = proto
        self.icv_length = icv_length

    def icv(self, *parts: bytes) -> bytes:
        """The truncated HMAC over the concatenation of ``parts`` (RFC 2404 §2, RFC 4868 §2.3)."""
        h = self._proto.copy()
        for part in parts:
            h.update(part)
        return h.digest()[:self.icv_length]


@dataclass(frozen=True, slots=True)
class EncryptionAlgorithm:
    """A block cipher mode for ESP (``block_size`` 1 = stream/NULL, ``iv_length`` 0 = no IV)."""

    name: str
    rfc: str
    key_lengths: tuple[int, ...]
    iv_length: int
    block_size: int

    @property
    def alignment(self) -> int:
        """Ciphertext length granularity: the block size, and at least 4 octets (RFC 4303 §2.4)."""
        return max(self.block_size, 4)

    def keyed(self, key: bytes) -> KeyedCipher:
        return KeyedCipher(algorithms.AES(key) if self.block_size > 1 else None)


class KeyedCipher:
    """AES-CBC for one SA's key, or NULL (identity) when ``aes`` is None.

    ``cryptography`` binds the IV into a CBC context, so a context per packet would cost more than the rest of
    ESP.  Instead one ECB encryptor and decryptor per SA are kept and CBC is chained here (NIST SP 800-38A §6.2):
    C_i = E(P_i xor C_(i-1)), P_i = D(C_i) xor C_(i-1), C_0 = IV.  ECB contexts carry no state between blocks, so
    sharing them between packets is safe.  Input lengths are whole blocks (ESP's padding guarantees it on send;
    the decapsulator checks it first).
    """

    __slots__ = ("_encrypt", "_decrypt")

    def __init__(self, aes: algorithms.AES | None) -> None:
        if aes is None:
            self._encrypt = self._decrypt = None
        else:
            self._encrypt = Cipher(aes, modes.ECB()).encryptor().update
            self._decrypt = Cipher(aes, modes.ECB()).decryptor().update

    def encrypt(self, iv: bytes, plaintext: bytes) -> bytes:
        if self._encrypt is None:
            return plaintext
        encrypt, blocks = self._encrypt, []
        previous = int.from_bytes(iv, "big")
        for i in range(0, len(plaintext), 16):
            block = encrypt((int.from_bytes(plaintext[i:i + 16], "big") ^ previous).to_bytes(16, "big"))
            blocks.append(block)
            previous = int.from_bytes(block, "big")
        return b"".join(blocks)

    def decrypt(self, iv: bytes, ciphertext: bytes) -> bytes:
        if self._decrypt is None:
            return ciphertext
        chained = int.from_bytes(iv + ciphertext[:-16], "big")
        return (int.from_bytes(self._decrypt(ciphertext), "big") ^ chained).to_bytes(len(ciphertext), "big")


AUTH_ALGORITHMS: dict[str, AuthAlgorithm] = {
    "hmac-sha1-96": AuthAlgorithm("hmac-sha1-96", "RFC 2404", hashlib.sha1, 20, 12),
    "hmac-sha256-128": AuthAlgorithm("hmac-sha256-128", "RFC 4868", hashlib.sha256, 32, 16),
}

ENCRYPTION_ALGORITHMS: dict[str, EncryptionAlgorithm] = {
    "null": EncryptionAlgorithm("null", "RFC 2410", (0,), 0, 1),
    "aes-cbc": EncryptionAlgorithm("aes-cbc", "RFC 3602", (16, 24, 32), 16, 16),
}
