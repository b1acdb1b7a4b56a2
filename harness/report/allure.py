"""The Allure HTML report from a run's ``allure-results`` (written by allure-pytest during the run).

Allure's report generator is a Node.js program (the npm package ``allure``, Allure 3); it is used when it is
installed (``allure`` on the PATH, or resolvable by ``npx --no-install``) and never downloaded behind the user's
back: when it is missing, :func:`generate` says how to get it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from harness.report.model import Run

OUTPUT = "allure-report"
INSTALL_HINT = ("the Allure HTML needs the allure npm package (Allure 3, Node.js 18 or later): "
                "'npm install -g allure', then run 'hmipv6ct report --allure RUN_DIR' again")
NOT_AVAILABLE = 3  # exit status when the generator is missing


def command() -> list[str] | None:
    """How to run Allure here, or None when it is not installed."""
    exe = shutil.which("allure")
    if exe:
        return [exe]
    npx = shutil.which("npx")
    if npx:
        try:
            probe = subprocess.run([npx, "--no-install", "allure", "--version"], capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if probe.returncode == 0:
            return [npx, "--no-install", "allure"]
    return None


def results_dirs(run: Run) -> list[Path]:
    dirs = [run.role_dir(role) / "allure-results" for role in run.roles]
    return [d for d in dict.fromkeys(dirs) if d.is_dir() and any(d.iterdir())]


def generate(run: Run) -> int:
    """Build ``RUN_DIR/allure-report``; 0, or :data:`NOT_AVAILABLE` / the generator's exit status, with a message."""
    sources = results_dirs(run)
    if not sources:
        print(f"hmipv6ct: {run.directory} has no allure-results (the run was made without allure-pytest?)",
              file=sys.stderr)
        return 1
    cmd = command()
    if cmd is None:
        print(f"hmipv6ct: {INSTALL_HINT}; the allure-results are in " + ", ".join(map(str, sources)), file=sys.stderr)
        return NOT_AVAILABLE
    out = run.directory / OUTPUT
    proc = subprocess.run([*cmd, "generate", *map(str, sources), "--output", str(out)], capture_output=True,
                          text=True, timeout=300)
    if proc.returncode != 0 or not (out / "index.html").is_file():
        print(f"hmipv6ct: allure generate failed (exit status {proc.returncode}): {proc.stderr.strip()[-2000:]}",
              file=sys.stderr)
        return proc.returncode or 1
    print(f"hmipv6ct: Allure report {out / 'index.html'}")
    return 0
