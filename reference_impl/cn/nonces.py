"""The correspondent node's node keys and nonces (RFC 6275 §5.2.1, §5.2.2, §5.2.7).

Nonces are made on demand: the current nonce stays current until ``interval`` seconds after it was first handed
out, then the next request gets a new nonce with the next index ("the correspondent node may also attempt to
generate new nonces on demand ... as long as [it] keeps track of how long a time ago the nonces were used for the
first time").  A nonce is accepted for ``max_lifetime`` seconds after its first use (MAX_NONCE_LIFETIME) and then
forgotten, so a token handed out at the end of its 30 s period stays usable for 210 s (MAX_TOKEN_LIFETIME).
With ``regenerate_key`` each new nonce also gets a fresh Kcn, so a nonce index identifies both (§5.2.7 SHOULD).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Nonce", "NonceTable"]


@dataclass(slots=True)
class Nonce:
    index: int
    value: bytes
    kcn: bytes
    created: float
    first_used: float | None = None

    def age(self, now: float) -> float:
        return now - (self.first_used if self.first_used is not None else self.created)


def _random_bytes(rng: random.Random, n: int) -> bytes:
    return rng.getrandbits(8 * n).to_bytes(n, "big")


class NonceTable:
    __slots__ = ("_current", "_key", "_length", "_next_index", "_regenerate", "_rng", "nonces")

    def __init__(self, rng: random.Random, *, node_key: bytes | None, length: int, regenerate_key: bool) -> None:
        self._rng = rng
        self._length = length
        self._regenerate = regenerate_key
        self._key = node_key if node_key is not None else _random_bytes(rng, 20)
        self._next_index = rng.randrange(0x10000)
        self._current: Nonce | None = None
        self.nonces: dict[int, Nonce] = {}

    def _new(self, now: float) -> Nonce:
        if self._regenerate and self._current is not None:
            self._key = _random_bytes(self._rng, 20)
        nonce = Nonce(self._next_index, _random_bytes(self._rng, self._length), self._key, now)
        self._next_index = (self._next_index + 1) & 0xFFFF
        self.nonces[nonce.index] = nonce
        self._current = nonce
        return nonce

    def current(self, now: float, interval: float, max_lifetime: float) -> Nonce:
        """The nonce to use in a HoT/CoT sent at ``now`` (RFC 6275 §9.4.3, §9.4.4), marked as used."""
        self.purge(now, max_lifetime)
        cur = self._current
        stale = cur is not None and cur.first_used is not None and now - cur.first_used >= interval
        if cur is None or cur.index not in self.nonces or stale:
            cur = self._new(now)
        if cur.first_used is None:
            cur.first_used = now
        return cur

    def lookup(self, index: int, now: float, max_lifetime: float) -> Nonce | None:
        """The nonce with this index if it is still recent enough to be recognised (§5.2.2: expired values MUST be
        discarded), else None."""
        nonce = self.nonces.get(index)
        if nonce is None or nonce.first_used is None or nonce.age(now) > max_lifetime:
            return None
        return nonce

    def purge(self, now: float, max_lifetime: float) -> None:
        for index in [i for i, n in self.nonces.items() if n.first_used is not None and n.age(now) > max_lifetime]:
            del self.nonces[index]

    def forget_all(self) -> None:
        """Lose every nonce (as after a reboot, §5.2.7): outstanding tokens then fail with 136/137/138."""
        self.nonces.clear()
        self._current = None
