"""Fixtures of the interop test purposes: the bench (the DUT among reference peers, the flows)."""

from __future__ import annotations

import pytest

from conformance.interop.bench import InteropBench


@pytest.fixture
def bench(testbed, tester, dut, edition, judge):
    """The interop bench; its teardown stops the flows and the reference mobile node and re-attaches it."""
    b = InteropBench(testbed, tester, dut, edition, judge)
    yield b
    b.close()
