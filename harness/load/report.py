"""Figures, table, plot and JSON of a load run.

Every rate is also given as a ratio to the in-process baseline of the same run (:mod:`.baseline`: the fleet and
the reference MAP core with no I/O), every latency as a ratio to the baseline's time per registration.  The
accounting line compares the BAs the MAP says it sent (its control socket) with those the fleet saw.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks.common import write_result
from harness.load import plot
from harness.load.plot import percentile
from harness.load.run import LoadParams
from harness.load.target import LoadTarget
from reference_impl.fleet import EXCHANGES

GOAL_MNS, GOAL_SECONDS = 10_000, 10.0  # issue 10: 10,000 mobile nodes registered in <= 10 s (reference MAP)


def map_show(tb, node: str) -> dict[str, Any] | None:
    """The MAP daemon's own counters (``hmipv6-ctl show``), when the testbed runs a controllable one."""
    command = tb.control_command(node) if hasattr(tb, "control_command") else None
    if not command:
        return None
    try:
        out = subprocess.run(["ip", "netns", "exec", tb.netns_of(node), "sh", "-c", f"{command} show"],
                             capture_output=True, text=True, timeout=60)
        shown = json.loads(out.stdout)
    except (subprocess.TimeoutExpired, ValueError, OSError) as exc:
        return {"error": str(exc)[:300]}
    state = shown.get("state", {})
    core = state.get("counters", {})
    return {"bindings": len(state.get("bindings", [])), "pending_dad": len(state.get("pending_dad", [])),
            "bu_received": core.get("bu_received"), "bu_discarded": core.get("bu_discarded"),
            "ba_sent": core.get("ba_sent"), "dad_started": core.get("dad_started"),
            "security": {k: v for k, v in state.get("security", {}).items() if k != "pairs"},
            "daemon": shown.get("counters"), "dataplane": shown.get("dataplane_counters")}


def _ba_total(show: dict[str, Any]) -> int | None:
    sent = show.get("ba_sent")
    return sum(sent.values()) if isinstance(sent, dict) else None


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1e3, 3)


def figures(params: LoadParams, target: LoadTarget, raw: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    fleet = raw["fleet"]
    reg = raw["register"]
    base_rate, base_us = baseline["registrations_per_s"], baseline["us_per_registration"]
    latency: dict[str, Any] = {}
    for kind in EXCHANGES:
        values = sorted(raw["latencies"][kind])
        done = sorted(raw["completions"][kind])
        if not values:
            continue
        row = {"count": len(values), **{f"p{q}_ms": _ms(percentile(values, q)) for q in (50, 90, 99)},
               "max_ms": _ms(values[-1]), "completion_p50_ms": _ms(percentile(done, 50)),
               "completion_p99_ms": _ms(percentile(done, 99)), "completion_max_ms": _ms(done[-1] if done else None)}
        for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms"):
            row[key.replace("_ms", "_x_baseline")] = round(row[key] * 1e3 / base_us, 2)
        latency[kind] = row
    seconds = reg["first_bu_to_last_ba"]
    rate = reg["registered"] / seconds if seconds else None
    show = raw.get("map_show") or {}
    before = 0 if raw.get("map_show_before") is None else _ba_total(raw["map_show_before"])
    map_ba = _ba_total(show)  # BAs the MAP sent during this run (a reused testbed's MAP has sent others before)
    map_ba = None if map_ba is None or before is None else map_ba - before
    seen = (sum(int(v) for v in fleet["statuses"].values()) + sum(fleet["ignored"].values())
            + (raw.get("resync") or {}).get("ba_seen", 0))
    goal_applies = params.mns >= GOAL_MNS
    return {
        "registration": {
            "mobile_nodes": params.mns, "registered": reg["registered"], "complete": reg["complete"],
            "seconds_first_bu_to_last_ba": round(seconds, 3) if seconds else None,
            "registrations_per_s": round(rate, 1) if rate else None,
            "registrations_per_s_x_baseline": round(rate / base_rate, 3) if rate else None,
            "time_to_pct_s": {k: round(v, 3) for k, v in reg["time_to"].items()},
            "goal": f"{GOAL_MNS} registered in <= {GOAL_SECONDS:g} s",
            "goal_met": (bool(goal_applies and reg["registered"] >= GOAL_MNS and seconds is not None
                              and reg["time_to"].get("p100", seconds) <= GOAL_SECONDS) if goal_applies else None),
        },
        "latency": latency,
        "statuses": fleet["statuses"], "rejected": fleet["rejected"], "ignored": fleet["ignored"],
        "counters": fleet["counters"], "bound_at_end": fleet["bound"], "waiting_at_end": fleet["waiting"],
        "failed": fleet["failed"], "steady": raw["steady"],
        "tunnel_check": {"before_moves": raw["check_before"], "after_moves": raw["check_after"]},
        "deregister": raw.get("deregister"), "esp_resync": raw.get("resync"), "settle": raw.get("settle"),
        "phases": raw["phases"],
        "accounting": {"map_ba_sent": map_ba, "fleet_ba_seen": seen,
                       "unaccounted": (map_ba - seen) if map_ba is not None else None},
        "map": show or None, "link": raw["link"], "baseline": baseline,
        "guarded_routers": raw["guarded_routers"], "tag": raw["tag"],
        "timeline_columns": ["t_s", "bound", "registered", "bu_sent", "ba_answered", "waiting"],
        "timeline": raw["timeline"], "events": raw["events"],
        "latency_over_time_ms": plot.latency_series(raw["answered_at"], raw["latencies"], 0.0),
        "registration_times_s": [round(t, 4) for t in reg["registration_times"]],
    }


def _f(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def table(params: LoadParams, target: LoadTarget, fig: dict[str, Any], notes: list[str], testbed: str) -> str:
    reg, base = fig["registration"], fig["baseline"]
    lines = [f"hmipv6ct load: {params.mns} mobile nodes against {target.map_node} ({target.map_address}) on "
             f"{testbed}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, Python {platform.python_version()}",
             f"--mns {params.mns} --rate {params.rate:g} --window {params.window} --moves {params.moves} "
             f"--duration {params.duration:g} --sample {params.sample} --lifetime {params.lifetime}; IPsec: "
             f"{target.sa_name + ' (SA pair of the testbed, base §12.1)' if target.sa_name else 'off'}"]
    lines += [f"note: {n}" for n in notes]
    lines.append("")
    lines.append(f"{'phase':<20}{'start s':>9}{'seconds':>9}{'BUs sent':>10}{'BAs':>8}{'MAP CPU':>9}{'driver CPU':>11}")
    for name, ph in fig["phases"].items():
        lines.append(f"{name:<20}{ph['start']:>9.2f}{ph['seconds']:>9.2f}{ph['bu_sent']:>10}{ph['ba_answered']:>8}"
                     f"{_f(ph['map_cpu_pct'], '.0f') + '%':>9}{_f(ph['driver_cpu_pct'], '.0f') + '%':>11}")
    lines.append("")
    tt = reg["time_to_pct_s"]
    lines.append(f"registration: {reg['registered']}/{reg['mobile_nodes']} registered; first BU -> last BA "
                 f"{_f(reg['seconds_first_bu_to_last_ba'], '.2f')} s = {_f(reg['registrations_per_s'], ',.0f')} "
                 f"registrations/s ({_f(reg['registrations_per_s_x_baseline'], '.3f')}x baseline)")
    if tt:
        lines.append(f"  all registered by: 50% {tt['p50']:.2f} s, 90% {tt['p90']:.2f} s, 99% {tt['p99']:.2f} s, "
                     f"100% {tt['p100']:.2f} s")
    if reg["goal_met"] is not None:
        lines.append(f"  goal {reg['goal']}: {'MET' if reg['goal_met'] else 'MISSED'}")
    lines.append("")
    lines.append(f"{'BU -> BA latency (ms)':<24}{'count':>7}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}"
                 f"{'p50 x':>8}{'p99 x':>8}{'done p99':>10}")
    for kind, row in fig["latency"].items():
        lines.append(f"{kind:<24}{row['count']:>7}{_f(row['p50_ms'], '.2f'):>9}{_f(row['p90_ms'], '.2f'):>9}"
                     f"{_f(row['p99_ms'], '.2f'):>9}{_f(row['max_ms'], '.2f'):>9}{row['p50_x_baseline']:>8.1f}"
                     f"{row['p99_x_baseline']:>8.1f}{_f(row['completion_p99_ms'], '.1f'):>10}")
    lines.append("  (x: ratio to the in-process time per registration; done p99: first BU of the exchange -> "
                 "accepting BA, retransmissions included)")
    lines.append("")
    c = fig["counters"]
    lines.append("BA status codes: " + (", ".join(f"{k}: {v}" for k, v in fig["statuses"].items()) or "none")
                 + f"; rejected exchanges: {fig['rejected'] or 'none'}")
    lines.append(f"BUs sent {c.get('bu_sent', 0)}, retransmissions {c.get('retransmissions', 0)}, expired bindings "
                 f"{c.get('expired', 0)}, still waiting at the end {fig['waiting_at_end']}, bound at the end "
                 f"{fig['bound_at_end']}; send errors {fig['link']['send_errors']}")
    if fig["ignored"]:
        lines.append(f"packets ignored by the fleet: {fig['ignored']}")
    st = fig["steady"]
    lines.append(f"steady phase: {st['moves_sent']} moves sent, {st['moves_accepted']} accepted in the phase, "
                 f"{st.get('moves_accepted_after_drain', '-')} in all; "
                 f"{st['refreshes_accepted']} refreshes accepted; bindings held {st['lowest_bound']}.."
                 f"{st['highest_bound']}")
    for label, chk in fig["tunnel_check"].items():
        moved = f", of which {chk['moved_ok']}/{chk['moved']} moved" if chk["moved"] else ""
        skipped = f", {chk['unbound_skipped']} not bound (skipped)" if chk["unbound_skipped"] else ""
        lines.append(f"tunnelled traffic {label.replace('_', ' ')} (tester capture, scapy): "
                     f"{chk['tunnelled_to_current_lcoa']}/{chk['checked']} sampled RCoAs to their current LCoA"
                     f"{moved}, misdirected copies {chk['misdirected']}{skipped}")
    acc = fig["accounting"]
    lines.append(f"accounting: MAP sent {_f(acc['map_ba_sent'], 'd')} BAs during the run (its control socket), "
                 f"fleet saw {acc['fleet_ba_seen']}, unaccounted {_f(acc['unaccounted'], 'd')}")
    if fig["esp_resync"]:
        lines.append(f"ESP/AH sequence numbers resynchronised with the MAP's anti-replay window: "
                     f"{fig['esp_resync']}")
    if fig["map"]:
        m = fig["map"]
        lines.append(f"MAP {target.map_node}: {m.get('bindings')} bindings, BUs received {m.get('bu_received')}, "
                     f"discarded {m.get('bu_discarded')}, IPsec {m.get('security')}")
    lines.append(f"baseline (in-process fleet + reference MAP core, no I/O, same IPsec): "
                 f"{base['registrations_per_s']:,.0f} registrations/s, {base['us_per_registration']:.0f} us each "
                 f"({base['count']} mobile nodes)")
    return "\n".join(lines)


def finish(args, params: LoadParams, target: LoadTarget, raw: dict[str, Any], baseline: dict[str, Any],
           notes: list[str], started: float, testbed: str) -> tuple[dict[str, Any], Path, Path]:
    """Print the table, write the plot and the JSON; returns (figures, JSON path, output directory)."""
    fig = figures(params, target, raw, baseline)
    text = table(params, target, fig, notes, testbed)
    print(text)
    out = args.out or Path(__file__).resolve().parents[2] / "reports" / "load" / time.strftime(
        "%Y%m%dT%H%M%SZ", time.gmtime())
    out.mkdir(parents=True, exist_ok=True)
    (out / "load.svg").write_text(plot.render(raw, 0.0))
    (out / "table.txt").write_text(text + "\n")
    run_params = {**vars(params), "testbed": str(args.testbed), "map": target.map_node,
                  "map_address": target.map_address, "sa_pair": target.sa_name, "notes": notes,
                  "lcoa_prefixes": [str(p) for p in target.lcoa_prefixes], "rcoa_prefix": str(target.rcoa_prefix)}
    fig["plot"] = str(out / "load.svg")
    path = write_result("load", run_params, fig, args.json, started=started)
    print(f"plot: {out / 'load.svg'}; JSON: {path}")
    return fig, path, out
