"""Fixtures shared by the test purposes: the tester playing the roles the DUT is not."""

from __future__ import annotations

import pytest

from harness.tester.mobility import PlayedMobileNode


@pytest.fixture
def ba_timeout(testbed) -> float:
    """How long a MAP may take to answer a BU: DAD (one RetransTimer) plus processing slack."""
    return 2.0 + 3 * testbed.spec.timers.retrans_timer


@pytest.fixture
def map_domain(testbed, dut):
    """(MAP address, access link, its access router) for a MAP DUT: the first AR advertising it."""
    spec = testbed.spec
    ar = next((n for n in spec.nodes.values() if dut.node in n.maps), None)
    if ar is None:
        pytest.skip(f"NOT APPLICABLE: no access router of the testbed advertises MAP {dut.node}")
    return spec.map_address(dut.node), spec.access_link_of(ar.name), ar


@pytest.fixture
def mn(testbed, tester, map_domain):
    """The tester as a mobile node on the MAP's first access link (LCoA ::c0a there, RCoA ::c0a on the MAP /64)."""
    import ipaddress

    map_address, link, ar = map_domain
    lcoa = str(link.prefix.network_address + 0xC0A)
    rcoa = str(ipaddress.IPv6Network(f"{map_address}/64", strict=False).network_address + 0xC0A)
    played = PlayedMobileNode(tester, link.name, link.members[ar.name].mac, lcoa, rcoa, map_address)
    yield played
    played.release()


@pytest.fixture
def cn(testbed):
    """(node, address) of the testbed's first correspondent node; the tests drive its pings over its management
    connection."""
    node = next((n for n in testbed.spec.nodes.values() if n.role == "cn"), None)
    if node is None:
        pytest.skip("NOT APPLICABLE: the testbed has no correspondent node")
    address = next(i.address.ip for i in node.interfaces.values() if i.address)
    return node.name, str(address)
