"""One load run against a MAP on an up testbed: the fleet, its I/O loop, the phases, the raw figures.

Phases (each timed; the MAP's and this process's CPU time are sampled around each):

1. ``register``: ``mns`` first registrations, at most ``rate`` per second and at most ``window`` unanswered at a
   time, until every mobile node has an answer (accepted, rejected), no BA came for ``register_timeout`` s or
   ``register_limit`` s have passed; retransmissions follow RFC 6275 §11.8.
2. ``check``: the tester's own capture checks that traffic to the sampled RCoAs is tunnelled to their LCoAs
   (:mod:`.check`).  The fleet is paused meanwhile (nothing is outstanding: no BA waits, no latency is inflated).
3. ``steady``: ``duration`` seconds in which bindings are refreshed as they come due and ``moves`` handovers
   (new LCoA, same RCoA), sampled mobile nodes first, are spread evenly.
4. ``check`` again: after the moves, the outer destination must be the *new* LCoA.
5. ``deregister`` (optional): every bound mobile node sends a BU with lifetime 0, paced like the registrations.

The I/O loop is single-threaded: frames out and in on one AF_PACKET socket (:mod:`.link`), the fleet's timers in
between, ``select`` as the only wait.  A latency runs from the BU handed to the socket to the BA's kernel receive
time (SO_TIMESTAMPNS): a BA waiting in the socket while the loop was busy is not charged for the wait, but the
sending side includes this process's scheduling, which the driver's CPU share in the table bounds.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import random
import select
import time
from collections.abc import Callable
from typing import Any

from harness.load import check, guard
from harness.load.link import PacketLink
from harness.load.plan import AddressPlan
from harness.load.target import LoadTarget
from reference_impl.fleet import Fleet, FleetConfig, FleetProtection, SaProtection, Unprotected
from reference_impl.ipsec import SequenceCounter
from reference_impl.security import SaPair
from reference_impl.wire import ip6, mac

NH_ROUTING = 43
SAMPLE_EVERY = 0.1  # seconds between timeline samples


@dataclasses.dataclass
class LoadParams:
    mns: int = 10_000
    rate: float = 2_000.0  # first registrations offered per second at most (0: no pacing)
    window: int = 128  # at most this many first registrations waiting for a BA (0: no limit, open loop)
    moves: int = 1_000  # handovers in the steady phase
    duration: float = 30.0  # seconds of the steady phase
    sample: int = 20  # RCoAs whose tunnelling the tester checks
    lifetime: int = 40  # requested binding lifetime (s): refreshes (at 75 %) fall inside the steady phase
    register_timeout: float = 40.0  # the registration phase ends when no BA came for this long
    register_limit: float = 180.0  # ... and at the latest after this many seconds (default runs stay < 5 min)
    deregister: bool = False
    resync: bool = False  # probe for the MAP's anti-replay window first (a MAP that has seen the SA pair before)
    seed: int = 1


def protection_for(tb, target: LoadTarget) -> FleetProtection:
    if target.sa_name is None:
        return Unprotected()
    return SaProtection(SaPair.from_config(tb.spec.security.pair(target.sa_name).config()))


def cpu_seconds(pid: int | None) -> float | None:
    """User + system time of ``pid`` and its waited-for children (the MAP's ``nft`` runs), in seconds."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _fmt(address: bytes) -> str:
    return str(ipaddress.IPv6Address(address))


class LoadRun:
    """The fleet on ``tb`` against ``target``; :meth:`run` returns the raw result (see :mod:`.report`)."""

    def __init__(self, tb, target: LoadTarget, params: LoadParams,
                 progress: Callable[[str], None] = lambda text: None) -> None:
        self.tb, self.target, self.params, self.progress = tb, target, params, progress
        rnd = random.Random(params.seed ^ os.getpid() ^ time.time_ns())
        self.tag = rnd.randrange(1, 0xFFFF)
        n, k = params.mns, min(params.sample, params.mns)
        self.sampled = sorted({round(j * n / k) for j in range(k)}) if k else []
        self.plan = AddressPlan(target.rcoa_prefix, target.lcoa_prefixes, self.tag, self.sampled)
        self.fleet = Fleet(FleetConfig(ip6(target.map_address), lifetime=params.lifetime, seed=params.seed),
                           protection_for(tb, target))
        self.generation = [0] * n
        for i in range(n):
            self.fleet.add(self.plan.rcoa(i), self.plan.lcoa(i, 0))
        self.map_pid = getattr(tb, "service_pid", lambda node: None)(target.map_node)
        self.timeline: list[tuple[float, int, int, int, int, int]] = []
        self.events: list[dict[str, Any]] = []
        self.phases: dict[str, dict[str, Any]] = {}
        self.t0 = 0.0
        self._next_sample = 0.0
        self.quiet = False  # True: no timers run (no refresh or retransmission starts), BAs are still read

    # ------------------------------------------------------------------------------------------------ loop

    def _sample(self, now: float) -> None:
        f = self.fleet
        self.timeline.append((round(now - self.t0, 3), f.bound, f.counters["accepted_register"],
                              f.counters["bu_sent"], sum(f.statuses.values()), f.pending()))
        self._next_sample = now + SAMPLE_EVERY

    def pump(self, done: Callable[[float], bool], deadline: float,
             feed: Callable[[float], tuple[list[bytes], float | None]] | None = None) -> bool:
        """Run the I/O loop until ``done(now)`` or ``deadline``; ``feed(now)`` returns packets to send now and
        when it next wants to be called.  Returns whether ``done`` was reached."""
        fleet, link, head, map_bytes = self.fleet, self.link, self.head, self.map_bytes
        wake_feed: float | None = 0.0 if feed is not None else None
        clock = time.monotonic
        while True:
            now = clock()
            if done(now):
                return True
            if now >= deadline:
                return False
            if now >= self._next_sample:
                self._sample(now)
            out: list[bytes] = []
            if wake_feed is not None and now >= wake_feed:
                out, wake_feed = feed(now)  # type: ignore[misc]
            if not self.quiet:
                out += fleet.tick(now)
            for packet in out:
                link.send(head + packet)
            frames = link.receive()
            if frames:
                latest = clock()
                for stamp, frame in frames:
                    if frame[20] == NH_ROUTING and frame[22:38] == map_bytes:
                        # the kernel's receive time (a BA that waited in the socket is not charged for the wait)
                        for packet in fleet.handle(min(stamp, latest), frame[14:]):
                            link.send(head + packet)
                continue  # more may be queued: read again before sleeping
            wake = min(deadline, self._next_sample)
            timer = None if self.quiet else fleet.next_deadline()
            if timer is not None:
                wake = min(wake, timer)
            if wake_feed is not None:
                wake = min(wake, wake_feed)
            delay = wake - clock()
            if delay > 0:
                select.select([link], [], [], delay)

    def _phase(self, name: str, body: Callable[[], Any]) -> Any:
        start, cpu, map_cpu = time.monotonic(), time.process_time(), cpu_seconds(self.map_pid)
        sent, answered = self.fleet.counters["bu_sent"], sum(self.fleet.statuses.values())
        self.events.append({"name": f"{name} starts", "time": round(start - self.t0, 3)})
        result = body()
        end = time.monotonic()
        wall = end - start
        map_after = cpu_seconds(self.map_pid)
        self.phases[name] = {
            "start": round(start - self.t0, 3), "seconds": round(wall, 3),
            "driver_cpu_pct": round(100 * (time.process_time() - cpu) / wall, 1) if wall else None,
            "map_cpu_pct": round(100 * (map_after - map_cpu) / wall, 1)
            if wall and map_after is not None and map_cpu is not None else None,
            "bu_sent": self.fleet.counters["bu_sent"] - sent,
            "ba_answered": sum(self.fleet.statuses.values()) - answered,
        }
        return result

    # ------------------------------------------------------------------------------------------------ phases

    def _paced(self, nodes: list[int], begin: Callable[[float, int], list[bytes]]) -> bool:
        """Start one exchange per node of ``nodes`` with ``begin(now, i)``, at most ``rate`` per second and with at
        most ``window`` of them waiting for a BA; return once every one is answered (True), or when no BA came
        for ``register_timeout`` s or ``register_limit`` s have passed (False)."""
        params, fleet = self.params, self.fleet
        rate, window, n = params.rate, params.window, len(nodes)
        start = time.monotonic()
        state = {"next": 0, "answered": -1, "at": start}

        def feed(now: float) -> tuple[list[bytes], float | None]:
            target = n if rate <= 0 else min(n, int((now - start) * rate) + 1)
            if window:
                target = min(target, state["next"] + max(0, window - fleet.pending()))
            out: list[bytes] = []
            k = state["next"]
            while k < target:
                out += begin(now, nodes[k])
                k += 1
            state["next"] = k
            if k >= n:
                return out, None
            due = start + k / rate if rate > 0 else now
            return out, (max(due, now + 0.001) if window and fleet.pending() >= window else due)

        def done(now: float) -> bool:
            if state["next"] >= n and fleet.pending() == 0:
                return True
            answered = sum(fleet.statuses.values())
            if answered != state["answered"]:
                state["answered"], state["at"] = answered, now
            return now - state["at"] > params.register_timeout  # stalled: no BA for that long

        self.pump(done, start + params.register_limit, feed)
        return state["next"] >= n and fleet.pending() == 0

    def _register(self) -> dict[str, Any]:
        n, fleet = self.params.mns, self.fleet
        start = time.monotonic()
        complete = self._paced(list(range(n)), fleet.register)
        times = sorted(t - start for t in fleet.registered_at if t is not None)
        return {"complete": complete, "registered": len(times), "first_bu_to_last_ba": times[-1] if times else None,
                "time_to": {f"p{q}": times[min(len(times) - 1, max(0, -(-q * n // 100) - 1))]
                            for q in (50, 90, 99, 100)} if len(times) == n else {},
                "registration_times": times}

    def _check(self, label: str) -> dict[str, Any]:
        plan, fmt = self.plan, _fmt
        probes = []
        for i in self.sampled:
            if not self.fleet.is_bound(i, time.monotonic()):
                continue
            g = self.generation[i]
            probes.append(check.Probe(i, fmt(plan.rcoa(i)), fmt(self.fleet.lcoa[i]), self._link(i, g),
                                      fmt(plan.lcoa(i, g - 1)) if g else None))
        unbound = len(self.sampled) - len(probes)
        self.checker.run(probes)
        return {"label": label, "sampled": len(self.sampled), "unbound_skipped": unbound, "checked": len(probes),
                "tunnelled_to_current_lcoa": sum(p.ok for p in probes),
                "moved": sum(1 for p in probes if p.old_lcoa),
                "moved_ok": sum(1 for p in probes if p.old_lcoa and p.ok),
                "misdirected": sum(p.misdirected for p in probes),
                "failures": [dataclasses.asdict(p) for p in probes if not p.ok or p.misdirected][:20]}

    def _link(self, i: int, generation: int) -> str:
        return self.target.lcoa_links[self.plan.prefix_index(i, generation)]

    def _steady(self) -> dict[str, Any]:
        params, fleet, plan = self.params, self.fleet, self.plan
        n, moves, duration = params.mns, params.moves, params.duration
        sampled = set(self.sampled)
        order = self.sampled + [i for i in range(n) if i not in sampled]
        start = time.monotonic()
        state = {"next": 0}
        accepted_before = fleet.counters["accepted_refresh"], fleet.counters["accepted_move"]
        first_sample = len(self.timeline)

        def feed(now: float) -> tuple[list[bytes], float | None]:
            out: list[bytes] = []
            j = state["next"]
            while j < moves and now >= start + (j + 0.5) * duration / moves:
                i = order[j % n]
                self.generation[i] += 1
                if i in sampled:  # answered for on its new access link before the BA goes there
                    self.checker.claim(self._link(i, self.generation[i]), _fmt(plan.lcoa(i, self.generation[i])))
                out += fleet.move(now, i, plan.lcoa(i, self.generation[i]))
                j += 1
            state["next"] = j
            return out, (start + (j + 0.5) * duration / moves if j < moves else start + duration)

        self.pump(lambda now: now >= start + duration and state["next"] >= moves, start + duration + 5.0, feed)
        held = [row[1] for row in self.timeline[first_sample:]] or [fleet.bound]
        return {"moves_sent": state["next"], "lowest_bound": min(held), "highest_bound": max(held),
                "refreshes_accepted": fleet.counters["accepted_refresh"] - accepted_before[0],
                "moves_accepted": fleet.counters["accepted_move"] - accepted_before[1]}

    def _resync(self, wait: float = 0.5) -> dict[str, Any]:
        """Find an outbound ESP/AH sequence number the MAP's anti-replay window takes (RFC 4303 §3.4.3): a MAP that
        has seen the SA pair before (a testbed left up, a lab DUT) drops BUs numbered from 1 again.  A probe mobile
        node (its own RCoA) registers with sequence numbers 1, 2**12, 2**16, ... until a BA comes; the fleet then
        continues after the accepted one."""
        protection = self.fleet.protection
        if not isinstance(protection, SaProtection):
            return {"needed": False}
        main_fleet = self.fleet
        probe = Fleet(dataclasses.replace(main_fleet.config), protection)
        probe.add(self.plan.rcoa(0)[:8] + (0x9B0E << 48 | self.tag << 24).to_bytes(8, "big"), main_fleet.lcoa[0])
        self.fleet = probe
        try:
            for start in (1, 1 << 12, 1 << 16, 1 << 20, 1 << 24, 1 << 28, 1 << 31, (1 << 32) - (1 << 28)):
                protection.counter = SequenceCounter(start)
                for packet in probe.register(time.monotonic(), 0):
                    self.link.send(self.head + packet)
                if self.pump(lambda now: probe.pending() == 0, time.monotonic() + wait):
                    self.pump(lambda now: False, time.monotonic() + 0.2)  # late BAs of earlier probes, if any
                    return {"needed": start > 1, "accepted_from": start,
                            "ba_seen": sum(probe.statuses.values()) + sum(probe.ignored.values())}
            raise RuntimeError("no ESP/AH sequence number was accepted by the MAP (is the SA pair configured there?)")
        finally:
            self.fleet = main_fleet

    def _drain(self, limit: float = 5.0) -> bool:
        """Until no BA is outstanding (refreshes coming due meanwhile are started and waited for too)."""
        return self.pump(lambda now: self.fleet.pending() == 0, time.monotonic() + limit)

    def _settle(self, quiet_for: float = 0.5, limit: float = 5.0) -> dict[str, Any]:
        """Stop starting exchanges and read BAs until none came for ``quiet_for`` s: every BA the MAP sent by then
        is counted before its own counters are read (the accounting line)."""
        self.quiet = True
        seen = {"n": -1, "at": time.monotonic()}

        def done(now: float) -> bool:
            n = sum(self.fleet.statuses.values()) + sum(self.fleet.ignored.values())
            if n != seen["n"]:
                seen["n"], seen["at"] = n, now
            return now - seen["at"] >= quiet_for

        start = time.monotonic()
        quiet = self.pump(done, start + limit)
        return {"seconds": round(time.monotonic() - start, 3), "quiet": quiet, "waiting": self.fleet.pending()}

    def _deregister(self) -> dict[str, Any]:
        fleet = self.fleet
        bound = [i for i in range(len(fleet)) if fleet.is_bound(i, time.monotonic())]
        complete = self._paced(bound, fleet.deregister)
        return {"sent": len(bound), "complete": complete, "accepted": fleet.counters["accepted_deregister"],
                "bound_after": fleet.bound}

    # ------------------------------------------------------------------------------------------------ run

    def run(self) -> dict[str, Any]:
        tb, target, params = self.tb, self.target, self.params
        ns, ifname = tb.tester_port(target.map_link)
        self.link = PacketLink(ns, ifname)
        self.head = mac(target.map_mac) + self.link.mac + b"\x86\xdd"
        self.map_bytes = ip6(target.map_address)
        guarded = guard.install(tb, target.routers, self.plan.bulk_ranges())
        result: dict[str, Any] = {"tag": self.tag, "guarded_routers": guarded, "sampled": self.sampled}
        self.checker = check.TunnelCheck(tb, target, self.tag)
        for i in self.sampled:
            self.checker.claim(self._link(i, 0), _fmt(self.plan.lcoa(i, 0)))
        try:
            if params.resync:
                result["resync"] = self._resync()
            self.t0 = time.monotonic()
            self._sample(self.t0)
            self.progress(f"registering {params.mns} mobile nodes at {params.rate:g}/s with {target.map_node} "
                          f"({target.map_address}) via link {target.map_link}")
            result["register"] = self._phase("register", self._register)
            self._drain()
            self.progress(f"registered {result['register']['registered']}/{params.mns}; checking tunnels of "
                          f"{len(self.sampled)} sampled RCoAs")
            result["check_before"] = self._phase("check before moves", lambda: self._check("before moves"))
            self.progress(f"steady phase: {params.duration:g} s, {params.moves} moves, refreshes as due")
            result["steady"] = self._phase("steady", self._steady)
            self._drain()
            result["steady"]["moves_accepted_after_drain"] = self.fleet.counters["accepted_move"]
            result["check_after"] = self._phase("check after moves", lambda: self._check("after moves"))
            if params.deregister:
                self.progress("deregistering")
                result["deregister"] = self._phase("deregister", self._deregister)
            result["settle"] = self._settle()
            self._sample(time.monotonic())
        finally:
            self.checker.close()
            guard.remove(tb, guarded)
            self.link.close()
        fleet = self.fleet
        t0 = self.t0
        result.update(fleet=fleet.summary(time.monotonic()), latencies=fleet.latencies,
                      answered_at={k: [t - t0 for t in v] for k, v in fleet.answered_at.items()},
                      completions=fleet.completions, timeline=self.timeline, events=self.events, phases=self.phases,
                      link={"sent": self.link.sent, "send_errors": self.link.send_errors})
        return result
