"""Negative controls in the RFC 5380 edition: check points that judge only there (RFC 5380's own requirement IDs).

Same mechanism as test_negative_controls.py (the broken core replaces the DUT's daemon in its own virtual testbed),
with the rows of ``variants.VARIANTS_RFC5380`` and the suite run with ``--edition rfc5380``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness import paths

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_negative_controls import DUT, run_caught  # noqa: E402
from variants import VARIANTS_RFC5380  # noqa: E402

RUNNER = Path(__file__).resolve().parent / "run_variant_rfc5380.py"


def _run(tmp_path: Path, name: str, role: str, test: str) -> subprocess.CompletedProcess:
    doc = yaml.safe_load(paths.DEFAULT_TESTBED.read_text())
    doc["nodes"][DUT[role]]["command"] = f"{{python}} {RUNNER} {name} --config {{config}}"
    doc["dut"] = DUT[role]
    testbed = tmp_path / "testbed.yaml"
    testbed.write_text(yaml.safe_dump(doc, sort_keys=False))
    return subprocess.run([sys.executable, "-m", "pytest", str(paths.SUITE_DIR), f"--testbed={testbed}",
                           f"--dut-role={role}", "--edition=rfc5380", f"--run-dir={tmp_path / 'run'}", "-k", test,
                           "-p", "no:cacheprovider", "-o", "addopts=", "-q"],
                          capture_output=True, text=True, timeout=300, cwd=paths.ROOT)


@pytest.mark.netns
@pytest.mark.parametrize("name", sorted(VARIANTS_RFC5380))
def test_variant_is_caught_rfc5380(tmp_path: Path, name: str) -> None:
    role, test, expected, requirement, _ = VARIANTS_RFC5380[name]
    run_caught(tmp_path, name, role, paths.SUITE_DIR, test, expected, requirement,
               proc=_run(tmp_path, name, role, test))


def test_rfc5380_rows_name_rfc5380_requirements() -> None:
    """Every row names an RFC 5380 requirement (one the rfc4140 rows cannot reach)."""
    from conformance.catalog import load_catalog

    catalog = load_catalog()
    for name, (role, _test, verdict, requirement, _factory) in VARIANTS_RFC5380.items():
        assert role in DUT and verdict in ("FAIL", "WARN"), name
        assert "rfc5380" in catalog[requirement].editions, f"{name}: {requirement} is not an rfc5380 requirement"
