"""Negative controls: every MUST-level test purpose catches a DUT that violates its requirement.

For each variant (tests/negative/variants.py) the virtual testbed runs that broken core as the DUT in
place of the reference daemon (the testbed's replace-by-command mechanism), and the test purpose that
judges the violated requirement must give the expected verdict, naming the requirement.  A test purpose
that PASSes against a broken DUT could not fail: this matrix is what proves it can.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness import paths

sys.path.insert(0, str(Path(__file__).resolve().parent))
from variants import TESTBED, VARIANTS  # noqa: E402

pytestmark = pytest.mark.netns
RUNNER = Path(__file__).resolve().parent / "run_variant.py"
DUT = {"map": "map1", "ar": "ar1", "mn": "mn"}


def _testbed_with_variant(tmp_path: Path, name: str, role: str) -> Path:
    doc = yaml.safe_load(paths.DEFAULT_TESTBED.read_text())
    doc["nodes"][DUT[role]]["command"] = f"{{python}} {RUNNER} {name} --config {{config}}"
    doc["dut"] = DUT[role]
    changes = TESTBED.get(name, {})
    doc["pics"] = {**(doc.get("pics") or {}), **changes.get("pics", {})}
    if changes.get("daemon_options"):
        node = doc["nodes"][DUT[role]]
        node["daemon_options"] = {**(node.get("daemon_options") or {}), **changes["daemon_options"]}
    path = tmp_path / "testbed.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_caught(tmp_path: Path, name: str, role: str, suite: Path, test: str, expected: str, requirement: str) -> None:
    """Run test purpose ``test`` of ``suite`` with variant ``name`` as the DUT; it must give ``expected`` naming
    ``requirement``, and the exit status must be non-zero exactly for a FAIL."""
    testbed = _testbed_with_variant(tmp_path, name, role)
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "pytest", str(suite), f"--testbed={testbed}",
                           f"--dut-role={role}", f"--run-dir={run_dir}", "-k", test, "-p", "no:cacheprovider",
                           "-o", "addopts=", "-q"], capture_output=True, text=True, timeout=300, cwd=paths.ROOT)
    doc = json.loads((run_dir / "results.json").read_text())
    judged = [r for r in doc["results"] if r["nodeid"].endswith(f"::{test}")]
    assert judged, f"{test} did not run: {proc.stdout[-1500:]}"
    result = judged[0]
    assert result["verdict"] == expected, \
        f"variant {name}: {test} gave {result['verdict']} ({result['reason']}), expected {expected}"
    assert requirement in result["reason"], f"variant {name}: the verdict does not name {requirement}: {result['reason']}"
    if expected == "FAIL":
        assert proc.returncode != 0, "a MUST-level FAIL must make the run's exit status non-zero"
    else:
        assert proc.returncode == 0, f"a {expected} alone must keep the run's exit status zero: {proc.stdout[-1500:]}"


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_is_caught(tmp_path: Path, name: str) -> None:
    role, test, expected, requirement, _ = VARIANTS[name]
    run_caught(tmp_path, name, role, paths.SUITE_DIR, test, expected, requirement)
