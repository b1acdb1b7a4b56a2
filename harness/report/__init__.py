"""Reports of a run: one self-contained HTML file, JUnit XML, Allure, and run-to-run comparison.

    build(run_dir)             report.html and junit.xml in the run directory (``hmipv6ct report RUN_DIR``;
                               ``hmipv6ct run`` calls it at the end)
    compare(old_dir, new_dir)  what changed per requirement between two runs (``hmipv6ct report --compare``)

Everything is built from the run directory alone (``results.json`` or, for a killed run, the journal, and the
evidence files), so a run directory copied elsewhere reports the same.
"""

from __future__ import annotations

from pathlib import Path

from harness.report.model import Run, RunError, load_run

__all__ = ["HTML", "JUNIT", "Run", "RunError", "build", "load_run"]

HTML = "report.html"
JUNIT = "junit.xml"


def build(run_dir: str | Path, *, charts: bool = True) -> Path:
    """Write ``report.html`` and ``junit.xml`` into ``run_dir``; return the HTML's path."""
    from harness.report import html, junit

    run = load_run(run_dir)
    junit.write(run, run.directory / JUNIT)
    return html.write(run, run.directory / HTML, charts=charts)
