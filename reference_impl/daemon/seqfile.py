"""Outbound IPsec sequence numbers kept across daemon restarts (the I/O behind :class:`~reference_impl.security.
SequenceStore`).

A manually keyed SA has no key management to re-establish it after a restart, so a sender that started again at
sequence number 1 under the same key would send numbers its peer has already seen, and a peer with anti-replay on
drops them silently (RFC 4303 §3.4.3) until the counter passes the old right edge.  The daemon therefore stores a
high-water mark per SA before using numbers below it and restarts from it (RFC 4303 §3.3.3: the sender's numbers
must not cycle).  The file is JSON ``{key: next safe number}``, replaced atomically (write + rename); a file that
cannot be read is a :class:`SequenceFileError` naming it, never a silent restart at 1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["SequenceFile", "SequenceFileError"]


class SequenceFileError(Exception):
    pass


class SequenceFile:
    """A :class:`~reference_impl.security.SequenceStore` in one JSON file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._marks: dict[str, int] = {}
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise SequenceFileError(f"{self.path}: cannot read: {exc.strerror}") from None
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise SequenceFileError(f"{self.path}: not JSON ({exc}); remove it only if every peer's SA was "
                                    "re-established") from None
        if not isinstance(doc, dict) or not all(isinstance(k, str) and isinstance(v, int) and v >= 1
                                                for k, v in doc.items()):
            raise SequenceFileError(f"{self.path}: must map SA keys to sequence numbers >= 1")
        self._marks = doc

    def start(self, key: str) -> int:
        """The first sequence number this SA may use now (1 for an SA never used)."""
        return self._marks.get(key, 1)

    def reserve(self, key: str, mark: int) -> None:
        """Record that numbers below ``mark`` may have been used: a restart begins at ``mark``."""
        self._marks[key] = mark
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self._marks, sort_keys=True))
        os.replace(tmp, self.path)
