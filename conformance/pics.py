"""The registry of PICS items (``pics.yaml``) and validation of a DUT's claims against it."""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PICS_FILE = Path(__file__).with_name("pics.yaml")


@dataclasses.dataclass(frozen=True)
class PicsItem:
    key: str
    roles: tuple[str, ...]
    description: str
    basis: str | None = None
    why_optional: str | None = None
    editions: tuple[str, ...] = ("rfc4140", "rfc5380")
    parameters: tuple[str, ...] = ()
    #: the question the PICS proforma asks the DUT's vendor (when it says more than the description)
    question: str | None = None
    #: the claim assumed when the testbed file does not declare the item (None: not claimed)
    default: bool | None = None


@lru_cache(maxsize=1)
def registry() -> dict[str, PicsItem]:
    raw = yaml.safe_load(PICS_FILE.read_text())
    items = {}
    for key, spec in raw.items():
        if not spec.get("basis") and not spec.get("why_optional"):
            raise ValueError(f"{PICS_FILE}: PICS {key!r} needs a 'basis' requirement or 'why_optional'")
        items[key] = PicsItem(key, tuple(spec["roles"]), spec["description"].strip(), spec.get("basis"),
                              spec.get("why_optional"), tuple(spec.get("editions", ("rfc4140", "rfc5380"))),
                              tuple(spec.get("parameters", {})), (spec.get("question") or "").strip() or None,
                              spec.get("default"))
        if items[key].default not in (None, True, False):
            raise ValueError(f"{PICS_FILE}: PICS {key!r}: default must be true or false")
    return items


def unknown_keys(claims: dict[str, Any]) -> list[str]:
    return sorted(set(claims) - set(registry()))


def claimed(claims: dict[str, Any], key: str) -> bool:
    """Whether the DUT claims ``key`` (``true`` or a mapping of parameters); an item the DUT does not declare is
    claimed when its registry ``default`` is true."""
    if key not in claims:
        item = registry().get(key)
        return bool(item is not None and item.default)
    value = claims[key]
    return value is True or isinstance(value, dict)


def parameter(claims: dict[str, Any], key: str, name: str, default: Any = None) -> Any:
    value = claims.get(key)
    return value.get(name, default) if isinstance(value, dict) else default
