"""The pytest plugin that turns test functions into judged HMIPv6 test purposes.

Drivers and testbeds know nothing of pytest; this module is the only place they meet it.  Loaded
through the ``pytest11`` entry point; inert for tests that use none of its markers or fixtures.

Markers (registered; ``--strict-markers`` rejects others)::

    @pytest.mark.tp(id="HMIP-MAP-BU-001", title="...")     the test purpose
    @pytest.mark.requirements("HMIP-4140-6.2-P2-MUST-2", ...)  catalogue IDs it judges
    @pytest.mark.role("map")                                 DUT role(s) it applies to
    @pytest.mark.pics("onlink_prefix_list")                  optional features the DUT must claim
    @pytest.mark.edition("rfc4140")                          editions (default: its requirements')

``results.json`` lists every requirement of the run's role and edition with its status and verdict
(:func:`harness.coverage.run_coverage`).

Fixtures: ``testbed`` (session; built once), ``tester``, ``dut`` (a DutHandle, restarted before each
test for isolation), ``judge`` (the test's :class:`~harness.verdicts.Judgement`), ``evidence`` (the
test's evidence directory).  Verdicts: see :mod:`harness.verdicts`.

Infrastructure failures mid-test are ERROR, with the evidence gathered until then (pcaps, the commands run on the
nodes with the failure, console transcripts, the judgement so far, ``error.txt``), and the run goes on:

- a management connection that failed (SSH session dropped, console gone) is probed once after the test
  (:meth:`~harness.testbed.backend.TestbedBackend.recover`); a node that does not answer is *lost*, and later tests
  that need it are ERROR at once naming the cause;
- the DUT's daemon ending during the test (it crashed; the testbed notices, :meth:`service_failure`) makes the test
  ERROR -- the DUT was not judged -- unless a violation was judged before it ended; the next test starts it afresh.

Secrets (anything typed Secret in the testbed, console passwords, private keys) are registered with
:mod:`harness.errors` and masked in exceptions, captured output, log records, the journal, results and evidence.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from harness import coverage, description, paths, results, tshark
from harness.errors import (DriverError, InfrastructureError, NodeLostError, install_log_redaction, redact,
                            redact_data, redact_exception, register_key_file, register_secrets_in)
from harness.testbed import TestbedBackend, load, open_backend
from harness.verdicts import Inconclusive, Judgement, Verdict, combine, level

EDITIONS = ("rfc4140", "rfc5380")
ROLES = ("map", "mn", "ar")
NOT_APPLICABLE = "NOT APPLICABLE: "
MARKERS = {
    "tp": "tp(id, title): an HMIPv6 test purpose with its ID and title",
    "requirements": "requirements(*ids): the catalogued requirements the test purpose judges",
    "role": "role(*roles): the DUT role(s) the test purpose applies to (map, mn, ar)",
    "pics": "pics(*items): optional features (PICS) the DUT must claim for the test to apply",
    "edition": "edition(*editions): the editions the test applies to (default: its requirements')",
}

_STATE = pytest.StashKey["_Session"]()
_ITEM = pytest.StashKey[dict]()


class _Session:
    """What the plugin knows for one pytest session."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.edition: str = config.getoption("--edition")
        self.run_dir = Path(config.getoption("--run-dir")) if config.getoption("--run-dir") else None
        self.testbed_path = Path(config.getoption("--testbed") or paths.default_testbed())
        self.spec = None
        self.role: str | None = None
        self.dut_node: str | None = None
        self.catalog = None
        self.journal: results.Journal | None = None
        self.head: dict[str, Any] = {}
        self.entries: list[dict[str, Any]] = []
        self.suite = False  # any test purpose collected
        self.purposes: dict[str, tuple[str, ...]] = {}  # test purpose ID -> requirements, for this run's role
        self.backend: TestbedBackend | None = None  # once the testbed fixture built it
        self.dut_identity: str | None = None
        self.tester = None  # once the tester fixture made it: its capture counts the tests' protocol waits
        self.timings: results.Journal | None = None
        self.session_setup = 0.0  # seconds spent building the testbed (once per session: not a test's overhead)
        self.worker: str | None = getattr(config, "workerinput", {}).get("workerid")  # pytest-xdist worker

    @property
    def controller(self) -> bool:
        """A pytest-xdist controller (``-n N``): it runs no test; its workers journal into the same run directory.
        (xdist registers its scheduler in its own ``pytest_configure``: ask no earlier than the session start.)"""
        return self.config.pluginmanager.has_plugin("dsession")

    def load_spec(self):
        if self.spec is None:
            self.spec = load(self.testbed_path)
            wanted = self.config.getoption("--dut-role")
            node = self.config.getoption("--dut") or self.spec.dut
            if wanted != "all" and (node is None or self.spec.nodes[node].role != wanted):
                node = next((n.name for n in self.spec.nodes.values() if n.role == wanted), None)
            self.dut_node = node
            self.role = self.spec.nodes[node].role if node else None
            self.spec.dut = node
            register_secrets_in(self.spec)  # every Secret of the testbed file, its security section included
        return self.spec

    def load_catalog(self):
        if self.catalog is None:
            from conformance.catalog import load_catalog
            self.catalog = load_catalog()
        return self.catalog


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hmipv6ct", "HMIPv6 conformance suite")
    group.addoption("--testbed", default=None, help="testbed file (default: testbeds/virtual.yaml)")
    group.addoption("--dut-role", default="all", choices=(*ROLES, "all"),
                    help="judge the DUT in this role (default: the role of the testbed's DUT)")
    group.addoption("--dut", default=None, help="the DUT node (default: the testbed's 'dut', or the first node "
                                                "with --dut-role)")
    group.addoption("--edition", default="rfc4140", choices=EDITIONS, help="specification edition to judge against")
    group.addoption("--run-dir", default=None, help="directory for results, evidence and the journal")
    group.addoption("--list-purposes", action="store_true", help="list test purposes (id, roles, clauses) and exit")


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    config.stash[_STATE] = _Session(config)
    install_log_redaction()
    if config.getoption("--run-dir"):
        # teardown (testbed down) runs on SIGTERM as it does on Ctrl-C
        config.stash[_SIGTERM] = signal.signal(signal.SIGTERM, _raise_interrupt)


_SIGTERM = pytest.StashKey[object]()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SIGTERM in config.stash:
        signal.signal(signal.SIGTERM, config.stash[_SIGTERM])
    from harness import tshark_stream

    tshark_stream.close_all()  # the session's persistent tshark processes, by PID (atexit would too, later)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# -- collection: validation and applicability ---------------------------------------------------------
def _markers(item: pytest.Item) -> dict[str, Any] | None:
    tp = item.get_closest_marker("tp")
    if tp is None:
        return None
    def args(name: str) -> tuple:
        m = item.get_closest_marker(name)
        return tuple(m.args) if m else ()
    return {"id": tp.kwargs.get("id"), "title": tp.kwargs.get("title", ""), "requirements": args("requirements"),
            "roles": args("role"), "pics": args("pics"), "editions": args("edition")}


def _validate(item: pytest.Item, m: dict[str, Any], catalog) -> list[str]:
    """Problems with a test purpose's markers (an unknown requirement, PICS gating a mandatory test...)."""
    from conformance import pics as pics_registry

    problems = []
    if not m["id"]:
        problems.append("tp marker without id")
    for rid in m["requirements"]:
        if rid not in catalog:
            problems.append(f"unknown requirement {rid}")
        elif catalog[rid].reference_only or catalog[rid].informative:
            problems.append(f"{rid} is a reference-only or informative entry and cannot be judged")
    for role in m["roles"]:
        if role not in ROLES:
            problems.append(f"unknown role {role}")
    for edition in m["editions"]:
        if edition not in EDITIONS:
            problems.append(f"unknown edition {edition}")
    registry = pics_registry.registry()
    for key in m["pics"]:
        item_ = registry.get(key)
        if item_ is None:
            problems.append(f"unknown PICS item {key}")
        elif item_.basis and item_.basis not in m["requirements"]:
            problems.append(f"PICS {key} may only gate a test that judges its optional basis {item_.basis}")
    return problems


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state: _Session = config.stash[_STATE]
    purposes = [(item, _markers(item)) for item in items]
    purposes = [(item, m) for item, m in purposes if m is not None]
    if not purposes:
        return
    state.suite = True
    catalog = state.load_catalog()
    problems = [f"{item.nodeid}: {p}" for item, m in purposes for p in _validate(item, m, catalog)]
    ids = [m["id"] for _, m in purposes]
    problems += [f"duplicate test purpose id {i}" for i in sorted({i for i in ids if ids.count(i) > 1})]
    if problems:
        raise pytest.UsageError("invalid test purposes:\n  " + "\n  ".join(problems))

    if config.getoption("--list-purposes"):
        _list(purposes, catalog, config.getoption("--dut-role"))
        items[:] = []
        return

    spec = state.load_spec()
    keep, drop = [], []
    for item in items:
        m = _markers(item)
        if m is None:
            keep.append(item)
            continue
        if m["roles"] and state.role not in m["roles"]:
            drop.append(item)  # another role's test purpose: not part of this run
            continue
        keep.append(item)
        state.purposes[m["id"]] = m["requirements"]
        # inherited clauses (RFC 6275 ...) apply in both HMIPv6 editions
        editions = m["editions"] or tuple(sorted({e for r in m["requirements"] for e in catalog[r].editions
                                                  if e in EDITIONS})) or EDITIONS
        keywords = {r: catalog[r].keyword for r in m["requirements"]}
        levels = [level(k) for k in keywords.values()] or ["MUST"]
        info = {**m, "editions": editions, "keywords": keywords,
                "level": min(levels, key=["MUST", "SHOULD", "MAY"].index), "description": _description(item)}
        item.stash[_ITEM] = info
        reason = None
        if state.edition not in editions:
            reason = f"edition {state.edition} (the test purpose applies to {', '.join(editions)})"
        else:
            from conformance import pics as pics_registry
            known = pics_registry.registry()
            absent = [k for k in m["pics"] if k in known and state.edition not in known[k].editions]
            missing = [k for k in m["pics"] if not pics_registry.claimed(spec.pics, k)]
            if absent:  # e.g. dynamic MAP discovery, which RFC 5380 removed: whatever the DUT claims
                where = "; ".join(f"{k} in {'/'.join(known[k].editions)} only" for k in absent)
                reason = (f"the optional feature(s) {', '.join(absent)} do not exist in edition {state.edition} "
                          f"(PICS: {where})")
            elif missing:
                reason = f"the DUT does not claim the optional feature(s) {', '.join(missing)} (PICS)"
        if reason:
            item.add_marker(pytest.mark.skip(reason=NOT_APPLICABLE + reason))
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _description(item: pytest.Item) -> dict[str, str]:
    """The test purpose's TAHI-style description (its docstring); the topology from its module's when it has none."""
    fields = description.parse(getattr(getattr(item, "function", None), "__doc__", None))
    if getattr(item, "module", None) is not None and (
            "topology" not in fields or "module docstring" in fields["topology"]):
        topology = description.parse(item.module.__doc__).get("topology")
        if topology:
            fields["topology"] = topology
    return fields


def _list(purposes, catalog, role: str) -> None:
    for item, m in purposes:
        if role != "all" and m["roles"] and role not in m["roles"]:
            continue
        clauses = sorted({f"{e}§{catalog[r].section.get(e)}" for r in m["requirements"] for e in catalog[r].editions
                          if catalog[r].section.get(e)})
        print(f"{m['id']:<18} {','.join(m['roles']) or 'any':<6} {' '.join(clauses) or '-':<34} {m['title']}")


def _terminal_line(config: pytest.Config):
    """A function writing one line to the terminal now, past output capture (progress of a long testbed build)."""
    def write(message: str) -> None:
        reporter = config.pluginmanager.getplugin("terminalreporter")
        capture = config.pluginmanager.getplugin("capturemanager")
        if reporter is None:
            return
        if capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(f"[testbed] {message}")
        else:
            reporter.write_line(f"[testbed] {message}")
    return write


# -- fixtures ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def testbed(request: pytest.FixtureRequest) -> TestbedBackend:
    """The testbed backend, built (virtual) or reached (lab) once per session; always torn down."""
    state: _Session = request.config.stash[_STATE]
    spec = state.load_spec()
    backend = open_backend(spec, edition=state.edition)
    request.addfinalizer(backend.down)
    backend.progress = _terminal_line(request.config)
    started = time.monotonic()
    backend.up()
    state.session_setup += time.monotonic() - started
    state.backend = backend
    register_secrets_in(backend.spec)  # and those the backend made for this run (a console's password)
    for node in backend.spec.nodes.values():
        if node.management.key_file:
            register_key_file(node.management.key_file)
    return backend


@pytest.fixture(scope="session")
def tester(testbed: TestbedBackend, request: pytest.FixtureRequest):
    from harness.tester import Tester
    t = Tester(testbed)
    request.addfinalizer(t.close)
    request.config.stash[_STATE].tester = t
    return t


@pytest.fixture(scope="session")
def _dut_session(testbed: TestbedBackend, request: pytest.FixtureRequest):
    from harness.dut import DutHandle, DutProfile
    state: _Session = request.config.stash[_STATE]
    if state.dut_node is None:
        pytest.skip(f"{NOT_APPLICABLE}the testbed has no DUT for role {request.config.getoption('--dut-role')}")
    variables = testbed.dut_variables(state.dut_node) if hasattr(testbed, "dut_variables") else {}
    handle = DutHandle(testbed, state.dut_node, state.role, DutProfile.load(testbed.spec.dut_profile), variables)
    try:
        state.dut_identity = handle.identity()  # for the report's provenance
    except Exception as exc:  # noqa: BLE001 -- an identity read-out never decides a verdict
        state.dut_identity = f"unknown ({type(exc).__name__}: {exc})"
    return handle


@pytest.fixture
def dut(_dut_session):
    """The device under test, restarted before the test so no state leaks in from the previous one."""
    try:
        _dut_session.restart()
    except Inconclusive:
        pass  # the profile cannot restart this device: the test runs on its current state
    return _dut_session


@pytest.fixture(scope="session")
def edition(request: pytest.FixtureRequest) -> str:
    """The specification edition this run judges against (``--edition``)."""
    return request.config.getoption("--edition")


@pytest.fixture
def judge(request: pytest.FixtureRequest) -> Judgement:
    info = request.node.stash.get(_ITEM, None)
    if info is None:
        raise pytest.UsageError(f"{request.node.nodeid}: the judge fixture needs a tp marker")
    return Judgement(info["keywords"], info["requirements"])


@pytest.fixture
def inject(testbed, judge):
    """``inject(kind, **params)`` applies a fault of :mod:`harness.faults` (a ``KINDS`` name or class) for this
    test and returns it; the test removes it (``fault.remove()``) when its scenario says so, and whatever is
    still applied is removed at teardown, failure or interrupt included.  A fault the testbed or device cannot
    take makes the test NOT APPLICABLE; applied faults (with their times) go into results.json."""
    from harness.faults import KINDS, FaultNotSupported

    applied = []

    def _inject(kind, **params):
        cls = KINDS[kind] if isinstance(kind, str) else kind
        try:
            fault = cls(testbed, **params)
        except FaultNotSupported as exc:
            pytest.skip(NOT_APPLICABLE + str(exc))
        judge.faults.append(fault)
        applied.append(fault)
        try:
            return fault.apply()
        except FaultNotSupported as exc:
            pytest.skip(NOT_APPLICABLE + str(exc))

    yield _inject
    problems = []
    for fault in reversed(applied):
        try:
            fault.remove()
        except Exception as exc:  # noqa: BLE001 -- every fault gets its removal attempt
            problems.append(f"{fault.describe()}: {exc}")
    if problems:
        raise InfrastructureError("could not remove fault(s): " + "; ".join(problems))


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Path:
    """This test's evidence directory (pcaps of every link, DUT command log, step log)."""
    return _evidence_dir(request.node)


def _evidence_dir(item: pytest.Item) -> Path:
    state: _Session = item.config.stash[_STATE]
    base = state.run_dir or Path(item.config.rootpath) / "reports" / "scratch"
    info = item.stash.get(_ITEM, None)
    name = info["id"] if info else "".join(c if c.isalnum() or c in "-_." else "_" for c in item.name)
    path = base / "evidence" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(autouse=True)
def _capture_mark(request: pytest.FixtureRequest):
    """Remember when the test began and where the tester's capture stood (for its evidence)."""
    request.node.stash[_STARTED] = time.time()
    if "tester" in request.fixturenames:
        t = request.getfixturevalue("tester")
        request.node.stash[_MARK] = (t, t.mark(), time.time())
    yield


_MARK = pytest.StashKey[tuple]()
_PHASES = pytest.StashKey[dict]()  # setup/call/teardown durations and the time taken to save the evidence
_STARTED = pytest.StashKey[float]()


# -- verdicts ---------------------------------------------------------------------------------------------
def _save_evidence(item: pytest.Item, judgement: Judgement | None) -> tuple[list[str], list[str], str]:
    """Write pcaps, the commands run on the nodes, console transcripts and the step log; confirm judged fields with
    tshark.  Each part is saved on its own: one that cannot be (a tester gone with the infrastructure) costs only
    itself.  Everything written is redacted (:func:`harness.errors.redact`).

    Returns (evidence files, tshark disagreements, what the tshark confirmation did)."""
    files: list[str] = []
    problems: list[str] = []
    confirmation = "no fields to confirm"
    directory = _evidence_dir(item)
    state: _Session = item.config.stash[_STATE]
    started = item.stash.get(_STARTED, None)
    marked = item.stash.get(_MARK, None)
    if marked is not None:
        t, mark, started = marked
        try:
            pcaps = {p.stem: p for p in t.save_pcaps(directory, since=mark)}
            files += [str(p) for p in pcaps.values()]
        except Exception as exc:  # noqa: BLE001 -- the verdict stands; the gap is said
            pcaps = {}
            files.append(_write(directory / "pcaps-not-saved.txt", f"the captures were not saved: "
                                                                  f"{type(exc).__name__}: {exc}\n"))
        if judgement is not None and pcaps:
            positions = t.capture.positions(mark)
            expectations = []
            for c in judgement.checks:
                if c.frame is not None and c.tshark and c.frame.index in positions:
                    link, number = positions[c.frame.index]
                    expectations += [tshark.Expectation(pcaps[link], number, f, v, c.requirement)
                                     for f, v in c.tshark.items()]
            if expectations and tshark.available():
                security = state.backend.spec.security if state.backend is not None else None
                try:
                    problems = tshark.confirm(expectations, tshark.esp_options(security))
                    confirmation = f"{len(expectations)} fields, {len(problems)} disagreements ({tshark.mode()})"
                except RuntimeError as exc:  # tshark failed or hung: never taken as agreement
                    problems = [f"tshark could not confirm the judged fields: {exc}"]
                    confirmation = f"FAILED: {exc}"
            elif expectations:
                confirmation = f"NOT DONE: tshark is not installed ({len(expectations)} fields unconfirmed)"
    funcargs = getattr(item, "funcargs", {})
    testbed = funcargs.get("testbed") or getattr(funcargs.get("dut"), "backend", None) or state.backend
    if testbed is not None and started is not None:
        try:
            log = testbed.command_log(since=started)
            if log:
                files.append(_write(directory / "commands.jsonl",
                                    "".join(json.dumps(redact_data(e), default=str) + "\n" for e in log)))
            for node, path in testbed.management_logs().items():
                text = _console_since(path, started)
                if text:
                    files.append(_write(directory / f"{node}-console.log", text))
        except Exception as exc:  # noqa: BLE001 -- as for the captures
            files.append(_write(directory / "commands-not-saved.txt", f"the command log was not saved: "
                                                                     f"{type(exc).__name__}: {exc}\n"))
    if judgement is not None and judgement.timelines:
        files.append(_write(directory / "timeline.json", json.dumps(judgement.timelines)))
    if judgement is not None and (judgement.steps or judgement.checks):
        files.append(_write(directory / "judgement.json", json.dumps(
            redact_data(json.loads(json.dumps({"steps": judgement.steps, "checks": [c.as_dict() for c in judgement.checks],
                                               "records": judgement.records}, default=str))), indent=1)))
    return files, problems, confirmation


def _write(path: Path, text: str) -> str:
    path.write_text(redact(text))
    return str(path)


def _console_since(path: str, since: float) -> str:
    """The lines of a console transcript (``TIMESTAMP >> ...``) written since ``since`` (time.time())."""
    import datetime

    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    out = []
    for line in lines:
        try:
            stamp = datetime.datetime.fromisoformat(line.split(" ", 1)[0]).timestamp()
        except ValueError:
            continue
        if stamp >= since - 0.001:
            out.append(line)
    return "".join(line + "\n" for line in out)


def _driver_error(exc: BaseException | None) -> DriverError | None:
    """The management failure behind ``exc`` (itself, or what it was raised from), if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, DriverError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _after_infrastructure_failure(item: pytest.Item, exc: BaseException | None) -> str:
    """A management connection failed in this test: probe the node once (bounded), so the next test finds it
    reconnected or lost (then failing at once).  Returns what to add to the reason."""
    state: _Session = item.config.stash[_STATE]
    failure = _driver_error(exc)
    if failure is None or state.backend is None or isinstance(failure, NodeLostError):
        return ""
    test = (item.stash.get(_ITEM, None) or {}).get("id") or item.name
    try:
        if state.backend.recover(failure.node, f"{type(failure).__name__} in {test}: {failure}"):
            return f" [{failure.node} answered again afterwards: the run goes on]"
    except Exception as exc:  # noqa: BLE001 -- the verdict is decided already; say why the probe failed
        return f" [{failure.node} could not be probed afterwards: {type(exc).__name__}: {exc}]"
    return f" [{failure.node} did not answer afterwards: later tests that need it are ERROR at once]"


def _dut_crashed(item: pytest.Item, judgement: Judgement | None, verdict: Verdict, reason: str) -> tuple[Verdict, str]:
    """The DUT's daemon ended during the test (the testbed saw it die; it was not stopped through the testbed):
    ERROR, the DUT was not judged -- unless a violation was judged before it ended, which stands."""
    state: _Session = item.config.stash[_STATE]
    dut = getattr(item, "funcargs", {}).get("dut")
    backend = getattr(dut, "backend", None) or state.backend
    if dut is None or backend is None or verdict is Verdict.NOT_APPLICABLE:
        return verdict, reason
    try:
        failure = backend.service_failure(dut.node)
    except Exception:  # noqa: BLE001 -- a liveness read-out never decides a verdict by failing
        return verdict, reason
    if failure is None:
        return verdict, reason
    what, ended = failure
    if verdict is Verdict.FAIL and ended is not None and judgement is not None and any(
            c.outcome is Verdict.FAIL and c.time < ended for c in judgement.checks):
        return verdict, f"{reason} [the DUT's daemon ended afterwards: {what}]"
    before = f"; before that: {verdict}: {reason}" if reason and verdict is not Verdict.PASS else ""
    return Verdict.ERROR, f"the DUT crashed during the test, which was not judged: {what}{before}"


@pytest.hookimpl(tryfirst=True, specname="pytest_runtest_makereport")
def pytest_runtest_makereport_redact(item: pytest.Item, call: pytest.CallInfo) -> None:
    """Before any report is made of this phase: mask secrets in its exception and captured output, so pytest's
    report, Allure's results and the terminal cannot show them."""
    if call.excinfo is not None:
        redact_exception(call.excinfo.value)
    sections = getattr(item, "_report_sections", None)
    if sections:
        item._report_sections = [(when, key, redact(content)) for when, key, content in sections]
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    _redact_report(report)
    phases = item.stash.setdefault(_PHASES, {})
    phases[report.when] = report.duration
    evidence_started = time.monotonic()
    state: _Session = item.config.stash[_STATE]
    info = item.stash.get(_ITEM, None)
    if info is None:
        if state.run_dir is not None and (report.when == "call" or report.outcome != "passed") and report.when != "teardown":
            files = _save_evidence(item, None)[0] if report.when == "call" else []
            verdict, reason = _plain_verdict(report, call)
            if verdict is Verdict.ERROR:
                reason += _after_infrastructure_failure(item, call.excinfo.value if call.excinfo else None)
            _journal(item, state, (verdict, reason),
                     {"phase": report.when, "duration": round(report.duration, 3), "evidence": files})
        return report
    if report.when == "teardown" and report.failed:
        # the verdict was judged before; a teardown that fails (e.g. a fault not removed) is its own ERROR,
        # so it is neither lost from the results nor hidden behind an exit status of 0
        exc = call.excinfo.value if call.excinfo else None
        entry = {"nodeid": f"{item.nodeid} (teardown)", "test_purpose": None, "title": f"teardown of {info['id']}",
                 "role": state.role, "edition": state.edition, "requirements": [], "level": None,
                 "verdict": str(Verdict.ERROR), "reason": redact(f"teardown failed ({type(exc).__name__}): {exc}"),
                 "phase": "teardown", "duration": round(report.duration, 3)}
        state.entries.append(entry)
        if state.journal is not None:
            state.journal.write(entry)
        return report
    if report.when == "teardown" or (report.when == "setup" and report.passed):
        return report
    exc = call.excinfo.value if call.excinfo else None
    judgement = item.funcargs.get("judge") if hasattr(item, "funcargs") else None
    if report.skipped and isinstance(report.longrepr, tuple) and report.longrepr[2].startswith(("Skipped: " + NOT_APPLICABLE, NOT_APPLICABLE)):
        verdict, reason = Verdict.NOT_APPLICABLE, report.longrepr[2].split(NOT_APPLICABLE, 1)[1]
        files: list[str] = []
        confirmation = "not run"
    else:
        if exc is not None and call.excinfo.errisinstance(pytest.skip.Exception):
            exc = Inconclusive(str(exc))  # a test purpose may not skip itself: it could not judge
        infra = isinstance(exc, InfrastructureError) or (report.when == "setup" and not isinstance(exc, Inconclusive))
        verdict, reason = combine(judgement, exc, infra)
        verdict, reason = _dut_crashed(item, judgement, verdict, reason)
        files, disagreements, confirmation = _save_evidence(item, judgement)
        if disagreements and verdict not in (Verdict.ERROR,):
            verdict, reason = Verdict.ERROR, "tester and tshark disagree on judged fields: " + "; ".join(disagreements)
        if verdict is Verdict.ERROR:
            reason += _after_infrastructure_failure(item, exc)
            trace = report.longreprtext if report.longrepr else ""
            files.append(_write(_evidence_dir(item) / "error.txt",
                                f"{verdict}: {reason}\n" + (f"\n{trace}\n" if trace else "")))
    reason = redact(reason)
    _set_outcome(report, verdict, reason)
    phases["evidence"] = time.monotonic() - evidence_started
    _journal(item, state, (verdict, reason), {
        "phase": report.when, "duration": round(report.duration, 3), "evidence": files, "tshark": confirmation,
        "checks": [c.as_dict() for c in judgement.checks] if judgement else [],
        "records": judgement.records if judgement else {},
        "measurements": judgement.measurements if judgement else {},
        "faults": [f.record() for f in judgement.faults] if judgement else []})
    return report


def _redact_report(report: pytest.TestReport) -> None:
    """Mask secrets in a report (its failure text and captured output) that something put there after the exception
    was redacted."""
    try:
        if report.longrepr is not None and not isinstance(report.longrepr, tuple):
            text = str(report.longrepr)
            if redact(text) != text:
                report.longrepr = redact(text)
        elif isinstance(report.longrepr, tuple):
            report.longrepr = tuple(redact(x) for x in report.longrepr)
        report.sections = [(key, redact(content)) for key, content in report.sections]
    except Exception:  # noqa: BLE001 -- a report that cannot be read back is left to pytest
        pass


def _plain_verdict(report: pytest.TestReport, call: pytest.CallInfo) -> tuple[Verdict, str]:
    """Tests outside the catalogue (e.g. testbed readiness): PASS, or ERROR with the reason."""
    if report.passed:
        return Verdict.PASS, ""
    if report.skipped:
        return Verdict.NOT_APPLICABLE, report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
    exc = call.excinfo.value if call.excinfo else None
    return Verdict.ERROR, f"{type(exc).__name__}: {exc}" if exc else report.longreprtext[-500:]


def _set_outcome(report: pytest.TestReport, verdict: Verdict, reason: str) -> None:
    """Map the verdict onto pytest's outcome so pytest's own summary agrees with it."""
    if verdict in (Verdict.PASS, Verdict.WARN, Verdict.INFO):
        report.outcome, report.longrepr = "passed", None
    elif verdict in (Verdict.INCONCLUSIVE, Verdict.NOT_APPLICABLE):
        report.outcome = "skipped"
        report.longrepr = (str(report.fspath), report.location[1], f"{verdict}: {reason}")
    else:
        report.outcome = "failed"
        report.longrepr = f"{verdict}: {reason}" if verdict is Verdict.ERROR and not report.longrepr else report.longrepr
    report.user_properties.append(("verdict", str(verdict)))


def _journal(item: pytest.Item, state: _Session, verdict_reason: tuple[Verdict, str], extra: dict) -> None:
    verdict, reason = verdict_reason
    info = item.stash.get(_ITEM, None) or {}
    entry = {"nodeid": item.nodeid, "test_purpose": info.get("id"), "title": info.get("title"),
             "role": state.role, "edition": state.edition, "requirements": list(info.get("requirements", ())),
             "level": info.get("level"), "verdict": str(verdict), "reason": reason,
             "description": info.get("description", {}), **extra}
    entry = redact_data(json.loads(json.dumps(entry, default=str)))  # no secret in the journal, results or report
    if state.run_dir is not None and "evidence" in entry:  # relative to the run directory: it can be moved
        entry["evidence"] = [results.relative(f, state.run_dir) for f in entry["evidence"]]
    state.entries.append(entry)
    if state.journal is not None:
        state.journal.write(entry)
    _allure(item, info, state.edition, entry)


def _allure(item: pytest.Item, info: dict, edition: str, entry: dict) -> None:
    """Allure labels and attachments: epic = edition, feature = section, story = requirement ID, a clause label and
    an RFC link per requirement, the verdict as a tag (WARN and INFO pass in Allure's terms), severity from the
    keyword level, and the evidence files attached."""
    if not info or not item.config.pluginmanager.hasplugin("allure_pytest"):
        return
    try:
        import allure
        from harness.report.clauses import clause, rfc_link
        state: _Session = item.config.stash[_STATE]
        allure.dynamic.title(f"{info['id']} {info.get('title', '')}".strip())
        allure.dynamic.epic({"rfc4140": "RFC 4140 (draft-ietf-mipshop-hmipv6-04)", "rfc5380": "RFC 5380"}.get(edition, edition))
        for rid in info["requirements"]:
            record = coverage.clause_fields(state.catalog[rid], edition)
            allure.dynamic.feature(f"§{record['section']}")
            allure.dynamic.story(rid)
            allure.dynamic.label("clause", f"{rid}: {clause(record)}")
            link = rfc_link(record["document"], record["section"])
            if link:
                allure.dynamic.link(link, name=f"{rid} ({clause(record, keyword=False)})")
        allure.dynamic.label("test_purpose", info["id"])
        allure.dynamic.tag(entry["verdict"])
        allure.dynamic.severity({"MUST": allure.severity_level.CRITICAL, "SHOULD": allure.severity_level.NORMAL}
                                .get(info.get("level"), allure.severity_level.MINOR))
        for name in entry.get("evidence", []):
            path = Path(name) if Path(name).is_absolute() else (state.run_dir or Path(".")) / name
            if path.is_file():
                kind = {".pcap": "application/vnd.tcpdump.pcap", ".json": "application/json",
                        ".jsonl": "application/json"}.get(path.suffix, "text/plain")
                allure.attach.file(str(path), name=path.name, attachment_type=(kind, path.suffix.lstrip(".")))
    except Exception:  # labels are decoration; they never change a verdict
        pass


# -- session ------------------------------------------------------------------------------------------------
def pytest_sessionstart(session: pytest.Session) -> None:
    state: _Session = session.config.stash[_STATE]
    if state.run_dir is not None and not state.controller:
        state.journal = results.Journal(state.run_dir)
        state.timings = results.Journal(state.run_dir, results.TIMINGS)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's worker loop, which ends the hook
def pytest_runtestloop(session: pytest.Session) -> None:
    state: _Session = session.config.stash[_STATE]
    if state.run_dir is None or session.config.getoption("--collect-only") or state.controller:
        return  # an xdist controller collects nothing: its workers write the provenance
    spec = state.load_spec()
    state.head = results.provenance(state.testbed_path, state.edition, state.role or "none",
                                    {"node": state.dut_node, "role": state.role,
                                     "management": spec.nodes[state.dut_node].management.type if state.dut_node else None,
                                     "profile": spec.dut_profile},
                                    spec.pics)
    # written now, so a run killed before results.json still has its provenance and the test purposes it meant to
    # run (they are NOT RUN, not untested, in its report)
    results.write_provenance(state.run_dir, {**state.head, "purposes": state.purposes})


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Time each test whole (setup, call, evidence, teardown; the testbed's one-off build excluded) and the part
    spent in the tester's waits for frames (its protocol waits): the difference is the harness's overhead."""
    state: _Session = item.config.stash[_STATE]
    started, built = time.monotonic(), state.session_setup
    waited = state.tester.capture.waited if state.tester is not None else 0.0
    try:
        return (yield)
    finally:
        if state.timings is not None:
            built = state.session_setup - built  # the testbed, built during this test's setup
            wall = time.monotonic() - started - built
            waited = min((state.tester.capture.waited if state.tester is not None else 0.0) - waited, wall)
            info = item.stash.get(_ITEM, None) or {}
            state.timings.write({"nodeid": item.nodeid, "test_purpose": info.get("id"), "worker": state.worker,
                                 "wall": round(wall, 3), "waited": round(waited, 3),
                                 "overhead": round(max(0.0, wall - waited), 3), "testbed_build": round(built, 3),
                                 **{k: round(v, 3) for k, v in item.stash.get(_PHASES, {}).items()}})


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state: _Session = session.config.stash[_STATE]
    for journal in (state.journal, state.timings):
        if journal is not None:
            journal.close()
    if state.worker is not None:
        return  # the controller assembles what every worker journaled
    if state.controller and state.run_dir is not None:
        _adopt_workers(state)
    if state.run_dir is not None and (state.journal is not None or state.controller):
        interrupted = int(exitstatus) == int(pytest.ExitCode.INTERRUPTED)
        head = state.head or {"suite": "hmipv6-conformance", "testbed": str(state.testbed_path),
                              "edition": state.edition}
        head = {**head, "pytest_exit_status": int(exitstatus)}
        if state.dut_identity is not None:
            head["dut"] = {**head.get("dut", {}), "identity": state.dut_identity}
        if state.backend is not None:
            head["addresses"] = results.address_book(state.backend.spec)
        requirements = None
        if state.suite and state.catalog is not None:  # every requirement of the role: covered or not
            requirements = coverage.run_coverage(state.catalog, state.role, state.edition, state.purposes,
                                                 results.read_journal(state.run_dir))
        results.assemble(state.run_dir, head, interrupted, requirements)
    if state.suite and int(exitstatus) in (0, 1):
        # the run fails only when an applicable MUST-level test FAILed or ERRORed
        session.exitstatus = 1 if results.must_level_failures(state.entries) or _plain_errors(state) else 0


def _adopt_workers(state: _Session) -> None:
    """On the xdist controller: the workers' journal, provenance and test purposes become this session's."""
    state.entries = results.read_journal(state.run_dir)
    try:
        head = json.loads((state.run_dir / results.PROVENANCE).read_text())
    except (OSError, ValueError):
        head = {}
    state.purposes = {k: tuple(v) for k, v in head.pop("purposes", {}).items()}
    state.head = head
    state.role = head.get("dut_role", state.role)
    state.suite = bool(state.purposes) or any(e.get("test_purpose") for e in state.entries)
    if state.suite:
        state.load_catalog()


def _plain_errors(state: _Session) -> bool:
    return any(e["verdict"] == "ERROR" and e.get("test_purpose") is None for e in state.entries)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state: _Session = config.stash[_STATE]
    if state.worker is not None or not state.entries or not (state.suite or state.run_dir):
        return
    terminalreporter.section("HMIPv6 verdicts")
    for entry in state.entries:
        tp = entry["test_purpose"] or entry["nodeid"]
        line = f"{entry['verdict']:<14} {tp}"
        if entry["reason"] and entry["verdict"] != "PASS":
            line += f"  -- {entry['reason'].splitlines()[0][:160]}"
        terminalreporter.write_line(line)
    if state.run_dir is not None:
        _timing_summary(terminalreporter, results.read_journal(state.run_dir, results.TIMINGS))


def _timing_summary(terminalreporter, timings: list[dict[str, Any]]) -> None:
    """The ten slowest tests (wall time, of which protocol waits), and the median per-test overhead."""
    if not timings:
        return
    terminalreporter.section("HMIPv6 slowest tests")
    for t in sorted(timings, key=lambda t: t["wall"], reverse=True)[:10]:
        where = f" [{t['worker']}]" if t.get("worker") else ""
        terminalreporter.write_line(f"{t['wall']:7.2f} s  (waits {t['waited']:6.2f} s, overhead {t['overhead']:5.2f} s)"
                                    f"  {t['test_purpose'] or t['nodeid']}{where}")
    harness = [t.get("setup", 0.0) + t.get("evidence", 0.0) + t.get("teardown", 0.0) for t in timings]
    terminalreporter.write_line(
        f"median per-test harness overhead (setup incl. the DUT restart, evidence and tshark, teardown; the testbed "
        f"build excluded): {_median(harness):.2f} s; median wall time outside the tester's protocol waits: "
        f"{_median([t['overhead'] for t in timings]):.2f} s; {len(timings)} tests, {sum(t['wall'] for t in timings):.1f} s")


def _median(values: list[float]) -> float:
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
