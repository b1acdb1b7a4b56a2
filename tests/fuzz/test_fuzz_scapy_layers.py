"""scapy's ``fuzz()`` on the message layers (issue 9), an independent generator: every field scapy knows of a
Mobility Header message, a mobility option, a Router Advertisement and its MAP option, NS/NA/RS, echo, the Home
Address option, the type 2 routing header, Hop-by-Hop and IPv6-in-IPv6 is randomised (lengths and checksums
included), the frame is built by scapy and its bytes go through the reference decoder, the daemons' raw-byte paths
and every core.  Properties as for the structured fuzz: only DecodeError, never anything else.
"""

from __future__ import annotations

import logging
import random

from fuzz_support import (
    CORES, FUZZ, HOME, LCOA, MAP, RCOA, Cores, check_bytes_paths, check_decode, drive,
)
from hypothesis import assume, given
from hypothesis import strategies as st

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.layers.inet6 import (  # noqa: E402
    HAO, ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6ND_RS, ICMPv6NDOptAdvInterval,
    ICMPv6NDOptDstLLAddr, ICMPv6NDOptMAP, ICMPv6NDOptMTU, ICMPv6NDOptPrefixInfo, ICMPv6NDOptSrcLLAddr,
    ICMPv6ParamProblem, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, MIP6MH_BA, MIP6MH_BE,
    MIP6MH_BRR, MIP6MH_BU, MIP6MH_CoT, MIP6MH_CoTI, MIP6MH_Generic, MIP6MH_HoT, MIP6MH_HoTI, MIP6OptAltCoA,
    MIP6OptBindingAuthData, MIP6OptBRAdvice, MIP6OptNonceIndices, MIP6OptUnknown, PadN,
)
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.packet import fuzz  # noqa: E402

from reference_impl import wire as w  # noqa: E402

S_MAP, S_LCOA, S_RCOA, S_HOME = (w.fmt(a) for a in (MAP, LCOA, RCOA, HOME))

MH_LAYERS = [
    lambda: MIP6MH_BU(flags="AM", mhtime=25), lambda: MIP6MH_BA(), lambda: MIP6MH_BE(), lambda: MIP6MH_BRR(),
    lambda: MIP6MH_HoTI(), lambda: MIP6MH_CoTI(), lambda: MIP6MH_HoT(), lambda: MIP6MH_CoT(), lambda: MIP6MH_Generic(),
]
MH_OPTIONS = [lambda: MIP6OptAltCoA(acoa=S_LCOA), lambda: MIP6OptNonceIndices(), lambda: MIP6OptBindingAuthData(),
              lambda: MIP6OptBRAdvice(), lambda: MIP6OptUnknown(), lambda: PadN()]
ND_OPTIONS = [lambda: ICMPv6NDOptMAP(addr=S_MAP), lambda: ICMPv6NDOptPrefixInfo(prefix="2001:db8:110::"),
              lambda: ICMPv6NDOptMTU(), lambda: ICMPv6NDOptAdvInterval(), lambda: ICMPv6NDOptSrcLLAddr(),
              lambda: ICMPv6NDOptDstLLAddr()]
ICMP_LAYERS = [lambda: ICMPv6ND_RA(), lambda: ICMPv6ND_NS(tgt=S_RCOA), lambda: ICMPv6ND_NA(tgt=S_RCOA),
               lambda: ICMPv6ND_RS(), lambda: ICMPv6EchoRequest(), lambda: ICMPv6EchoReply(id=0x4D50),
               lambda: ICMPv6ParamProblem(code=1) / IPv6(src=S_HOME, dst="2001:db8:20::10") / MIP6MH_HoTI()]


def _maybe_fuzz(layer, on: bool, keep_version: bool = True):
    if not on:
        return layer
    layer = fuzz(layer)
    if keep_version and isinstance(layer, IPv6):
        layer.version = 6  # a random version stops every decoder at the first octet: fuzz the rest
    return layer


@st.composite
def scapy_frames(draw) -> bytes:
    """Bytes of a scapy-built frame with some layers fuzzed (the choice and the seed drawn by hypothesis)."""
    rnd = random.Random(draw(st.integers(0, 2**32)))
    fz = lambda: draw(st.booleans())  # noqa: E731
    mobility = draw(st.booleans())
    ip = _maybe_fuzz(IPv6(src=S_LCOA, dst=S_MAP if mobility else "ff02::1", hlim=255), draw(st.integers(0, 4)) == 0,
                     draw(st.integers(0, 9)) > 0)
    pkt = Ether(dst="33:33:00:00:00:01") / ip
    if draw(st.booleans()):
        pkt = pkt / _maybe_fuzz(IPv6ExtHdrHopByHop(), fz())
    if draw(st.booleans()):
        pkt = pkt / _maybe_fuzz(IPv6ExtHdrRouting(type=2, segleft=1, addresses=[S_RCOA]), fz())
    if draw(st.booleans()):
        pkt = pkt / _maybe_fuzz(IPv6ExtHdrDestOpt(options=[HAO(hoa=S_RCOA)]), fz())
    if draw(st.booleans()):  # IPv6-in-IPv6: the message inside a tunnel
        pkt = pkt / _maybe_fuzz(IPv6(src=S_MAP, dst=S_LCOA), fz())
    if mobility:
        msg = _maybe_fuzz(draw(st.sampled_from(MH_LAYERS))(), fz())
        if hasattr(msg, "options") and draw(st.booleans()):
            msg.options = [_maybe_fuzz(draw(st.sampled_from(MH_OPTIONS))(), fz()) for _ in range(draw(st.integers(1, 3)))]
    else:
        msg = _maybe_fuzz(draw(st.sampled_from(ICMP_LAYERS))(), fz())
        for _ in range(draw(st.integers(0, 3))):
            msg = msg / _maybe_fuzz(draw(st.sampled_from(ND_OPTIONS))(), fz())
    pkt = pkt / msg
    state = random.getstate()
    random.seed(rnd.random())  # scapy's random fields draw from the random module
    try:
        return bytes(pkt)
    except Exception:  # noqa: BLE001 - scapy could not build this combination: not our input
        return b""
    finally:
        random.setstate(state)


@FUZZ
@given(scapy_frames())
def test_scapy_fuzzed_frames_decode_or_raise_decode_error(frame):
    assume(len(frame) > 14)
    try:
        w.decode_frame(frame)
    except w.DecodeError:
        pass
    check_decode(frame[14:])
    check_bytes_paths(frame[14:])


@CORES
@given(st.lists(scapy_frames(), min_size=1, max_size=5), st.integers(0, 2))
def test_cores_take_scapy_fuzzed_frames(frames, variant):
    cores = Cores(variant)
    for i, frame in enumerate(frames):
        for packet in check_decode(frame[14:]):
            drive(cores, [(0.05, ("dom", "acc", "up", "home")[i % 4], packet)])
