"""The bundled virtual testbed, built for real: namespaces, bridges, sshd, a serial console."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import netns, nodeops, paths
from harness.drivers import SshDriver
from harness.errors import HostKeyMismatchError
from harness.testbed import load, open_backend
from harness.testbed import runstate
from harness.tester.packets import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6

pytestmark = pytest.mark.netns


def _ours(prefix: str) -> list[str]:
    return [n for n in netns.list_names() if n.startswith(prefix + "-")]


def test_mn_pings_cn_through_the_map_path(tb, tester) -> None:
    spec = tb.spec
    tb.attach("mn", "ar1")
    addr = nodeops.wait_for_address(tb.driver("mn"), spec.links["acc1"].prefix, timeout=10)
    assert addr is not None, "MN got no address from AR1's prefix"
    cn1 = str(spec.nodes["cn1"].interfaces["eth0"].address.ip)
    mark = tester.mark()
    assert nodeops.ping(tb.driver("mn"), cn1, count=2) == (2, 2)
    src = str(addr.ip)
    for link in ("acc1", "dom1", "core", "cn"):  # the request crosses AR1, MAP1 and RT
        got = tester.wait_for(lambda f: ICMPv6EchoRequest in f.pkt and f.pkt[IPv6].src == src
                              and f.pkt[IPv6].dst == cn1, timeout=2, since=mark, links=[link])
        assert got is not None, f"no MN->CN1 echo request seen on {link}"
    reply = tester.wait_for(lambda f: ICMPv6EchoReply in f.pkt and f.pkt[IPv6].dst == src, 2, mark, ["acc1"])
    assert reply is not None and reply.pkt[IPv6].src == cn1
    assert tester.wait_for(lambda f: ICMPv6EchoRequest in f.pkt, 0.5, mark, ["acc2", "home"]) is None, \
        "echo traffic leaked onto links off the path"


def test_ssh_login_to_two_routers_with_pinned_keys(tb) -> None:
    for node, expected in (("map1", "2001:db8:30::2"), ("ar1", "2001:db8:100::2")):
        result = tb.driver(node).run("ip -j -6 addr show dev eth0")
        assert result.ok
        assert expected in {a["local"] for e in json.loads(result.stdout) for a in e["addr_info"]}, \
            f"the SSH session of {node} does not run inside {node}'s namespace"


def test_pinned_host_key_mismatch_fails_loudly(tb) -> None:
    m = tb.spec.nodes["map1"].management
    wrong = tb.spec.nodes["ar1"].management.known_hosts  # ar1's key pinned for map1
    drv = SshDriver("map1", m.host, m.port, user=m.user, key_file=str(m.key_file), known_hosts=str(wrong), netns=m.netns)
    with pytest.raises(HostKeyMismatchError, match="map1"):
        drv.run("true")
    drv.close()


def test_serial_console_runs_commands_on_the_mn(tb) -> None:
    mn = tb.driver("mn")
    result = mn.run("ip -j link show eth0; sh -c 'exit 3'")
    assert result.exit_status == 3
    assert json.loads(result.stdout.strip().splitlines()[0])[0]["address"] == tb.spec.nodes["mn"].interfaces["eth0"].mac
    log = Path(tb.state.workdir / "mn" / "console.log").read_text()
    assert ">>" in log and "<<" in log


def _carrier_changes(tb) -> int:
    return int(tb.driver("mn").run("cat /sys/class/net/eth0/carrier_changes").check().stdout.split()[-1])


def test_attach_to_ar2_gives_an_address_from_ar2(tb, tester) -> None:
    spec = tb.spec
    acc2 = spec.links["acc2"].prefix
    flaps = _carrier_changes(tb)
    mark = tester.mark()
    result = tb.attach("mn", "ar2")
    try:
        assert tb.current_link("mn") == "acc2"
        assert _carrier_changes(tb) >= flaps + 2, "the MN saw no carrier flap (no link-layer trigger)"
        addr = nodeops.wait_for_address(tb.driver("mn"), acc2, timeout=10)
        assert addr is not None, f"MN got no address from {acc2} after attach(mn, ar2)"
        ra = tester.wait_for(lambda f: f.pkt.haslayer("ICMPv6ND_RA"), timeout=2, since=mark, links=["acc2"])
        assert ra is not None and ra.time >= result.link_up - 0.01
        mn_mac = spec.nodes["mn"].interfaces["eth0"].mac
        after = tester.mark()
        tb.driver("mn").run(f"ping -6 -c 1 -W 1 {spec.links['acc2'].prefix[1]}")
        assert tester.wait_for(lambda f: f.pkt.src == mn_mac, 2, after, ["acc2"]) is not None
        assert tester.wait_for(lambda f: f.pkt.src == mn_mac, 0.3, after, ["acc1"]) is None, \
            "the MN's frames still reach its old access link"
    finally:
        tb.attach("mn", "ar1")


def test_up_and_down_leave_nothing_behind() -> None:
    spec = load(paths.DEFAULT_TESTBED)
    backend = open_backend(spec)
    with backend:
        prefix = backend.state.prefix
        workdir = backend.state.workdir
        names = _ours(prefix)
        pids = [pid for n in names for pid in netns.pids_in(n)]
        assert len(names) == len(spec.nodes) + 1 and pids, "the testbed was not built"
    assert _ours(prefix) == []
    assert [p for p in pids if runstate.process_start_time(p) is not None] == []
    assert not workdir.exists()


def test_clean_removes_what_a_killed_build_left(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(paths.ROOT))
    before = {r.prefix for r in runstate.all_runs()}
    proc = subprocess.Popen([sys.executable, "-m", "harness", "testbed", "up", str(paths.DEFAULT_TESTBED)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = None
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and state is None:
            for run in runstate.all_runs():  # mid-build: namespaces exist, services started, not complete
                if run.prefix not in before and run.processes and not run.complete:
                    state = run
            time.sleep(0.002)
    finally:
        proc.kill()  # SIGKILL: no teardown runs
        proc.wait()
    assert state is not None, "never observed the build mid-way"
    leftovers = _ours(state.prefix)
    live = [p["pid"] for p in runstate.RunState.load(state.prefix).processes if runstate.alive(p["pid"], p["start"])]
    assert leftovers and live, "the killed build left nothing: the test would prove nothing"
    out = subprocess.run([sys.executable, "-m", "harness", "clean"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert f"namespace {state.prefix}-" in out.stdout
    assert _ours(state.prefix) == []
    assert [p for p in live if runstate.process_start_time(p) is not None] == []
    assert not state.workdir.exists()
