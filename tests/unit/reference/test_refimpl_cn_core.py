"""Correspondent node core (sans-I/O) and the return routability primitives, in virtual time: one test per message,
status code and clause of RFC 6275 §5.2, §6.1.3–§6.1.6, §6.2.7, §9.2–§9.5."""

from __future__ import annotations

import ast
import hashlib
import hmac
import json
import random
from pathlib import Path

import pytest

from reference_impl import wire as w
from reference_impl.actions import CnBindingAdded, CnBindingRemoved, CnBindingUpdated, Log, Send
from reference_impl.cn import CnConfig, CnCore, rr

CN = w.ip6("2001:db8:c::1")
HOME = w.ip6("2001:db8:7::aa")
COA = w.ip6("2001:db8:f1::ff:fe00:aa")
COA2 = w.ip6("2001:db8:f2::ff:fe00:aa")
IF = "eth0"


def make(**kw) -> CnCore:
    core = CnCore(CnConfig(address=CN, **kw), rng=random.Random(42))
    core.start(0.0)
    return core


def sends(actions) -> list[Send]:
    return [a for a in actions if isinstance(a, Send)]


def logs(actions, event: str) -> list[Log]:
    return [a for a in actions if isinstance(a, Log) and a.event == event]


def of(actions, kind):
    return [a for a in actions if isinstance(a, kind)]


def one_ba(actions) -> tuple[w.Packet, w.BindingAcknowledgement]:
    found = [s.packet for s in sends(actions) if isinstance(s.packet.payload, w.BindingAcknowledgement)]
    assert len(found) == 1, actions
    return found[0], found[0].payload


def hoti(src: bytes = HOME, cookie: bytes = b"homecook", **kw) -> w.Packet:
    return w.Packet(src, CN, rr.encode_rr(rr.HomeTestInit(cookie)), **kw)


def coti(src: bytes = COA, cookie: bytes = b"coacook!", **kw) -> w.Packet:
    return w.Packet(src, CN, rr.encode_rr(rr.CareOfTestInit(cookie)), **kw)


def tokens(core: CnCore, now: float, coa: bytes = COA) -> tuple[rr.HomeTest, rr.CareOfTest]:
    """Run HoTI and CoTI through the core; return the HoT and CoT it answered with."""
    hot = rr.decode_rr(sends(core.handle(now, IF, hoti()))[0].packet.payload)
    cot = rr.decode_rr(sends(core.handle(now, IF, coti(coa)))[0].packet.payload)
    return hot, cot


def signed_bu(hot: rr.HomeTest, cot: rr.CareOfTest | None, seq: int, lifetime: int = 100, *, coa: bytes = COA,
              flags: int = w.BU_A, key_coa: bytes | None = None, indices: tuple[int, int] | None = None) -> w.Packet:
    """A BU as a mobile node builds it (RFC 6275 §11.7.2), with the Kbm from the tokens."""
    kbm = rr.binding_management_key(hot.token, cot.token if cot is not None else None)
    ni = indices or (hot.nonce_index, cot.nonce_index if cot is not None else 0)
    bu = w.BindingUpdate(seq, flags, lifetime, (w.NonceIndices(*ni),))
    bu = rr.sign(bu, kbm, key_coa or coa, CN)
    return w.Packet(coa, CN, bu, home_address=HOME)


def kbm_of(hot, cot=None) -> bytes:
    return rr.binding_management_key(hot.token, cot.token if cot is not None else None)


# --- return routability primitives ----------------------------------------------------------------------------------


def test_rr_messages_round_trip_with_rfc_header_lengths():
    """RFC 6275 §6.1.3–§6.1.6: HoTI/CoTI have Header Len 1 (16 octets), HoT/CoT Header Len 2 (24 octets); MH types
    1–4; the codec keeps them opaque and rr decodes them."""
    for msg, mh_type, length in ((rr.HomeTestInit(b"12345678"), 1, 16), (rr.CareOfTestInit(b"abcdefgh"), 2, 16),
                                 (rr.HomeTest(0x1234, b"12345678", b"TOKEN!!!"), 3, 24),
                                 (rr.CareOfTest(7, b"abcdefgh", b"tokentok"), 4, 24)):
        raw = w.encode_mh(rr.encode_rr(msg))
        assert (raw[0], raw[1], raw[2], len(raw)) == (59, length // 8 - 1, mh_type, length)
        packet = w.Packet(HOME, CN, rr.encode_rr(msg))
        assert rr.decode_rr(w.decode_packet(w.encode_packet(packet)).payload) == msg
    assert rr.decode_rr(w.MobilityUnknown(3, b"short")) is None
    assert rr.decode_rr(w.BindingUpdate(1)) is None
    with pytest.raises(ValueError):
        rr.encode_rr(rr.HomeTestInit(b"short"))


def test_keygen_tokens_and_kbm_follow_rfc_formulas():
    """RFC 6275 §5.2.5: home token = First(64, HMAC_SHA1(Kcn, home | nonce | 0)), care-of token with | 1, Kbm =
    SHA1(home token | care-of token), SHA1(home token) for deletions."""
    kcn, nonce = bytes(range(20)), b"noncenon"
    home = hmac.new(kcn, HOME + nonce + b"\x00", hashlib.sha1).digest()[:8]
    careof = hmac.new(kcn, COA + nonce + b"\x01", hashlib.sha1).digest()[:8]
    assert rr.home_keygen_token(kcn, HOME, nonce) == home
    assert rr.careof_keygen_token(kcn, COA, nonce) == careof
    assert rr.binding_management_key(home, careof) == hashlib.sha1(home + careof).digest()
    assert rr.binding_management_key(home, None) == hashlib.sha1(home).digest()


def test_authenticator_covers_mobility_header_without_the_field():
    """RFC 6275 §6.2.7: Authenticator = First(96, HMAC_SHA1(Kbm, care-of address | correspondent | MH Data)), MH Data
    being the Mobility Header with checksum zero and without the Authenticator itself; BAD last at 8n+2, no trailing
    padding."""
    kbm = bytes(20)
    bu = rr.sign(w.BindingUpdate(5, w.BU_A, 10, (w.NonceIndices(1, 2),)), kbm, COA, CN)
    raw = w.encode_mh(bu)  # checksum field 0 here
    assert raw[-14:-12] == bytes((5, 12)) and len(raw) % 8 == 0 and (len(raw) - 14) % 8 == 2
    expected = hmac.new(kbm, COA + CN + raw[:-12], hashlib.sha1).digest()[:12]
    assert bu.options[-1] == w.BindingAuthorizationData(expected)
    assert rr.verify(bu, kbm, COA, CN)
    assert not rr.verify(bu, kbm, COA2, CN)
    assert not rr.verify(w.BindingUpdate(5, w.BU_A, 10, (w.NonceIndices(1, 2),)), kbm, COA, CN)
    tampered = w.BindingUpdate(6, w.BU_A, 10, bu.options)
    assert not rr.verify(tampered, kbm, COA, CN)


# --- HoTI / CoTI ----------------------------------------------------------------------------------------------------


def test_hoti_answered_with_hot_to_home_address():
    """RFC 6275 §9.4.1, §9.4.3, §6.1.5: HoT from the CN to the HoTI's source (the home address), cookie echoed, home
    keygen token from Kcn and the current nonce, with its index."""
    core = make()
    (send,) = sends(core.handle(1.0, IF, hoti()))
    p = send.packet
    assert (p.src, p.dst, p.home_address, p.rh2_address) == (CN, HOME, None, None)
    hot = rr.decode_rr(p.payload)
    nonce = core.nonces.nonces[hot.nonce_index]
    assert hot.cookie == b"homecook" and hot.token == rr.home_keygen_token(nonce.kcn, HOME, nonce.value)
    assert len(nonce.kcn) == 20 and len(nonce.value) == 8  # §5.2.1 node key 20 octets, §5.2.2 64-bit nonce
    assert w.decode_packet(w.encode_packet(p)) == p


def test_coti_answered_with_cot_to_care_of_address():
    """RFC 6275 §9.4.2, §9.4.4, §6.1.6: CoT to the CoTI's source with the care-of keygen token."""
    core = make()
    (send,) = sends(core.handle(1.0, IF, coti()))
    cot = rr.decode_rr(send.packet.payload)
    nonce = core.nonces.nonces[cot.nonce_index]
    assert (send.packet.src, send.packet.dst) == (CN, COA)
    assert cot.cookie == b"coacook!" and cot.token == rr.careof_keygen_token(nonce.kcn, COA, nonce.value)


def test_test_init_with_home_address_option_silently_ignored():
    """RFC 6275 §9.4.1/§9.4.2: a HoTI or CoTI carrying a Home Address option MUST be silently ignored."""
    core = make()
    assert not sends(core.handle(1.0, IF, hoti(home_address=COA2)))
    assert not sends(core.handle(1.0, IF, coti(home_address=HOME)))
    assert logs(core.handle(1.0, IF, hoti(home_address=COA2)), "hoti_ignored")


def test_nonces_regenerated_every_interval_and_expire():
    """RFC 6275 §5.2.7: a new nonce (new index, new Kcn with regenerate_node_key) once the current one has been in use
    for 30 s; a nonce is refused MAX_NONCE_LIFETIME (240 s) after its first use."""
    core = make()
    first, _ = tokens(core, 0.0)
    again, _ = tokens(core, 29.0)
    assert again.nonce_index == first.nonce_index
    newer, _ = tokens(core, 30.0)
    assert newer.nonce_index == (first.nonce_index + 1) & 0xFFFF
    assert core.nonces.nonces[newer.nonce_index].kcn != core.nonces.nonces[first.nonce_index].kcn
    assert core.nonces.lookup(first.nonce_index, 240.0, 240.0) is not None
    assert core.nonces.lookup(first.nonce_index, 240.5, 240.0) is None


# --- Binding Updates ------------------------------------------------------------------------------------------------


def test_authorised_bu_accepted_with_authenticated_ba():
    """RFC 6275 §9.5.1, §9.5.2, §9.5.4, §5.2.6: valid nonce indices and authenticator -> binding created, BA status 0
    to the BU's source with a type 2 routing header holding the home address and a valid Binding Authorization
    Data option; route optimisation toward the care-of address (§9.3.2)."""
    core = make()
    hot, cot = tokens(core, 0.0)
    actions = core.handle(1.0, IF, signed_bu(hot, cot, 10, lifetime=50))
    (added,) = of(actions, CnBindingAdded)
    assert (added.home_address, added.care_of_address, added.lifetime) == (HOME, COA, 200)
    packet, ba = one_ba(actions)
    assert (packet.src, packet.dst, packet.rh2_address) == (CN, COA, HOME)
    assert (ba.status, ba.seq, ba.lifetime) == (0, 10, 50)
    assert rr.verify(ba, kbm_of(hot, cot), COA, CN)
    assert w.decode_packet(w.encode_packet(packet)) == packet
    assert core.route_for(HOME) == COA and core.route_for(COA2) is None


def test_accepted_bu_without_a_flag_gets_no_ba_and_update_moves_binding():
    """RFC 6275 §9.5.4: an accepted BU with A clear SHOULD NOT be acknowledged; a newer BU updates the entry."""
    core = make()
    hot, cot = tokens(core, 0.0)
    assert not sends(core.handle(1.0, IF, signed_bu(hot, cot, 10, flags=0)))
    _, cot2 = tokens(core, 2.0, COA2)
    actions = core.handle(3.0, IF, signed_bu(hot, cot2, 11, coa=COA2))
    (updated,) = of(actions, CnBindingUpdated)
    assert (updated.care_of_address, updated.old_care_of_address) == (COA2, COA)
    assert core.route_for(HOME) == COA2


@pytest.mark.parametrize("stale,status", [("home", 136), ("careof", 137), ("both", 138)])
def test_expired_nonce_indices(stale, status):
    """RFC 6275 §9.5.1, §6.1.8: unknown home / care-of / both nonce indices -> BA 136 / 137 / 138, sent even with A
    clear (§9.5.4 MUST) and without Binding Authorization Data."""
    core = make()
    hot, cot = tokens(core, 0.0)
    bad = (hot.nonce_index + 100) & 0xFFFF
    indices = {"home": (bad, cot.nonce_index), "careof": (hot.nonce_index, bad), "both": (bad, bad)}[stale]
    packet, ba = one_ba(core.handle(1.0, IF, signed_bu(hot, cot, 10, flags=0, indices=indices)))
    assert (ba.status, ba.seq) == (status, 10)
    assert not any(isinstance(o, w.BindingAuthorizationData) for o in ba.options)
    assert not core.cache.bindings


def test_nonces_older_than_max_nonce_lifetime_give_138():
    """RFC 6275 §5.2.7: tokens are refused MAX_NONCE_LIFETIME after the nonce's first use."""
    core = make()
    hot, cot = tokens(core, 0.0)
    assert one_ba(core.handle(241.0, IF, signed_bu(hot, cot, 10)))[1].status == 138


def test_forgotten_nonces_give_138():
    """RFC 6275 §5.2.7: after the CN loses its nonces (e.g. reboot) the MN is told to retry return routability."""
    core = make()
    hot, cot = tokens(core, 0.0)
    assert logs(core.forget_nonces(1.0), "nonces_forgotten")
    assert one_ba(core.handle(1.0, IF, signed_bu(hot, cot, 10)))[1].status == 138


def test_wrong_authenticator_silently_discarded():
    """RFC 6275 §9.5.1: a BU failing the authenticator check (wrong Kbm, other care-of address) is silently
    discarded: no BA, no binding."""
    core = make()
    hot, cot = tokens(core, 0.0)
    actions = core.handle(1.0, IF, signed_bu(hot, cot, 10, key_coa=COA2))
    assert not sends(actions) and logs(actions, "bu_discarded") and not core.cache.bindings
    forged = rr.HomeTest(hot.nonce_index, hot.cookie, b"\x00" * 8)
    assert not sends(core.handle(1.0, IF, signed_bu(forged, cot, 11)))


def test_missing_options_silently_discarded():
    """RFC 6275 §9.5.1: no Nonce Indices option, or no Binding Authorization Data (which MUST be last) -> discard."""
    core = make()
    hot, cot = tokens(core, 0.0)
    no_ni = w.Packet(COA, CN, w.BindingUpdate(1, w.BU_A, 10), home_address=HOME)
    assert not sends(core.handle(1.0, IF, no_ni))
    no_bad = w.Packet(COA, CN, w.BindingUpdate(2, w.BU_A, 10, (w.NonceIndices(hot.nonce_index, cot.nonce_index),)),
                      home_address=HOME)
    assert not sends(core.handle(1.0, IF, no_bad))
    good = signed_bu(hot, cot, 3).payload
    not_last = w.Packet(COA, CN, w.BindingUpdate(3, w.BU_A, 100, (good.options[1], good.options[0])),
                        home_address=HOME)
    assert not sends(core.handle(1.0, IF, not_last))
    assert core.counters["bu_discarded"] == 3


def test_sequence_number_not_newer_gives_135_with_last_accepted():
    """RFC 6275 §9.5.1: a BU whose sequence number is not greater (modulo 2**16) -> BA 135 carrying the last accepted
    number; it is authenticated (Binding Authorization Data present)."""
    core = make()
    hot, cot = tokens(core, 0.0)
    core.handle(1.0, IF, signed_bu(hot, cot, 10))
    packet, ba = one_ba(core.handle(2.0, IF, signed_bu(hot, cot, 10, flags=0)))
    assert (ba.status, ba.seq) == (135, 10)
    assert rr.verify(ba, kbm_of(hot, cot), COA, CN)
    assert one_ba(core.handle(3.0, IF, signed_bu(hot, cot, 11)))[1].status == 0


def test_deletion_with_home_token_only_and_replay_refused():
    """RFC 6275 §9.5.1, §9.5.3, §5.2.5, §6.2.7: lifetime 0 deletes the binding; Kbm = SHA1(home token), the care-of
    nonce index is ignored and the authenticator uses the home address as care-of address.  The sequence number is
    remembered (§5.2.8), so replaying the old registration gets 135 instead of re-creating the binding."""
    core = make()
    hot, cot = tokens(core, 0.0)
    registration = signed_bu(hot, cot, 10)
    core.handle(1.0, IF, registration)
    deletion = signed_bu(hot, None, 11, lifetime=0, key_coa=HOME, indices=(hot.nonce_index, 0xBEEF))
    actions = core.handle(2.0, IF, deletion)
    (removed,) = of(actions, CnBindingRemoved)
    assert (removed.home_address, removed.reason) == (HOME, "deregistered")
    packet, ba = one_ba(actions)
    assert (ba.status, ba.lifetime) == (0, 0) and rr.verify(ba, kbm_of(hot), HOME, CN)
    assert core.route_for(HOME) is None
    assert one_ba(core.handle(3.0, IF, registration))[1].status == 135
    assert not core.cache.bindings


def test_deletion_signed_with_current_care_of_address_accepted():
    """RFC 6275 §11.7.2 lets a MN away from home keep its care-of address in a deletion; the CN accepts an
    authenticator computed with either address."""
    core = make()
    hot, cot = tokens(core, 0.0)
    core.handle(1.0, IF, signed_bu(hot, cot, 10))
    actions = core.handle(2.0, IF, signed_bu(hot, None, 11, lifetime=0, key_coa=COA))
    assert of(actions, CnBindingRemoved) and one_ba(actions)[1].status == 0


def test_home_registration_refused_with_131():
    """RFC 6275 §10.3.1: a node that only implements correspondent functionality rejects H with BA 131; H with a
    Nonce Indices option is invalid (§9.5.1) and silently discarded."""
    core = make()
    packet, ba = one_ba(core.handle(1.0, IF, w.Packet(COA, CN, w.BindingUpdate(3, w.BU_A | w.BU_H, 10),
                                                      home_address=HOME)))
    assert (ba.status, ba.seq, packet.rh2_address) == (131, 3, HOME)
    with_ni = w.Packet(COA, CN, w.BindingUpdate(4, w.BU_A | w.BU_H, 10, (w.NonceIndices(1, 1),)), home_address=HOME)
    assert not sends(core.handle(1.0, IF, with_ni))


def test_lifetime_capped_and_binding_expires():
    """RFC 6275 §5.2.6: bindings from return routability never exceed MAX_RR_BINDING_LIFETIME (420 s); §9.6: the
    entry is deleted when its lifetime ends."""
    core = make()
    hot, cot = tokens(core, 0.0)
    ba = one_ba(core.handle(0.0, IF, signed_bu(hot, cot, 10, lifetime=1000)))[1]
    assert ba.lifetime == 105
    assert core.next_deadline() == 420.0
    (removed,) = of(core.tick(420.0), CnBindingRemoved)
    assert removed.reason == "expired" and core.route_for(HOME) is None


def test_cache_full_gives_130():
    """RFC 6275 §9.5.2, §9.5.4: a new entry refused for lack of resources -> BA 130 (sent even without A)."""
    core = make(max_bindings=0)
    hot, cot = tokens(core, 0.0)
    assert one_ba(core.handle(1.0, IF, signed_bu(hot, cot, 10, flags=0)))[1].status == 130


# --- data-plane decisions ------------------------------------------------------------------------------------------


def test_home_address_option_checks_and_binding_error():
    """RFC 6275 §9.3.1, §9.3.3: a packet with a Home Address option is accepted only with a binding whose care-of
    address is the packet's source (MH/ESP/AH exempt); otherwise dropped with a Binding Error status 1 to the
    source, rate-limited; a non-unicast home address is dropped."""
    core = make()
    ok, actions = core.check_home_address(0.0, COA, CN, HOME, 17)
    assert not ok
    (send,) = sends(actions)
    assert (send.packet.src, send.packet.dst, send.packet.payload) == (CN, COA, w.BindingError(1, HOME))
    assert not sends(core.check_home_address(0.5, COA, CN, HOME, 17)[1])  # rate limit
    assert core.check_home_address(0.5, COA, CN, HOME, 135) == (True, [])
    assert core.check_home_address(0.5, COA, CN, w.ip6("ff02::1"), 17) == (False, [])
    hot, cot = tokens(core, 0.0)
    core.handle(1.0, IF, signed_bu(hot, cot, 10))
    assert core.check_home_address(2.0, COA, CN, HOME, 17) == (True, [])
    assert not core.check_home_address(2.0, COA2, CN, HOME, 17)[0]


def test_unknown_mobility_header_type_gets_binding_error_2():
    """RFC 6275 §9.2: an unknown MH type is discarded with a Binding Error status 2."""
    core = make()
    (send,) = sends(core.handle(0.0, IF, w.Packet(COA, CN, w.MobilityUnknown(42, bytes(10)), home_address=HOME)))
    assert send.packet.payload == w.BindingError(2, HOME) and send.packet.dst == COA


def test_snapshot_is_json():
    """Control command state: bindings, tombstones, nonces, counters; JSON-serialisable without NaN/Infinity."""
    core = make()
    hot, cot = tokens(core, 0.0)
    core.handle(1.0, IF, signed_bu(hot, cot, 10))
    snap = json.loads(json.dumps(core.snapshot(), allow_nan=False))
    assert snap["bindings"][0]["care_of_address"] == "2001:db8:f1::ff:fe00:aa"
    assert snap["counters"]["ba_sent"] == {"0": 1} and snap["nonces"]


def test_cn_public_exports_resolve():
    """Every name in the package's explicit __all__ exists, without duplicates."""
    import importlib

    package = importlib.import_module("reference_impl.cn")
    assert len(set(package.__all__)) == len(package.__all__)
    assert all(hasattr(package, name) for name in package.__all__)


def test_cn_package_is_sans_io():
    """Project rule: the cores have no sockets, clocks, threads or event loops (and no scapy / harness)."""
    forbidden = {"socket", "time", "threading", "asyncio", "select", "selectors", "subprocess", "scapy", "harness"}
    for path in Path(rr.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & forbidden, path
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                assert node.module.split(".")[0] not in forbidden, path
