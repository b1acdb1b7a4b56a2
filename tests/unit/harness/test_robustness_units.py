"""Robustness of the harness without a testbed: secret redaction, lost nodes, and the verdict of a test whose DUT
crashed (the plugin through pytester, with a stand-in DUT whose testbed reports the crash).

The testbed-backed versions (a real sshd, console and daemon killed mid-test, a SIGKILLed runner, a planted password
searched in every file of a run) are in ``tests/integration/test_robustness.py``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import pytest

from harness import errors
from harness.drivers.base import CommandDriver, CommandResult
from harness.drivers.serial import ConsoleLog
from harness.errors import (ConnectError, ConnectionLostError, InfrastructureError, NodeLostError, redact,
                            redact_data, redact_exception, register_secret, register_secrets_in)
from harness.testbed.backend import TestbedBackend
from harness.testbed.model import Secret

pytest_plugins = ["pytester"]


# -- redaction ---------------------------------------------------------------------------------------------------------
def test_registered_secrets_are_masked_in_text_data_and_harness_errors() -> None:
    register_secret("unit-Secret-0001")
    register_secret(Secret("unit-Secret-0002", "testbed file"))
    register_secret("ab")  # too short to mask anything meaningfully: ignored
    assert redact("a unit-Secret-0001 b unit-Secret-0002") == "a ******** b ********"
    assert redact("ab cab") == "ab cab"
    assert redact_data({"unit-Secret-0001": ["x unit-Secret-0002", 3, None]}) == {"********": ["x ********", 3, None]}
    exc = ConnectError("r1", "refused for unit-Secret-0001")
    assert str(exc) == "r1: refused for ********" and "unit-Secret" not in repr(exc)


def test_every_secret_of_a_testbed_tree_is_registered() -> None:
    """Generic: anything typed Secret, however deep (nodes, a security section of frozen dataclasses, dicts)."""
    @dataclasses.dataclass(frozen=True)
    class Sa:
        spi: int
        auth_key: Secret
        enc_key: Secret | None

    @dataclasses.dataclass(frozen=True)
    class Security:
        pairs: tuple[Sa, ...]

    @dataclasses.dataclass
    class Spec:
        nodes: dict
        security: Security

    spec = Spec({"mn": {"password": Secret("unit-console-pw-3", "env X")}},
                Security((Sa(1, Secret("00112233445566778899aabbccddeeff", "derived"), None),)))
    assert register_secrets_in(spec) == 2
    assert redact("key 00112233445566778899aabbccddeeff pw unit-console-pw-3") == "key ******** pw ********"


def test_an_exception_chain_is_redacted_in_place() -> None:
    register_secret("unit-Secret-0003")
    try:
        try:
            raise OSError(5, "device said unit-Secret-0003")
        except OSError as inner:
            raise RuntimeError("wrapped unit-Secret-0003") from inner
    except RuntimeError as exc:
        redact_exception(exc)
        assert exc.args == ("wrapped ********",)
        assert "unit-Secret" not in str(exc.__cause__)


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    register_secret("unit-Secret-0004")
    errors.install_log_redaction()
    errors.install_log_redaction()  # idempotent
    with caplog.at_level(logging.INFO):
        logging.getLogger("harness.unit").info("typed %s on %s", "unit-Secret-0004", "mn")
    assert caplog.messages == ["typed ******** on mn"]


def test_the_console_log_masks_a_secret_cut_across_reads(tmp_path: Path) -> None:
    register_secret("unit-Console-pw-5")
    log = ConsoleLog(str(tmp_path / "console.log"))
    log.received(b"Password: unit-Con")
    log.received(b"sole-pw-5\r\nroot# ")
    log.sent("echo unit-Console-pw-5")
    log.event("lost unit-Console-pw-5")
    log.received(b"unit-Cons")  # a tail that could begin the secret: written at close
    log.close()
    text = (tmp_path / "console.log").read_text()
    assert "unit-Console-pw-5" not in text and text.count("********") == 3
    assert "<< unit-Cons\n" in text and "!! lost ********" in text


def test_a_key_file_is_registered_line_by_line(tmp_path: Path) -> None:
    from harness.testbed import services

    services.generate_ed25519_key(tmp_path / "key")
    errors.register_key_file(tmp_path / "key")
    body = [line for line in (tmp_path / "key").read_text().splitlines() if not line.startswith("-----")]
    long = [line for line in body if len(line) >= 16]
    assert long and all(redact(line) == "********" for line in long)
    joined = redact("".join(long))  # however the key is cut or joined
    assert set(joined) == set("*")


# -- lost nodes ------------------------------------------------------------------------------------------------------
class FakeDriver(CommandDriver):
    def __init__(self, node: str, up: dict[str, bool]) -> None:
        self.node, self.up, self.opened = node, up, 0

    def open(self) -> None:
        self.opened += 1
        if not self.up[self.node]:
            raise ConnectError(self.node, "connect to [::1]:22: Connection refused")

    def _run(self, command: str, timeout: float) -> CommandResult:
        return CommandResult(command, 0, "")

    def close(self) -> None:
        pass


class FakeBackend(TestbedBackend):
    lost_retry = 0.3

    def __init__(self) -> None:
        nodes = {name: type("Node", (), {"name": name})() for name in ("r1", "r2")}
        spec = type("Spec", (), {"nodes": nodes, "name": "fake"})()
        super().__init__(spec)
        self.up_ = {"r1": True, "r2": True}

    def up(self) -> None: ...
    def down(self) -> None: ...
    def tester_port(self, link): ...
    def attach(self, mn, router): ...

    def _make_driver(self, node):
        return FakeDriver(node.name, self.up_)


def test_a_node_that_answers_again_is_not_lost() -> None:
    tb = FakeBackend()
    tb.driver("r1").run("true")
    assert tb.recover("r1", "ConnectionLostError in T-1: r1: dropped") is True
    assert tb.lost == {} and tb.driver("r1").run("true").ok


def test_a_lost_node_fails_at_once_with_its_cause_and_is_retried_later() -> None:
    tb = FakeBackend()
    tb.driver("r1").run("true")
    tb.up_["r1"] = False
    assert tb.recover("r1", "ConnectionLostError in T-1: r1: SSH connection lost") is False
    opened = tb._drivers["r1"].opened
    start = time.monotonic()
    with pytest.raises(NodeLostError) as info:
        tb.driver("r1")
    assert time.monotonic() - start < 0.1 and tb._drivers["r1"].opened == opened, "not tried again at once"
    assert "ConnectionLostError in T-1" in str(info.value) and "reconnecting failed" in str(info.value)
    assert isinstance(info.value, InfrastructureError)
    assert tb.driver("r2").run("true").ok, "other nodes are not affected"
    health = tb.check_node(type("N", (), {"name": "r1", "interfaces": {}, "management": None})())
    assert not health.reachable and "lost earlier" in health.detail
    tb.lost["r1"] = (tb.lost["r1"][0], time.monotonic() - tb.lost_retry)  # its retry is due: tried, still down
    with pytest.raises(NodeLostError) as info:
        tb.driver("r1")
    assert tb._drivers["r1"].opened == opened + 1 and str(info.value).count("reconnecting failed") == 1
    tb.up_["r1"] = True
    deadline = time.monotonic() + 5
    while True:  # after lost_retry it is probed again, and found back
        try:
            assert tb.driver("r1").run("true").ok
            break
        except NodeLostError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert "r1" not in tb.lost


def test_a_connection_lost_error_is_a_driver_error_of_its_node() -> None:
    from harness.pytest_plugin import _driver_error

    try:
        try:
            raise ConnectionLostError("mn", "console lost")
        except ConnectionLostError as exc:
            raise InfrastructureError("the MN did not answer") from exc
    except InfrastructureError as exc:
        found = _driver_error(exc)
    assert found is not None and found.node == "mn"


# -- the plugin: a DUT that crashed mid-test, and secrets in a run's files ---------------------------------------------
MUST = "HMIP-4140-6.2-P2-MUST-2"

CRASH_CONFTEST = '''
import time
import pytest

class Backend:
    def __init__(self):
        self.failure = None
    def service_failure(self, node):
        return self.failure

class Dut:
    node = "map1"
    def __init__(self):
        self.backend = Backend()

@pytest.fixture
def dut():
    return Dut()
'''

CRASH_SUITE = f'''
import time
import pytest

MUST = "{MUST}"

def tp(i):
    def wrap(f):
        return pytest.mark.requirements(MUST)(pytest.mark.tp(id=i, title=f.__name__)(f))
    return wrap

def crash(dut, when=None):
    dut.backend.failure = ("hmipv6-map on map1 (pid 4242) ended (killed by signal 9)", when or time.time())

@tp("T-CRASH-PASS")
def test_crash_pass(dut, judge):
    judge.check(MUST, True, "a BA")
    crash(dut)

@tp("T-CRASH-BEFORE-FAIL")
def test_crash_before_fail(dut, judge):
    crash(dut)
    time.sleep(0.01)
    judge.check(MUST, False, "no BA (the DUT is dead)")

@tp("T-FAIL-BEFORE-CRASH")
def test_fail_before_crash(dut, judge):
    dut.backend.failure = None
    try:
        judge.check(MUST, False, "a BA without RH2")
    finally:
        crash(dut, time.time() + 0.01)

@tp("T-CRASH-UNKNOWN-TIME")
def test_crash_unknown_time(dut, judge):
    judge.check(MUST, True, "a BA")
    dut.backend.failure = ("hmipv6-map on map1 (pid 4242) ended (exit status 1)", None)

@tp("T-NO-CRASH")
def test_no_crash(dut, judge):
    judge.check(MUST, True, "a BA")
'''


def _testbed(pytester: pytest.Pytester, password: str | None = None) -> Path:
    import yaml

    from harness import paths

    doc = yaml.safe_load(paths.DEFAULT_TESTBED.read_text())
    doc["pics"] = {}
    if password:
        doc["nodes"]["mn"]["management"]["password"] = password
    path = pytester.path / "testbed.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_a_dut_crash_mid_test_is_an_error_unless_a_violation_was_judged_before(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CRASH_CONFTEST)
    pytester.makepyfile(test_suite=CRASH_SUITE)
    run_dir = pytester.path / "run"
    pytester.runpytest_subprocess(f"--run-dir={run_dir}", "-p", "no:cacheprovider", f"--testbed={_testbed(pytester)}")
    results = {e["test_purpose"]: e for e in json.loads((run_dir / "results.json").read_text())["results"]}
    verdicts = {k: e["verdict"] for k, e in results.items()}
    assert verdicts == {"T-CRASH-PASS": "ERROR", "T-CRASH-BEFORE-FAIL": "ERROR", "T-FAIL-BEFORE-CRASH": "FAIL",
                        "T-CRASH-UNKNOWN-TIME": "ERROR", "T-NO-CRASH": "PASS"}
    assert results["T-CRASH-PASS"]["reason"] == ("the DUT crashed during the test, which was not judged: "
                                                 "hmipv6-map on map1 (pid 4242) ended (killed by signal 9)")
    assert "before that: FAIL" in results["T-CRASH-BEFORE-FAIL"]["reason"]
    assert "a BA without RH2" in results["T-FAIL-BEFORE-CRASH"]["reason"]
    assert "the DUT's daemon ended afterwards" in results["T-FAIL-BEFORE-CRASH"]["reason"]
    error = run_dir / "evidence" / "T-CRASH-PASS" / "error.txt"
    assert error.is_file() and "killed by signal 9" in error.read_text()


LEAK_PASSWORD = "unit-Planted-pw-77"

LEAK_SUITE = f'''
import logging
import pytest
from harness.errors import CommandTimeoutError

MUST = "{MUST}"
PW = "{LEAK_PASSWORD}"

def tp(i):
    def wrap(f):
        return pytest.mark.requirements(MUST)(pytest.mark.tp(id=i, title=f.__name__)(f))
    return wrap

@tp("T-LEAK-FAIL")
def test_leak_fail(judge):
    print("stdout", PW)
    logging.getLogger("leak").warning("log %s", PW)
    judge.step("typed " + PW)
    judge.record("password", PW)
    judge.check(MUST, False, "saw " + PW)

@tp("T-LEAK-ERROR")
def test_leak_error(judge):
    raise CommandTimeoutError("mn", "login root " + PW, 3.0, PW)

@tp("T-LEAK-PLAIN")
def test_leak_plain(judge):
    raise ValueError({{"password": PW}})

@tp("T-LEAK-ASSERT")
def test_leak_assert(judge):
    assert PW == "other"
'''


def test_a_planted_password_is_in_no_file_of_a_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=LEAK_SUITE)
    run_dir = pytester.path / "run"
    result = pytester.runpytest_subprocess(f"--run-dir={run_dir}", "-p", "no:cacheprovider", "-rA",
                                           f"--testbed={_testbed(pytester, LEAK_PASSWORD)}",
                                           f"--alluredir={run_dir / 'allure-results'}", "--log-level=DEBUG")
    verdicts = {e["test_purpose"]: e["verdict"] for e in json.loads((run_dir / "results.json").read_text())["results"]}
    assert verdicts == {"T-LEAK-FAIL": "FAIL", "T-LEAK-ERROR": "ERROR", "T-LEAK-PLAIN": "ERROR",
                        "T-LEAK-ASSERT": "ERROR"}
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert len([p for p in files if p.parent.name == "allure-results"]) >= 4
    leaks = [str(p.relative_to(run_dir)) for p in files if LEAK_PASSWORD.encode() in p.read_bytes()]
    assert leaks == []
    output = result.stdout.str() + result.stderr.str()
    assert LEAK_PASSWORD not in output and "saw ********" in output
