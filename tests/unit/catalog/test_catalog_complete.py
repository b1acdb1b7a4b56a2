"""The catalog holds every normative sentence of the specifications -- and nothing else.

The sentences are re-extracted from the copies in conformance/spec/ with the documented
normalisation rules (conformance/catalog/extract.py) and compared with the catalog by text.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from conformance.catalog import extract as ex
from conformance.catalog.model import BINDING

ROOT = Path(__file__).resolve().parents[3]
SPEC = ROOT / "conformance" / "spec"
DOCS = {"rfc4140": ex.BASE_DOCUMENT, "rfc5380": ex.CURRENT_DOCUMENT}

SPEC_FILES = ["draft-ietf-mipshop-hmipv6-04.txt", "rfc4140.txt", "rfc5380.txt", "rfc6275.txt",
              "rfc4877.txt", "rfc5568.txt", "rfc4861-6.1.txt", "README.md"]


def _fmt(s: ex.Sentence) -> str:
    return f"{s.edition} §{s.section} P{s.paragraph} [{', '.join(s.keywords)}]: {s.text}"


# --- the copied texts ---------------------------------------------------------------------

@pytest.mark.parametrize("name", SPEC_FILES)
def test_spec_texts_are_copied(name):
    assert (SPEC / name).is_file(), f"conformance/spec/{name} is missing"
    shared = Path("/work/shared/spec") / name
    if shared.is_file():  # only where the original share exists
        assert (SPEC / name).read_bytes() == shared.read_bytes(), f"{name} differs from the original"


# --- completeness: spec -> catalog ----------------------------------------------------------

def missing_from_catalog(edition, sentences, requirements) -> list[str]:
    """Keyword occurrences of normative sentences that have no catalog entry."""
    want = Counter()
    where = {}
    for s in sentences:
        if s.normative:
            for kw in s.keywords:
                want[(s.text, kw)] += 1
            where[s.text] = s
    have = Counter()
    for r in requirements:
        if edition in r.editions and not r.binding and not r.informative:
            have[(r.text_for(edition), r.keyword)] += 1
    return [f"{_fmt(where[t])}  (keyword {kw}: {want[(t, kw)] - have[(t, kw)]} missing)"
            for (t, kw) in want if want[(t, kw)] > have[(t, kw)]]


def not_in_spec(edition, sentences, requirements) -> list[str]:
    """Keyword entries whose text is not a normative sentence of ``edition`` at that place."""
    by_text = {}
    for s in sentences:
        if s.normative or (s.informative and s.keywords):
            by_text.setdefault(s.text, []).append(s)
    problems = []
    used = Counter()
    for r in requirements:
        if edition not in r.editions or r.binding:
            continue
        text = r.text_for(edition)
        hits = [s for s in by_text.get(text, ())
                if s.section == r.section[edition] and s.paragraph == r.paragraph[edition]]
        if not hits:
            problems.append(f"{r.id}: no {edition} normative sentence at §{r.section[edition]} "
                            f"P{r.paragraph[edition]} reads: {text}")
            continue
        if r.keyword not in hits[0].keywords:
            problems.append(f"{r.id}: keyword {r.keyword} not in the sentence")
        if r.informative != hits[0].informative:
            problems.append(f"{r.id}: 'informative' must be {hits[0].informative}")
        used[(text, r.keyword)] += 1
    for (text, kw), n in used.items():
        if n > by_text[text][0].keywords.count(kw):
            problems.append(f"{n} entries for {kw} in: {text}")
    return problems


@pytest.mark.parametrize("edition", list(DOCS))
def test_every_normative_sentence_is_in_the_catalog(edition, sentences, catalog):
    """Each keyword occurrence of each normative sentence has exactly one catalog entry."""
    missing = missing_from_catalog(edition, sentences[edition], catalog.requirements)
    assert not missing, "normative sentences missing from the catalog:\n" + "\n".join(missing)


@pytest.mark.parametrize("edition", list(DOCS))
def test_no_invented_normative_entries(edition, sentences, catalog):
    """Every keyword entry quotes a normative sentence of that edition, at that location."""
    problems = not_in_spec(edition, sentences[edition], catalog.requirements)
    assert not problems, "\n".join(problems)


def test_the_comparison_detects_omissions_and_inventions(sentences, catalog):
    """Self-test of the two checks above on a mutilated copy of the catalog."""
    reqs = list(catalog.requirements)
    dropped = catalog["HMIP-4140-6.2-P2-MUST-2"]
    reqs.remove(dropped)
    missing = missing_from_catalog("rfc4140", sentences["rfc4140"], reqs)
    assert len(missing) == 1 and dropped.text in missing[0]
    missing = missing_from_catalog("rfc5380", sentences["rfc5380"], reqs)
    assert len(missing) == 1 and dropped.variants.get("rfc5380", dropped.text) in missing[0]

    import dataclasses
    invented = dataclasses.replace(dropped, id="HMIP-4140-6.2-P2-MUST-9",
                                   text="The MAP MUST reply within 1 second.")
    duplicate = dataclasses.replace(catalog["HMIP-4140-6.2-P3-MUST-1"], id="X")
    moved = dataclasses.replace(catalog["HMIP-4140-6.2-P3-MUST-1"], id="Y",
                                paragraph={"rfc4140": 4, "rfc5380": 3})
    problems = not_in_spec("rfc4140", sentences["rfc4140"],
                           [*catalog.requirements, invented, duplicate, moved])
    assert any("HMIP-4140-6.2-P2-MUST-9" in p for p in problems)
    assert any(p.startswith("Y:") for p in problems)
    assert any(p.startswith("2 entries for MUST") for p in problems)


@pytest.mark.parametrize("edition", list(DOCS))
def test_binding_entries_quote_the_spec(edition, sentences, catalog):
    """Binding statements (no keyword) are sentences of the spec at the cited location."""
    problems = []
    for r in catalog.requirements:
        if edition not in r.editions or not r.binding:
            continue
        text = r.text_for(edition)
        hits = [s for s in sentences[edition] if s.text == text and not s.excluded
                and s.section == r.section[edition] and s.paragraph == r.paragraph[edition]]
        if not hits:
            problems.append(f"{r.id}: no {edition} sentence §{r.section[edition]} "
                            f"P{r.paragraph[edition]} reads: {text}")
        elif hits[0].keywords:
            problems.append(f"{r.id}: has keywords {hits[0].keywords}; use a keyword entry")
    assert not problems, "\n".join(problems)


def test_entry_titles_and_substitutions_match_the_extraction(sentences, catalog):
    problems = []
    for r in catalog.requirements:
        for ed in r.editions:
            s = next((s for s in sentences[ed] if s.text == r.text_for(ed)
                      and s.section == r.section[ed]), None)
            if s is None:
                continue  # reported by the tests above
            if r.title and r.title.get(ed) != s.title:
                problems.append(f"{r.id}: title for {ed} should be {s.title!r}")
            if ed == "rfc4140" and (r.substitution or None) != (s.substitution or None):
                problems.append(f"{r.id}: substitution must be {s.substitution!r}")
    assert not problems, "\n".join(problems)


def test_ids_follow_the_stable_scheme(sentences, catalog):
    """An id is recomputed from its first edition's location, keyword and ordinal."""
    problems = []
    groups: dict[tuple, list] = {}
    for r in catalog.requirements:
        ed = r.edition
        groups.setdefault((ed, r.section[ed], r.paragraph[ed], r.keyword), []).append(r)
    for (ed, sec, para, kw), reqs in groups.items():
        sents = [s for s in sentences[ed] if s.section == sec and s.paragraph == para]
        order = []   # (sentence index, occurrence in sentence)
        for r in reqs:
            s = next(s for s in sents if s.text == r.text_for(ed))
            occurrence = 0
            if r.clause and kw != BINDING:
                before = s.text[:s.text.index(r.clause)]
                occurrence = ex.find_keywords(before).count(kw)
            order.append((s.index, occurrence, r))
        prefix = "HMIP-4140" if ed == "rfc4140" else "HMIP-5380"
        if kw == BINDING:
            expected = {id(r): n for n, (_i, _o, r) in enumerate(sorted(order, key=lambda t: t[:2]),
                                                                 start=1)}
        else:
            expected = {}
            for _i, occ, r in order:
                s = next(s for s in sents if s.text == r.text_for(ed))
                earlier = sum(x.keywords.count(kw) for x in sents if x.index < s.index)
                expected[id(r)] = earlier + occ + 1
        for _i, _o, r in order:
            kwid = "BIND" if kw == BINDING else kw.replace(" ", "-")
            want = f"{prefix}-{sec}-P{para}-{kwid}-{expected[id(r)]}"
            if r.id != want:
                problems.append(f"{r.id}: expected id {want}")
    assert not problems, "\n".join(problems)


# --- guards on the extraction itself ---------------------------------------------------------

def _raw_keyword_count(path: Path) -> Counter:
    """Keywords in the raw file with only page headers/footers removed (independent check)."""
    lines = [l.text for l in ex.read_lines(path)
             if not ex.FOOTER_RE.match(l.text) and not ex.HEADER_RE.match(l.text)]
    flat = re.sub(r"\s+", " ", " ".join(lines))
    return Counter(re.sub(r"\s+", " ", m.group(1)) for m in ex.KEYWORD_RE.finditer(flat))


@pytest.mark.parametrize("name", [ex.BASE_DOCUMENT, "rfc4140.txt", ex.CURRENT_DOCUMENT,
                                  "rfc6275.txt"])
def test_every_keyword_in_the_file_lands_in_a_sentence(name):
    """No keyword is lost to a figure, a label or a bad split: raw count == extracted count."""
    raw = _raw_keyword_count(SPEC / name)
    got = Counter(kw for s in ex.extract(SPEC / name, substitute=False) for kw in s.keywords)
    assert got == raw, f"{name}: raw {dict(raw)} vs extracted {dict(got)}"


@pytest.mark.parametrize("name", [ex.BASE_DOCUMENT, "rfc4140.txt", ex.CURRENT_DOCUMENT])
def test_only_the_rfc2119_boilerplate_is_excluded(name):
    excluded = [s for s in ex.extract(SPEC / name) if s.excluded and s.keywords]
    assert [(s.section, s.excluded) for s in excluded] == [("2", "RFC 2119 boilerplate")], \
        "\n".join(_fmt(s) + f" ({s.excluded})" for s in excluded)


def test_excluded_parts_are_the_documented_ones():
    reasons = {s.excluded.split(" (")[0] for s in ex.extract(SPEC / ex.BASE_DOCUMENT)
               if s.excluded}
    assert reasons == {"front matter", "back matter", "IANA considerations", "references",
                       "acknowledgements", "authors' addresses", "RFC 2119 boilerplate"}


def test_appendix_a_is_extracted_as_informative(sentences, catalog):
    appendix = [s for s in sentences["rfc4140"] if s.section == "A"]
    assert len(appendix) > 40 and all(s.informative and not s.excluded for s in appendix)
    keyword_sentences = [s for s in appendix if s.keywords]
    informative_entries = [r for r in catalog.requirements if r.informative]
    # Appendix A holds no RFC 2119 keyword; if it ever did, its entries must be informative.
    assert len(keyword_sentences) == len(informative_entries) == 0
    assert all(s.informative for s in sentences["rfc5380"] if s.section == "A")


def test_figures_hold_no_requirements():
    for name in (ex.BASE_DOCUMENT, ex.CURRENT_DOCUMENT):
        for sec in ex.parse(SPEC / name):
            for block in ex.split_blocks(sec):
                if block.kind in ("figure", "caption", "label"):
                    text = " ".join(l.text for l in block.lines)
                    assert not ex.find_keywords(text), (name, sec.number, text)


def test_normative_sentence_counts():
    """The texts are frozen: pin the counts so any change of the rules is noticed."""
    counts = {}
    for name in (ex.BASE_DOCUMENT, ex.CURRENT_DOCUMENT):
        norm = ex.normative_sentences(SPEC / name)
        counts[name] = (len(norm), Counter(k for s in norm for k in s.keywords))
    base_n, base_kw = counts[ex.BASE_DOCUMENT]
    cur_n, cur_kw = counts[ex.CURRENT_DOCUMENT]
    assert base_n == 59 and sum(base_kw.values()) == 60
    assert base_kw == Counter({"MUST": 34, "SHOULD": 10, "MAY": 7, "MUST NOT": 6,
                               "SHOULD NOT": 2, "RECOMMENDED": 1})
    assert cur_n == 48 and sum(cur_kw.values()) == 48
    assert cur_kw == Counter({"MUST": 21, "SHOULD": 10, "MAY": 9, "MUST NOT": 6,
                              "SHOULD NOT": 1, "RECOMMENDED": 1})


def test_lost_draft_lines_are_taken_from_rfc4140(sentences):
    subs = {(s.section, s.paragraph): s for s in sentences["rfc4140"] if s.substitution}
    expected = {("2", 1), ("2", 3), ("2", 4), ("6.1", 8), ("6.1", 9), ("6.1.1", 1), ("6.5", 3),
                ("6.5", 4), ("8", 2), ("9.1", 1), ("9.1", 5), ("9.1", 6), ("12.1", 3),
                ("12.2", 1), ("13", 2), ("A", 11)}
    assert set(subs) == expected
    s = subs[("6.1", 8)]
    assert s.text == "In this case, the RCoA remains unchanged."
    assert s.substitution == {"source": "rfc4140.txt", "section": "6.1", "paragraph": 8,
                              "original": "In this case, the RCoA remains",
                              "reason": "sentence truncated in the draft (lost line at the end)"}
    boiler = subs[("2", 1)]
    assert "lost a line inside the sentence" in boiler.substitution["reason"]
    assert boiler.excluded == "RFC 2119 boilerplate"
    # unterminated in RFC 4140 too: kept, flagged
    s71 = [s for s in sentences["rfc4140"] if s.section == "7.1" and s.unterminated]
    assert len(s71) == 1 and s71[0].substitution is None


# --- inherited clauses ------------------------------------------------------------------------

INHERITED_FILES = {"rfc6275": "rfc6275.txt", "rfc4861": "rfc4861-6.1.txt"}


def test_inherited_clauses_quote_their_rfc(catalog, rfc6275):
    """Every quoted inherited clause is in its RFC's text (RFC 6275, or the RFC 4861 §6.1 excerpt) at the
    section and paragraph it names."""
    texts = {"rfc6275": rfc6275, "rfc4861": ex.extract(SPEC / INHERITED_FILES["rfc4861"])}
    problems = []
    flows: dict[tuple[str, str], str] = {}
    for r in catalog.inherited:
        assert r.inherited
        if r.reference_only:
            assert r.text is None and r.editions[0] in ("rfc2473", "rfc4861")
            continue
        ed = r.editions[0]
        assert ed in INHERITED_FILES, f"{r.id}: no text for {ed}"
        sec = r.section[ed]
        flow = flows.setdefault((ed, sec), ex.flow_text(SPEC / INHERITED_FILES[ed], sec))
        sents = [s for s in texts[ed] if s.section == sec and s.paragraph == r.paragraph[ed]]
        in_sentence = any(r.text == s.text or r.text in s.text for s in sents)
        in_row = any(s.field and f"{s.field} {s.text}" == r.text for s in sents)
        if not (in_sentence or in_row) or r.text not in flow:
            problems.append(f"{r.id}: not found in {ed} §{sec} P{r.paragraph[ed]}: {r.text}")
        if r.keyword != BINDING and r.keyword not in ex.find_keywords(r.clause or r.text):
            problems.append(f"{r.id}: keyword {r.keyword} not in the quoted text")
        if r.keyword == BINDING and ex.find_keywords(r.text):
            problems.append(f"{r.id}: binding entry quotes a keyword sentence")
    assert not problems, "\n".join(problems)
    assert any(r.editions[0] == "rfc4861" and not r.reference_only for r in catalog.inherited)


def test_rfc4861_excerpt_is_the_rfc_text() -> None:
    """The excerpt carries RFC 4861 §6.1 (pages 39-40) word for word: spot-check the sentences judged."""
    text = (SPEC / INHERITED_FILES["rfc4861"]).read_text()
    for line in ("6.1.2.  Validation of Router Advertisement Messages",
                 "   A node MUST silently discard any received Router Advertisement",
                 "   messages that do not satisfy all of the following validity checks:",
                 "      - IP Source Address is a link-local address.  Routers must use",
                 "      - The IP Hop Limit field has a value of 255, i.e., the packet",
                 "        could not possibly have been forwarded by a router."):
        assert line in text.splitlines(), line


def test_inherited_covers_the_cited_rfc6275_sections(catalog):
    sections = {r.section["rfc6275"] for r in catalog.inherited if "rfc6275" in r.editions}
    for sec in ("6.1.1", "6.1.7", "6.1.8", "9.2", "9.5.1", "10.3.1", "10.4.1", "10.4.5",
                "11.7.1", "11.8", "12", "13"):
        assert sec in sections, f"RFC 6275 §{sec} is not in the inherited section"
    refs = {(r.editions[0], r.section[r.editions[0]]) for r in catalog.inherited
            if r.reference_only}
    assert ("rfc4861", "7.2.8") in refs and ("rfc2473", "3.1") in refs


# --- known inconsistencies ----------------------------------------------------------------------

def test_every_known_inconsistency_is_resolved(catalog):
    incs = {i.id: i for i in catalog.inconsistencies}
    readme = (SPEC / "README.md").read_text()
    assert "section 10" in readme and "Pref-0" in readme
    # README: §3.1 -> "section 10"; §7.2 highest Pref vs §9.1 Dist first; §7.2 Pref-0 refresh.
    assert "section 10" in incs["INC-1"].description and "9.1" in incs["INC-1"].description
    assert "Dist first" in incs["INC-2"].description
    assert "refresh" in incs["INC-3"].description
    for inc in catalog.inconsistencies:
        assert inc.resolution.strip()
        for rid in inc.affects:
            r = catalog[rid]
            assert r.resolution and inc.id in r.resolution, \
                f"{rid} is affected by {inc.id} but its resolution does not say how"
    assert all(r.id in {a for i in incs.values() for a in i.affects}
               for r in catalog.all() if r.resolution and "INC-" in r.resolution)


def test_untestable_entries_give_a_reason(catalog):
    for r in catalog.all():
        if not r.testable:
            assert r.reason and len(r.reason) > 15, r.id


def test_repository_layout():
    assert (ROOT / "conformance" / "requirements" / "catalog.yaml").is_file()
