"""A run interrupted while a fault is applied leaves nothing behind on a node it does not own.

The node is a lab router double: a persistent network namespace created here, outside any run (named
``hm6lab-<hex>``, which ``hmipv6ct clean`` does not take for one of its own), reached from the host over a
veth pair by a real sshd with key authentication and a pinned host key, exactly as the lab backend reaches a
router.  A child process opens the lab testbed and applies faults (nftables tables on the router), then is
SIGKILLed (``hmipv6ct clean`` must undo the faults from the run's journal), interrupted with Ctrl-C (the
``with`` removes the fault itself) or SIGKILLed while the router's sshd is down (``clean`` reports FAILED and
keeps the journal for a later ``clean``).

Every process is started here and ended by its PID; the namespace, its veth pair and any state directory of
the child's runs are removed in teardown whatever happens.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import netns, paths
from harness.faults import NFT_PREFIX
from harness.testbed import runstate, services

_missing = [t for t in ("ip", "nft", "unshare", services.SSHD) if shutil.which(t) is None]
pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, sshd, nftables)"),
    pytest.mark.skipif(bool(_missing), reason=f"needs {', '.join(_missing)}"),
]

ENV = dict(os.environ, PYTHONPATH=str(paths.ROOT))
LOSS_PREFIX = "2001:db8:99::/64"
OTHER_PREFIX = "2001:db8:98::/64"

CHILD = textwrap.dedent("""\
    import signal, sys, time
    from harness.faults import PacketLoss, Partition
    from harness.testbed import load, open_backend

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored (a CI job)
    testbed, mode = sys.argv[1], sys.argv[2]
    with open_backend(load(testbed)) as tb:
        if mode == "with":  # Ctrl-C: KeyboardInterrupt unwinds through the with, which removes the fault
            with PacketLoss(tb, router="labrtr", prefix="{loss}", percent=100):
                print("READY", tb.journal.prefix, flush=True)
                time.sleep(120)
        else:  # applied and left applied: only SIGKILL ends this child
            PacketLoss(tb, router="labrtr", prefix="{loss}", percent=100).apply()
            if mode == "two":
                Partition(tb, router="labrtr", a="{other}", b="{loss}").apply()
            print("READY", tb.journal.prefix, flush=True)
            time.sleep(120)
""").format(loss=LOSS_PREFIX, other=OTHER_PREFIX)


class LabRouter:
    """A persistent namespace with an sshd on a veth address the host reaches, nftables inside."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.name = f"hm6lab-{secrets.token_hex(3)}"  # not hm6-xxxxxx-...: no run owns it
        self.host_if = self.name  # 13 characters
        net = f"fd{secrets.token_hex(1)}:{secrets.token_hex(2)}:{secrets.token_hex(2)}:1"
        self.host_addr, self.address = f"{net}::1", f"{net}::2"
        self.sshds: list[subprocess.Popen[bytes]] = []
        self.children: list[subprocess.Popen[str]] = []
        self.prefixes: list[str] = []  # runs of the children (their state directories)

    def build(self) -> None:
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        script = (f"link add {self.host_if} type veth peer name eth0 netns {self.name}\n"
                  f"addr add {self.host_addr}/64 dev {self.host_if} nodad\n"
                  f"link set {self.host_if} up\n")
        subprocess.run(["ip", "-batch", "-"], input=script, text=True, check=True)
        script = f"link set lo up\naddr add {self.address}/64 dev eth0 nodad\nlink set eth0 up\n"
        subprocess.run(["ip", "-n", self.name, "-batch", "-"], input=script, text=True, check=True)
        self.host_pub = services.generate_ed25519_key(self.workdir / "host_key")
        client_pub = services.generate_ed25519_key(self.workdir / "client_key")
        (self.workdir / "authorized_keys").write_text(client_pub + "\n")
        (self.workdir / "known_hosts").write_text(f"{self.address} {self.host_pub}\n")
        self.start_sshd()

    def start_sshd(self) -> None:
        self.sshds.append(services.start_sshd(self.name, self.workdir / f"sshd{len(self.sshds)}",
                                              self.workdir / "host_key", self.workdir / "authorized_keys",
                                              listen=self.address))
        deadline = time.monotonic() + 10  # reachable from the host (the veth's carrier may lag)
        while True:
            try:
                socket.create_connection((self.address, 22), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop_sshd(self) -> None:
        for proc in self.sshds:
            services.stop(proc)

    def testbed_file(self) -> Path:
        path = self.workdir / "lab.yaml"
        path.write_text(textwrap.dedent(f"""\
            name: faultlab
            description: a lab router double in namespace {self.name}, managed over SSH
            backend: lab
            timers: rfc
            nodes:
              labrtr:
                role: router
                management: {{type: ssh, host: "{self.address}", user: root, key_file: client_key,
                              known_hosts: known_hosts}}
              tester:
                role: tester
                management: {{type: local}}
            links:
              core:
                prefix: {OTHER_PREFIX}
                members: {{labrtr: {{iface: eth0, address: "::1"}}, tester: {{iface: {self.host_if}}}}}
            """))
        return path

    def tables(self) -> list[str]:
        out = subprocess.run(["ip", "netns", "exec", self.name, "nft", "list", "tables"],
                             capture_output=True, text=True, check=True).stdout
        return [line.split()[-1] for line in out.splitlines() if NFT_PREFIX in line]

    def child(self, testbed: Path, mode: str) -> tuple[subprocess.Popen[str], str]:
        """Start the child run; return it and its run prefix once its faults are applied."""
        script = self.workdir / "child.py"
        script.write_text(CHILD)
        proc = subprocess.Popen([sys.executable, str(script), str(testbed), mode], env=ENV, cwd=str(paths.ROOT),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.children.append(proc)
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("READY "):
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"the child run did not apply its faults (got {line!r}):\n{err[-3000:]}")
        prefix = line.split()[1]
        self.prefixes.append(prefix)
        return proc, prefix

    def teardown(self) -> None:
        for proc in self.children:  # by PID: only the children started here
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)  # reaps it and closes its pipes
        self.stop_sshd()
        for prefix in self.prefixes:  # a failed test must not leave a journal that every later clean trips on
            shutil.rmtree(runstate.STATE_ROOT / prefix, ignore_errors=True)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True, check=False)  # gone with the netns
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LabRouter]:
    router = LabRouter(tmp_path)
    try:
        router.build()
        yield router
    finally:
        started = [pid for p in router.sshds for pid in (p.pid, *services.descendants(p.pid))]
        router.teardown()
        assert not netns.exists(router.name), f"namespace {router.name} left behind"
        assert not [p for p in started if runstate.process_start_time(p) is not None], "an sshd survived"


def clean() -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", "clean"], env=ENV, cwd=str(paths.ROOT),
                          capture_output=True, text=True, timeout=120, check=False)


def kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL


def test_sigkilled_run_leaves_no_rule_after_clean(lab: LabRouter) -> None:
    testbed = lab.testbed_file()
    proc, prefix = lab.child(testbed, "two")
    assert sorted(lab.tables()) == [NFT_PREFIX + "packet_loss", NFT_PREFIX + "partition"]
    state = json.loads((runstate.STATE_ROOT / prefix / "state.json").read_text())
    assert [(r["fault"], r["node"], r["owned"]) for r in state["faults"]] == \
        [("packet_loss", "labrtr", False), ("partition", "labrtr", False)]
    kill(proc)
    assert sorted(lab.tables()) == [NFT_PREFIX + "packet_loss", NFT_PREFIX + "partition"], \
        "SIGKILL leaves the rules (nothing in the run could remove them)"
    out = clean()
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"removed fault packet_loss on labrtr ({testbed})" in out.stdout
    assert f"removed fault partition on labrtr ({testbed})" in out.stdout
    assert f"removed directory {runstate.STATE_ROOT / prefix}" in out.stdout
    assert lab.tables() == []
    assert not (runstate.STATE_ROOT / prefix).exists()
    assert netns.exists(lab.name), "clean must not touch a namespace no run owns"


def test_ctrl_c_removes_the_fault_before_clean(lab: LabRouter) -> None:
    proc, prefix = lab.child(lab.testbed_file(), "with")
    assert lab.tables() == [NFT_PREFIX + "packet_loss"]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err, err[-2000:]
    assert lab.tables() == [], "the with block did not remove the fault"
    assert not (runstate.STATE_ROOT / prefix).exists(), "down() keeps the state only while a fault is journaled"
    out = clean()
    assert "removed fault" not in out.stdout and "FAILED" not in out.stdout and prefix not in out.stdout, out.stdout


def test_unreachable_node_keeps_the_journal_for_a_later_clean(lab: LabRouter) -> None:
    testbed = lab.testbed_file()
    proc, prefix = lab.child(testbed, "one")
    kill(proc)
    lab.stop_sshd()
    out = clean()
    assert out.returncode == 1, out.stdout + out.stderr
    failed = [line for line in out.stdout.splitlines() if line.startswith(f"kept run {prefix}")]
    assert len(failed) == 1 and "FAILED to remove fault packet_loss on labrtr" in failed[0], out.stdout
    assert "refused" in failed[0], "the reason: nothing listens on the router's SSH port"
    state = json.loads((runstate.STATE_ROOT / prefix / "state.json").read_text())
    assert [r["fault"] for r in state["faults"]] == ["packet_loss"]
    assert lab.tables() == [NFT_PREFIX + "packet_loss"]
    lab.start_sshd()
    out = clean()
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"removed fault packet_loss on labrtr ({testbed})" in out.stdout
    assert lab.tables() == [] and not (runstate.STATE_ROOT / prefix).exists()
