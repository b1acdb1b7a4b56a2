"""The management drivers against real components: sh, sshd and a serial-console double.

Every namespace is named ``drvtest-*`` and deleted in teardown; every process is started
here and stopped by PID (with its descendants) in teardown, even when a test fails.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import netns
from harness.drivers import LocalDriver, SerialDriver, SshDriver
from harness.errors import (
    AuthenticationError,
    CommandTimeoutError,
    ConnectError,
    ConnectionLostError,
    ConsoleError,
    HostKeyMismatchError,
)
from harness.testbed import services

from tests.unit.drivers.driver_contract import CHECKS, DriverContract  # run: python3 -m pytest

_missing = [t for t in ("ip", "unshare", "socat", services.SSHD) if shutil.which(t) is None]
pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, sshd)"),
    pytest.mark.skipif(bool(_missing), reason=f"needs {', '.join(_missing)}"),
]

CONSOLE_USER = "root"
CONSOLE_PASSWORD = "c0ns0le 'pw' $!"


# -- helpers and fixtures ------------------------------------------------------------------


def _make_netns() -> str:
    name = f"drvtest-{os.getpid()}-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    return name


def _delete_netns(name: str, started: list[int]) -> None:
    leftovers = [p for p in netns.pids_in(name) if p in started]
    subprocess.run(["ip", "netns", "del", name], check=False)
    assert not leftovers, f"processes left in {name}: {leftovers}"


def fingerprint(public_line: str) -> str:
    """OpenSSH's SHA256 fingerprint of an ``ssh-xxx BASE64`` line."""
    digest = hashlib.sha256(base64.b64decode(public_line.split()[1])).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class Services:
    """Processes started by one fixture; :meth:`stop_all` ends them and their children."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def add(self, proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        self.procs.append(proc)
        return proc

    def pids(self) -> list[int]:
        return [pid for p in self.procs for pid in (p.pid, *services.descendants(p.pid))]

    def stop_all(self) -> None:
        for proc in self.procs:
            services.stop(proc)


@pytest.fixture(scope="module")
def ns() -> Iterator[str]:
    name = _make_netns()
    try:
        yield name
    finally:
        _delete_netns(name, [])


class SshSetup:
    def __init__(self, workdir: Path, netns_name: str, procs: Services) -> None:
        self.workdir = workdir
        self.netns = netns_name
        self.procs = procs
        self.host_pub = services.generate_ed25519_key(workdir / "host_key")
        self.client_pub = services.generate_ed25519_key(workdir / "client_key")
        (workdir / "authorized_keys").write_text(self.client_pub + "\n")
        self.known_hosts = workdir / "known_hosts"
        self.known_hosts.write_text(f"::1 {self.host_pub}\n")

    def start(self, port: int = 22) -> subprocess.Popen[bytes]:
        sshd_dir = self.workdir / f"sshd-{port}"
        return self.procs.add(
            services.start_sshd(
                self.netns, sshd_dir, self.workdir / "host_key", self.workdir / "authorized_keys",
                port=port,
            )
        )

    def driver(self, **kw: object) -> SshDriver:
        args: dict[str, object] = dict(
            node="r1", host="::1", key_file=str(self.workdir / "client_key"),
            known_hosts=str(self.known_hosts), netns=self.netns, connect_timeout=3,
        )
        args.update(kw)
        return SshDriver(**args)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ssh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshSetup]:
    """A `drvtest-` namespace with sshd on [::1]:22, a client key and a pinned host key."""
    procs = Services()
    name = _make_netns()
    try:
        setup = SshSetup(tmp_path_factory.mktemp("ssh"), name, procs)
        setup.start()
        yield setup
    finally:
        started = procs.pids()
        procs.stop_all()
        _delete_netns(name, started)


@pytest.fixture
def own_ssh(tmp_path: Path) -> Iterator[SshSetup]:
    """Like ``ssh`` but private to one test (which may kill its sshd)."""
    procs = Services()
    name = _make_netns()
    try:
        setup = SshSetup(tmp_path, name, procs)
        yield setup
    finally:
        started = procs.pids()
        procs.stop_all()
        _delete_netns(name, started)


class Console:
    def __init__(self, workdir: Path, proc: subprocess.Popen[bytes], netns_name: str) -> None:
        self.workdir = workdir
        self.proc = proc
        self.netns = netns_name
        self.device = str(workdir / "console")
        self.log = workdir / "console.log"

    def driver(self, **kw: object) -> SerialDriver:
        args: dict[str, object] = dict(
            node="r1", device=self.device, user=CONSOLE_USER, password=CONSOLE_PASSWORD,
            prompt_timeout=5, log_path=str(self.log),
        )
        args.update(kw)
        return SerialDriver(**args)  # type: ignore[arg-type]


def _console(workdir: Path) -> Iterator[Console]:
    procs = Services()
    name = _make_netns()
    try:
        proc = procs.add(
            services.start_console_double(
                name, workdir, workdir / "console", CONSOLE_USER, CONSOLE_PASSWORD, "r1"
            )
        )
        yield Console(workdir, proc, name)
    finally:
        started = procs.pids()
        procs.stop_all()
        _delete_netns(name, started)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    yield from _console(tmp_path_factory.mktemp("console"))


@pytest.fixture
def own_console(tmp_path: Path) -> Iterator[Console]:
    yield from _console(tmp_path)


# -- the contract against every driver ------------------------------------------------------

@pytest.fixture(scope="module")
def local_contract() -> DriverContract:
    return DriverContract(lambda: LocalDriver("host"))


@pytest.fixture(scope="module")
def local_ns_contract(ns: str) -> DriverContract:
    return DriverContract(lambda: LocalDriver("r1", netns=ns))


@pytest.fixture(scope="module")
def ssh_contract(ssh: SshSetup) -> DriverContract:
    return DriverContract(ssh.driver)


@pytest.fixture(scope="module")
def serial_contract(console: Console) -> DriverContract:
    return DriverContract(console.driver, separates_stderr=False)


@pytest.fixture(scope="module")
def contract_driver(request: pytest.FixtureRequest) -> Iterator[tuple[DriverContract, object]]:
    """One open driver per kind, shared by that kind's checks (cheaper than a login each)."""
    contract: DriverContract = request.getfixturevalue(request.param)
    driver = contract.factory()
    try:
        yield contract, driver
    finally:
        driver.close()


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize(
    "contract_driver",
    ["local_contract", "local_ns_contract", "ssh_contract", "serial_contract"],
    indirect=True,
    ids=["local", "local-netns", "ssh", "serial"],
)
def test_contract(contract_driver: tuple[DriverContract, object], check: str) -> None:
    contract, driver = contract_driver
    contract.check(check, driver)  # type: ignore[arg-type]


def test_contract_run_all_on_fresh_driver(ns: str) -> None:
    DriverContract(lambda: LocalDriver("r1", netns=ns)).run_all()


# -- LocalDriver failures ----------------------------------------------------------------------

def test_local_missing_netns_is_connect_error() -> None:
    with pytest.raises(ConnectError, match="drvtest-does-not-exist"):
        LocalDriver("r9", netns="drvtest-does-not-exist").run("true")


def test_local_timeout_kills_the_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "survivor"
    d = LocalDriver("host")
    with pytest.raises(CommandTimeoutError):
        d.run(f"(sleep 0.5; touch {marker}) & sleep 10", timeout=0.2)
    time.sleep(0.6)
    assert not marker.exists(), "a background child of a timed-out command survived"


# -- SshDriver failures ------------------------------------------------------------------------

def test_ssh_pinned_key_mismatch(ssh: SshSetup, tmp_path: Path) -> None:
    other = services.generate_ed25519_key(tmp_path / "other_host_key")
    known = tmp_path / "known_hosts"
    known.write_text(f"# pinned\n::1 {other}\n")
    with pytest.raises(HostKeyMismatchError) as info:
        ssh.driver(known_hosts=str(known)).open()
    message = str(info.value)
    assert info.value.node == "r1" and message.startswith("r1: ")
    assert fingerprint(other) in message and fingerprint(ssh.host_pub) in message
    assert info.value.expected.endswith(fingerprint(other))  # type: ignore[attr-defined]
    assert info.value.presented.endswith(fingerprint(ssh.host_pub))  # type: ignore[attr-defined]


def test_ssh_unknown_host_is_rejected_when_strict(ssh: SshSetup, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"[::1]:2222 {ssh.host_pub}\nother {ssh.host_pub}\n")
    with pytest.raises(HostKeyMismatchError, match="no pinned key for ::1"):
        ssh.driver(known_hosts=str(known)).open()
    with pytest.raises(HostKeyMismatchError, match="no pinned key"):
        ssh.driver(known_hosts=None).open()
    with ssh.driver(known_hosts=None, strict_host_key=False) as d:
        assert d.run("echo unpinned").stdout == "unpinned\n"


def test_ssh_known_hosts_uses_bracketed_name_for_other_ports(own_ssh: SshSetup) -> None:
    own_ssh.start(port=2222)
    with pytest.raises(HostKeyMismatchError, match=re.escape("no pinned key for [::1]:2222")):
        own_ssh.driver(port=2222).open()  # known_hosts has only "::1"
    own_ssh.known_hosts.write_text(f"[::1]:2222 {own_ssh.host_pub}\n")
    with own_ssh.driver(port=2222) as d:
        assert d.run("echo on 2222").stdout == "on 2222\n"


def test_ssh_wrong_client_key(ssh: SshSetup, tmp_path: Path) -> None:
    services.generate_ed25519_key(tmp_path / "stranger")
    with pytest.raises(AuthenticationError, match="refused login"):
        ssh.driver(key_file=str(tmp_path / "stranger")).open()


def test_ssh_password_is_never_shown(ssh: SshSetup) -> None:
    secret = "Sup3r-s3cret-pw"
    d = ssh.driver(key_file=None, password=secret)
    assert secret not in repr(d) and "password" in repr(d)
    with pytest.raises(AuthenticationError) as info:  # sshd: PasswordAuthentication no
        d.open()
    assert secret not in str(info.value) and secret not in repr(info.value)


def test_ssh_nothing_listening(ssh: SshSetup) -> None:
    with pytest.raises(ConnectError, match="refused"):
        ssh.driver(port=2200).open()


def test_ssh_missing_netns_and_unresolvable_host(ssh: SshSetup) -> None:
    with pytest.raises(ConnectError, match="does not exist"):
        ssh.driver(netns="drvtest-does-not-exist").open()
    with pytest.raises(ConnectError, match="resolve"):
        ssh.driver(host="no-such-host.invalid").open()


def test_ssh_sshd_killed_mid_command(own_ssh: SshSetup) -> None:
    sshd = own_ssh.start()
    d = own_ssh.driver()
    d.open()
    killer = threading.Timer(0.5, services.stop, args=(sshd,))
    killer.start()
    try:
        start = time.monotonic()
        with pytest.raises(ConnectionLostError, match="lost during the command"):
            d.run("sleep 5", timeout=10)
        assert time.monotonic() - start < 4
    finally:
        killer.join()
        d.close()
    with pytest.raises(ConnectError):  # the next run tries to reconnect: nothing listens
        d.run("true")


# -- SerialDriver failures ---------------------------------------------------------------------

def test_serial_wrong_password(own_console: Console) -> None:
    d = own_console.driver(password="wrong password")
    with pytest.raises(AuthenticationError, match="refused") as info:
        d.open()
    assert "wrong password" not in str(info.value) and "wrong password" not in repr(d)
    with own_console.driver() as good:  # the console is usable again afterwards
        assert good.run("echo in").stdout == "in\n"


def test_serial_console_log_is_tagged(own_console: Console) -> None:
    with own_console.driver() as d:
        d.run("echo logged")
    text = own_console.log.read_text()
    stamp = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} "
    assert re.search(stamp + r">> .*echo logged", text, re.M)
    assert re.search(stamp + r"<< .*logged\\r\\n", text, re.M)
    assert all(re.match(stamp + "(>>|<<) ", line) for line in text.splitlines())
    assert CONSOLE_PASSWORD not in text


def test_serial_missing_device(tmp_path: Path) -> None:
    with pytest.raises(ConnectError, match="cannot open console"):
        SerialDriver("r1", str(tmp_path / "no-such-tty")).open()


def test_serial_silent_console(tmp_path: Path) -> None:
    procs = Services()
    try:
        procs.add(subprocess.Popen(
            ["socat", f"pty,raw,echo=0,link={tmp_path}/a", f"pty,raw,echo=0,link={tmp_path}/b"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        ))
        deadline = time.monotonic() + 5
        while not (tmp_path / "a").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(ConsoleError, match="no login or shell prompt"):
            SerialDriver("r1", str(tmp_path / "a"), prompt_timeout=1).open()
    finally:
        procs.stop_all()


def test_serial_port_vanishes_mid_command(own_console: Console) -> None:
    d = own_console.driver()
    d.open()
    killer = threading.Timer(0.5, services.stop, args=(own_console.proc,))
    killer.start()
    try:
        with pytest.raises(ConnectionLostError, match="lost"):
            d.run("sleep 5", timeout=10)
    finally:
        killer.join()
        d.close()
