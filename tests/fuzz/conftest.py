"""Fuzz tests: let a falsifying example be reported.

pyproject turns warnings into errors; when a hypothesis test fails, hypothesis's report hook touches
``mypy_extensions.TypedDict``, whose DeprecationWarning then turns the failure report into an INTERNALERROR that
hides the falsifying example.  That one warning is ignored while the report is made."""

from __future__ import annotations

import warnings

import pytest


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="mypy_extensions.TypedDict is deprecated", category=DeprecationWarning)
        yield
