"""Unit tests of the normalisation rules N1-N11 of conformance/catalog/extract.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.catalog import extract as ex

SPEC = Path(__file__).resolve().parents[3] / "conformance" / "spec"


def _doc(tmp_path: Path, body: str, name: str = "rfc9999.txt") -> Path:
    """A small RFC-like file: front matter, then ``body``."""
    text = "Network Working Group                      A. Author\n\nAbstract\n\n   Nothing.\n\n" + body
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _texts(path: Path, section: str | None = None) -> list[tuple[str, int, str]]:
    return [(s.section, s.paragraph, s.text) for s in ex.extract(path)
            if not s.excluded and (section is None or s.section == section)]


# --- N2: page breaks ---------------------------------------------------------------------------

RFC_BREAK = ("\n\n\n\nAuthor, et al.              Standards Track                    [Page 3]\n"
             "\f\nRFC 9999                      Example                      May 2020\n\n\n")
DRAFT_BREAK = ("\n\nSoliman, et. al                                                 [Page 7]\n\n"
               "INTERNET-DRAFT                   HMIPv6                  December, 2004\n\n")


@pytest.mark.parametrize("brk", [RFC_BREAK, DRAFT_BREAK], ids=["rfc", "draft"])
def test_page_break_inside_a_sentence_is_joined(tmp_path, brk):
    body = ("1. Intro\n\n   The mobile node SHOULD send a local BU to its previous MAP, and the" + brk +
            "   previous MAP forwards packets.  Next sentence.\n")
    assert _texts(_doc(tmp_path, body)) == [
        ("1", 1, "The mobile node SHOULD send a local BU to its previous MAP, and the previous "
                 "MAP forwards packets."),
        ("1", 1, "Next sentence.")]


@pytest.mark.parametrize("brk", [RFC_BREAK, DRAFT_BREAK], ids=["rfc", "draft"])
def test_page_break_after_a_sentence_starts_a_new_paragraph(tmp_path, brk):
    body = "1. Intro\n\n   First paragraph ends here." + brk + "   Second paragraph.\n"
    assert _texts(_doc(tmp_path, body)) == [("1", 1, "First paragraph ends here."),
                                            ("1", 2, "Second paragraph.")]


def test_page_break_joins_a_sentence_ending_in_an_unpunctuated_line(tmp_path):
    body = ("1. Intro\n\n   Its default value SHOULD be set" + RFC_BREAK +
            "   To 1 if used.\n")            # upper case, but the line before is unfinished
    assert _texts(_doc(tmp_path, body)) == [("1", 1, "Its default value SHOULD be set To 1 if used.")]


def test_page_break_before_a_list_item_or_less_indented_line_ends_the_paragraph(tmp_path):
    body = ("1. Intro\n\n   o  first item\n      continues here" + RFC_BREAK +
            "   o  second item.\n")
    assert [t[1:] for t in _texts(_doc(tmp_path, body))] == [
        (1, "first item continues here"), (2, "second item.")]


def test_headers_footers_and_form_feeds_are_removed(tmp_path):
    body = "1. Intro\n\n   Alpha beta" + RFC_BREAK + "   gamma.\n"
    flat = " ".join(t for *_x, t in _texts(_doc(tmp_path, body)))
    assert "Page" not in flat and "RFC 9999" not in flat and "\f" not in flat


def test_real_page_break_in_the_base_document_is_joined():
    """Draft page 8/9 splits the Dist sentence of section 5."""
    s = [s for s in ex.extract(SPEC / ex.BASE_DOCUMENT) if s.section == "5" and "SHOULD" in s.keywords]
    assert [x.text for x in s] == ["Its default value SHOULD be set to 1 if Dynamic MAP discovery "
                                   "is used."]
    assert s[0].paragraph == 4 and s[0].field == "Dist"


# --- N3/N4/N5/N6: sections, exclusions, paragraphs, block kinds ---------------------------------

def test_sections_paragraphs_and_figures(tmp_path):
    body = ("1. Intro\n\n   Para one.\n\n   +-----+\n   | MAP |\n   +-----+\n\n"
            "          Figure 1: A box\n\n   Para four.\n\n1.1. Sub\n\n   Sub para.\n\n"
            "2. References\n\n   [1] Someone, \"Something\", RFC 1.\n\n"
            "Authors' Addresses\n\n   Somebody\n")
    got = [(s.section, s.title, s.paragraph, s.text, s.excluded) for s in ex.extract(_doc(tmp_path, body))
           if s.section]
    assert got == [("1", "Intro", 1, "Para one.", None), ("1", "Intro", 4, "Para four.", None),
                   ("1.1", "Sub", 1, "Sub para.", None),
                   ("2", "References", 1, '[1] Someone, "Something", RFC 1.', "references")]
    back = [s for s in ex.extract(_doc(tmp_path, body)) if s.text == "Somebody"]
    assert back[0].excluded.startswith("back matter")


def test_blank_line_inside_a_sentence_does_not_end_the_paragraph(tmp_path):
    body = "1. Intro\n\n   If a mobile\n\n   node sent a BU, the MAP could reject it.\n\n   Next.\n"
    assert _texts(_doc(tmp_path, body)) == [
        ("1", 1, "If a mobile node sent a BU, the MAP could reject it."), ("1", 2, "Next.")]


def test_definition_list_label_is_kept_apart(tmp_path):
    body = ("1. Fields\n\n      R               When set to 1 it indicates that the mobile node\n"
            "                      MUST form an RCoA.\n\n"
            "      Mobility Anchor Point  A MAP is a router located\n"
            "      (MAP)                  in a visited network.\n")
    got = [(s.field, s.text, s.keywords) for s in ex.extract(_doc(tmp_path, body)) if s.section == "1"]
    assert got == [("R", "When set to 1 it indicates that the mobile node MUST form an RCoA.", ["MUST"]),
                   ("Mobility Anchor Point (MAP)", "A MAP is a router located in a visited network.", [])]


def test_label_block_rfc5380_style(tmp_path):
    body = "1. Fields\n\n   Dist\n\n      A distance value of zero MUST NOT be used.\n"
    got = [(s.paragraph, s.field, s.text) for s in ex.extract(_doc(tmp_path, body)) if s.section == "1"]
    assert got == [(2, "Dist", "A distance value of zero MUST NOT be used.")]


def test_list_items_are_split_and_markers_removed(tmp_path):
    body = ("1. Algo\n\n   1. Receive and parse all MAP options\n   2. Arrange MAPs in a descending order,\n"
            "     starting with the furthest MAP (i.e. largest Dist)\n   3. Select first MAP in list\n")
    got = [(s.marker, s.text, s.unterminated) for s in ex.extract(_doc(tmp_path, body)) if s.section == "1"]
    assert got == [("1.", "Receive and parse all MAP options", True),
                   ("2.", "Arrange MAPs in a descending order, starting with the furthest MAP "
                          "(i.e. largest Dist)", True),
                   ("3.", "Select first MAP in list", True)]


# --- N7/N8: joining, hyphenation, whitespace ---------------------------------------------------

@pytest.mark.parametrize("lines, joined", [
    (["   the time-", "   critical handover"], "the time-critical handover"),
    (["formats can be re-", "used."], "formats can be re-used."),
    (["a non-", "null algorithm"], "a non-null algorithm"),
    (["node -", "MAP"], "node - MAP"),
    (["see --", "below"], "see -- below"),
    (["two  spaces.  After", "   a   stop"], "two spaces. After a stop"),
])
def test_line_joining_and_hyphenation(lines, joined):
    assert ex.join_lines(lines) == joined


def test_hyphenation_in_a_real_rfc():
    text = [s.text for s in ex.extract(SPEC / "rfc4140.txt") if s.section == "1"]
    assert any("time-critical handover period" in t for t in text)


# --- N9: sentence splitting ---------------------------------------------------------------------

@pytest.mark.parametrize("text, parts", [
    ("The MN MUST NOT use one RCoA (e.g. RCoA1) derived from a MAP's prefix (e.g. MAP1) as a "
     "care-of address. Next one.",
     ["The MN MUST NOT use one RCoA (e.g. RCoA1) derived from a MAP's prefix (e.g. MAP1) as a "
      "care-of address.", "Next one."]),
    ("Moves (i.e. Its MAP changes). Then.", ["Moves (i.e. Its MAP changes).", "Then."]),
    ("Rules (e.g., SEND) apply. See Soliman et al. The end.",
     ["Rules (e.g., SEND) apply.", "See Soliman et al. The end."]),
    ("As described in section 9.1. The mobile node should not.",
     ["As described in section 9.1.", "The mobile node should not."]),
    ("Defined in section 6.1.1 of [1]. It MUST.", ["Defined in section 6.1.1 of [1].", "It MUST."]),
    ("About 1.5 round-trip times. Hence.", ["About 1.5 round-trip times.", "Hence."]),
    ("IPv6 Neighbor Discovery option. 23.", ["IPv6 Neighbor Discovery option.", "23."]),
    ("failures between probes, i.e.,if a MAP reboots.",
     ["failures between probes, i.e.,if a MAP reboots."]),
    ('It said "stop." Then it did.', ['It said "stop."', "Then it did."]),
])
def test_sentence_split(text, parts):
    assert ex.split_sentences(text) == parts


# --- N10: keywords ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, keywords", [
    ("It MUST NOT be used.", ["MUST NOT"]),
    ("It SHOULD NOT be chosen.", ["SHOULD NOT"]),
    ("It SHALL NOT be.", ["SHALL NOT"]),
    ("It MUST be set.", ["MUST"]),
    ("It MAY be set to 1 and MUST NOT be set to zero.", ["MAY", "MUST NOT"]),
    ("It MUST be zero and MUST be ignored.", ["MUST", "MUST"]),
    ("It is RECOMMENDED, REQUIRED or OPTIONAL.", ["RECOMMENDED", "REQUIRED", "OPTIONAL"]),
    ("It must, should or may.", []),
    ("MAYBE MUSTARD SHOULDER MAP.", []),
    ("It MUST\n   NOT wrap.", ["MUST NOT"]),
])
def test_keywords_longest_match_first(text, keywords):
    assert ex.find_keywords(text) == keywords


def test_rfc2119_boilerplate_is_excluded_but_kept():
    s = [s for s in ex.extract(SPEC / "rfc5380.txt") if s.text.startswith('The key words "MUST"')]
    assert len(s) == 1 and s[0].excluded == "RFC 2119 boilerplate" and not s[0].normative


# --- N11: lost lines --------------------------------------------------------------------------------

def _sent(text, section="6.1", paragraph=8, index=2, doc="draft-04"):
    return ex.Sentence(doc=doc, edition="rfc4140", section=section, title="t", paragraph=paragraph,
                       index=index, text=text, keywords=ex.find_keywords(text),
                       unterminated=not ex.SENTENCE_END_RE.search(text))


def test_truncated_sentence_is_taken_from_the_reference():
    draft = [_sent("When the mobile node moves within the same MAP domain, it should only register "
                   "its new LCoA with its MAP.", index=1), _sent("In this case, the RCoA remains")]
    ref = [_sent("When the mobile node moves within the same MAP domain, it should only register its "
                 "new LCoA with its MAP.", index=1, doc="rfc4140"),
           _sent("In this case, the RCoA remains unchanged.", doc="rfc4140")]
    ex.apply_substitutions(draft, ref, "rfc4140.txt")
    assert draft[0].substitution is None
    assert draft[1].text == "In this case, the RCoA remains unchanged."
    assert draft[1].substitution["original"] == "In this case, the RCoA remains"
    assert draft[1].substitution["source"] == "rfc4140.txt"


def test_line_lost_inside_a_sentence_is_detected():
    draft = [_sent('The key words "MUST", "MUST NOT", "REQUIRED", "SHALL", "SHALL NOT", document '
                   'are to be interpreted as described in RFC 2119 [10].', section="2", index=1)]
    ref = [_sent('The key words "MUST", "MUST NOT", "REQUIRED", "SHALL", "SHALL NOT", "SHOULD", '
                 '"SHOULD NOT", "RECOMMENDED", "MAY", and "OPTIONAL" in this document are to be '
                 'interpreted as described in RFC 2119 [3].', section="2", index=1, doc="rfc4140")]
    ex.apply_substitutions(draft, ref, "rfc4140.txt")
    assert draft[0].substitution and "lost a line inside" in draft[0].substitution["reason"]
    assert "OPTIONAL" in draft[0].keywords


def test_editorial_differences_are_not_substitutions():
    draft = [_sent("A MAP MAY however choose to register, depending on the value received.", index=1)]
    ref = [_sent("However, a MAP MAY choose to register, depending on the value received.", index=1,
                 doc="rfc4140")]
    ex.apply_substitutions(draft, ref, "rfc4140.txt")
    assert draft[0].substitution is None
    assert draft[0].text.startswith("A MAP MAY however")


def test_sentence_unterminated_in_both_is_kept():
    s = [s for s in ex.extract(SPEC / ex.BASE_DOCUMENT) if s.section == "7.1" and s.unterminated]
    assert [x.text[-45:] for x in s] == ["the MAP's global IP address and subnet prefix"]
    assert s[0].substitution is None
