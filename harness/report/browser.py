"""The HTML report checked in a real browser: its script runs without error and every filter shows what it says.

    available()               None when headless Chromium, chromedriver and Selenium are usable, else what is missing
    check(html, screenshot)   open the report from ``file://``, work every filter through the UI, save a screenshot

Run as a check script (CI keeps the screenshot as an artefact)::

    python -m harness.report.browser RUN_DIR_OR_HTML     # prints one line per check; exit 0 when all is well

The browser is the Debian ``chromium`` with its ``chromedriver``, started with an explicit driver path (so Selenium
Manager never looks for, or downloads, anything), a fresh profile and no background networking.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,1000")
SCREENSHOT_MAX_HEIGHT = 10000
INSTALL = "install the Debian packages chromium and chromium-driver and 'selenium>=4.20' (bootstrap.sh does)"


@dataclasses.dataclass
class BrowserCheck:
    """What the browser saw: ``filters`` has one line per filter setting exercised, ``problems`` every mismatch."""

    url: str
    console_errors: list[str] = dataclasses.field(default_factory=list)
    filters: list[str] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)
    screenshot: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.console_errors and not self.problems and self.screenshot is not None

    def lines(self) -> list[str]:
        return ([f"report: {self.url}"] + self.filters + [f"console error: {e}" for e in self.console_errors]
                + [f"PROBLEM: {p}" for p in self.problems]
                + [f"screenshot: {self.screenshot or 'not written'}", "OK" if self.ok else "NOT OK"])


def available() -> str | None:
    """None when the browser check can run here, else the reason (and what to install)."""
    missing = [what for what, there in ((CHROMIUM, Path(CHROMIUM).is_file()),
                                        (CHROMEDRIVER, Path(CHROMEDRIVER).is_file()),
                                        ("the selenium module", importlib.util.find_spec("selenium") is not None))
               if not there]
    return f"browser check unavailable: no {', no '.join(missing)}; {INSTALL}" if missing else None


# One pass over every filterable element: which are shown, and which disagree with the filters set (``settings``,
# name -> value; a value of "" or no entry means "all").  "Shown" is the element's ``hidden`` flag; an element whose
# rendering disagrees with that flag (a style overriding [hidden]) is wrong too.
_STATE_JS = """
var settings = arguments[0];
var items = document.querySelectorAll('.filterable');
var out = {items: items.length, shown: 0, rows: 0, wrong: [], shownText: null};
items.forEach(function (el) {
  var expected = Object.keys(settings).every(function (name) {
    if (!settings[name]) return true;
    return (el.getAttribute('data-' + name) || '').split('|').indexOf(settings[name]) >= 0;
  });
  var visible = !el.hidden;
  var rendered = getComputedStyle(el).display !== 'none';
  if (visible) { out.shown++; if (el.tagName === 'TR') out.rows++; }
  if (visible !== expected || rendered !== visible) {
    out.wrong.push(el.tagName.toLowerCase() + ' ' + (el.getAttribute('data-requirement') || el.id || '?')
                   + (visible ? ' shown' : ' hidden') + (rendered !== visible ? ' (but rendered otherwise)' : ''));
  }
});
var shown = document.getElementById('shown');
out.shownText = shown ? shown.textContent : null;
return out;
"""

# The filters of the page: name and non-empty option values, in page order.
_FILTERS_JS = """
return Array.prototype.map.call(document.querySelectorAll('select.filter'), function (s) {
  return {name: s.getAttribute('data-filter'),
          values: Array.prototype.map.call(s.options, function (o) { return o.value; }).filter(Boolean)};
});
"""

# (role, verdict) pairs for which some element carries both and some carries the verdict under another role, so
# that setting both shows something and hides something the verdict alone would show.
_PAIRS_JS = """
var roles = arguments[0], verdicts = arguments[1], pairs = [];
var items = Array.prototype.map.call(document.querySelectorAll('.filterable'), function (el) {
  return {r: (el.getAttribute('data-role') || '').split('|'), v: (el.getAttribute('data-verdict') || '').split('|')};
});
roles.forEach(function (r) { verdicts.forEach(function (v) {
  var both = items.some(function (i) { return i.r.indexOf(r) >= 0 && i.v.indexOf(v) >= 0; });
  var other = items.some(function (i) { return i.r.indexOf(r) < 0 && i.v.indexOf(v) >= 0; });
  if (both && other) pairs.push([r, v]);
}); });
return pairs;
"""


def check(html: Path, screenshot: Path, *, max_options: int = 6, timeout: float = 10.0) -> BrowserCheck:
    """Open ``html`` in headless Chromium and check its filters; the screenshot goes to ``screenshot``.

    Every value of the verdict filter and up to ``max_options`` values of each other filter are selected through the
    UI, one at a time, then role and verdict together.  ``timeout`` bounds the wait for the page's script
    (``window.reportReady``).  Raises RuntimeError when the browser cannot be started.
    """
    if reason := available():
        raise RuntimeError(reason)
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    html = Path(html).resolve()
    if not html.is_file():
        raise FileNotFoundError(html)
    result = BrowserCheck(url=html.as_uri())
    with tempfile.TemporaryDirectory(prefix="hmipv6ct-chromium-") as profile:
        driver = _start(profile, timeout)
        try:
            driver.get(result.url)
            try:
                WebDriverWait(driver, timeout, poll_frequency=0.1).until(
                    lambda d: d.execute_script("return window.reportReady === true"))
                ready = True
            except TimeoutException:
                ready = False
                result.problems.append(f"the page script never set window.reportReady (waited {timeout:g} s)")
            _console(driver, result)
            if ready:
                _check_filters(driver, result, max_options)
            _console(driver, result)
            try:
                result.screenshot = _screenshot(driver, Path(screenshot))
            except (WebDriverException, OSError) as exc:
                result.problems.append(f"screenshot not written to {screenshot}: {exc}")
        finally:
            driver.quit()
    return result


def _start(profile: str, timeout: float):
    """A headless Chromium driven by chromedriver, or RuntimeError saying which of them failed."""
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except WebDriverException as exc:
        raise RuntimeError(f"could not start {CHROMIUM} through {CHROMEDRIVER}: {exc.msg}") from exc
    except OSError as exc:
        raise RuntimeError(f"could not run {CHROMEDRIVER}: {exc}") from exc
    driver.set_page_load_timeout(timeout)
    driver.set_script_timeout(timeout)
    return driver


def _console(driver, result: BrowserCheck) -> None:
    """Move the SEVERE console messages (uncaught errors included) logged since the last call into ``result``."""
    result.console_errors += [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def _check_filters(driver, result: BrowserCheck, max_options: int) -> None:
    filters = {f["name"]: f["values"] for f in driver.execute_script(_FILTERS_JS)}
    if not filters:
        result.problems.append("the page has no filter controls (select.filter)")
        return
    if not driver.execute_script("return document.querySelectorAll('.filterable').length"):
        result.problems.append("the page has no filterable elements")
        return
    _verify(driver, result, {}, "no filter", need_shown=True)
    for name, values in filters.items():
        chosen = values if name == "verdict" else values[:max_options]
        if len(chosen) < len(values):
            result.filters.append(f"{name}: {len(chosen)} of {len(values)} values exercised")
        if not values:
            result.problems.append(f"filter {name} offers no value")
        for value in chosen:
            _select(driver, name, value)
            _verify(driver, result, {name: value}, f"{name}={value}", need_shown=True)
        _select(driver, name, "")
        _verify(driver, result, {}, f"{name} reset", need_shown=True)
    roles, verdicts = filters.get("role", []), filters.get("verdict", [])
    if roles and verdicts:
        pairs = driver.execute_script(_PAIRS_JS, roles, verdicts) or [[roles[0], verdicts[0]]]
        role, verdict = pairs[0]
        _select(driver, "role", role)
        _select(driver, "verdict", verdict)
        _verify(driver, result, {"role": role, "verdict": verdict}, f"role={role} & verdict={verdict}",
                need_shown=False)
        _select(driver, "role", "")
        _select(driver, "verdict", "")
        _verify(driver, result, {}, "role & verdict reset", need_shown=True)


def _select(driver, name: str, value: str) -> None:
    """Choose ``value`` in the filter ``name`` the way a user does (which fires its change event)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.CSS_SELECTOR, f'select.filter[data-filter="{name}"]')).select_by_value(value)


def _verify(driver, result: BrowserCheck, settings: Mapping[str, str], label: str, *, need_shown: bool) -> None:
    """Compare what the page shows with ``settings``; one line in ``result.filters``, mismatches in its problems."""
    state: dict[str, Any] = driver.execute_script(_STATE_JS, dict(settings))
    wrong: Sequence[str] = state["wrong"]
    rows = f"{state['rows']} row{'' if state['rows'] == 1 else 's'}"
    result.filters.append(f"{label}: {state['shown']} shown ({rows}), {len(wrong)} wrong")
    if wrong:
        more = f" and {len(wrong) - 5} more" if len(wrong) > 5 else ""
        result.problems.append(f"{label}: {len(wrong)} of {state['items']} elements wrong: "
                               + "; ".join(wrong[:5]) + more)
    if need_shown and not state["shown"]:
        result.problems.append(f"{label}: nothing shown")
    if not settings and state["shown"] != state["items"]:
        result.problems.append(f"{label}: {state['shown']} of {state['items']} elements shown, expected all")
    count = re.match(r"\s*(\d+)", state["shownText"] or "")
    if state["shownText"] is None:
        result.problems.append(f"{label}: no #shown count on the page")
    elif count is None or int(count.group(1)) != state["rows"]:
        result.problems.append(f"{label}: #shown says {state['shownText']!r}, {state['rows']} rows are shown")


def _screenshot(driver, path: Path) -> Path:
    """Most of the page in one PNG: the window is stretched to the document's height (up to a limit)."""
    width = driver.get_window_size()["width"]
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, max(1000, min(int(height or 0) + 150, SCREENSHOT_MAX_HEIGHT)))
    driver.execute_script("window.scrollTo(0, 0)")
    png = driver.get_screenshot_as_png()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m harness.report.browser RUN_DIR_OR_HTML``: check the report; ``report.png`` is saved beside it."""
    import argparse

    from harness.report import HTML

    parser = argparse.ArgumentParser(prog="python -m harness.report.browser", description=main.__doc__)
    parser.add_argument("report", type=Path, help="a run directory (its report.html) or an HTML report")
    parser.add_argument("--max-options", type=int, default=6, help="values tried per filter (verdict: all)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the page script")
    args = parser.parse_args(argv)
    html = args.report / HTML if args.report.is_dir() else args.report
    if not html.is_file():
        print(f"no report at {html} (build it with: hmipv6ct report RUN_DIR)", file=sys.stderr)
        return 2
    try:
        result = check(html, html.with_name("report.png"), max_options=args.max_options, timeout=args.timeout)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 2
    print("\n".join(result.lines()))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
