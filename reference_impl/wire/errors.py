"""The one exception the decoder raises.

``decode_*`` functions never let any other exception escape: malformed input of any kind (truncation, bad
lengths, bad checksums, forbidden option lengths, unsupported headers) becomes a :class:`DecodeError` naming the
reason and the byte offset (from the start of the buffer handed to the top-level decode call) where it was found.
"""

from __future__ import annotations

__all__ = ["DecodeError"]


class DecodeError(ValueError):
    """Malformed or unsupported input.  ``reason`` is a short stable text, ``offset`` the byte position."""

    def __init__(self, reason: str, offset: int) -> None:
        self.reason = reason
        self.offset = offset
        super().__init__(f"{reason} (at byte {offset})")

    def __reduce__(self):  # keep picklable despite the custom signature
        return (type(self), (self.reason, self.offset))
