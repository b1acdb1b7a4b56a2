"""Real management services for the virtual testbed: an sshd and a serial-console double.

Each service runs inside a network namespace (or here, when ``netns`` is None) in its own
session, so :func:`stop` can end it and everything it forked.  Nothing here knows pytest.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness import netns as netns_mod
from harness.errors import TestbedError

SSHD = "/usr/sbin/sshd"
SOCAT = "socat"


def generate_ed25519_key(path: str | os.PathLike[str], comment: str = "") -> str:
    """Write an OpenSSH ed25519 private key (0600) to ``path`` and ``path.pub``.

    Returns the public line (``ssh-ed25519 AAAA... [comment]``).
    """
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()
    if comment:
        public = f"{public} {comment}"
    path = Path(path)
    _write_private(path, private)
    Path(f"{path}.pub").write_text(public + "\n")
    return public


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 from the start (no window where it is readable)."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _in_netns(netns: str | None, argv: list[str]) -> list[str]:
    return (["ip", "netns", "exec", netns] if netns else []) + argv


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def sshd_config(
    workdir: Path, host_key: Path, authorized_keys: Path, listen: str, port: int
) -> str:
    """The sshd_config text :func:`start_sshd` writes."""
    return "\n".join(
        [
            f"HostKey {host_key}",
            f"ListenAddress {listen}",
            f"Port {port}",
            f"PidFile {workdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {authorized_keys}",
            "UsePAM no",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "StrictModes no",
            "LogLevel VERBOSE",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "",
        ]
    )


def start_sshd(
    netns: str | None,
    workdir: Path,
    host_key: Path,
    authorized_keys: Path,
    listen: str = "::1",
    port: int = 22,
    timeout: float = 10.0,
) -> subprocess.Popen[bytes]:
    """Start ``sshd -D`` (in ``netns``) with a private /run; return once it accepts TCP.

    The namespace's loopback must be up when ``listen`` is a loopback address.
    Raises :class:`TestbedError` with the tail of ``workdir/sshd.log`` on failure.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "sshd_config"
    config.write_text(
        sshd_config(workdir, Path(host_key), Path(authorized_keys), listen, port)
    )
    log_path = workdir / "sshd.log"
    # /run/sshd (the privilege-separation directory) must exist; a private tmpfs on /run
    # keeps several sshds (one per namespace) from sharing pid files and runtime state.
    script = (
        "mount -t tmpfs x /run && mkdir -p /run/sshd && "
        f"exec {SSHD} -D -e -f {shlex.quote(str(config))}"
    )
    argv = _in_netns(netns, ["unshare", "-m", "sh", "-c", script])
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise TestbedError(
                f"sshd in {netns or 'host namespace'} exited with {proc.returncode}:\n"
                + _log_tail(log_path)
            )
        try:
            netns_mod.connect_tcp(netns, listen, port, 0.5).close()
            return proc
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop(proc)
            raise TestbedError(
                f"sshd in {netns or 'host namespace'} not accepting on [{listen}]:{port} "
                f"after {timeout:g} s:\n" + _log_tail(log_path)
            )
        time.sleep(0.02)


_LOGIN_SHIM = """\
#!/bin/sh
# Serial console double: a login(1) look-alike in front of an interactive bash.
{{ IFS= read -r want_user; IFS= read -r want_pass; }} < {creds}
while :; do
    printf '%s login: ' {hostname}
    IFS= read -r user || exit 0
    [ -n "$user" ] || continue
    printf 'Password: '
    stty -echo
    IFS= read -r pass || exit 0
    stty echo
    printf '\\n'
    if [ "$user" = "$want_user" ] && [ "$pass" = "$want_pass" ]; then
        exec bash --norc --noprofile -i
    fi
    printf 'Login incorrect\\n\\n'
done
"""


def login_shim(credentials: str, hostname: str) -> str:
    """The login(1) look-alike a serial console runs: it reads the user and password from ``credentials`` (a
    0600 file with two lines) and starts an interactive bash once they match."""
    return _LOGIN_SHIM.format(creds=shlex.quote(credentials), hostname=shlex.quote(hostname))


def start_console_double(
    netns: str | None,
    workdir: Path,
    link: Path,
    user: str,
    password: str,
    hostname: str,
    timeout: float = 5.0,
) -> subprocess.Popen[bytes]:
    """Start a serial-console double: ``link`` becomes a pty with a login prompt.

    socat makes a raw, non-echoing pty (the "serial port", ``link``) and runs a login shim
    on a second, sane pty (echo on, CR->NL, ^C -> SIGINT, and it is the controlling
    terminal), like a getty.  Credentials are read from a 0600 file, never from argv.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    link = Path(link)
    if link.is_symlink():  # stale, from a console double that was killed
        link.unlink()
    creds = workdir / "console-credentials"
    _write_private(creds, f"{user}\n{password}\n".encode())
    shim = workdir / "login-shim.sh"
    shim.write_text(
        login_shim(str(creds), hostname)
    )
    shim.chmod(0o700)
    log_path = workdir / "socat.log"
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(workdir),
        "TERM": "vt100",
        "LANG": "C.UTF-8",
    }
    argv = _in_netns(
        netns,
        [
            SOCAT,
            f"pty,raw,echo=0,link={link}",
            f"exec:{shim},pty,stderr,setsid,ctty,sigint,sane",
        ],
    )
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while not link.exists():
        if proc.poll() is not None:
            raise TestbedError(
                f"console double for {hostname} exited with {proc.returncode}:\n"
                + _log_tail(log_path)
            )
        if time.monotonic() > deadline:
            stop(proc)
            raise TestbedError(
                f"console double for {hostname}: {link} did not appear in {timeout:g} s:\n"
                + _log_tail(log_path)
            )
        time.sleep(0.01)
    return proc


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a live (non-zombie) ``pid`` from /proc, else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # the comm field may contain spaces and parentheses: parse after the last ')'
    fields = stat[stat.rfind(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[1]), int(fields[19])


def descendants(pid: int) -> list[int]:
    """PIDs of all live descendants of ``pid``, breadth-first."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            children.setdefault(st[0], []).append(int(entry))
    found: list[int] = []
    queue = [pid]
    while queue:
        for child in children.get(queue.pop(0), []):
            found.append(child)
            queue.append(child)
    return found


def stop(proc: subprocess.Popen[bytes], timeout: float = 3.0) -> None:
    """End a service started here: its process, its process group and all descendants.

    Descendants are collected first (sshd and socat fork children into new sessions that
    outlive the parent), then get SIGTERM, then SIGKILL after ``timeout``.  A PID is only
    signalled while its start time is unchanged, so a recycled PID is never hit.
    Never raises.
    """
    tree = {p: st[1] for p in [proc.pid, *descendants(proc.pid)] if (st := _stat(p))}

    def alive() -> list[int]:
        proc.poll()  # reap our direct child
        return [p for p, t in tree.items() if (st := _stat(p)) and st[1] == t]

    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except OSError:
                pass
        for pid in alive():
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        while alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not alive():
            break
    try:
        proc.wait(0.5)
    except subprocess.TimeoutExpired:
        pass
