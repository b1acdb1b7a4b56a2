"""``hmipv6ct``: run the conformance suite, manage testbeds, clean up leftovers.

    hmipv6ct run [--interop] [--testbed FILE] [--dut-role map|mn|ar|all] [--edition rfc4140|rfc5380] [--out DIR]
                 [-- PYTEST_ARGS]
    hmipv6ct testbed up|down|check [FILE] [--timeout S] [--json]
    hmipv6ct clean [--all]
    hmipv6ct list [--interop] [--dut-role ROLE]
    hmipv6ct report [RUN_DIR] [--allure] [--no-charts]
    hmipv6ct report --compare OLD_RUN NEW_RUN [--html FILE] [--timing-threshold R] [--timing-floor S]
    hmipv6ct fault apply|remove KIND [--testbed FILE] [NAME=VALUE ...]   (against a testbed left up)
    hmipv6ct fault list [--testbed FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import secrets
import signal
import sys
import time
from pathlib import Path

from harness import errors, paths
from harness.errors import HarnessError


#: ``hmipv6ct bench KIND ...`` and ``hmipv6ct load ...``: each takes its own options (``--help``), parsed by the module
BENCHMARKS = {"map": "benchmarks.bench_map", "dataplane": "benchmarks.bench_dataplane",
              "handover": "benchmarks.bench_handover"}
LOAD = "harness.load.cli"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["load"] or (argv[:1] == ["bench"] and argv[1:2] and argv[1] in BENCHMARKS):
        return _delegate(LOAD if argv[0] == "load" else BENCHMARKS[argv[1]], argv[1 if argv[0] == "load" else 2:])
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("paramiko").setLevel(logging.WARNING)
    errors.install_log_redaction()  # testbed secrets registered later are masked in every command's logs
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return args.func(args, extra)
    except HarnessError as exc:
        print(f"hmipv6ct: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hmipv6ct: interrupted", file=sys.stderr)
        return 130


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _delegate(module: str, argv: list[str]) -> int:
    """Run a benchmark's or the load generator's own ``main(argv)`` (they tear down on Ctrl-C and SIGTERM)."""
    import importlib

    errors.install_log_redaction()
    return int(importlib.import_module(module).main(argv) or 0)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hmipv6ct", description="HMIPv6 conformance and interoperability suite")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the conformance suite and write a report under reports/<run-id>/",
                         description="Run the conformance suite (a pytest session). Arguments after '--' go to pytest.")
    run.add_argument("--testbed", type=Path, default=None, help="testbed file (default: testbeds/virtual.yaml)")
    run.add_argument("--dut-role", choices=("map", "mn", "ar", "all"), default="all")
    run.add_argument("--edition", choices=("rfc4140", "rfc5380"), default="rfc4140")
    run.add_argument("--out", type=Path, default=Path("reports"), help="where run directories go (default: reports)")
    run.add_argument("-n", "--workers", type=int, default=1, metavar="N",
                     help="run N isolated copies of a virtual testbed (each with its own namespace prefix and "
                          "reference daemons) and share the test purposes among them (pytest-xdist); default 1")
    run.add_argument("--interop", action="store_true",
                     help="interop mode: the DUT among reference peers, judged end to end by CN <-> MN flows across "
                          "moves and MAP failures (conformance/interop) instead of the conformance test purposes")
    run.set_defaults(func=cmd_run)

    tb = sub.add_parser("testbed", help="build, tear down or health-check a testbed without running tests")
    tb.add_argument("action", choices=("up", "down", "check"))
    tb.add_argument("file", type=Path, nargs="?", default=None, help="testbed file (default: testbeds/virtual.yaml)")
    tb.add_argument("--timeout", type=float, default=None, metavar="S",
                    help="check of a lab: seconds to reach each device (TCP connect, SSH banner, key exchange and "
                         "login each; a serial console's prompt); commands get twice that (default 5)")
    tb.add_argument("--json", action="store_true", help="check: print the per-device results as JSON instead of text")
    tb.set_defaults(func=cmd_testbed)

    clean = sub.add_parser("clean", help="remove namespaces, processes and files left by crashed or interrupted runs")
    clean.add_argument("--all", action="store_true", help="also remove testbeds left up by 'testbed up'")
    clean.set_defaults(func=cmd_clean)

    req = sub.add_parser("requirements", help="print the requirements catalogue (every normative statement)")
    req.add_argument("--edition", choices=("rfc4140", "rfc5380"), default=None)
    req.add_argument("--role", choices=("MN", "MAP", "AR", "HA", "CN", "mn", "map", "ar", "ha", "cn"), default=None)
    req.add_argument("--format", choices=("table", "json"), default="table")
    req.set_defaults(func=cmd_requirements)

    lst = sub.add_parser("list", help="list the test purposes with their IDs and clauses")
    lst.add_argument("--dut-role", choices=("map", "mn", "ar", "all"), default="all")
    lst.add_argument("--interop", action="store_true", help="the interop test purposes (run --interop)")
    lst.set_defaults(func=cmd_list)

    rep = sub.add_parser("report", help="write a run's HTML report and junit.xml; or compare two runs",
                         description="Build report.html and junit.xml in a run directory (hmipv6ct run does it at "
                                     "the end), optionally the Allure HTML; or compare two runs (exit status 1 when "
                                     "a requirement newly fails).")
    rep.add_argument("run_dir", type=Path, nargs="?", default=None, help="run directory (default: reports/latest)")
    rep.add_argument("--allure", action="store_true", help="also build the Allure HTML (needs the allure npm package)")
    rep.add_argument("--no-charts", action="store_true", help="leave the message sequence charts out (faster)")
    rep.add_argument("--compare", nargs=2, type=Path, metavar=("OLD_RUN", "NEW_RUN"),
                     help="what changed per requirement from OLD_RUN to NEW_RUN")
    rep.add_argument("--html", type=Path, default=None,
                     help="with --compare: where to write the comparison as HTML (default: NEW_RUN/compare.html)")
    rep.add_argument("--timing-threshold", type=float, default=0.5,
                     help="with --compare: report a duration or measurement that changed by more than this fraction "
                          "(default 0.5)")
    rep.add_argument("--timing-floor", type=float, default=1.0,
                     help="with --compare: ... and a duration that changed by more than this many seconds (default 1)")
    rep.set_defaults(func=cmd_report)

    fault = sub.add_parser("fault", help="apply, remove or list faults on a testbed left up by 'testbed up'")
    fault.add_argument("action", choices=("apply", "remove", "list"))
    fault.add_argument("kind", nargs="?", help="zero_lifetime_map, echo_loss, map_preference, link_down, "
                                                "partition, packet_loss, map_crash")
    fault.add_argument("params", nargs="*", metavar="NAME=VALUE",
                       help="the fault's parameters, e.g. ar=ar1 map_node=map1 percent=50")
    fault.add_argument("--testbed", type=Path, default=None)
    fault.set_defaults(func=cmd_fault)

    bench = sub.add_parser("bench", help="benchmarks of the reference implementation: map (BU->BA capacity), "
                                         "dataplane (forwarding), handover (HMIPv6 vs Mobile IPv6); "
                                         "'hmipv6ct bench KIND --help' for each one's options")
    bench.add_argument("kind", choices=sorted(BENCHMARKS))
    bench.set_defaults(func=lambda args, extra: _delegate(BENCHMARKS[args.kind], extra))
    load_ = sub.add_parser("load", help="emulate many mobile nodes registering, refreshing and moving against a "
                                        "DUT MAP ('hmipv6ct load --help' for its options)", add_help=False)
    load_.set_defaults(func=lambda args, extra: _delegate(LOAD, extra))
    return p


# -- run ------------------------------------------------------------------------------
# pytest runs in this process, which has imported the harness already: its asserts cannot be
# rewritten (the plugin is loaded by entry point), which is harmless, so that warning is muted.
_PYTEST_BASE = ("-p", "no:cacheprovider", f"--rootdir={paths.ROOT}", "-o", "addopts=",
                "-W", "ignore::pytest.PytestAssertRewriteWarning")


def cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    """One pytest session per DUT role: ``--dut-role all`` judges the reference in every role in turn.  ``--interop``
    runs the interop test purposes instead of the conformance ones."""
    import pytest

    from harness.testbed import load

    testbed = args.testbed or paths.default_testbed()
    spec = load(testbed)  # fail early, with the file and line, before pytest starts
    parallel: list[str] = []
    if args.workers < 1:
        print("hmipv6ct: -n/--workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers > 1:
        if spec.backend != "netns":
            print(f"hmipv6ct: -n {args.workers} needs a virtual (netns) testbed, which each worker builds a copy of; "
                  f"{testbed} is a {spec.backend!r} testbed (one set of devices cannot be shared by parallel runs)",
                  file=sys.stderr)
            return 2
        # whole modules per worker: a module's test purposes share its fixtures and their order
        parallel = ["-n", str(args.workers), "--dist", "loadfile", "-p", "no:benchmark"]  # (benchmark: if installed)
    run_id = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)
    run_dir = (args.out / run_id).resolve()
    run_dir.mkdir(parents=True)
    _point_latest(args.out, run_id)
    roles = [args.dut_role] if args.dut_role != "all" else [r for r in ("map", "ar", "mn") if spec.nodes_with_role(r)]
    suite = paths.INTEROP_DIR if args.interop else paths.SUITE_DIR
    print(f"hmipv6ct: {'interop ' if args.interop else ''}run {run_id}: testbed {testbed}, DUT role(s) "
          f"{', '.join(roles)}, edition {args.edition}")
    statuses: dict[str, int] = {}
    for role in roles:
        role_dir = run_dir / role if len(roles) > 1 else run_dir
        statuses[role] = int(pytest.main([
            str(suite), f"--testbed={testbed}", f"--dut-role={role}", f"--edition={args.edition}",
            f"--run-dir={role_dir}", f"--alluredir={role_dir / 'allure-results'}",
            *_PYTEST_BASE, *parallel, "-ra", *extra]))
        if statuses[role] == 5:
            print(f"hmipv6ct: no test purpose selected for DUT role {role!r}", file=sys.stderr)
        if statuses[role] == int(pytest.ExitCode.INTERRUPTED):
            print("hmipv6ct: interrupted; the remaining roles were not run", file=sys.stderr)
            break
    if len(roles) > 1:
        _combine(run_dir, [r for r in roles if r in statuses])
    _report(run_dir)
    print(f"hmipv6ct: results in {run_dir} (reports/latest points there)")
    failing = {r: s for r, s in statuses.items() if s not in (0, 5)}
    if failing:
        return max(failing.values())
    return 5 if all(s == 5 for s in statuses.values()) else 0


def _combine(run_dir: Path, roles: list[str]) -> None:
    """results.json at the top of a multi-role run: every role's results, with its provenance."""
    from harness import results
    from harness.coverage import summary as coverage_summary

    combined: dict[str, object] = {"suite": "hmipv6-conformance", "roles": {}, "results": [], "counts": {},
                                   "interrupted": False, "requirements": []}
    for role in roles:
        path = run_dir / role / results.RESULTS
        if not path.exists():
            continue
        doc = json.loads(path.read_text())
        combined["roles"][role] = {k: v for k, v in doc.items() if k not in ("results", "requirements")}
        combined["results"] += doc["results"]
        # the requirement coverage of each role's run, each record naming its role
        combined["requirements"] += [{"role": role, **r} for r in doc.get("requirements", [])]
        combined["interrupted"] = combined["interrupted"] or doc.get("interrupted", False)
        for verdict, n in doc.get("counts", {}).items():
            combined["counts"][verdict] = combined["counts"].get(verdict, 0) + n
    combined["requirements_summary"] = coverage_summary(combined["requirements"])
    (run_dir / results.RESULTS).write_text(json.dumps(combined, indent=2))


def _report(run_dir: Path) -> None:
    """The run's HTML report and junit.xml; a report that cannot be built costs no result (results.json stays)."""
    from harness import report

    try:
        path = report.build(run_dir)
    except Exception as exc:  # noqa: BLE001 -- the results are written already; say what went wrong
        print(f"hmipv6ct: the report was not built ({type(exc).__name__}: {exc}); results.json is complete: retry "
              f"with 'hmipv6ct report {run_dir}'", file=sys.stderr)
        return
    print(f"hmipv6ct: report {path}")


def cmd_report(args: argparse.Namespace, extra: list[str]) -> int:
    from harness import report

    if args.compare:
        from harness.report.compare import compare

        old, new = (report.load_run(p) for p in args.compare)
        result = compare(old, new, timing_threshold=args.timing_threshold, timing_floor=args.timing_floor)
        print(result.text())
        html_path = args.html or new.directory / "compare.html"
        html_path.write_text(result.html(), encoding="utf-8")
        print(f"hmipv6ct: comparison written to {html_path}")
        return result.exit_status()
    run_dir = args.run_dir or Path("reports") / "latest"
    start = time.monotonic()
    path = report.build(run_dir, charts=not args.no_charts)
    print(f"hmipv6ct: report {path} and {path.parent / report.JUNIT} in {time.monotonic() - start:.1f} s")
    if args.allure:
        from harness.report import allure

        return allure.generate(report.load_run(run_dir))
    return 0


def _point_latest(out: Path, run_id: str) -> None:
    latest = out / "latest"
    tmp = out / f".latest-{os.getpid()}"
    tmp.symlink_to(run_id)
    tmp.replace(latest)


# -- testbed --------------------------------------------------------------------------
def cmd_testbed(args: argparse.Namespace, extra: list[str]) -> int:
    from harness.testbed import load, open_backend, resume_backend
    from harness.testbed import runstate

    path = args.file or paths.default_testbed()
    spec = load(path)
    if spec.backend == "wifi-vm" and args.action in ("up", "down"):
        print(f"{spec.name}: the virtual Wi-Fi lab is built for each run ('hmipv6ct run --testbed {path}'); "
              f"'hmipv6ct testbed check {path}' boots it, checks every device like a lab's and tears it down")
        return 0
    if args.action == "up":
        if spec.backend != "netns":
            print(f"{spec.name}: a lab testbed is not built; use 'hmipv6ct testbed check {path}'")
            return 0
        running = runstate.find_detached(str(spec.path))
        if running:
            print(f"hmipv6ct: error: {path} is already up as {running.prefix}", file=sys.stderr)
            return 1
        start = time.monotonic()
        backend = open_backend(spec)
        try:
            backend.up()
        except BaseException:
            backend.down()
            raise
        backend.state.detached = True
        backend.state.save()
        elapsed = time.monotonic() - start
        backend.close_drivers()
        print(f"{spec.name} up as {backend.state.prefix} in {elapsed:.2f} s")
        for node in spec.nodes.values():
            print(f"  {node.name:<8} {node.role:<7} ip netns exec {backend.netns_of(node.name)} bash")
        return 0
    if args.action == "down":
        backend = resume_backend(spec)
        if backend is None:
            print(f"{path}: not up (nothing to do)")
            return 0
        start = time.monotonic()
        backend.down()
        print(f"{spec.name} down in {time.monotonic() - start:.2f} s")
        return 0
    # check
    if spec.backend in ("lab", "wifi-vm"):
        return _check_lab(spec, args)
    backend = resume_backend(spec) if spec.backend == "netns" else open_backend(spec)
    if backend is None:
        print(f"hmipv6ct: error: {path} is not up; run 'hmipv6ct testbed up {path}' first", file=sys.stderr)
        return 1
    try:
        health = backend.check()
    finally:
        backend.close_drivers()
    bad = [h.node for h in health if not h.ok]
    if args.json:
        import dataclasses
        print(json.dumps({"testbed": spec.name, "file": str(path), "ok": not bad,
                          "devices": [{**dataclasses.asdict(h), "ok": h.ok} for h in health]}, indent=1))
        return 1 if bad else 0
    for h in health:
        print(h.describe())
    print(f"{len(health) - len(bad)}/{len(health)} nodes healthy" + (f"; problems: {', '.join(bad)}" if bad else ""))
    return 1 if bad else 0


def _check_lab(spec, args: argparse.Namespace) -> int:
    """``testbed check`` of a lab: every device in parallel, bounded (:mod:`harness.testbed.labcheck`); exit status
    1 when any device has a problem."""
    from harness.testbed import open_backend
    from harness.testbed.labcheck import DEFAULT_TIMEOUT, check_lab

    timeout = DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    if timeout <= 0:
        print("hmipv6ct: error: --timeout must be positive", file=sys.stderr)
        return 2
    if not args.verbose:  # paramiko logs every refused banner with a traceback: the check says it in one line
        logging.getLogger("paramiko").setLevel(logging.CRITICAL)
        logging.getLogger("harness.wifi").setLevel(logging.WARNING)  # each command it runs: the report has them
    if not args.json:
        devices = sum(1 for node in spec.nodes.values() if node.role != "switch")
        print(f"checking {devices} devices of {spec.name} ({spec.path}) in parallel, timeout {timeout:g} s", flush=True)
    if spec.backend == "wifi-vm":  # boot the guest lab, check it as a lab, tear it down
        backend = open_backend(spec)
        backend.progress = lambda message: print(message, file=sys.stderr, flush=True)
        try:
            backend.up()
            result = check_lab(spec, timeout=timeout, backend=backend)
        finally:
            backend.down()
    else:
        result = check_lab(spec, timeout=timeout)
    print(json.dumps(result.as_dict(), indent=1) if args.json else result.text(), flush=True)
    return 0 if result.ok else 1


# -- clean, list ------------------------------------------------------------------------
def _fault_params(items: list[str]) -> dict[str, object]:
    params: dict[str, object] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise HarnessError(f"fault parameter {item!r} is not NAME=VALUE")
        params[name] = int(value) if value.isdigit() else value
    return params


def cmd_fault(args: argparse.Namespace, extra: list[str]) -> int:
    """Faults on a running virtual testbed; what is applied is recorded in its state, so ``remove`` (another
    process, later) and ``list`` know it."""
    from harness.faults import KINDS, FaultNotSupported
    from harness.testbed import load, resume_backend

    path = args.testbed or paths.default_testbed()
    spec = load(path)
    backend = resume_backend(spec)
    if backend is None:
        print(f"hmipv6ct: error: {path} is not up: run 'hmipv6ct testbed up {path}' first", file=sys.stderr)
        return 1
    state = backend.state_required()
    if args.action == "list":
        for rec in state.faults:
            print(json.dumps(rec))
        print(f"{len(state.faults)} fault(s) applied on {state.prefix}")
        return 0
    if args.kind not in KINDS:
        print(f"hmipv6ct: error: unknown fault {args.kind!r} (known: {', '.join(KINDS)})", file=sys.stderr)
        return 2
    params = _fault_params(args.params)
    try:
        fault = KINDS[args.kind](backend, **params)
    except (TypeError, ValueError) as exc:  # a missing/unknown parameter, or a value out of range
        print(f"hmipv6ct: error: {args.kind}: {exc}", file=sys.stderr)
        return 2
    except FaultNotSupported as exc:
        print(f"hmipv6ct: {exc}", file=sys.stderr)
        return 3
    try:
        if args.action == "apply":
            fault.apply()  # journaled in the run state by the fault itself
            for rec in state.faults:
                if rec.get("id") == fault.journal_id:
                    rec.update(applied_at=fault.applied_at, args=params)
            state.save()
            print(f"applied {fault.describe()} at {fault.applied_at:.6f}")
        else:
            applied = [r for r in state.faults if r["fault"] == args.kind and r.get("args") == params]
            if not applied:
                print(f"hmipv6ct: error: {fault.describe()} is not applied (see 'hmipv6ct fault list')", file=sys.stderr)
                return 1
            fault.journal_id, fault.applied_at = applied[0]["id"], applied[0]["applied_at"]
            fault.remove()
            print(f"removed {fault.describe()} at {fault.removed_at:.6f}")
    finally:
        backend.close_drivers()
    return 0


def cmd_clean(args: argparse.Namespace, extra: list[str]) -> int:
    from harness.testbed import runstate

    removed, kept = runstate.clean(include_detached=args.all)  # faults undone on lab nodes come first
    for item in removed:
        print(f"removed {item}")
    for item in kept:
        print(f"kept {item}")
    failed = any("FAILED" in item for item in removed + kept)  # e.g. a fault whose node did not answer
    if not removed and not failed:
        print("nothing to clean")
    return 1 if failed else 0


def cmd_list(args: argparse.Namespace, extra: list[str]) -> int:
    import pytest

    suite = paths.INTEROP_DIR if args.interop else paths.SUITE_DIR
    status = pytest.main([str(suite), "--list-purposes", f"--dut-role={args.dut_role}", "-q",
                          *_PYTEST_BASE, "--no-header", "--co"])
    return 0 if status in (0, 5) else int(status)


def cmd_requirements(args: argparse.Namespace, extra: list[str]) -> int:
    """The catalogue, with the test purposes that judge each requirement (collected from the suite) and its
    status (covered, untested or not-testable): see :mod:`harness.coverage`."""
    from conformance.catalog import load_catalog

    from harness import coverage

    catalog = load_catalog()
    tests = _tests_by_requirement()
    rows = []
    for req in catalog.all():
        if req.reference_only or req.informative:
            continue
        if args.role and args.role.upper() not in req.actor:
            continue
        for edition in req.editions:
            if args.edition and edition != args.edition and edition in ("rfc4140", "rfc5380"):
                continue
            if args.edition and edition not in ("rfc4140", "rfc5380") and not req.inherited:
                continue
            status, status_reason = coverage.status(req, tests.get(req.id, []), catalog)
            rows.append({"id": req.id, "edition": edition, "section": req.section.get(edition),
                         "paragraph": req.paragraph.get(edition), "keyword": req.keyword or "(binding)",
                         "actor": req.actor, "text": req.text_for(edition) or req.text, "tests": tests.get(req.id, []),
                         "testable": req.testable, "reason": req.reason, "inherited": req.inherited,
                         "resolution": req.resolution, "status": status, "status_reason": status_reason})
    if args.format == "json":
        print(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        if r["status"] == coverage.COVERED:
            status = ", ".join(r["tests"])
        elif r["status"] == coverage.UNTESTED:
            status = "untested"
        else:
            status = f"not testable: {r['status_reason']}"
        print(f"{r['id']:<34} {r['edition']:<8} §{str(r['section']):<7} {r['keyword']:<12} "
              f"{'/'.join(r['actor']):<10} {status[:70]}")
    count = {s: sum(1 for r in rows if r["status"] == s) for s in (coverage.COVERED, coverage.UNTESTED,
                                                                     coverage.NOT_TESTABLE)}
    print(f"{len(rows)} requirements; {count[coverage.COVERED]} judged by a test purpose, "
          f"{count[coverage.UNTESTED]} untested, {count[coverage.NOT_TESTABLE]} not testable")
    return 0


def _tests_by_requirement() -> dict[str, list[str]]:
    """Requirement ID -> test purpose IDs, read from the suite's markers without running it."""
    import contextlib
    import io

    import pytest

    class Collector:
        def __init__(self) -> None:
            self.map: dict[str, list[str]] = {}

        @pytest.hookimpl(tryfirst=True)  # before the plugin's --list-purposes empties the list
        def pytest_collection_modifyitems(self, items) -> None:
            for item in items:
                tp, reqs = item.get_closest_marker("tp"), item.get_closest_marker("requirements")
                if tp and reqs:
                    for rid in reqs.args:
                        self.map.setdefault(rid, []).append(tp.kwargs.get("id"))

    collector = Collector()
    with contextlib.redirect_stdout(io.StringIO()):
        pytest.main([str(paths.SUITE_DIR), "--co", "-q", *_PYTEST_BASE, "--dut-role=all", "--list-purposes"],
                    plugins=[collector])
    return collector.map
