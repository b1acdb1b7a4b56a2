"""The run report as one self-contained HTML file: provenance, summary, the requirement matrix, every test purpose.

No server, no network, no external file: styles, scripts, sequence charts and timelines are inline, so the file
opens from ``file://`` (evidence files are linked relative to the run directory, which the report sits in).

Filters (role, verdict, keyword, section) are ``<select class="filter" data-filter="NAME">`` controls; every
filterable element has the class ``filterable`` and ``data-NAME`` attributes holding its values separated by
``|``.  An element is shown when, for every filter set, one of its values equals the filter's value.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from collections.abc import Iterable, Mapping
from html import escape
from pathlib import Path
from typing import Any

from harness.report import summary, timeline
from harness.report.clauses import clause, rfc_link
from harness.report.model import Run

DOCUMENT_ORDER = ("rfc4140", "rfc5380", "rfc6275", "rfc4861", "rfc2473")
DOCUMENT_NAMES = {"rfc4140": "base (draft-ietf-mipshop-hmipv6-04 / RFC 4140)", "rfc5380": "RFC 5380",
                  "rfc6275": "RFC 6275", "rfc4861": "RFC 4861", "rfc2473": "RFC 2473"}
VERDICT_CLASS = {"PASS": "pass", "FAIL": "fail", "ERROR": "error", "WARN": "warn", "INFO": "info",
                 "INCONCLUSIVE": "inconclusive", "NOT APPLICABLE": "na", "NOT RUN": "notrun", "NOT JUDGED": "notrun",
                 "UNTESTED": "untested", "NOT TESTABLE": "na"}
CHART_LIMIT = 150


def render(run: Run, *, charts: bool = True) -> str:
    """The report of ``run`` (``charts=False`` leaves the sequence charts out, e.g. for a quick look)."""
    parts = [_head(run), _provenance(run), _summary(run), _filters(run), _matrix(run),
             '<section id="purposes"><h2>Test purposes</h2>']
    for e in sorted(run.results, key=lambda e: (e.get("role") or "", e.get("test_purpose") or e["nodeid"])):
        parts.append(_purpose(run, e, charts))
    parts.append("</section>" + _SCRIPT + "</body></html>")
    return "\n".join(parts)


def write(run: Run, path: Path, *, charts: bool = True) -> Path:
    path.write_text(render(run, charts=charts), encoding="utf-8")
    return path


# -- pieces -------------------------------------------------------------------------------------------------------
def anchor(role: str | None, test_purpose: str) -> str:
    return "tp-" + re.sub(r"[^A-Za-z0-9_-]", "_", f"{role}-{test_purpose}")


def _badge(verdict: str) -> str:
    return f'<span class="v {VERDICT_CLASS.get(verdict, "other")}">{escape(verdict)}</span>'


def _when(t: Any) -> str:
    if not isinstance(t, (int, float)):
        return "unknown"
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _head(run: Run) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<title>HMIPv6 conformance report: {escape(run.directory.name)}</title>'
            f'<style>{_CSS}</style></head><body>'
            f'<h1>HMIPv6 conformance report <small>{escape(run.directory.name)}</small></h1>')


def _provenance(run: Run) -> str:
    out = ['<section id="provenance"><h2>Provenance</h2>']
    if run.problems:
        out.append('<div class="incomplete"><b>This run is incomplete, or was read with gaps:</b><ul>'
                   + "".join(f"<li>{escape(p)}</li>" for p in run.problems) + "</ul></div>")
    out.append('<table class="prov"><tr><th></th>' + "".join(f"<th>{escape(r)}</th>" for r in run.roles) + "</tr>")

    def row(label: str, value) -> str:
        return f"<tr><th>{escape(label)}</th>" + "".join(f"<td>{value(h)}</td>" for h in run.roles.values()) + "</tr>"

    out += [
        row("suite", lambda h: escape(f"{h.get('suite', 'hmipv6-conformance')} {h.get('suite_version', '?')}")),
        row("commit", lambda h: f"<code>{escape(str(h.get('git_commit', 'unknown')))}</code>"),
        row("testbed", lambda h: escape(str(h.get("testbed", "?")))
            + (f"<br><code>sha256 {escape(str(h['testbed_sha256'])[:16])}…</code>" if h.get("testbed_sha256") else "")),
        row("DUT", lambda h: escape(", ".join(f"{k}: {v}" for k, v in (h.get("dut") or {}).items()
                                              if k != "identity") or "?")),
        row("DUT identity", lambda h: escape(str((h.get("dut") or {}).get("identity", "not read")))),
        row("declared PICS", lambda h: "<br>".join(escape(f"{k}: {json.dumps(v)}") for k, v in
                                                   (h.get("pics") or {}).items()) or "none"),
        row("edition", lambda h: escape(DOCUMENT_NAMES.get(h.get("edition"), str(h.get("edition"))))),
        row("started", lambda h: escape(_when(h.get("started")))),
        row("ended", lambda h: escape(_when(h.get("finished"))) + (" (interrupted)" if h.get("interrupted") else "")),
        row("host", lambda h: escape(f"{h.get('host', '?')} (Python {h.get('python', '?')})")),
    ]
    out.append("</table></section>")
    return "\n".join(out)


def _summary(run: Run) -> str:
    out = ['<section id="summary"><h2>Summary</h2><ul class="cert">']
    for c in summary.certification(run.requirements):
        out.append(f'<li class="{"met" if c.met else "notmet"}" data-role="{escape(c.role)}">{escape(c.statement())}</li>')
    out.append("</ul><p>Requirements per role and keyword level (a requirement's verdict is the worst any test purpose "
               'gave it; see the matrix).</p><table class="summary"><tr><th>role</th><th>level</th>'
               + "".join(f"<th>{escape(v)}</th>" for v in summary.VERDICTS) + "<th>total</th></tr>")
    for role, levels in summary.counts(run.requirements).items():
        for lv, cells in levels.items():
            total = sum(cells.values())
            if not total:
                continue
            out.append(f'<tr data-role="{escape(role)}" data-level="{lv}"><td>{escape(role)}</td><td>{lv}</td>'
                       + "".join(f'<td class="n" data-verdict="{escape(v)}">{cells.get(v, 0) or ""}</td>'
                                 for v in summary.VERDICTS) + f'<td class="n">{total}</td></tr>')
    tests: dict[str, int] = {}
    for e in run.results:
        tests[e["verdict"]] = tests.get(e["verdict"], 0) + 1
    out.append("</table><p>Test purposes: " + ", ".join(f"{n} {escape(v)}" for v, n in sorted(tests.items()))
               + "</p></section>")
    return "\n".join(out)


def _top_section(record: Mapping[str, Any]) -> str:
    return f"{record.get('document')} §{str(record.get('section') or '?').split('.')[0]}"


def _section_key(record: Mapping[str, Any]) -> tuple:
    doc = record.get("document") or ""
    order = DOCUMENT_ORDER.index(doc) if doc in DOCUMENT_ORDER else len(DOCUMENT_ORDER)
    numbers = tuple(int(p) if p.isdigit() else 0 for p in str(record.get("section") or "").split("."))
    return order, doc, numbers, record.get("paragraph") or 0, record["id"], record["role"]


def _filters(run: Run) -> str:
    reqs = run.requirements
    options = {
        "role": list(run.roles),
        "verdict": sorted({r["verdict"] for r in reqs} | {e["verdict"] for e in run.results},
                          key=lambda v: summary.VERDICTS.index(v) if v in summary.VERDICTS else 99),
        "keyword": sorted({r["keyword"] for r in reqs}),
        "section": list(dict.fromkeys(_top_section(r) for r in sorted(reqs, key=_section_key))),
    }
    out = ['<section id="filters"><h2>Filters</h2><form onsubmit="return false">']
    for name, values in options.items():
        out.append(f'<label>{name} <select class="filter" data-filter="{name}" id="filter-{name}">'
                   '<option value="">all</option>'
                   + "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in values) + "</select></label>")
    out.append('<span id="shown"></span></form></section>')
    return "\n".join(out)


def _filterable(role: str, verdicts: Iterable[str], keywords: Iterable[str], sections: Iterable[str]) -> str:
    def attr(values: Iterable[str]) -> str:
        return escape("|".join(dict.fromkeys(values)))
    return (f'class="filterable" data-role="{escape(role)}" data-verdict="{attr(verdicts)}" '
            f'data-keyword="{attr(keywords)}" data-section="{attr(sections)}"')


def _matrix(run: Run) -> str:
    out = ['<section id="matrix"><h2>Requirement matrix</h2><p>Every requirement of the run\'s roles and edition, in '
           "specification order, with the verdict the test purposes gave it.</p>"
           '<table class="matrix"><thead><tr><th>requirement</th><th>role</th><th>clause</th><th>keyword</th>'
           "<th>text</th><th>verdict</th><th>test purposes</th></tr></thead><tbody>"]
    reported = {(e.get("role"), e.get("test_purpose")) for e in run.results}
    for r in sorted(run.requirements, key=_section_key):
        link = rfc_link(r.get("document"), r.get("section"))
        where = escape(clause(r, keyword=False))
        where = f'<a href="{escape(link)}">{where}</a>' if link else where
        tests = []
        for tp in r.get("tests", []):
            judged = (r.get("judged_by") or {}).get(tp)
            name = (f'<a href="#{anchor(r["role"], tp)}">{escape(tp)}</a>' if (r["role"], tp) in reported
                    else f"<code>{escape(tp)}</code>")  # collected but never run: no section to link to
            tests.append(name + (f" {_badge(judged)}" if judged else ""))
        why = f'<div class="why">{escape(r["reason"])}</div>' if r.get("reason") else ""
        out.append(f'<tr {_filterable(r["role"], [r["verdict"]], [r["keyword"]], [_top_section(r)])} '
                   f'data-requirement="{escape(r["id"])}"><td><code>{escape(r["id"])}</code></td>'
                   f'<td>{escape(r["role"])}</td><td>{where}</td><td>{escape(r["keyword"])}</td>'
                   f'<td class="quote">{escape(r.get("text") or "")}</td><td class="verdict">{_badge(r["verdict"])}{why}'
                   f'</td><td>{"<br>".join(tests)}</td></tr>')
    out.append("</tbody></table></section>")
    return "\n".join(out)


def _purpose(run: Run, e: Mapping[str, Any], charts: bool) -> str:
    role, tp = e.get("role") or "", e.get("test_purpose")
    records = {r["id"]: r for r in run.requirements if r["role"] == role}
    reqs = [records.get(rid, {"id": rid, "keyword": "?", "note": "not a requirement of this run's edition"})
            for rid in e.get("requirements", [])]
    ident = tp or e["nodeid"]
    out = [f'<section {_filterable(role, [e["verdict"]], [r.get("keyword", "?") for r in reqs] or ["-"], [_top_section(r) for r in reqs] or ["-"])} '
           f'id="{anchor(role, ident)}" data-test-purpose="{escape(ident)}">',
           f'<h3>{_badge(e["verdict"])} <code>{escape(ident)}</code> {escape(e.get("title") or "")} '
           f'<small>{escape(role)} · {e.get("duration") or 0:.2f} s</small></h3>']
    if e.get("reason") and e["verdict"] != "PASS":
        bad = " bad" if e["verdict"] in ("FAIL", "ERROR", "INCONCLUSIVE") else ""
        out.append(f'<p class="reason{bad}"><b>Why {escape(e["verdict"])}:</b> {escape(e["reason"])}</p>')
    desc = e.get("description") or {}
    if desc:
        out.append('<dl class="desc">' + "".join(f"<dt>{escape(k.capitalize())}</dt><dd>{escape(v)}</dd>"
                                                  for k, v in desc.items() if k != "summary") + "</dl>")
    if reqs:
        out.append('<p class="reqs">Requirements: ' + "; ".join(
            f'<code>{escape(r["id"])}</code> ({escape(r.get("note") or clause(r))})' for r in reqs) + "</p>")
    out.append(_checks(e))
    out.append(_measurements(e))
    out.append(_evidence(run, e, charts))
    out.append("</section>")
    return "\n".join(x for x in out if x)


def _checks(e: Mapping[str, Any]) -> str:
    checks = e.get("checks") or []
    if not checks:
        return '<p class="nochecks">No check point was judged.</p>' if e.get("test_purpose") else ""
    rows = []
    for i, c in enumerate(checks, 1):
        frame = c.get("frame")
        where = f'{escape(frame["link"])} @ {frame["time"]:.6f}' if frame else ""
        rows.append(f'<tr class="check" data-outcome="{escape(str(c.get("outcome")))}"><td>{i}</td>'
                    f'<td><code>{escape(str(c.get("requirement")))}</code></td><td>{escape(str(c.get("keyword")))}</td>'
                    f'<td>{_badge(str(c.get("outcome")))}</td><td>{escape(str(c.get("detail", "")))}</td>'
                    f"<td>{where}</td></tr>")
    return ('<table class="checks"><tr><th>#</th><th>requirement</th><th>keyword</th><th>outcome</th><th>detail</th>'
            "<th>judged frame</th></tr>" + "".join(rows) + "</table>")


def _measurements(e: Mapping[str, Any]) -> str:
    out = []
    m = e.get("measurements") or {}
    if m:
        def value(v: Mapping[str, Any]) -> str:
            return "not measured" if v.get("value") is None else f"{v['value']} {v.get('unit', '')}"
        out.append('<table class="measurements"><tr><th>measured</th><th>value</th><th>note</th></tr>' + "".join(
            f'<tr><td>{escape(k)}</td><td>{escape(value(v))}</td><td>{escape(v.get("note", ""))}</td></tr>'
            for k, v in m.items()) + "</table>")
    faults = e.get("faults") or []
    if faults:
        out.append("<p>Faults: " + "; ".join(escape(json.dumps(f, default=str)) for f in faults) + "</p>")
    if e.get("records"):
        out.append("<details><summary>Recorded observations</summary><pre>"
                   + escape(json.dumps(e["records"], indent=1, default=str)[:20000]) + "</pre></details>")
    return "\n".join(out)


def _evidence(run: Run, e: Mapping[str, Any], charts: bool) -> str:
    files = e.get("evidence") or []
    if not files:
        return ""
    links, pcaps, timeline_file = [], {}, None
    for name in files:
        path = run.evidence_path(e, name)
        label = Path(name).name
        if path is None:
            links.append(f'<span class="missing">{escape(label)} (missing)</span>')
            continue
        href = os.path.relpath(path, run.directory)
        links.append(f'<a class="evidence" href="{escape(href)}">{escape(label)}</a>')
        if path.suffix == ".pcap":
            pcaps[path.stem] = path
        elif path.name == "timeline.json":
            timeline_file = path
    out = ['<p class="evidence">Evidence: ' + " · ".join(links) + "</p>"]
    if timeline_file is not None:
        try:
            timelines = json.loads(timeline_file.read_text())
            between = timeline.span(timelines)
            for name, series in timelines.items():
                out.append('<div class="plot">' + timeline.render(name, series, between=between) + "</div>")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            out.append(f'<p class="missing">timeline not drawn: {escape(str(exc))}</p>')
    if charts and pcaps:
        out.append(_chart(run, e, pcaps))
    return "\n".join(out)


def _chart(run: Run, e: Mapping[str, Any], pcaps: Mapping[str, Path]) -> str:
    addresses = (run.roles.get(e.get("role")) or {}).get("addresses")
    try:
        from harness.report import msc
        svg = msc.chart(pcaps, addresses, [c for c in e.get("checks") or [] if c.get("frame")], limit=CHART_LIMIT)
    except Exception as exc:  # noqa: BLE001 -- a chart that cannot be drawn must not cost the report
        return f'<p class="missing">sequence chart not drawn: {escape(type(exc).__name__)}: {escape(str(exc))}</p>'
    return f'<details class="chart" open><summary>Message sequence chart</summary>{svg}</details>'


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1 small{font-weight:normal;color:#666;font-size:60%}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:2px 6px;vertical-align:top;text-align:left}
td.n{text-align:right}
.v{display:inline-block;padding:0 5px;border-radius:3px;font-size:85%;font-weight:bold;white-space:nowrap}
.pass{background:#c8e6c9}.fail{background:#ef9a9a}.error{background:#f48fb1}.warn{background:#ffe082}
.info{background:#b3e5fc}.inconclusive{background:#d1c4e9}.na{background:#eee;color:#666}
.notrun,.untested{background:#fff;border:1px solid #999;color:#555}
.cert li{font-weight:bold}.cert .met{color:#1b5e20}.cert .notmet{color:#b71c1c}
.incomplete{background:#fff3e0;border:2px solid #e65100;padding:.5em}
.quote{font-style:italic;max-width:40em}.why{font-size:85%;color:#555;max-width:28em}
section.filterable{border-top:1px solid #aaa;margin-top:1em}
dl.desc dt{font-weight:bold}dl.desc dd{white-space:pre-wrap;margin:0 0 .3em 1.5em}
.reason{background:#f3f3f3;padding:.3em}.reason.bad{background:#fdecea}.missing{color:#b71c1c}
#filters label{margin-right:1em}svg{max-width:100%;height:auto;display:block}
.chart{overflow-x:auto}svg.msc{max-width:none}
"""

_SCRIPT = """<script>
(function () {
  var filters = Array.prototype.slice.call(document.querySelectorAll('select.filter'));
  var items = Array.prototype.slice.call(document.querySelectorAll('.filterable'));
  function apply() {
    var shown = 0;
    items.forEach(function (el) {
      var ok = filters.every(function (f) {
        if (!f.value) return true;
        var values = (el.getAttribute('data-' + f.getAttribute('data-filter')) || '').split('|');
        return values.indexOf(f.value) >= 0;
      });
      el.hidden = !ok;
      if (ok && el.tagName === 'TR') shown++;
    });
    document.getElementById('shown').textContent = shown + ' requirement rows shown';
  }
  filters.forEach(function (f) { f.addEventListener('change', apply); });
  apply();
  window.reportReady = true;
}());
</script>"""
