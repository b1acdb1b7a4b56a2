"""The negative-control matrix covers every MAP, AR and MN test purpose (no testbed needed).

A MUST-level test purpose needs a variant it catches with FAIL; one whose requirements are at most SHOULD-level
needs a variant it catches with WARN; MAY-level ones record behaviour and need none (a variant that drops MAY
behaviour is caught with INFO).  Each variant's expected requirement is one its test purpose declares.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import pytest

from conformance.catalog import load_catalog
from harness import paths
from harness.verdicts import level

sys.path.insert(0, str(Path(__file__).resolve().parent))
from variants import TESTBED, VARIANTS  # noqa: E402

ROLES = ("map", "ar", "mn")  # the roles run_variant.py can run broken cores for


def _purposes() -> dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """Test function name -> (test purpose ID, roles, requirement IDs)."""
    found = {}

    class Collector:
        @pytest.hookimpl(tryfirst=True)
        def pytest_collection_modifyitems(self, items) -> None:
            for item in items:
                tp, reqs, role = (item.get_closest_marker(n) for n in ("tp", "requirements", "role"))
                if tp is not None:
                    found[item.name] = (tp.kwargs["id"], tuple(role.args) if role else (),
                                        tuple(reqs.args) if reqs else ())

    with contextlib.redirect_stdout(io.StringIO()):
        pytest.main([str(paths.SUITE_DIR), "--co", "-q", "-p", "no:cacheprovider", f"--rootdir={paths.ROOT}",
                     "-o", "addopts=", "--list-purposes"], plugins=[Collector()])
    return found


def test_every_must_and_should_level_purpose_has_a_variant() -> None:
    catalog = load_catalog()
    purposes = _purposes()
    assert purposes
    problems = []
    for function, (tp, roles, rids) in sorted(purposes.items()):
        if not set(roles) & set(ROLES):
            continue
        levels = {level(catalog[r].keyword) for r in rids}
        wanted = "FAIL" if "MUST" in levels else "WARN" if "SHOULD" in levels else None
        caught = {v[2] for v in VARIANTS.values() if v[1] == function}
        if wanted is not None and wanted not in caught:
            problems.append(f"{tp} ({function}): no variant it catches with {wanted}")
    assert not problems, "; ".join(problems)


def test_variants_name_a_requirement_their_test_purpose_declares() -> None:
    catalog = load_catalog()
    purposes = _purposes()
    for name, (role, function, verdict, requirement, _factory) in VARIANTS.items():
        assert function in purposes, f"variant {name}: no test purpose {function}"
        _, roles, rids = purposes[function]
        assert role in roles and requirement in rids, f"variant {name}: {function} does not judge {requirement}"
        # INFO only where the keyword implies it: a MAY-level requirement whose behaviour the variant drops
        assert verdict in ("FAIL", "WARN") or (verdict == "INFO" and level(catalog[requirement].keyword) == "MAY"), \
            f"variant {name}: {verdict} for a {catalog[requirement].keyword} requirement"
    assert set(TESTBED) <= set(VARIANTS)


def test_a_variant_override_must_take_the_original_parameters() -> None:
    """A core method whose signature changes must break the registry at import, not make a variant's override
    raise inside its daemon (the broken behaviour never happens and the test ends INCONCLUSIVE, not FAIL): it
    happened to ``mn-hoti-encapsulated-once`` when ``MnCore._send_tests`` gained a parameter."""
    from seams import overriding

    class Core:
        def __init__(self, config, edition) -> None:
            pass

        def send(self, cn, coa):
            return [cn, coa]

    with pytest.raises(TypeError, match="does not take the parameters of Core.send"):
        overriding(Core, send=lambda self, original, cn: original(self, cn))
    with pytest.raises(TypeError, match="has no method 'sned'"):
        overriding(Core, sned=lambda self, original, cn, coa: original(self, cn, coa))
    core = overriding(Core, send=lambda self, original, cn, coa: original(self, cn, coa)[::-1])(None, "rfc4140")
    assert core.send(1, 2) == [2, 1]
