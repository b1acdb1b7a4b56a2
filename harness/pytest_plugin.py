"""The pytest plugin that wires testbeds, drivers and the tester into conformance tests.

Drivers and testbeds know nothing of pytest; this module is the only place they meet it.
It adds the options ``--testbed``, ``--dut-role``, ``--edition`` and ``--run-dir``, the
fixtures ``testbed`` (the backend, built once per session), ``tester`` and ``dut``, per-test
evidence pcaps, and a ``results.json`` in the run directory.  An
:class:`~harness.errors.InfrastructureError` raised by a test becomes verdict ERROR, never FAIL.
"""

from __future__ import annotations

import json
import platform
import signal
import time
from pathlib import Path

import pytest

from harness import paths
from harness.errors import InfrastructureError
from harness.testbed import TestbedBackend, load, open_backend

EDITIONS = ("rfc4140", "rfc5380")
ROLES = ("map", "mn", "ar", "all")

_RESULTS = pytest.StashKey[list]()
_STARTED = pytest.StashKey[float]()
_EVIDENCE = pytest.StashKey[list]()
_SIGTERM = pytest.StashKey[object]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hmipv6ct", "HMIPv6 conformance suite")
    group.addoption("--testbed", default=None, help="testbed file (default: testbeds/virtual.yaml)")
    group.addoption("--dut-role", default="all", choices=ROLES, help="run the test purposes of this DUT role")
    group.addoption("--edition", default="rfc4140", choices=EDITIONS, help="specification edition to judge against")
    group.addoption("--run-dir", default=None, help="directory for results.json and evidence")
    group.addoption("--list-purposes", action="store_true", help="list test purposes (id, roles, clauses) and exit")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tp(id, title, requirements=(), roles=()): a test purpose with its ID, "
                                       "the requirement IDs/clauses it checks and the DUT roles it applies to")
    config.stash[_RESULTS] = []
    config.stash[_STARTED] = time.time()
    if config.getoption("--run-dir"):
        # teardown (testbed down) runs on SIGTERM as it does on Ctrl-C
        config.stash[_SIGTERM] = signal.signal(signal.SIGTERM, _raise_interrupt)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SIGTERM in config.stash:
        signal.signal(signal.SIGTERM, config.stash[_SIGTERM])


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    role = config.getoption("--dut-role")
    if role != "all":
        keep, drop = [], []
        for item in items:
            marker = item.get_closest_marker("tp")
            roles = marker.kwargs.get("roles", ()) if marker else ()
            (keep if not roles or role in roles else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
    if config.getoption("--list-purposes"):
        for item in items:
            marker = item.get_closest_marker("tp")
            if marker:
                kw = marker.kwargs
                print(f"{kw.get('id', '?'):<14} {','.join(kw.get('roles', ())) or 'any':<10} "
                      f"{'; '.join(kw.get('requirements', ())) or '-':<40} {kw.get('title', '')}")
        items[:] = []


# -- fixtures -------------------------------------------------------------------------
@pytest.fixture(scope="session")
def testbed(request: pytest.FixtureRequest) -> TestbedBackend:
    """The testbed backend, built (virtual) or reached (lab) once per session; always torn down."""
    path = request.config.getoption("--testbed") or paths.default_testbed()
    spec = load(path)
    backend = open_backend(spec, edition=request.config.getoption("--edition"))
    request.addfinalizer(backend.down)
    backend.up()
    return backend


@pytest.fixture(scope="session")
def tester(testbed: TestbedBackend, request: pytest.FixtureRequest):
    from harness.tester import Tester
    t = Tester(testbed)
    request.addfinalizer(t.close)
    return t


@pytest.fixture(scope="session")
def dut(testbed: TestbedBackend):
    """The command driver of the device under test."""
    if testbed.spec.dut is None:
        pytest.skip("testbed declares no DUT")
    return testbed.driver(testbed.spec.dut)


@pytest.fixture(autouse=True)
def _evidence(request: pytest.FixtureRequest):
    """Per-test evidence: the tester's capture of every link during the test, as pcaps."""
    if "tester" not in request.fixturenames or not request.config.getoption("--run-dir"):
        yield
        return
    t = request.getfixturevalue("tester")
    mark = t.mark()
    yield
    directory = Path(request.config.getoption("--run-dir")) / "evidence" / _safe(request.node.nodeid)
    files = t.save_pcaps(directory, since=mark)
    request.node.stash[_EVIDENCE] = [str(f) for f in files]
    t.capture.trim(mark)



def _safe(nodeid: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in nodeid.split("::", 1)[-1])[:120]


# -- verdicts and results ---------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    verdict, reason = None, ""
    if report.passed and report.when == "call":
        verdict = "PASS"
    elif report.failed:
        exc = call.excinfo.value if call.excinfo else None
        if isinstance(exc, InfrastructureError) or report.when != "call":
            verdict, reason = "ERROR", f"{type(exc).__name__}: {exc}" if exc else report.longreprtext[-500:]
        else:
            verdict, reason = "FAIL", str(exc)[:2000] if exc else report.longreprtext[-2000:]
    elif report.skipped and report.when in ("setup", "call"):
        verdict = "NOT RUN"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if verdict is not None:
        marker = item.get_closest_marker("tp")
        item.config.stash[_RESULTS].append({
            "nodeid": item.nodeid,
            "test_purpose": marker.kwargs.get("id") if marker else None,
            "title": marker.kwargs.get("title") if marker else None,
            "requirements": list(marker.kwargs.get("requirements", ())) if marker else [],
            "verdict": verdict,
            "reason": reason,
            "phase": report.when,
            "duration": round(report.duration, 3),
        })
    return report


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    run_dir = config.getoption("--run-dir")
    if not run_dir:
        return
    results = config.stash[_RESULTS]
    for entry in results:
        for item in session.items:
            if item.nodeid == entry["nodeid"] and _EVIDENCE in item.stash:
                entry["evidence"] = item.stash[_EVIDENCE]
    counts: dict[str, int] = {}
    for entry in results:
        counts[entry["verdict"]] = counts.get(entry["verdict"], 0) + 1
    document = {
        "suite": "hmipv6-conformance",
        "testbed": str(config.getoption("--testbed") or paths.default_testbed()),
        "dut_role": config.getoption("--dut-role"),
        "edition": config.getoption("--edition"),
        "host": platform.node(),
        "started": config.stash[_STARTED],
        "finished": time.time(),
        "pytest_exit_status": int(exitstatus),
        "interrupted": int(exitstatus) == int(pytest.ExitCode.INTERRUPTED),
        "counts": counts,
        "results": results,
    }
    path = Path(run_dir)
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").write_text(json.dumps(document, indent=2))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    results = config.stash.get(_RESULTS, [])
    if not results or not config.getoption("--run-dir"):
        return
    terminalreporter.section("HMIPv6 verdicts")
    for entry in results:
        tp = entry["test_purpose"] or entry["nodeid"]
        line = f"{entry['verdict']:<8} {tp}"
        if entry["reason"] and entry["verdict"] != "PASS":
            line += f"  -- {entry['reason'].splitlines()[0][:150]}"
        terminalreporter.write_line(line)
