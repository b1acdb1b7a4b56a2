"""Where the suite's own files are, whether run from a checkout or an installed package.

The top-level packages (``harness``, ``conformance``, ``testbeds``) sit side by side in both
cases; they are located without importing them, so pytest can still rewrite their asserts.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTBEDS_DIR = ROOT / "testbeds"
CONFORMANCE_DIR = ROOT / "conformance"
SUITE_DIR = CONFORMANCE_DIR / "suite"
INTEROP_DIR = CONFORMANCE_DIR / "interop"
DEFAULT_TESTBED = TESTBEDS_DIR / "virtual.yaml"


def default_testbed() -> Path:
    """``testbeds/virtual.yaml`` of the working directory if there is one, else the bundled one."""
    local = Path("testbeds/virtual.yaml")
    return local if local.is_file() else DEFAULT_TESTBED
