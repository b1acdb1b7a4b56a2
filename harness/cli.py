"""``hmipv6ct``: run the conformance suite, manage testbeds, clean up leftovers.

    hmipv6ct run [--testbed FILE] [--dut-role map|mn|ar|all] [--edition rfc4140|rfc5380] [--out DIR] [-- PYTEST_ARGS]
    hmipv6ct testbed up|down|check [FILE]
    hmipv6ct clean [--all]
    hmipv6ct list
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import secrets
import signal
import sys
import time
from pathlib import Path

from harness import paths
from harness.errors import HarnessError


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("paramiko").setLevel(logging.WARNING)
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
    run.set_defaults(func=cmd_run)

    tb = sub.add_parser("testbed", help="build, tear down or health-check a testbed without running tests")
    tb.add_argument("action", choices=("up", "down", "check"))
    tb.add_argument("file", type=Path, nargs="?", default=None, help="testbed file (default: testbeds/virtual.yaml)")
    tb.set_defaults(func=cmd_testbed)

    clean = sub.add_parser("clean", help="remove namespaces, processes and files left by crashed or interrupted runs")
    clean.add_argument("--all", action="store_true", help="also remove testbeds left up by 'testbed up'")
    clean.set_defaults(func=cmd_clean)

    lst = sub.add_parser("list", help="list the test purposes with their IDs and clauses")
    lst.add_argument("--dut-role", choices=("map", "mn", "ar", "all"), default="all")
    lst.set_defaults(func=cmd_list)
    return p


# -- run ------------------------------------------------------------------------------
# pytest runs in this process, which has imported the harness already: its asserts cannot be
# rewritten (the plugin is loaded by entry point), which is harmless, so that warning is muted.
_PYTEST_BASE = ("-p", "no:cacheprovider", f"--rootdir={paths.ROOT}", "-o", "addopts=",
                "-W", "ignore::pytest.PytestAssertRewriteWarning")


def cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    import pytest

    testbed = args.testbed or paths.default_testbed()
    from harness.testbed import load
    load(testbed)  # fail early, with the file and line, before pytest starts
    run_id = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)
    run_dir = (args.out / run_id).resolve()
    run_dir.mkdir(parents=True)
    _point_latest(args.out, run_id)
    print(f"hmipv6ct: run {run_id}: testbed {testbed}, DUT role {args.dut_role}, edition {args.edition}")
    pytest_args = [
        str(paths.SUITE_DIR), f"--testbed={testbed}", f"--dut-role={args.dut_role}", f"--edition={args.edition}",
        f"--run-dir={run_dir}", f"--junitxml={run_dir / 'junit.xml'}", f"--alluredir={run_dir / 'allure-results'}",
        *_PYTEST_BASE, "-ra", *extra,
    ]
    status = int(pytest.main(pytest_args))
    print(f"hmipv6ct: results in {run_dir} (reports/latest points there)")
    if status == 5:
        print(f"hmipv6ct: no test purpose selected for DUT role {args.dut_role!r}", file=sys.stderr)
    return status


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
    backend = resume_backend(spec) if spec.backend == "netns" else open_backend(spec)
    if backend is None:
        print(f"hmipv6ct: error: {path} is not up; run 'hmipv6ct testbed up {path}' first", file=sys.stderr)
        return 1
    try:
        health = backend.check()
    finally:
        backend.close_drivers()
    for h in health:
        print(h.describe())
    bad = [h.node for h in health if not h.ok]
    print(f"{len(health) - len(bad)}/{len(health)} nodes healthy" + (f"; problems: {', '.join(bad)}" if bad else ""))
    return 1 if bad else 0


# -- clean, list ------------------------------------------------------------------------
def cmd_clean(args: argparse.Namespace, extra: list[str]) -> int:
    from harness.testbed import runstate

    removed, kept = runstate.clean(include_detached=args.all)
    for item in removed:
        print(f"removed {item}")
    for item in kept:
        print(f"kept {item}")
    if not removed:
        print("nothing to clean")
    return 1 if any("FAILED" in r for r in removed) else 0


def cmd_list(args: argparse.Namespace, extra: list[str]) -> int:
    import pytest

    status = pytest.main([str(paths.SUITE_DIR), "--list-purposes", f"--dut-role={args.dut_role}", "-q",
                          *_PYTEST_BASE, "--no-header", "--co"])
    return 0 if status in (0, 5) else int(status)
