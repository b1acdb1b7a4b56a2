"""The handover benchmark's figures, its stdout table, and ``handover.html`` with hand-written SVG plots."""

from __future__ import annotations

import html
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.handover_analysis import CRITERION

COLOURS = {"hmipv6": "#1f77b4", "mipv6": "#d62728"}
PER_MOVE_KEYS = ("index", "to", "l2_outage", "rs", "ra", "detection", "first_bu", "rtt_map", "rtt_ha", "ro_done",
                 "pre", "ra_to_bu", "addr_config", "bu_to_first", "interruption", "interruption_max", "lost", "mobility_sent",
                 "signalling", "predicted", "ratio", "ok", "predicted_echo", "ratio_echo", "ok_echo", "resumed", "registered", "settled",
                 "ratio_wo_addr", "delay_stall_ms", "agg_interruption", "resolution", "agg_pre", "agg_bu_to_first",
                 "ratio_agg", "verdict_agg", "ratio_agg_echo", "verdict_agg_echo")



def _missed(config: dict[str, Any]) -> str:
    """``mode N=n: k`` for moves not registered, split into no BU sent / BU without a BA when known."""
    s = config["summary"]
    text = f"{config['mode']} N={config['n_cns']}: {s['not_registered']}"
    if "no_bu" in s:
        text += f" ({s['no_bu']} without a BU, {s['bu_unanswered']} with a BU but no BA)"
    return text

def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1e3, 3)


def _r(v: Any, nd: int = 3) -> Any:
    if isinstance(v, float):
        return round(v, nd)
    if isinstance(v, dict):
        return {k: _r(x, nd) for k, x in v.items()}
    return v


def figures(params, raw: dict[str, Any]) -> dict[str, Any]:
    """The JSON figures: per configuration its summary, accounting, cross-check and per-move records (times in ms),
    the HMIPv6/MIPv6 comparison per N, the 1.1x criterion and the delay element's measurement."""
    configs = []
    for c in raw["configs"]:
        moves = []
        for m in c["moves"]:
            rec = {k: m.get(k) for k in PER_MOVE_KEYS}
            for k in ("l2_outage", "rs", "ra", "detection", "first_bu", "rtt_map", "rtt_ha", "ro_done", "pre",
                      "ra_to_bu", "addr_config", "bu_to_first", "interruption", "interruption_max", "predicted",
                      "predicted_echo", "agg_interruption", "resolution", "agg_pre", "agg_bu_to_first"):
                rec[k] = _ms(rec[k])
            for k in ("ratio", "ratio_echo", "ratio_wo_addr", "ratio_agg", "ratio_agg_echo"):
                rec[k] = _r(rec[k])
            rec["flow_interruptions_ms"] = [_ms(f["interruption"]) for f in m["flows"]]
            rec["flow_lost"] = [f["lost"] for f in m["flows"]]
            moves.append(rec)
        s = c["summary"]
        complete = (s["measured"] >= params.moves and c["cross_check"]["equal"]
                    and all(a["sent"] == a["received"] + a["lost_in_moves"] + a["lost_other"] + a["lost_tail"]
                            for a in c["accounting"]))
        configs.append({"mode": c["mode"], "n_cns": c["n_cns"], "complete": complete, "summary": _r(s),
                        "echo_mn_map_ms": c["echo_mn_map"], "daemon_cpu": c["cpu"], "cross_check": c["cross_check"],
                        "accounting": c["accounting"], "send_errors": c["send_errors"],
                        "observer_counts": c["observer_counts"], "flow_rate": c.get("flow_rate"),
                        "aggregate_rate": c.get("aggregate_rate"), "sender": c.get("sender"), "moves": moves})
    by = {(c["mode"], c["n_cns"]): c for c in configs}
    comparison = []
    for n in params.cns:
        h, m = by.get(("hmipv6", n)), by.get(("mipv6", n))
        if not h or not m:
            continue
        row: dict[str, Any] = {"n_cns": n}
        for key, label in (("interruption_ms", "interruption_median_ms"),
                           ("agg_interruption_ms", "agg_interruption_median_ms"),
                           ("interruption_max_ms", "slowest_flow_median_ms"), ("lost_per_move", "lost_per_move_mean"),
                           ("mobility_sent_per_move", "signalling_per_move_mean")):
            stat = "median" if key.endswith("_ms") else "mean"
            hv, mv = h["summary"][key].get(stat), m["summary"][key].get(stat)
            row[f"hmipv6_{label}"], row[f"mipv6_{label}"] = hv, mv
            row[f"{label}_ratio"] = round(hv / mv, 4) if hv is not None and mv else None
        comparison.append(row)
    hm = [c for c in configs if c["mode"] == "hmipv6"]
    medians = {c["n_cns"]: c["summary"]["interruption_ms"].get("median") for c in hm}
    agg_medians = {c["n_cns"]: c["summary"]["agg_interruption_ms"].get("median") for c in hm}
    known = [v for v in agg_medians.values() if v is not None]
    criterion = {
        "rule": f"interruption <= {CRITERION} x (MN-MAP round trip + movement detection), per move",
        "judged_on": "the aggregate of all CN->MN flows (one datagram every 1/rate): its interruption is never shorter "
                     "than the true one and longer by less than its resolution 2 x (slot + sender lateness); "
                     "ok: measured <= 1.1 x predicted; fail: measured - resolution > 1.1 x predicted; "
                     "else unresolved",
        "round_trip": "BU->BA with the MAP measured per move at the MN (ICMP echo MN->MAP in the *_echo variant)",
        "per_n": {c["n_cns"]: {
            "ok": c["summary"]["criterion_agg"]["ok"], "unresolved": c["summary"]["criterion_agg"]["unresolved"],
            "fail": c["summary"]["criterion_agg"]["fail"], "checked": c["summary"]["criterion_agg"]["checked"],
            "ratio_median": c["summary"]["ratio_agg"].get("median"),
            "slot_ms": c["summary"].get("slot_ms"), "resolution_median_ms": c["summary"]["resolution_ms"].get("median"),
            "resolution_max_ms": c["summary"]["resolution_ms"].get("max"),
            "transit_jitter_p95_ms": (c["summary"].get("transit_jitter_ms") or {}).get("p95"),
            "transit_jitter_max_ms": (c["summary"].get("transit_jitter_ms") or {}).get("max"),
            "ok_echo": c["summary"]["criterion_agg_echo"]["ok"],
            "checked_echo": c["summary"]["criterion_agg_echo"]["checked"],
            "ratio_echo_median": c["summary"]["ratio_agg_echo"].get("median"),
            # the per-flow figure (resolution: one flow's interval, N x slot)
            "per_flow_ok": c["summary"]["criterion_ok"], "per_flow_checked": c["summary"]["criterion_checked"],
            "per_flow_ratio_median": c["summary"]["ratio"].get("median"),
            "flow_interval_ms": c["summary"].get("flow_interval_ms"),
            "ok_wo_addr": c["summary"]["criterion_wo_addr_ok"],
            "ratio_wo_addr_median": c["summary"]["ratio_wo_addr"].get("median")} for c in hm},
        # plain MIPv6 against the same allowance (its round trip to the MAP by ICMP echo), for comparison
        "mipv6_echo": {c["n_cns"]: {"ok": c["summary"]["criterion_agg_echo"]["ok"],
                                    "unresolved": c["summary"]["criterion_agg_echo"]["unresolved"],
                                    "fail": c["summary"]["criterion_agg_echo"]["fail"],
                                    "checked": c["summary"]["criterion_agg_echo"]["checked"],
                                    "ratio_median": c["summary"]["ratio_agg_echo"].get("median")}
                       for c in configs if c["mode"] == "mipv6"},
    }
    per_n = criterion["per_n"].values()
    criterion["moves_checked"] = sum(v["checked"] for v in per_n)
    criterion["moves_ok"] = sum(v["ok"] for v in per_n)
    criterion["moves_unresolved"] = sum(v["unresolved"] for v in per_n)
    criterion["moves_fail"] = sum(v["fail"] for v in per_n)
    criterion["holds"] = bool(criterion["moves_checked"]) and criterion["moves_ok"] == criterion["moves_checked"]
    criterion["holds_median"] = bool(hm) and all((v["ratio_median"] or math.inf) <= CRITERION for v in per_n)
    independence = {"hmipv6_interruption_median_ms_by_n": medians,
                    "hmipv6_agg_interruption_median_ms_by_n": agg_medians,
                    "spread_ms": round(max(known) - min(known), 3) if known else None,
                    "spread_ratio_to_smallest": round(max(known) / min(known), 4) if known and min(known) else None}
    fw = (raw["delay"].get("forwarder") or {})
    return {"complete": bool(configs) and all(c["complete"] for c in configs),
            "prefix": raw["prefix"], "setup_s": raw["setup_s"], "wall_s": raw["wall_s"],
            "timers": _timers(), "delay_element": {k: v for k, v in raw["delay"].items() if k != "forwarder"},
            "forwarder": fw, "configs": configs, "comparison": comparison, "criterion": criterion,
            "independence": independence}


def _timers() -> dict[str, Any]:
    from benchmarks.bench_handover import TIMERS
    from harness.timers import TimerProfile
    return TimerProfile.make(TIMERS["profile"], TIMERS["factor"], TIMERS["overrides"]).as_dict()


# --- text table -------------------------------------------------------------------------------------------------

def _f(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def _x(v: float | None, base: float | None) -> str:
    if v is None or not base:
        return "-"
    r = v / base
    return f"{r:.2f}" if r < 10 else f"{r:.1f}"


def header(params, fig: dict[str, Any], mach: dict[str, Any]) -> list[str]:
    d = fig["delay_element"]
    core, dom, base = d["core_map1_cn1"], d["dom_map1_ar1"], d["baseline_rt_ha"]
    fw = fig["forwarder"].get("directions", {})
    late = [v["lateness"] for v in fw.values() if v.get("lateness", {}).get("frames")]
    lines = [
        f"hmipv6ct bench handover, run {fig['prefix']}: {mach.get('cpus')} CPUs, loadavg "
        f"{' '.join(str(x) for x in mach.get('loadavg', []))}, Python {mach.get('python')}, kernel {mach.get('kernel')}",
        f"--moves {params.moves} --cns {','.join(map(str, params.cns))} --delay-ms {params.delay_ms:g} "
        f"--map-delay-ms {params.map_delay_ms:g} " + (f"--rate-per-cn {params.rate_per_cn:g}" if params.rate_per_cn else
                                                    f"--rate {params.rate:g} (aggregate, split across the N CNs)")
        + f" --interval {params.interval:g}; "
        f"setup {fig['setup_s']} s, wall {fig['wall_s']} s",
        f"delay element (userspace AF_PACKET forwarder): HA/CNs configured {params.delay_ms:g} ms one way, measured "
        f"{_f(core.get('added_one_way_ms'), '.2f')} ms (ping RTT MAP1->CN1 avg {_f(core['avg'], '.2f')} ms, mdev "
        f"{_f(core['mdev'], '.2f')}; x{_f(core.get('ratio_to_configured'), '.3f')} of configured); MAP configured "
        f"{params.map_delay_ms:g} ms, measured {_f(dom.get('added_one_way_ms'), '.2f')} ms (RTT MAP1->AR1 avg "
        f"{_f(dom['avg'], '.2f')} ms); undelayed baseline RTT RT->HA {_f(base['avg'], '.3f')} ms",
    ]
    if late:
        lines.append("forwarder lateness per frame (send - due): p50 " +
                     "/".join(_f(x["p50_ms"], ".2f") for x in late) + " ms, p99 " +
                     "/".join(_f(x["p99_ms"], ".2f") for x in late) + " ms, max " +
                     "/".join(_f(x["max_ms"], ".1f") for x in late) + " ms, frames > 5 ms late " +
                     "/".join(str(x["over_5ms"]) for x in late) + " (per direction; SCHED_FIFO "
                     f"{'on' if fig['forwarder'].get('realtime') else 'off'})")
    t = fig["timers"]["values"]
    lines.append(f"timers: scaled x{fig['timers']['factor']:g}: RA interval {t['min_rtr_adv_interval']:g}-"
                 f"{t['max_rtr_adv_interval']:g} s, RS delay 0-{t['max_rtr_solicitation_delay'] * 1e3:g} ms, RA answer "
                 f"delay 0-{t['max_ra_delay_time'] * 1e3:g} ms, MIN_DELAY_BETWEEN_RAS {t['min_delay_between_ras']:g} s; "
                 f"BU/RR retransmission {t['initial_bindack_timeout']:g} s (RFC), lifetimes {t['binding_lifetime']:g} s")
    return lines


def _verdicts(v: dict[str, Any]) -> str:
    return f"{v['ok']}/{v['unresolved']}/{v['fail']}"


def table(params, fig: dict[str, Any], mach: dict[str, Any]) -> str:
    lines = header(params, fig, mach) + [""]
    base = {c["n_cns"]: c["summary"] for c in fig["configs"] if c["mode"] == "mipv6"}
    lines.append(f"{'mode':7}{'N':>3}{'moves':>7}{'pps/CN':>7}{'flow':>7}{'res':>5}{'aggr':>7}{'res':>5}"
                 f"{'[p5 - p95]':>17}{'xMIP':>6}{'slowest':>8}{'lost/mv':>8}{'xMIP':>6}{'sig/mv':>7}{'xMIP':>6}"
                 f"{'RS/mv':>6}{'detect':>7}{'RA->BU':>7}{'RTT':>7}{'ok/unr/fail':>12}{'ratio':>6}  counters")
    for c in fig["configs"]:
        s, b = c["summary"], base.get(c["n_cns"], {})
        i, g = s["interruption_ms"], s["agg_interruption_ms"]
        rtt = s["rtt_map_ms"] if c["mode"] == "hmipv6" else s["rtt_ha_ms"]
        crit = s["criterion_agg"] if c["mode"] == "hmipv6" else s["criterion_agg_echo"]
        crit_text = _verdicts(crit) if c["mode"] == "hmipv6" else f"({_verdicts(crit)})"
        ratio = s["ratio_agg"].get("median") if c["mode"] == "hmipv6" else s["ratio_agg_echo"].get("median")
        measured = f"{s['measured']}/{s['moves']}"
        spread = f"[{_f(g.get('p5'))} - {_f(g.get('p95'))}]"
        lines.append(
            f"{c['mode']:7}{c['n_cns']:>3}{measured:>7}{_f(c.get('flow_rate'), '.0f'):>7}"
            f"{_f(i.get('median')):>7}{_f(s.get('flow_interval_ms'), '.0f'):>5}"
            f"{_f(g.get('median')):>7}{_f(s['resolution_ms'].get('median'), '.1f'):>5}{spread:>17}"
            f"{_x(g.get('median'), b.get('agg_interruption_ms', {}).get('median')):>6}"
            f"{_f(s['interruption_max_ms'].get('median')):>8}"
            f"{_f(s['lost_per_move'].get('mean')):>8}{_x(s['lost_per_move'].get('mean'), b.get('lost_per_move', {}).get('mean')):>6}"
            f"{_f(s['mobility_sent_per_move'].get('mean')):>7}"
            f"{_x(s['mobility_sent_per_move'].get('mean'), b.get('mobility_sent_per_move', {}).get('mean')):>6}"
            f"{_f(s['signalling_per_move'].get('rs', 0)):>6}{_f(s['detection_ms'].get('median')):>7}"
            f"{_f(s['ra_to_bu_ms'].get('median')):>7}{_f(rtt.get('median')):>7}{crit_text:>12}{_f(ratio, '.2f'):>6}  "
            f"{'match' if c['cross_check']['equal'] else 'DIFFER'}")
    lines += ["", "flow: interruption of each CN->MN flow (last datagram before the carrier loss to the first after it, "
              "at the MN; mean over the N flows, median over the moves), res: its resolution, one flow's send interval "
              "(ms); aggr: the same on the aggregate of all N flows (any CN's datagram ends the silence; one send slot "
              "every 1/aggregate rate), res: its resolution per move, 2 x (slot + sender lateness) (median, ms) -- the "
              "measured value is never below the true interruption and exceeds it by less than res; [p5 - p95], xMIP: "
              "of the aggregate, ratio to plain MIPv6 with the same N (the baseline, same run); slowest: the slowest "
              "flow's interruption (median); sig/mv: mobility messages the MN sent per move (BU, HoTI, CoTI), RS "
              "counted apart; detect: carrier loss to the first RA; RA->BU: MN processing; RTT: BU->BA with the MAP "
              "(HMIPv6) or the HA (MIPv6); ok/unr/fail: moves whose aggregate interruption is within 1.1 x (RTT + "
              "detect) / within the resolution of it / beyond it even minus the resolution (MIPv6 rows, in "
              "parentheses: against the ICMP echo MN-MAP RTT, for comparison); ratio: aggregate interruption / (RTT + "
              "detect), median; counters: the MN daemon's BU/HoTI/CoTI/RS counters equal the captured counts"]
    lines.append("")
    lines.append("HMIPv6 aggregate interruption decomposed (medians, ms): last datagram -> break + detection + RA->BU + "
                 "BU->first datagram")
    for c in fig["configs"]:
        if c["mode"] != "hmipv6":
            continue
        s = c["summary"]
        lines.append(f"  N={c['n_cns']:<3} {_f(s['agg_pre_ms'].get('median'))} + {_f(s['detection_ms'].get('median'))} + "
                     f"{_f(s['ra_to_bu_ms'].get('median'))} + {_f(s['agg_bu_to_first_ms'].get('median'))}  "
                     f"(per flow: {_f(s['pre_ms'].get('median'))} + ... + {_f(s['bu_to_first_ms'].get('median'))}; "
                     f"RA->BU: of which kernel address/nftables updates {_f(s['addr_config_ms'].get('median'))}; "
                     f"L2 outage {_f(s['l2_outage_ms'].get('median'))}, RS sent at {_f(s['rs_ms'].get('median'))}; "
                     f"MAP BU->BA {_f(s['rtt_map_ms'].get('median'))}; echo MN-MAP {_f(c['echo_mn_map_ms'].get('avg'), '.2f')}; "
                     f"allowance 1.1 x (RTT + detect) {_f(CRITERION * (s['predicted_ms'].get('median') or 0))})")
    crit = fig["criterion"]
    ind = fig["independence"]
    lines += ["", f"criterion {crit['rule']}, judged on the aggregate: {crit['moves_ok']}/{crit['moves_checked']} "
              f"HMIPv6 moves ok, {crit['moves_unresolved']} within the resolution, {crit['moves_fail']} fail "
              f"({'HOLDS' if crit['holds'] else 'DOES NOT HOLD'} for every move; median ratio "
              + ", ".join(f"N={n}: {_f(v['ratio_median'], '.2f')}" for n, v in crit["per_n"].items())
              + f"; {'within' if crit['holds_median'] else 'NOT within'} 1.1 at the median for every N)",
              "aggregate resolution (slot / median / max, ms; transit jitter between neighbouring datagrams "
              "p95 / max, which the bound assumes negligible): " + ", ".join(
                  f"N={n}: {_f(v['slot_ms'], '.2f')} / {_f(v['resolution_median_ms'], '.2f')} / "
                  f"{_f(v['resolution_max_ms'], '.2f')} ({_f(v['transit_jitter_p95_ms'], '.2f')} / "
                  f"{_f(v['transit_jitter_max_ms'], '.1f')})" for n, v in crit["per_n"].items()),
              "per-flow figures (resolution one flow's interval): " + ", ".join(
                  f"N={n}: {v['per_flow_ok']}/{v['per_flow_checked']} ok at {_f(v['flow_interval_ms'], '.0f')} ms, "
                  f"median ratio {_f(v['per_flow_ratio_median'], '.2f')}" for n, v in crit["per_n"].items()),
              "plain MIPv6 against the same allowance (echo MN-MAP RTT): " + ", ".join(
                  f"N={n}: {_verdicts(v)} ok/unr/fail, median ratio {_f(v['ratio_median'], '.2f')}"
                  for n, v in crit["mipv6_echo"].items()),
              "HMIPv6 aggregate interruption median by N: " + ", ".join(
                  f"N={n}: {_f(v)} ms" for n, v in ind["hmipv6_agg_interruption_median_ms_by_n"].items())
              + f" (spread {_f(ind['spread_ms'])} ms)"]
    missed = [_missed(c) for c in fig["configs"] if c["summary"]["not_registered"]]
    stalled = [f"{c['mode']} N={c['n_cns']}: {c['summary'].get('moves_with_delay_stall')}" for c in fig["configs"]
               if c["summary"].get("moves_with_delay_stall")]
    if stalled:
        lines.append("measured moves during which the delay element held a frame > 5 ms too long (host stall; see "
                     "delay_stall_ms per move): " + ", ".join(stalled))
    if missed:
        lines.append("moves without a registration by the MN (no BU answered by a BA from the MAP/HA in the window; "
                     "not measured, replaced by extra moves): " + ", ".join(missed))
    lines.append("flow source pacing (SCHED_FIFO " + ("on" if any((c.get("sender") or {}).get("realtime")
                                                             for c in fig["configs"]) else "off")
                 + "): sends later than their slot by more than the threshold / all, worst lateness: " + "; ".join(
                     f"{c['mode']} N={c['n_cns']}: {(c.get('sender') or {}).get('stalls')}/"
                     f"{(c.get('sender') or {}).get('sends')}, {_f((c.get('sender') or {}).get('lateness_max_ms'), '.2f')} ms"
                     for c in fig["configs"]))
    lines.append("daemon CPU during each configuration (% of one core): " + "; ".join(
        f"{c['mode']} N={c['n_cns']}: MN {_f(c['daemon_cpu'].get('mn_pct'))}, MAP {_f(c['daemon_cpu'].get('map1_pct'))}, "
        f"CNs {_f(c['daemon_cpu'].get('cns_pct_total'))}" for c in fig["configs"]))
    acc = [(c["mode"], c["n_cns"], c["summary"]) for c in fig["configs"]]
    lines.append("accounting (sent = received + lost in moves + other + tail): " + "; ".join(
        f"{m} N={n}: {s['sent']} = {s['received']} + {s['lost_in_moves']} + {s['lost_other']} + {s['lost_tail']}"
        for m, n, s in acc))
    if not fig["complete"]:
        lines.append("INCOMPLETE: a move was not measured, a count differs, or datagrams are unaccounted for "
                     "(see the JSON)")
    return "\n".join(lines)


# --- SVG ------------------------------------------------------------------------------------------------------------

def _nice(hi: float) -> tuple[float, float]:
    """(axis top, tick step) for values up to ``hi``."""
    if hi <= 0:
        return 1.0, 0.2
    step = 10 ** math.floor(math.log10(hi / 5))
    for m in (1, 2, 5, 10):
        if hi / (step * m) <= 6:
            step *= m
            break
    return step * math.ceil(hi / step), step


class Plot:
    """A minimal SVG chart: linear axes, lines, points with whiskers, bars, a legend."""

    W, H, L, R, T, B = 560, 320, 64, 150, 34, 46

    def __init__(self, title: str, xlabel: str, ylabel: str, xmax: float, ymax: float, xmin: float = 0.0,
                 xticks: Sequence[float] | None = None) -> None:
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.xmin, self.xmax = xmin, xmax
        self.ymax, self.ystep = _nice(ymax)
        self.xticks = xticks
        self.body: list[str] = []
        self.legend: list[tuple[str, str, str]] = []

    def x(self, v: float) -> float:
        return self.L + (v - self.xmin) / ((self.xmax - self.xmin) or 1) * (self.W - self.L - self.R)

    def y(self, v: float) -> float:
        return self.H - self.B - v / self.ymax * (self.H - self.T - self.B)

    def line(self, pts: Sequence[tuple[float, float]], colour: str, label: str, dash: str = "",
             marker: bool = True) -> None:
        if not pts:
            return
        d = " ".join(f"{self.x(a):.1f},{self.y(b):.1f}" for a, b in pts)
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{extra} points="{d}"/>')
        if marker:
            self.body += [f'<circle cx="{self.x(a):.1f}" cy="{self.y(b):.1f}" r="3.5" fill="{colour}"/>' for a, b in pts]
        self.legend.append((colour, label, dash))

    def whiskers(self, items: Sequence[tuple[float, float, float]], colour: str) -> None:
        for x, lo, hi in items:
            px = self.x(x)
            self.body.append(f'<path d="M{px:.1f},{self.y(lo):.1f}V{self.y(hi):.1f}M{px - 4:.1f},{self.y(lo):.1f}'
                             f'h8M{px - 4:.1f},{self.y(hi):.1f}h8" stroke="{colour}" fill="none"/>')

    def bars(self, groups: Sequence[float], series: Sequence[tuple[str, str, Sequence[float | None]]],
             labels: Sequence[str]) -> None:
        width = (self.W - self.L - self.R) / len(groups)
        bw = width * 0.7 / len(series)
        for gi, _g in enumerate(groups):
            for si, (colour, _label, values) in enumerate(series):
                v = values[gi]
                if v is None:
                    continue
                x0 = self.L + gi * width + width * 0.15 + si * bw
                self.body.append(f'<rect x="{x0:.1f}" y="{self.y(v):.1f}" width="{bw - 1:.1f}" '
                                 f'height="{self.y(0) - self.y(v):.1f}" fill="{colour}"/>')
                self.body.append(f'<text x="{x0 + bw / 2:.1f}" y="{self.y(v) - 3:.1f}" font-size="10" '
                                 f'text-anchor="middle">{v:.3g}</text>')
            self.body.append(f'<text x="{self.L + gi * width + width / 2:.1f}" y="{self.H - self.B + 16}" '
                             f'font-size="11" text-anchor="middle">{html.escape(labels[gi])}</text>')
        self.legend += [(c, label, "") for c, label, _ in series]
        self.xticks = []

    def svg(self) -> str:
        W, H, L, R, T, B = self.W, self.H, self.L, self.R, self.T, self.B
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
               f'font-family="sans-serif" font-size="11">',
               f'<rect width="{W}" height="{H}" fill="white"/>',
               f'<text x="{L}" y="18" font-size="13" font-weight="bold">{html.escape(self.title)}</text>']
        v = 0.0
        while v <= self.ymax + 1e-9:
            y = self.y(v)
            out.append(f'<line x1="{L}" x2="{W - R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                       f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>')
            v += self.ystep
        for xv in (self.xticks or []):
            out.append(f'<text x="{self.x(xv):.1f}" y="{H - B + 16}" text-anchor="middle">{xv:g}</text>'
                       f'<line x1="{self.x(xv):.1f}" x2="{self.x(xv):.1f}" y1="{H - B}" y2="{H - B + 4}" stroke="#333"/>')
        out.append(f'<path d="M{L},{T}V{H - B}H{W - R}" stroke="#333" fill="none"/>')
        out.append(f'<text x="{(L + W - R) / 2}" y="{H - 8}" text-anchor="middle">{html.escape(self.xlabel)}</text>')
        out.append(f'<text transform="translate(14,{(T + H - B) / 2}) rotate(-90)" text-anchor="middle">'
                   f'{html.escape(self.ylabel)}</text>')
        out += self.body
        for i, (colour, label, dash) in enumerate(self.legend):
            y = T + 8 + 18 * i
            extra = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<line x1="{W - R + 10}" x2="{W - R + 30}" y1="{y}" y2="{y}" stroke="{colour}" '
                       f'stroke-width="3"{extra}/><text x="{W - R + 34}" y="{y + 4}">{html.escape(label)}</text>')
        out.append("</svg>")
        return "\n".join(out)


def _series(fig: dict[str, Any], mode: str) -> list[dict[str, Any]]:
    return sorted((c for c in fig["configs"] if c["mode"] == mode), key=lambda c: c["n_cns"])


def plots(fig: dict[str, Any]) -> dict[str, str]:
    """name -> SVG text."""
    out = {}
    ns = sorted({c["n_cns"] for c in fig["configs"]})
    xmax = max(ns) + (1 if len(ns) == 1 else 0)
    xmin = 0 if len(ns) > 1 else max(0, min(ns) - 1)
    top = max([c["summary"][k].get("p95") or 0 for c in fig["configs"]
               for k in ("interruption_ms", "agg_interruption_ms")] + [1])
    p = Plot("Interruption per move (median, p5-p95)", "correspondents N", "interruption (ms)", xmax, top * 1.05,
             xmin=xmin, xticks=ns)
    for mode in ("mipv6", "hmipv6"):
        name = "HMIPv6" if mode == "hmipv6" else "MIPv6"
        cs = [c for c in _series(fig, mode) if c["summary"]["agg_interruption_ms"].get("n")]
        s = [(c["n_cns"], c["summary"]["agg_interruption_ms"]) for c in cs]
        p.whiskers([(n, d["p5"], d["p95"]) for n, d in s], COLOURS[mode])
        p.line([(n, d["median"]) for n, d in s], COLOURS[mode], f"{name} aggregate")
        p.line([(c["n_cns"], c["summary"]["interruption_ms"]["median"]) for c in cs], COLOURS[mode],
               f"{name} per flow", dash="1,3")
    hm = [c for c in _series(fig, "hmipv6") if c["summary"]["predicted_ms"].get("n")]
    p.line([(c["n_cns"], c["summary"]["predicted_ms"]["median"]) for c in hm], "#2ca02c", "RTT+detection",
           dash="5,3")
    p.line([(c["n_cns"], CRITERION * c["summary"]["predicted_ms"]["median"]) for c in hm], "#9467bd",
           f"{CRITERION}x(RTT+det)", dash="2,3", marker=False)
    out["interruption"] = p.svg()

    allv = [m["agg_interruption"] for c in fig["configs"] for m in c["moves"] if m["agg_interruption"] is not None]
    p = Plot("Aggregate interruption per move: cumulative distribution", "interruption (ms)", "fraction of moves",
             max(allv + [1]) * 1.05, 1.0, xticks=None)
    p.xticks = [round(x) for x in _ticks(p.xmax)]
    dashes = ["", "6,3", "2,2", "8,3,2,3"]
    for mode in ("hmipv6", "mipv6"):
        for i, c in enumerate(_series(fig, mode)):
            v = sorted(m["agg_interruption"] for m in c["moves"] if m["agg_interruption"] is not None)
            pts = [(x, (k + 1) / len(v)) for k, x in enumerate(v)]
            p.line(pts, COLOURS[mode], f"{'HMIPv6' if mode == 'hmipv6' else 'MIPv6'} N={c['n_cns']}",
                   dash=dashes[i % len(dashes)], marker=False)
    out["interruption_cdf"] = p.svg()

    for key, title, ylabel in (("mobility_sent_per_move", "Mobility messages sent by the MN per move (mean)",
                                "BU + HoTI + CoTI per move"),
                               ("lost_per_move", "Datagrams lost per move (mean, all flows)", "datagrams per move")):
        groups = sorted({c["n_cns"] for c in fig["configs"]})
        hv = [next((c["summary"][key].get("mean") for c in _series(fig, "hmipv6") if c["n_cns"] == n), None)
              for n in groups]
        mv = [next((c["summary"][key].get("mean") for c in _series(fig, "mipv6") if c["n_cns"] == n), None)
              for n in groups]
        p = Plot(title, "correspondents N", ylabel, 1, max([v for v in hv + mv if v is not None] + [1]) * 1.15)
        p.bars(groups, [(COLOURS["hmipv6"], "HMIPv6", hv), (COLOURS["mipv6"], "MIPv6", mv)],
               [f"N={n}" for n in groups])
        out[key] = p.svg()

    hm = _series(fig, "hmipv6")
    if hm:
        parts = (("agg_pre_ms", "before break", "#bbbbbb"), ("detection_ms", "detection", "#ff7f0e"),
                 ("ra_to_bu_ms", "RA->BU (MN)", "#8c564b"), ("agg_bu_to_first_ms", "BU->first datagram", "#1f77b4"))
        p = Plot("HMIPv6 aggregate interruption decomposed (medians)", "correspondents N", "ms", 1,
                 max(max(sum(c["summary"][k].get("median") or 0 for k, _, _ in parts),
                         CRITERION * (c["summary"]["predicted_ms"].get("median") or 0)) for c in hm) * 1.15)
        width = (p.W - p.L - p.R) / len(hm)
        for gi, c in enumerate(hm):
            base = 0.0
            x0 = p.L + gi * width + width * 0.25
            for k, _label, colour in parts:
                v = c["summary"][k].get("median") or 0.0
                p.body.append(f'<rect x="{x0:.1f}" y="{p.y(base + v):.1f}" width="{width * 0.5:.1f}" '
                              f'height="{p.y(base) - p.y(base + v):.1f}" fill="{colour}"/>')
                base += v
            p.body.append(f'<text x="{x0 + width * 0.25:.1f}" y="{p.H - p.B + 16}" text-anchor="middle">'
                          f'N={c["n_cns"]}</text>')
            med = c["summary"]["agg_interruption_ms"].get("median")
            allowed = c["summary"]["predicted_ms"].get("median")
            if allowed is not None:
                p.body.append(f'<path d="M{x0 - 6:.1f},{p.y(CRITERION * allowed):.1f}h{width * 0.5 + 12:.1f}" '
                              'stroke="#9467bd" stroke-width="2" stroke-dasharray="4,2"/>')
            if med is not None:
                p.body.append(f'<path d="M{x0 - 6:.1f},{p.y(med):.1f}h{width * 0.5 + 12:.1f}" stroke="black" '
                              f'stroke-width="2"/>')
        p.xticks = []
        p.legend = [(colour, label, "") for _, label, colour in parts] + [("black", "measured median", ""),
                                                                          ("#9467bd", f"{CRITERION}x(RTT+det)", "4,2")]
        out["hmipv6_decomposition"] = p.svg()
    return out


def _ticks(hi: float) -> list[float]:
    top, step = _nice(hi)
    return [i * step for i in range(int(round(top / step)) + 1) if i * step <= hi]


# --- HTML ---------------------------------------------------------------------------------------------------------

def write_html(out_dir: Path, params, fig: dict[str, Any], mach: dict[str, Any]) -> Path:
    """``handover.html`` (table, verdicts, plots inline) and one ``.svg`` file per plot in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    svgs = plots(fig)
    for name, text in svgs.items():
        (out_dir / f"{name}.svg").write_text(text)
    esc = html.escape
    crit, ind = fig["criterion"], fig["independence"]
    base = {c["n_cns"]: c["summary"] for c in fig["configs"] if c["mode"] == "mipv6"}
    rows = []
    for c in fig["configs"]:
        s, b = c["summary"], base.get(c["n_cns"], {})
        i, g = s["interruption_ms"], s["agg_interruption_ms"]
        rtt = s["rtt_map_ms"] if c["mode"] == "hmipv6" else s["rtt_ha_ms"]
        crit_cell = (f"{_verdicts(s['criterion_agg'])} (median {_f(s['ratio_agg'].get('median'), '.2f')})"
                     if c["mode"] == "hmipv6" else
                     f"echo: {_verdicts(s['criterion_agg_echo'])} "
                     f"(median {_f(s['ratio_agg_echo'].get('median'), '.2f')})")
        sig = ", ".join(f"{k} {v:.2g}" for k, v in sorted(s["signalling_per_move"].items()) if v)
        rows.append(
            f"<tr class='{c['mode']}'><td>{c['mode']}</td><td>{c['n_cns']}</td><td>{s['measured']}/{s['moves']}</td>"
            f"<td>{_f(c.get('flow_rate'), '.0f')}</td>"
            f"<td>{_f(i.get('median'))}</td><td>{_f(s.get('flow_interval_ms'), '.0f')}</td>"
            f"<td>{_f(g.get('median'))}</td><td>{_f(g.get('p5'))}&ndash;{_f(g.get('p95'))}</td>"
            f"<td>{_f(s.get('slot_ms'), '.2f')} / {_f(s['resolution_ms'].get('median'), '.2f')}</td>"
            f"<td>{_f(s['interruption_max_ms'].get('median'))}</td>"
            f"<td>{_x(g.get('median'), b.get('agg_interruption_ms', {}).get('median'))}</td>"
            f"<td>{_f(s['lost_per_move'].get('mean'))}</td>"
            f"<td>{_x(s['lost_per_move'].get('mean'), b.get('lost_per_move', {}).get('mean'))}</td>"
            f"<td>{_f(s['mobility_sent_per_move'].get('mean'))}</td>"
            f"<td>{_x(s['mobility_sent_per_move'].get('mean'), b.get('mobility_sent_per_move', {}).get('mean'))}</td>"
            f"<td>{esc(sig)}</td><td>{_f(s['detection_ms'].get('median'))}</td>"
            f"<td>{_f(s['ra_to_bu_ms'].get('median'))}</td><td>{_f(rtt.get('median'))}</td>"
            f"<td>{_f(c['echo_mn_map_ms'].get('avg'), '.2f')}</td><td>{esc(crit_cell)}</td>"
            f"<td>{'match' if c['cross_check']['equal'] else 'DIFFER'}</td>"
            f"<td>{s['sent']} = {s['received']} + {s['lost_in_moves']} + {s['lost_other']} + {s['lost_tail']}</td></tr>")
    moves_html = []
    for c in fig["configs"]:
        trs = "".join(
            f"<tr><td>{m['index']}</td><td>{m['to']}</td><td>{_f(m['l2_outage'])}</td><td>{_f(m['rs'])}</td>"
            f"<td>{_f(m['detection'])}</td><td>{_f(m['first_bu'])}</td><td>{_f(m['rtt_map'] or m['rtt_ha'])}</td>"
            f"<td>{_f(m['ro_done'])}</td><td>{_f(m['interruption'])}</td><td>{_f(m['interruption_max'])}</td>"
            f"<td>{_f(m['agg_interruption'])}</td><td>{_f(m['resolution'], '.2f')}</td>"
            f"<td>{m['lost']}</td><td>{esc(', '.join(f'{k} {v}' for k, v in sorted(m['signalling'].items())))}</td>"
            f"<td>{_f(m['ratio_agg'] if c['mode'] == 'hmipv6' else m['ratio_agg_echo'], '.2f')}</td>"
            f"<td>{m['verdict_agg'] if c['mode'] == 'hmipv6' else m['verdict_agg_echo']}</td></tr>"
            for m in c["moves"])
        moves_html.append(
            f"<details><summary>{c['mode']} N={c['n_cns']}: per-move records</summary><table><tr><th>#</th><th>to</th>"
            f"<th>L2 outage</th><th>RS</th><th>RA (detection)</th><th>first BU</th><th>BU&rarr;BA</th>"
            f"<th>last CN BA</th><th>interruption (flow mean)</th><th>slowest flow</th><th>aggregate interruption</th>"
            f"<th>resolution</th><th>lost</th><th>signalling sent</th>"
            f"<th>ratio (aggregate)</th><th>1.1&times; verdict</th></tr>{trs}</table><p class='note'>Times in ms from "
            f"the carrier loss; MIPv6 ratio/verdict against the ICMP echo MN&ndash;MAP round trip.</p></details>")
    decomposition = "".join(
        f"<tr><td>{c['n_cns']}</td><td>{_f(c['summary']['agg_pre_ms'].get('median'))}</td>"
        f"<td>{_f(c['summary']['l2_outage_ms'].get('median'))}</td><td>{_f(c['summary']['rs_ms'].get('median'))}</td>"
        f"<td>{_f(c['summary']['detection_ms'].get('median'))}</td><td>{_f(c['summary']['ra_to_bu_ms'].get('median'))}</td>"
        f"<td>{_f(c['summary']['addr_config_ms'].get('median'))}</td>"
        f"<td>{_f(c['summary']['rtt_map_ms'].get('median'))}</td>"
        f"<td>{_f(c['summary']['agg_bu_to_first_ms'].get('median'))}</td>"
        f"<td>{_f(c['summary']['agg_interruption_ms'].get('median'))}</td>"
        f"<td>{_f(CRITERION * (c['summary']['predicted_ms'].get('median') or 0))}</td></tr>"
        for c in _series(fig, "hmipv6"))
    text_header = "<br>".join(esc(x) for x in header(params, fig, mach))
    verdict = (f"<p class='{'ok' if crit['holds'] else 'bad'}'><b>Criterion</b> {esc(crit['rule'])}, judged on "
               f"{esc(crit['judged_on'])}: {crit['moves_ok']}/{crit['moves_checked']} HMIPv6 moves ok, "
               f"{crit['moves_unresolved']} unresolved, {crit['moves_fail']} fail &mdash; "
               f"<b>{'holds' if crit['holds'] else 'does not hold'}</b> for every move; "
               f"{'within' if crit['holds_median'] else 'not within'} {CRITERION} at the median for every N. Per N "
               "(ok/unresolved/fail, median ratio, resolution slot/median): "
               + ", ".join(f"N={n}: {_verdicts(v)}, {_f(v['ratio_median'], '.2f')}, {_f(v['slot_ms'], '.2f')}/"
                           f"{_f(v['resolution_median_ms'], '.2f')} ms" for n, v in crit["per_n"].items())
               + ". Per-flow figures (resolution one flow's interval): "
               + ", ".join(f"N={n}: {v['per_flow_ok']}/{v['per_flow_checked']} at {_f(v['flow_interval_ms'], '.0f')} ms"
                           for n, v in crit["per_n"].items())
               + ". Plain MIPv6 against the same allowance (echo round trip): "
               + ", ".join(f"N={n}: {_verdicts(v)}, median ratio {_f(v['ratio_median'], '.2f')}"
                           for n, v in crit["mipv6_echo"].items()) + ".</p>"
               "<p><b>Independence of N</b>: HMIPv6 aggregate interruption medians "
               + ", ".join(f"N={n}: {_f(v)} ms" for n, v in ind["hmipv6_agg_interruption_median_ms_by_n"].items())
               + f" (spread {_f(ind['spread_ms'])} ms).</p>")
    hm = _series(fig, "hmipv6")
    findings = []
    if hm:
        ra_bu = [c["summary"]["ra_to_bu_ms"].get("median") for c in hm]
        addr = [c["summary"]["addr_config_ms"].get("median") for c in hm]
        findings.append(
            "Time from the Router Advertisement to the BU (MN processing), medians per N: "
            + ", ".join(f"{_f(v)} ms" for v in ra_bu) + "; of which the MN daemon's kernel address and nftables "
            "updates (carried out before it sends the BU, from its log): "
            + ", ".join(f"{_f(v)} ms" for v in addr) + ".")
        findings.append("What-if without that time: " + ", ".join(
            f"N={n}: {v['ok_wo_addr']}/{v['checked']} moves within {CRITERION}x, median ratio "
            f"{_f(v['ratio_wo_addr_median'], '.2f')}" for n, v in crit["per_n"].items())
            + " (per-flow figures). The rest is sampling (below the resolution) and MAP/MN data-plane latency.")
    missed = [_missed(c) for c in fig["configs"] if c["summary"]["not_registered"]]
    if missed:
        findings.append("Moves the MN did not register (no BU answered by a BA in the window; not measured, replaced "
                        "by extra moves): " + ", ".join(missed) + ".")
    cpu = "; ".join(f"{c['mode']} N={c['n_cns']}: MN {_f(c['daemon_cpu'].get('mn_pct'))}%, MAP "
                    f"{_f(c['daemon_cpu'].get('map1_pct'))}%, CNs {_f(c['daemon_cpu'].get('cns_pct_total'))}%"
                    for c in fig["configs"])
    stalled = [f"{c['mode']} N={c['n_cns']}: {c['summary'].get('moves_with_delay_stall')}" for c in fig["configs"]
               if c["summary"].get("moves_with_delay_stall")]
    if stalled:
        findings.append("Measured moves during which the delay element released a frame more than 5 ms late (the "
                        "host stalled it; their figures include that): " + ", ".join(stalled) + ".")
    findings.append(f"Daemon CPU during each configuration (% of one core): {cpu}.")
    comp = "".join(
        f"<li>N={r['n_cns']}: interruption HMIPv6 {_f(r['hmipv6_interruption_median_ms'])} ms vs MIPv6 "
        f"{_f(r['mipv6_interruption_median_ms'])} ms (x{_f(r['interruption_median_ms_ratio'], '.2f')}); lost/move "
        f"{_f(r['hmipv6_lost_per_move_mean'])} vs {_f(r['mipv6_lost_per_move_mean'])}; MN mobility messages/move "
        f"{_f(r['hmipv6_signalling_per_move_mean'])} vs {_f(r['mipv6_signalling_per_move_mean'])}</li>"
        for r in fig["comparison"])
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>hmipv6ct bench handover</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:1300px}}table{{border-collapse:collapse;margin:.5em 0}}
td,th{{border:1px solid #ccc;padding:2px 6px;font-size:13px;text-align:right}}th{{background:#f2f2f2}}
tr.hmipv6 td:first-child{{color:#1f77b4;font-weight:bold}}tr.mipv6 td:first-child{{color:#d62728;font-weight:bold}}
.ok{{color:#1a7f1a}}.bad{{color:#b00}}.note{{color:#555;font-size:12px}}figure{{display:inline-block;margin:.5em}}
code{{background:#f4f4f4}}</style></head><body>
<h1>Handover benchmark: HMIPv6 vs Mobile IPv6</h1>
<p class="note">{text_header}<br>Generated {esc(time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()))} on
{esc(str(mach.get('cpu_model', '')))}; testbed file <code>testbed.yaml</code>; command
<code>hmipv6ct bench handover --moves {params.moves} --cns {','.join(map(str, params.cns))} --delay-ms
{params.delay_ms:g} --map-delay-ms {params.map_delay_ms:g} {f"--rate-per-cn {params.rate_per_cn:g}" if params.rate_per_cn
else f"--rate {params.rate:g}"}</code> (pid {os.getpid()}).</p>
{verdict}
<h2>Findings</h2><ul>{''.join(f"<li>{esc(x)}</li>" for x in findings)}</ul>
<h2>Results</h2>
<table><tr><th>mode</th><th>N</th><th>moves measured</th><th>datagrams/s per CN</th><th>interruption per flow,
median ms</th><th>its resolution (flow interval) ms</th><th>aggregate interruption median ms</th><th>p5&ndash;p95</th>
<th>aggregate slot / resolution ms</th><th>slowest flow median</th><th>&times; MIPv6</th><th>lost / move</th><th>&times; MIPv6</th><th>MN mobility msgs / move</th>
<th>&times; MIPv6</th><th>sent per move by kind</th><th>detection ms</th><th>RA&rarr;BU ms</th><th>BU&rarr;BA ms (MAP / HA)</th>
<th>echo MN&ndash;MAP ms</th><th>aggregate &le; 1.1&times;(RTT+detection): ok/unresolved/fail</th><th>counters vs capture</th>
<th>sent = recv + lost(moves) + other + tail</th></tr>
{''.join(rows)}</table>
<ul>{comp}</ul>
<figure>{svgs['interruption']}</figure><figure>{svgs['interruption_cdf']}</figure>
<figure>{svgs['mobility_sent_per_move']}</figure><figure>{svgs['lost_per_move']}</figure>
{f"<figure>{svgs['hmipv6_decomposition']}</figure>" if 'hmipv6_decomposition' in svgs else ''}
<h2>HMIPv6 aggregate interruption decomposed (medians, ms)</h2>
<table><tr><th>N</th><th>last datagram&rarr;carrier loss</th><th>L2 outage</th><th>RS sent</th><th>RA (detection)</th>
<th>RA&rarr;BU (MN processing)</th><th>of which kernel address + nftables updates (MN log)</th><th>BU&rarr;BA (MAP)</th><th>BU&rarr;first datagram</th><th>interruption</th><th>1.1&times;(RTT+detection)</th></tr>
{decomposition}</table>
<h2>Method</h2>
<ul>
<li>Topology: HA and N reference CN daemons beyond a router; the delay element (a userspace AF_PACKET forwarder,
<code>benchmarks/delay.py</code>: the host has no netem) is spliced into MAP1's core port ({params.delay_ms:g} ms each
way to the HA and CNs) and its domain port ({params.map_delay_ms:g} ms each way to AR1/AR2 and the MN). No IPsec on
MN&ndash;MAP signalling (the bundled virtual testbed protects it with ESP).</li>
<li>Mobile node: the reference <code>hmipv6-mn</code>; MIPv6 = the same daemon with <code>hmipv6: false</code>
(MAP options ignored), route optimisation with every CN in both modes (the MN's binding update list must show a bound
binding at the HA, the MAP in HMIPv6 mode, and every CN before a configuration is measured). In HMIPv6 mode the CNs
hold the RCoA, so an intra-domain move needs one BU to the MAP; in MIPv6 mode the MN registers the new CoA with the HA,
then runs return routability (CoTI/CoT; home tokens younger than MAX_TOKEN_LIFETIME are reused) and sends a BU to each
CN.</li>
<li>Move: the MN's switch port moves between AR1's and AR2's bridges (carrier flap seen by the MN), every
{params.interval:g} s (plus a random fraction of one flow's send interval), alternating, until {params.moves} moves have
been completed; a move with no registration BU from the MN in its window is reported and not measured (the move back
after it needs none either).</li>
<li>Flows: each CN sends UDP to the home address through its CN daemon (route optimisation), {
("%g datagrams/s each" % params.rate_per_cn) if params.rate_per_cn else
("%g datagrams/s in all, split evenly across the N CNs" % params.rate)}; the flows are staggered, so together they
are one evenly spaced stream (one send slot per 1/aggregate rate). Interruption per flow: last datagram received
before the carrier loss to the first received that was sent after it (kernel receive timestamps at the MN), the
longest silence in between; resolution one flow's send interval. Aggregate interruption: the same on the merged
stream of all flows (the MAP's tunnel switch is shared by every CN). A measured silence is never shorter than the
true outage and longer by less than the send interval after its last datagram plus the one before its first:
resolution = 2 &times; (slot + the flow source's worst lateness in the gap, as it recorded it). The criterion is
judged on the aggregate, without any correction: ok when the measurement is within 1.1&times;(RTT+detection) (so the
true interruption is too), fail when even the measurement minus its resolution exceeds it, else unresolved.</li>
<li>Signalling: captured on the MN's interface (AF_PACKET, tunnels unwrapped); BUs classified by their innermost
destination. The MN daemon's own counters are compared with the capture over each configuration.</li>
<li>Detection: carrier loss to the first Router Advertisement received; RTT: BU&rarr;BA with the MAP measured for
each move (and ICMP echo MN&rarr;MAP once per configuration).</li>
</ul>
{''.join(moves_html)}
</body></html>
"""
    path = out_dir / "handover.html"
    path.write_text(doc)
    return path
