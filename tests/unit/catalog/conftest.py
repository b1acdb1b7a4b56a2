"""Shared fixtures for the requirements-catalog tests (run from the repository root)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from conformance.catalog import extract as ex  # noqa: E402
from conformance.catalog.model import load_catalog  # noqa: E402

SPEC = ROOT / "conformance" / "spec"
DOCS = {"rfc4140": ex.BASE_DOCUMENT, "rfc5380": ex.CURRENT_DOCUMENT}


@pytest.fixture(scope="session")
def spec_dir() -> Path:
    return SPEC


@pytest.fixture(scope="session")
def catalog():
    return load_catalog()


@pytest.fixture(scope="session")
def sentences() -> dict[str, list[ex.Sentence]]:
    """Every sentence of the base document (edition rfc4140) and of RFC 5380."""
    return {ed: ex.extract(SPEC / name) for ed, name in DOCS.items()}


@pytest.fixture(scope="session")
def rfc6275() -> list[ex.Sentence]:
    return ex.extract(SPEC / "rfc6275.txt")
