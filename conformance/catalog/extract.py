"""Extract the normative sentences of the HMIPv6 specifications.

The extractor turns a plain-text IETF document (Internet-Draft or RFC) into a list of
:class:`Sentence` records, each with its section number and title, its paragraph number
within the section and the RFC 2119 keywords it holds.  The requirements catalog
(``conformance/requirements/catalog.yaml``) quotes these sentences exactly, and the unit
test ``tests/unit/catalog/test_catalog_complete.py`` re-runs the extractor on the copied
specification texts (``conformance/spec/``) to prove that no keyword sentence is missing
from the catalog and that the catalog quotes nothing that is not in the specifications.

Normalisation rules
===================

The rules are applied in this order.  Each is covered by a unit test.

N1  Reading.  The file is read as UTF-8.  CR/LF become LF, tabs are expanded, a no-break
    space (U+00A0, present in the draft's front matter) becomes a space, form feeds are
    removed and trailing blanks are stripped.

N2  Page breaks.  A page footer is a line that starts in column 0 and ends with
    ``[Page N]`` (``Soliman, et. al   [Page 7]``, ``Soliman, et al.  Experimental
    [Page 3]``).  A page header is the first non-blank line after a footer when it starts
    with ``INTERNET-DRAFT`` or ``RFC NNNN`` followed by two or more blanks
    (``INTERNET-DRAFT   HMIPv6   December, 2004``, ``RFC 4140   HMIPv6   August 2005``).
    The footer, the header, the form feed and every blank line between the last text line
    before the footer and the first text line after the header are removed.  The two text
    lines are then *joined* (same paragraph) when the text continues across the break, and
    separated by one blank line (new paragraph) otherwise.  The text does *not* continue
    when a section heading or a figure caption is on either side of the break, when only
    one of the two lines is ASCII art (rule N6), when the line after the break starts with
    a list marker (rule N6) or is indented less than the line before it.  Otherwise it
    continues when both lines are ASCII art, when the line after the break starts with a
    lower-case letter, or when the line before the break does not end a sentence (its last
    character, ignoring closing quotes, parentheses and brackets, is not one of
    ``. : ! ?``).  A page break after a complete sentence followed by an upper-case line at
    the same indentation is therefore a paragraph break; the layout gives no better
    evidence.  Checked: in RFC 4140 every such break is a real paragraph break (the draft,
    whose page breaks fall elsewhere, has the same paragraphs); the one such break in RFC
    5380 (section 12.1, "... communicating peers." / "Hence, EAP ...") may be a single
    paragraph in the original -- by this rule it is two.

N3  Sections.  A section heading is a line that starts in column 0 with a section number
    (``6.1.``, ``6.1.1.``, ``10.``, ``A.1.``) or with ``Appendix X`` followed by its title.
    Any other non-blank line in column 0 is an unnumbered heading (``Status of this
    memo``, ``Abstract``, ``Table of Contents``, ``Intellectual Property Statement``,
    ``Full Copyright Statement``, ``Authors' Addresses``, ...).  Everything before the
    first numbered section is *front matter* and everything under an unnumbered heading
    after it is *back matter*.

N4  Exclusions.  Front and back matter (status of memo, copyright and IPR boilerplate,
    abstract, table of contents, disclaimer, authors' addresses), the IANA considerations
    section, the acknowledgements, the authors' addresses and the references sections are
    extracted but marked ``excluded`` with the reason, so that nothing disappears silently.
    The RFC 2119 boilerplate sentence of the terminology section (``The key words "MUST",
    ...``) is excluded too.  Appendices listed as informative for the document (Appendix A
    of the base document: fast handovers; Appendix A of RFC 5380: changes from RFC 4140)
    are extracted and marked ``informative`` -- their sentences are not requirements.

N5  Paragraphs.  After N2, a paragraph is a block of lines separated from the next block
    by one or more blank lines; paragraphs are numbered from 1 within each section (the
    heading itself is not counted; a subsection starts its own count).  Figures, figure
    captions and field-name labels are blocks, so they are counted as paragraphs, but they
    contain no sentences.  Exception: a blank line *inside a sentence* (the block before it
    does not end a sentence and the block after it starts with a lower-case letter at the
    same indentation -- RFC 5380 section 6.2 has one) does not end the paragraph.

N6  Block kinds.  A block is a *figure* when at least half of its lines are ASCII art
    (lines holding ``|``, ``+-``, ``-+``, ``-->``, ``<--``, ``- - -``, a leading/trailing
    ``+``, a ``.  ...  .`` frame or only a bit ruler of digits); a *caption* when it starts
    with ``Figure``; a *list* when its first line starts with a list marker (``1.``,
    ``1)``, ``(1)``, ``-``, ``*`` or ``o`` followed by two blanks); a *definition* when it
    uses the two-column layout ``Label   text`` with a hanging indent (the label may
    continue in the left column of the following lines); a *table* when it has that layout
    on at least three lines and at least two thirds of them carry a label
    (``MAX_BINDACK_TIMEOUT   32 seconds``); a *label* when it is a single short line
    without final punctuation followed by a more indented block (RFC 5380 style
    definitions).  Everything else is *prose*.  A list block is split into one unit per
    item (each item starts at a marker line at the indentation of the first marker); the
    marker is removed from the text and kept as ``marker``.  In a definition block the
    label is removed from the text and kept as ``field`` (a label block sets ``field`` for
    the following block); each labelled row of a table is a unit with its label as
    ``field``.

N7  Line joining.  The lines of a unit are stripped and joined with one space, except that
    a line ending with a hyphen directly after a letter or digit is joined to the next line
    without a space and the hyphen is kept (``time-`` + ``critical`` -> ``time-critical``,
    ``re-`` + ``used`` -> ``re-used``): RFCs break lines only at hyphens that belong to the
    word.  A line ending with ``--`` or a free-standing ``-`` is joined with a space.

N8  Whitespace.  Every run of whitespace becomes one space (so the two blanks after a full
    stop in RFC 4140/5380 become one); the text is stripped.  Nothing else is changed:
    case, spelling, quotes, citations (``[1]``, ``[RFC3775]``) stay as written.

N9  Sentences.  A unit is split after ``.``, ``!`` or ``?`` (optionally followed by
    closing quotes, parentheses or brackets) when whitespace and then an upper-case letter,
    a digit, an opening quote, parenthesis or bracket follows.  There is no split after the
    abbreviations ``e.g.``, ``i.e.``, ``et al.``, ``et.``, ``etc.``, ``cf.``, ``vs.``,
    ``Fig.``, ``No.`` and after a list marker; a full stop inside a token (``6.1.1``,
    ``1.5``) or before a comma (``e.g.,``, ``i.e.,if``) never splits.  Section numbers at
    the end of a sentence (``described in section 9.1. The ...``) end the sentence.

N10 Keywords.  RFC 2119 keywords are matched as upper-case whole words, longest match
    first: ``MUST NOT``, ``SHALL NOT``, ``SHOULD NOT`` before ``MUST``, ``SHALL``,
    ``SHOULD``; then ``MAY``, ``REQUIRED``, ``RECOMMENDED``, ``OPTIONAL``.  Lower-case
    words (``must``, ``should``, ``may``) are not keywords.  A sentence keeps every keyword
    occurrence in text order (``MAY ... and MUST NOT ...`` -> ``["MAY", "MUST NOT"]``).

N11 Lost lines (base document only).  The draft lost lines -- mostly the last line of a
    paragraph and some lines at page breaks, so sentences stop mid-way.  Each draft
    sentence is aligned word by word with RFC 4140 (same section number).  When the draft
    sentence does not end a sentence but its RFC 4140 counterpart does and is longer, or
    when RFC 4140 holds a run of four or more words inside the sentence that the draft
    lacks (a lost line), the whole sentence is taken from rfc4140.txt and the substitution
    is recorded (``substitution``: source file, RFC 4140 section/paragraph, original draft
    text, reason).  A sentence that is unterminated in both (``... subnet prefix`` in
    section 7.1) keeps its draft text and is flagged ``unterminated``.

Run ``python3 -m conformance.catalog.extract conformance/spec/rfc5380.txt`` to list the
normative sentences of a document (``--all`` for every sentence, ``--json`` for JSON).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field as dc_field
from pathlib import Path
from typing import Iterable

SPEC_DIR = Path(__file__).resolve().parents[1] / "spec"

#: Keywords in matching order: longest first (rule N10).
KEYWORDS = (
    "MUST NOT", "SHALL NOT", "SHOULD NOT",
    "MUST", "SHALL", "SHOULD", "MAY", "REQUIRED", "RECOMMENDED", "OPTIONAL",
)
KEYWORD_RE = re.compile(r"\b(" + "|".join(k.replace(" ", r"\s+") for k in KEYWORDS) + r")\b")


@dataclass(frozen=True)
class DocInfo:
    """What the extractor knows about one specification file."""

    doc: str                        #: document name (``draft-04``, ``rfc5380`` ...)
    edition: str                    #: catalog edition this text stands for
    informative: frozenset = frozenset()   #: informative appendix letters
    substitute_from: str | None = None     #: file to take lost sentences from (rule N11)
    excerpt: bool = False           #: a verbatim excerpt: its first numbered heading opens the body


#: Files the extractor knows.  The base document (draft-04) is the ``rfc4140`` edition:
#: its section numbers equal RFC 4140's (conformance/spec/README.md).
DOCUMENTS: dict[str, DocInfo] = {
    "draft-ietf-mipshop-hmipv6-04.txt": DocInfo(
        "draft-04", "rfc4140", frozenset({"A"}), "rfc4140.txt"),
    "rfc4140.txt": DocInfo("rfc4140", "rfc4140", frozenset({"A"})),
    "rfc5380.txt": DocInfo("rfc5380", "rfc5380", frozenset({"A"})),
    "rfc6275.txt": DocInfo("rfc6275", "rfc6275"),
    "rfc4877.txt": DocInfo("rfc4877", "rfc4877"),
    "rfc5568.txt": DocInfo("rfc5568", "rfc5568"),
    "rfc4861-6.1.txt": DocInfo("rfc4861", "rfc4861", excerpt=True),
}
BASE_DOCUMENT = "draft-ietf-mipshop-hmipv6-04.txt"
CURRENT_DOCUMENT = "rfc5380.txt"


@dataclass
class Sentence:
    """One sentence of a specification, located and annotated."""

    doc: str
    edition: str
    section: str            #: ``"6.1"``, ``"A"``; ``""`` for unnumbered front/back matter
    title: str
    paragraph: int          #: 1-based block number within the section (rule N5)
    index: int              #: 1-based sentence number within the paragraph
    text: str
    keywords: list[str] = dc_field(default_factory=list)
    kind: str = "prose"     #: prose | list | definition | table
    line: int = 0           #: 1-based line in the source file where the sentence starts
    field: str | None = None
    marker: str | None = None
    informative: bool = False
    excluded: str | None = None
    unterminated: bool = False
    substitution: dict | None = None

    @property
    def normative(self) -> bool:
        """A keyword sentence that is neither excluded nor informative."""
        return bool(self.keywords) and not self.excluded and not self.informative

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------
# Rule N1/N2: reading and page breaks

FOOTER_RE = re.compile(r"^\S.*\[Page \d+\]\s*$")
HEADER_RE = re.compile(r"^(?:INTERNET-DRAFT|RFC \d{4})\s{2,}\S")
HEADING_RE = re.compile(r"^(?P<num>\d+(?:\.\d+)*)\.?\s+(?P<title>\S.*)$")
APPENDIX_RE = re.compile(r"^Appendix\s+(?P<num>[A-Z])\b\.?\s*(?:[-:.]\s*)?(?P<title>.*)$")
APPENDIX_SUB_RE = re.compile(r"^(?P<num>[A-Z](?:\.\d+)+)\.?\s+(?P<title>\S.*)$")
SENTENCE_END_RE = re.compile(r"[.:!?][\"')\]]*$")
CAPTION_RE = re.compile(r"^\s*Figure\s+[A-Z]?\.?\d")


@dataclass
class Line:
    no: int     #: 1-based line number in the source file
    text: str


def read_lines(path: str | Path) -> list[Line]:
    """Rule N1."""
    raw = Path(path).read_text(encoding="utf-8")
    raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for no, text in enumerate(raw.split("\n"), start=1):
        text = text.replace("\f", "").replace("\u00a0", " ").expandtabs(8).rstrip()
        out.append(Line(no, text))
    return out


def is_art(text: str) -> bool:
    """True for a line of an ASCII-art figure (rule N6)."""
    s = text.strip()
    if not s:
        return False
    if "|" in s or re.search(r"\+-|-\+|-->|<--|- - -", s):
        return True
    if s.startswith("+") or s.endswith("+"):
        return True
    if re.fullmatch(r"(?:\d\s+)+\d", s):            # bit ruler 0 1 2 3 ...
        return True
    if re.fullmatch(r"\.\s+.*\s+\.", s):             # .   Mobility Options   .
        return True
    return False


def _is_heading(text: str) -> bool:
    return bool(text) and not text[0].isspace() and bool(
        HEADING_RE.match(text) or APPENDIX_RE.match(text) or APPENDIX_SUB_RE.match(text))


def text_continues(before: str, after: str) -> bool:
    """Rule N2: does the text continue across a page break between these two lines?"""
    b, a = before.rstrip(), after.strip()
    if not b.strip() or not a:
        return False
    if _is_heading(after) or _is_heading(before) or CAPTION_RE.match(before):
        return False
    if is_art(before) or is_art(after):
        return is_art(before) and is_art(after)
    if LIST_MARKER_RE.match(after):
        return False
    if len(after) - len(after.lstrip()) < len(before) - len(before.lstrip()):
        return False
    if a[0].islower():
        return True
    return not SENTENCE_END_RE.search(b)


def remove_page_breaks(lines: list[Line]) -> list[Line]:
    """Rule N2: drop footers, headers and form feeds; join or separate the text."""
    out: list[Line] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if not FOOTER_RE.match(line.text):
            out.append(line)
            i += 1
            continue
        while out and not out[-1].text.strip():
            out.pop()
        j = i + 1
        while j < n and not lines[j].text.strip():
            j += 1
        if j < n and HEADER_RE.match(lines[j].text):
            j += 1
        while j < n and not lines[j].text.strip():
            j += 1
        if j < n:
            before = out[-1].text if out else ""
            if not text_continues(before, lines[j].text):
                out.append(Line(lines[j].no - 1, ""))
        i = j
    return out


# ---------------------------------------------------------------------------------------
# Rule N3/N4: sections

@dataclass
class Block:
    lines: list[Line]
    kind: str = "prose"
    field: str | None = None

    @property
    def indent(self) -> int:
        return min(len(l.text) - len(l.text.lstrip()) for l in self.lines)


@dataclass
class Section:
    number: str
    title: str
    lines: list[Line] = dc_field(default_factory=list)
    excluded: str | None = None
    informative: bool = False


def split_sections(lines: list[Line], info: DocInfo) -> list[Section]:
    sections: list[Section] = [Section("", "front matter")]
    seen_numbered = False
    for line in lines:
        t = line.text
        if t and not t[0].isspace():
            m = HEADING_RE.match(t) or APPENDIX_RE.match(t) or APPENDIX_SUB_RE.match(t)
            if m and (seen_numbered or m.group("num") == "1" or info.excerpt):
                seen_numbered = True
                sections.append(Section(m.group("num"), m.group("title").strip()))
                continue
            if seen_numbered or not sections[-1].number:
                sections.append(Section("", t.strip()))
                continue
        sections[-1].lines.append(line)
    seen_numbered = False
    for sec in sections:
        if sec.number:
            seen_numbered = True
        sec.excluded = _exclusion(sec, seen_numbered)
        sec.informative = bool(sec.number) and sec.number.split(".")[0] in info.informative
    return sections


def _exclusion(sec: Section, after_body_start: bool) -> str | None:
    title = sec.title.lower()
    if not sec.number:
        return "back matter (IPR, copyright, disclaimer, addresses)" if after_body_start \
            else "front matter (status of memo, copyright notice, abstract, table of contents)"
    if "iana considerations" in title:
        return "IANA considerations (registry boilerplate)"
    if "references" in title:
        return "references"
    if title.startswith("acknowledg"):
        return "acknowledgements"
    if "authors' addresses" in title or "author's address" in title:
        return "authors' addresses"
    return None


# ---------------------------------------------------------------------------------------
# Rule N5/N6: paragraphs and block kinds

LIST_MARKER_RE = re.compile(r"^(?P<ind> *)(?P<marker>\d{1,2}[.)]|\(\d{1,2}\)|[-*]|o(?= {2}))\s+(?=\S)")
DEF_LINE_RE = re.compile(r"^(?P<ind> *)(?P<label>\S(?:.*?\S)?)(?P<gap> {2,})(?P<body>\S.*)$")


def split_blocks(section: Section) -> list[Block]:
    blocks: list[Block] = []
    cur: list[Line] = []
    for line in section.lines:
        if line.text.strip():
            cur.append(line)
        elif cur:
            blocks.append(Block(cur))
            cur = []
    if cur:
        blocks.append(Block(cur))
    for b in blocks:
        b.kind = classify(b)
    # Rule N5 exception: a blank line inside a sentence does not end the paragraph.
    merged: list[Block] = []
    for b in blocks:
        if merged and merged[-1].kind == "prose" and b.kind == "prose" \
                and not SENTENCE_END_RE.search(merged[-1].lines[-1].text) \
                and b.lines[0].text.lstrip()[:1].islower() and b.indent == merged[-1].indent:
            merged[-1].lines.extend(b.lines)
        else:
            merged.append(b)
    for k, b in enumerate(merged):
        if b.kind == "prose" and len(b.lines) == 1 and k + 1 < len(merged):
            words = b.lines[0].text.split()
            if len(words) <= 5 and not SENTENCE_END_RE.search(b.lines[0].text) \
                    and merged[k + 1].indent > b.indent:
                b.kind = "label"
                merged[k + 1].field = b.lines[0].text.strip()
    return merged


def classify(block: Block) -> str:
    texts = [l.text for l in block.lines]
    if sum(is_art(t) for t in texts) * 2 >= len(texts):
        return "figure"
    if CAPTION_RE.match(texts[0]):
        return "caption"
    if LIST_MARKER_RE.match(texts[0]):
        return "list"
    if _definition_parts(block) is not None:
        labelled = sum(1 for t in texts if DEF_LINE_RE.match(t)
                       and len(t) - len(t.lstrip()) == block.indent)
        return "table" if len(texts) >= 3 and labelled * 3 >= len(texts) * 2 else "definition"
    return "prose"


def _definition_parts(block: Block) -> tuple[str, list[Line]] | None:
    """Two-column ``Label   body`` layout with a hanging indent, or None (rule N6)."""
    first = DEF_LINE_RE.match(block.lines[0].text)
    if not first:
        return None
    label = first.group("label")
    if len(label.split()) > 4 or SENTENCE_END_RE.search(label) or label.endswith(","):
        return None
    indent = len(first.group("ind"))
    col = indent + len(label) + len(first.group("gap"))
    if col - indent < 6:
        return None
    labels = [label]
    body = [Line(block.lines[0].no, first.group("body"))]
    for line in block.lines[1:]:
        t = line.text
        lead = len(t) - len(t.lstrip())
        if abs(lead - col) <= 2:
            body.append(Line(line.no, t.strip()))
            continue
        m = DEF_LINE_RE.match(t)
        if m and len(m.group("ind")) == indent:
            start = len(m.group("ind")) + len(m.group("label")) + len(m.group("gap"))
            if abs(start - col) <= 2:
                labels.append(m.group("label"))
                body.append(Line(line.no, m.group("body")))
                continue
        return None
    return " ".join(labels), body


def block_units(block: Block) -> list[tuple[list[Line], str | None, str | None]]:
    """Split a block into text units: (lines, field, marker)."""
    if block.kind in ("figure", "caption", "label"):
        return []
    if block.kind == "definition":
        label, body = _definition_parts(block)
        return [(body, label, None)]
    if block.kind == "table":
        rows: list[tuple[list[Line], str | None, str | None]] = []
        for line in block.lines:
            m = DEF_LINE_RE.match(line.text)
            if m and len(m.group("ind")) == block.indent:
                rows.append(([Line(line.no, m.group("body"))], m.group("label"), None))
            else:
                rows[-1][0].append(line)
        return rows
    if block.kind == "list":
        first = LIST_MARKER_RE.match(block.lines[0].text)
        ind = len(first.group("ind"))
        units: list[tuple[list[Line], str | None, str | None]] = []
        for line in block.lines:
            m = LIST_MARKER_RE.match(line.text)
            if m and len(m.group("ind")) == ind:
                units.append(([Line(line.no, line.text[m.end():])], block.field, m.group("marker")))
            else:
                units[-1][0].append(line)
        return units
    return [(block.lines, block.field, None)]


# ---------------------------------------------------------------------------------------
# Rule N7/N8/N9/N10: joining, whitespace, sentences, keywords

def join_lines(lines: Iterable[str]) -> str:
    """Rules N7 and N8: join wrapped lines, keep word hyphens, collapse whitespace."""
    text = ""
    for raw in lines:
        part = raw.strip()
        if not part:
            continue
        if text and re.search(r"[A-Za-z0-9]-$", text) and not text.endswith("--"):
            text += part
        elif text:
            text += " " + part
        else:
            text = part
    return re.sub(r"\s+", " ", text).strip()


def _join_with_offsets(lines: list[Line]) -> tuple[str, list[tuple[int, int]]]:
    text, offsets = "", []
    for line in lines:
        part = re.sub(r"\s+", " ", line.text.strip())
        if not part:
            continue
        if text and re.search(r"[A-Za-z0-9]-$", text) and not text.endswith("--"):
            offsets.append((len(text), line.no))
            text += part
        elif text:
            text += " "
            offsets.append((len(text), line.no))
            text += part
        else:
            offsets.append((0, line.no))
            text = part
    return text, offsets


ABBREVIATIONS = {"e.g", "i.e", "al", "et", "etc", "cf", "vs", "fig", "no"}
_SPLIT_RE = re.compile(r"[.!?][\"')\]]*(?=\s+[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Rule N9."""
    spans, start = [], 0
    for m in _SPLIT_RE.finditer(text):
        punct = m.start()
        if text[punct] == ".":
            word = re.search(r"(\S*)$", text[:punct]).group(1).lower().lstrip("(\"'[")
            if word in ABBREVIATIONS or re.fullmatch(r"\d{1,2}", word) and punct - start <= 3:
                continue
        spans.append(text[start:m.end()].strip())
        start = m.end()
    rest = text[start:].strip()
    if rest:
        spans.append(rest)
    return [s for s in spans if s]


def find_keywords(sentence: str) -> list[str]:
    """Rule N10: keywords in text order, longest match first."""
    return [re.sub(r"\s+", " ", m.group(1)) for m in KEYWORD_RE.finditer(sentence)]


def normalise(text: str) -> str:
    """Rules N7/N8 applied to a piece of text (used to compare quoted text)."""
    return join_lines(text.split("\n"))


BOILERPLATE_2119 = re.compile(r'^The key words "MUST"')


# ---------------------------------------------------------------------------------------
# Driver

def info_for(path: str | Path) -> DocInfo:
    name = Path(path).name
    if name in DOCUMENTS:
        return DOCUMENTS[name]
    stem = Path(path).stem
    return DocInfo(stem, stem)


def parse(path: str | Path, info: DocInfo | None = None) -> list[Section]:
    info = info or info_for(path)
    return split_sections(remove_page_breaks(read_lines(path)), info)


def _sentences_of(sections: list[Section], info: DocInfo) -> list[Sentence]:
    out: list[Sentence] = []
    for sec in sections:
        for pno, block in enumerate(split_blocks(sec), start=1):
            idx = 0
            for lines, field_, marker in block_units(block):
                text, offsets = _join_with_offsets(lines)
                pos = 0
                for sent in split_sentences(text):
                    pos = text.find(sent, pos)
                    lineno = max((no for off, no in offsets if off <= pos), default=lines[0].no)
                    pos += len(sent)
                    idx += 1
                    s = Sentence(
                        doc=info.doc, edition=info.edition, section=sec.number,
                        title=sec.title, paragraph=pno, index=idx, text=sent,
                        keywords=find_keywords(sent), kind=block.kind, line=lineno,
                        field=field_, marker=marker, informative=sec.informative,
                        excluded=sec.excluded,
                        unterminated=not SENTENCE_END_RE.search(sent))
                    if not s.excluded and BOILERPLATE_2119.match(sent):
                        s.excluded = "RFC 2119 boilerplate"
                    out.append(s)
    return out


def extract(path: str | Path, *, substitute: bool = True) -> list[Sentence]:
    """Every sentence of the document at ``path`` (excluded ones included, flagged).

    For the base document the lost-line substitution of rule N11 is applied from the
    sibling ``rfc4140.txt`` unless ``substitute`` is false.
    """
    path = Path(path)
    info = info_for(path)
    sentences = _sentences_of(parse(path, info), info)
    if substitute and info.substitute_from:
        ref_path = path.with_name(info.substitute_from)
        ref_info = info_for(ref_path)
        ref = _sentences_of(parse(ref_path, ref_info), ref_info)
        apply_substitutions(sentences, ref, ref_path.name)
    return sentences


def normative_sentences(path: str | Path) -> list[Sentence]:
    """The requirement sentences: keyword, not excluded, not informative."""
    return [s for s in extract(path) if s.normative]


def section_text(path: str | Path, section: str) -> str:
    """Normalised text of every block of one section (rules N1-N8), joined by spaces."""
    info = info_for(path)
    for sec in parse(path, info):
        if sec.number == section:
            parts = []
            for block in split_blocks(sec):
                for lines, _f, _m in block_units(block):
                    parts.append(join_lines(l.text for l in lines))
            return " ".join(parts)
    raise KeyError(f"{Path(path).name}: no section {section}")


def flow_text(path: str | Path, section: str) -> str:
    """All lines of one section after rules N1-N3, joined by rules N7/N8 (no block parsing).

    Used to check quotations of tables and of field descriptions in RFC 6275.
    """
    info = info_for(path)
    for sec in parse(path, info):
        if sec.number == section:
            return join_lines(l.text for l in sec.lines)
    raise KeyError(f"{Path(path).name}: no section {section}")


# ---------------------------------------------------------------------------------------
# Rule N11: lost lines

def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def apply_substitutions(sentences: list[Sentence], ref: list[Sentence], ref_name: str) -> None:
    """Rule N11: replace draft sentences that lost words by the RFC 4140 sentence."""
    by_section: dict[str, list[int]] = {}
    for k, s in enumerate(ref):
        by_section.setdefault(s.section, []).append(k)
    for sec in dict.fromkeys(s.section for s in sentences):
        if not sec or sec not in by_section:
            continue
        mine = [s for s in sentences if s.section == sec]
        theirs = [ref[k] for k in by_section[sec]]
        a, a_owner, b, b_owner = [], [], [], []
        for k, s in enumerate(mine):
            toks = _tokens(s.text)
            a.extend(toks)
            a_owner.extend([k] * len(toks))
        for k, s in enumerate(theirs):
            toks = _tokens(s.text)
            b.extend(toks)
            b_owner.extend([k] * len(toks))
        sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
        votes: dict[int, Counter] = {}
        lost: dict[int, int] = {}
        for tag, i1, i2, j1, j2 in sm.get_opcodes():
            if tag == "equal":
                for off in range(i2 - i1):
                    votes.setdefault(a_owner[i1 + off], Counter())[b_owner[j1 + off]] += 1
            elif tag == "insert" and j2 - j1 >= 4 and 0 < i1 < len(a) \
                    and a_owner[i1 - 1] == a_owner[i1]:
                lost[a_owner[i1]] = j2 - j1
        for k, s in enumerate(mine):
            if k not in votes:
                continue
            other = theirs[votes[k].most_common(1)[0][0]]
            truncated = s.unterminated and not other.unterminated \
                and len(_tokens(other.text)) > len(_tokens(s.text))
            if truncated or k in lost:
                reason = ("sentence truncated in the draft (lost line at the end)" if truncated
                          else f"the draft lost a line inside the sentence ({lost[k]} words)")
                s.substitution = {
                    "source": ref_name, "section": other.section,
                    "paragraph": other.paragraph, "original": s.text, "reason": reason,
                }
                s.text = other.text
                s.keywords = find_keywords(other.text)
                s.unterminated = other.unterminated
                if not s.excluded and BOILERPLATE_2119.match(s.text):
                    s.excluded = "RFC 2119 boilerplate"


# ---------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file", nargs="?", default=str(SPEC_DIR / BASE_DOCUMENT))
    ap.add_argument("--all", action="store_true", help="every sentence, not only normative")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    sents = extract(args.file)
    if not args.all:
        sents = [s for s in sents if s.normative]
    if args.json:
        json.dump([s.to_dict() for s in sents], sys.stdout, indent=2)
        print()
        return 0
    for s in sents:
        flags = []
        if s.excluded:
            flags.append(f"excluded: {s.excluded}")
        if s.informative:
            flags.append("informative")
        if s.substitution:
            flags.append("substituted from " + s.substitution["source"])
        if s.unterminated:
            flags.append("unterminated")
        kw = ",".join(s.keywords) or "-"
        print(f"{s.section or '-'} P{s.paragraph}.{s.index} L{s.line} [{kw}] {s.text}"
              + (f"  ({'; '.join(flags)})" if flags else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
