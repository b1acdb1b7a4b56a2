"""What every benchmark's JSON result carries: the machine it ran on, its parameters, and where it is written.

Each benchmark (``hmipv6ct bench map|dataplane|handover``, ``hmipv6ct load``, ``python -m benchmarks.soak``)
writes one JSON document ``{"benchmark", "started", "finished", "params", "machine", ...figures}`` with
:func:`write_result`; without ``--json FILE`` it goes to ``reports/bench/<benchmark>-<UTC time>.json``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import platform
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "reports" / "bench"


def machine() -> dict[str, Any]:
    """CPU count and model, memory, kernel, Python, and the load average when the benchmark ran."""
    info: dict[str, Any] = {"cpus": os.cpu_count(), "kernel": platform.release(), "machine": platform.machine(),
                            "python": platform.python_version(), "system": platform.system()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_kb"] = int(line.split()[1])
        info["loadavg"] = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        pass
    return info


#: the bindings of ``bench map`` and ``bench dataplane``: RCoA i on the MAP's /64, LCoA i on 2001:db8:4c::/64 (the
#: low 32 bits of each base are zero: the index goes there)
RCOA_BASE, LCOA_BASE = "2001:db8:4d::1:0:0", "2001:db8:4c::1:0:0"
_RCOA0, _LCOA0 = int(ipaddress.IPv6Address(RCOA_BASE)), int(ipaddress.IPv6Address(LCOA_BASE))


def rcoa(i: int) -> bytes:
    """The RCoA of binding ``i`` (16 bytes)."""
    return (_RCOA0 + i).to_bytes(16, "big")


def lcoa(i: int) -> bytes:
    """The LCoA of binding ``i`` (16 bytes)."""
    return (_LCOA0 + i).to_bytes(16, "big")


def default_path(benchmark: str) -> Path:
    return BENCH_DIR / f"{benchmark}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"


def write_result(benchmark: str, params: dict[str, Any], figures: dict[str, Any], path: str | Path | None = None,
                 started: float | None = None) -> Path:
    """Write ``figures`` with the benchmark's name, ``params`` and :func:`machine`; return the file written."""
    target = Path(path) if path else default_path(benchmark)
    target.parent.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": benchmark, "started": started, "finished": time.time(), "params": params,
           "machine": machine(), **figures}
    target.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    return target


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 5.0) -> int | None:
    """End a process group this benchmark started (``sig``, then SIGKILL after ``timeout``) and close its pipes;
    return its exit status."""
    for s in (sig, signal.SIGKILL):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, s)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            continue
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return proc.returncode
