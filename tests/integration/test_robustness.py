"""Robustness of the harness (issue 9): infrastructure failing mid-test is ERROR with its evidence, the run goes on,
a killed runner loses at most the test in progress, and no secret reaches a file of the run.

Each test runs ``hmipv6ct run`` for real on the bundled virtual testbed (DUT role map), with a small throwaway
suite written into ``tmp_path`` (selected with ``-k zzrobust``; the conformance suite is deselected):

- the DUT's daemon is SIGKILLed (by its PID) between two BUs of a played mobile node;
- the DUT's SSH session is dropped mid-command by SIGKILLing that session's sshd process (found by PID among the
  descendants of the node's sshd, which the run started);
- the DUT's SSH session falls silent mid-command (its processes SIGSTOPped): the command times out, the next test
  gets a new session;
- the mobile node's serial console falls silent mid-command (its socat SIGSTOPped until the command times out): the
  driver resynchronises and the console is used again by the next test;
- the mobile node's serial console (its socat, by PID) ends mid-command: the node is then lost, and a later test
  that needs it is ERROR at once, naming the cause;
- the DUT's pinned host key is replaced by another key mid-run: strict checking refuses it, with the host, both
  fingerprints and the known_hosts file in the reason;
- the runner itself is SIGKILLed mid-test; ``hmipv6ct report`` rebuilds the report from the journal and says the run
  is incomplete, and ``hmipv6ct clean`` removes the namespaces and processes it left;
- a password and the run's private key are planted and leaked every way a test can; no file of the run holds them.

Every wait is bounded (a deadline on an observable event); processes are only ever signalled by PID.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness import netns, paths
from harness.testbed import runstate

pytestmark = pytest.mark.netns

ENV = dict(os.environ, PYTHONPATH=str(paths.ROOT))
MUST = "HMIP-4140-6.2-P2-MUST-2"  # the BA carries a type 2 routing header (a MAP requirement of both editions)

# -- the throwaway suites ---------------------------------------------------------------------------------------------
PRELUDE = f'''
import ipaddress, logging, os, signal, threading, time
from pathlib import Path

import pytest

from harness.testbed import services
from harness.tester.mobility import PlayedMobileNode

MUST = "{MUST}"


def tp(i):
    def wrap(f):
        f = pytest.mark.tp(id=i, title=f.__name__)(f)
        f = pytest.mark.requirements(MUST)(f)
        return pytest.mark.role("map")(f)
    return wrap


def wait_for(what, predicate, timeout=10.0):
    """predicate()'s first true value, polled until the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{{what}}: not within {{timeout:g}} s")
        time.sleep(0.02)


def cmdline(pid):
    try:
        return Path(f"/proc/{{pid}}/cmdline").read_bytes()
    except OSError:
        return b""


def ppid(pid):
    try:
        stat = Path(f"/proc/{{pid}}/stat").read_bytes()
    except OSError:
        return None
    return int(stat[stat.rfind(b")") + 2:].split()[1])


def service_pid(testbed, what):
    """The PID of a management service the run started (runstate: 'sshd map1', 'console mn')."""
    return next(p["pid"] for p in testbed.state.processes if p["what"] == what)


def played_mn(testbed, tester, dut):
    spec = testbed.spec
    ar = next(n for n in spec.nodes.values() if dut.node in n.maps)
    map_address, link = spec.map_address(dut.node), spec.access_link_of(ar.name)
    lcoa = str(link.prefix.network_address + 0xC0A)
    rcoa = str(ipaddress.IPv6Network(f"{{map_address}}/64", strict=False).network_address + 0xC0A)
    return PlayedMobileNode(tester, link.name, link.members[ar.name].mac, lcoa, rcoa, map_address)


def in_background(target):
    errors = []
    def run():
        try:
            target()
        except BaseException as exc:  # reported by the test
            errors.append(exc)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors
'''

FAILURES = PRELUDE + '''

@tp("T-ZZ-KILL")
def test_zzrobust_dut_killed(testbed, tester, dut, judge):
    mn = played_mn(testbed, tester, dut)
    try:
        judge.step("1. BU seq 1: the DUT answers")
        ba = mn.register(1, 40, 3.0)
        judge.check(MUST, ba is not None, "BA to BU seq 1")
        judge.step("2. the DUT's daemon is SIGKILLed (by its PID)")
        pid = testbed.service_pid(dut.node)
        os.kill(pid, signal.SIGKILL)
        wait_for("the DUT's daemon to end", lambda: testbed.service_pid(dut.node) is None)
        judge.step("3. BU seq 2: no BA can come")
        judge.check(MUST, mn.register(2, 40, 1.0) is not None, "no BA to BU seq 2")
    finally:
        mn.release()


@tp("T-ZZ-AFTER-KILL")
def test_zzrobust_after_kill(testbed, tester, dut, judge):
    mn = played_mn(testbed, tester, dut)
    try:
        judge.check(MUST, mn.register(1, 40, 3.0) is not None, "BA from the restarted DUT")
    finally:
        mn.release()


@tp("T-ZZ-SSH")
def test_zzrobust_ssh_dropped(testbed, dut, judge):
    listener = service_pid(testbed, f"sshd {dut.node}")
    judge.step("1. a long command on the DUT over SSH; its session's sshd is SIGKILLed meanwhile")

    def drop():
        sleeper = wait_for("the command to run", lambda: next(
            (p for p in services.descendants(listener) if cmdline(p) == b"sleep\\x0029.17\\x00"), None))
        session = sleeper
        while ppid(session) not in (listener, None):
            session = ppid(session)
        assert ppid(session) == listener and session != listener
        os.kill(session, signal.SIGKILL)

    thread, errors = in_background(drop)
    try:
        dut.driver.run("sleep 29.17", timeout=40)
    finally:
        thread.join(15)
        assert not errors, errors
    judge.check(MUST, True, "not reached: the command must not end normally")


@tp("T-ZZ-AFTER-SSH")
def test_zzrobust_after_ssh(testbed, dut, judge):
    judge.check(MUST, isinstance(dut.show(), dict), "the DUT answers over a new SSH session")


@tp("T-ZZ-SSH-SILENT")
def test_zzrobust_ssh_silent(testbed, dut, judge):
    listener = service_pid(testbed, f"sshd {dut.node}")
    judge.step("1. a command on the DUT over SSH; its session's processes are stopped (SIGSTOP): the server is silent")

    def freeze():
        sleeper = wait_for("the command to run", lambda: next(
            (p for p in services.descendants(listener) if cmdline(p) == b"sleep\\x0027.43\\x00"), None))
        session = sleeper
        while ppid(session) not in (listener, None):
            session = ppid(session)
        stopped = [session, *services.descendants(session)]
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        try:
            wait_for("the driver to give up", lambda: any(
                e["command"] == "sleep 27.43" and "error" in e for e in testbed.command_log()), 20)
        finally:
            for pid in stopped:  # the silent session is ended (by PID); the driver opens a new one
                os.kill(pid, signal.SIGKILL)

    thread, errors = in_background(freeze)
    try:
        dut.driver.run("sleep 27.43", timeout=2)
    finally:
        thread.join(25)
        assert not errors, errors
    judge.check(MUST, True, "not reached: the command must time out")


@tp("T-ZZ-HOSTKEY")
def test_zzrobust_host_key_changed(testbed, dut, judge):
    known = Path(testbed.spec.nodes[dut.node].management.known_hosts)
    pinned = known.read_text()
    other = services.generate_ed25519_key(known.parent / "impostor_key")
    judge.step("1. the pinned key of the DUT is not the one its sshd presents; the driver reconnects")
    known.write_text(f"::1 {' '.join(other.split()[:2])}\\n")
    Path(os.environ["ZZ_OUT"], "hostkeys.txt").write_text(f"{known}\\n{other}\\n{(known.parent / 'ssh_host_ed25519_key.pub').read_text()}")
    try:
        dut.driver.close()
        dut.driver.run("true")
    finally:
        known.write_text(pinned)
    judge.check(MUST, True, "not reached: strict host key checking must refuse the key")


@tp("T-ZZ-SILENT")
def test_zzrobust_console_silent(testbed, judge):
    console = service_pid(testbed, "console mn")
    drv = testbed.driver("mn")
    drv.run("true")
    transcript = Path(drv.log_path)
    judge.step("1. a command; the console falls silent (its socat stopped) until the driver gives up on it")

    def freeze():
        wait_for("the command to run", lambda: any(cmdline(p) == b"sleep\\x0028.31\\x00"
                                                   for p in services.descendants(console)))
        os.kill(console, signal.SIGSTOP)
        try:
            wait_for("the driver to give up", lambda: "did not finish within" in transcript.read_text(), 20)
        finally:
            os.kill(console, signal.SIGCONT)

    thread, errors = in_background(freeze)
    try:
        drv.run("sleep 28.31", timeout=2)
    finally:
        thread.join(25)
        assert not errors, errors
    judge.check(MUST, True, "not reached: the command must time out")


@tp("T-ZZ-CONSOLE")
def test_zzrobust_console_gone(testbed, judge):
    console = service_pid(testbed, "console mn")
    drv = testbed.driver("mn")
    judge.step("1. logged in on the MN's console")
    drv.run("true")
    judge.step("2. a long command; the console's socat is SIGKILLed meanwhile")

    def close():
        wait_for("the command to run", lambda: any(cmdline(p) == b"sleep\\x0029.23\\x00"
                                                   for p in services.descendants(console)))
        os.kill(console, signal.SIGKILL)

    thread, errors = in_background(close)
    try:
        drv.run("sleep 29.23", timeout=40)
    finally:
        thread.join(15)
        assert not errors, errors
    judge.check(MUST, True, "not reached: the command must not end normally")


@tp("T-ZZ-NEEDS-MN")
def test_zzrobust_needs_mn(testbed, judge):
    testbed.driver("mn").run("true", timeout=30)
    judge.check(MUST, True, "not reached: the MN is gone")


@tp("T-ZZ-LAST")
def test_zzrobust_last(testbed, dut, judge):
    judge.check(MUST, isinstance(dut.show(), dict), "the DUT answers at the end of the run")
'''


def hmipv6ct(*args: str, timeout: float = 240, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], env=env or ENV, capture_output=True, text=True,
                          timeout=timeout)


def run_suite(tmp_path: Path, name: str, text: str, *args: str, env: dict | None = None,
              options: tuple[str, ...] = ()) -> tuple[subprocess.CompletedProcess, Path]:
    suite = tmp_path / f"test_zzrobust_{name}.py"
    suite.write_text(text)
    out = hmipv6ct(*options, "run", "--dut-role", "map", "--out", str(tmp_path / "reports"), *args, "--",
                   "-k", "zzrobust", str(suite), env=env)
    return out, (tmp_path / "reports" / "latest").resolve()


def journal(run_dir: Path) -> dict[str, dict]:
    return {e["test_purpose"]: e for e in map(json.loads, (run_dir / "results.jsonl").read_text().splitlines())}


def fingerprint(public_line: str) -> str:
    digest = hashlib.sha256(base64.b64decode(public_line.split()[1])).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


@pytest.fixture(scope="module")
def failures(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path, dict[str, dict], Path]:
    """One run of the failure suite (the failures are independent; one testbed serves them all)."""
    tmp = tmp_path_factory.mktemp("failures")
    out_dir = tmp / "out"
    out_dir.mkdir()
    out, run_dir = run_suite(tmp, "failures", FAILURES, env=dict(ENV, ZZ_OUT=str(out_dir)))
    assert (run_dir / "results.json").is_file(), out.stdout[-3000:] + out.stderr[-3000:]
    return out, run_dir, journal(run_dir), out_dir


def evidence(run_dir: Path, entry: dict) -> dict[str, Path]:
    files = {Path(f).name: run_dir / f for f in entry["evidence"]}
    assert all(p.is_file() for p in files.values()), entry["evidence"]
    return files


def test_every_failure_was_judged_and_the_run_completed(failures) -> None:
    out, run_dir, results, _ = failures
    verdicts = {tp: e["verdict"] for tp, e in results.items()}
    assert verdicts == {"T-ZZ-KILL": "ERROR", "T-ZZ-AFTER-KILL": "PASS", "T-ZZ-SSH": "ERROR",
                        "T-ZZ-AFTER-SSH": "PASS", "T-ZZ-SSH-SILENT": "ERROR", "T-ZZ-HOSTKEY": "ERROR",
                        "T-ZZ-SILENT": "ERROR",
                        "T-ZZ-CONSOLE": "ERROR", "T-ZZ-NEEDS-MN": "ERROR", "T-ZZ-LAST": "PASS"}, \
        {k: e["reason"] for k, e in results.items()}
    assert out.returncode == 1, "MUST-level ERRORs make the run fail"
    doc = json.loads((run_dir / "results.json").read_text())
    assert doc["interrupted"] is False and doc["counts"] == {"ERROR": 7, "PASS": 3}
    page = (run_dir / "report.html").read_text()
    assert all(tp in page for tp in results) and "This run is incomplete" not in page


def test_a_dut_killed_mid_test_is_an_error_with_the_evidence_so_far(failures) -> None:
    _, run_dir, results, _ = failures
    entry = results["T-ZZ-KILL"]
    assert "the DUT crashed during the test" in entry["reason"] and "killed by signal 9" in entry["reason"]
    assert "hmipv6-map on map1" in entry["reason"]
    files = evidence(run_dir, entry)
    assert {"acc1.pcap", "judgement.json", "error.txt"} <= set(files)
    judged = json.loads(files["judgement.json"].read_text())
    assert [s[1][:2] for s in judged["steps"]] == ["1.", "2.", "3."], "every step up to the failure"
    assert [c["outcome"] for c in judged["checks"]] == ["PASS", "FAIL"]
    assert files["acc1.pcap"].stat().st_size > 24 + 2 * 16, "the BUs and the BA are in the capture"
    assert results["T-ZZ-AFTER-KILL"]["verdict"] == "PASS", "the next test found the DUT started afresh"


def test_an_ssh_session_dropped_mid_command_is_an_error_and_the_driver_reconnects(failures) -> None:
    _, run_dir, results, _ = failures
    entry = results["T-ZZ-SSH"]
    assert entry["reason"].startswith("ConnectionLostError: map1: SSH connection lost during the command")
    assert "map1 answered again afterwards" in entry["reason"]
    assert entry["duration"] < 15, "the drop is noticed at once, not at the command's timeout"
    files = evidence(run_dir, entry)
    commands = [json.loads(line) for line in files["commands.jsonl"].read_text().splitlines()]
    assert commands[-1]["command"] == "sleep 29.17" and "ConnectionLostError" in commands[-1]["error"]
    assert "SSH connection lost" in files["error.txt"].read_text()
    assert results["T-ZZ-AFTER-SSH"]["verdict"] == "PASS" and results["T-ZZ-LAST"]["verdict"] == "PASS"


def test_a_silent_ssh_server_times_the_command_out_and_the_next_test_reconnects(failures) -> None:
    _, run_dir, results, _ = failures
    entry = results["T-ZZ-SSH-SILENT"]
    assert entry["reason"].startswith("CommandTimeoutError: map1: command 'sleep 27.43' did not finish within 2 s")
    assert "map1 answered again afterwards" in entry["reason"] and entry["duration"] < 10, "nothing hangs"
    commands = [json.loads(line) for line in evidence(run_dir, entry)["commands.jsonl"].read_text().splitlines()]
    assert commands[-1]["command"] == "sleep 27.43" and commands[-1]["error"].startswith("CommandTimeoutError")
    assert results["T-ZZ-HOSTKEY"]["reason"].startswith("HostKeyMismatchError"), "the next test reached the DUT"


def test_a_host_key_that_is_not_the_pinned_one_is_refused_with_a_clear_message(failures) -> None:
    _, _, results, out_dir = failures
    known, impostor, real = (out_dir / "hostkeys.txt").read_text().splitlines()
    reason = results["T-ZZ-HOSTKEY"]["reason"]
    assert reason.startswith("HostKeyMismatchError: map1: host key for ::1 differs from the pinned one"), reason
    assert f"expected ssh-ed25519 {fingerprint(impostor)}" in reason
    assert f"server presented ssh-ed25519 {fingerprint(real)}" in reason
    assert f"pinned in {known}" in reason
    assert "map1 answered again afterwards" in reason, "the pinned key restored, the node is usable again"


def test_a_console_that_falls_silent_is_an_error_and_is_resynchronised(failures) -> None:
    _, run_dir, results, _ = failures
    entry = results["T-ZZ-SILENT"]
    assert entry["reason"].startswith("CommandTimeoutError: mn: command 'sleep 28.31' did not finish within 2 s")
    assert "mn answered again afterwards" in entry["reason"], "the console was usable again: not lost"
    assert entry["duration"] < 10
    console = evidence(run_dir, entry)["mn-console.log"].read_text()
    assert "!! 'sleep 28.31' did not finish within 2 s: interrupting it (^C)" in console
    assert results["T-ZZ-CONSOLE"]["reason"].startswith("ConnectionLostError: mn:"), "the next test had the console"


def test_a_console_that_ends_mid_command_loses_the_node_and_later_tests_fail_fast(failures) -> None:
    _, run_dir, results, _ = failures
    entry = results["T-ZZ-CONSOLE"]
    assert re.match(r"ConnectionLostError: mn: console \S+ lost", entry["reason"]), entry["reason"]
    assert "mn did not answer afterwards" in entry["reason"]
    files = evidence(run_dir, entry)
    console = files["mn-console.log"].read_text()
    assert ">> printf" in console and "sleep 29.23" in console, "the console transcript of the test is evidence"
    assert re.search(r"!! mn: console \S+ lost", console), "and how it ended"
    assert "ConnectionLostError" in files["commands.jsonl"].read_text()
    later = results["T-ZZ-NEEDS-MN"]
    assert later["reason"].startswith("NodeLostError: mn: ConnectionLostError in T-ZZ-CONSOLE"), later["reason"]
    assert "reconnecting failed" in later["reason"] and later["duration"] < 1.0, "no connection timeout waited"


# -- SIGKILL of the runner ------------------------------------------------------------------------------------------
KILLED = PRELUDE + '''

@tp("T-ZZ-FIRST")
def test_zzrobust_first(testbed, dut, judge):
    judge.check(MUST, isinstance(dut.show(), dict), "the DUT answers")


@tp("T-ZZ-SECOND")
def test_zzrobust_second(testbed, dut, judge):
    judge.check(MUST, False, "a FAIL before the kill")


@tp("T-ZZ-HANGS")
def test_zzrobust_hangs(testbed, dut, judge):
    judge.step("1. the runner is killed while this test runs")
    Path(os.environ["ZZ_MARKER"]).write_text("in progress")
    threading.Event().wait(120)


@tp("T-ZZ-NEVER")
def test_zzrobust_never(testbed, dut, judge):
    judge.check(MUST, True, "never reached")
'''


def test_a_sigkilled_runner_loses_only_the_test_in_progress(tmp_path: Path) -> None:
    suite = tmp_path / "test_zzrobust_killed.py"
    suite.write_text(KILLED)
    marker = tmp_path / "marker"
    before = {r.prefix for r in runstate.all_runs()}
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--dut-role", "map", "--out",
                             str(tmp_path / "reports"), "--", "-k", "zzrobust", str(suite)],
                            env=dict(ENV, ZZ_MARKER=str(marker)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "the run ended before its third test"
            assert time.monotonic() < deadline, "the run never reached its third test"
            time.sleep(0.05)
        run = next(r for r in runstate.all_runs() if r.prefix not in before and r.owner_pid == proc.pid)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    run_dir = (tmp_path / "reports" / "latest").resolve()
    assert not (run_dir / "results.json").exists(), "a SIGKILLed runner writes nothing after the kill"
    results = journal(run_dir)
    assert {tp: e["verdict"] for tp, e in results.items()} == {"T-ZZ-FIRST": "PASS", "T-ZZ-SECOND": "FAIL"}

    out = hmipv6ct("report", str(run_dir))
    assert out.returncode == 0, out.stdout + out.stderr
    page = (run_dir / "report.html").read_text()
    assert "This run is incomplete" in page and "no results.json" in page
    for tp, verdict in (("T-ZZ-FIRST", "PASS"), ("T-ZZ-SECOND", "FAIL")):  # every journaled result, judged
        assert re.search(rf'data-verdict="{verdict}"[^>]* id="tp-map-{tp}"', page), (tp, verdict)
    for tp in ("T-ZZ-HANGS", "T-ZZ-NEVER"):  # the test in progress and the one after it: not run
        assert f'<code>{tp}</code> <span class="v notrun">NOT RUN</span>' in page, tp
    junit = (run_dir / "junit.xml").read_text()
    assert "T-ZZ-FIRST" in junit and "T-ZZ-SECOND" in junit

    # what the killed run left: its namespaces (with its prefix) and its processes, until `hmipv6ct clean`
    run = runstate.RunState.load(run.prefix)
    left = [n for n in netns.list_names() if n.startswith(run.prefix + "-")]
    live = [p["pid"] for p in run.processes if runstate.alive(p["pid"], p["start"])]
    assert left and live, "the kill left nothing behind: the clean step would prove nothing"
    out = hmipv6ct("clean")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"namespace {run.prefix}-" in out.stdout
    assert [n for n in netns.list_names() if n.startswith(run.prefix + "-")] == []
    assert [p for p in live if runstate.process_start_time(p) is not None] == []
    assert not run.workdir.exists()


# -- secrets --------------------------------------------------------------------------------------------------------
PASSWORD = "Pl4nted-c0nsole-pw-7Qx"

LEAKS = PRELUDE + '''
import dataclasses

PASSWORD = "''' + PASSWORD + '''"


def key_lines(testbed):
    text = Path(testbed.spec.nodes["map1"].management.key_file).read_text()
    return [line for line in text.splitlines() if len(line) >= 16 and not line.startswith("-----")]


@tp("T-ZZ-LEAK-FAIL")
def test_zzrobust_leak_fail(testbed, tester, dut, judge):
    keys = key_lines(testbed)
    Path(os.environ["ZZ_OUT"], "key.txt").write_text("\\n".join(keys))
    print("stdout:", PASSWORD, keys[1])
    logging.getLogger("zz").warning("a log record with %s and %s", PASSWORD, keys[2])
    judge.step(f"1. the console password is {PASSWORD}")
    judge.record("node", dataclasses.asdict(testbed.spec.nodes["mn"]))
    judge.record("spec", repr(testbed.spec))
    judge.record("key", keys[0])
    judge.check(MUST, False, f"a BA that quotes {PASSWORD} and {keys[0]}")


@tp("T-ZZ-LEAK-ERROR")
def test_zzrobust_leak_error(testbed, tester, dut, judge):
    keys = key_lines(testbed)
    result = testbed.driver("mn").run(f"echo {PASSWORD}; echo {keys[1]}; exit 3")
    dut.driver.run(f"echo {PASSWORD} >&2; echo {keys[2]}")
    from harness.errors import InfrastructureError
    raise InfrastructureError(f"the node said {result.stdout!r} to {result.command!r}")


@tp("T-ZZ-LEAK-ASSERT")
def test_zzrobust_leak_assert(testbed, judge):
    keys = key_lines(testbed)
    assert PASSWORD + keys[0] == "something else", dataclasses.asdict(testbed.spec.nodes["mn"].management)


@tp("T-ZZ-LEAK-OTHER")
def test_zzrobust_leak_other(testbed, judge):
    raise RuntimeError(f"an error that is no harness error: {PASSWORD}")
'''


def _secrets_of(spec) -> list[str]:
    """Every value typed Secret in a loaded testbed (the console password, the security section's keys...)."""
    found: list[str] = []

    def walk(o, seen: set[int]) -> None:
        if o is None or isinstance(o, (str, bytes, int, float, bool, Path)) or id(o) in seen:
            return
        seen.add(id(o))
        if callable(getattr(o, "reveal", None)):
            found.append(o.reveal())
        elif isinstance(o, dict):
            for v in o.values():
                walk(v, seen)
        elif isinstance(o, (list, tuple, set)):
            for v in o:
                walk(v, seen)
        elif hasattr(o, "__dataclass_fields__"):
            for name in o.__dataclass_fields__:
                walk(getattr(o, name), seen)

    walk(spec, set())
    return found


def test_no_secret_reaches_any_file_of_the_run(tmp_path: Path) -> None:
    from harness.testbed import load

    doc = yaml.safe_load(paths.DEFAULT_TESTBED.read_text())
    doc["nodes"]["mn"]["management"]["password"] = PASSWORD
    testbed = tmp_path / "planted.yaml"
    testbed.write_text(yaml.safe_dump(doc, sort_keys=False))
    secrets = _secrets_of(load(testbed))
    assert PASSWORD in secrets
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out, run_dir = run_suite(tmp_path, "leaks", LEAKS, "--testbed", str(testbed), env=dict(ENV, ZZ_OUT=str(out_dir)),
                             options=("-v",))  # debug logging: every command is logged
    results = journal(run_dir)
    assert {tp: e["verdict"] for tp, e in results.items()} == {
        "T-ZZ-LEAK-FAIL": "FAIL", "T-ZZ-LEAK-ERROR": "ERROR", "T-ZZ-LEAK-ASSERT": "ERROR",
        "T-ZZ-LEAK-OTHER": "ERROR"}, out.stdout[-3000:]
    assert "********" in results["T-ZZ-LEAK-FAIL"]["reason"], "the leak is masked, not lost"
    keys = (out_dir / "key.txt").read_text().splitlines()
    assert len(keys) >= 3, "the run's private key was not read"
    assert hmipv6ct("report", str(run_dir)).returncode == 0  # rebuilt in a process that knows no secret

    files = [p for p in run_dir.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"results.jsonl", "results.json", "provenance.json", "report.html", "junit.xml", "commands.jsonl",
            "mn-console.log", "judgement.json", "error.txt"} <= names, names
    assert any(p.suffix == ".pcap" for p in files) and any(p.parent.name == "allure-results" for p in files)
    planted = {"password": PASSWORD, **{f"key line {i}": k for i, k in enumerate(keys)},
               **{f"secret {i} of the testbed": s for i, s in enumerate(secrets) if len(s) >= 4}}
    leaks = [f"{what} in {p.relative_to(run_dir)}" for p in files for what, value in planted.items()
             if value.encode() in p.read_bytes()]
    leaks += [f"{what} in the run's {stream}" for stream, text in (("stdout", out.stdout), ("stderr", out.stderr))
              for what, value in planted.items() if value in text]
    assert leaks == [], "\n".join(leaks)


# -- strict host key checking against a real sshd of the virtual testbed ---------------------------------------------
def test_strict_host_key_checking_is_the_default_and_says_what_to_fix(tb, tmp_path: Path) -> None:
    from harness.drivers import SshDriver
    from harness.errors import HostKeyMismatchError

    m = tb.spec.nodes["map1"].management
    real = (Path(m.known_hosts).parent / "ssh_host_ed25519_key.pub").read_text()
    other = (Path(tb.spec.nodes["ar1"].management.known_hosts).parent / "ssh_host_ed25519_key.pub").read_text()

    def connect(known_hosts: Path) -> str:
        drv = SshDriver("map1", m.host, m.port, user=m.user, key_file=str(m.key_file), known_hosts=str(known_hosts),
                        netns=m.netns, connect_timeout=5)  # strict_host_key left at its default
        try:
            with pytest.raises(HostKeyMismatchError) as info:
                drv.run("true")
        finally:
            drv.close()
        return str(info.value)

    missing = connect(tmp_path / "no_such_known_hosts")
    assert missing.startswith("map1: no pinned key for ::1 in ") and "(the file does not exist)" in missing
    assert f"server presented ssh-ed25519 {fingerprint(real)}" in missing and "strict host key checking" in missing
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"::1 {' '.join(other.split()[:2])}\n")
    mismatch = connect(wrong)
    assert mismatch.startswith("map1: host key for ::1 differs from the pinned one")
    assert f"expected ssh-ed25519 {fingerprint(other)}" in mismatch
    assert f"server presented ssh-ed25519 {fingerprint(real)}" in mismatch and f"pinned in {wrong}" in mismatch
    assert tb.driver("map1").run("true").ok, "with the right pin the same node is reachable"
