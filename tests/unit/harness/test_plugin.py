"""The pytest plugin itself: markers, verdicts by keyword, applicability, journaling, exit status.

Runs small suites with pytester (in a subprocess, as a real run would) against the real catalogue.
None of these touch a testbed: the plugin is exercised through ``judge`` and plain exceptions.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

pytest_plugins = ["pytester"]

MUST = "HMIP-4140-6.2-P2-MUST-2"        # BA MUST include a type 2 routing header (both editions)
SHOULD = "HMIP-4140-8-P1-RECOMMENDED-1"  # MAPs RECOMMENDED to forward to neighbouring domains
MAY = "HMIP-4140-6.2-P5-MAY-1"           # MAP MAY be configured with valid on-link prefixes
ONLY_5380 = "HMIP-5380-5-P10-SHOULD-1"   # Pref as tie-breaker (RFC 5380 only)
FORWARDING = "HMIP-4140-8-P1-MAY-1"      # an administrator MAY restrict forwarding (basis of a PICS item)

SUITE = f'''
import pytest
from harness.errors import ConnectionLostError
from harness.verdicts import Inconclusive

def tp(i, *reqs, **kw):
    def wrap(f):
        f = pytest.mark.tp(id=i, title=f.__name__)(f)
        f = pytest.mark.requirements(*reqs)(f)
        for key, values in kw.items():
            f = getattr(pytest.mark, key)(*values)(f)
        return f
    return wrap

@tp("T-PASS", "{MUST}")
def test_pass(judge):
    judge.check("{MUST}", True, "RH2 present")

@tp("T-FAIL", "{MUST}")
def test_fail(judge):
    judge.check("{MUST}", False, "BA without type 2 routing header")
    raise RuntimeError("never reached: a MUST violation stops the test")

@tp("T-WARN", "{SHOULD}")
def test_warn(judge):
    judge.check("{SHOULD}", False, "no forwarding to the neighbouring domain")

@tp("T-INFO", "{MAY}")
def test_info(judge):
    judge.check("{MAY}", False, "no on-link prefix list configured")

@tp("T-INCONCLUSIVE", "{MUST}")
def test_inconclusive(judge):
    judge.require(False, "the DUT never registered")

@tp("T-ERROR", "{MUST}")
def test_error(judge):
    raise ConnectionLostError("map1", "SSH connection dropped")

@pytest.fixture
def broken():
    raise RuntimeError("testbed half built")

@tp("T-SETUP", "{MUST}")
def test_setup_error(judge, broken):
    judge.check("{MUST}", False, "never judged")

@tp("T-EDITION", "{ONLY_5380}")
def test_edition(judge):
    judge.check("{ONLY_5380}", False, "must not run in the rfc4140 edition")

@tp("T-PICS", "{FORWARDING}", pics=("previous_map_forwarding",))
def test_pics(judge):
    judge.check("{FORWARDING}", True, "must not run: the testbed claims no previous-MAP forwarding")

@tp("T-OTHER-ROLE", "{MUST}", role=("mn",))
def test_other_role(judge):
    judge.check("{MUST}", False, "an MN test in a MAP run")

@tp("T-NOCHECK", "{MUST}")
def test_nocheck(judge):
    pass

@tp("T-SELF-SKIP", "{MUST}")
def test_self_skip(judge):
    pytest.skip("cannot judge")
'''


def _testbed_without_pics(pytester: pytest.Pytester) -> str:
    """The bundled testbed with an empty PICS section: these tests must not depend on what it claims."""
    import yaml

    from harness import paths

    doc = yaml.safe_load(paths.DEFAULT_TESTBED.read_text())
    doc["pics"] = {}
    path = pytester.path / "testbed.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return f"--testbed={path}"


def run(pytester: pytest.Pytester, *args: str, suite: str = SUITE):
    pytester.makepyfile(test_suite=suite)
    run_dir = pytester.path / "run"
    result = pytester.runpytest_subprocess(f"--run-dir={run_dir}", "-p", "no:cacheprovider",
                                           _testbed_without_pics(pytester), *args)
    doc = json.loads((run_dir / "results.json").read_text())
    return result, {r["test_purpose"]: r for r in doc["results"]}, doc


def test_verdicts_follow_the_keyword_and_the_failure_point(pytester: pytest.Pytester) -> None:
    result, by_id, doc = run(pytester)
    verdicts = {k: v["verdict"] for k, v in by_id.items()}
    assert verdicts == {
        "T-PASS": "PASS", "T-FAIL": "FAIL", "T-WARN": "WARN", "T-INFO": "INFO",
        "T-INCONCLUSIVE": "INCONCLUSIVE", "T-ERROR": "ERROR", "T-SETUP": "ERROR",
        "T-EDITION": "NOT APPLICABLE", "T-PICS": "NOT APPLICABLE",
        "T-NOCHECK": "INCONCLUSIVE", "T-SELF-SKIP": "INCONCLUSIVE",
    }, "T-OTHER-ROLE must not appear at all: another role's test purpose is not part of the run"
    assert MUST in by_id["T-FAIL"]["reason"] and "without type 2 routing header" in by_id["T-FAIL"]["reason"]
    assert "SSH connection dropped" in by_id["T-ERROR"]["reason"]
    assert "testbed half built" in by_id["T-SETUP"]["reason"]
    assert "previous_map_forwarding" in by_id["T-PICS"]["reason"] and "rfc4140" in by_id["T-EDITION"]["reason"]
    assert by_id["T-FAIL"]["level"] == "MUST" and by_id["T-WARN"]["level"] == "SHOULD"
    assert by_id["T-FAIL"]["checks"][0]["outcome"] == "FAIL"
    # pytest's own summary agrees with the verdicts
    result.assert_outcomes(passed=3, failed=2, errors=1, skipped=5, deselected=1)
    assert result.ret == 1, "a MUST-level FAIL or ERROR makes the run fail"


def test_provenance_and_counts(pytester: pytest.Pytester) -> None:
    _, _, doc = run(pytester)
    for key in ("suite_version", "git_commit", "testbed", "testbed_sha256", "edition", "dut", "pics", "started",
                "finished"):
        assert key in doc, key
    assert doc["dut"]["node"] == "map1" and doc["dut_role"] == "map" and doc["edition"] == "rfc4140"
    assert doc["counts"]["NOT APPLICABLE"] == 2 and doc["must_level_failures"] == 3


def test_only_should_and_may_findings_keep_exit_status_zero(pytester: pytest.Pytester) -> None:
    suite = SUITE.split("@tp(\"T-FAIL\"")[0] + f'''
@tp("T-WARN", "{SHOULD}")
def test_warn(judge):
    judge.check("{SHOULD}", False, "not followed")
'''
    result, by_id, _ = run(pytester, suite=suite)
    assert by_id["T-WARN"]["verdict"] == "WARN" and result.ret == 0


def test_edition_option_makes_rfc5380_tests_applicable(pytester: pytest.Pytester) -> None:
    _, by_id, _ = run(pytester, "--edition=rfc5380")
    assert by_id["T-EDITION"]["verdict"] == "WARN"
    assert by_id["T-PASS"]["verdict"] == "PASS", "a test of both editions runs in either"


def test_unknown_requirement_or_pics_gating_a_must_is_refused(pytester: pytest.Pytester) -> None:
    suite = f'''
import pytest
@pytest.mark.tp(id="T-BAD", title="x")
@pytest.mark.requirements("HMIP-9999-NOPE")
def test_a(judge): pass

@pytest.mark.tp(id="T-GATE", title="y")
@pytest.mark.requirements("{MUST}")
@pytest.mark.pics("onlink_prefix_list")
def test_b(judge): pass
'''
    pytester.makepyfile(test_suite=suite)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "unknown requirement HMIP-9999-NOPE" in err and "PICS onlink_prefix_list may only gate" in err


def test_check_against_an_undeclared_requirement_is_a_test_error(pytester: pytest.Pytester) -> None:
    suite = f'''
import pytest
@pytest.mark.tp(id="T-UNDECLARED", title="x")
@pytest.mark.requirements("{MUST}")
def test_a(judge):
    judge.check("{SHOULD}", True, "not declared")
'''
    _, by_id, _ = run(pytester, suite=suite)
    assert by_id["T-UNDECLARED"]["verdict"] == "ERROR" and "does not declare" in by_id["T-UNDECLARED"]["reason"]


def test_journal_keeps_finished_results_when_the_run_is_killed(pytester: pytest.Pytester) -> None:
    suite = f'''
import time, pytest
@pytest.mark.tp(id="T-FIRST", title="x")
@pytest.mark.requirements("{MUST}")
def test_first(judge):
    judge.check("{MUST}", True, "fine")

@pytest.mark.tp(id="T-HANGS", title="y")
@pytest.mark.requirements("{MUST}")
def test_hangs(judge):
    open("started", "w").close()
    time.sleep(60)
'''
    pytester.makepyfile(test_suite=suite)
    run_dir = pytester.path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "pytest", f"--run-dir={run_dir}", "-p", "no:cacheprovider",
                             "test_suite.py"], cwd=pytester.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (pytester.path / "started").exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the suite never reached the second test"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["test_purpose"] for line in lines] == ["T-FIRST"]
    assert json.loads(lines[0])["verdict"] == "PASS"


def test_negative_judgement_without_a_live_capture_is_inconclusive() -> None:
    from harness.tester.capture import Capture
    from harness.tester import Tester
    from harness.verdicts import Inconclusive

    class Silent:  # a tester whose capture sees nothing at all
        absent = Tester.absent
        def __init__(self):
            self.capture = Capture([], decoder=lambda data: data)
        def mark(self):
            return self.capture.mark()

    t = Silent()
    try:
        with pytest.raises(Inconclusive, match="capture alive"):
            t.absent(lambda f: True, window=0.2, alive=lambda f: True)
    finally:
        t.capture.close()


def test_results_list_every_requirement_of_the_role(pytester: pytest.Pytester) -> None:
    _, by_id, doc = run(pytester)
    records = {r["id"]: r for r in doc["requirements"]}
    assert records[MUST]["status"] == "covered"
    assert set(records[MUST]["tests"]) >= {"T-PASS", "T-FAIL", "T-INCONCLUSIVE", "T-ERROR"}
    assert records[MUST]["verdict"] == "FAIL", "the worst check point against the requirement"
    assert records[SHOULD]["judged_by"] == {"T-WARN": "WARN"} and records[SHOULD]["verdict"] == "WARN"
    assert records[MAY]["judged_by"] == {"T-INFO": "INFO"}
    # the catalogue says why this one cannot be checked: declaring it (as a PICS basis) does not change that
    assert (records[FORWARDING]["status"], records[FORWARDING]["verdict"]) == ("not-testable", "NOT TESTABLE")
    assert ONLY_5380 not in records or records[ONLY_5380]["verdict"] == "NOT APPLICABLE"
    # a testable requirement of the role that this suite does not judge is reported, as untested
    security = records["HMIP-4140-12.1-P6-MUST-1"]
    assert (security["status"], security["verdict"]) == ("untested", "UNTESTED")


def test_a_failing_teardown_is_an_error_of_its_own(pytester: pytest.Pytester) -> None:
    """A test purpose judged PASS whose teardown fails (e.g. a fault that could not be removed) keeps its verdict,
    and the teardown failure is reported as an ERROR entry that makes the exit status non-zero."""
    suite = SUITE.split("@tp(\"T-FAIL\"")[0] + '''
from harness.errors import TestbedError

@pytest.fixture
def sticky_fault():
    yield
    raise TestbedError("could not remove fault(s): packet_loss(rt): nft refused")

@tp("T-STICKY", "''' + MUST + '''")
def test_sticky(judge, sticky_fault):
    judge.check("''' + MUST + '''", True, "fine")
'''
    result, by_id, doc = run(pytester, suite=suite)
    assert by_id["T-STICKY"]["verdict"] == "PASS"
    errors = [r for r in doc["results"] if r["nodeid"].endswith("test_sticky (teardown)")]
    assert errors and errors[0]["verdict"] == "ERROR" and "nft refused" in errors[0]["reason"]
    assert result.ret == 1, "an infrastructure error in a teardown must not leave the exit status at 0"


def test_a_pics_item_of_another_edition_is_not_applicable(pytester: pytest.Pytester) -> None:
    """A purpose gated on an optional feature that only one edition has (dynamic MAP discovery: rfc4140; RFC 5380
    removed it) is NOT APPLICABLE in the other edition even when the testbed claims the feature, instead of running
    and ending INCONCLUSIVE because the DUT (rightly) does not do it."""
    import yaml

    from harness import paths

    suite = SUITE.split("@tp(")[0] + f'''
@tp("T-DYN", "{MUST}", pics=("dynamic_map_discovery",))
def test_dyn(judge):
    judge.check("{MUST}", True, "runs only where dynamic MAP discovery exists")
'''
    doc = yaml.safe_load(paths.DEFAULT_TESTBED.read_text())
    doc["pics"] = {"dynamic_map_discovery": True}
    (pytester.path / "claims.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    pytester.makepyfile(test_suite=suite)
    verdicts = {}
    for edition in ("rfc4140", "rfc5380"):
        run_dir = pytester.path / f"run-{edition}"
        pytester.runpytest_subprocess(f"--run-dir={run_dir}", "-p", "no:cacheprovider",
                                      f"--testbed={pytester.path / 'claims.yaml'}", f"--edition={edition}")
        (r,) = json.loads((run_dir / "results.json").read_text())["results"]
        verdicts[edition] = (r["verdict"], r["reason"])
    assert verdicts["rfc4140"][0] == "PASS"
    assert verdicts["rfc5380"][0] == "NOT APPLICABLE" and "do not exist in edition rfc5380" in verdicts["rfc5380"][1]
