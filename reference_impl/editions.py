"""Which HMIPv6 document a core follows (see EDITIONS.md for every behavioural difference).

``"rfc4140"``: the base document (draft-ietf-mipshop-hmipv6-04 = RFC 4140, Experimental).
``"rfc5380"``: RFC 5380 (Standards Track, obsoletes RFC 4140).
"""

from __future__ import annotations

from typing import Literal

__all__ = ["EDITIONS", "Edition", "check_edition"]

Edition = Literal["rfc4140", "rfc5380"]
EDITIONS: tuple[str, ...] = ("rfc4140", "rfc5380")


def check_edition(edition: str) -> Edition:
    if edition not in EDITIONS:
        raise ValueError(f"unknown edition {edition!r}; expected one of {', '.join(EDITIONS)}")
    return edition  # type: ignore[return-value]
