"""Negative controls in the RFC 5380 edition: check points that judge only there (RFC 5380's own requirement IDs).

The mechanism of test_negative_controls.py (the broken core replaces the DUT's daemon in its own virtual testbed)
with ``edition="rfc5380"``: the rows of ``variants.VARIANTS_RFC5380``, the suite run with ``--edition rfc5380``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness import paths

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_negative_controls import DUT, run_caught  # noqa: E402
from variants import VARIANTS_RFC5380  # noqa: E402


@pytest.mark.netns
@pytest.mark.parametrize("name", sorted(VARIANTS_RFC5380))
def test_variant_is_caught_rfc5380(tmp_path: Path, name: str) -> None:
    role, test, expected, requirement, _ = VARIANTS_RFC5380[name]
    run_caught(tmp_path, name, role, paths.SUITE_DIR, test, expected, requirement, edition="rfc5380")


def test_rfc5380_rows_name_rfc5380_requirements() -> None:
    """Every row names an RFC 5380 requirement (one the rfc4140 rows cannot reach)."""
    from conformance.catalog import load_catalog

    catalog = load_catalog()
    for name, (role, _test, verdict, requirement, _factory) in VARIANTS_RFC5380.items():
        assert role in DUT and verdict in ("FAIL", "WARN"), name
        assert "rfc5380" in catalog[requirement].editions, f"{name}: {requirement} is not an rfc5380 requirement"
