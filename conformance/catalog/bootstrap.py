"""Generate the initial requirements-catalog skeleton from the specification texts.

The curated catalog (``conformance/requirements/catalog.yaml``) was generated once with
this script and then edited by hand (actors, testability, reasons, resolutions, merged
and split editions, binding statements, inherited RFC 6275 clauses).  Re-running the
script never touches the curated file unless ``--force`` is given; use it to see what a
fresh extraction would propose::

    python3 -m conformance.catalog.bootstrap --out /tmp/catalog.bootstrap.yaml
    python3 -m conformance.catalog.bootstrap --compare   # new/removed sentences only

What it does:

1. extracts the normative sentences (rules in :mod:`conformance.catalog.extract`) of the
   base document (edition ``rfc4140``) and of RFC 5380;
2. makes one entry per keyword occurrence of every base-document sentence, with the id
   ``HMIP-4140-<section>-P<paragraph>-<KEYWORD>-<n>`` (``n`` counts that keyword in the
   paragraph of that edition, in text order, over all its normative sentences -- so ids are
   stable across regeneration and independent of merge decisions);
3. looks for the same statement in RFC 5380 (section mapped by :data:`SECTION_MAP`,
   same keywords, word similarity >= :data:`SAME_RATIO`) and, when found, adds edition
   ``rfc5380`` to the entry (with a ``variants`` text when the wording differs); other
   RFC 5380 sentences get their own ``HMIP-5380-...`` entries;
4. guesses the actor from the grammatical subject (to be reviewed) and sets
   ``testable: true``, ``tests: []``, ``inherited: false``.

Whether two similar sentences have "the same meaning" is a judgement: the script only
proposes; the curated catalog records the decision.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import yaml

from conformance.catalog import extract as ex
from conformance.catalog.model import DEFAULT_PATH, SCHEMA

#: RFC 4140 section -> RFC 5380 section (README: 4.1 merged into 4, 7.2 renamed 7.1,
#: IANA moved to 13; 7.1, 7.1.1, 7.1.2 removed).
SECTION_MAP = {"4.1": "4", "7.2": "7.1", "11": "13"}
REMOVED_IN_5380 = {"7.1", "7.1.1", "7.1.2"}
SAME_RATIO = 0.75


def kw_id(keyword: str) -> str:
    return "BIND" if keyword == "(binding)" else keyword.replace(" ", "-")


def make_id(prefix: str, section: str, paragraph: int, keyword: str, n: int) -> str:
    return f"{prefix}-{section}-P{paragraph}-{kw_id(keyword)}-{n}"


def guess_actor(text: str) -> str | list[str]:
    """Crude subject-based guess; every entry is reviewed by hand afterwards."""
    t = text.lower()
    found = []
    if re.search(r"\bmobile nodes?\b|\bmn\b|\bhmipv6-aware\b", t):
        found.append("MN")
    if re.search(r"\bmaps?\b", t):
        found.append("MAP")
    if re.search(r"\brouters?\b|\bars?\b|\baccess router", t):
        found.append("AR")
    if not found:
        found = ["MN"]
    return found[0] if len(found) == 1 else found


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, _tokens(a), _tokens(b), autojunk=False).ratio()


def keyword_entries(sentences: list[ex.Sentence], prefix: str,
                    numbering: list[ex.Sentence] | None = None) -> list[dict]:
    """One entry per keyword occurrence of ``sentences``.

    Ids are numbered per (section, paragraph, keyword) over *all* normative sentences of the
    edition (``numbering``), so an id does not depend on which sentences were merged into
    entries of an earlier edition.
    """
    counter: Counter = Counter()
    ordinal: dict[tuple[int, int], int] = {}
    for s in numbering if numbering is not None else sentences:
        for k, kw in enumerate(s.keywords):
            counter[(s.section, s.paragraph, kw)] += 1
            ordinal[(id(s), k)] = counter[(s.section, s.paragraph, kw)]
    entries = []
    for s in sentences:
        for k, kw in enumerate(s.keywords):
            n = ordinal[(id(s), k)]
            entry = {
                "id": make_id(prefix, s.section, s.paragraph, kw, n),
                "editions": [s.edition],
                "section": {s.edition: s.section},
                "title": {s.edition: s.title},
                "paragraph": {s.edition: s.paragraph},
                "keyword": kw,
                "actor": guess_actor(s.text),
                "text": s.text,
                "tests": [],
                "testable": True,
                "inherited": False,
            }
            if len(s.keywords) > 1:
                entry["clause"] = _clause(s.text, kw, n if s.keywords.count(kw) > 1 else 1)
            if s.substitution:
                entry["substitution"] = dict(s.substitution)
            entries.append(entry)
    return entries


def _clause(text: str, kw: str, n: int) -> str:
    """The part of a multi-keyword sentence around the n-th occurrence of ``kw``."""
    hits = [m for m in ex.KEYWORD_RE.finditer(text) if re.sub(r"\s+", " ", m.group(1)) == kw]
    m = hits[min(n, len(hits)) - 1]
    start = max(text.rfind(" and ", 0, m.start()), text.rfind(", ", 0, m.start()),
                text.rfind("; ", 0, m.start()))
    start = 0 if start < 0 else start + 1
    ends = [i for i in (text.find(" and ", m.end()), text.find("; ", m.end())) if i > 0]
    end = min(ends) if ends else len(text)
    return text[start:end].strip(" ,;")


def build(spec_dir: Path = ex.SPEC_DIR) -> dict:
    base = ex.normative_sentences(spec_dir / ex.BASE_DOCUMENT)
    cur = ex.normative_sentences(spec_dir / ex.CURRENT_DOCUMENT)
    entries = keyword_entries(base, "HMIP-4140")
    by_text = defaultdict(list)
    for e in entries:
        by_text[e["text"]].append(e)
    base_by_section = defaultdict(list)
    for s in base:
        base_by_section[SECTION_MAP.get(s.section, s.section)].append(s)

    new5380 = []
    for s in cur:
        best, best_ratio = None, 0.0
        for b in base_by_section.get(s.section, []):
            if b.keywords != s.keywords:
                continue
            r = similarity(b.text, s.text)
            if r > best_ratio:
                best, best_ratio = b, r
        if best is not None and best_ratio >= SAME_RATIO:
            for e in by_text[best.text]:
                if "rfc5380" in e["editions"]:
                    continue
                e["editions"].append("rfc5380")
                e["section"]["rfc5380"] = s.section
                e["title"]["rfc5380"] = s.title
                e["paragraph"]["rfc5380"] = s.paragraph
                if s.text != best.text:
                    e.setdefault("variants", {})["rfc5380"] = s.text
                e["notes"] = f"bootstrap: same statement in RFC 5380? similarity {best_ratio:.2f}"
        else:
            new5380.append(s)
    entries.extend(keyword_entries(new5380, "HMIP-5380", cur))
    return {
        "schema": SCHEMA,
        "documents": {
            "rfc4140": {"file": ex.BASE_DOCUMENT,
                        "title": "Hierarchical Mobile IPv6 mobility management (HMIPv6), "
                                 "draft-ietf-mipshop-hmipv6-04 (= RFC 4140 numbering)"},
            "rfc5380": {"file": ex.CURRENT_DOCUMENT,
                        "title": "Hierarchical Mobile IPv6 (HMIPv6) Mobility Management"},
        },
        "requirements": entries,
        "inherited": [],
    }


# ---------------------------------------------------------------------------------------
# YAML output: block style, small mappings in flow style, long texts folded by width.

class _Flow(dict):
    pass


class _Dumper(yaml.SafeDumper):
    pass


def _repr_flow(dumper: yaml.SafeDumper, data: _Flow):
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


def _repr_str(dumper: yaml.SafeDumper, data: str):
    # '>' (folded) keeps long quotations readable and is exact for single-line text without
    # leading/trailing blanks; short or special strings are left to PyYAML.
    style = ">" if len(data) > 80 and data == data.strip() and "\n" not in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(_Flow, _repr_flow)
_Dumper.add_representer(str, _repr_str)

FLOW_KEYS = {"section", "paragraph", "title", "documents_entry"}


def _flowify(obj, key: str | None = None):
    if isinstance(obj, dict):
        d = {k: _flowify(v, k) for k, v in obj.items()}
        if key in FLOW_KEYS:
            return _Flow(d)
        return d
    if isinstance(obj, list):
        if key in ("editions", "actor", "tests", "cited_by", "related", "affects") \
                and all(isinstance(x, str) for x in obj):
            return _FlowList(obj)
        return [_flowify(x) for x in obj]
    return obj


class _FlowList(list):
    pass


def _repr_flow_list(dumper: yaml.SafeDumper, data: _FlowList):
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


_Dumper.add_representer(_FlowList, _repr_flow_list)


def dump_yaml(data: dict, header: str = "") -> str:
    body = yaml.dump(_flowify(data), Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     width=100, default_flow_style=False)
    # blank line between list entries for readability
    body = re.sub(r"\n(  - id: )", r"\n\n\1", body)
    body = re.sub(r"\n(- id: )", r"\n\n\1", body)
    return header + body


def compare(curated_path: Path, spec_dir: Path = ex.SPEC_DIR) -> list[str]:
    """Differences between a fresh extraction and the curated catalog (by text)."""
    curated = yaml.safe_load(curated_path.read_text(encoding="utf-8"))
    have = Counter()
    for e in curated.get("requirements", []):
        if e.get("keyword") == "(binding)":
            continue
        for ed in e["editions"]:
            have[(ed, e.get("variants", {}).get(ed, e["text"]), e["keyword"])] += 1
    want = Counter()
    for doc in (ex.BASE_DOCUMENT, ex.CURRENT_DOCUMENT):
        for s in ex.normative_sentences(spec_dir / doc):
            for kw in s.keywords:
                want[(s.edition, s.text, kw)] += 1
    out = []
    for key in sorted(set(want) | set(have)):
        if want[key] != have[key]:
            out.append(f"{key[0]} [{key[2]}] extracted {want[key]}x, catalog {have[key]}x: "
                       f"{key[1]}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate the requirements-catalog skeleton.")
    ap.add_argument("--out", type=Path, help="write here instead of stdout")
    ap.add_argument("--force", action="store_true",
                    help="allow overwriting the curated catalog")
    ap.add_argument("--compare", action="store_true",
                    help="only list sentences that differ from the curated catalog")
    args = ap.parse_args(argv)
    if args.compare:
        diffs = compare(DEFAULT_PATH)
        print("\n".join(diffs) if diffs else "catalog matches the extraction")
        return 1 if diffs else 0
    text = dump_yaml(build(), "# Generated by conformance/catalog/bootstrap.py -- a skeleton"
                              " to be curated by hand.\n")
    if args.out:
        if args.out.resolve() == DEFAULT_PATH.resolve() and DEFAULT_PATH.exists() \
                and not args.force:
            print(f"refusing to overwrite the curated {DEFAULT_PATH} (use --force)",
                  file=sys.stderr)
            return 2
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
