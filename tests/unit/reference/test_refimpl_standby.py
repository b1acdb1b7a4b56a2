"""A daemon in standby runs nothing before its go line: its configuration is read only then."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness import paths


def _standby(tmp_path: Path, stdin: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reference_impl.daemon.standby", "map_main", "--config",
                           str(tmp_path / "map.yaml")], input=stdin, capture_output=True, text=True, timeout=60,
                          cwd=paths.ROOT)


def test_end_of_input_without_go_runs_nothing(tmp_path: Path) -> None:
    out = _standby(tmp_path, "")
    assert out.returncode == 0 and out.stderr == ""


def test_go_runs_the_daemon_with_the_configuration_written_after_the_start(tmp_path: Path) -> None:
    out = _standby(tmp_path, "go\n")  # no configuration file: the daemon itself says so, so it did run
    assert out.returncode == 2 and "map.yaml" in out.stderr, out.stderr
    (tmp_path / "map.yaml").write_text("role: map\n")
    out = _standby(tmp_path, "go\n")
    assert out.returncode == 2 and "missing control_socket" in out.stderr, out.stderr


def test_unknown_daemon_is_refused() -> None:
    out = subprocess.run([sys.executable, "-m", "reference_impl.daemon.standby", "nope"], capture_output=True,
                         text=True, timeout=60, cwd=paths.ROOT)
    assert out.returncode == 2 and "usage" in out.stderr
