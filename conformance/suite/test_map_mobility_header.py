"""MAP test purposes: how the MAP, as the receiver of Binding Updates, treats the Mobility Header (RFC 6275 §6.1.1,
§6.1.7, §9.2) -- the checksum and its pseudo-header, reserved flag bits and mobility options it does not know.

Topology: as in test_map_registration -- the tester plays the mobile node on the MAP's first access link (LCoA
<acc prefix>::c0a, RCoAs <MAP /64>::c0a and neighbours), protecting its BUs with the testbed's SA pair.  The BUs are
built byte by byte (conformance/suite/mh_format.py): the flags word, the options and the checksum are exactly as
the procedure says, computed by the tester's own one's-complement sum.  The DUT is restarted before each test.
"""

from __future__ import annotations

import ipaddress
import struct

import pytest

from conformance.suite.mh_format import bu_bytes, local_bu_frame, protected, read_mh, with_checksum
from harness.tester.mobility import PlayedMobileNode
from harness.tester.packets import MIP6MH_BA, IPv6, IPv6ExtHdrRouting

pytestmark = pytest.mark.role("map")

INVALID_DISCARDED = "MIP6-6275-9.2-P2-MUST-1"
HAO_SOURCE = "MIP6-6275-6.1.1-P17-BIND-1"
MH_LENGTH = "MIP6-6275-6.1.1-P18-MUST-1"
RESERVED_IGNORED = "MIP6-6275-6.1.7-P14-MUST-2"
UNKNOWN_SKIPPED = "MIP6-6275-6.1.7-P20-MUST-1"

A_M = 0x8800  # the A and M flags of a local BU (base §4.1)
#: the last two bits of the BU flags word: reserved in RFC 6275 §6.1.7 and left unassigned by the extensions the
#: suite knows (HMIPv6 M, NEMO R, PMIPv6 P take the first reserved bits)
RESERVED_BITS = 0x0003
UNKNOWN_OPTION = 200  # a mobility option type no specification this suite follows defines


def _rcoa(mn: PlayedMobileNode, n: int) -> str:
    return str(ipaddress.IPv6Address(mn.rcoa) + n)


def _send_bu(mn: PlayedMobileNode, mh: bytes, rcoa: str, checksum=None) -> int:
    """Send the local BU ``mh`` for ``rcoa`` (checksum: ``checksum(view)`` of the frame's MH view, default the RFC 6275
    §6.1.1 one), protected with the tester's SA pair; return the capture mark taken before it."""
    view = read_mh(local_bu_frame(mn, mh, rcoa))
    value = view.checksum_with() if checksum is None else checksum(view)
    return mn.send_raw(protected(mn.tester, local_bu_frame(mn, with_checksum(mh, value), rcoa)))


def _ba_for(mn: PlayedMobileNode, rcoa: str):
    """A BA to the MN's LCoA whose type 2 routing header holds ``rcoa`` (any status, any sequence number)."""
    def match(f) -> bool:
        rh = f.pkt.getlayer(IPv6ExtHdrRouting)
        return MIP6MH_BA in f.pkt and f.pkt[IPv6].dst == mn.lcoa and rh is not None and list(rh.addresses) == [rcoa]
    return match


def _status(ba) -> str:
    return "no BA" if ba is None else f"BA status {ba.pkt[MIP6MH_BA].status}"


@pytest.mark.tp(id="HMIP-MAP-MH-001", title="A BU whose Mobility Header checksum does not verify is silently discarded")
@pytest.mark.requirements(INVALID_DISCARDED, HAO_SOURCE, MH_LENGTH)
def test_bad_checksum_bu_discarded(dut, tester, mn, judge, ba_timeout) -> None:
    """
    Purpose:        The MAP verifies the Mobility Header checksum of a BU with RFC 6275 §6.1.1's pseudo-header --
                    the Home Address option's address as source, the Mobility Header's length as Upper-Layer Packet
                    Length -- and silently discards a BU whose checksum does not verify.
    Topology:       MN' (tester) on the MAP's first access link.
    Initialisation: DUT restarted (empty binding cache).
    Procedure:      1. BU(seq 1, 40 s, A M) for the RCoA, checksum computed as §6.1.1 says; wait for the BA.
                    2. Three BUs (seq 1, 40 s, A M), each for its own RCoA (RCoA+1, +2, +3), protected like the first:
                       a. checksum computed with the IPv6 source (the LCoA) instead of the Home Address option's
                          address;
                       b. checksum computed with the IPv6 Payload Length (Destination Options header included)
                          instead of the Mobility Header's length;
                       c. the right checksum with its lowest bit flipped.
                    3. Positive control in the same window: a correct BU for RCoA+0x100.
    Judgement:      1. The BU of step 1 is accepted (status < 128): the MAP computes the pseudo-header as §6.1.1 says.
                                                                                  RFC 6275 §6.1.1 ¶17, ¶18
                    2. Within one BA timeout no BA (of any status) for RCoA+1, +2 or +3, while the control is answered
                       in the same window.                                              RFC 6275 §9.2
                    3. In particular a (the LCoA in the pseudo-header) and b (the IPv6 Payload Length) are not
                       accepted.                                                  RFC 6275 §6.1.1 ¶17, ¶18
    Reference:      RFC 6275 §9.2 "The checksum must be verified as per Section 6.1.  If invalid, the node MUST
                    silently discard the message."; §6.1.1 "If a mobility message has a Home Address destination
                    option, then the checksum calculation uses the home address in this option as the value of the
                    IPv6 Source Address field."; "The Upper-Layer Packet Length field in the pseudo-header MUST be set
                    to the total length of the Mobility Header."
    """
    mh = bu_bytes(1, A_M, 10)
    judge.step("1. BU seq 1 for the RCoA, checksum per RFC 6275 §6.1.1")
    ba = mn.wait_ba(1, _send_bu(mn, mh, mn.rcoa), ba_timeout)
    accepted = ba is not None and ba.pkt[MIP6MH_BA].status < 128
    detail = f"a BU checksummed over the Home Address option's address and the Mobility Header's length: {_status(ba)}"
    judge.check(HAO_SOURCE, accepted, detail, frame=ba)
    judge.check(MH_LENGTH, accepted, detail, frame=ba)

    wrong = {
        "a": (_rcoa(mn, 1), lambda v: v.checksum_with(src=v.ip_src), "the LCoA as pseudo-header source", HAO_SOURCE),
        "b": (_rcoa(mn, 2), lambda v: v.checksum_with(length=v.payload_length),
              "the IPv6 Payload Length as Upper-Layer Packet Length", MH_LENGTH),
        "c": (_rcoa(mn, 3), lambda v: v.checksum_with() ^ 0x0001, "the right checksum with a bit flipped", None),
    }
    mark = tester.mark()
    for name, (rcoa, checksum, what, _) in wrong.items():
        judge.step(f"2{name}. BU for {rcoa}: {what}")
        _send_bu(mn, mh, rcoa, checksum)
    control = _rcoa(mn, 0x100)
    judge.step(f"3. positive control: a correct BU for {control}")
    _send_bu(mn, mh, control)
    hit = tester.absent(lambda f: any(_ba_for(mn, rcoa)(f) for rcoa, *_ in wrong.values()), ba_timeout,
                        alive=_ba_for(mn, control), links=[mn.link], since=mark)
    answered = {name: tester.wait_for(_ba_for(mn, rcoa), 0, mark, [mn.link]) for name, (rcoa, *_) in wrong.items()}
    judge.record("answers", {name: _status(b) for name, b in answered.items()})
    for name, (rcoa, _, what, requirement) in wrong.items():
        got = answered[name]
        detail = f"BU {name} ({what}): " + ("processed, " + _status(got) if got is not None else "silently discarded")
        judge.check(INVALID_DISCARDED, got is None, detail, frame=got)
        if requirement is not None:
            judge.check(requirement, got is None, detail, frame=got)
    judge.check(INVALID_DISCARDED, hit is None, "no BA for a BU whose checksum does not verify")


@pytest.mark.tp(id="HMIP-MAP-MH-002", title="Reserved BU flag bits and unknown mobility options are ignored")
@pytest.mark.requirements(RESERVED_IGNORED, UNKNOWN_SKIPPED)
def test_reserved_bits_and_unknown_options_ignored(dut, tester, mn, judge, ba_timeout) -> None:
    """
    Purpose:        The MAP ignores the reserved bits of the BU's flags word, and skips a mobility option it does not
                    understand: both BUs are processed as if those were absent.
    Topology:       MN' (tester) on the MAP's first access link.
    Initialisation: DUT restarted (empty binding cache).
    Procedure:      1. BU(seq 1, 40 s) for RCoA+0x11 with the flags word A M + the last two bits (0x8803).
                    2. BU(seq 1, 40 s, A M) for RCoA+0x12 with a mobility option of type 200 (length 2, data 0xabcd:
                       no specification the suite follows defines it), Header Len 1.
    Judgement:      1. The first BU is accepted (a BA with status < 128, its sequence number 1).  RFC 6275 §6.1.7 ¶14
                    2. The second BU is accepted (a BA with status < 128, its sequence number 1).  RFC 6275 §6.1.7 ¶20
                    (Recorded: both BAs' status and sequence number.)
    Reference:      RFC 6275 §6.1.7 Reserved "These fields are unused.  They MUST be initialized to zero by the sender
                    and MUST be ignored by the receiver."; Mobility Options "The receiver MUST ignore and skip any
                    options that it does not understand."
    """
    cases = (
        (RESERVED_IGNORED, _rcoa(mn, 0x11), bu_bytes(1, A_M | RESERVED_BITS, 10),
         f"flags word {A_M | RESERVED_BITS:#06x} (A, M and reserved bits {RESERVED_BITS:#06x})"),
        (UNKNOWN_SKIPPED, _rcoa(mn, 0x12), bu_bytes(1, A_M, 10, struct.pack("!BBH", UNKNOWN_OPTION, 2, 0xABCD)),
         f"a mobility option of type {UNKNOWN_OPTION}"),
    )
    for n, (requirement, rcoa, mh, what) in enumerate(cases, start=1):
        judge.step(f"{n}. BU seq 1 for {rcoa} with {what}")
        ba = tester.wait_for(_ba_for(mn, rcoa), ba_timeout, _send_bu(mn, mh, rcoa), [mn.link])
        judge.record(f"ba_{n}", None if ba is None else f"status {ba.pkt[MIP6MH_BA].status}, seq {ba.pkt[MIP6MH_BA].seq}")
        ok = ba is not None and ba.pkt[MIP6MH_BA].status < 128 and ba.pkt[MIP6MH_BA].seq == 1
        judge.check(requirement, ok, f"BU with {what}: " + (
            _status(ba) + f", sequence number {ba.pkt[MIP6MH_BA].seq}" if ba is not None
            else f"no BA within {ba_timeout:.1f} s (A was set)"), frame=ba,
            tshark={"mip6.ba.status": ba.pkt[MIP6MH_BA].status} if ba is not None else None)

