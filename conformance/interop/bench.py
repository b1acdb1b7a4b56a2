"""The interop bench: the DUT in the reference topology with reference peers, judged end to end.

The mobile node (the DUT, or the reference hmipv6-mn), its home agent and a correspondent node of the testbed; the
access routers of two MAP domains (A with two ARs for an intra-domain move, B for an inter-domain move); the
CN <-> MN flows (:mod:`harness.interop.flows`).  A scenario is a list of events (a move, a fault applied or
removed); after each one the bench waits (with a deadline) for the flow to reach the mobile node's access link,
then lets the flows run for a measurement window.  At the end every flow's loss, reordering and interruption is
computed per phase (:mod:`harness.interop.flowstats`) and judged: a phase that must carry the flow and does not
is diagnosed from the captures (:mod:`harness.interop.path`) and indexed by the clause of the first broken hop.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import time
from collections.abc import Callable
from pathlib import Path

from harness.interop import path as pathmod
from harness.interop.flows import DOWN_PORT, UP_PORT, Flows
from harness.interop.flowstats import PhaseStats, phase_stats
from harness.programs import flow as flowpayload
from harness.tester.packets import (
    MIP6MH_BA, MIP6MH_BU, UDP, ICMPv6EchoRequest, ICMPv6ND_RA, IPv6ExtHdrRouting, ipv6_layers,
)
from harness.verdicts import Inconclusive, Judgement

WINDOW = 1.5  # seconds the flows run after each event once they reach the mobile node (the measurement window)


@dataclasses.dataclass
class Phase:
    name: str
    start: float
    mark: int
    link: str  # the mobile node's access link during the phase
    expect: bool  # the flows must get through in this phase
    reached: float | None = None  # when the tester saw the flow reach the mobile node's link (None: not seen)


class InteropBench:
    """See the module docstring.  ``close()`` always runs (the fixture's teardown)."""

    def __init__(self, testbed, tester, dut, edition: str, judge: Judgement) -> None:
        from harness.testbed import refconfig

        self.testbed, self.tester, self.dut, self.edition, self.judge = testbed, tester, dut, edition, judge
        spec = self.spec = testbed.spec
        self.timers = spec.timers
        role_nodes = {r: [n for n in spec.nodes.values() if n.role == r] for r in ("mn", "ha", "cn", "map", "ar")}
        for role in ("mn", "ha", "cn", "map", "ar"):
            if not role_nodes[role]:
                raise Inconclusive(f"the testbed has no {role.upper()} node: the interop topology needs one")
        self.mn = role_nodes["mn"][0].name
        self.ha = self._address(role_nodes["ha"][0].name)
        self.cn_node = role_nodes["cn"][0].name
        self.cn = self._address(self.cn_node)
        section = refconfig.mn_config(spec, spec.nodes[self.mn], Path("."), edition)["mn"]
        self.home_address = section.get("home_address")
        if not self.home_address:
            raise Inconclusive("the testbed gives the mobile node no home agent, so no home address")
        self.map_a, self.map_b, self.ar_a, self.ar_b, self.ar_c = self._domains(role_nodes)
        self.map_nodes = {spec.map_address(m.name): m.name for m in role_nodes["map"]}
        self.home_link = next(i.link for i in spec.nodes[self.mn].interfaces.values() if spec.links[i.link].access)
        self.flows: Flows | None = None
        self.phases: list[Phase] = []
        self.stats: dict[str, list[PhaseStats]] = {}
        self.first = tester.mark()

    # -- topology ---------------------------------------------------------------------------------------------
    def _address(self, node: str) -> str:
        return next(str(i.address.ip) for i in self.spec.nodes[node].interfaces.values() if i.address is not None)

    def _domains(self, role_nodes) -> tuple[str, str, str, str, str]:
        """(MAP A, MAP B, AR a, AR b, AR c): a and b under A (a is the DUT if it is an AR), c under B; A is the DUT's
        domain for a MAP or AR DUT."""
        ars = {m.name: sorted(ar.name for ar in role_nodes["ar"] if m.name in ar.maps) for m in role_nodes["map"]}
        dut = self.dut.node
        if self.dut.role == "map":
            a = dut
        elif self.dut.role == "ar":
            a = next((m for m, members in ars.items() if dut in members), None)
        else:
            a = next((m for m, members in ars.items() if len(members) >= 2), None)
        if a is None or len(ars.get(a, ())) < 2:
            raise Inconclusive("the interop topology needs a MAP domain with two access routers (the DUT's, for a "
                               "MAP or AR DUT) for an intra-domain move")
        b = next((m for m, members in ars.items() if m != a and members), None)
        if b is None:
            raise Inconclusive("the interop topology needs a second MAP domain with an access router")
        first = dut if dut in ars[a] else ars[a][0]
        second = next(x for x in ars[a] if x != first)
        return a, b, first, second, ars[b][0]

    def access_link(self, ar: str) -> str:
        return self.spec.access_link_of(ar).name

    def map_prefix(self, map_node: str) -> str:
        return str(ipaddress.IPv6Network(f"{self.spec.map_address(map_node)}/64", strict=False))

    def router_between(self, link_a: str, link_b: str) -> str:
        """A forwarding node on both links (the virtual testbed's RT between the home link and the core)."""
        for node in self.spec.nodes.values():
            links = {i.link for i in node.interfaces.values()}
            if node.role == "router" and {link_a, link_b} <= links:
                return node.name
        for node in self.spec.nodes.values():
            if node.role == "router" and link_a in {i.link for i in node.interfaces.values()}:
                return node.name
        raise Inconclusive(f"no router of the testbed is on {link_a} (and {link_b})")

    # -- the scenario -----------------------------------------------------------------------------------------
    def start(self) -> None:
        """The mobile node on AR a, started afresh; its home registration awaited; the flows started."""
        mn_is_dut = self.dut.node == self.mn
        if not mn_is_dut:
            self.testbed.stop_service(self.mn)
        self.judge.step(f"attach the mobile node to {self.ar_a} and start it")
        self._roamed("attach", self.testbed.attach(self.mn, self.ar_a))
        mark, t = self.tester.mark(), time.time()
        if mn_is_dut:
            self.dut.restart()
        else:
            self.testbed.start_service(self.mn)
        deadline = 4 * self.timers.max_bindack_timeout + 10
        ha_ba = self.tester.wait_for(lambda f: (ly := pathmod.owner(f, MIP6MH_BA)) is not None and ly.src == self.ha,
                                     deadline, mark)
        self.judge.record("home_registration_seen", ha_ba is not None)
        if ha_ba is not None:  # give route optimisation its chance (it is optional: not required)
            self.tester.wait_for(lambda f: (ly := pathmod.owner(f, MIP6MH_BU)) is not None and ly.dst == self.cn,
                                 5.0, mark)
        self.judge.step(f"start the flows {self.cn_node} <-> mobile node (UDP both ways, ICMPv6 echo)")
        t = time.time()  # the first phase starts with the flows (its captures with the mobile node's start)
        self.flows = Flows(self.testbed, self.mn, self.home_address, self.cn_node, self.cn)
        self.flows.start()
        for name, why in self.flows.not_measured.items():
            self.judge.record(f"{name}_not_measured", why)
        self._phase("attached", lambda: None, self.access_link(self.ar_a), True, mark=mark, start=t)

    def move(self, ar: str, name: str) -> None:
        done: list = []
        self._phase(name, lambda: done.append(self.testbed.attach(self.mn, ar)), self.access_link(ar), True)
        self._roamed(name, done[0] if done else None)

    def access_point_failure(self, name: str, inject):
        """A phase ``name``: the access point serving the mobile node is crashed (fault ``ap_crash``, returned); the
        phase is on the link of the access point the station then associates with.  NOT APPLICABLE without access
        points."""
        from harness.testbed import wifi

        link = self.phases[-1].link
        ap = self.spec.access_point_on(link)
        if ap is None:
            inject("ap_crash", ap=f"(no access point on {link})")  # raises: NOT APPLICABLE, with the reason
        bssid, since = wifi.bssid_of(self.testbed, ap), wifi.log_mark(self.testbed, self.mn)
        mark, start = self.tester.mark(), time.time()
        fault = inject("ap_crash", ap=ap.name)
        attached = wifi.wait_reassociated(self.testbed, self.mn, bssid, since)
        self._phase(name, lambda: None, attached.link, True, mark=mark, start=start)
        self._roamed(name, attached)
        return fault

    def _roamed(self, name: str, attached) -> None:
        """A Wi-Fi testbed's attach is a roam: its duration as the station logged it is measured."""
        roam = getattr(attached, "roam", None)
        if roam:
            self.judge.measure(f"roam/{name}", roam["duration_ms"], "ms",
                               f"{roam['kind']} to {roam['bssid']}, from the station's log")
            self.judge.record(f"roam/{name}", roam)

    def event(self, name: str, action: Callable[[], object], *, expect: bool = True,
              deadline: float | None = None) -> None:
        """``action`` (a fault applied or removed) starts a phase on the current link."""
        self._phase(name, action, self.phases[-1].link, expect, deadline=deadline)

    def await_reaction(self, timeout: float) -> None:
        """Let the current phase run until the mobile node reacts to a MAP advertised with valid lifetime 0 -- a
        local BU to another MAP, or a home BU from its LCoA (plain Mobile IPv6) -- or ``timeout``.  What it did is
        judged afterwards (:meth:`Checks.left_failed_map`); this only makes the phase long enough to show it."""
        phase = self.phases[-1]
        prefix = self.spec.links[phase.link].prefix
        failed = {self.spec.map_address(self.map_a)}

        def reaction(f) -> bool:
            ly = pathmod.owner(f, MIP6MH_BU)
            return ly is not None and ly[MIP6MH_BU].mhtime != 0 and ly.dst not in failed and (
                ly.dst in self.map_nodes or (ly.dst == self.ha and ipaddress.IPv6Address(ly.src) in prefix))
        self.tester.wait_for(reaction, timeout, phase.mark)

    def when_advertised(self, name: str, map_node: str, lifetime_zero: bool, timeout: float) -> bool:
        """Wait (up to ``timeout``) for the current access router to advertise ``map_node`` with valid lifetime 0
        (``lifetime_zero``) or above; if it does, a phase ``name`` starts with that RA.  Returns whether it did."""
        address, link = self.spec.map_address(map_node), self.phases[-1].link
        ra = self.tester.wait_for(lambda f: ICMPv6ND_RA in f.pkt and not f.outgoing and any(
            o.addr == address and (o.validlifetime == 0) == lifetime_zero for o in pathmod.map_options(f.pkt)),
            timeout, self.phases[-1].mark, [link])
        if ra is None:
            return False
        self._phase(name, lambda: None, link, True, mark=ra.index, start=ra.time)
        return True

    def _phase(self, name: str, action: Callable[[], object], link: str, expect: bool, *, mark: int | None = None,
               start: float | None = None, deadline: float | None = None) -> None:
        self.judge.step(name)
        if mark is None:  # captures from before the action; the phase (its datagrams) from when it is done
            mark = self.tester.mark()
            action()
            start = time.time()
        phase = Phase(name, start, mark, link, expect)
        self.phases.append(phase)
        if expect:
            got = self.tester.wait_for(self._reaches(start), deadline or self.resume_deadline, mark, [link])
            phase.reached = got.time if got is not None else None
        time.sleep(WINDOW)  # the measurement window: the flows run on (not a wait for an event)

    @property
    def resume_deadline(self) -> float:
        """How long a phase may take to carry the flow: a move's signalling (RS/RA, DAD, BU retransmissions)."""
        t = self.timers
        return t.max_rtr_solicitation_delay + t.max_rtr_adv_interval + 3 * t.max_bindack_timeout + 5

    def _reaches(self, since: float):
        """A CN -> MN datagram of the flows (UDP or echo request) *sent* at ``since`` or later (its payload says when),
        for the home address: tunnelled to a care-of address, or with a type 2 routing header holding it."""
        def match(f) -> bool:
            sent = _sent_at(f)
            return sent is not None and sent >= since and _to_mn(f, self.home_address)
        return match

    def finish(self) -> None:
        """Stop the flows and compute every flow's per-phase statistics (measured in results.json)."""
        end = time.time() - 0.5  # the last half second: datagrams still in flight when the senders stop
        flows, self.flows = self.flows.stop(), None
        events = [(p.name, p.start) for p in self.phases]
        for name, flow in flows.items():
            self.stats[name] = phase_stats(flow, events, end)
            for ph in self.stats[name]:
                self.judge.measure(f"{name}/{ph.name}/lost", ph.lost, "packets", f"of {ph.sent} sent in the phase")
                self.judge.measure(f"{name}/{ph.name}/interruption", None if ph.interruption is None
                                   else round(ph.interruption, 3), "s",
                                   "" if ph.interruption is not None else "the flow did not resume in this phase")
                self.judge.measure(f"{name}/{ph.name}/reordered", ph.reordered, "packets")
        self.judge.record("phases", {name: [s.as_dict() for s in stats] for name, stats in self.stats.items()})
        self.judge.record("signalling", self.signalling())
        for name, flow in flows.items():
            self.judge.timeline(name, [t for _, t in flow.arrivals], events)

    def signalling(self) -> dict[str, list[dict]]:
        """Per phase, the Binding Updates on the wire (each once, however many links it crossed): source,
        destination, sequence number, lifetime (s)."""
        out: dict[str, list[dict]] = {}
        for i, phase in enumerate(self.phases):
            end = self.end_mark(i)
            seen: dict[tuple, dict] = {}
            for f in self.tester.frames(phase.mark):
                if end is not None and f.index >= end:
                    break
                ly = pathmod.owner(f, MIP6MH_BU)
                if ly is None or f.outgoing:
                    continue
                bu = ly[MIP6MH_BU]
                seen.setdefault((ly.src, ly.dst, bu.seq), {"src": ly.src, "dst": ly.dst, "seq": bu.seq,
                                                           "lifetime": 4 * bu.mhtime, "time": f.time})
            out[phase.name] = list(seen.values())
        return out

    # -- judgement ----------------------------------------------------------------------------------------------
    def judge_flows(self) -> None:
        """Every phase that must carry the flows: each measured flow resumed in it (a datagram sent in the phase
        arrived).  One that did not is diagnosed; the first broken hop's clause is judged, and the end-to-end
        outcome is recorded as explained by it (or FAIL, unexplained)."""
        if not self.stats:
            raise Inconclusive("no flow was measured")
        for i, phase in enumerate(self.phases):
            if not phase.expect:
                continue
            for name, stats in self.stats.items():
                ph = stats[i]
                if ph.sent == 0:
                    continue
                if ph.resumed:
                    self.judge.end_to_end(True, f"{name} after '{phase.name}': resumed after "
                                                f"{ph.resume_delay:.3f} s, {ph.lost} of {ph.sent} lost")
                    continue
                causes = self._diagnose(i, name)
                self.judge.end_to_end(False, f"{name} after '{phase.name}': none of the {ph.sent} datagrams sent in "
                                             f"the phase arrived", explained_by=causes)

    def _diagnose(self, i: int, flow: str) -> list[str]:
        """Judge the first broken hop of phase ``i``'s path for ``flow``; return the requirement(s) judged."""
        at = self.attachment(i)
        if at.failed_map is not None:  # in this phase's own frames (the registration before it used that MAP)
            Checks(self).failed_map_unused(i)
            at = dataclasses.replace(at, failed_map=None)
        # the signalling since the mobile node came to this link: a phase without a move has none of its own
        view = pathmod.PathView(self.tester, self.phases[self.attached_at(i)].mark, self.end_mark(i))
        legs = {"cn->mn": [("down", DOWN_PORT)], "mn->cn": [("up", UP_PORT)], "echo": [("down", None), ("up", None)]}
        for leg, port in legs[flow]:
            hops = pathmod.diagnose(view, at, self.edition, down_port=port if leg == "down" else None,
                                    up_port=port if leg == "up" else None, leg=leg)
            self.judge.record(f"path/{flow}/{self.phases[i].name}/{leg}",
                              [{"hop": h.name, "holds": h.holds, "detail": h.detail} for h in hops])
            broken = pathmod.first_broken(hops)
            if broken is not None:
                self.judge.check(broken.requirement, False, broken.detail, frame=broken.frame)
                return [broken.requirement]
        return []

    def end_mark(self, i: int) -> int | None:
        """The capture mark where phase ``i``'s frames end (the next phase's mark, taken before its action)."""
        return self.phases[i + 1].mark if i + 1 < len(self.phases) else None

    def attached_at(self, i: int) -> int:
        """The phase in which the mobile node came to phase ``i``'s link (the first phase, or the move there)."""
        j = i
        while j > 0 and self.phases[j - 1].link == self.phases[i].link:
            j -= 1
        return j

    def attachment(self, i: int) -> pathmod.Attachment:
        """What phase ``i``'s access router advertised: the MAP to use (from its last RA in the phase, else the last
        before: the furthest with preference and valid lifetime above 0, base §9.1), a MAP advertised with valid
        lifetime 0 in the phase, and whether the MAP to use is new."""
        phase = self.phases[i]
        usable, failed = self._advertised(phase.link, phase.mark, self.end_mark(i))
        j = self.attached_at(i)  # the MAP is new if it is not the one used before the mobile node came here
        previous = self._advertised(self.phases[j - 1].link, self.phases[j - 1].mark, self.phases[j].mark)[0] \
            if j else None
        links = tuple(x.link for x in self.spec.nodes[self.map_nodes[usable]].interfaces.values()) \
            if usable in self.map_nodes else ()
        return pathmod.Attachment(phase.link, self.spec.links[phase.link].prefix, usable, self.ha, self.home_address,
                                  self.cn, new_domain=j == 0 or usable != previous, failed_map=failed,
                                  map_links=links)

    def _advertised(self, link: str, since: int, until: int | None) -> tuple[str | None, str | None]:
        ras = [f for f in self.tester.frames(self.first, [link]) if ICMPv6ND_RA in f.pkt and not f.outgoing
               and (until is None or f.index < until)]
        in_phase = [f for f in ras if f.index >= since] or ras[-1:]
        if not in_phase:
            return None, None
        options = pathmod.map_options(in_phase[-1].pkt)
        good = sorted((o for o in options if o.validlifetime > 0 and o.pref > 0), key=lambda o: -o.dist)
        failed = next((o.addr for f in in_phase for o in pathmod.map_options(f.pkt) if o.validlifetime == 0), None)
        return (good[0].addr if good else None), failed

    # -- teardown -----------------------------------------------------------------------------------------------
    def close(self) -> None:
        try:
            if self.flows is not None:
                self.flows.stop()
        finally:
            if self.dut.node != self.mn:
                self.testbed.stop_service(self.mn)
            if self.spec.links[self.home_link].members.get(self.mn) is None:
                self.testbed.attach(self.mn, self.home_link)


def _sent_at(frame) -> float | None:
    """The send time a CN -> MN datagram of the flows carries (:mod:`harness.programs.flow` payload), else None."""
    pkt = frame.pkt
    if UDP in pkt and pkt[UDP].dport == DOWN_PORT:
        data = bytes(pkt[UDP].payload)
    elif ICMPv6EchoRequest in pkt:
        data = bytes(pkt[ICMPv6EchoRequest].data)
    else:
        return None
    got = flowpayload.parse(data)
    return got[1] if got is not None else None


def _to_mn(frame, home_address: str) -> bool:
    """A datagram whose innermost destination is the home address, or a care-of address with a type 2 routing
    header to it (route optimisation)."""
    layers = ipv6_layers(frame.pkt)
    if not layers:
        return False
    if layers[-1].dst == home_address:
        return True
    rh = frame.pkt.getlayer(IPv6ExtHdrRouting)
    return rh is not None and rh.type == 2 and home_address in (rh.addresses or [])


class Checks:
    """Clause checks some interop scenarios make whatever the flows did (bound to a bench)."""

    def __init__(self, bench: InteropBench) -> None:
        self.b = bench

    def _view(self, i: int) -> pathmod.PathView:
        phases = self.b.phases
        return pathmod.PathView(self.b.tester, phases[i].mark, self.b.end_mark(i))

    def failed_map_unused(self, i: int) -> None:
        """Phase ``i`` advertised a MAP with valid lifetime 0: no local BU (lifetime > 0) to it in the phase."""
        b = self.b
        at = b.attachment(i)
        b.judge.require(at.failed_map is not None, f"no RA on {at.link} carried a MAP option with valid lifetime 0 "
                                                   f"during '{b.phases[i].name}'")
        used = self._view(i).first(None, lambda f: (ly := pathmod.owner(f, MIP6MH_BU)) is not None
                                   and ly.dst == at.failed_map and ly[MIP6MH_BU].mhtime != 0)
        b.judge.check(pathmod.requirement("failed_map_unused", b.edition), used is None,
                      f"local BU to {at.failed_map} after its valid lifetime 0" if used is not None
                      else f"no BU to {at.failed_map} while it was advertised with valid lifetime 0", frame=used)

    def left_failed_map(self, i: int) -> None:
        """Phase ``i`` advertised a MAP with valid lifetime 0: the mobile node made new bindings with another MAP
        advertised (base §7.2 ¶3 MUST), or, with none left, reverted to Mobile IPv6 -- a home BU from its LCoA
        (rfc4140 §7.2 ¶3 MUST; RFC 5380 §7.1 ¶2: MUST NOT attempt to use HMIPv6)."""
        b = self.b
        at = b.attachment(i)
        b.judge.require(at.failed_map is not None, f"no RA on {at.link} carried a MAP option with valid lifetime 0 "
                                                   f"during '{b.phases[i].name}'")
        view = self._view(i)
        if at.map is not None:
            bu = view.first(None, lambda f: (ly := pathmod.owner(f, MIP6MH_BU)) is not None and ly.dst == at.map
                            and ly[MIP6MH_BU].mhtime != 0)
            b.judge.check("HMIP-4140-7.2-P3-MUST-1", bu is not None,
                          f"local BU to the other MAP {at.map}" if bu is not None
                          else f"no local BU to the other MAP advertised, {at.map}", frame=bu)
            return
        hops = pathmod.diagnose(view, dataclasses.replace(at, failed_map=None), b.edition)
        home = hops[-1]
        b.judge.check(home.requirement, home.holds, home.detail, frame=home.frame)

    def previous_map_forwarding(self, i: int, previous_map: str) -> None:
        """Phase ``i`` is an inter-domain move: the mobile node tells the previous MAP its new LCoA (base §6.1 ¶6),
        the previous MAP accepts an LCoA outside its domain (§8) and tunnels the datagrams still in flight to it."""
        b = self.b
        view, prefix = self._view(i), b.spec.links[b.phases[i].link].prefix
        ma = b.spec.map_address(previous_map)
        bu = view.first(None, lambda f: (ly := pathmod.owner(f, MIP6MH_BU)) is not None and ly.dst == ma
                        and ly[MIP6MH_BU].mhtime != 0 and ipaddress.IPv6Address(ly.src) in prefix)
        if not b.judge.check("HMIP-4140-6.1-P6-SHOULD-1", bu is not None,
                             f"local BU from the new LCoA to the previous MAP {ma}" if bu is not None
                             else f"no local BU from an address of {prefix} to the previous MAP {ma}", frame=bu):
            return
        layer = pathmod.owner(bu, MIP6MH_BU)
        lcoa = layer.src
        # every transmission of that exchange (a retransmission carries a new sequence number, RFC 6275 §11.8): the
        # previous MAP may answer any of them
        def _same_exchange(f) -> bool:
            ly = pathmod.owner(f, MIP6MH_BU)
            return ly is not None and ly.dst == ma and ly.src == lcoa and ly[MIP6MH_BU].mhtime != 0
        seqs = list(dict.fromkeys(pathmod.owner(f, MIP6MH_BU)[MIP6MH_BU].seq
                                  for f in view.frames(None, _same_exchange)))
        answers = view.frames(None, lambda f: (ly := pathmod.owner(f, MIP6MH_BA)) is not None and ly.src == ma
                              and ly.dst == lcoa)
        ba = next((f for f in answers if pathmod.owner(f, MIP6MH_BA)[MIP6MH_BA].seq in seqs), None)
        status = ba.pkt[MIP6MH_BA].status if ba is not None else None
        if ba is None:
            others = sorted({pathmod.owner(f, MIP6MH_BA)[MIP6MH_BA].seq for f in answers})
            detail = (f"the previous MAP did not answer for the LCoA {lcoa} outside its domain: BU sequence "
                      f"number(s) {', '.join(map(str, seqs))} in the phase, "
                      + (f"BA(s) to that LCoA with sequence number(s) {', '.join(map(str, others))}" if others
                         else "no BA from it to that LCoA"))
        else:
            detail = f"the previous MAP answered status {status} for the LCoA {lcoa} outside its domain"
        if not b.judge.check("HMIP-4140-8-P1-RECOMMENDED-1", status is not None and status < 128, detail,
                             frame=ba or bu):
            return
        map_links = [x.link for x in b.spec.nodes[previous_map].interfaces.values()]
        rcoa = pathmod.home_of(layer)
        # datagrams of the flows after the BA, each counted once (one may cross a link twice: MAP -> router -> next
        # MAP on the same core link)
        after = [f for f in view.frames(map_links) if f.time > ba.time and _sent_at(f) is not None]
        in_flight = _once(f for f in after if ipv6_layers(f.pkt)[0].dst == rcoa)
        b.judge.require(in_flight, f"no datagram of the flow reached the previous MAP for {rcoa} after its BA: nothing "
                                   "was in flight to forward (is the path delay applied?)")
        forwarded = _once(f for f in after if (ls := ipv6_layers(f.pkt))[0].src == ma and ls[0].dst == lcoa)
        b.judge.measure("previous_map_forwarded", len(forwarded), "packets",
                        f"tunnelled {ma} -> {lcoa} after the BA, of {len(in_flight)} that reached it for {rcoa}")
        b.judge.check(pathmod.requirement("tunnel_down", b.edition), bool(forwarded),
                      f"{len(forwarded)} in-flight datagrams tunnelled by the previous MAP to the new LCoA {lcoa}",
                      frame=forwarded[0] if forwarded else in_flight[0])


def _once(frames) -> list:
    """One frame per datagram of the flows (by the send time it carries)."""
    return list({_sent_at(f): f for f in frames}.values())
