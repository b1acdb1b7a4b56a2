"""Rules for reference_impl as a whole: no scapy, no harness, sans-I/O cores, deliberate public exports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "reference_impl"
SOURCES = sorted(PACKAGE.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_scapy_no_harness(path):
    """Project rule: reference_impl imports no scapy and nothing from harness/."""
    assert not _imports(path) & {"scapy", "harness"}


@pytest.mark.parametrize("path", [p for p in SOURCES if p.parent.name in ("map", "ar")] +
                         [PACKAGE / "timers.py", PACKAGE / "actions.py"], ids=lambda p: str(p.relative_to(ROOT)))
def test_cores_are_sans_io(path):
    """No sockets, clocks, threads or event loops in the protocol cores."""
    assert not _imports(path) & {"socket", "time", "threading", "asyncio", "select", "selectors", "subprocess"}


def test_importing_the_package_pulls_in_no_scapy():
    """Project rule, checked at run time in a fresh interpreter."""
    code = ("import sys, reference_impl.wire, reference_impl.map, reference_impl.ar, reference_impl.actions, "
            "reference_impl.ipsec, reference_impl.security; "
            "assert not [m for m in sys.modules if m.startswith(('scapy', 'harness'))]")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


@pytest.mark.parametrize("module", ["reference_impl", "reference_impl.wire", "reference_impl.map",
                                    "reference_impl.ar"])
def test_public_exports_resolve(module):
    """Every name in a package's explicit __all__ exists, without duplicates."""
    mod = __import__(module, fromlist=["__all__"])
    assert len(set(mod.__all__)) == len(mod.__all__)
    for name in mod.__all__:
        if module == "reference_impl":
            __import__(f"reference_impl.{name}")
        else:
            assert hasattr(mod, name), name
