"""Shared pieces of the structure-aware fuzz tests (``tests/fuzz``).

* Hypothesis strategies that build every message of the reference codec field by field (``packets()``,
  ``mobility_messages()``, ``icmp_messages()``, ...), each field over its whole range, reserved bits included, and
  packets aimed where each core looks (``core_packets()``, ``steps()``).
* The byte-level mutation engine, shared with the soak (:mod:`benchmarks.malformed`): :func:`layout` walks packet
  bytes independently of the codec and names the length fields (IPv6 payload length, extension header and option
  lengths, Mobility Header length, mobility and ND option lengths, the MAP option's); :func:`mutate` lies there;
  :func:`fix_checksum` / :func:`fix_payload_length` repair a mutant so that it reaches the deep parsing.
* :func:`check_decode`, :func:`check_bytes_paths`: the codec properties (only DecodeError escapes; what decodes
  re-encodes to the same view) and the daemons' raw-byte paths that see every frame before the decoder.
* :class:`Cores`: one of each sans-I/O core (MAP, AR, MN primed to "registered", HA, CN) and
  :func:`drive` / :func:`check_invariants`: feed them packets; they must never raise, return actions the I/O
  layer can carry out, keep ``next_deadline`` finite and not in the past, and keep their state well formed.
* :func:`daemons` / :func:`through_daemons`: the MAP and AR event loops (``reference_impl/daemon/runner.py``) on
  fake links, fed whole frames.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import typing

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from benchmarks.malformed import (  # noqa: F401 - the byte-level mutation engine the soak shares, re-exported
    LIES, Field, apply_lie, fix_checksum, fix_payload_length, layout, mutate,
)
from reference_impl import wire as w
from reference_impl.actions import Action, Send
from reference_impl.ar import ArConfig, ArCore, ArInterface, FailureDetection
from reference_impl.cn import CnConfig, CnCore
from reference_impl.ha import HaConfig, HaCore
from reference_impl.map import MapConfig, MapCore
from reference_impl.mn import MnConfig, MnCore, Paths, dataplane
from reference_impl.wire import fastpath

# Settings: no example database on disk, no deadline (a core run can be slow on a loaded machine), bounded counts
# so that the directory stays well under a minute.  HMIPV6_FUZZ_SCALE=N multiplies the counts for a deep run
# (e.g. ``HMIPV6_FUZZ_SCALE=50 pytest tests/fuzz``).
SCALE = max(1, int(os.environ.get("HMIPV6_FUZZ_SCALE", "1")))
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
FUZZ = settings(max_examples=200 * SCALE, deadline=None, database=None, suppress_health_check=_QUIET)
CORES = settings(max_examples=100 * SCALE, deadline=None, database=None, suppress_health_check=_QUIET)

# --- the little world the cores live in ---------------------------------------------------------------------------
MAP = w.ip6("2001:db8:100::1")
MAP_PREFIX = w.ip6("2001:db8:100::")
ACC1 = w.ip6("2001:db8:110::")
ACC3 = w.ip6("2001:db8:210::")
AR_LL = w.ip6("fe80::a1")
AR_GLOBAL = w.ip6("2001:db8:100::2")
HA = w.ip6("2001:db8:10::2")
HOME = w.ip6("2001:db8:10::100")
CN = w.ip6("2001:db8:20::10")
MN_MAC = w.mac("02:00:00:00:00:aa")
AR_MAC = w.mac("02:00:00:00:0a:01")
MAP_MAC = w.mac("02:00:00:00:00:0f")
HA_MAC = w.mac("02:00:00:00:00:10")
MN_IID = bytes.fromhex("000000fffe0000aa")
LCOA = ACC1[:8] + MN_IID
RCOA = MAP_PREFIX[:8] + MN_IID
OTHER_LCOA = w.ip6("2001:db8:110::c0a")
OTHER_RCOA = w.ip6("2001:db8:100::c0a")

INTERESTING = [
    w.UNSPECIFIED, w.ip6("::1"), w.ALL_NODES, w.ALL_ROUTERS, w.ip6("ff02::1:ff00:aa"), w.solicited_node(RCOA),
    w.ip6("fe80::1"), AR_LL, w.ip6("fe80::2:ff:fe00:aa"), MAP, AR_GLOBAL, HA, HOME, CN, LCOA, RCOA, OTHER_LCOA,
    OTHER_RCOA, w.ip6("2001:db8:100::ffff"), w.ip6("2001:db8:120::1"), w.ip6("2001:db8:210::99"),
    w.ip6("ff05::2"), bytes([0xFF] * 16), w.ip6("::ffff:192.0.2.1"),
]

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)


def addresses() -> st.SearchStrategy[bytes]:
    return st.one_of(st.sampled_from(INTERESTING), st.binary(min_size=16, max_size=16))


def macs() -> st.SearchStrategy[bytes]:
    return st.one_of(st.sampled_from([MN_MAC, AR_MAC, MAP_MAC, bytes(6), b"\xff" * 6]), st.binary(min_size=6, max_size=6))


# --- mobility options and messages (RFC 6275 §6.1, §6.2) ------------------------------------------------------------

def mobility_options(pads: bool = False) -> st.SearchStrategy[tuple]:
    """A mobility option list; ``pads`` adds Pad1/PadN (emitted verbatim, so layouts the encoder would not choose)."""
    choices = [
        st.builds(w.BindingRefreshAdvice, u16),
        st.builds(w.AlternateCareOfAddress, addresses()),
        st.builds(w.NonceIndices, u16, u16),
        st.builds(w.BindingAuthorizationData, st.binary(max_size=40)),
        st.builds(w.MobilityOptionUnknown, st.integers(6, 255), st.binary(max_size=24)),
    ]
    if pads:
        choices += [st.just(w.Pad1()), st.builds(w.PadN, st.integers(0, 9))]
    return st.lists(st.one_of(*choices), max_size=5).map(tuple)


def mobility_messages(pads: bool = False) -> st.SearchStrategy:
    opts = mobility_options(pads)
    return st.one_of(
        st.builds(w.BindingUpdate, u16, u16, u16, opts),  # every flag combination, reserved bits included
        st.builds(w.BindingAcknowledgement, u8, u16, u16, u8, opts),
        st.builds(w.BindingError, u8, addresses(), opts, u8),
        st.builds(w.BindingRefreshRequest, opts, u16),
        # HoTI/CoTI/HoT/CoT and unassigned types: opaque data, 6 + len a multiple of 8 (the encoder pads)
        st.builds(w.MobilityUnknown, st.sampled_from([1, 2, 3, 4, 8, 9, 16, 255]),
                  st.integers(0, 6).flatmap(lambda n: st.binary(min_size=8 * n + 2, max_size=8 * n + 2))),
    )


# --- ND options and ICMPv6 messages (RFC 4861, RFC 4443, base §5) --------------------------------------------------

def map_options() -> st.SearchStrategy[w.MapOption]:
    """The MAP option with every field over its range, the 7 reserved bits included."""
    return st.builds(w.MapOption, addresses(), st.integers(0, 15), st.integers(0, 15), st.booleans(), u32,
                     st.integers(0, 0x7F))


def nd_options() -> st.SearchStrategy[tuple]:
    lladdr = st.one_of(st.binary(min_size=6, max_size=6), st.binary(min_size=14, max_size=14))
    choice = st.one_of(
        st.builds(w.SourceLinkLayerAddress, lladdr),
        st.builds(w.TargetLinkLayerAddress, lladdr),
        st.builds(w.PrefixInformation, addresses(), u8, u8, u32, u32, u32),
        st.builds(w.Mtu, u32, u16),
        st.builds(w.AdvertisementInterval, u32, u16),
        map_options(),
        st.builds(w.NdOptionUnknown, st.sampled_from([4, 6, 8, 17, 24, 25, 31, 200, 255]),
                  st.integers(0, 3).flatmap(lambda n: st.binary(min_size=8 * n + 6, max_size=8 * n + 6))),
    )
    return st.lists(choice, max_size=6).map(tuple)


def icmp_messages() -> st.SearchStrategy:
    opts = nd_options()
    return st.one_of(
        st.builds(w.RouterSolicitation, opts, u32, u8),
        st.builds(w.RouterAdvertisement, u8, u8, u16, u32, u32, opts, u8),
        st.builds(w.NeighborSolicitation, addresses(), opts, u32, u8),
        st.builds(w.NeighborAdvertisement, addresses(), st.booleans(), st.booleans(), st.booleans(), opts,
                  st.integers(0, 0x1FFFFFFF), u8),
        st.builds(w.EchoRequest, u16, u16, st.binary(max_size=32), u8),
        st.builds(w.EchoReply, u16, u16, st.binary(max_size=32), u8),
        st.builds(w.Icmpv6Opaque, st.sampled_from([1, 2, 3, 4, 130, 137, 143, 155, 200]), u8,
                  st.binary(max_size=64)),
    )


# --- IPv6 with HAO / RH2 / Hop-by-Hop / destination options / nesting (RFC 8200, RFC 6275 §6.3, §6.4) -----------

def _option_area(opts: list[tuple[int, bytes]]) -> bytes:
    area = b"".join(bytes((t, len(d))) + d for t, d in opts)
    pad = -(2 + len(area)) % 8
    return area + (b"" if pad == 0 else b"\x00" if pad == 1 else bytes((1, pad - 2)) + bytes(pad - 2))


def hop_by_hop_areas() -> st.SearchStrategy[bytes]:
    """A Hop-by-Hop options area as the decoder keeps it: well-formed options padded to 8n+6 octets."""
    opt = st.tuples(st.sampled_from([5, 0x3E, 0xC2, 0x80, 201, 7]), st.binary(max_size=8))
    return st.lists(opt, max_size=3).map(_option_area)


def dest_options() -> st.SearchStrategy[tuple]:
    opt = st.builds(w.Ipv6Option, st.integers(2, 255).filter(lambda t: t != 201), st.binary(max_size=10))
    return st.lists(opt, max_size=3).map(tuple)


RAW_NEXT_HEADERS = [6, 17, 44, 59, 103, 253, 255]  # not interpreted: fragments, UDP, TCP, "no next header", ...


@st.composite
def packets(draw, depth: int = 0, payloads: st.SearchStrategy | None = None) -> w.Packet:
    """A valid :class:`~reference_impl.wire.Packet`: any message, any extension headers, IPv6-in-IPv6 nesting."""
    if payloads is None:
        kinds = [mobility_messages(), icmp_messages(),
                 st.builds(w.RawPayload, st.sampled_from(RAW_NEXT_HEADERS), st.binary(max_size=48))]
        if depth < 2:
            kinds.append(packets(depth=depth + 1))
        payloads = st.one_of(*kinds)
    return w.Packet(
        src=draw(addresses()), dst=draw(addresses()), payload=draw(payloads), hop_limit=draw(u8),
        home_address=draw(st.none() | addresses()), rh2_address=draw(st.none() | addresses()),
        hop_by_hop=draw(st.none() | hop_by_hop_areas()), dest_options=draw(dest_options()),
        traffic_class=draw(u8), flow_label=draw(st.integers(0, 0xFFFFF)),
    )


def frames() -> st.SearchStrategy[w.Frame]:
    return st.builds(w.Frame, macs(), macs(), packets())


# --- properties -----------------------------------------------------------------------------------------------------

def _without_received_headers(value):
    """Decoded packets with the bytes an AH was found behind cleared: ``RawPayload.headers`` is what was received,
    and the encoder ignores it, so a re-encoded copy may carry different ones."""
    if isinstance(value, w.Packet):
        return dataclasses.replace(value, payload=_without_received_headers(value.payload))
    if isinstance(value, w.RawPayload) and getattr(value, "headers", b""):
        return dataclasses.replace(value, headers=b"")
    return value


def check_decode(data: bytes) -> list[w.Packet]:
    """Decode ``data`` as an IPv6 packet (checksums verified and not); only DecodeError may escape, its offset
    lies inside the buffer, and what decodes re-encodes and decodes to the same view.  Returns the packets that
    decoded (to feed the cores)."""
    decoded = []
    for verify in (True, False):
        try:
            packet = w.decode_packet(data, verify_checksums=verify)
        except w.DecodeError as err:
            assert isinstance(err.offset, int) and 0 <= err.offset <= len(data) + 1, (err, len(data))
            assert isinstance(err.reason, str) and err.reason
            continue
        again = w.decode_packet(w.encode_packet(packet), verify_checksums=verify)
        assert _without_received_headers(again) == _without_received_headers(packet)
        decoded.append(packet)
    for fn in (fastpath.peek, fastpath.upper_layer, fastpath.decapsulate, fastpath.decrement_hop_limit,
               fastpath.frame_payload):
        fn(data)
    frame = bytes(6) + bytes(6) + b"\x86\xdd" + data
    try:
        w.decode_frame(frame, verify_checksums=False)
    except w.DecodeError:
        pass
    return decoded


def check_bytes_paths(data: bytes) -> None:
    """The daemons' raw-byte paths that see every frame before (or instead of) the decoder must not raise:
    the signalling filters, checksum completion, the MAP's tunnelling fast path and the MN's data plane."""
    from reference_impl.daemon.linkio import complete_checksum

    frame = MAP_MAC + MN_MAC + b"\x86\xdd" + data
    for accept in _FILTERS:
        accept("acc", frame)
    complete_checksum(frame)
    plane = _plane()
    plane.on_data("dom", frame)
    for paths in _MN_PATHS:
        verdict, out = dataplane.incoming(paths, data)
        assert verdict in ("signal", "deliver", "drop", "pass") and isinstance(out, bytes)
        if verdict == "deliver":
            assert out[:1] and out[0] >> 4 == 6, "the MN would write a non-IPv6 packet into its TUN device"
        dataplane.outgoing(paths, data)


_FILTERS: list = []
_MN_PATHS: list[Paths] = []
_PLANE: list = []


class _FakeRaw:
    def __init__(self) -> None:
        self.sent = 0

    def send(self, packet: bytes, ifname: str | None = None, ifindex: int = 0) -> None:
        assert packet[0] >> 4 == 6
        self.sent += 1


class _FakeTable:
    def intercept(self, bound: str) -> None:
        pass

    def release(self, bound: str) -> None:
        pass

    def rebuild(self, bound: list[str]) -> None:
        pass


def _plane():
    if not _PLANE:
        from reference_impl.daemon.dataplane import TunnelPlane

        core = map_core()
        drive_core(core, 0.0, "dom", register_bu(OTHER_RCOA, OTHER_LCOA, 1))
        _PLANE.append(TunnelPlane(core, MAP, {MAP}, _FakeRaw(), _FakeTable(), lambda *a, **k: None))
    return _PLANE[0]


def _init_byte_paths() -> None:
    from reference_impl.daemon.runner import signalling_filter

    _FILTERS[:] = [signalling_filter(protocols=frozenset({135, 50, 51}), icmp_types=frozenset({133, 134, 135, 136})),
                   signalling_filter(icmp_types=frozenset({129, 133, 134}))]
    _MN_PATHS[:] = [
        Paths("acc", "none", HOME),
        Paths("acc", "hmipv6", HOME, lcoa=LCOA, router_mac=AR_MAC, map=MAP, rcoa=RCOA, home_agent=HA, ha_coa=RCOA,
              ro=((CN, RCOA),), tunnels=((RCOA, MAP),), router=AR_LL),
        Paths("acc", "mipv6", HOME, lcoa=LCOA, router_mac=AR_MAC, home_agent=HA, ha_coa=LCOA, router=AR_LL),
    ]


# --- the cores --------------------------------------------------------------------------------------------------

ACTION_TYPES = typing.get_args(Action)


def map_core(variant: int = 0) -> MapCore:
    """A MAP on link "dom" serving 2001:db8:100::/64; variants: DAD on / optimistic / off with a tiny cache."""
    common = dict(address=MAP, home_iface="dom", link_address=MAP_MAC, onlink_prefixes=((ACC1, 64),),
                  forward_prefixes=((ACC3, 64),), dad_retrans_timer=0.5, refresh_advice=40)
    extra = [dict(dad="on"), dict(dad="optimistic", unsolicited_na_count=3),
             dict(dad="off", max_bindings=2, prefix_valid_until=500.0, prefix_preferred_until=300.0,
                  onlink_prefixes=None)][variant % 3]
    core = MapCore(MapConfig(**(common | extra)), "rfc4140" if variant % 2 == 0 else "rfc5380")
    core.start(0.0)
    return core


def ar_core(seed: int = 1) -> ArCore:
    """An AR advertising on "acc" (MAP option manual + learnt), learning MAP options on "up", probing the MAP."""
    acc = ArInterface("acc", AR_MAC, link_local=AR_LL, prefixes=(w.PrefixInformation(ACC1, 64),), mtu=1500,
                      max_interval=1.5, min_interval=0.5, min_delay_between_ras=0.1)
    up = ArInterface("up", w.mac("02:00:00:00:0a:02"), advertise=False, listen_map_options=True)
    cfg = ArConfig(interfaces=(acc, up), manual_maps=(w.MapOption(MAP, 1, 10, True, 86400),), discovery="dynamic",
                   failure_detection=FailureDetection(source=AR_GLOBAL, interval=0.5, aggressive_interval=0.25,
                                                      aggressive_duration=0.75), learned_map_timeout=90.0)
    core = ArCore(cfg, "rfc4140", rng=random.Random(seed))
    core.start(0.0)
    return core


def ha_core() -> HaCore:
    core = HaCore(HaConfig(address=HA, home_iface="home", link_address=HA_MAC, dad="off"))
    core.start(0.0)
    return core


def cn_core(seed: int = 3) -> CnCore:
    core = CnCore(CnConfig(address=CN), rng=random.Random(seed))
    core.start(0.0)
    return core


def register_bu(rcoa: bytes, lcoa: bytes, seq: int, lifetime: int = 100) -> w.Packet:
    return w.Packet(lcoa, MAP, w.BindingUpdate(seq, w.BU_A | w.BU_M, lifetime), home_address=rcoa)


def _ra(options: tuple = ()) -> w.Packet:
    opts = (w.SourceLinkLayerAddress(AR_MAC), w.PrefixInformation(ACC1, 64), w.AdvertisementInterval(1500),
            w.MapOption(MAP, 1, 10, True, 86400)) + options
    return w.Packet(AR_LL, w.ALL_NODES, w.RouterAdvertisement(router_lifetime=1800, options=opts), hop_limit=255)


def mn_core(seed: int = 5, prime: bool = True) -> tuple[MnCore, float]:
    """A mobile node on "acc"; primed: registered with the MAP and the HA (their BAs answered), RR under way.
    Returns the core and the virtual time reached."""
    cfg = MnConfig(iface="acc", link_address=MN_MAC, home_address=HOME, home_agent=HA, correspondents=(CN,),
                   max_rtr_solicitation_delay=0.0, map_lifetime=400, ha_lifetime=400)
    core = MnCore(cfg, "rfc4140", rng=random.Random(seed))
    now = 0.0
    core.start(now)
    if not prime:
        return core, now
    pending = core.handle(now, "acc", _ra())
    for _ in range(6):
        now += 0.01
        answers = []
        for action in pending:
            if isinstance(action, Send):
                answers += _answer(action.packet)
        pending = []
        for packet in answers:
            pending += core.handle(now, "acc", packet)
    return core, now


def _answer(packet: w.Packet) -> list[w.Packet]:
    """A MAP / HA answering the MN's BUs with status 0 (inside the MAP tunnel where the MN used it)."""
    if isinstance(packet.payload, w.BindingUpdate) and packet.dst == MAP:
        bu = packet.payload
        return [w.Packet(MAP, packet.src, w.BindingAcknowledgement(0, bu.seq, bu.lifetime),
                         rh2_address=packet.home_address)]
    inner = packet.payload
    if packet.dst == MAP and isinstance(inner, w.Packet) and isinstance(inner.payload, w.BindingUpdate) \
            and inner.dst == HA:
        bu = inner.payload
        ba = w.Packet(HA, inner.src, w.BindingAcknowledgement(0, bu.seq, bu.lifetime), rh2_address=HOME)
        return [w.Packet(MAP, packet.src, ba)]
    return []


class Cores:
    """One of each core, as a fuzz run drives them (created per example: fuzzed state must not leak)."""

    def __init__(self, variant: int = 0, seed: int = 1) -> None:
        self.map = map_core(variant)
        # two bindings the fuzz may try to disturb
        drive_core(self.map, 0.0, "acc", register_bu(OTHER_RCOA, OTHER_LCOA, 10))
        drive_core(self.map, 0.6, "acc", register_bu(RCOA, LCOA, 20))
        drive_core(self.map, 1.2, "acc", w.Packet(AR_LL, w.ALL_NODES, w.EchoRequest(1, 1)))
        self.ar = ar_core(seed)
        self.mn, mn_now = mn_core(seed)
        self.ha = ha_core()
        self.cn = cn_core(seed)
        self.now = max(1.2, mn_now)

    def all(self) -> list:
        return [self.map, self.ar, self.mn, self.ha, self.cn]


def drive_core(core, now: float, iface: str, packet: w.Packet) -> list:
    """``handle`` then the invariants; returns the actions."""
    actions = core.handle(now, iface, packet)
    check_invariants(core, now, actions)
    return actions


def tick_core(core, now: float) -> list:
    actions = core.tick(now)
    check_invariants(core, now, actions)
    return actions


def check_invariants(core, now: float, actions) -> None:
    who = type(core).__name__
    assert isinstance(actions, list), (who, type(actions))
    for action in actions:
        assert isinstance(action, ACTION_TYPES), (who, action)
        if isinstance(action, Send):
            assert action.iface is None or isinstance(action.iface, str), (who, action)
            assert action.link_dst is None or len(action.link_dst) == 6, (who, "link-layer destination", action)
            try:
                encoded = w.encode_packet(action.packet)  # the I/O layer must be able to send it
            except Exception as exc:
                raise AssertionError(f"{who} emitted a Send the I/O layer cannot encode: {exc!r}: {action}") from exc
            assert len(encoded) >= 40
    deadline = core.next_deadline()
    assert deadline is None or (math.isfinite(deadline) and deadline >= now - 1e-6), (deadline, now)
    json.dumps(core.snapshot(), default=str)
    if isinstance(core, MapCore):
        _map_invariants(core, now)
    elif isinstance(core, MnCore):
        _mn_invariants(core)


def _map_invariants(core: MapCore, now: float) -> None:
    cfg = core.config
    own = set(cfg.addresses)
    for rcoa, b in core.cache.bindings.items():
        assert b.rcoa == rcoa and len(rcoa) == 16 and len(b.lcoa) == 16
        assert w.is_unicast_routable(rcoa) and w.is_unicast_routable(b.lcoa), b
        assert cfg.on_map_prefix(rcoa) and rcoa not in own, b
        assert b.lifetime > 0 and b.lifetime % 4 == 0 and b.expires > now - 1e-6, b
        assert core.tunnel_for(rcoa) == b.lcoa
    assert core.bindings_in_use() <= max(cfg.max_bindings, 0), core.bindings_in_use()


def _mn_invariants(core: MnCore) -> None:
    assert core.lcoa is None or (len(core.lcoa) == 16 and w.is_unicast_routable(core.lcoa))
    for key, entry in core.bul.items():
        assert key == entry.key and len(entry.peer) == 16 and len(entry.home) == 16
    assert core.mode in ("none", "hmipv6", "mipv6")
    core.paths()


def drive(cores: Cores, steps: list[tuple[float, str, w.Packet]]) -> None:
    """Feed each (time step, interface, packet) to every core; tick whenever a deadline has passed."""
    for dt, iface, packet in steps:
        cores.now += dt
        for core in cores.all():
            deadline = core.next_deadline()
            if deadline is not None and deadline <= cores.now:
                tick_core(core, cores.now)
            drive_core(core, cores.now, iface, packet)


_init_byte_paths()


# --- packets aimed at the cores: mostly well formed, addressed where each core looks -----------------------------

def near(values: list[bytes]) -> st.SearchStrategy[bytes]:
    """One of ``values`` most of the time, else any address."""
    return st.one_of(st.sampled_from(values), st.sampled_from(values), addresses())


BU_FLAGS = [w.BU_A | w.BU_M, w.BU_M, w.BU_A | w.BU_H, w.BU_A | w.BU_M | w.BU_H, w.BU_A | w.BU_M | w.BU_L | w.BU_K,
            w.BU_A, 0, 0xFFFF, w.BU_A | w.BU_M | 0x07FF]


@st.composite
def bus_to_map(draw) -> w.Packet:
    options = draw(st.one_of(st.just(()), mobility_options(pads=draw(st.booleans())),
                             st.builds(lambda a: (w.AlternateCareOfAddress(a),), near([LCOA, OTHER_LCOA])),
                             st.builds(lambda i, j, d: (w.NonceIndices(i, j), w.BindingAuthorizationData(d)),
                                       u16, u16, st.binary(min_size=12, max_size=12))))
    bu = w.BindingUpdate(draw(st.one_of(st.sampled_from([0, 1, 11, 21, 0x7FFF, 0x8000, 0xFFFF]), u16)),
                         draw(st.one_of(st.sampled_from(BU_FLAGS), u16)),
                         draw(st.one_of(st.sampled_from([0, 1, 25, 0xFFFF]), u16)), options)
    return w.Packet(draw(near([LCOA, OTHER_LCOA, ACC1[:8] + bytes(7) + b"\x07", ACC3[:8] + MN_IID])),
                    draw(near([MAP])), bu, hop_limit=draw(u8),
                    home_address=draw(st.one_of(st.none(), near([RCOA, OTHER_RCOA, MAP, MAP_PREFIX[:8] + bytes(7) + b"\x09"]))),
                    rh2_address=draw(st.none() | addresses()))


@st.composite
def bas_to_mn(draw) -> w.Packet:
    status = draw(st.one_of(st.sampled_from([0, 1, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 255]), u8))
    options = draw(st.one_of(st.just(()), st.builds(lambda n: (w.BindingRefreshAdvice(n),), u16), mobility_options()))
    ba = w.BindingAcknowledgement(status, draw(u16), draw(st.one_of(st.sampled_from([0, 1, 100]), u16)),
                                  draw(u8), options)
    inner = w.Packet(draw(near([MAP, HA, CN])), draw(near([LCOA, RCOA, HOME])), ba,
                     rh2_address=draw(st.one_of(st.none(), near([RCOA, HOME]))), hop_limit=draw(u8))
    if draw(st.booleans()):  # tunnelled by the MAP (an HA's BA to the RCoA), maybe twice
        inner = w.Packet(draw(near([MAP, HA])), draw(near([LCOA, RCOA])), inner)
        if draw(st.booleans()):
            inner = w.Packet(draw(near([MAP])), draw(near([LCOA])), inner)
    return inner


@st.composite
def ras(draw) -> w.Packet:
    maps = draw(st.lists(st.one_of(map_options(), st.builds(
        lambda a, d, p, v: w.MapOption(a, d, p, True, v), near([MAP, w.ip6("2001:db8:200::1")]),
        st.integers(0, 15), st.integers(0, 15), st.sampled_from([0, 1, 0xFFFFFFFF, 86400]))), max_size=4))
    prefixes = draw(st.lists(st.builds(
        w.PrefixInformation, near([ACC1, ACC3, LCOA, RCOA]), st.one_of(st.just(64), u8),
        st.one_of(st.just(w.PI_L | w.PI_A), u8), st.sampled_from([0, 1, 5, 0xFFFFFFFF, 2592000]),
        st.sampled_from([0, 1, 5, 0xFFFFFFFF, 604800])), max_size=3))
    extra = draw(nd_options())
    options = tuple(draw(st.permutations(
        [w.SourceLinkLayerAddress(draw(macs()))] + prefixes + maps + list(extra)
        + ([w.AdvertisementInterval(draw(u32))] if draw(st.booleans()) else [])
        + ([w.Mtu(draw(u32))] if draw(st.booleans()) else []))))
    ra = w.RouterAdvertisement(draw(u8), draw(u8), draw(st.one_of(st.sampled_from([0, 1, 1800]), u16)), draw(u32),
                               draw(u32), options, draw(st.one_of(st.just(0), u8)))
    return w.Packet(draw(near([AR_LL, w.ip6("fe80::99"), w.ip6("fe80::a2")])), draw(near([w.ALL_NODES])), ra,
                    hop_limit=draw(st.one_of(st.just(255), u8)))


@st.composite
def nd_for_map(draw) -> w.Packet:
    target = draw(near([RCOA, OTHER_RCOA, MAP, LCOA]))
    src = draw(near([w.UNSPECIFIED, AR_GLOBAL, w.ip6("fe80::5")]))
    opts = draw(st.one_of(st.just(()), st.builds(lambda m: (w.SourceLinkLayerAddress(m),), macs()),
                          st.builds(lambda m: (w.TargetLinkLayerAddress(m),), macs()), nd_options()))
    if draw(st.booleans()):
        msg = w.NeighborSolicitation(target, opts, draw(st.one_of(st.just(0), u32)), draw(st.one_of(st.just(0), u8)))
        dst = draw(near([w.solicited_node(target), MAP, w.ALL_NODES]))
    else:
        msg = w.NeighborAdvertisement(target, draw(st.booleans()), draw(st.booleans()), draw(st.booleans()), opts,
                                      0, draw(st.one_of(st.just(0), u8)))
        dst = draw(near([w.ALL_NODES, MAP]))
    return w.Packet(src, dst, msg, hop_limit=draw(st.one_of(st.just(255), u8)))


@st.composite
def signals_to_mn(draw) -> w.Packet:
    """Echo replies for the AR's probes, BRR/BE/HoT/CoT from the CN, Parameter Problems quoting a HoTI."""
    kind = draw(st.sampled_from(["echo", "brr", "be", "hot", "cot", "pp"]))
    if kind == "echo":
        return w.Packet(draw(near([MAP])), draw(near([AR_GLOBAL])),
                        w.EchoReply(draw(st.one_of(st.just(0x4D50), u16)), draw(st.integers(0, 20)),
                                    draw(st.binary(max_size=20))))
    if kind == "brr":
        msg = w.BindingRefreshRequest(draw(mobility_options()), draw(u16))
    elif kind == "be":
        msg = w.BindingError(draw(u8), draw(near([HOME])), draw(mobility_options()), draw(u8))
    elif kind in ("hot", "cot"):
        msg = w.MobilityUnknown(3 if kind == "hot" else 4, draw(st.binary(min_size=18, max_size=18)))
    else:
        hoti = w.encode_packet(w.Packet(HOME, CN, w.MobilityUnknown(1, draw(st.binary(min_size=10, max_size=10)))))
        msg = w.Icmpv6Opaque(4, draw(st.sampled_from([0, 1, 2])), bytes(4) + draw(st.sampled_from(
            [hoti, hoti[:draw(st.integers(0, len(hoti)))], b""])))
    packet = w.Packet(draw(near([CN, HA])), draw(near([HOME, RCOA, LCOA])), msg,
                      rh2_address=draw(st.none() | near([HOME])))
    if draw(st.booleans()):
        packet = w.Packet(draw(near([HA])), draw(near([RCOA])), packet)
        if draw(st.booleans()):
            packet = w.Packet(draw(near([MAP])), draw(near([LCOA])), packet)
    return packet


def decoded_mutants(source: st.SearchStrategy[w.Packet]) -> st.SearchStrategy[w.Packet]:
    """Packets from ``source``, encoded, mutated at the byte level (lengths, fields, truncations; checksums repaired
    at random), kept when they still decode (without checksum verification: the cores see what a decoder passes)."""
    def go(args):
        packet, seed = args
        data = mutate(w.encode_packet(packet), random.Random(seed))
        try:
            return w.decode_packet(data, verify_checksums=False)
        except w.DecodeError:
            return packet
    return st.tuples(source, st.integers(0, 2**32)).map(go)


def core_packets() -> st.SearchStrategy[w.Packet]:
    aimed = st.one_of(bus_to_map(), bas_to_mn(), ras(), nd_for_map(), signals_to_mn())
    return st.one_of(aimed, aimed, decoded_mutants(aimed), packets())


def steps() -> st.SearchStrategy[list]:
    dt = st.one_of(st.just(0.0), st.floats(0.0, 2.0), st.sampled_from([0.5, 5.0, 100.0, 5000.0]))
    iface = st.sampled_from(["dom", "acc", "acc", "up", "home", "cn0", "other"])
    return st.lists(st.tuples(dt, iface, core_packets()), min_size=1, max_size=12)


# --- the daemons' event-loop path, without sockets ---------------------------------------------------------------

class FakeLink:
    """A LinkSocket stand-in: frames queued for ``receive``, frames sent recorded (and checked to be frames)."""

    def __init__(self, name: str, mac: bytes, index: int = 2) -> None:
        self.name, self.mac, self.index = name, mac, index
        self.inbox: list[bytes] = []
        self.sent: list[bytes] = []

    def receive(self) -> bytes | None:
        return self.inbox.pop(0) if self.inbox else None

    def send(self, frame: bytes) -> None:
        assert len(frame) >= 54 and frame[12:14] == b"\x86\xdd", frame[:16].hex()
        self.sent.append(frame)

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        pass


class _FakeControl:
    def __init__(self, path: str, handler) -> None:
        self.handler = handler

    def close(self) -> None:
        pass


def daemons() -> dict:
    """The MAP (with its advertiser and userspace tunnel plane) and AR event loops as hmipv6-map / hmipv6-ar
    wire them, on fake links: ``name -> (Daemon, {iface: FakeLink})``."""
    import io

    from reference_impl.daemon import runner
    from reference_impl.daemon.advertiser import MapWithAdvertiser, advertiser
    from reference_impl.daemon.dataplane import attach_plane

    saved = runner.RawSender, runner.ControlServer
    runner.RawSender, runner.ControlServer = _FakeRaw, _FakeControl
    try:
        out = {}
        core = map_core(0)
        links = {"dom": FakeLink("dom", MAP_MAC), "core": FakeLink("core", w.mac("02:00:00:00:00:0e"))}
        ad = advertiser(core, [{"iface": "dom", "max_interval": 1.5, "min_interval": 0.5}],
                        {n: link.mac for n, link in links.items()}, 0.0, "rfc4140", ("core",))
        accept = runner.signalling_filter(protocols=frozenset({135, 50, 51}), icmp_types=frozenset({133, 134, 135, 136}))
        daemon = runner.Daemon("map", MapWithAdvertiser(core, ad), links, runner.JsonLog("map", io.StringIO()),
                               "/nonexistent", accept)
        attach_plane(daemon, "userspace", core, MAP, {MAP}, _FakeTable(), daemon.log, "dom")
        daemon.dispatch(daemon.core.start(0.0))
        daemon.to_core("dom", MAP_MAC + MN_MAC + b"\x86\xdd" + w.encode_packet(register_bu(OTHER_RCOA, OTHER_LCOA, 5)))
        out["map"] = (daemon, links)
        ar = ar_core()
        links = {"acc": FakeLink("acc", AR_MAC), "up": FakeLink("up", w.mac("02:00:00:00:0a:02"))}
        out["ar"] = (runner.Daemon("ar", ar, links, runner.JsonLog("ar", io.StringIO()), "/nonexistent",
                                   runner.signalling_filter(icmp_types=frozenset({129, 133, 134}))), links)
        return out
    finally:
        runner.RawSender, runner.ControlServer = saved


def through_daemons(packet_bytes: bytes, dmns: dict) -> None:
    """Give the frame to every fake link of every daemon, drain, tick; nothing may escape, nothing be counted as an
    internal or encoding error."""
    for name, (daemon, links) in dmns.items():
        for iface, link in links.items():
            for dst in (link.mac, b"\x33\x33\x00\x00\x00\x01"):
                link.inbox.append(dst + MN_MAC + b"\x86\xdd" + packet_bytes)
                daemon._drain(iface)
        daemon.dispatch(daemon.core.tick(daemon.core.next_deadline() or 0.0))
        assert daemon.counters["internal_errors"] == 0, (name, daemon.log.stream.getvalue()[-3000:])
        assert daemon.counters["encode_errors"] == 0, (name, daemon.log.stream.getvalue()[-3000:])
