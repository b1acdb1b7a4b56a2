"""``hmipv6ct load``: many emulated mobile nodes registering, refreshing and moving against a MAP (a capacity test).

    hmipv6ct load [--testbed FILE] [--mns 10000] [--rate 2000] [--window 128] [--moves 1000] [--duration 30]
                  [--sample 20] [--lifetime 40] [--json FILE] [--out DIR]

The fleet (:mod:`reference_impl.fleet`: many sans-I/O mobile-node registration cores in one process) sends local
BUs protected with the testbed's ``tester1@<map>`` IPsec SA pair from the tester's port on the MAP's link and reads
the BAs there; the tester's own capture and scapy parser check that traffic to a sample of RCoAs is tunnelled to
the current LCoA, before and after the moves.  Output: a table on stdout, ``load.svg`` (bindings held and BU->BA
latency percentiles over time) in ``--out``, and the JSON result (parameters, machine, figures).

First registrations are paced at ``--rate`` with at most ``--window`` of them unanswered (a closed loop: the offered
load follows what the MAP sustains); ``--window 0`` offers ``--rate`` regardless (open loop: overload behaviour,
where RFC 6275 §11.8 retransmissions pile up on a MAP slower than the offered rate).

On the bundled virtual testbed the run builds its own copy of the testbed (``--reuse``: one left up by
``hmipv6ct testbed up``), raises the reference MAP's binding cache limit (``max_bindings``, 1024 by default) to
the fleet's size, and keeps the access routers from resolving the fleet's LCoAs (:mod:`.guard`).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from harness.load.baseline import measure as measure_baseline
from harness.load.run import LoadParams, LoadRun
from harness.load.target import TargetError, resolve

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TESTBED = ROOT / "testbeds" / "virtual.yaml"
BASELINE_MNS = 2000  # mobile nodes registered in the in-process baseline
CACHE_MARGIN = 64  # bindings beyond the fleet's size the reference MAP may hold (the reference MN, the tester)


def _parser() -> argparse.ArgumentParser:
    d = LoadParams()
    p = argparse.ArgumentParser(prog="hmipv6ct load", description=__doc__.split("\n\n")[0])
    p.add_argument("--testbed", type=Path, default=DEFAULT_TESTBED, help="testbed file (default: the virtual one)")
    p.add_argument("--mns", type=int, default=d.mns, help=f"emulated mobile nodes (default {d.mns})")
    p.add_argument("--rate", type=float, default=d.rate,
                   help=f"first registrations offered per second at most; 0: no pacing (default {d.rate:g})")
    p.add_argument("--window", type=int, default=d.window,
                   help="at most this many first registrations waiting for a BA: a closed loop that finds the "
                        "MAP's sustainable rate without a retransmission storm; 0: open loop at --rate, which "
                        f"measures overload behaviour (default {d.window})")
    p.add_argument("--moves", type=int, default=d.moves,
                   help=f"handovers (new LCoA, same RCoA) spread over the steady phase (default {d.moves})")
    p.add_argument("--duration", type=float, default=d.duration,
                   help=f"seconds of the steady phase: refreshes and moves (default {d.duration:g})")
    p.add_argument("--sample", type=int, default=d.sample,
                   help=f"RCoAs whose tunnelled traffic the tester checks (default {d.sample})")
    p.add_argument("--lifetime", type=int, default=d.lifetime,
                   help=f"requested binding lifetime in seconds, a multiple of 4 (default {d.lifetime})")
    p.add_argument("--register-limit", type=float, default=d.register_limit, metavar="S",
                   help=f"end the registration phase after S seconds even if incomplete (default {d.register_limit:g}; "
                        f"it also ends when no BA came for {d.register_timeout:g} s)")
    p.add_argument("--deregister", action="store_true", help="deregister every mobile node at the end")
    p.add_argument("--map", default=None, help="the MAP node under load (default: the DUT, else the first MAP)")
    p.add_argument("--lcoa-prefix", action="append", default=None, metavar="PREFIX",
                   help="an access prefix for LCoAs (repeatable; default: the access links of the MAP's ARs)")
    p.add_argument("--sa", default="tester1", metavar="IDENTITY",
                   help="the tester identity whose SA pair <IDENTITY>@<map> protects the BUs (default tester1)")
    p.add_argument("--reuse", action="store_true",
                   help="use the testbed left up by 'hmipv6ct testbed up' (implies --esp-resync)")
    p.add_argument("--esp-resync", action="store_true",
                   help="first probe for an ESP/AH sequence number the MAP's anti-replay window accepts (a MAP that "
                        "has seen the SA pair before, e.g. a lab DUT, drops BUs numbered from 1 again)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--json", type=Path, default=None, metavar="FILE",
                   help="the JSON result (default reports/bench/load-<UTC time>.json)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="where load.svg and table.txt go (default reports/load/<UTC time>)")
    return p


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.mns < 1 or min(args.rate, args.window, args.moves, args.duration, args.sample) < 0:
        _parser().error("--mns >= 1; --rate, --window, --moves, --duration, --sample >= 0")
    if args.lifetime < 4 or args.lifetime % 4:
        _parser().error("--lifetime: a multiple of 4 seconds")
    if os.geteuid() != 0:
        print("hmipv6ct load: needs root (network namespaces, AF_PACKET)", file=sys.stderr)
        return 2
    from harness.load import report
    from harness.testbed import load, open_backend, resume_backend

    params = LoadParams(mns=args.mns, rate=args.rate, window=args.window, moves=args.moves, duration=args.duration,
                        sample=args.sample, lifetime=args.lifetime, register_limit=args.register_limit,
                        deregister=args.deregister, resync=args.reuse or args.esp_resync, seed=args.seed)
    spec = load(args.testbed)
    notes: list[str] = []
    if args.reuse:
        tb = resume_backend(spec)
        if tb is None:
            print(f"hmipv6ct load: {args.testbed} is not up ('hmipv6ct testbed up' first)", file=sys.stderr)
            return 2
        notes.append(f"reused testbed {tb.prefix}: the MAP's binding cache limit is as configured there")
    else:
        tb = open_backend(spec)  # not up yet; the netns backend knows its MACs already
    try:
        target = resolve(spec, args.map, args.lcoa_prefix, args.sa)
    except TargetError as exc:
        print(f"hmipv6ct load: {exc}", file=sys.stderr)
        return 2
    node = spec.nodes[target.map_node]
    if not args.reuse and spec.backend == "netns" and "hmipv6-map" in node.services:
        wanted = args.mns + CACHE_MARGIN
        if int(node.daemon_options.get("max_bindings", 1024)) < wanted:  # type: ignore[arg-type]
            node.daemon_options["max_bindings"] = wanted
            notes.append(f"reference MAP {target.map_node}: max_bindings raised to {wanted} for this run "
                         "(the reference default is 1024)")
    started = time.time()
    previous = signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM tears down like Ctrl-C
    progress = lambda text: print(f"[load] {text}", file=sys.stderr, flush=True)  # noqa: E731
    sa_config = spec.security.pair(target.sa_name).config() if target.sa_name else None
    baseline = measure_baseline(min(args.mns, BASELINE_MNS), sa_config, args.lifetime)
    progress(f"baseline (in process, no I/O): {baseline['registrations_per_s']:,.0f} registrations/s")
    owned = not args.reuse
    try:
        if owned:
            progress(f"building testbed {spec.name}")
            t = time.monotonic()
            tb.up()
            progress(f"testbed up as {getattr(tb, 'prefix', '?')} in {time.monotonic() - t:.1f} s")
        before = report.map_show(tb, target.map_node)
        raw = LoadRun(tb, target, params, progress).run()
        raw["map_show_before"] = before
        raw["testbed_prefix"] = getattr(getattr(tb, "state", None), "prefix", None)
        raw["map_show"] = report.map_show(tb, target.map_node)
    except KeyboardInterrupt:
        print("hmipv6ct load: interrupted", file=sys.stderr)
        return 130
    finally:
        handlers = [signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)]
        try:
            if owned:
                tb.down()
            else:
                tb.close_drivers()
        finally:
            signal.signal(signal.SIGINT, handlers[0])
            signal.signal(signal.SIGTERM, previous)
    testbed = f"{spec.name} ({raw.get('testbed_prefix') or spec.backend})"
    report.finish(args, params, target, raw, baseline, notes, started, testbed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
