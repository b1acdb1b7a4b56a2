"""Fixtures shared by the integration tests: the bundled virtual testbed, built once per test module (a module's
tests share its state; modules never do), and a tester capturing on every link."""

from __future__ import annotations

import pytest

from harness import paths
from harness.testbed import load, open_backend
from harness.tester import Tester


@pytest.fixture(scope="module")
def tb():
    with open_backend(load(paths.DEFAULT_TESTBED)) as backend:
        yield backend


@pytest.fixture(scope="module")
def tester(tb):
    t = Tester(tb)
    yield t
    t.close()
