"""The requirements catalog: data model, loading, validation, look-ups and JSON export.

The catalog (``conformance/requirements/catalog.yaml``) has these top-level keys:

``schema``         ``hmipv6-requirements-catalog/1``
``documents``      edition name -> ``{file, title, note}`` (the texts in ``conformance/spec``)
``id_scheme``      prose description of the identifiers (see below)
``inconsistencies`` known inconsistencies/miscitations of the specifications and how the
                   suite resolves them (``{id, editions, where, description, resolution,
                   affects}``)
``requirements``   HMIPv6 statements (``inherited: false``)
``inherited``      clauses of RFC 6275 quoted from rfc6275.txt and of RFC 4861 §6.1 quoted from
                   rfc4861-6.1.txt (``inherited: true``), and section pointers into RFC 2473 /
                   RFC 4861 (``reference_only: true``)

Identifiers (stable: derived only from where the statement is in its first edition)::

    HMIP-4140-<section>-P<paragraph>-<KEYWORD>-<n>   base document (edition rfc4140)
    HMIP-5380-<section>-P<paragraph>-<KEYWORD>-<n>   only in RFC 5380
    MIP6-6275-<section>-P<paragraph>-<KEYWORD>-<n>   inherited from RFC 6275
    ND-4861-<section>-P<paragraph>-<KEYWORD>-<n>     inherited from RFC 4861 (§6.1 only)
    REF-<rfc>-<section>                              reference only (RFC 2473, RFC 4861)

``<KEYWORD>`` is the RFC 2119 keyword with blanks replaced by ``-`` (``MUST-NOT``) or
``BIND`` for a binding statement without keyword (``keyword: "(binding)"``); ``<n>``
numbers the occurrences of that keyword in that paragraph in text order, so a sentence
holding two keywords gives two entries (one per statement, ``clause`` says which part).

Each requirement entry has the keys of :data:`REQUIRED_KEYS` and may have those of
:data:`OPTIONAL_KEYS`; ``section``, ``paragraph`` and ``title`` map each edition to its
value; ``text`` is the sentence of the first edition exactly as normalised by
:mod:`conformance.catalog.extract`; ``variants`` holds the sentence of a later edition when
its normalised wording differs (same meaning).  ``actor`` is one of MN, MAP, AR, HA, CN or
a list of them.  ``testable: false`` needs a ``reason``.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Any, Iterator

import yaml

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "requirements" / "catalog.yaml"

SCHEMA = "hmipv6-requirements-catalog/1"
EDITIONS = ("rfc4140", "rfc5380")
INHERITED_EDITIONS = ("rfc6275", "rfc2473", "rfc4861")
ACTORS = ("MN", "MAP", "AR", "HA", "CN")
KEYWORDS = ("MUST", "MUST NOT", "REQUIRED", "SHALL", "SHALL NOT", "SHOULD", "SHOULD NOT",
            "RECOMMENDED", "MAY", "OPTIONAL")
BINDING = "(binding)"

TOP_KEYS = {"schema", "documents", "id_scheme", "inconsistencies", "requirements", "inherited"}
REQUIRED_KEYS = {"id", "editions", "section", "paragraph", "keyword", "actor", "text",
                 "tests", "testable", "inherited"}
OPTIONAL_KEYS = {"title", "reason", "resolution", "variants", "clause", "field",
                 "substitution", "informative", "reference_only", "cited_by", "related",
                 "notes"}
REFERENCE_REQUIRED = {"id", "editions", "section", "title", "inherited", "reference_only",
                      "tests", "testable"}
INCONSISTENCY_KEYS = {"id", "editions", "where", "description", "resolution", "affects"}
DOCUMENT_KEYS = {"file", "title", "note"}
SUBSTITUTION_KEYS = {"source", "section", "paragraph", "original", "reason"}

ID_RE = re.compile(
    r"^(?P<prefix>HMIP-4140|HMIP-5380|MIP6-6275|ND-4861)-(?P<section>[0-9A-Z]+(?:\.[0-9]+)*)"
    r"-P(?P<paragraph>[0-9]+)-(?P<kw>[A-Z]+(?:-NOT)?|BIND)-(?P<n>[0-9]+)$")
REF_ID_RE = re.compile(r"^REF-(?P<rfc>[0-9]{4})-(?P<section>[0-9]+(?:\.[0-9]+)*)$")
PREFIX_EDITION = {"HMIP-4140": "rfc4140", "HMIP-5380": "rfc5380", "MIP6-6275": "rfc6275",
                  "ND-4861": "rfc4861"}


class CatalogError(ValueError):
    """The catalog file is invalid; the message names the file, line and requirement id."""


@dataclass
class Requirement:
    """One normative (or binding, or inherited) statement."""

    id: str
    editions: list[str]
    section: dict[str, str]
    paragraph: dict[str, int]
    keyword: str | None
    actor: list[str]
    text: str | None
    tests: list[str] = dc_field(default_factory=list)
    testable: bool = True
    inherited: bool = False
    title: dict[str, str] = dc_field(default_factory=dict)
    reason: str | None = None
    resolution: str | None = None
    variants: dict[str, str] = dc_field(default_factory=dict)
    clause: str | None = None
    field: str | None = None
    substitution: dict | None = None
    informative: bool = False
    reference_only: bool = False
    cited_by: list[str] = dc_field(default_factory=list)
    related: list[str] = dc_field(default_factory=list)
    notes: str | None = None
    line: int = 0          #: line of the entry in the catalog file

    @property
    def edition(self) -> str:
        """The first (primary) edition."""
        return self.editions[0]

    @property
    def binding(self) -> bool:
        return self.keyword == BINDING

    def text_for(self, edition: str) -> str | None:
        """The normalised sentence as it reads in ``edition``."""
        if edition not in self.editions:
            raise KeyError(f"{self.id} is not in edition {edition}")
        return self.variants.get(edition, self.text)

    def to_dict(self, edition: str | None = None) -> dict[str, Any]:
        """JSON-ready dict; with ``edition``, a flat record for that edition only."""
        d: dict[str, Any] = {
            "id": self.id,
            "edition": edition or self.edition,
            "editions": list(self.editions),
            "section": self.section[edition] if edition else dict(self.section),
            "paragraph": self.paragraph.get(edition) if edition else dict(self.paragraph),
            "keyword": self.keyword,
            "actor": list(self.actor),
            "text": self.text_for(edition) if edition else self.text,
            "tests": list(self.tests),
            "testable": self.testable,
            "reason": self.reason,
            "resolution": self.resolution,
            "inherited": self.inherited,
        }
        if not edition and self.variants:
            d["variants"] = dict(self.variants)
        for key in ("clause", "field", "substitution", "cited_by", "related", "notes"):
            value = getattr(self, key)
            if value:
                d[key] = value
        if self.informative:
            d["informative"] = True
        if self.reference_only:
            d["reference_only"] = True
        return d


@dataclass
class Inconsistency:
    id: str
    editions: list[str]
    where: str
    description: str
    resolution: str
    affects: list[str]


class Catalog:
    """The loaded catalog with look-ups."""

    def __init__(self, requirements: list[Requirement], inherited: list[Requirement],
                 inconsistencies: list[Inconsistency], documents: dict[str, dict],
                 path: Path | None = None):
        self.requirements = requirements
        self.inherited = inherited
        self.inconsistencies = inconsistencies
        self.documents = documents
        self.path = path
        self._by_id = {r.id: r for r in self.all()}

    def all(self) -> list[Requirement]:
        return [*self.requirements, *self.inherited]

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self.requirements) + len(self.inherited)

    def __contains__(self, rid: object) -> bool:
        return rid in self._by_id

    def __getitem__(self, rid: str) -> Requirement:
        return self.get(rid)

    def get(self, rid: str) -> Requirement:
        try:
            return self._by_id[rid]
        except KeyError:
            close = difflib.get_close_matches(rid, list(self._by_id), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise KeyError(f"no requirement {rid!r}{hint}") from None

    def by_section(self, section: str, edition: str | None = None, *,
                   subsections: bool = False) -> list[Requirement]:
        """Entries in ``section`` (of ``edition``, or of any edition)."""
        def hit(sec: str) -> bool:
            return sec == section or (subsections and sec.startswith(section + "."))
        return [r for r in self.all()
                if any(hit(sec) for ed, sec in r.section.items()
                       if edition is None or ed == edition)]

    def by_edition(self, edition: str) -> list[Requirement]:
        return [r for r in self.all() if edition in r.editions]

    def by_actor(self, actor: str) -> list[Requirement]:
        return [r for r in self.all() if actor in r.actor]

    def by_keyword(self, keyword: str) -> list[Requirement]:
        return [r for r in self.all() if r.keyword == keyword]

    def testable(self) -> list[Requirement]:
        return [r for r in self.all() if r.testable]

    def untestable(self) -> list[Requirement]:
        return [r for r in self.all() if not r.testable]

    def to_records(self, *, flat: bool = False, inherited: bool = True) -> list[dict]:
        """Records for JSON: one per requirement, or (``flat``) one per requirement and
        edition with scalar ``edition``, ``section``, ``paragraph`` and ``text``."""
        reqs = self.all() if inherited else self.requirements
        if not flat:
            return [r.to_dict() for r in reqs]
        return [r.to_dict(ed) for r in reqs for ed in r.editions]

    def to_json(self, *, flat: bool = False, inherited: bool = True, indent: int = 2) -> str:
        return json.dumps(self.to_records(flat=flat, inherited=inherited), indent=indent,
                          ensure_ascii=False)


# ---------------------------------------------------------------------------------------
# Loading and validation

class _LineLoader(yaml.SafeLoader):
    """SafeLoader that records the line of every mapping as ``__line__``."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=True)
    keys = [loader.construct_object(k, deep=True) for k, _v in node.value]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        raise CatalogError(f"line {node.start_mark.line + 1}: duplicate key(s) "
                           f"{', '.join(sorted(map(str, dupes)))}")
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


def _unknown(keys: set, allowed: set) -> list[str]:
    out = []
    for k in sorted(map(str, keys - allowed)):
        close = difflib.get_close_matches(k, sorted(allowed), n=1)
        out.append(f"unknown key {k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return out


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load and validate the catalog; every problem is reported in one CatalogError."""
    path = Path(path) if path else DEFAULT_PATH
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from None
    except CatalogError as exc:
        raise CatalogError(f"{path}:{exc}") from None
    return parse_catalog(raw, path)


def parse_catalog(raw: Any, path: str | Path = "<catalog>") -> Catalog:
    """Validate an already-parsed catalog document (used by load_catalog and tests)."""
    name = str(path)
    errors: list[str] = []
    if not isinstance(raw, dict):
        raise CatalogError(f"{name}: the catalog must be a mapping")
    for msg in _unknown(set(raw) - {"__line__"}, TOP_KEYS):
        errors.append(f"{name}: top level: {msg}")
    if raw.get("schema") != SCHEMA:
        errors.append(f"{name}: top level: schema must be {SCHEMA!r}")
    documents = raw.get("documents") or {}
    if not isinstance(documents, dict):
        errors.append(f"{name}: documents must be a mapping")
        documents = {}
    for ed, doc in documents.items():
        if ed == "__line__":
            continue
        if not isinstance(doc, dict):
            errors.append(f"{name}: document {ed!r} must be a mapping")
            continue
        for msg in _unknown(set(doc) - {"__line__"}, DOCUMENT_KEYS):
            errors.append(f"{name}:{doc.get('__line__', 0)}: document {ed!r}: {msg}")

    requirements = _parse_list(raw.get("requirements"), "requirements", False, name, errors)
    inherited = _parse_list(raw.get("inherited"), "inherited", True, name, errors)
    seen: dict[str, int] = {}
    for r in [*requirements, *inherited]:
        if r.id in seen:
            errors.append(f"{name}:{r.line}: requirement {r.id!r}: duplicate id "
                          f"(first defined at line {seen[r.id]})")
        else:
            seen[r.id] = r.line
    ids = set(seen)
    for r in [*requirements, *inherited]:
        for key in ("related", "cited_by"):
            for other in getattr(r, key):
                if other not in ids:
                    errors.append(f"{name}:{r.line}: requirement {r.id!r}: {key} id {other!r} "
                                  "is not in the catalog")
    inconsistencies = []
    for item in raw.get("inconsistencies") or []:
        line = item.get("__line__", 0) if isinstance(item, dict) else 0
        if not isinstance(item, dict):
            errors.append(f"{name}: inconsistencies: every item must be a mapping")
            continue
        iid = item.get("id", "?")
        for msg in _unknown(set(item) - {"__line__"}, INCONSISTENCY_KEYS):
            errors.append(f"{name}:{line}: inconsistency {iid!r}: {msg}")
        missing = INCONSISTENCY_KEYS - set(item)
        if missing:
            errors.append(f"{name}:{line}: inconsistency {iid!r}: missing "
                          f"{', '.join(sorted(missing))}")
            continue
        for rid in item["affects"]:
            if rid not in ids:
                errors.append(f"{name}:{line}: inconsistency {iid!r}: affects unknown "
                              f"requirement {rid!r}")
        inconsistencies.append(Inconsistency(iid, list(item["editions"]), item["where"],
                                             item["description"], item["resolution"],
                                             list(item["affects"])))
    if errors:
        raise CatalogError("invalid requirements catalog:\n  " + "\n  ".join(errors))
    docs = {k: _strip_lines(v) for k, v in documents.items() if k != "__line__"}
    return Catalog(requirements, inherited, inconsistencies, docs, Path(path))


def _parse_list(items: Any, where: str, inherited: bool, name: str,
                errors: list[str]) -> list[Requirement]:
    if items is None:
        errors.append(f"{name}: top level: missing {where!r}")
        return []
    if not isinstance(items, list):
        errors.append(f"{name}: {where} must be a list")
        return []
    out = []
    for item in items:
        req = _parse_requirement(item, inherited, name, errors)
        if req is not None:
            out.append(req)
    return out


def _parse_requirement(item: Any, inherited_list: bool, name: str,
                       errors: list[str]) -> Requirement | None:
    if not isinstance(item, dict):
        errors.append(f"{name}: every requirement must be a mapping, got {item!r}")
        return None
    line = item.get("__line__", 0)
    rid = item.get("id")
    label = f"{name}:{line}: requirement {rid!r}"
    before = len(errors)

    def err(msg: str) -> None:
        errors.append(f"{label}: {msg}")

    if not isinstance(rid, str) or not rid:
        err("missing or empty 'id'")
        return None
    keys = set(item) - {"__line__"}
    reference_only = item.get("reference_only") is True
    for msg in _unknown(keys, REQUIRED_KEYS | OPTIONAL_KEYS):
        err(msg)
    required = REFERENCE_REQUIRED if reference_only else REQUIRED_KEYS
    missing = required - keys
    if missing:
        err(f"missing {', '.join(sorted(missing))}")
        return None

    editions = item["editions"]
    allowed_eds = INHERITED_EDITIONS if inherited_list else EDITIONS
    if not isinstance(editions, list) or not editions or len(set(editions)) != len(editions):
        err("'editions' must be a non-empty list without repetitions")
        return None
    for ed in editions:
        if ed not in allowed_eds:
            err(f"edition {ed!r} not allowed here (allowed: {', '.join(allowed_eds)})")
    if not inherited_list and all(e in EDITIONS for e in editions) \
            and list(editions) != sorted(editions, key=EDITIONS.index):
        err("'editions' must be in order (rfc4140 before rfc5380)")

    if item["inherited"] is not inherited_list:
        err(f"'inherited' must be {str(inherited_list).lower()} in the "
            f"{'inherited' if inherited_list else 'requirements'} section")

    section = _edition_map(item.get("section"), editions, "section", str, err)
    paragraph = {} if reference_only else _edition_map(item.get("paragraph"), editions,
                                                       "paragraph", int, err)
    title = _edition_map(item.get("title"), editions, "title", str, err) \
        if "title" in item else {}

    keyword = item.get("keyword")
    text = item.get("text")
    if reference_only:
        if not inherited_list:
            err("'reference_only' is only allowed in the inherited section")
        if text is not None or keyword is not None:
            err("reference-only entries quote no text and carry no keyword")
    else:
        if keyword not in KEYWORDS and keyword != BINDING:
            err(f"keyword {keyword!r} is not an RFC 2119 keyword or {BINDING!r}")
        if not isinstance(text, str) or not text.strip():
            err("'text' must be a non-empty string")
        elif text != " ".join(text.split()):
            err("'text' is not normalised (whitespace)")

    actor = item.get("actor")
    actors = [actor] if isinstance(actor, str) else actor
    if reference_only and actor is None:
        actors = []
    if not isinstance(actors, list) or (not actors and not reference_only):
        err("'actor' must be one of MN, MAP, AR, HA, CN or a list of them")
        actors = []
    for a in actors:
        if a not in ACTORS:
            err(f"unknown actor {a!r} (allowed: {', '.join(ACTORS)})")

    tests = item["tests"]
    if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
        err("'tests' must be a list of test purpose ids")
        tests = []
    testable = item["testable"]
    if not isinstance(testable, bool):
        err("'testable' must be true or false")
    reason = item.get("reason")
    if testable is False and (not isinstance(reason, str) or not reason.strip()):
        err("'testable' is false but no 'reason' is given")

    variants = item.get("variants") or {}
    if not isinstance(variants, dict):
        err("'variants' must map an edition to its text")
        variants = {}
    variants = {k: v for k, v in variants.items() if k != "__line__"}
    for ed, vtext in variants.items():
        if ed not in editions[1:]:
            err(f"variant for {ed!r}: only a later edition of this entry may have a variant")
        if not isinstance(vtext, str) or vtext != " ".join(vtext.split()) or vtext == text:
            err(f"variant for {ed!r} must be a normalised text that differs from 'text'")
    clause = item.get("clause")
    if clause is not None and not (isinstance(clause, str) and isinstance(text, str)
                                   and clause in text):
        err("'clause' must be a part of 'text'")
    substitution = item.get("substitution")
    if substitution is not None:
        if not isinstance(substitution, dict):
            err("'substitution' must be a mapping")
        else:
            for msg in _unknown(set(substitution) - {"__line__"}, SUBSTITUTION_KEYS):
                err(f"substitution: {msg}")
            substitution = _strip_lines(substitution)
    for key in ("cited_by", "related"):
        if not isinstance(item.get(key, []), list):
            err(f"'{key}' must be a list")
    for key in ("informative", "reference_only"):
        if key in item and not isinstance(item[key], bool):
            err(f"'{key}' must be true or false")

    m = ID_RE.match(rid)
    if reference_only:
        rm = REF_ID_RE.match(rid)
        if not rm or f"rfc{rm.group('rfc')}" != editions[0] or \
                section.get(editions[0]) != rm.group("section"):
            err("id must be REF-<rfc>-<section> matching 'editions' and 'section'")
    elif not m:
        err("id does not follow the scheme <HMIP-4140|HMIP-5380|MIP6-6275|ND-4861>-<section>-"
            "P<paragraph>-<KEYWORD|BIND>-<n>")
    elif not len(errors) > before:
        ed = PREFIX_EDITION[m.group("prefix")]
        kw = "BIND" if keyword == BINDING else str(keyword).replace(" ", "-")
        if ed != editions[0] or section.get(ed) != m.group("section") \
                or paragraph.get(ed) != int(m.group("paragraph")) or kw != m.group("kw"):
            err(f"id does not match the entry (expected prefix for {editions[0]}, "
                f"section {section.get(editions[0])}, paragraph "
                f"{paragraph.get(editions[0])}, keyword {kw})")
    if len(errors) > before:
        return None
    return Requirement(
        id=rid, editions=list(editions), section=section, paragraph=paragraph,
        keyword=keyword, actor=list(actors), text=text, tests=list(tests), testable=testable,
        inherited=item["inherited"], title=title, reason=reason,
        resolution=item.get("resolution"), variants=dict(variants), clause=clause,
        field=item.get("field"), substitution=substitution,
        informative=bool(item.get("informative", False)), reference_only=reference_only,
        cited_by=list(item.get("cited_by", [])), related=list(item.get("related", [])),
        notes=item.get("notes"), line=line)


def _edition_map(value: Any, editions: list[str], key: str, typ: type, err) -> dict:
    if not isinstance(value, dict):
        err(f"'{key}' must map every edition ({', '.join(editions)}) to its value")
        return {}
    value = {k: v for k, v in value.items() if k != "__line__"}
    if set(value) != set(editions):
        err(f"'{key}' must have exactly the editions {', '.join(editions)}; "
            f"has {', '.join(map(str, value)) or 'none'}")
    for ed, v in value.items():
        if not isinstance(v, typ) or isinstance(v, bool):
            err(f"'{key}' for {ed} must be a {typ.__name__}")
    return {k: (str(v) if typ is str else v) for k, v in value.items()}
