"""A test purpose's description, TAHI style, read from its docstring.

Every test purpose's docstring is a list of headed fields::

    Purpose:        what the DUT must do
    Topology:       the links and nodes involved (optional)
    Procedure:      1. ...  2. ...
    Judgement:      1. ...
    Reference:      base §6.1 "..."

A heading is a capitalised word followed by a colon at the start of a line; the lines after it, up to the
next heading, continue its text (re-flowed: one space between words, numbered steps kept on their own line).
"""

from __future__ import annotations

import re

FIELDS = ("purpose", "topology", "initialisation", "procedure", "judgement", "reference")
_HEADING = re.compile(r"^\s*([A-Z][a-z]+):\s*(.*)$")
_STEP = re.compile(r"(?<=\S)\s+(?=\d{1,2}\.\s)")  # "... 2. next step" -> a line break before "2."


def parse(doc: str | None) -> dict[str, str]:
    """The fields of ``doc`` (lower-case names, in text order); text before the first heading is ``summary``."""
    fields: dict[str, list[str]] = {}
    current = "summary"
    for line in (doc or "").splitlines():
        m = _HEADING.match(line)
        if m and m.group(1).lower() in FIELDS:
            current = m.group(1).lower()
            line = m.group(2)
        fields.setdefault(current, []).append(line.strip())
    out = {}
    for name, lines in fields.items():
        text = " ".join(x for x in lines if x)
        if name == "procedure" or name == "judgement":
            text = _STEP.sub("\n", text)
        if text:
            out[name] = text
    return out
