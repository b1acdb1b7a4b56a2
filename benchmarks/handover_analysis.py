"""From one configuration's raw observations to per-move figures: interruption, packets lost, signalling, movement
detection, MN-MAP round trip, and the check ``interruption <= 1.1 x (MN-MAP round trip + movement detection)``.

Inputs (all times ``time.time()`` seconds, see :mod:`benchmarks.handover_agents`):

* ``moves``: ``{"index", "to", "down", "up"}`` -- when the benchmark started taking the mobile node's port down and
  when the port was up on the new bridge (``AttachResult``);
* ``observed``: the observer's ``arrivals`` ``(flow, seq, received, sent)``, ``events``
  ``(t, "in"|"out", kind, seq, src, dst, depth)`` and ``carrier`` ``(t, up)`` at the mobile node;
* ``sent``: datagrams sent per flow (the flow source's count).

Definitions, per move *i* (window: from its carrier loss to the next move's):

* ``break`` / ``attach``: carrier lost / back at the mobile node (rtnetlink; the move's request times if not seen);
* ``interruption`` of a flow: the brief's "last packet before the move to first packet after, at the MN", made
  robust against datagrams the MN's own data plane delivers a few ms late: from the last datagram received before
  the break to the first received that was *sent* after it, the longest time without an arrival (see
  :func:`flow_gap`); the move's figure is the mean over its flows (``interruption_max``: the slowest flow);
* ``agg_interruption``: the same on the aggregate of all CN->MN flows (one stream of ``N x`` the per-flow rate, slot
  ``k * N + f``): the MN's longest silence from the last datagram of any flow before the break to the first datagram
  of any flow sent after it.  The MAP's tunnel switch is shared by every CN, so this is the HMIPv6 handover's
  interruption at the aggregate's sampling interval ``slot`` instead of a flow's ``N x slot``;
* ``resolution``: the bound on its sampling error.  The measurement is never shorter than the true outage (it runs
  from a datagram delivered before the outage to one delivered after it) and exceeds it by less than the send
  interval after the last datagram plus the one before the first, i.e. ``2 x (slot + sender lateness)``, the
  lateness being the worst the flow source recorded for slots in the gap (at least its recording threshold);
* ``verdict_agg``: ``ok`` when ``agg_interruption <= 1.1 x predicted`` (then the true interruption is too),
  ``fail`` when ``agg_interruption - resolution > 1.1 x predicted``, else ``unresolved`` (within the resolution);
* ``lost`` of a flow: sequence numbers between the last datagram before the break and that first datagram sent
  after it that never arrived;
* ``detection``: break to the first Router Advertisement received after the attach (L2 outage + RS/RA exchange);
* ``rtt_map``: the first BU sent to the MAP in the window to its BA (matched by sequence number);
* ``predicted = rtt + detection``; ``ok`` when ``interruption <= 1.1 x predicted``;
* ``signalling``: messages the mobile node sent in the window, by kind (``bu_map``, ``bu_ha``, ``bu_cn``, ``hoti``,
  ``coti``, ``rs``, ...; BUs classified by their innermost destination).

Every datagram is accounted for: ``sent = received + lost_in_moves + lost_other + lost_tail`` per flow (``lost_tail``:
after the last datagram received; ``lost_other``: missing outside every move's interruption).
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

CRITERION = 1.1  # interruption <= CRITERION x (MN-MAP round trip + movement detection)
MOBILITY_SENT = ("bu_map", "bu_ha", "bu_cn", "bu_other", "hoti", "coti")


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) by linear interpolation; None for no values."""
    v = sorted(values)
    if not v:
        return None
    pos = q * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def describe(values: Iterable[float | None], scale: float = 1.0) -> dict[str, Any]:
    """n, mean, median, p5, p95, min, max of the non-None values, multiplied by ``scale``."""
    v = [x * scale for x in values if x is not None]
    if not v:
        return {"n": 0}
    return {"n": len(v), "mean": statistics.fmean(v), "median": percentile(v, 0.5), "p5": percentile(v, 0.05),
            "p95": percentile(v, 0.95), "min": min(v), "max": max(v)}


def flow_gap(times: Sequence[float], seqs: Sequence[int], sent_at: Sequence[float], top: Sequence[int],
             t_break: float, t_end: float, last: int | None = None) -> dict[str, Any] | None:
    """One flow across one move.  ``times``/``seqs``/``sent_at``: its arrivals in arrival order; ``top[k]``: the
    highest sequence number among arrivals 0..k.  The gap runs from the last arrival before ``t_break`` (or ``last``,
    an index, when the flow has not resumed since an earlier move) to the first arrival of a datagram *sent* at or
    after ``t_break`` (which can only have come by the new path) before ``t_end``; the interruption is the longest
    time between consecutive arrivals in that span.  Datagrams sent before the move and delivered late by the
    mobile node's own data plane therefore neither end the interruption early nor hide the loss after them.
    None when the flow did not resume before ``t_end``."""
    i = bisect.bisect_left(times, t_break)
    if last is None and i > 0:
        last = i - 1
    j = i
    while j < len(times) and times[j] < t_end and sent_at[j] < t_break:
        j += 1
    if j >= len(times) or times[j] >= t_end:
        return None
    out: dict[str, Any] = {"resume": times[j], "seq_resume": seqs[j], "last": None, "seq_last": -1,
                           "interruption": None, "gap_start": None, "gap_end": None, "sent_start": None,
                           "sent_end": None}
    if last is None:
        return out
    width, k = max((times[k + 1] - times[k], k) for k in range(last, j)) if j > last else (0.0, j)
    out.update(last=times[last], seq_last=top[last], interruption=width, gap_start=times[k],
               gap_end=times[min(k + 1, j)], sent_start=sent_at[k], sent_end=sent_at[min(k + 1, j)])
    return out


def peer_class(address: str, roles: dict[str, str]) -> str:
    return roles.get(address, "other")


def signalling_kind(kind: str, dst: str, roles: dict[str, str]) -> str:
    """``bu_<peer>`` for a BU (peer from its innermost destination), else the message name (``rs``, ``hoti``...)."""
    name = kind.split(":", 1)[1]
    return f"bu_{peer_class(dst, roles)}" if kind == "mh:bu" else name


def count_sent(events: Iterable[Sequence[Any]], roles: dict[str, str], start: float = float("-inf"),
               end: float = float("inf")) -> Counter[str]:
    """Signalling the mobile node sent in ``[start, end)``: Mobility Headers, Router and Neighbour Solicitations."""
    out: Counter[str] = Counter()
    for t, direction, kind, _seq, _src, dst, _depth in events:
        if direction != "out" or not start <= t < end:
            continue
        if kind.startswith("mh:") or kind in ("icmp:rs", "icmp:ns", "icmp:na", "esp"):
            out[signalling_kind(kind, dst, roles)] += 1
    return out


def _carrier(carrier: Sequence[Sequence[Any]], after: float, up: bool, before: float) -> float | None:
    return next((t for t, state in carrier if after <= t < before and bool(state) is up), None)


def _first(events: Sequence[Sequence[Any]], direction: str, kind: str, start: float, end: float,
           dst: str | None = None, src: str | None = None) -> Sequence[Any] | None:
    for e in events:
        t, d, k, _seq, s, ds, _depth = e
        if t < start:
            continue
        if t >= end:
            return None
        if d == direction and k == kind and (dst is None or ds == dst) and (src is None or s == src):
            return e
    return None


def exchange(events: Sequence[Sequence[Any]], peer: str, start: float, end: float) -> tuple[float, float] | None:
    """(BU sent, its BA received) of the first BU to ``peer`` in ``[start, end)`` that got a BA (same sequence)."""
    for t, d, k, seq, _s, dst, _depth in events:
        if t < start:
            continue
        if t >= end:
            return None
        if d == "out" and k == "mh:bu" and dst == peer:
            for t2, d2, k2, seq2, s2, _ds2, _dp in events:
                if t2 >= t and t2 < end and d2 == "in" and k2 == "mh:ba" and s2 == peer and seq2 == seq:
                    return t, t2
    return None


def log_span(log: Sequence[tuple[float, str]], first: str, then: str, start: float, end: float) -> float | None:
    """In the daemon's log ``(ts, event)``: from the first ``first`` event in ``[start, end)`` to the next ``then``."""
    t0 = next((t for t, e in log if start <= t < end and e == first), None)
    if t0 is None:
        return None
    t1 = next((t for t, e in log if t0 <= t < end and e == then), None)
    return None if t1 is None else t1 - t0


def analyse(mode: str, moves: Sequence[dict[str, Any]], observed: dict[str, Any], sent: Sequence[int],
            roles: dict[str, str], map_address: str, echo_rtt: float | None = None,
            end: float | None = None, mn_log: Sequence[tuple[float, str]] = (), slot: float | None = None,
            stalls: Sequence[Sequence[float]] = (), stall_threshold: float = 0.0) -> dict[str, Any]:
    """Per-move records and the configuration's summary (see the module docstring).  ``mn_log``: the MN daemon's
    log events ``(ts, event)``; ``addr_config`` is then its time from ``router_selected`` to ``lcoa_formed`` (the
    kernel address and nftables updates it carries out before the BU leaves).  ``slot``: the aggregate send
    interval (flow *f*'s datagram *k* is the aggregate stream's slot ``k * N + f``); ``stalls``: the sender's
    ``(due, late)`` for sends more than ``stall_threshold`` behind their slot -- together they bound the sampling
    error of the aggregate interruption (``resolution``)."""
    mn_log = sorted(mn_log)
    events = sorted(observed["events"], key=lambda e: e[0])
    carrier = sorted(observed["carrier"], key=lambda c: c[0])
    n_flows = len(sent)
    by_flow: list[list[tuple[float, int, float]]] = [[] for _ in range(n_flows)]
    for flow, seq, received_at, sent_at in observed["arrivals"]:
        if 0 <= flow < n_flows:
            by_flow[flow].append((received_at, seq, sent_at))
    for arr in by_flow:
        arr.sort()
    times = [[a[0] for a in arr] for arr in by_flow]
    seqs = [[a[1] for a in arr] for arr in by_flow]
    sent_at = [[a[2] for a in arr] for arr in by_flow]
    top = [list(itertools.accumulate(s, max)) for s in seqs]
    # the aggregate of all CN->MN flows: one stream, slot k * N + f (every flow crosses the same MAP tunnel switch)
    agg = sorted((a[0], a[1] * n_flows + f, a[2]) for f, arr in enumerate(by_flow) for a in arr)
    agg_times, agg_slots, agg_sent = [a[0] for a in agg], [a[1] for a in agg], [a[2] for a in agg]
    agg_top = list(itertools.accumulate(agg_slots, max))
    stalls = sorted((float(d), float(late)) for d, late in stalls)
    stall_due = [d for d, _ in stalls]
    agg_pending: int | None = None
    # transit jitter: change of the one-way delay between consecutive datagrams of the aggregate that arrived at
    # most 5 slots apart (the resolution assumes neighbouring datagrams take equally long; this shows how far not)
    jitter = [abs((agg_times[k + 1] - agg_sent[k + 1]) - (agg_times[k] - agg_sent[k])) for k in range(len(agg) - 1)
              if slot and agg_times[k + 1] - agg_times[k] <= 5 * slot]
    received = [set(s) for s in seqs]
    end = end if end is not None else max((e[0] for e in events), default=0.0)
    ha = next((a for a, r in roles.items() if r == "ha"), None)

    breaks = []
    for i, m in enumerate(moves):
        nxt = moves[i + 1]["down"] if i + 1 < len(moves) else end
        t_break = _carrier(carrier, m["down"] - 0.001, False, nxt) or m["down"]
        t_attach = _carrier(carrier, t_break, True, nxt) or m["up"]
        breaks.append((t_break, t_attach))

    records = []
    pending: list[int | None] = [None] * n_flows  # a flow's last index before a break it has not resumed from yet
    gaps: list[list[tuple[int, int]]] = [[] for _ in range(n_flows)]  # per flow: (seq_last, seq_first) open ranges
    for i, m in enumerate(moves):
        t_break, t_attach = breaks[i]
        w_end = breaks[i + 1][0] if i + 1 < len(moves) else end
        flows = []
        for f in range(n_flows):
            g = flow_gap(times[f], seqs[f], sent_at[f], top[f], t_break, w_end, pending[f])
            rec: dict[str, Any] = {"flow": f}
            if g is None:
                i = bisect.bisect_left(times[f], t_break)
                if pending[f] is None:
                    pending[f] = i - 1 if i > 0 else None
                rec.update(interruption=None, lost=None, last=None, gap_start=None, gap_end=None)
            else:
                pending[f] = None
                lo, hi = g["seq_last"], g["seq_resume"]
                lost = sum(1 for s in range(lo + 1, hi) if s not in received[f]) if hi > lo else 0
                gaps[f].append((lo, hi))
                rec.update(g, lost=lost)
            flows.append(rec)
        ga = flow_gap(agg_times, agg_slots, agg_sent, agg_top, t_break, w_end, agg_pending)
        if ga is None:
            if agg_pending is None:
                k = bisect.bisect_left(agg_times, t_break)
                agg_pending = k - 1 if k > 0 else None
        else:
            agg_pending = None
        agg_int = ga["interruption"] if ga else None
        resolution = None
        if agg_int is not None and slot:
            lo, hi = bisect.bisect_left(stall_due, ga["sent_start"]), bisect.bisect_right(stall_due, ga["sent_end"])
            late = max([stall_threshold] + [late for _, late in stalls[lo:hi]])
            resolution = 2 * (slot + late)
        ra = _first(events, "in", "icmp:ra", t_attach, w_end)
        rs = _first(events, "out", "icmp:rs", t_break, w_end)
        bu_map = exchange(events, map_address, t_break, w_end)
        bu_ha = exchange(events, ha, t_break, w_end) if ha else None
        first_bu = _first(events, "out", "mh:bu", t_break, w_end)
        cn_bas = [e[0] for e in events if t_break <= e[0] < w_end and e[1] == "in" and e[2] == "mh:ba"
                  and roles.get(e[4]) == "cn"]
        inter = [r["interruption"] for r in flows if r["interruption"] is not None]
        pre = [t_break - r["gap_start"] for r in flows if r["interruption"] is not None]
        after = [r["gap_end"] - t_break for r in flows if r["interruption"] is not None]
        detection = ra[0] - t_break if ra else None
        rtt_map = bu_map[1] - bu_map[0] if bu_map else None
        rec = {
            "index": m["index"], "to": m["to"], "break": t_break, "attach": t_attach,
            "l2_outage": t_attach - t_break, "requested_outage": m["up"] - m["down"],
            "rs": None if rs is None else rs[0] - t_break, "ra": None if ra is None else ra[0] - t_break,
            "detection": detection,
            "first_bu": None if first_bu is None else first_bu[0] - t_break,
            "rtt_map": rtt_map, "rtt_ha": bu_ha[1] - bu_ha[0] if bu_ha else None,
            "ro_done": max(cn_bas) - t_break if cn_bas else None,
            # decomposition (means over the flows): pre + ra + ra_to_bu + bu_to_first = interruption
            "pre": statistics.fmean(pre) if pre else None,
            "first_arrival": statistics.fmean(after) if after else None,
            "ra_to_bu": first_bu[0] - ra[0] if first_bu and ra else None,
            "addr_config": log_span(mn_log, "router_selected", "lcoa_formed", t_break, w_end),
            "bu_to_first": statistics.fmean(after) - (first_bu[0] - t_break) if first_bu and after else None,
            "flows": flows, "resumed": len(inter) == n_flows,
            # the aggregate stream: the MN's silence across the move whatever CN a datagram came from
            "agg_interruption": agg_int, "resolution": resolution,
            "agg_pre": t_break - ga["gap_start"] if agg_int is not None else None,
            "agg_bu_to_first": ga["gap_end"] - first_bu[0] if agg_int is not None and first_bu else None,
            # the MN reacted to the move: it registered the new care-of address (MAP in HMIPv6, HA in MIPv6)
            "registered": (bu_map if mode == "hmipv6" else bu_ha) is not None,
            "settled": m.get("settled"),
            "interruption": statistics.fmean(inter) if len(inter) == n_flows and inter else None,
            "interruption_max": max(inter) if len(inter) == n_flows and inter else None,
            "lost": sum(r["lost"] for r in flows if r["lost"] is not None),
            "signalling": dict(count_sent(events, roles, t_break, w_end)),
        }
        rec["mobility_sent"] = sum(rec["signalling"].get(k, 0) for k in MOBILITY_SENT)
        rtt = rtt_map if mode == "hmipv6" else None
        for key, r in (("", rtt), ("_echo", echo_rtt)):
            pred = None if r is None or detection is None else r + detection
            rec[f"predicted{key}"] = pred
            rec[f"ratio{key}"] = (rec["interruption"] / pred) if pred and rec["interruption"] is not None else None
            rec[f"ok{key}"] = None if rec[f"ratio{key}"] is None else rec[f"ratio{key}"] <= CRITERION
        for key, pred in (("agg", rec["predicted"]), ("agg_echo", rec["predicted_echo"])):
            rec[f"ratio_{key}"] = agg_int / pred if pred and agg_int is not None else None
            rec[f"verdict_{key}"] = verdict(agg_int, pred, resolution)
        # what-if: without the MN's kernel address/nftables updates before the BU (an implementation cost)
        ac = rec["addr_config"]
        rec["ratio_wo_addr"] = ((rec["interruption"] - ac) / rec["predicted"]
                                if rec["predicted"] and rec["interruption"] is not None and ac is not None else None)
        records.append(rec)

    accounting = []
    for f in range(n_flows):
        missing = set(range(sent[f])) - received[f] if f < len(sent) else set()
        in_moves = {s for s in missing if any(lo < s < hi for lo, hi in gaps[f])}
        top = max(seqs[f]) if seqs[f] else -1
        tail = {s for s in missing - in_moves if s > top}
        other = sorted(missing - in_moves - tail)
        accounting.append({"flow": f, "sent": sent[f], "received": len(received[f]),
                           "duplicates": len(seqs[f]) - len(received[f]),
                           "lost_in_moves": len(in_moves), "lost_tail": len(tail), "lost_other": len(other),
                           "lost_other_seqs": other[:50]})
    return {"mode": mode, "moves": records, "accounting": accounting, "summary": {**summarise(mode, records, accounting, slot),
                                                                          "transit_jitter_ms": describe(jitter, 1e3)}}


def verdict(interruption: float | None, predicted: float | None, resolution: float | None) -> str | None:
    """``ok`` when the measured interruption (never shorter than the true one: it runs from a datagram received
    before the outage to one received after it) is within ``CRITERION x predicted``; ``fail`` when even the
    measurement minus its whole sampling error (``resolution``) exceeds it; else ``unresolved``."""
    if interruption is None or not predicted:
        return None
    if interruption <= CRITERION * predicted:
        return "ok"
    if resolution is not None and interruption - resolution > CRITERION * predicted:
        return "fail"
    return "unresolved"


def _verdicts(measured: Sequence[dict[str, Any]], key: str) -> dict[str, int]:
    out = {"ok": 0, "unresolved": 0, "fail": 0}
    for r in measured:
        if r.get(key) is not None:
            out[r[key]] += 1
    out["checked"] = sum(out.values())
    return out


def summarise(mode: str, records: Sequence[dict[str, Any]], accounting: Sequence[dict[str, Any]],
              slot: float | None = None) -> dict[str, Any]:
    ms = 1e3
    n_flows = len(accounting)
    measured = [r for r in records if r["resumed"] and r["registered"] and r["interruption"] is not None]
    kinds = sorted({k for r in records for k in r["signalling"]})
    checked = [r for r in measured if r["ok"] is not None]
    checked_echo = [r for r in measured if r["ok_echo"] is not None]
    return {
        "mode": mode, "moves": len(records), "measured": len(measured),
        "not_registered": sum(1 for r in records if not r["registered"]),
        # of those: the MN sent no BU at all (it did not react to the move) / its BU got no BA in the window
        "no_bu": sum(1 for r in records if not r["registered"] and r["first_bu"] is None),
        "bu_unanswered": sum(1 for r in records if not r["registered"] and r["first_bu"] is not None),
        "not_resumed": sum(1 for r in records if not r["resumed"]),
        "interruption_ms": describe((r["interruption"] for r in measured), ms),
        "interruption_max_ms": describe((r["interruption_max"] for r in measured), ms),
        # sampling: the aggregate stream's send interval and one flow's (the per-flow figures' resolution)
        "slot_ms": None if slot is None else slot * ms,
        "flow_interval_ms": None if slot is None else slot * n_flows * ms,
        "agg_interruption_ms": describe((r["agg_interruption"] for r in measured), ms),
        "resolution_ms": describe((r["resolution"] for r in measured), ms),
        "agg_pre_ms": describe((r["agg_pre"] for r in measured), ms),
        "agg_bu_to_first_ms": describe((r["agg_bu_to_first"] for r in measured), ms),
        "ratio_agg": describe(r["ratio_agg"] for r in measured),
        "criterion_agg": _verdicts(measured, "verdict_agg"),
        "ratio_agg_echo": describe(r["ratio_agg_echo"] for r in measured),
        "criterion_agg_echo": _verdicts(measured, "verdict_agg_echo"),
        "lost_per_move": describe(r["lost"] for r in measured),
        "mobility_sent_per_move": describe(r["mobility_sent"] for r in measured),
        "signalling_per_move": {k: statistics.fmean(r["signalling"].get(k, 0) for r in measured) for k in kinds}
        if measured else {},
        "signalling_total": {k: sum(r["signalling"].get(k, 0) for r in records) for k in kinds},
        "detection_ms": describe((r["detection"] for r in measured), ms),
        "l2_outage_ms": describe((r["l2_outage"] for r in measured), ms),
        "rs_ms": describe((r["rs"] for r in measured), ms),
        "first_bu_ms": describe((r["first_bu"] for r in measured), ms),
        "pre_ms": describe((r["pre"] for r in measured), ms),
        "ra_to_bu_ms": describe((r["ra_to_bu"] for r in measured), ms),
        "addr_config_ms": describe((r["addr_config"] for r in measured), ms),
        "bu_to_first_ms": describe((r["bu_to_first"] for r in measured), ms),
        "rtt_map_ms": describe((r["rtt_map"] for r in measured), ms),
        "rtt_ha_ms": describe((r["rtt_ha"] for r in measured), ms),
        "ro_done_ms": describe((r["ro_done"] for r in measured), ms),
        "predicted_ms": describe((r["predicted"] for r in measured), ms),
        "ratio": describe(r["ratio"] for r in measured),
        "criterion_ok": sum(1 for r in checked if r["ok"]), "criterion_checked": len(checked),
        "ratio_wo_addr": describe(r["ratio_wo_addr"] for r in measured),
        "criterion_wo_addr_ok": sum(1 for r in measured if r["ratio_wo_addr"] is not None
                                    and r["ratio_wo_addr"] <= CRITERION),
        "ratio_echo": describe(r["ratio_echo"] for r in measured),
        "criterion_echo_ok": sum(1 for r in checked_echo if r["ok_echo"]), "criterion_echo_checked": len(checked_echo),
        "sent": sum(a["sent"] for a in accounting), "received": sum(a["received"] for a in accounting),
        "lost_in_moves": sum(a["lost_in_moves"] for a in accounting),
        "lost_other": sum(a["lost_other"] for a in accounting), "lost_tail": sum(a["lost_tail"] for a in accounting),
        "duplicates": sum(a["duplicates"] for a in accounting),
    }
