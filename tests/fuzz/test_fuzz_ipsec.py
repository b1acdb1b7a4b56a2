"""Protected signalling under fuzz (issue 9, base §12.1): BUs protected by a mobile node's ESP or AH SA, and BAs
protected by the MAP's, are mutated -- lengths, truncations, bytes of the ESP/AH header, ICV, IV, ciphertext,
and the headers an AH ICV covers -- then decoded and opened as the receiving daemon does.

Properties: opening raises nothing but ``SecurityDrop``; a MAP core with IPsec required never raises, keeps its
invariants, and installs no binding from a packet whose protection did not verify (only the unmutated BU binds);
an intact protected BU binds and its BA opens at the mobile node.
"""

from __future__ import annotations

import random

import pytest
from fuzz_support import CORES, LCOA, MAP, MAP_MAC, RCOA, check_decode, check_invariants, mutate
from hypothesis import given
from hypothesis import strategies as st

from reference_impl import wire as w
from reference_impl.map import MapConfig, MapCore
from reference_impl.security import IpsecSecurity, SaPair, SecurityDrop

KEY20, KEY32, KEY16 = "11" * 20, "22" * 32, "33" * 16
SUITES = {
    "esp-aes-sha256": ({"protocol": "esp", "auth": "hmac-sha256-128", "auth_key": KEY32, "encryption": "aes-cbc",
                        "enc_key": KEY16}),
    "esp-null-sha1": ({"protocol": "esp", "auth": "hmac-sha1-96", "auth_key": KEY20, "encryption": "null"}),
    "ah-sha256": ({"protocol": "ah", "auth": "hmac-sha256-128", "auth_key": KEY32}),
}


def _pair(suite: str) -> SaPair:
    sa = SUITES[suite]
    return SaPair.from_config({"name": "mn1", "map": "2001:db8:100::1/128", "rcoa": "2001:db8:100::/64",
                               "to_map": {"spi": 0x1000, **sa}, "to_mn": {"spi": 0x1001, **sa}})


def _sides(suite: str) -> tuple[IpsecSecurity, IpsecSecurity]:
    return IpsecSecurity([_pair(suite)], "mn"), IpsecSecurity([_pair(suite)], "map")


def _map(security: IpsecSecurity) -> MapCore:
    core = MapCore(MapConfig(address=MAP, home_iface="dom", link_address=MAP_MAC, dad="off"))
    core.security = security
    core.start(0.0)
    return core


def _bu(seq: int, lifetime: int = 100) -> w.Packet:
    return w.Packet(LCOA, MAP, w.BindingUpdate(seq, w.BU_A | w.BU_M, lifetime), home_address=RCOA)


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_intact_protected_bu_binds_and_its_ba_opens(suite):
    mn_side, map_side = _sides(suite)
    core = _map(map_side)
    wire_bytes = w.encode_packet(mn_side.protect(_bu(1), "mn1"))
    actions = core.handle(0.1, "acc", w.decode_packet(wire_bytes))
    check_invariants(core, 0.1, actions)
    assert core.tunnel_for(RCOA) == LCOA
    (ba,) = [a.packet for a in actions if hasattr(a, "packet") and a.packet.dst == LCOA]
    opened, pair = mn_side.open(w.decode_packet(w.encode_packet(ba)))
    assert pair == "mn1" and isinstance(opened.payload, w.BindingAcknowledgement) and opened.payload.status == 0


def _open_only_drops(security: IpsecSecurity, packet: w.Packet) -> w.Packet | None:
    try:
        return security.open(packet)[0]
    except SecurityDrop:
        return None


@CORES
@given(st.sampled_from(sorted(SUITES)), st.integers(0, 2**32), st.integers(1, 3), st.booleans())
def test_mutated_protected_bus_are_dropped_or_harmless(suite, seed, lies, in_payload):
    """Mutations anywhere, or only inside the ESP/AH payload (header, IV, ciphertext, ICV): the MAP's security
    opens or drops (SecurityDrop only), its core never raises, and a mutant that no longer verifies binds nothing."""
    rnd = random.Random(seed)
    mn_side, map_side = _sides(suite)
    core = _map(map_side)
    data = w.encode_packet(mn_side.protect(_bu(1 + rnd.randrange(100)), "mn1"))
    if in_payload:  # bytes after the extension headers: the ESP/AH header and what it protects
        mutable = bytearray(data)
        start = len(data) - len(w.decode_packet(data).payload.data)
        for _ in range(lies):
            i = rnd.randrange(start, len(mutable))
            mutable[i] ^= 1 << rnd.randrange(8)
        if rnd.random() < 0.3:
            del mutable[rnd.randrange(start, len(mutable)):]
            mutable[4:6] = (len(mutable) - 40).to_bytes(2, "big")
        data = bytes(mutable)
    else:
        data = mutate(data, rnd, lies)
    for packet in check_decode(data):
        _open_only_drops(map_side, packet)
        now = 0.5
        actions = core.handle(now, "acc", packet)
        check_invariants(core, now, actions)
    if in_payload and core.tunnel_for(RCOA) is not None:
        pytest.fail("a BU whose ESP/AH payload was altered was accepted")


@CORES
@given(st.sampled_from(sorted(SUITES)), st.integers(0, 2**32))
def test_mutated_protected_bas_only_drop_at_the_mobile_node(suite, seed):
    rnd = random.Random(seed)
    mn_side, map_side = _sides(suite)
    ba = w.Packet(MAP, LCOA, w.BindingAcknowledgement(0, rnd.randrange(0x10000), 25), rh2_address=RCOA)
    data = mutate(w.encode_packet(map_side.protect(ba, "mn1")), rnd, rnd.randint(1, 3))
    for packet in check_decode(data):
        _open_only_drops(mn_side, packet)
