"""The guest's initramfs: static busybox, the virtio/9p modules and an ``/init`` that runs a script from a 9p share.

``/init`` mounts ``/proc``, ``/sys`` and ``/dev``, loads the modules (virtio and 9p are modules in
Debian's kernel, so they must come from the initramfs, in dependency order), mounts the read-write
share tagged ``hmrw`` at ``/hm``, runs ``/busybox sh /hm/<script>`` where ``hm.script=<script>`` is
on the kernel command line, prints ``HMIPV6-GUEST-RC=<rc>`` on the console and powers off.
Everything else (which host directories to mount, the environment) is the script's business, so
the initramfs depends only on the kernel and busybox and is cached next to the kernel.

The archive is written here (cpio "newc" + gzip), so no ``cpio`` tool is needed.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

from .errors import MissingToolError
from .kernel import KernelTree

__all__ = ["INIT_MODULES", "RC_MARKER", "RUN_MARKER", "RW_TAG", "build_initramfs", "find_busybox", "initramfs_for"]

RW_TAG = "hmrw"
RC_MARKER = "HMIPV6-GUEST-RC="
RUN_MARKER = "hm-init: running"

# dependency order (platform notes); paths below lib/modules/<abi>/
INIT_MODULES = (
    "kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio.ko",
    "kernel/drivers/virtio/virtio_pci_legacy_dev.ko", "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
    "kernel/drivers/virtio/virtio_pci.ko", "kernel/fs/netfs/netfs.ko", "kernel/fs/fscache/fscache.ko",
    "kernel/net/9p/9pnet.ko", "kernel/net/9p/9pnet_virtio.ko", "kernel/fs/9p/9p.ko",
)

INIT = f"""#!/busybox sh
# hmipv6ct guest /init: load virtio + 9p, mount the rw share, run the script named by hm.script=, power off.
B=/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
for m in $($B cat /modules/order); do
    $B insmod "/modules/$m" || echo "hm-init: insmod $m failed"
done
script=""
for arg in $($B cat /proc/cmdline); do
    case "$arg" in hm.script=*) script="${{arg#hm.script=}}" ;; esac
done
$B mkdir -p /hm
n=0
until $B mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 {RW_TAG} /hm; do
    n=$((n + 1))
    if [ $n -ge 20 ]; then echo "hm-init: cannot mount the 9p share {RW_TAG}"; echo "{RC_MARKER}125"; $B poweroff -f; fi
    $B sleep 0.2
done
if [ -z "$script" ] || [ ! -f "/hm/$script" ]; then
    echo "hm-init: no script (hm.script=$script)"; echo "{RC_MARKER}126"; $B poweroff -f
fi
echo "{RUN_MARKER} /hm/$script"
$B sh "/hm/$script"
rc=$?
$B sync
echo "{RC_MARKER}$rc"
$B poweroff -f
"""


def find_busybox() -> Path:
    """A statically linked busybox (Debian ``busybox-static``); the dynamic one cannot run before /usr is mounted."""
    for candidate in ("/bin/busybox", "/usr/bin/busybox"):
        path = Path(candidate)
        if path.is_file() and _is_static(path):
            return path
    raise MissingToolError("static busybox", "busybox-static", "the guest's /init runs on it")


def _is_static(path: Path) -> bool:
    """True for an ELF executable without a PT_INTERP program header."""
    data = path.read_bytes()[:4096]
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit only
        return False
    phoff = int.from_bytes(data[32:40], "little")
    phentsize = int.from_bytes(data[54:56], "little")
    phnum = int.from_bytes(data[56:58], "little")
    for i in range(phnum):
        off = phoff + i * phentsize
        if off + 4 > len(data):
            return False
        if int.from_bytes(data[off:off + 4], "little") == 3:  # PT_INTERP
            return False
    return True


class _Cpio:
    """A cpio "newc" archive (the format the kernel unpacks into its rootfs)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        encoded = name.encode() + b"\0"
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self.ino += 1
        self.parts.append(header + encoded + b"\0" * (-(110 + len(encoded)) % 4))
        self.parts.append(data + b"\0" * (-len(data) % 4))

    def directory(self, name: str) -> None:
        self._entry(name, 0o040755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, 0o100000 | mode, data)

    def char_device(self, name: str, major: int, minor: int) -> None:
        self._entry(name, 0o020600, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return b"".join(self.parts)


def _key(tree: KernelTree, busybox: Path) -> str:
    h = hashlib.sha256()
    h.update(INIT.encode())
    h.update("\n".join(INIT_MODULES).encode())
    h.update(tree.abi.encode() + tree.version.encode())
    h.update(hashlib.sha256(busybox.read_bytes()).digest())
    return h.hexdigest()[:12]


def build_initramfs(tree: KernelTree, busybox: Path, dest: Path) -> Path:
    """Write the initramfs for ``tree`` to ``dest`` (atomically) and return ``dest``."""
    cpio = _Cpio()
    for d in ("dev", "proc", "sys", "hm", "modules", "tmp", "run", "usr", "etc", "root", "var", "mnt"):
        cpio.directory(d)
    cpio.char_device("dev/console", 5, 1)
    cpio.char_device("dev/null", 1, 3)
    cpio.file("init", INIT.encode(), 0o755)
    cpio.file("busybox", busybox.read_bytes(), 0o755)
    names = []
    for rel in INIT_MODULES:
        module = tree.modules / rel
        if not module.is_file():
            raise FileNotFoundError(f"{module}: missing from the guest kernel's module tree")
        cpio.file(f"modules/{module.name}", module.read_bytes())
        names.append(module.name)
    cpio.file("modules/order", ("\n".join(names) + "\n").encode())
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    tmp.write_bytes(gzip.compress(cpio.finish(), compresslevel=6))
    tmp.replace(dest)
    return dest


def initramfs_for(tree: KernelTree, busybox: Path | None = None) -> Path:
    """The cached initramfs of ``tree`` (rebuilt when /init, the module list or busybox changed)."""
    busybox = busybox or find_busybox()
    dest = tree.directory / f"initramfs-{_key(tree, busybox)}.img"
    if not dest.is_file():
        for old in tree.directory.glob("initramfs-*.img"):
            old.unlink(missing_ok=True)
        build_initramfs(tree, busybox, dest)
    return dest

