"""The report in headless Chromium: the sample run's report passes the browser check, and reports broken in the ways
the check exists to catch (filters that do nothing, a style defeating them, an empty option, a script error, a
script that never finishes) fail it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness import report
from harness.report import browser

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def chromium() -> None:
    """bootstrap.sh installs chromium, chromium-driver and selenium: their absence is a failure, not a skip."""
    if reason := browser.available():
        pytest.fail(reason)


@pytest.fixture
def html(sample_run: Path) -> Path:
    return report.build(sample_run, charts=False)


def tampered(html: Path, old: str, new: str) -> Path:
    """A copy of ``html`` beside it with ``old`` (which must occur once) replaced by ``new``."""
    text = html.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path = html.with_name("tampered.html")
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


@pytest.mark.usefixtures("chromium")
def test_sample_report_passes(sample_run: Path, html: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    def no_manager(*args, **kwargs):
        raise AssertionError("Selenium Manager was asked for a driver (it may download one)")
    monkeypatch.setattr(SeleniumManager, "binary_paths", no_manager)

    shot = tmp_path / "shots" / "report.png"
    result = browser.check(html, shot)

    assert result.ok, "\n".join(result.lines())
    assert result.console_errors == [] and result.problems == []
    assert result.url == html.resolve().as_uri()
    assert result.screenshot == shot
    data = shot.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    run = report.load_run(sample_run)
    verdicts = {r["verdict"] for r in run.requirements} | {e["verdict"] for e in run.results}
    assert len(verdicts) >= 8
    for v in verdicts:
        assert any(line.startswith(f"verdict={v}: ") for line in result.filters), v
    assert all(line.endswith(", 0 wrong") for line in result.filters if " wrong" in line)
    assert any(line.startswith("role=") and " & verdict=" in line for line in result.filters)


@pytest.mark.usefixtures("chromium")
@pytest.mark.parametrize("old, new, expected", [
    ("el.hidden = !ok;", "el.hidden = false;", "verdict=FAIL: "),  # the filters do nothing
    ("</style>", ".filterable{display:block!important}</style>", "rendered otherwise"),  # a style defeats [hidden]
    ('<option value="PASS">', '<option value="BOGUS">BOGUS</option><option value="PASS">',
     "verdict=BOGUS: nothing shown"),  # an option with nothing behind it
    ("shown + ' requirement rows shown'", "(shown + 1) + ' requirement rows shown'", "#shown says"),  # a wrong count
], ids=["filters-do-nothing", "style-defeats-hidden", "empty-option", "wrong-count"])
def test_broken_filters_are_problems(html: Path, tmp_path: Path, old: str, new: str, expected: str) -> None:
    result = browser.check(tampered(html, old, new), tmp_path / "shot.png")

    assert not result.ok
    assert result.console_errors == []
    assert any(expected in p for p in result.problems), result.problems
    assert result.screenshot is not None


@pytest.mark.usefixtures("chromium")
def test_script_error_is_a_console_error(html: Path, tmp_path: Path) -> None:
    result = browser.check(tampered(html, "</body>", '<script>throw new Error("boom")</script></body>'),
                           tmp_path / "shot.png")

    assert not result.ok
    assert any("boom" in e for e in result.console_errors), result.console_errors
    assert result.problems == []  # the report's own script still ran and its filters work


@pytest.mark.usefixtures("chromium")
def test_script_that_never_finishes_is_reported_by_the_deadline(html: Path, tmp_path: Path) -> None:
    start = time.monotonic()
    result = browser.check(tampered(html, "window.reportReady = true;", 'throw new Error("boom");'),
                           tmp_path / "shot.png", timeout=2)

    assert time.monotonic() - start < 30
    assert not result.ok
    assert any("reportReady" in p and "2 s" in p for p in result.problems), result.problems
    assert any("boom" in e for e in result.console_errors)
    assert result.filters == []  # nothing exercised on a page that never became ready
    assert result.screenshot is not None and result.screenshot.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.usefixtures("chromium")
def test_main_checks_a_run_directory(sample_run: Path, html: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert browser.main([str(sample_run)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "OK" and "verdict=PASS: " in out
    assert (sample_run / "report.png").read_bytes().startswith(PNG_MAGIC)


def test_main_without_a_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert browser.main([str(tmp_path)]) == 2
    assert "no report" in capsys.readouterr().err


def test_missing_driver_is_named(html: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser, "CHROMEDRIVER", str(tmp_path / "no-chromedriver"))
    reason = browser.available()
    assert reason is not None and "no-chromedriver" in reason and "chromium-driver" in reason
    with pytest.raises(RuntimeError, match="no-chromedriver"):
        browser.check(html, tmp_path / "shot.png")


@pytest.mark.usefixtures("chromium")
def test_unwritable_screenshot_is_a_problem(html: Path) -> None:
    result = browser.check(html, html / "report.png", max_options=1)  # its directory would be a file

    assert not result.ok and result.screenshot is None
    assert any("screenshot not written" in p for p in result.problems), result.problems


def test_ok_needs_a_screenshot_and_no_error(tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    assert browser.BrowserCheck("file:///r.html", [], ["verdict=PASS: 1 shown (1 row), 0 wrong"], [], shot).ok
    assert not browser.BrowserCheck("file:///r.html", [], [], [], None).ok
    assert not browser.BrowserCheck("file:///r.html", ["Uncaught Error: boom"], [], [], shot).ok
    assert not browser.BrowserCheck("file:///r.html", [], [], ["verdict=PASS: nothing shown"], shot).ok
