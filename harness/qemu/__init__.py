"""A reusable QEMU guest runner: Debian's stock kernel (with Mobile IPv6, mac80211_hwsim, ip6_tunnel...)
booted under TCG with the host's /usr, /etc, Python and project tree shared read-only over 9p.

:func:`build_guest` fetches and caches the kernel and initramfs; :func:`run_batch` runs a script as
root in a fresh guest and returns its exit status, serial log and results directory.
"""

from __future__ import annotations

from .errors import GuestError, GuestTimeoutError, KernelFetchError, MissingToolError
from .guest import GuestImage, GuestResult, build_guest, default_cache_dir, default_shares, qemu_available, run_batch

__all__ = [
    "GuestError", "GuestImage", "GuestResult", "GuestTimeoutError", "KernelFetchError", "MissingToolError",
    "build_guest", "default_cache_dir", "default_shares", "qemu_available", "run_batch",
]
