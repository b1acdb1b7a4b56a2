"""The pytest plugin's verdicts: infrastructure errors are ERROR, violations FAIL, skips NOT RUN."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

SUITE = """
import pytest
from harness.errors import ConnectionLostError

@pytest.mark.tp(id="TP-PASS", title="passes", requirements=["HMIP-X-1"], roles=["map"])
def test_pass():
    assert True

@pytest.mark.tp(id="TP-FAIL", title="violation", roles=["map"])
def test_fail():
    assert 1 == 2, "BA status was 128, expected 135"

@pytest.mark.tp(id="TP-ERROR", title="lost console", roles=["mn"])
def test_error():
    raise ConnectionLostError("mn", "serial console closed")

@pytest.mark.tp(id="TP-SKIP", title="not applicable", roles=["ar"])
def test_skip():
    pytest.skip("DUT declares no echo-based failure detection")

@pytest.fixture
def broken():
    raise RuntimeError("testbed half built")

@pytest.mark.tp(id="TP-SETUP", title="setup error")
def test_setup_error(broken):
    pass
"""


def run(pytester: pytest.Pytester, *args: str) -> dict:
    pytester.makepyfile(test_suite=SUITE)
    run_dir = pytester.path / "run"
    pytester.runpytest(f"--run-dir={run_dir}", *args)  # the plugin loads through its pytest11 entry point
    return json.loads((run_dir / "results.json").read_text())


def test_verdicts(pytester: pytest.Pytester) -> None:
    doc = run(pytester)
    verdicts = {r["test_purpose"]: r for r in doc["results"]}
    assert {k: v["verdict"] for k, v in verdicts.items()} == {
        "TP-PASS": "PASS", "TP-FAIL": "FAIL", "TP-ERROR": "ERROR", "TP-SKIP": "NOT RUN", "TP-SETUP": "ERROR"}
    assert "BA status was 128" in verdicts["TP-FAIL"]["reason"]
    assert "serial console closed" in verdicts["TP-ERROR"]["reason"]
    assert "echo-based" in verdicts["TP-SKIP"]["reason"]
    assert verdicts["TP-PASS"]["requirements"] == ["HMIP-X-1"]
    assert doc["counts"] == {"PASS": 1, "FAIL": 1, "ERROR": 2, "NOT RUN": 1}


def test_role_selection(pytester: pytest.Pytester) -> None:
    doc = run(pytester, "--dut-role=mn")
    assert sorted(r["test_purpose"] for r in doc["results"]) == ["TP-ERROR", "TP-SETUP"]
