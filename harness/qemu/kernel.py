"""Debian's stock kernel for the guest: resolved, downloaded, unpacked, pruned and indexed once, then cached.

The recipe (see the platform notes): ``apt-get download linux-image-amd64`` names the versioned image
package (``linux-image-<abi>``); ``dpkg-deb -x`` unpacks it; the package ships no ``modules.dep``, so
``depmod -b DIR ABI`` indexes the (pruned) module tree.  The result lives in
``<cache>/<abi>/`` with a ``stamp.json`` naming the package version it was built from; a newer
package version in the archive rebuilds it, and a cached tree is used as it is when apt cannot
resolve or fetch the package (no package lists, no network).

Only what a network guest can use is kept: ``net/``, ``crypto/``, ``arch/`` and ``lib/`` (ESP needs
the crypto modules), the virtio/9p stack, overlayfs and the virtual network drivers (veth, tun,
macvlan, vxlan, mac80211_hwsim...).  About 60 MB instead of 400 MB.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .errors import KernelFetchError, MissingToolError

__all__ = ["META_PACKAGE", "KernelPackage", "KernelTree", "cached_trees", "ensure_kernel", "resolve_package"]

log = logging.getLogger(__name__)

META_PACKAGE = "linux-image-amd64"
STAMP = "stamp.json"
STAMP_FORMAT = 1

# module subtrees kept (relative to lib/modules/<abi>/kernel/)
KEEP_PREFIXES = (
    "arch/", "crypto/", "lib/", "net/",
    "fs/9p/", "fs/netfs/", "fs/fscache/", "fs/overlayfs/",
    "drivers/virtio/", "drivers/char/hw_random/",
    "drivers/net/vxlan/", "drivers/net/ipvlan/", "drivers/net/team/", "drivers/net/bonding/",
    "drivers/net/wireguard/", "drivers/net/wireless/virtual/", "drivers/net/wireless/mac80211_hwsim.ko",
)


@dataclasses.dataclass(frozen=True)
class KernelPackage:
    """A versioned Debian kernel image package, e.g. ``linux-image-6.1.0-56-amd64`` 6.1.192-2."""

    name: str
    version: str

    @property
    def abi(self) -> str:
        """The kernel release (``uname -r``), e.g. ``6.1.0-56-amd64``."""
        return self.name.removeprefix("linux-image-").removesuffix("-unsigned")


@dataclasses.dataclass(frozen=True)
class KernelTree:
    """A cached, unpacked and indexed kernel: ``vmlinuz`` and ``modroot/lib/modules/<abi>/``."""

    directory: Path
    abi: str
    package: str
    version: str

    @property
    def vmlinuz(self) -> Path:
        return self.directory / "vmlinuz"

    @property
    def config(self) -> Path:
        return self.directory / "config"

    @property
    def modroot(self) -> Path:
        """A root directory for ``modprobe -d``: holds ``lib/modules/<abi>``."""
        return self.directory / "modroot"

    @property
    def modules(self) -> Path:
        return self.modroot / "lib" / "modules" / self.abi


def _require(tool: str, package: str) -> str:
    path = shutil.which(tool) or (f"/usr/sbin/{tool}" if os.access(f"/usr/sbin/{tool}", os.X_OK) else None)
    if path is None:
        raise MissingToolError(tool, package, "needed to fetch the guest kernel")
    return path


def _run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True)


def resolve_package(meta: str = META_PACKAGE) -> KernelPackage:
    """The versioned image package ``meta`` depends on, at its candidate version (local apt lists only)."""
    apt_cache = _require("apt-cache", "apt")
    deps = _run([apt_cache, "depends", "--no-recommends", "--no-suggests", meta])
    names = [line.split(":", 1)[1].strip() for line in deps.stdout.splitlines()
             if line.strip().startswith("Depends:") and "linux-image-" in line]
    if deps.returncode != 0 or not names:
        raise KernelFetchError(f"apt-cache knows no {meta} ({deps.stderr.strip() or 'no dependency'}): "
                               "run apt-get update first")
    name = names[0]
    policy = _run([apt_cache, "policy", name])
    version = next((line.split(":", 1)[1].strip() for line in policy.stdout.splitlines()
                    if line.strip().startswith("Candidate:")), "")
    if not version or version == "(none)":
        raise KernelFetchError(f"no installable version of {name} in the apt lists: run apt-get update first")
    return KernelPackage(name, version)


def _read_stamp(directory: Path) -> KernelTree | None:
    try:
        stamp = json.loads((directory / STAMP).read_text())
    except (OSError, ValueError):
        return None
    if stamp.get("format") != STAMP_FORMAT:
        return None
    tree = KernelTree(directory, stamp["abi"], stamp["package"], stamp["version"])
    if not (tree.vmlinuz.is_file() and (tree.modules / "modules.dep").is_file()):
        return None
    return tree


def cached_trees(cache_root: Path) -> list[KernelTree]:
    """Complete cached kernels, newest build first."""
    trees = [t for d in cache_root.glob("*") if d.is_dir() and not d.name.startswith(".")
             if (t := _read_stamp(d)) is not None]
    return sorted(trees, key=lambda t: (t.directory / STAMP).stat().st_mtime, reverse=True)


def _keep(rel: str) -> bool:
    if rel.startswith(KEEP_PREFIXES):
        return True
    # top-level virtual drivers: drivers/net/{veth,tun,macvlan,dummy,...}.ko
    return rel.startswith("drivers/net/") and rel.count("/") == 2 and rel.endswith(".ko")


def _prune(kernel_dir: Path) -> None:
    for path in sorted(kernel_dir.rglob("*"), reverse=True):
        rel = path.relative_to(kernel_dir).as_posix()
        if path.is_file() and not _keep(rel):
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _build(pkg: KernelPackage, cache_root: Path, progress=None) -> KernelTree:
    apt_get = _require("apt-get", "apt")
    dpkg_deb = _require("dpkg-deb", "dpkg")
    depmod = _require("depmod", "kmod")
    started = time.monotonic()
    say = progress or (lambda message: log.info("%s", message))
    work = Path(tempfile.mkdtemp(prefix=f".build-{pkg.abi}-", dir=cache_root))  # renamed into place only when complete
    try:
        say(f"guest kernel: downloading {pkg.name} {pkg.version} with apt-get (not cached in {cache_root})")
        got = _run([apt_get, "download", "-q", "-o", "APT::Sandbox::User=root", f"{pkg.name}={pkg.version}"], cwd=work)
        debs = sorted(work.glob(f"{pkg.name}_*.deb"))
        if got.returncode != 0 or not debs:
            raise KernelFetchError(f"apt-get download {pkg.name}={pkg.version} failed: "
                                   f"{(got.stderr or got.stdout).strip()[-600:]}")
        unpacked = work / "x"
        say(f"guest kernel: unpacking {debs[0].name} ({debs[0].stat().st_size >> 20} MB)")
        got = _run([dpkg_deb, "-x", str(debs[0]), str(unpacked)])
        if got.returncode != 0:
            raise KernelFetchError(f"dpkg-deb -x {debs[0].name} failed: {got.stderr.strip()[-600:]}")
        out = work / "tree"
        (out / "modroot" / "lib" / "modules").mkdir(parents=True)
        shutil.move(unpacked / "boot" / f"vmlinuz-{pkg.abi}", out / "vmlinuz")
        config = unpacked / "boot" / f"config-{pkg.abi}"
        if config.is_file():
            shutil.move(config, out / "config")
        modules = unpacked / "lib" / "modules" / pkg.abi
        if not modules.is_dir():
            modules = unpacked / "usr" / "lib" / "modules" / pkg.abi
        shutil.move(modules, out / "modroot" / "lib" / "modules" / pkg.abi)
        say("guest kernel: pruning the module tree to what a network guest uses, indexing it (depmod)")
        _prune(out / "modroot" / "lib" / "modules" / pkg.abi / "kernel")
        got = _run([depmod, "-b", str(out / "modroot"), pkg.abi])
        if got.returncode != 0:
            raise KernelFetchError(f"depmod -b {out / 'modroot'} {pkg.abi} failed: {got.stderr.strip()[-600:]}")
        (out / STAMP).write_text(json.dumps({"format": STAMP_FORMAT, "abi": pkg.abi, "package": pkg.name,
                                             "version": pkg.version, "built": time.time()}, indent=1) + "\n")
        final = cache_root / pkg.abi
        if final.exists():
            stale = cache_root / f".stale-{pkg.abi}-{os.getpid()}"
            final.rename(stale)
            shutil.rmtree(stale, ignore_errors=True)
        out.rename(final)
        say(f"guest kernel {pkg.name} {pkg.version} built and cached in {time.monotonic() - started:.1f} s")
        tree = _read_stamp(final)
        assert tree is not None
        return tree
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ensure_kernel(cache_root: Path, package: KernelPackage | None = None, progress=None) -> KernelTree:
    """A cached kernel tree for ``package`` (default: what ``linux-image-amd64`` names now), built if needed.

    When the package cannot be resolved or fetched and an older build is cached, that one is used
    (and logged); otherwise :class:`KernelFetchError` says what failed.
    """
    cache_root.mkdir(parents=True, exist_ok=True)
    with open(cache_root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; others wait and then find it cached
        try:
            pkg = package or resolve_package()
        except (KernelFetchError, MissingToolError):
            trees = cached_trees(cache_root)
            if not trees:
                raise
            log.warning("cannot resolve %s; using the cached kernel %s", META_PACKAGE, trees[0].abi)
            return trees[0]
        tree = _read_stamp(cache_root / pkg.abi)
        if tree is not None and tree.version == pkg.version:
            return tree
        try:
            return _build(pkg, cache_root, progress)
        except KernelFetchError:
            if tree is None:
                raise
            log.warning("cannot fetch %s %s; using the cached build %s", pkg.name, pkg.version, tree.version)
            return tree
