"""The PICS registry (conformance/pics.yaml): questions, and defaults assumed when a testbed does not declare an item."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance import pics


def test_map_selection_item_asks_a_question_and_defaults_to_the_reference() -> None:
    item = pics.registry()["map_selection_default_algorithm"]
    assert item.roles == ("mn",) and item.basis == "HMIP-4140-9.1-P4-BIND-1"
    assert item.question and "?" in item.question
    assert item.default is True


def test_an_undeclared_item_takes_its_default() -> None:
    assert pics.claimed({}, "map_selection_default_algorithm")
    assert not pics.claimed({"map_selection_default_algorithm": False}, "map_selection_default_algorithm")
    assert not pics.claimed({}, "multiple_maps"), "items without a default are not claimed unless declared"
    assert not pics.claimed({}, "no-such-item")


def test_a_default_must_be_a_boolean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "pics.yaml"
    bad.write_text("x:\n  roles: [mn]\n  why_optional: w\n  description: d\n  default: maybe\n")
    monkeypatch.setattr(pics, "PICS_FILE", bad)
    pics.registry.cache_clear()
    try:
        with pytest.raises(ValueError, match="default must be true or false"):
            pics.registry()
    finally:
        monkeypatch.undo()
        pics.registry.cache_clear()
