"""Each fault applied and removed on the virtual testbed, its effect seen on the wire (or by a ping through the
node's management connection) while applied, and gone once removed."""

from __future__ import annotations

import json
import subprocess

import pytest

from harness import nodeops
from harness.faults import EchoLoss, LinkFlap, MapCrash, MapPreference, PacketLoss, Partition, ZeroLifetimeMap
from harness.tester.packets import ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_RA, ICMPv6NDOptMAP, IPv6

pytestmark = pytest.mark.netns


def addr(tb, node: str, link: str) -> str:
    return str(tb.spec.nodes[node].interface_on(link).address.ip)


def map_option(f, map_address: str):
    """The MAP option for ``map_address`` in a Router Advertisement frame, or None."""
    if ICMPv6ND_RA not in f.pkt:
        return None
    opt = f.pkt[ICMPv6ND_RA].getlayer(ICMPv6NDOptMAP)
    while opt is not None:
        if opt.addr == map_address:
            return opt
        opt = opt.payload.getlayer(ICMPv6NDOptMAP)
    return None


def test_zero_lifetime_map_option(tb, tester) -> None:
    map1 = tb.spec.map_address("map1")
    with ZeroLifetimeMap(tb, ar="ar1", map_node="map1") as fault:
        mark = tester.mark()
        hit = tester.wait_for(lambda f: (o := map_option(f, map1)) is not None and o.validlifetime == 0, 5, mark, ["acc1"])
        assert hit is not None and hit.time >= fault.applied_at - 0.05, "no RA with MAP1 at valid lifetime 0 on acc1"
    mark = tester.mark()
    assert tester.wait_for(lambda f: (o := map_option(f, map1)) is not None and o.validlifetime > 0, 5, mark, ["acc1"]), \
        "MAP1 not advertised as usable again after the fault was removed"
    assert fault.removed_at > fault.applied_at


def test_echo_loss_drops_probes_then_restores(tb, tester) -> None:
    map1, t = tb.spec.map_address("map1"), tb.spec.timers
    src = addr(tb, "ar1", "dom1")
    request = lambda f: ICMPv6EchoRequest in f.pkt and f.pkt[IPv6].src == src and f.pkt[IPv6].dst == map1  # noqa: E731
    reply = lambda f: ICMPv6EchoReply in f.pkt and f.pkt[IPv6].src == map1 and f.pkt[IPv6].dst == src  # noqa: E731
    mark = tester.mark()
    assert tester.wait_for(request, 4 * t.map_probe_interval, mark, ["dom1"]), "AR1 does not probe MAP1 at all"
    with EchoLoss(tb, ar="ar1", map_node="map1", direction="request"):
        tester.mark()
        alive = lambda f: ICMPv6ND_RA in f.pkt  # noqa: E731  (MAP1 advertises on dom1)
        offending = tester.absent(request, 3 * t.map_probe_interval, alive=alive, links=["dom1"])
        assert offending is None, "an echo request left AR1 while requests were being dropped"
    mark = tester.mark()
    assert tester.wait_for(request, 4 * t.map_probe_interval, mark, ["dom1"]), "probing did not resume"
    assert tester.wait_for(reply, 4 * t.map_probe_interval, mark, ["dom1"]), "MAP1 does not answer after removal"


def test_map_preference_zero(tb, tester) -> None:
    map1 = tb.spec.map_address("map1")
    own = lambda pref: lambda f: (o := map_option(f, map1)) is not None and o.pref == pref  # noqa: E731
    with MapPreference(tb, map_node="map1", value=0):
        assert tester.wait_for(own(0), 5, tester.mark(), ["dom1"]), "MAP1's own RA does not carry preference 0"
    assert tester.wait_for(own(10), 5, tester.mark(), ["dom1"]), "preference not restored"


@pytest.mark.parametrize("make, target", [
    (lambda tb: LinkFlap(tb, "ar2", "dom1"), ("map1", "ar2", "dom1")),
    (lambda tb: Partition(tb, "rt", addr(tb, "map1", "core") + "/128", "2001:db8:10::/64"), ("map1", "ha", "home")),
    (lambda tb: PacketLoss(tb, "rt", "2001:db8:20::/64", 100), ("map1", "cn1", "cn")),
], ids=["link_down", "partition", "packet_loss"])
def test_reachability_faults(tb, make, target) -> None:
    src, dst, link = target
    driver, address = tb.driver(src), addr(tb, dst, link)
    assert nodeops.ping(driver, address, count=2) == (2, 2), "no reachability before the fault"
    with make(tb):
        sent, received = nodeops.ping(driver, address, count=3, wait=0.5)
        assert sent == 3 and received == 0, "packets got through the fault"
    deadline_ok = any(nodeops.ping(driver, address, count=2)[1] > 0 for _ in range(5))
    assert deadline_ok, "reachability not restored after the fault was removed"


def test_map_crash_leaves_stale_state_and_restart_recovers(tb) -> None:
    """A crash is not a clean stop: the daemon is gone but its nftables table stays (a SIGTERM would remove it);
    the restart answers again with an empty binding cache."""
    ns, show = tb.netns_of("map1"), tb.control_command("map1") + " show"
    run = lambda: subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", show], capture_output=True, text=True)  # noqa: E731
    tables = lambda: tb.driver("map1").run("nft list tables").stdout  # noqa: E731
    assert run().returncode == 0 and "hmipv6_map" in tables()
    with MapCrash(tb, "map1"):
        assert not tb.service_running("map1")
        assert run().returncode != 0, "the crashed MAP still answers its control socket"
        assert "hmipv6_map" in tables(), "the crash cleaned up like a SIGTERM: not a crash"
    out = run()
    assert out.returncode == 0 and json.loads(out.stdout)["state"]["bindings"] == []


def test_fault_removed_when_the_block_fails(tb) -> None:
    fault = PacketLoss(tb, "rt", "2001:db8:20::/64", 100)
    with pytest.raises(RuntimeError), fault:
        raise RuntimeError("test failed mid-fault")
    assert fault.removed_at is not None
    assert "hmipv6ct_fault_" not in tb.driver("rt").run("nft list tables").stdout
