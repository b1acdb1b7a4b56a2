"""The node programs import only the standard library (they start on slow nodes; see harness/programs)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("scapy", "paramiko", "serial", "pyroute2", "yaml", "harness.tester", "harness.faults")


@pytest.mark.parametrize("module", ["harness.programs.flow", "harness.programs.delay"])
def test_node_program_imports_nothing_heavy(module: str) -> None:
    code = (f"import sys, {module}\n"
            f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m in {HEAVY!r} "
            f"or any(m.startswith(h + '.') for h in {HEAVY!r}))\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"{module} pulls in {out}"
