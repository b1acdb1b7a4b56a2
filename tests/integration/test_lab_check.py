"""``hmipv6ct testbed check`` on lab files, through the real CLI (``python -m harness``).

A lab double is built here.  Namespace ``hm6lc-<hex>-r`` is a router reached from the host over a veth pair by
a real sshd (key login, pinned host key) on one address, with a second address whose SSH packets nftables
drops (a host that never answers).  Namespace ``hm6lc-<hex>-t`` holds the tester's ports, quiet as a lab's
should be (IPv6 off): ``p0`` on the router's data link, and ``d0``, a veth whose peer has IPv6 off too (a link
where nothing answers).  The unreachable devices are a TEST-NET address (fails fast or times out, depending on
the host's routes), a local port nobody listens on (refused), a local port that accepts and never speaks (no
SSH banner), the dropped address (TCP connect timeout), a serial device that does not exist and a pty nobody
answers on (no prompt).

The check must say, per device, one PROBLEM line naming it, exit 1, and take well under three timeouts however
many devices fail: it never hangs.  The router double must be OK.  Every process is started here and ended by
its PID; the namespaces (unique prefix) and the host's veth end are removed in teardown whatever happens.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import paths
from harness.testbed import services

_missing = [t for t in ("ip", "nft", "unshare", services.SSHD) if shutil.which(t) is None]
pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, sshd, nftables)"),
    pytest.mark.skipif(bool(_missing), reason=f"needs {', '.join(_missing)}"),
]

ENV = dict(os.environ, PYTHONPATH=str(paths.ROOT))
TIMEOUT = 2.0  # --timeout of the checks below
DATA_PREFIX = "2001:db8:77::/64"


def hmipv6ct(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "harness", *args], env=ENV, capture_output=True, text=True, timeout=120)
    return out, time.monotonic() - start


def sh(*argv: str, input: str | None = None) -> None:
    subprocess.run(argv, input=input, text=True, check=True, capture_output=True)


class LabDouble:
    """A router namespace with an sshd (and a dropped address), a tester namespace with two ports."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        tag = secrets.token_hex(3)
        self.router, self.tester = f"hm6lc-{tag}-r", f"hm6lc-{tag}-t"
        self.host_if = f"hm6lc{tag}"  # 11 characters
        net = f"fd{secrets.token_hex(1)}:{secrets.token_hex(2)}:{secrets.token_hex(2)}:1"
        self.host_addr, self.address, self.dropped = f"{net}::1", f"{net}::2", f"{net}::3"
        self.sshd: subprocess.Popen[bytes] | None = None

    def build(self) -> None:
        for ns in (self.router, self.tester):
            sh("ip", "netns", "add", ns)
        # the tester's ports are quiet, as in a lab (and in the virtual testbed): IPv6 off, AF_PACKET only, so the
        # link probe must answer the neighbor solicitations for its own address itself
        sh("ip", "netns", "exec", self.tester, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
           "net.ipv6.conf.default.disable_ipv6=1")
        sh("ip", "-batch", "-", input=(
            f"link add {self.host_if} type veth peer name eth0 netns {self.router}\n"
            f"addr add {self.host_addr}/64 dev {self.host_if} nodad\n"
            f"link set {self.host_if} up\n"))
        sh("ip", "-n", self.router, "-batch", "-", input=(
            "link set lo up\n"
            f"addr add {self.address}/64 dev eth0 nodad\naddr add {self.dropped}/64 dev eth0 nodad\n"
            "link set eth0 up\n"
            f"link add eth1 type veth peer name p0 netns {self.tester}\n"
            "addr add 2001:db8:77::1/64 dev eth1 nodad\nlink set eth1 up\n"))
        # d0: a port with carrier on which nothing answers (its veth peer d1 has IPv6 off too)
        sh("ip", "-n", self.tester, "-batch", "-", input=(
            "link set lo up\nlink set p0 up\nlink add d0 type veth peer name d1\nlink set d1 up\nlink set d0 up\n"))
        sh("ip", "netns", "exec", self.router, "nft", "-f", "-", input=(
            "table ip6 hm6lc {\n  chain input {\n    type filter hook input priority 0;\n"
            f"    ip6 daddr {self.dropped} tcp dport 22 drop\n  }}\n}}\n"))
        host_pub = services.generate_ed25519_key(self.workdir / "host_key")
        client_pub = services.generate_ed25519_key(self.workdir / "client_key")
        (self.workdir / "authorized_keys").write_text(client_pub + "\n")
        (self.workdir / "known_hosts").write_text(f"{self.address} {host_pub}\n")
        self.sshd = services.start_sshd(self.router, self.workdir / "sshd", self.workdir / "host_key",
                                        self.workdir / "authorized_keys", listen=self.address)
        deadline = time.monotonic() + 10  # reachable from the host, link-locals past DAD
        while True:
            try:
                socket.create_connection((self.address, 22), timeout=1).close()
                tentative = subprocess.run(["ip", "-n", self.router, "-6", "addr", "show", "tentative"],
                                           capture_output=True, text=True).stdout.strip()
                if not tentative:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"lab double {self.router} not ready")
            time.sleep(0.05)

    def destroy(self) -> None:
        if self.sshd is not None:
            services.stop(self.sshd)
        for ns in (self.router, self.tester):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)  # gone with the namespace, normally


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabDouble]:
    double = LabDouble(tmp_path_factory.mktemp("labcheck"))
    try:
        double.build()
        yield double
    finally:
        double.destroy()
    leftovers = [line for line in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
                 .splitlines() if line.startswith((double.router, double.tester))]
    assert not leftovers, f"namespaces left behind: {leftovers}"


def free_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


def ssh_node(name: str, host: str, port: int = 22, role: str = "router") -> str:
    return (f"  {name}: {{role: {role}, management: {{type: ssh, host: \"{host}\", port: {port}, user: root, "
            f"key_file: client_key, known_hosts: known_hosts}}}}\n")


def test_unreachable_devices_are_each_one_problem_and_the_check_does_not_hang(lab: LabDouble) -> None:
    mute = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # accepts TCP (backlog), never says a word
    mute.bind(("127.0.0.1", 0))
    mute.listen(8)
    mute_port = mute.getsockname()[1]
    master, slave = os.openpty()  # a console nobody answers on
    console = os.ttyname(slave)
    refused = free_port()
    nodev = f"/dev/hm6lc-{secrets.token_hex(3)}-nonexistent"
    path = lab.workdir / "unreachable.yaml"
    path.write_text(
        "name: gone\nbackend: lab\nnodes:\n"
        + ssh_node("far", "198.51.100.11")
        + ssh_node("refused", "::1", refused)
        + ssh_node("mute", "127.0.0.1", mute_port)
        + ssh_node("dropped", lab.dropped)
        + f"  nodev: {{role: mn, management: {{type: serial, device: {nodev}, user: root}}}}\n"
        + f"  console: {{role: router, management: {{type: serial, device: {console}, user: root}}}}\n"
        + f"  tester: {{role: tester, management: {{type: local, netns: {lab.tester}}}}}\n"
        + textwrap.dedent(f"""\
            links:
              core:
                prefix: {DATA_PREFIX}
                members: {{far: eth0, refused: eth0, mute: eth0, dropped: {{iface: eth1, address: "::1"}}, tester: p0}}
              dead:
                access: true
                members: {{nodev: wlan0, console: eth0, tester: d0}}
            """))
    try:
        out, wall = hmipv6ct("testbed", "check", str(path), "--timeout", f"{TIMEOUT:g}")
    finally:
        mute.close()
        os.close(master)
        os.close(slave)
    text = out.stdout + out.stderr
    print(out.stdout, f"(wall time {wall:.2f} s)")  # shown with -s, and on failure
    assert out.returncode == 1, text
    assert wall < 3 * TIMEOUT, f"the check took {wall:.1f} s with --timeout {TIMEOUT:g}: it must not wait per device"
    assert "Traceback" not in out.stderr, out.stderr
    problems = [line.strip()[len("PROBLEM"):].strip() for line in out.stdout.splitlines()
                if line.strip().startswith("PROBLEM")]
    expected = {
        "far": r"UNREACHABLE: ssh 198\.51\.100\.11:22: \S",
        "refused": rf"UNREACHABLE: ssh \[::1\]:{refused}: Connection refused$",
        # paramiko's banner timeout or its key-exchange wait, whichever ends first
        "mute": rf"UNREACHABLE: ssh 127\.0\.0\.1:{mute_port}: (no SSH banner|SSH negotiation did not finish|SSH handshake with \[127\.0\.0\.1\]:\d+ did not complete) within 2 s",
        "dropped": rf"UNREACHABLE: ssh \[{re.escape(lab.dropped)}\]:22: timed out after 2 s$",
        "nodev": rf"UNREACHABLE: serial {re.escape(nodev)}: .*No such file or directory",
        "console": rf"NO PROMPT: serial {re.escape(console)}: no login or shell prompt",
        "tester": r"LINK dead \(port d0\): silent: no answer to an echo request to ff02::1 within 2 s$",
    }
    for node, pattern in expected.items():
        mine = [p for p in problems if p.startswith(f"{node}: ")]
        assert len(mine) == 1, f"{node}: expected one PROBLEM line, got {mine}\n{text}"
        assert re.search(pattern, mine[0][len(node) + 2:]), f"{node}: {mine[0]!r} does not match {pattern!r}"
    assert len(problems) == len(expected), text
    # the tester itself is fine, and sees the router double's data link (its management address is dropped, its
    # data plane answers)
    assert re.search(r"OK\s+tester: link core: sees its link: neighbor advertisement from dropped \(2001:db8:77::1\)",
                     out.stdout), out.stdout
    assert re.search(r"OK\s+tester: interface p0 \(link core\): up", out.stdout), out.stdout
    assert "gone: 0/7 devices OK" in out.stdout and \
        "problems: far, refused, mute, dropped, nodev, console, tester" in out.stdout


def test_a_reachable_router_is_ok(lab: LabDouble) -> None:
    path = lab.workdir / "reachable.yaml"
    path.write_text(
        "name: here\nbackend: lab\nnodes:\n"
        + ssh_node("labrtr", lab.address)
        + f"  tester: {{role: tester, management: {{type: local, netns: {lab.tester}}}}}\n"
        + textwrap.dedent(f"""\
            links:
              core:
                prefix: {DATA_PREFIX}
                members: {{labrtr: {{iface: eth1, address: "::1"}}, tester: p0}}
            """))
    out, wall = hmipv6ct("testbed", "check", str(path), "--timeout", f"{TIMEOUT:g}")
    print(out.stdout, f"(wall time {wall:.2f} s)")
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(rf"OK\s+labrtr: management: ssh root@\[{re.escape(lab.address)}\]:22: host key matches "
                     r"known_hosts, logged in \(\d+ ms\)", out.stdout), out.stdout
    assert re.search(r"OK\s+labrtr: interface eth1 \(link core\): up, 2001:db8:77::1 present", out.stdout), out.stdout
    assert re.search(r"OK\s+tester: link core: sees its link: neighbor advertisement from labrtr \(2001:db8:77::1\); "
                     r"1 echo reply \(fe80::\S+ \[labrtr\]\)", out.stdout), out.stdout
    assert "PROBLEM" not in out.stdout and "here: 2/2 devices OK" in out.stdout
    assert wall < 3 * TIMEOUT

    # the same as JSON; and a declared address that is not there is a problem of that device
    path.write_text(path.read_text().replace('address: "::1"', 'address: "::99"'))
    out, _ = hmipv6ct("testbed", "check", str(path), "--timeout", f"{TIMEOUT:g}", "--json")
    assert out.returncode == 1, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    devices = {d["node"]: d for d in doc["devices"]}
    assert doc["ok"] is False and devices["tester"]["ok"] is True and devices["labrtr"]["reachable"] is True
    assert [c["detail"] for c in devices["labrtr"]["checks"] if c["status"] == "PROBLEM"] == [
        "labrtr: ADDRESS 2001:db8:77::99 missing on eth1 (link core)"]


def test_a_broken_lab_file_is_its_file_and_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\nbackend: lab\nnodes:\n  ar1:\n    role: ar\n    management: {type: ssh}\n"
                    "links: {}\n")
    out, _ = hmipv6ct("testbed", "check", str(path))
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"hmipv6ct: error: {path}:6: node 'ar1': ssh management needs 'host'" in out.stderr
