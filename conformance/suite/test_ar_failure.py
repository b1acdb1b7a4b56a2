"""Access router scenario: dynamic detection of a MAP failure by ICMPv6 echo, and recovery (base §10, RFC 5380 §10).

Topology: the AR under test (testbeds/virtual.yaml: AR1) probes its MAP (MAP1) on its MAP-facing link (dom1); the
tester listens on its access link (acc1) and on dom1.  The fault (``echo_loss``) drops the AR's echo requests to
the MAP and the MAP's replies at the AR, through the AR's own management connection (nftables on a Linux router); a
device that cannot take it makes the test NOT APPLICABLE.

The mechanism is optional (PICS ``echo_failure_detection``, whose parameter ``window`` is the detection time the
DUT declares): the base document gives its timing only as an example and RFC 5380 leaves the probing mechanism
open.  The judged statement is RFC 5380 §10 ¶6's MAY (the base document says the same in lowercase), so behaviour
not shown is INFO; a detection slower than the declared window, or than the example timing, is WARN.
"""

from __future__ import annotations

import pytest

from harness.tester.packets import ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_RA, ICMPv6NDOptMAP, IPv6

pytestmark = [pytest.mark.role("ar"), pytest.mark.pics("echo_failure_detection")]

ECHO_MAY = "HMIP-5380-10-P6-MAY-1"


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
                    zero."; base §10 ¶4 (the same, "an AR may").
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
