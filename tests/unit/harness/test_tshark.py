"""tshark confirmation: one run per pcap; agreement passes, disagreement is reported."""

from __future__ import annotations

import shutil

import pytest

from harness import tshark
from harness.tester import pcap
from harness.tester.mobility import mh_checksum
from harness.tester.packets import MIP6MH_BA, Ether, IPv6, IPv6ExtHdrRouting

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (./bootstrap.sh)")


def ba_frame(status: int, seq: int) -> bytes:
    return bytes(Ether() / IPv6(src="2001:db8:100::1", dst="2001:db8:110::c0a")
                 / IPv6ExtHdrRouting(type=2, segleft=1, addresses=["2001:db8:100::c0a"])
                 / MIP6MH_BA(status=status, seq=seq, mhtime=10))


def test_agreement_and_disagreement(tmp_path) -> None:
    path = tmp_path / "acc1.pcap"
    pcap.write(path, [(1.0, ba_frame(0, 11)), (2.0, ba_frame(135, 20))])
    ok = [tshark.Expectation(path, 1, "mip6.ba.status", "0", "BA-1"),
          tshark.Expectation(path, 2, "mip6.ba.seqnr", "20", "BA-2"),
          tshark.Expectation(path, 1, "ipv6.routing.type", "2", "RH2")]
    assert tshark.confirm(ok) == []
    bad = tshark.confirm([tshark.Expectation(path, 2, "mip6.ba.status", "0", "BA-2"),
                          tshark.Expectation(path, 1, "mip6.bu.seqnr", "11", "BA-1")])
    assert len(bad) == 2 and "reads mip6.ba.status=['135']" in bad[0] and "shows no mip6.bu.seqnr" in bad[1]


def test_tester_checksum_agrees_with_scapy_built_ba() -> None:
    """scapy computes a BA checksum with the RH2 address as pseudo-destination; the tester's own routine agrees."""
    carried, computed = mh_checksum(ba_frame(0, 11))
    assert carried == computed


def test_a_hung_tshark_is_a_failure_not_agreement(tmp_path, monkeypatch) -> None:
    """A tshark that does not answer within its deadline raises RuntimeError naming the file (the evidence step
    turns it into a disagreement, never into a confirmation)."""
    import subprocess

    def hang(*args, **kw):
        raise subprocess.TimeoutExpired(args[0], kw.get("timeout"))

    monkeypatch.setattr(tshark.subprocess, "run", hang)
    pcap = tmp_path / "x.pcap"
    with pytest.raises(RuntimeError, match="x.pcap.*no answer"):
        tshark.confirm([tshark.Expectation(pcap, 1, "ipv6.src", "::1", "REQ")])
