"""How a requirement's clause is written and linked: "rfc4140 §6.1 ¶2 MUST", and the RFC Editor URL of a section."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def rfc_link(document: str | None, section: str | None) -> str | None:
    """The RFC Editor URL of a section (the base document is numbered like RFC 4140)."""
    if not document or not document.startswith("rfc") or not section:
        return None
    return f"https://www.rfc-editor.org/rfc/{document}#section-{section}"


def clause(record: Mapping[str, Any], keyword: bool = True) -> str:
    """"rfc4140 §6.1 ¶2 MUST" for a requirement record (without the keyword: "rfc4140 §6.1 ¶2")."""
    para = f" ¶{record['paragraph']}" if record.get("paragraph") is not None else ""
    text = f"{record.get('document') or '?'} §{record.get('section')}{para}"
    return f"{text} {record.get('keyword')}" if keyword else text
