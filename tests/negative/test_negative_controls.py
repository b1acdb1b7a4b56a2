"""Negative controls: every MUST-level test purpose catches a DUT that violates its requirement.

For each variant (tests/negative/variants.py) the virtual testbed runs that broken core as the DUT in
place of the reference daemon (the testbed's replace-by-command mechanism), and the test purpose that
judges the violated requirement must give the expected verdict, naming the requirement.  A test purpose
that PASSes against a broken DUT could not fail: this matrix is what proves it can.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
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


def _testbed_with_variant(tmp_path: Path, name: str, role: str, edition: str = "rfc4140") -> Path:
    doc = yaml.safe_load(paths.DEFAULT_TESTBED.read_text())
    doc["nodes"][DUT[role]]["command"] = f"{{python}} {RUNNER} {name} --edition {edition} --config {{config}}"
    doc["dut"] = DUT[role]
    changes = TESTBED.get(name, {})
    doc["pics"] = {**(doc.get("pics") or {}), **changes.get("pics", {})}
    if changes.get("daemon_options"):
        node = doc["nodes"][DUT[role]]
        node["daemon_options"] = {**(node.get("daemon_options") or {}), **changes["daemon_options"]}
    path = tmp_path / "testbed.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_variant(tmp_path: Path, name: str, role: str, suite: Path, test: str,
                edition: str = "rfc4140") -> subprocess.CompletedProcess:
    """Run test purpose ``test`` of ``suite`` in ``edition`` with variant ``name`` (from that edition's registry) as
    the DUT (its own testbed, with its own namespace prefix: several may run at once); the run directory is
    ``tmp_path / "run"``."""
    testbed = _testbed_with_variant(tmp_path, name, role, edition)
    return subprocess.run([sys.executable, "-m", "pytest", str(suite), f"--testbed={testbed}",
                           f"--dut-role={role}", f"--edition={edition}", f"--run-dir={tmp_path / 'run'}", "-k", test,
                           "-p", "no:cacheprovider", "-o", "addopts=", "-q"],
                          capture_output=True, text=True, timeout=300, cwd=paths.ROOT)


def run_caught(tmp_path: Path, name: str, role: str, suite: Path, test: str, expected: str, requirement: str,
               proc: subprocess.CompletedProcess | None = None, edition: str = "rfc4140") -> None:
    """Run (unless ``proc`` is the finished run) test purpose ``test`` of ``suite`` in ``edition`` with variant
    ``name`` as the DUT; it must give ``expected`` naming ``requirement``, and the exit status must be non-zero
    exactly for a FAIL."""
    if proc is None:
        proc = run_variant(tmp_path, name, role, suite, test, edition)
    run_dir = tmp_path / "run"
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


#: variant runs at once (each has its own testbed; they mostly wait on protocol timers).  2 on a 2-core box halves
#: the matrix's wall time; more makes timing-sensitive purposes (echo-loss detection windows) flaky there.
WORKERS = int(os.environ.get("HMIPV6CT_NEGATIVE_WORKERS", "2"))


@pytest.fixture(scope="session")
def variant_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The selected variants' runs, started in the background in test order, WORKERS at a time:
    {name: (tmp dir, future of the finished subprocess)}."""
    selected = [item.callspec.params["name"] for item in request.session.items
                if item.originalname == "test_variant_is_caught" and hasattr(item, "callspec")]
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, WORKERS))
    runs = {}
    for name in selected:
        role, test = VARIANTS[name][:2]
        directory = tmp_path_factory.mktemp(name)
        runs[name] = (directory, pool.submit(run_variant, directory, name, role, paths.SUITE_DIR, test))
    yield runs
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_is_caught(variant_runs, name: str) -> None:
    role, test, expected, requirement, _ = VARIANTS[name]
    directory, future = variant_runs[name]
    run_caught(directory, name, role, paths.SUITE_DIR, test, expected, requirement, proc=future.result())
