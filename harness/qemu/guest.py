"""Run a shell script as root in a throw-away QEMU guest with Debian's stock kernel (batch mode).

The guest has no disk: its root is the initramfs (see :mod:`.initramfs`), and the host's ``/usr`` and
``/etc`` (read-only), the Python installation running this code and the project tree (read-only,
at the same paths, so ``python3 -m harness...`` and ``python3 -m reference_impl...`` work in the
guest) come over 9p.  A read-write share at ``/hm`` carries the script in and ``/hm/results`` out.
``/tmp``, ``/run``, ``/var`` and ``/root`` are tmpfs; ``modprobe`` loads from the guest kernel's own
module tree (the host's has none of its modules).  Networking is off (``-nic none``).

Under TCG (``-accel tcg -cpu max``; ``/dev/kvm`` here is not usable hardware KVM, see the platform
notes) the guest reaches the script in about 10 s.  QEMU is killed by its PID on timeout, on error
and on exit.  Example::

    image = build_guest()                        # cached under ~/.cache/hmipv6ct/qemu/<abi>/
    result = run_batch("uname -r > uname.txt", {}, timeout=120, image=image)
    assert result.rc == 0
    print((result.results_dir / "uname.txt").read_text())
    result.cleanup()
"""

from __future__ import annotations

import dataclasses
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import paths

from .errors import GuestError, GuestTimeoutError, MissingToolError
from .initramfs import RC_MARKER, RUN_MARKER, RW_TAG, initramfs_for
from .kernel import KernelTree, ensure_kernel

__all__ = ["GuestImage", "GuestResult", "QEMU", "build_guest", "default_cache_dir", "default_shares",
           "qemu_available", "run_batch"]

QEMU = "qemu-system-x86_64"
QEMU_PACKAGE = "qemu-system-x86"
GUEST_RESULTS = "/hm/results"
GUEST_ENV = "/run/hm-env.sh"  # the guest's environment for the script and later logins
MODROOT = "/run/hm-modroot"
TAIL_LINES = 40


def default_cache_dir() -> Path:
    """``$HMIPV6CT_QEMU_CACHE``, else ``$XDG_CACHE_HOME/hmipv6ct/qemu`` (``~/.cache/hmipv6ct/qemu``)."""
    if os.environ.get("HMIPV6CT_QEMU_CACHE"):
        return Path(os.environ["HMIPV6CT_QEMU_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hmipv6ct" / "qemu"


def qemu_available() -> str | None:
    """Why the guest cannot run on this machine, or None if it can (for pytest skips)."""
    if platform.machine() != "x86_64":
        return f"the QEMU guest runner needs an x86_64 host (this is {platform.machine()})"
    if shutil.which(QEMU) is None:
        return f"{QEMU} not found (Debian package {QEMU_PACKAGE})"
    return None


@dataclasses.dataclass(frozen=True)
class GuestImage:
    """What boots: a cached kernel tree and its initramfs."""

    kernel: KernelTree
    initramfs: Path

    @property
    def abi(self) -> str:
        return self.kernel.abi


@dataclasses.dataclass
class GuestResult:
    """The outcome of :func:`run_batch`.

    ``rc``: the script's exit status; ``serial_log``: the whole serial console (kernel messages, the
    script's output); ``results_dir``: the host directory the guest saw as ``/hm/results`` (the
    script's working directory; ``output.log`` there is its stdout and stderr).
    """

    rc: int
    serial_log: str
    results_dir: Path
    duration: float
    workdir: Path
    _owned: bool = dataclasses.field(default=False, repr=False)

    @property
    def output(self) -> str:
        try:
            return (self.results_dir / "output.log").read_text(errors="replace")
        except OSError:
            return ""

    def cleanup(self) -> None:
        """Remove the run's work directory if :func:`run_batch` created it."""
        if self._owned:
            shutil.rmtree(self.workdir, ignore_errors=True)


def build_guest(cache_dir: Path | None = None, progress=None) -> GuestImage:
    """Fetch/unpack/index the kernel and build the initramfs, or reuse the cached ones.  ``progress`` (a function
    taking a line of text) hears about each step of a build."""
    if shutil.which(QEMU) is None:
        raise MissingToolError(QEMU, QEMU_PACKAGE)
    tree = ensure_kernel(cache_dir or default_cache_dir(), progress=progress)
    return GuestImage(tree, initramfs_for(tree))


def _python_dirs() -> list[Path]:
    """The running interpreter's installation(s): a venv's prefix and its base installation."""
    dirs = []
    for prefix in (sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))):
        p = Path(prefix).resolve()
        if p not in dirs:
            dirs.append(p)
    return dirs


def default_shares() -> dict[str, Path]:
    """Read-only shares every guest gets: /usr, /etc, the Python installation and the project tree."""
    shares: dict[str, Path] = {"/usr": Path("/usr"), "/etc": Path("/etc")}
    for d in (*_python_dirs(), paths.ROOT):
        shares[str(d)] = d
    return shares


def _covered(path: str, mounts: list[str]) -> bool:
    return any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounts)


def _plan_shares(extra: dict[str, Path]) -> list[tuple[str, Path]]:
    """(guest path, host path) pairs, parents first, without shares already visible through another."""
    wanted = {**default_shares(), **{k: Path(v) for k, v in extra.items()}}
    for guest in wanted:
        if not guest.startswith("/") or guest in ("/", "/hm") or guest.startswith("/hm/"):
            raise GuestError(f"share mount point {guest!r} must be an absolute path other than / and /hm")
    plan: list[tuple[str, Path]] = []
    for guest, host in sorted(wanted.items(), key=lambda kv: (kv[0].count("/"), kv[0])):
        if not host.is_dir():
            raise GuestError(f"share {guest}: host directory {host} does not exist")
        same = [g for g, h in plan if _covered(guest, [g]) and Path(str(h) + guest[len(g):]) == host]
        if same:
            continue  # already visible at that path through its parent share
        plan.append((guest, host))
    return plan


def _top_level_links() -> list[tuple[str, str]]:
    """The host's merged-/usr symlinks (/bin -> usr/bin, ...), recreated in the guest's root."""
    links = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            links.append((f"/{name}", os.readlink(path)))
    return links


def _stage2(plan: list[tuple[str, Path]], tags: dict[str, str]) -> str:
    """The per-run setup script /init runs: mounts, tmpfs, modprobe, environment, then the user's script."""
    q = shlex.quote
    lines = [
        "# generated by harness.qemu.guest: mounts and environment, then /hm/user.sh",
        "B=/busybox",
        "m9p() { $B mkdir -p \"$2\" && $B mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,$3 \"$1\" \"$2\" "
        "|| { echo \"hm-stage2: cannot mount 9p $1 at $2\"; exit 124; }; }",
    ]
    tmpfs = ["/tmp", "/run", "/var", "/root", "/home", "/mnt", "/srv", "/opt"]
    ordered = sorted([(g, "share") for g, _ in plan] + [(t, "tmpfs") for t in tmpfs],
                     key=lambda x: (x[0].count("/"), x[1] == "share", x[0]))
    for guest, kind in ordered:
        if kind == "tmpfs":
            if any(g == guest for g, _ in plan):
                continue
            mode = "1777" if guest == "/tmp" else "0755"
            lines.append(f"$B mkdir -p {guest} && $B mount -t tmpfs -o mode={mode} tmpfs {guest}")
        else:
            lines.append(f"m9p {tags[guest]} {q(guest)} ro,cache=loose")
        if guest == "/usr":
            lines += [f"$B ln -sfn {q(target)} {name}" for name, target in _top_level_links()]
    lines += [
        f"m9p {tags[MODROOT]} {MODROOT} ro,cache=loose",
        "$B mkdir -p /var/tmp /var/lib /var/log /var/cache /run/lock /dev/pts /dev/shm /run/hm-bin",
        "$B ln -sfn /run /var/run; $B ln -sfn /run/lock /var/lock",
        "$B mount -t devpts devpts /dev/pts; $B mount -t tmpfs -o mode=1777 tmpfs /dev/shm",
        "$B ln -sfn /proc/self/fd /dev/fd",
        "$B hostname hmguest",
        # the kernel's module autoloader and scripts use the guest kernel's modules, not the host's
        f"printf '#!/bin/sh\\nexec /usr/sbin/modprobe -d {MODROOT} \"$@\"\\n' > /run/hm-bin/modprobe",
        "$B chmod 755 /run/hm-bin/modprobe",
        "echo /run/hm-bin/modprobe > /proc/sys/kernel/modprobe",
        # the environment of the script, also kept for later logins (SSH sessions: `. /run/hm-env.sh`)
        "cat > " + GUEST_ENV + " <<'HMENV'",
        f"export PATH=/run/hm-bin:{q(os.path.dirname(sys.executable))}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "export HOME=/root LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 HMIPV6_GUEST=1",
        f"export HMIPV6_RESULTS={GUEST_RESULTS} HMIPV6_PROJECT={q(str(paths.ROOT))} PYTHON={q(sys.executable)}",
        f"export PYTHONPATH={q(str(paths.ROOT))}",
        "HMENV",
        f". {GUEST_ENV}",
        "ip link set lo up 2>/dev/null",
        f"$B mkdir -p {GUEST_RESULTS}; cd {GUEST_RESULTS}",
        "sh=/bin/sh; [ -x /usr/bin/bash ] && sh=/usr/bin/bash",
        f"( $sh /hm/user.sh; echo $? > /hm/.rc ) 2>&1 < /dev/null | $B tee {GUEST_RESULTS}/output.log",
        "$B sync",
        "exit $($B cat /hm/.rc 2>/dev/null || echo 127)",
    ]
    return "\n".join(lines) + "\n"


def prepare_workdir(work: Path, script: str, shares: dict[str, Path] | None) -> tuple[list, dict]:
    """Write stage2.sh and user.sh into ``work``; return the share plan and the 9p tags."""
    plan = _plan_shares(shares or {})
    tags = {guest: f"hm{i}" for i, (guest, _) in enumerate(plan)}
    tags[MODROOT] = f"hm{len(plan)}"
    (work / "results").mkdir(parents=True, exist_ok=True)
    (work / "stage2.sh").write_text(_stage2(plan, tags))
    (work / "user.sh").write_text(script if script.endswith("\n") else script + "\n")
    (work / ".rc").unlink(missing_ok=True)
    return plan, tags


def qemu_command(image: GuestImage, work: Path, plan: list, tags: dict, memory_mb: int, cpus: int,
                 devices: list[str]) -> list[str]:
    """The QEMU command line: TCG, no disk, the 9p shares; ``devices`` adds NICs and the serial port."""
    cmd = [
        QEMU, "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", str(cpus), "-m", str(memory_mb),
        "-machine", "pc", "-nodefaults", "-no-user-config", "-display", "none", "-vga", "none",
        "-no-reboot", *devices,
        "-kernel", str(image.kernel.vmlinuz), "-initrd", str(image.initramfs),
        "-append", "console=ttyS0 panic=-1 loglevel=4 mitigations=off hm.script=stage2.sh",
        "-virtfs", f"local,path={work},mount_tag={RW_TAG},security_model=none",
        "-virtfs", f"local,path={image.kernel.modroot},mount_tag={tags[MODROOT]},security_model=none,readonly=on",
    ]
    for guest, host in plan:
        cmd += ["-virtfs", f"local,path={host},mount_tag={tags[guest]},security_model=none,readonly=on"]
    return cmd


def _tail(text: str, n: int = TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-n:])


def run_batch(script: str, shares: dict[str, Path] | None = None, timeout: float = 300.0, *,
              image: GuestImage | None = None, workdir: Path | None = None, memory_mb: int = 1024,
              cpus: int = 2, boot_timeout: float = 90.0) -> GuestResult:
    """Boot a guest, run ``script`` (bash, as root, in ``/hm/results``) and power off.

    ``shares`` maps guest mount points to host directories, mounted read-only in addition to
    :func:`default_shares`.  ``timeout`` bounds the whole run, ``boot_timeout`` the time until the
    script starts; either raises :class:`GuestTimeoutError` with the serial console's tail.  A
    script's non-zero exit is not an error: it is ``GuestResult.rc``.  ``workdir`` (default: a new
    temporary directory, removed by :meth:`GuestResult.cleanup`) receives ``serial.log`` and
    ``results/``.
    """
    image = image or build_guest()
    owned = workdir is None
    work = Path(tempfile.mkdtemp(prefix="hmipv6-guest-")) if workdir is None else Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    results = work / "results"
    plan, tags = prepare_workdir(work, script, shares)
    serial_path = work / "serial.log"
    serial_path.write_bytes(b"")

    cmd = qemu_command(image, work, plan, tags, memory_mb, cpus,
                       ["-nic", "none", "-chardev", f"file,id=ser0,path={serial_path}", "-serial", "chardev:ser0"])

    started = time.monotonic()
    with open(work / "qemu.stderr", "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True)
    rc: int | None = None
    running_seen = False
    try:
        while True:
            text = serial_path.read_text(errors="replace")
            running_seen = running_seen or RUN_MARKER in text
            found = re.search(re.escape(RC_MARKER) + r"(\d+)", text)
            if found:
                rc = int(found.group(1))
                break
            if proc.poll() is not None:
                stderr = (work / "qemu.stderr").read_text(errors="replace").strip()
                raise GuestError(f"QEMU exited with status {proc.returncode} before the script finished"
                                 + (f": {stderr}" if stderr else "")
                                 + f"\nserial console tail:\n{_tail(text)}")
            elapsed = time.monotonic() - started
            if not running_seen and elapsed > boot_timeout:
                raise GuestTimeoutError("boot", boot_timeout, _tail(text))
            if elapsed > timeout:
                raise GuestTimeoutError("script" if running_seen else "boot", timeout, _tail(text))
            time.sleep(0.1)
        try:
            proc.wait(timeout=10)  # poweroff -f ends QEMU (-no-reboot)
        except subprocess.TimeoutExpired:
            pass
    except BaseException:
        if owned:  # the error carries the serial tail; nothing else of the run is worth keeping
            shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    return GuestResult(rc, serial_path.read_text(errors="replace"), results, time.monotonic() - started, work, owned)
