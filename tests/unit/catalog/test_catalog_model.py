"""Catalog model: validation errors, look-ups, JSON export."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from conformance.catalog import CatalogError, load_catalog, parse_catalog
from conformance.catalog.model import SCHEMA


def _entry(**over):
    e = {
        "id": "HMIP-4140-6.2-P2-MUST-2",
        "editions": ["rfc4140", "rfc5380"],
        "section": {"rfc4140": "6.2", "rfc5380": "6.2"},
        "paragraph": {"rfc4140": 2, "rfc5380": 2},
        "keyword": "MUST",
        "actor": "MAP",
        "text": "The binding acknowledgement MUST include a routing header type 2 that contains "
                "the mobile node's RCoA.",
        "tests": [],
        "testable": True,
        "inherited": False,
    }
    e.update(over)
    return e


def _inherited(**over):
    e = {
        "id": "MIP6-6275-11.8-P7-MUST-1",
        "editions": ["rfc6275"],
        "section": {"rfc6275": "11.8"},
        "paragraph": {"rfc6275": 7},
        "keyword": "MUST",
        "actor": ["MN"],
        "text": "The retransmissions by the mobile node MUST use an exponential back-off process.",
        "tests": [],
        "testable": True,
        "inherited": True,
        "cited_by": ["HMIP-4140-6.2-P2-MUST-2"],
    }
    e.update(over)
    return e


def _doc(requirements=None, inherited=None, **top):
    d = {"schema": SCHEMA, "documents": {"rfc4140": {"file": "x.txt"}},
         "requirements": requirements if requirements is not None else [_entry()],
         "inherited": inherited if inherited is not None else [_inherited()]}
    d.update(top)
    return d


def _error(doc) -> str:
    with pytest.raises(CatalogError) as exc:
        parse_catalog(doc, "cat.yaml")
    return str(exc.value)


def test_minimal_catalog_is_valid():
    cat = parse_catalog(_doc(), "cat.yaml")
    r = cat["HMIP-4140-6.2-P2-MUST-2"]
    assert r.actor == ["MAP"] and r.edition == "rfc4140" and r.text_for("rfc5380") == r.text


def test_unknown_key_is_named_with_the_id():
    msg = _error(_doc([_entry(testible=True)]))
    assert "HMIP-4140-6.2-P2-MUST-2" in msg and "unknown key 'testible'" in msg
    assert "did you mean 'testable'" in msg


def test_unknown_top_level_key():
    assert "unknown key 'requirement'" in _error(_doc(requirement=[]))


def test_duplicate_id():
    msg = _error(_doc([_entry(), _entry()]))
    assert "'HMIP-4140-6.2-P2-MUST-2': duplicate id" in msg


def test_duplicate_id_across_sections():
    msg = _error(_doc(inherited=[_inherited(), _inherited()]))
    assert "'MIP6-6275-11.8-P7-MUST-1': duplicate id" in msg


def test_untestable_needs_a_reason():
    msg = _error(_doc([_entry(testable=False)]))
    assert "HMIP-4140-6.2-P2-MUST-2" in msg and "no 'reason'" in msg
    parse_catalog(_doc([_entry(testable=False, reason="IKEv2 not implemented")]), "cat.yaml")


@pytest.mark.parametrize("change, fragment", [
    ({"keyword": "MUSTN'T"}, "not an RFC 2119 keyword"),
    ({"actor": ["MAP", "Router"]}, "unknown actor 'Router'"),
    ({"actor": []}, "'actor' must be"),
    ({"editions": ["rfc4140", "rfc9999"]}, "edition 'rfc9999' not allowed"),
    ({"editions": ["rfc5380", "rfc4140"]}, "must be in order"),
    ({"section": {"rfc4140": "6.2"}}, "'section' must have exactly the editions"),
    ({"paragraph": {"rfc4140": "2", "rfc5380": 2}}, "'paragraph' for rfc4140 must be a int"),
    ({"text": "two  spaces"}, "not normalised"),
    ({"text": ""}, "'text' must be a non-empty string"),
    ({"tests": "TP-1"}, "'tests' must be a list"),
    ({"testable": "yes"}, "'testable' must be true or false"),
    ({"inherited": True}, "'inherited' must be false"),
    ({"variants": {"rfc4140": "x"}}, "only a later edition"),
    ({"clause": "not in the text"}, "'clause' must be a part of 'text'"),
    ({"related": ["HMIP-4140-1-P1-MUST-1"]}, "related id 'HMIP-4140-1-P1-MUST-1' is not in the catalog"),
    ({"id": "HMIP-4140-6.2-P3-MUST-2"}, "id does not match the entry"),
    ({"id": "REQ-1"}, "id does not follow the scheme"),
    ({"substitution": {"source": "rfc4140.txt", "from": "x"}}, "substitution: unknown key 'from'"),
])
def test_entry_validation(change, fragment):
    msg = _error(_doc([_entry(**change)]))
    assert fragment in msg, msg
    assert "requirement 'HMIP-4140" in msg or "requirement 'REQ-1'" in msg


def test_missing_required_keys():
    e = _entry()
    del e["keyword"], e["text"]
    assert "missing keyword, text" in _error(_doc([e]))


def test_inherited_rules():
    assert "'inherited' must be true" in _error(_doc(inherited=[_inherited(inherited=False)]))
    assert "cited_by id 'NOPE'" in _error(_doc(inherited=[_inherited(cited_by=["NOPE"])]))
    ref = {"id": "REF-4861-7.2.8", "editions": ["rfc4861"], "section": {"rfc4861": "7.2.8"},
           "title": {"rfc4861": "Proxy Neighbor Advertisements"}, "inherited": True,
           "reference_only": True, "tests": [], "testable": True}
    cat = parse_catalog(_doc(inherited=[_inherited(), ref]), "cat.yaml")
    assert cat["REF-4861-7.2.8"].reference_only and cat["REF-4861-7.2.8"].text is None
    bad = dict(ref, text="quoted from memory")
    assert "quote no text" in _error(_doc(inherited=[bad]))
    assert "REF-<rfc>-<section>" in _error(_doc(inherited=[dict(ref, id="REF-4861-7.2.6")]))


def test_inconsistency_must_reference_known_ids():
    inc = {"id": "INC-1", "editions": ["rfc4140"], "where": "3.1", "description": "d",
           "resolution": "r", "affects": ["HMIP-4140-9.1-P4-BIND-1"]}
    assert "affects unknown requirement 'HMIP-4140-9.1-P4-BIND-1'" in \
        _error(_doc(inconsistencies=[inc]))


def test_all_problems_are_reported_at_once():
    msg = _error(_doc([_entry(foo=1), _entry(id="HMIP-4140-6.2-P2-MUST-1", testable=False)]))
    assert "unknown key 'foo'" in msg and "no 'reason'" in msg


def test_load_from_file_reports_line_numbers(tmp_path):
    p = tmp_path / "catalog.yaml"
    p.write_text(yaml.safe_dump(_doc([_entry(), _entry()]), sort_keys=False), encoding="utf-8")
    with pytest.raises(CatalogError) as exc:
        load_catalog(p)
    assert f"{p}:" in str(exc.value) and "duplicate id (first defined at line" in str(exc.value)


def test_duplicate_yaml_key_and_bad_yaml(tmp_path):
    p = tmp_path / "catalog.yaml"
    p.write_text("schema: a\nschema: b\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="duplicate key"):
        load_catalog(p)
    p.write_text("schema: [\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(p)


# --- the real catalog -----------------------------------------------------------------------

def test_real_catalog_lookups(catalog):
    r = catalog["HMIP-4140-6.2-P2-MUST-2"]
    assert r.section == {"rfc4140": "6.2", "rfc5380": "6.2"} and r.actor == ["MAP"]
    assert r in catalog.by_section("6.2") and r in catalog.by_section("6.2", "rfc5380")
    assert r in catalog.by_section("6", subsections=True)
    assert catalog["HMIP-4140-7.2-P3-MUST-NOT-1"] in catalog.by_section("7.1", "rfc5380")
    assert all("rfc5380" in x.editions for x in catalog.by_edition("rfc5380"))
    assert all(x.inherited for x in catalog.by_edition("rfc6275"))
    assert all("MAP" in x.actor for x in catalog.by_actor("MAP"))
    assert {x.keyword for x in catalog.by_keyword("MUST NOT")} == {"MUST NOT"}
    assert all(not x.testable and x.reason for x in catalog.untestable())
    with pytest.raises(KeyError, match="did you mean 'HMIP-4140-6.2-P2-MUST-2'"):
        catalog["HMIP-4140-6.2-P2-MUST-3"]
    assert "HMIP-4140-6.2-P2-MUST-2" in catalog


def test_every_actor_is_used(catalog):
    assert {a for r in catalog.requirements for a in r.actor} == {"MN", "MAP", "AR", "HA", "CN"}


def test_json_export(catalog):
    records = json.loads(catalog.to_json())
    assert len(records) == len(catalog)
    need = {"id", "edition", "section", "paragraph", "keyword", "actor", "text", "tests",
            "testable", "reason"}
    assert all(need <= set(r) for r in records)
    flat = json.loads(catalog.to_json(flat=True, inherited=False))
    both = [r for r in flat if r["id"] == "HMIP-4140-3.1-P7-MUST-1"]
    assert [r["edition"] for r in both] == ["rfc4140", "rfc5380"]
    assert both[0]["section"] == "3.1" and isinstance(both[0]["paragraph"], int)
    assert both[0]["text"] != both[1]["text"]            # RFC 5380 wording variant
    assert all(not r["inherited"] for r in flat)


def test_catalog_file_round_trips(catalog, tmp_path):
    raw = yaml.safe_load(catalog.path.read_text(encoding="utf-8"))
    again = parse_catalog(copy.deepcopy(raw), "copy")
    assert [r.id for r in again.all()] == [r.id for r in catalog.all()]
