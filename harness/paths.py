"""Where the suite's own files are, whether run from a checkout or an installed package."""

from __future__ import annotations

from pathlib import Path

import conformance
import testbeds

TESTBEDS_DIR = Path(testbeds.__file__).resolve().parent
CONFORMANCE_DIR = Path(conformance.__file__).resolve().parent
SUITE_DIR = CONFORMANCE_DIR / "suite"
DEFAULT_TESTBED = TESTBEDS_DIR / "virtual.yaml"


def default_testbed() -> Path:
    """``testbeds/virtual.yaml`` of the working directory if there is one, else the bundled one."""
    local = Path("testbeds/virtual.yaml")
    return local if local.is_file() else DEFAULT_TESTBED
