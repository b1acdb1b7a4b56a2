"""Access router scenarios: MAP failure advertised by the AR -- detected dynamically by ICMPv6 echo, or triggered by
manual intervention -- and recovery (base §10, RFC 5380 §10).

Topology: the AR under test (testbeds/virtual.yaml: AR1) probes its MAP (MAP1) on its MAP-facing link (dom1); the
tester listens on its access link (acc1) and on dom1.

HMIP-AR-FAIL-001: the fault (``echo_loss``) drops the AR's echo requests to the MAP and the MAP's replies at the
AR, through the AR's own management connection (nftables on a Linux router); a device that cannot take it makes
the test NOT APPLICABLE.  The mechanism is optional (PICS ``echo_failure_detection``, whose parameter ``window``
is the detection time the DUT declares): the base document gives its timing only as an example and RFC 5380
leaves the probing mechanism open.  The judged statement is RFC 5380 §10 ¶6's MAY (the base document says the
same in lowercase), so behaviour not shown is INFO; a detection slower than the declared window, or than the
example timing, is WARN.

HMIP-AR-FAIL-002: the fault (``zero_lifetime_map``) is the AR's manual trigger (the daemon's control command
``map-down``), applied to every AR of the testbed advertising the MAP.  Whether an AR offers a manual trigger is
optional (PICS ``manual_map_failure_trigger``); what the trigger does -- the MAP option with valid lifetime 0 --
is §10 ¶3's binding statement, so an AR that claims it and does not do it FAILs.
"""

from __future__ import annotations

import ipaddress
import time

import pytest

from harness.tester.packets import (
    ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_RA, ICMPv6NDOptMAP, IPv6, router_solicitation,
)

pytestmark = pytest.mark.role("ar")

ECHO_MAY = "HMIP-5380-10-P6-MAY-1"
MANUAL = "HMIP-4140-10-P3-BIND-1"


def _map_lifetime(frame, address: str) -> int | None:
    """The valid lifetime of the MAP option for ``address`` in a Router Advertisement frame, or None."""
    if ICMPv6ND_RA not in frame.pkt:
        return None
    for opt in frame.pkt.iterpayloads():
        if isinstance(opt, ICMPv6NDOptMAP) and opt.addr == address:
            return opt.validlifetime
    return None


@pytest.mark.tp(id="HMIP-AR-FAIL-001",
                title="Echo loss: the MAP is advertised with valid lifetime 0 within the declared window, then again")
@pytest.mark.edition("rfc4140", "rfc5380")
@pytest.mark.pics("echo_failure_detection")
@pytest.mark.requirements(ECHO_MAY)
def test_echo_loss_detected_and_recovered(testbed, dut, tester, inject, judge) -> None:
    """
    Purpose:        An AR that detects MAP failure by echo probing stops advertising the MAP as usable (valid
                    lifetime 0) when the MAP stops answering, within the detection time it declares, and advertises
                    it normally again once the MAP answers.
    Topology:       AR (DUT) -- MAP-facing link -- MAP (reference); the tester on the AR's access link and MAP link.
    Initialisation: DUT restarted; it claims PICS echo_failure_detection with its declared window W (seconds).
    Procedure:      1. Wait for an RA on the access link advertising the MAP with a non-zero valid lifetime, and
                       for an echo exchange between the AR and the MAP on the MAP link (probing is under way).
                    2. Apply the fault echo_loss at the AR (all echo requests to and replies from the MAP dropped).
                    3. Collect RAs on the access link until one advertises the MAP with valid lifetime 0 (at most
                       2 × max(W, E) + MaxRtrAdvInterval + 2 s, E the example timing below).
                    4. Keep collecting for 2 × MaxRtrAdvInterval: every RA still advertises lifetime 0.
                    5. Remove the fault; collect RAs until one advertises the MAP with a non-zero valid lifetime (at
                       most probe interval + aggressive interval + MaxRtrAdvInterval + 2 s).
    Judgement:      1. An RA advertises the MAP with valid lifetime 0 after the echo loss.        (MAY: INFO if not)
                    2. The time from the fault to that RA is within W.                        (declared: WARN if not)
                    3. ... and within the example timing E = probe interval + aggressive period +
                       MaxRtrAdvInterval (10 s + 15 s + the RA that carries it, scaled by the timer profile).
                                                                                               (example: WARN if not)
                    4. While the fault lasts, RAs keep advertising the MAP, none of them as usable.
                                                                                               (MAY: INFO if not)
                    5. After the fault is removed, an RA advertises the MAP with a non-zero lifetime. (MAY: INFO)
                    Measured: fault_to_reaction, recovery (removal to the first usable advertisement), the probe
                    interval seen on the MAP link before the fault.
    Reference:      RFC 5380 §10 ¶6 "One way of performing dynamic detection of MAP failure can be done by probing
                    the MAP regularly (e.g., every 10 seconds).  If no response is received, an AR MAY try to
                    aggressively probe the MAP for a short period of time (e.g., once every 5 seconds for 15
                    seconds); if no reply is received, a MAP option may be sent with a valid lifetime value of
                    zero."; base §10 ¶5 (the same, "an AR may").
    """
    spec = testbed.spec
    node = spec.nodes[dut.node]
    judge.require(node.maps, "the testbed configures no MAP for this access router")
    map_node = node.maps[0]
    address = spec.map_address(map_node)
    map_link = spec.map_link(map_node)
    access = spec.access_link_of(dut.node)
    t = spec.timers
    window = float(spec.pics["echo_failure_detection"]["window"])
    example = t.map_probe_interval + t.map_probe_aggressive_period + t.max_rtr_adv_interval
    judge.record("declared_window", window)
    judge.record("example_bound", round(example, 3))

    judge.step(f"1. the AR advertises MAP {address} as usable and probes it on {map_link.name}")
    start = tester.mark()
    usable = tester.wait_for(lambda f: (_map_lifetime(f, address) or 0) > 0, 2 * t.max_rtr_adv_interval + 2.0,
                             start, [access.name])
    judge.require(usable is not None, f"the AR never advertised MAP {address} with a non-zero lifetime")
    reply = tester.wait_for(lambda f: ICMPv6EchoReply in f.pkt and f.pkt[IPv6].src == address,
                            2 * t.map_probe_interval + 2.0, start, [map_link.name])
    judge.require(reply is not None, f"no echo reply from the MAP seen on {map_link.name} within "
                                     f"{2 * t.map_probe_interval + 2.0:.1f} s: the AR is not probing it")
    requests = [f.time for f in tester.frames(start, [map_link.name])
                if ICMPv6EchoRequest in f.pkt and f.pkt[IPv6].dst == address]
    if len(requests) >= 2:
        gaps = sorted(b - a for a, b in zip(requests, requests[1:]))
        judge.measure("probe_interval", round(gaps[len(gaps) // 2], 3), "s", f"median of {len(gaps)} gaps")

    judge.step("2. apply echo_loss at the AR")
    mark = tester.mark()
    fault = inject("echo_loss", ar=dut.node, map_node=map_node)
    judge.step("3. wait for an RA advertising the MAP with valid lifetime 0")
    deadline = 2 * max(window, example) + t.max_rtr_adv_interval + 2.0
    down = tester.wait_for(lambda f: _map_lifetime(f, address) == 0, deadline, mark, [access.name])
    reaction = down.time - fault.applied_at if down is not None else None
    judge.measure("fault_to_reaction", round(reaction, 3) if reaction is not None else None, "s",
                  "" if down is not None else f"no lifetime-0 advertisement within {deadline:.1f} s")
    judge.measure("lost_packets", None, "packets", "no data flow: the fault drops only the AR's probes")
    judge.check(ECHO_MAY, down is not None,
                f"RA with MAP {address} at valid lifetime 0 after the echo loss: "
                + (f"after {reaction:.3f} s" if down is not None else f"none within {deadline:.1f} s"), frame=down)
    if down is not None:
        judge.check_timing(ECHO_MAY, reaction, window, "fault to lifetime-0 RA against the declared window",
                           frame=down)
        judge.check_timing(ECHO_MAY, reaction, example, "fault to lifetime-0 RA against the example timing "
                           "(probe interval + aggressive period + MaxRtrAdvInterval)", frame=down)
        judge.step("4. while the fault lasts, the MAP stays at lifetime 0")
        hold = tester.mark()
        tester.wait_for(lambda f: False, 2 * t.max_rtr_adv_interval, hold, [access.name])
        later = [f for f in tester.frames(hold, [access.name]) if _map_lifetime(f, address) is not None]
        usable_again = [f for f in later if _map_lifetime(f, address) != 0]
        judge.record("ras_during_fault", len(later))
        judge.check(ECHO_MAY, later and not usable_again,
                    f"{len(usable_again)} of {len(later)} RAs during the fault advertised the MAP as usable again"
                    if later else "no RA carried the MAP option while the fault lasted: lifetime 0 not kept up",
                    frame=usable_again[0] if usable_again else None)

    judge.step("5. remove the fault; wait for the MAP to be advertised as usable again")
    before_removal = tester.mark()
    fault.remove()
    back = tester.wait_for(lambda f: (_map_lifetime(f, address) or 0) > 0 and f.time >= fault.removed_at,
                           t.map_probe_interval + t.map_probe_aggressive_interval + t.max_rtr_adv_interval + 2.0,
                           before_removal, [access.name])
    recovery = back.time - fault.removed_at if back is not None else None
    judge.measure("recovery", round(recovery, 3) if recovery is not None else None, "s",
                  "" if back is not None else "the MAP was not advertised as usable again")
    judge.check(ECHO_MAY, back is not None,
                "RA advertising the MAP as usable after the fault was removed: "
                + (f"after {recovery:.3f} s" if back is not None else "none"), frame=back)


def _canonical(address: str) -> str:
    return str(ipaddress.IPv6Address(address))


def _map_lifetimes(frame) -> dict[str, int]:
    """{MAP address: valid lifetime} of the MAP options of a Router Advertisement frame ({} for any other frame)."""
    if frame.outgoing or ICMPv6ND_RA not in frame.pkt:
        return {}
    return {_canonical(o.addr): o.validlifetime for o in frame.pkt.iterpayloads() if isinstance(o, ICMPv6NDOptMAP)}


def _is_ra(frame) -> bool:
    return not frame.outgoing and ICMPv6ND_RA in frame.pkt


def _advertising_links(spec, router: str) -> list[str]:
    """Every link on which ``router`` sends Router Advertisements (its access links)."""
    return [link.name for link in spec.links.values()
            if (member := link.members.get(router)) is not None and member.advertise]


def _lifetime_text(frame, address: str) -> str:
    value = _map_lifetimes(frame).get(address)
    return "without the MAP option" if value is None else f"with valid lifetime {value}"


@pytest.mark.tp(id="HMIP-AR-FAIL-002",
                title="Manual MAP-failure trigger: every RA advertises the MAP with valid lifetime 0, until undone")
@pytest.mark.edition("rfc4140", "rfc5380")
@pytest.mark.pics("manual_map_failure_trigger")
@pytest.mark.requirements(MANUAL)
def test_manual_trigger_advertised_until_undone(testbed, dut, tester, inject, judge) -> None:
    """
    Purpose:        An AR triggered by manual intervention to advertise its MAP as failed sends the MAP option with
                    valid lifetime 0 in every Router Advertisement -- unsolicited and solicited -- while the trigger
                    is in, leaves the other MAPs' options alone, and advertises the MAP with a non-zero valid
                    lifetime again once the trigger is undone.
    Topology:       AR (DUT) -- access link(s) -- tester; the MAP (reference) and the domain's other ARs upstream.
    Initialisation: DUT restarted; it claims PICS manual_map_failure_trigger.  The trigger is the fault
                    zero_lifetime_map (the daemon's control command map-down ADDRESS; map-up undoes it), applied to
                    the domain's other ARs advertising the MAP first and then to the DUT, so that the whole domain
                    advertises the failure (as an operator would trigger it).
    Procedure:      1. Wait for an RA (at most 2 x MaxRtrAdvInterval + 2 s) advertising the MAP with a non-zero valid
                       lifetime; note the other MAPs it advertises.
                    2. Trigger the MAP failure on the domain's other ARs, then on the DUT.
                    3. Collect RAs until one advertises the MAP with valid lifetime 0 (at most MaxRtrAdvInterval +
                       MIN_DELAY_BETWEEN_RAS + 2 s).
                    4. For 2 x MaxRtrAdvInterval + 0.5 s from that RA collect every RA; right after the first of
                       them (the next unsolicited RA is then at least MinRtrAdvInterval away) the tester sends a
                       Router Solicitation (from ::) on the access link(s), and the RA within MAX_RA_DELAY_TIME +
                       MIN_DELAY_BETWEEN_RAS + 0.5 s is the solicited answer (RFC 4861 §6.2.6).
                    5. Undo the trigger on the DUT, then on the other ARs; collect RAs until one advertises the MAP
                       with a non-zero valid lifetime (at most MaxRtrAdvInterval + MIN_DELAY_BETWEEN_RAS + 2 s).
    Judgement:      1. After the trigger an RA advertises the MAP with valid lifetime 0.                 (binding)
                    2. RAs keep coming while the trigger is in (at least one unsolicited RA in step 4: no vacuous
                       pass), and every one of them carries the MAP option with valid lifetime 0.       (binding)
                    3. The solicited RA of step 4 carries the MAP option with valid lifetime 0.        (binding)
                    4. The other MAPs advertised before the trigger, if any, are not advertised with valid
                       lifetime 0 in those RAs (the trigger signals the failure of this MAP only).      (binding)
                    5. After the trigger is undone an RA advertises the MAP with a non-zero valid lifetime.
                                                                                                        (binding)
                    Recorded: the valid lifetime before and after, the other MAPs, the domain's ARs triggered, the
                    RAs seen (unsolicited, solicited and its delay), RAs sent between the trigger and its first
                    effect.  Measured: fault_to_reaction (trigger to the first lifetime-0 RA), recovery (undo to
                    the first usable advertisement).
    Reference:      base §10 ¶3-4 "Access routers can be triggered to advertise a MAP option with a lifetime of zero
                    (indicating MAP failure) in different ways: - By manual intervention. - In a dynamic manner.";
                    RFC 5380 §10 ¶3-4 (the same, "Access Routers").
    """
    spec = testbed.spec
    node = spec.nodes[dut.node]
    judge.require(node.maps, "the testbed configures no MAP for this access router")
    map_node = node.maps[0]
    address = _canonical(spec.map_address(map_node))
    links = _advertising_links(spec, dut.node)
    judge.require(links, f"{dut.node} advertises on no link of the testbed")
    domain = [n.name for n in spec.nodes_with_role("ar") if n.name != dut.node and map_node in n.maps]
    t = spec.timers
    react = t.max_rtr_adv_interval + t.min_delay_between_ras + 2.0
    judge.record("access_links", links)
    judge.record("domain_ars_triggered", domain)

    judge.step(f"1. wait for an RA advertising MAP {address} with a non-zero valid lifetime")
    usable = tester.wait_for(lambda f: (_map_lifetimes(f).get(address) or 0) > 0, 2 * t.max_rtr_adv_interval + 2.0,
                             tester.mark(), links)
    judge.require(usable is not None, f"the AR never advertised MAP {address} with a non-zero valid lifetime")
    before = _map_lifetimes(usable)
    others = sorted(a for a, v in before.items() if a != address and v > 0)
    judge.record("valid_lifetime_before", before[address])
    judge.record("other_maps", others)

    judge.step(f"2. trigger the failure of {map_node} on {', '.join(domain) or 'no other AR'}, then on {dut.node}")
    domain_faults = [inject("zero_lifetime_map", ar=ar, map_node=map_node) for ar in domain]
    mark = tester.mark()
    issued = time.time()  # the AR may advertise the change while its command runs: time from the command's start
    fault = inject("zero_lifetime_map", ar=dut.node, map_node=map_node)

    judge.step("3. wait for an RA advertising the MAP with valid lifetime 0")
    down = tester.wait_for(lambda f: _map_lifetimes(f).get(address) == 0, react, mark, links)
    reaction = down.time - issued if down is not None else None
    judge.measure("fault_to_reaction", round(reaction, 3) if reaction is not None else None, "s",
                  "from the trigger command" if down is not None else f"no lifetime-0 advertisement within "
                                                                        f"{react:.1f} s")
    judge.measure("lost_packets", None, "packets", "no data flow: the test watches the AR's advertisements only")
    judge.check(MANUAL, down is not None,
                f"RA advertising MAP {address} with valid lifetime 0 after the manual trigger: "
                + (f"after {reaction:.3f} s" if down is not None else f"none within {react:.1f} s"),
                frame=down, tshark={"icmpv6.opt.map.valid_lifetime": 0} if down is not None else None)
    judge.record("ras_before_effect", sum(1 for f in tester.frames(mark, links)
                                          if _is_ra(f) and f.time >= issued and f.index < down.index))

    judge.step("4. hold for 2 x MaxRtrAdvInterval; after the first RA, solicit one")
    hold = down.index + 1
    hold_end = down.time + 2 * t.max_rtr_adv_interval + 0.5
    first = tester.wait_for(_is_ra, t.max_rtr_adv_interval + 1.0, hold, links)
    answer, asked_at = None, None
    if first is not None:
        rs_mark = tester.mark()
        asked_at = time.time()  # the capture stamps frames with the wall clock
        for link in links:
            tester.send(link, router_solicitation(tester.mac(link)))
        answer = tester.wait_for(_is_ra, t.max_ra_delay_time + t.min_delay_between_ras + 0.5, rs_mark, links)
    remaining = hold_end - time.time()
    if remaining > 0:
        tester.wait_for(lambda f: False, remaining, tester.mark(), links)  # collecting: the RAs are judged below
    during = [f for f in tester.frames(hold, links) if _is_ra(f) and f.time <= hold_end]
    unsolicited = [f for f in during if answer is None or f.index != answer.index]
    judge.record("ras_during_trigger", {"unsolicited": len(unsolicited), "solicited": answer is not None})
    if answer is not None:
        judge.record("solicited_delay", round(answer.time - asked_at, 3))
    judge.check(MANUAL, unsolicited,
                f"{len(unsolicited)} unsolicited RAs in the {hold_end - down.time:.1f} s after the first lifetime-0 "
                "one" + ("" if unsolicited else ": the MAP failure was not kept advertised"))
    wrong = [f for f in unsolicited if _map_lifetimes(f).get(address) != 0]
    judge.check(MANUAL, not wrong,
                f"{len(wrong)} of {len(unsolicited)} unsolicited RAs while the trigger was in advertised the MAP "
                f"{_lifetime_text(wrong[0], address)}" if wrong else
                f"all {len(unsolicited)} unsolicited RAs while the trigger was in advertised the MAP with valid "
                "lifetime 0", frame=wrong[0] if wrong else None)
    if answer is None:
        judge.record("solicited", "no RA within MAX_RA_DELAY_TIME + MIN_DELAY_BETWEEN_RAS + 0.5 s of the "
                                  "Router Solicitation (not judged here: RFC 4861 §6.2.6)")
    else:
        judge.check(MANUAL, _map_lifetimes(answer).get(address) == 0,
                    f"the RA answering the tester's Router Solicitation advertised the MAP "
                    f"{_lifetime_text(answer, address)} while the trigger was in", frame=answer)
    for other in others:
        zeroed = [f for f in during if _map_lifetimes(f).get(other) == 0]
        judge.check(MANUAL, not zeroed, f"the trigger for {address} made {len(zeroed)} RAs advertise MAP {other}, "
                                        "which did not fail, with valid lifetime 0",
                    frame=zeroed[0] if zeroed else None)

    judge.step("5. undo the trigger on the DUT, then on the other ARs; wait for the MAP to be usable again")
    removal = tester.mark()
    undone = time.time()
    fault.remove()
    for other_fault in domain_faults:
        other_fault.remove()
    back = tester.wait_for(lambda f: (_map_lifetimes(f).get(address) or 0) > 0, react, removal, links)
    recovery = back.time - undone if back is not None else None
    judge.measure("recovery", round(recovery, 3) if recovery is not None else None, "s",
                  "from the undo command" if back is not None else f"the MAP was not advertised as usable within "
                                                                   f"{react:.1f} s")
    if back is not None:
        judge.record("valid_lifetime_after", _map_lifetimes(back)[address])
    judge.check(MANUAL, back is not None,
                "RA advertising the MAP with a non-zero valid lifetime after the trigger was undone: "
                + (f"after {recovery:.3f} s" if back is not None else f"none within {react:.1f} s"), frame=back,
                tshark={"icmpv6.opt.map.valid_lifetime": _map_lifetimes(back)[address]} if back is not None else None)
