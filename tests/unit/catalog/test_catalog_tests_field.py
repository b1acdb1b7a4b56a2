"""The catalog's ``tests:`` fields agree with the test purposes' ``requirements`` markers."""

from __future__ import annotations

import contextlib
import io

import pytest

from harness import paths


def _purposes() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Test purpose ID -> (roles, requirement IDs), read from the suite's markers without running it."""
    found: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}

    class Collector:
        @pytest.hookimpl(tryfirst=True)
        def pytest_collection_modifyitems(self, items) -> None:
            for item in items:
                tp, reqs, role = (item.get_closest_marker(n) for n in ("tp", "requirements", "role"))
                if tp is not None:
                    found[tp.kwargs["id"]] = (tuple(role.args) if role else (), tuple(reqs.args) if reqs else ())

    with contextlib.redirect_stdout(io.StringIO()):
        pytest.main([str(paths.SUITE_DIR), "--co", "-q", "-p", "no:cacheprovider", f"--rootdir={paths.ROOT}",
                     "-o", "addopts=", "--list-purposes"], plugins=[Collector()])
    return found


@pytest.fixture(scope="module")
def purposes():
    found = _purposes()
    assert found, "no test purpose collected from conformance/suite"
    return found


def test_every_listed_test_purpose_exists_and_declares_the_requirement(catalog, purposes) -> None:
    wrong = [f"{r.id}: {tp}" for r in catalog.all() for tp in r.tests
             if tp not in purposes or r.id not in purposes[tp][1]]
    assert not wrong, "catalog tests: entries without a matching test purpose marker: " + "; ".join(wrong)


def test_untestable_entries_list_no_test_purpose(catalog) -> None:
    assert not [r.id for r in catalog.all() if not r.testable and r.tests]


@pytest.mark.parametrize("role", ["map", "ar", "mn"])
def test_every_requirement_a_map_ar_or_mn_test_purpose_declares_lists_it(catalog, purposes, role: str) -> None:
    """(An untestable entry named as the basis of a PICS item is declared but not listed.)"""
    missing = [f"{rid} <- {tp}" for tp, (roles, rids) in purposes.items() if role in roles
               for rid in rids if catalog[rid].testable and tp not in catalog[rid].tests]
    assert not missing, "add these test purposes to the catalog's tests: fields: " + "; ".join(missing)
