"""Each fault applied and removed on the virtual testbed, its effect seen on the wire (or by a ping through the
node's management connection) while applied, and gone once removed."""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from harness import nodeops
from harness.faults import (
    EchoLoss, FaultError, LinkFlap, MapAddressChange, MapCrash, MapPreference, PacketLoss, Partition, PathDelay,
    ZeroLifetimeMap,
)
from harness.testbed import runstate
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
    for node in (src, dst):  # the reference daemons ride out a link going down under them
        if "hmipv6-ar" in tb.spec.nodes[node].services or "hmipv6-map" in tb.spec.nodes[node].services:
            assert tb.service_running(node), f"the daemon on {node} died during the {make(tb).kind} fault"


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


def map_addresses(f) -> list[str] | None:
    """The addresses of all MAP options in a Router Advertisement frame (None for any other frame)."""
    if ICMPv6ND_RA not in f.pkt:
        return None
    found, opt = [], f.pkt[ICMPv6ND_RA].getlayer(ICMPv6NDOptMAP)
    while opt is not None:
        found.append(opt.addr)
        opt = opt.payload.getlayer(ICMPv6NDOptMAP)
    return found


def test_map_address_change_in_ras(tb, tester) -> None:
    """AR3 (manually configured with MAP2) advertises MAP2's option with the new address -- Dist, Pref, R and the
    valid lifetime unchanged -- and not the old one while applied; the old address again once removed."""
    old, new = tb.spec.map_address("map2"), "2001:db8:200::99"
    fields = lambda o: (o.dist, o.pref, o.R, o.validlifetime)  # noqa: E731
    before = tester.wait_for(lambda f: map_option(f, old) is not None, 5, tester.mark(), ["acc3"])
    assert before is not None, "AR3 does not advertise MAP2 on acc3"
    with MapAddressChange(tb, ar="ar3", map_node="map2", new_address=new) as fault:
        hit = tester.wait_for(lambda f: map_option(f, new) is not None, 5, tester.mark(), ["acc3"])
        assert hit is not None and hit.time >= fault.applied_at - 0.5, "no RA with MAP2's new address on acc3"
        assert old not in map_addresses(hit), "the RA still carries MAP2's old address"
        assert fields(map_option(hit, new)) == fields(map_option(before, old)), "Dist/Pref/R/lifetime changed"
    mark = tester.mark()
    back = tester.wait_for(lambda f: (m := map_addresses(f)) is not None and old in m and new not in m, 5, mark,
                           ["acc3"])
    assert back is not None, "MAP2's old address not advertised (alone) again after removal"
    assert fields(map_option(back, old)) == fields(map_option(before, old))
    assert fault.removed_at > fault.applied_at


DELAY = 0.25  # seconds


def transit_times(tester, mark: int, src: str, dst: str) -> list[float]:
    """For each echo request src -> dst: seen on the cn link, then on the core link (through RT): the difference."""
    def key(f):
        if ICMPv6EchoRequest not in f.pkt or f.pkt[IPv6].src != src or f.pkt[IPv6].dst != dst:
            return None
        return f.pkt[ICMPv6EchoRequest].id, f.pkt[ICMPv6EchoRequest].seq
    seen: dict[str, dict] = {"cn": {}, "core": {}}
    for f in tester.frames(mark, ["cn", "core"]):
        if (k := key(f)) is not None:
            seen[f.link].setdefault(k, f.time)
    return [seen["core"][k] - t for k, t in seen["cn"].items() if k in seen["core"]]


def test_path_delay_delays_forwarded_packets_then_leaves_nothing(tb, tester) -> None:
    """Echo requests CN1 -> MAP1 (through RT, from its cn link to its core link) take DELAY longer while the delay
    line runs on RT for MAP1's domain; none is lost; after removal the transit is as before, and neither the
    process nor its nftables table nor its files remain on RT."""
    src, dst, driver = addr(tb, "cn1", "cn"), addr(tb, "map1", "dom1"), tb.driver("cn1")

    def transit() -> float:
        mark = tester.mark()
        assert nodeops.ping(driver, dst, count=5, wait=2) == (5, 5), "echo requests or replies lost"
        times = transit_times(tester, mark, src, dst)
        assert len(times) == 5, f"only {len(times)} of 5 echo requests seen on both links"
        return statistics.median(times)

    baseline = transit()
    with PathDelay(tb, router="rt", iface="cn", prefix="2001:db8:100::/40", delay=f"{DELAY * 1000:g}ms") as fault:
        assert fault.params["delay"] == DELAY and fault.params["iface"] == "eth1"
        assert fault.pid is not None and fault.record()["pid"] == fault.pid
        assert runstate.alive(fault.pid, int(fault.pid_start)), "no delay line process with the recorded start time"
        (rec,) = [r for r in tb.journal.faults if r["id"] == fault.journal_id]
        assert rec["pid"] == fault.pid and str(fault.pid) in rec["undo"][0], "the journal does not name the PID"
        delayed = transit()
    after = transit()
    added = delayed - baseline
    assert 0.8 * DELAY <= added <= 2 * DELAY, f"delay added {added:.3f} s, not ~{DELAY} s (baseline {baseline:.4f} s)"
    assert after - baseline < DELAY / 2, f"still delayed after removal: {after:.3f} s (baseline {baseline:.4f} s)"
    assert fault.removed_at > fault.applied_at and fault.record()["delay_line"].startswith("delayed")
    assert not runstate.alive(fault.pid, int(fault.pid_start)), "the delay line still runs"
    assert "hmipv6ct_fault_" not in tb.driver("rt").run("nft list tables").stdout
    assert not list(Path("/tmp").glob(f"hmipv6ct_fault_{fault.journal_id}.*")), "files left on RT"
    assert not [r for r in tb.journal.faults if r["id"] == fault.journal_id]


def test_path_delay_undo_kills_only_its_own_process(tb) -> None:
    """A second path delay on the same router is refused and leaves the first alone.  The undo commands
    (``hmipv6ct clean`` after a dead run) end the recorded PID only while its start time matches, remove the table
    and the files, and are harmless once the fault is gone; remove() then has nothing left to do."""
    rt = tb.driver("rt")
    fault = PathDelay(tb, "rt", "eth1", "2001:db8:100::/40", "0.05").apply()
    try:
        second = PathDelay(tb, "rt", "eth1", "2001:db8:20::/64", "0.05")
        with pytest.raises(FaultError, match="already applied"):
            second.apply()
        assert runstate.alive(fault.pid, int(fault.pid_start)), "a refused second path delay killed the first"
        assert fault.journal_id in rt.run("nft list ruleset").stdout, "a refused second path delay took the table"
        stranger = PathDelay(tb, "rt", "eth1", "2001:db8:100::/40", "0.05")
        stranger.journal_id, stranger.pid = fault.journal_id, fault.pid
        stranger.pid_start = str(int(fault.pid_start) + 1)
        for command in stranger.undo_commands():  # the same PID, another start time: a recycled PID
            assert rt.run(command).ok
        assert runstate.alive(fault.pid, int(fault.pid_start)), "a process with another start time was killed"
        for _ in range(2):
            for command in fault.undo_commands():
                assert rt.run(command).ok
        deadline = time.monotonic() + 2  # SIGKILL is delivered asynchronously
        while runstate.alive(fault.pid, int(fault.pid_start)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not runstate.alive(fault.pid, int(fault.pid_start)), "the undo commands left the delay line running"
        assert "hmipv6ct_fault_" not in rt.run("nft list tables").stdout
        assert not list(Path("/tmp").glob(f"hmipv6ct_fault_{fault.journal_id}.*"))
    finally:
        fault.remove()
    assert fault.removed_at is not None
