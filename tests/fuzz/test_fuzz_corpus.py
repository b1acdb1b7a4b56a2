"""Regression: every input of the malformed-input corpus (``tests/data/fuzz_corpus``, one file per case: the
shortest truncations and length lies per message type, and the inputs that exposed bugs) replayed through the
decoder (its verdict must not change), the daemons' raw-byte paths, every core on every interface, and the MAP and
AR event loops as the daemons wire them."""

from __future__ import annotations

import pytest
from corpus_tool import load, verdict
from fuzz_support import Cores, check_bytes_paths, check_decode, daemons, drive, through_daemons

ENTRIES = load()


def test_corpus_has_substance():
    assert len(ENTRIES) >= 100
    assert sum(e.name.startswith("bug-") for e in ENTRIES) >= 4
    kinds = {e.name.split("-")[0] for e in ENTRIES}
    assert {"bu", "ba", "be", "brr", "hot", "ra", "rs", "ns", "na", "echo", "tunnel"} <= kinds
    for entry in ENTRIES:
        assert entry.what and entry.origin and entry.expect.split()[0] in ("decode-error", "decodes"), entry.path


@pytest.fixture(scope="module")
def loops():
    return daemons()


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_corpus_entry(entry, loops):
    assert verdict(entry.data) == entry.expect
    decoded = check_decode(entry.data)
    check_bytes_paths(entry.data)
    cores = Cores()
    for iface in ("dom", "acc", "up", "home"):
        drive(cores, [(0.01, iface, packet) for packet in decoded])
    through_daemons(entry.data, loops)
