"""The guest kernel cache: a failed build leaves nothing behind, and says what failed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.qemu.errors import KernelFetchError
from harness.qemu.kernel import KernelPackage, cached_trees, ensure_kernel


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs apt-get (Debian/Ubuntu)")
def test_failed_download_leaves_no_partial_cache(tmp_path: Path) -> None:
    package = KernelPackage("linux-image-0.0.0-0-hmipv6ct-none", "0.0-0")  # no such package
    messages: list[str] = []
    with pytest.raises(KernelFetchError) as info:
        ensure_kernel(tmp_path, package, progress=messages.append)
    assert "apt-get download linux-image-0.0.0-0-hmipv6ct-none=0.0-0 failed" in str(info.value)
    assert messages and "downloading linux-image-0.0.0-0-hmipv6ct-none" in messages[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"], "a failed build must leave no partial cache"
    assert cached_trees(tmp_path) == []
