"""The virtual testbed: one network namespace per node, one Linux bridge per link.

Layout for run prefix ``hm6-abc123``: node ``map1`` lives in namespace ``hm6-abc123-map1``;
all bridges live in ``hm6-abc123-sw`` (the "switch"), one per link, with learning off
(``ageing_time 0``, so every port sees every frame, like a hub: the tester captures all
traffic on a link) and multicast snooping off.  Each node interface is a veth pair whose
other end is a port of the link's bridge.  A handover moves the mobile node's port to
another bridge with a carrier flap the mobile node sees (as a Wi-Fi roam gives it a
link-layer trigger).

Virtual routers are managed like real ones: each runs a real OpenSSH server on ``::1``
inside its namespace with a host key generated for this run and pinned; a mobile node gets a
serial console double (a pty with a login prompt, via socat).  Everything is recorded in
:mod:`~harness.testbed.runstate` before it is created, so ``hmipv6ct clean`` finds leftovers.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from harness.drivers.base import CommandDriver
from harness.drivers.local import LocalDriver
from harness.drivers.serial import SerialDriver
from harness.drivers.ssh import SshDriver
from harness.errors import TestbedError
from harness.testbed import refconfig, runstate, services
from harness.testbed.backend import AttachResult, TestbedBackend
from harness.testbed.model import Node, Secret, Testbed

log = logging.getLogger("harness.testbed.netns")

SWITCH = "sw"
REFERENCE_DAEMONS = ("hmipv6-map", "hmipv6-ar", "hmipv6-mn", "hmipv6-ha", "hmipv6-cn")


def _mac(prefix_seed: str, node: str, iface: str) -> str:
    """A stable, locally administered unicast MAC for (node, interface)."""
    digest = hashlib.sha256(f"{prefix_seed}/{node}/{iface}".encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


def _run(argv: list[str], input: str | None = None, what: str = "") -> str:
    proc = subprocess.run(argv, input=input, text=True, capture_output=True)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise TestbedError(f"{what or ' '.join(argv[:4])} failed (exit {proc.returncode}): {detail}")
    return proc.stdout


def _close_quietly(pipe) -> None:
    try:
        if pipe is not None:
            pipe.close()
    except OSError:
        pass


def _note_exit_time(proc: subprocess.Popen) -> None:
    """Set ``proc.hmipv6ct_ended`` (time.time()) when ``proc`` ends, without reaping it: a thread waits on a pidfd
    (nothing is noted where pidfds are not available)."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        return

    def wait() -> None:
        try:
            select.select([fd], [], [])
            proc.hmipv6ct_ended = time.time()  # type: ignore[attr-defined]
        finally:
            os.close(fd)

    threading.Thread(target=wait, name=f"exit of {proc.pid}", daemon=True).start()


class NetnsTestbed(TestbedBackend):
    """Build ``spec`` from network namespaces, veths and bridges on this host."""

    def __init__(self, spec: Testbed, state: runstate.RunState | None = None, edition: str = "rfc4140") -> None:
        super().__init__(spec)
        self.state = state
        self.edition = edition
        self._bridges: dict[str, str] = {}  # link -> bridge name
        self._ports: dict[tuple[str, str], str] = {}  # (node, iface) -> switch port name
        self._procs: list[subprocess.Popen] = []  # our children, reaped on down()
        self._daemons: dict[str, subprocess.Popen] = {}  # node -> its HMIPv6 daemon
        #: node -> a reference daemon in standby for its next (re)start (reference_impl.daemon.standby): the node's
        #: daemon restarted once (the DUT, before every test) is likely to be restarted again
        self._spares: dict[str, subprocess.Popen] = {}
        self._index_names()
        if state is not None:  # resuming a testbed left up by `hmipv6ct testbed up`
            self._fill_management()

    # -- naming ----------------------------------------------------------------------
    def _index_names(self) -> None:
        for i, link in enumerate(self.spec.links):
            self._bridges[link] = f"br{i}"
        n = 0
        for node in self.spec.nodes.values():
            for ifname in node.interfaces:
                self._ports[(node.name, ifname)] = f"p{n}"
                n += 1
        seed = self.spec.name
        for node in self.spec.nodes.values():
            for iface in node.interfaces.values():
                iface.mac = _mac(seed, node.name, iface.name)

    @property
    def prefix(self) -> str:
        if self.state is None:
            raise TestbedError("testbed is not up")
        return self.state.prefix

    def netns_of(self, node: str) -> str:
        if node not in self.spec.nodes:
            raise TestbedError(f"no node {node!r}")
        return self.state_required().netns_name(node)

    @property
    def journal(self) -> runstate.RunState | None:
        return self.state

    def owns_node(self, node: str) -> bool:
        return True  # every node is a namespace of this run

    def state_required(self) -> runstate.RunState:
        if self.state is None:
            raise TestbedError("testbed is not up")
        return self.state

    @property
    def switch_ns(self) -> str:
        return self.state_required().netns_name(SWITCH)

    # -- build -----------------------------------------------------------------------
    def up(self) -> None:
        if self.state is not None:
            raise TestbedError(f"testbed already up as {self.state.prefix}")
        started = time.monotonic()
        self.state = runstate.RunState.create(str(self.spec.path.resolve()))
        log.info("building testbed %s as %s", self.spec.name, self.state.prefix)
        names = [self.switch_ns] + [self.netns_of(n) for n in self.spec.nodes]
        self.state.will_create_namespaces(names)
        _run(["ip", "-batch", "-"], "".join(f"netns add {n}\n" for n in names), "creating namespaces")
        self._build_switch()
        self._build_nodes()
        self._fill_management()
        self._start_services()
        self.state.complete = True
        self.state.save()
        log.info("testbed %s up in %.2f s", self.state.prefix, time.monotonic() - started)

    def _build_switch(self) -> None:
        sysctls = ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]
        batch = ["link set lo up"]
        for link, br in self._bridges.items():
            batch.append(f"link add {br} type bridge ageing_time 0 mcast_snooping 0 stp_state 0 forward_delay 0")
            batch.append(f"link set {br} alias {link} up")
        self._ns_script(self.switch_ns, sysctls, batch)

    def _node_sysctls(self, node: Node) -> list[str]:
        conf = "net.ipv6.conf"
        s = [f"{conf}.default.keep_addr_on_down=1", f"{conf}.all.keep_addr_on_down=1",
             f"{conf}.default.accept_dad=0", f"{conf}.all.accept_dad=0",  # DAD is not under test here
             "net.ipv6.icmp.ratelimit=0"]
        if node.role == "tester":  # quiet: no addresses, no RA/NS/MLD, no ICMP errors; AF_PACKET only
            s += [f"{conf}.default.disable_ipv6=1", f"{conf}.all.disable_ipv6=1"]
        elif node.forwards:
            s += [f"{conf}.all.forwarding=1", f"{conf}.default.accept_ra=0", f"{conf}.default.autoconf=0"]
        elif node.role == "mn":
            # a host that autoconfigures from RAs and solicits at once on a link-layer trigger
            s += [f"{conf}.default.accept_ra=1", f"{conf}.default.autoconf=1",
                  f"{conf}.default.router_solicitation_delay=0", f"{conf}.default.router_solicitation_interval=1"]
        else:
            s += [f"{conf}.default.accept_ra=0", f"{conf}.default.autoconf=0"]
        return s

    def _build_nodes(self) -> None:
        procs = []
        for node in self.spec.nodes.values():
            ns = self.netns_of(node.name)
            batch = ["link set lo up"]
            sw_batch = []
            for iface in self._veth_interfaces(node):
                port = self._ports[(node.name, iface.name)]
                batch.append(f"link add {iface.name} address {iface.mac} type veth peer name {port} netns {self.switch_ns}")
                batch.append(f"link set {iface.name} up")
                if iface.address is not None:
                    batch.append(f"address add {iface.address} dev {iface.name} nodad")
                sw_batch.append(f"link set {port} master {self._bridges[iface.link]} up")
            for route in node.routes:
                batch.append(f"route add {route.destination} via {route.via}")
            procs.append((node.name, self._ns_script(ns, self._node_sysctls(node), batch, sw_batch, wait=False)))
        errors = []
        for name, proc in procs:
            out, err = proc.communicate()
            if proc.returncode != 0:
                errors.append(f"node {name}: {err.strip() or out.strip()}")
        if errors:
            raise TestbedError("building nodes failed: " + "; ".join(errors))

    def _veth_interfaces(self, node: Node) -> list:
        """The interfaces of ``node`` built as veth pairs into the switch (all of them, here)."""
        return list(node.interfaces.values())

    def _ns_script(self, ns: str, sysctls: list[str], batch: list[str], sw_batch: list[str] = (),
                   wait: bool = True) -> subprocess.Popen | None:
        """Apply sysctls, then an ``ip -batch`` inside ``ns`` (and a batch in the switch)."""
        script = "set -e\n"
        if sysctls:
            script += "sysctl -q -w " + " ".join(sysctls) + "\n"
        script += "ip -batch - <<'EOF'\n" + "\n".join(batch) + "\nEOF\n"
        if sw_batch:
            script += f"ip -n {self.switch_ns} -batch - <<'EOF'\n" + "\n".join(sw_batch) + "\nEOF\n"
        proc = subprocess.Popen(["ip", "netns", "exec", ns, "sh", "-c", script], text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if not wait:
            return proc
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise TestbedError(f"configuring namespace {ns} failed: {err.strip() or out.strip()}")
        return None

    # -- management ------------------------------------------------------------------
    @property
    def _keys(self) -> Path:
        return self.state_required().workdir / "keys"

    def _fill_management(self) -> None:
        """Point every node's management description at this run's services."""
        wd = self.state_required().workdir
        for node in self.spec.nodes.values():
            m = node.management
            m.netns = self.netns_of(node.name)
            if m.type == "ssh":
                m.host, m.port, m.user = "::1", 22, "root"
                m.key_file = self._keys / "client"
                m.known_hosts = wd / node.name / "known_hosts"
            elif m.type == "serial":
                m.device = str(wd / node.name / "console")
                m.user = m.user or "root"
                if m.password is None:
                    m.password = Secret(self._console_password(node.name), "generated for this run")

    def _console_password(self, node: str) -> str:
        path = self.state_required().workdir / node / "console-password"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(12))
        return path.read_text()

    def _start_services(self) -> None:
        state = self.state_required()
        self._keys.mkdir(mode=0o700, exist_ok=True)
        client_pub = services.generate_ed25519_key(self._keys / "client")
        (self._keys / "authorized_keys").write_text(client_pub + "\n")
        for node in self.spec.nodes.values():
            ns, nodedir = self.netns_of(node.name), state.workdir / node.name
            nodedir.mkdir(exist_ok=True)
            m = node.management
            if m.type == "ssh":
                # "::1" is a different host in every namespace: each node has its own pinned key file
                host_pub = services.generate_ed25519_key(nodedir / "ssh_host_ed25519_key")
                (nodedir / "known_hosts").write_text(f"{m.host} {' '.join(host_pub.split()[:2])}\n")
                proc = services.start_sshd(ns, nodedir, nodedir / "ssh_host_ed25519_key", self._keys / "authorized_keys")
                self._started(proc, f"sshd {node.name}")
            elif m.type == "serial":
                proc = services.start_console_double(ns, nodedir, Path(m.device), m.user, m.password.reveal(),
                                                     hostname=node.name)
                self._started(proc, f"console {node.name}")
            if "radvd" in node.services:
                self._started(self._start_radvd(node), f"radvd {node.name}")
            if self._daemon_of(node) and node.autostart:
                self._start_daemon(node)
        for node in self.spec.nodes.values():
            if self._daemon_of(node) and node.autostart:
                self._wait_ready(node)

    def _started(self, proc: subprocess.Popen, what: str) -> None:
        self._procs.append(proc)
        self.state_required().started(proc.pid, what)

    def _start_radvd(self, node: Node) -> subprocess.Popen:
        """Router Advertisements for the node's advertised links (stand-in until the reference AR)."""
        nodedir = self.state_required().workdir / node.name
        t = self.spec.timers
        conf = []
        for iface in node.interfaces.values():
            if iface.advertise:
                prefix = self.spec.links[iface.link].prefix
                # Advertisement Interval option: routers serving mobile nodes (RFC 6275 §7.3, §7.5)
                conf.append(
                    f"interface {iface.name} {{\n AdvSendAdvert on;\n AdvIntervalOpt on;\n"
                    f" MinRtrAdvInterval {t.min_rtr_adv_interval:g};\n MaxRtrAdvInterval {t.max_rtr_adv_interval:g};\n"
                    f" MinDelayBetweenRAs {t.min_delay_between_ras:g};\n"
                    f" prefix {prefix} {{ AdvOnLink on; AdvAutonomous on; }};\n}};\n")
        if not conf:
            raise TestbedError(f"node {node.name}: service radvd but no interface with 'advertise: true'")
        (nodedir / "radvd.conf").write_text("".join(conf))
        with open(nodedir / "radvd.log", "w") as log_file:
            return subprocess.Popen(
                ["ip", "netns", "exec", self.netns_of(node.name), "radvd", "-n", "-C", str(nodedir / "radvd.conf"),
                 "-p", str(nodedir / "radvd.pid"), "-m", "stderr", "-d", "1"],
                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)

    # -- the HMIPv6 daemon of a node (reference, or a replacement command) ---------------------------
    @staticmethod
    def _daemon_of(node: Node) -> str | None:
        return next((d for d in REFERENCE_DAEMONS if d in node.services), None)

    def _daemon_config(self, node: Node) -> Path:
        return self.state_required().workdir / node.name / f"{self._daemon_of(node)}.yaml"

    def dut_variables(self, node: str) -> dict[str, str]:
        """Placeholders for DUT profile commands: the daemon's configuration file and the Python that runs it."""
        spec = self.spec.nodes[node]
        return {"config": str(self._daemon_config(spec)), "python": sys.executable} if self._daemon_of(spec) else {}

    def _start_daemon(self, node: Node) -> None:
        """Run the node's HMIPv6 daemon in its namespace, as a lab runs it on a router: the bundled
        reference daemon, or the node's ``command`` (a vendor daemon, or a test variant) in its place."""
        daemon = self._daemon_of(node)
        nodedir = self.state_required().workdir / node.name
        render = refconfig.RENDER[daemon]
        path = self._daemon_config(node)
        config = render(self.spec, node, nodedir, self.edition)
        path.touch(mode=0o600)  # it may hold IPsec keys (refconfig._security)
        path.chmod(0o600)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        Path(config["control_socket"]).unlink(missing_ok=True)
        spare = self._spares.pop(node.name, None)
        if spare is not None:
            try:
                if spare.poll() is None:
                    spare.stdin.write(b"go\n")  # type: ignore[union-attr]
                    spare.stdin.close()  # type: ignore[union-attr]
                    self._daemons[node.name] = spare
                    _note_exit_time(spare)
                    return
            except OSError:
                pass  # it died meanwhile: start one the ordinary way
            finally:
                _close_quietly(spare.stdin)
        if node.command:
            argv = ["sh", "-c", node.command.format(config=path, python=sys.executable)]
        else:
            module = daemon.removeprefix("hmipv6-") + "_main"
            argv = [sys.executable, "-m", f"reference_impl.daemon.{module}", "--config", str(path)]
        with open(nodedir / f"{daemon}.err", "a") as err:
            proc = subprocess.Popen(["ip", "netns", "exec", self.netns_of(node.name), *argv],
                                    stdout=err, stderr=subprocess.STDOUT, start_new_session=True)
        self._daemons[node.name] = proc
        _note_exit_time(proc)
        self._started(proc, f"{daemon} {node.name}")

    def _spawn_spare(self, node: Node) -> None:
        """A reference daemon in standby for the node's next start (not for a replacement ``command``)."""
        if node.command or node.name in self._spares:
            return
        daemon = self._daemon_of(node)
        nodedir = self.state_required().workdir / node.name
        module = daemon.removeprefix("hmipv6-") + "_main"
        argv = [sys.executable, "-m", "reference_impl.daemon.standby", module, "--config", str(self._daemon_config(node))]
        with open(nodedir / f"{daemon}.err", "a") as err:
            proc = subprocess.Popen(["ip", "netns", "exec", self.netns_of(node.name), *argv], stdin=subprocess.PIPE,
                                    stdout=err, stderr=subprocess.STDOUT, start_new_session=True)
        self._spares[node.name] = proc
        self._started(proc, f"{daemon} {node.name} (standby)")

    def _wait_ready(self, node: Node, timeout: float = 15.0) -> None:
        """Until the daemon's control socket exists -- it appears listening (a replacement command: until it has run
        1 s)."""
        daemon, proc = self._daemon_of(node), self._daemons[node.name]
        sock = self.state_required().workdir / node.name / f"{daemon}.sock"
        start = time.monotonic()
        while time.monotonic() - start < timeout and proc.poll() is None:
            if sock.exists() or (node.command and time.monotonic() - start > 1.0):
                return
            time.sleep(0.02)
        err = (self.state_required().workdir / node.name / f"{daemon}.err").read_text()[-1500:]
        raise TestbedError(f"{daemon} on {node.name} did not start"
                           f"{f' (exit {proc.returncode})' if proc.poll() is not None else ''}: "
                           f"{err.strip() or 'no output'}")

    def restart_service(self, node: str) -> None:
        """Stop the node's HMIPv6 daemon (by PID) and start it afresh: a clean binding cache and timers.  The new
        process was started ahead, in standby (imports done, nothing read or bound yet); another is started for
        the next restart."""
        self.stop_service(node)
        self.start_service(node)
        self._spawn_spare(self.spec.nodes[node])

    def start_service(self, node: str) -> None:
        """Start the node's HMIPv6 daemon (one with ``autostart: false``, or one stopped earlier)."""
        spec = self.spec.nodes[node]
        if not self._daemon_of(spec):
            raise TestbedError(f"{node} has no HMIPv6 daemon among its services")
        proc = self._daemons.get(node)
        if proc is not None and proc.poll() is None:
            raise TestbedError(f"{node}: its HMIPv6 daemon is already running (pid {proc.pid})")
        self._start_daemon(spec)
        self._wait_ready(spec)

    def stop_service(self, node: str) -> None:
        """Stop the node's HMIPv6 daemon by its PID (SIGTERM first: it removes its kernel state); a no-op if it
        is not running."""
        spec = self.spec.nodes[node]
        if not self._daemon_of(spec):
            raise TestbedError(f"{node} has no HMIPv6 daemon among its services")
        proc = self._daemons.pop(node, None)
        if proc is None:
            return
        if proc.poll() is None:
            runstate.destroy_process(proc.pid)
        proc.wait(timeout=5)

    def kill_service(self, node: str) -> None:
        """Crash the node's HMIPv6 daemon: SIGKILL, so it cleans nothing up (its nftables table, kernel routes and
        control socket stay, as after a real crash).  ``start_service`` brings it back."""
        proc = self._daemons.pop(node, None)
        if proc is None or proc.poll() is not None:
            raise TestbedError(f"{node}: its HMIPv6 daemon is not running")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)

    def service_running(self, node: str) -> bool:
        proc = self._daemons.get(node)
        return proc is not None and proc.poll() is None

    def service_pid(self, node: str) -> int | None:
        """The PID of the node's running HMIPv6 daemon (None when it does not run)."""
        proc = self._daemons.get(node)
        return proc.pid if proc is not None and proc.poll() is None else None

    def service_failure(self, node: str) -> tuple[str, float | None] | None:
        """The daemon started (and not stopped or killed) through this testbed has ended on its own: what it said
        last, and when it ended (None when the time is unknown)."""
        proc = self._daemons.get(node)
        if proc is None or proc.poll() is None:
            return None
        daemon = self._daemon_of(self.spec.nodes[node])
        status = proc.returncode
        how = f"killed by signal {-status}" if status < 0 else f"exit status {status}"
        try:
            err = (self.state_required().workdir / node / f"{daemon}.err").read_text(errors="replace")
            tail = " | ".join(line for line in err.strip().splitlines()[-5:])[-600:]
        except (OSError, TestbedError):
            tail = ""
        return (f"{daemon} on {node} (pid {proc.pid}) ended ({how})" + (f"; its last output: {tail}" if tail else ""),
                getattr(proc, "hmipv6ct_ended", None))

    def control_command(self, node: str) -> str | None:
        """The shell command that shows or steers the reference daemon on ``node`` (``… show``)."""
        spec = self.spec.nodes[node]
        if not self._daemon_of(spec):
            return None
        return f"{sys.executable} -m reference_impl.daemon.ctl --config {self._daemon_config(spec)}"

    def _make_driver(self, node: Node) -> CommandDriver:
        m = node.management
        wd = self.state_required().workdir / node.name
        if m.type == "ssh":
            return SshDriver(node.name, m.host, m.port, user=m.user, key_file=str(m.key_file),
                             known_hosts=str(m.known_hosts), netns=m.netns)
        if m.type == "serial":
            return SerialDriver(node.name, m.device, user=m.user, password=m.password.reveal(),
                                log_path=str(wd / "console.log"))
        return LocalDriver(node.name, netns=m.netns)

    # -- tester and handover -----------------------------------------------------------
    def tester_port(self, link: str) -> tuple[str | None, str]:
        tester = self.spec.tester
        if tester is None:
            raise TestbedError(f"testbed {self.spec.name!r} has no tester node")
        return self.netns_of(tester.name), tester.interface_on(link).name

    def attach(self, mn: str, router: str) -> AttachResult:
        spec = self.spec
        if router in spec.links and spec.links[router].access:  # an access link by name (e.g. the tester's own)
            target = router
        else:
            target = spec.access_link_of(router).name
        node = spec.nodes[mn]
        iface = next((i for i in node.interfaces.values() if spec.links[i.link].access), None)
        if iface is None:
            raise TestbedError(f"{mn!r} has no interface on an access link")
        port = self._ports[(mn, iface.name)]
        down = time.time()
        _run(["ip", "-n", self.switch_ns, "link", "set", port, "down"], what=f"{mn}: link down")
        _run(["ip", "-n", self.switch_ns, "-batch", "-"],
             f"link set {port} master {self._bridges[target]}\nlink set {port} up\n", f"{mn}: attach to {target}")
        up = time.time()
        del spec.links[iface.link].members[mn]
        iface.link = target
        spec.links[target].members[mn] = iface
        log.info("attached %s to %s (%s) in %.1f ms", mn, router, target, 1000 * (up - down))
        return AttachResult(mn, router, target, down, up)

    # -- teardown --------------------------------------------------------------------
    def down(self) -> None:
        self.close_drivers()
        for spare in self._spares.values():  # end of input: a daemon in standby exits without running
            _close_quietly(spare.stdin)
        self._spares.clear()
        if self.state is None:
            return
        removed = runstate.destroy(self.state.prefix, self.state.namespaces, self.state.processes, self.state.workdir)
        for proc in self._procs:  # reap our children (destroy ended them)
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                log.warning("process %d did not end", proc.pid)
        self._procs.clear()
        log.info("testbed %s down: removed %d items", self.state.prefix, len(removed))
        self.state = None
