"""The reference MAP daemon on a kernel with Mobile IPv6 built in, and what that kernel does with HAO/RH2.

Boots Debian's stock kernel (``CONFIG_IPV6_MIP6=y``) in a QEMU guest (harness.qemu) and runs
``python3 -m harness.qemu.mip6_probe`` there: two namespaces on a veth pair, a Binding Update with a
Home Address option and a Binding Acknowledgement with a type 2 routing header sent with no xfrm
state, with an nftables raw-prerouting drop, with an xfrm state and with state + policy; then the
reference MAP daemon answering a local BU.  The assertions pin the behaviour docs/kernel-mip6.md
records, so a kernel that changes it is noticed.  Evidence (results.json, pcaps, serial log) stays in
the test's tmp directory.
"""

from __future__ import annotations

import json
import time

import pytest

from harness.qemu import build_guest, qemu_available, run_batch
from harness.qemu import mhframes

pytestmark = [pytest.mark.slow, pytest.mark.qemu]

MAP, LCOA, RCOA = "2001:db8:100::1", "2001:db8:100::5", "2001:db8:100::77"
GUEST_TIMEOUT = 240.0


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> dict:
    reason = qemu_available()
    if reason:
        pytest.skip(reason)
    evidence = tmp_path_factory.mktemp("qemu-mip6")
    started = time.monotonic()
    image = build_guest()
    built = time.monotonic() - started
    result = run_batch('"$PYTHON" -m harness.qemu.mip6_probe --out "$HMIPV6_RESULTS"', timeout=GUEST_TIMEOUT,
                       image=image, workdir=evidence / "guest")
    (evidence / "guest" / "results" / "serial.log").write_text(result.serial_log)
    print(f"\nguest kernel {image.abi}: build/cache {built:.1f} s, boot+probe {result.duration:.1f} s; "
          f"evidence in {evidence / 'guest' / 'results'}")
    assert result.rc == 0, f"probe failed in the guest (rc {result.rc}):\n{result.output[-3000:]}"
    data = json.loads((result.results_dir / "results.json").read_text())
    assert "error" not in data, data["error"]
    data["_abi"] = image.abi
    return data


def case(probe: dict, name: str) -> dict:
    return probe["cases"][name]


def receiver_counters(c: dict) -> dict[str, int]:
    return c["counters"][c["receiver"]]


def test_probe_frames_are_what_rfc_6275_describes() -> None:
    """The hand-built BU/BA the probe sends decode in scapy as intended, with RFC 6275 §6.1.1 checksums."""
    from harness.tester.packets import HAO, MIP6MH_BA, MIP6MH_BU, IPv6, IPv6ExtHdrRouting

    bu = IPv6(mhframes.bu_packet(LCOA, MAP, seq=7, flags=0x8800, lifetime=10, hoa=RCOA))
    assert bu[HAO].hoa == RCOA and bu[MIP6MH_BU].seq == 7 and bu[MIP6MH_BU].mhtime == 10
    assert int(bu[MIP6MH_BU].flags) == 0b1000100  # A and M in scapy's 7-bit field (on the wire 0x8800)
    ba = IPv6(mhframes.ba_packet(MAP, LCOA, seq=7, home=RCOA))
    assert ba[IPv6ExtHdrRouting].type == 2 and ba[IPv6ExtHdrRouting].segleft == 1
    assert list(ba[IPv6ExtHdrRouting].addresses) == [RCOA] and ba[MIP6MH_BA].status == 0
    # checksums: pseudo-header source = home address (BU), destination = RH2 address (BA), recomputed here
    assert mhframes.summarise(bytes(bu))["checksum_ok"] and mhframes.summarise(bytes(ba))["checksum_ok"]
    mh = bytes(bu[MIP6MH_BU])
    pseudo = mhframes.ip6(RCOA) + mhframes.ip6(MAP) + len(mh).to_bytes(4, "big") + b"\0\0\0\x87"
    assert mhframes.checksum(pseudo + mh) == 0
    mh = bytes(ba[MIP6MH_BA])
    pseudo = mhframes.ip6(MAP) + mhframes.ip6(RCOA) + len(mh).to_bytes(4, "big") + b"\0\0\0\x87"
    assert mhframes.checksum(pseudo + mh) == 0


def test_guest_kernel_is_the_debian_kernel_with_mip6(probe: dict) -> None:
    assert probe["kernel"] == probe["_abi"]
    # only a CONFIG_IPV6_MIP6 kernel accepts "ip xfrm state add ... proto hao|route2"
    for name in ("bu_hao_xfrm", "ba_rh2_xfrm"):
        assert "setup_errors" not in case(probe, name), case(probe, name)["setup_errors"]


def test_plain_bu_reaches_a_raw_mobility_header_socket(probe: dict) -> None:
    c = case(probe, "bu_plain")
    assert [d["from"] for d in c["raw_socket_delivered"]] == [LCOA]


def test_plain_bu_with_no_raw_socket_draws_parameter_problem_code_1(probe: dict) -> None:
    """No kernel handler for protocol 135 even with MIP6: unknown next header, pointer at the IPv6 header's."""
    c = case(probe, "bu_plain_noraw")
    assert c["icmp_errors"] == [{"type": 4, "name": "parameter-problem", "code": 1, "pointer": 6}]
    assert receiver_counters(c).get("Ip6InUnknownProtos") == 1


def test_bu_with_hao_and_no_xfrm_state_is_dropped_silently(probe: dict) -> None:
    """ipv6_dest_hao(): xfrm6_input_addr() finds no state -> drop; no ICMPv6 error (a non-MIP6 kernel sends
    Parameter Problem code 2, pointer 46)."""
    c = case(probe, "bu_hao")
    assert c["verdict"] == "silent-drop" and c["icmp_errors"] == []
    counters = receiver_counters(c)
    assert counters.get("XfrmInNoStates") == 1 and counters.get("Ip6InHdrErrors") == 1, counters
    assert not any(f.get("kind") == "icmpv6" and f.get("icmp_type", 255) < 128 for f in c["frames"]["mn"])


def test_ba_with_rh2_and_no_xfrm_state_is_dropped_silently(probe: dict) -> None:
    """ipv6_rthdr_rcv(): type 2, xfrm6_input_addr() fails -> Ip6InAddrErrors, drop, no ICMPv6 error."""
    c = case(probe, "ba_rh2")
    assert c["verdict"] == "silent-drop" and c["icmp_errors"] == []
    counters = receiver_counters(c)
    assert counters.get("XfrmInNoStates") == 1 and counters.get("Ip6InAddrErrors") == 1, counters


@pytest.mark.parametrize("name", ["bu_hao_nft", "ba_rh2_nft"])
def test_nft_raw_prerouting_drop_keeps_them_from_the_ipv6_stack(probe: dict, name: str) -> None:
    c = case(probe, name)
    assert c["nft_counter_packets"] == 1 and c["verdict"] == "silent-drop"
    counters = receiver_counters(c)
    assert counters.get("Ip6InReceives", 0) >= 1, counters  # seen by IPv6 input, dropped at prerouting
    reached = {k: v for k, v in counters.items() if k in ("Ip6InHdrErrors", "Ip6InAddrErrors", "Ip6InDelivers")
               or k.startswith(("Xfrm", "Icmp6Out"))}
    assert reached == {}, counters


@pytest.mark.parametrize("name", ["bu_hao_xfrm_state", "ba_rh2_xfrm_state"])
def test_a_state_without_an_input_policy_is_not_enough(probe: dict, name: str) -> None:
    """The header is processed, then the raw socket's xfrm6_policy_check() rejects the mode-ro secpath."""
    c = case(probe, name)
    assert c["verdict"] == "silent-drop" and receiver_counters(c).get("XfrmInNoPols") == 1, receiver_counters(c)


def test_state_and_policy_deliver_them_with_the_home_address_swapped_in(probe: dict) -> None:
    bu = case(probe, "bu_hao_xfrm")
    assert [(d["from"], d["mh_type"]) for d in bu["raw_socket_delivered"]] == [(RCOA, mhframes.MH_BU)]
    ba = case(probe, "ba_rh2_xfrm")
    assert [(d["from"], d["mh_type"]) for d in ba["raw_socket_delivered"]] == [(MAP, mhframes.MH_BA)]


def test_reference_map_daemon_answers_a_local_bu_with_ba_status_0(probe: dict) -> None:
    d = probe["daemon"]
    assert d["ready"], f"daemon not ready (exit {d.get('exit_status')}): {d.get('stderr')}"
    ba = d["ba"]
    assert ba is not None, f"no BA after {d['bu_attempts']} BUs; daemon log: {d['log']}"
    assert (ba["src"], ba["dst"], ba["status"], ba["seq"]) == (MAP, LCOA, 0, 7)
    assert ba["routing_type"] == 2 and ba["rh2_address"] == RCOA and ba["checksum_ok"]
    assert d["binding_listed"], json.dumps(d.get("show"), indent=1)[:2000]
    bindings = d["show"]["state"]["bindings"]
    assert [(b["rcoa"], b["lcoa"], b["seq"]) for b in bindings] == [(RCOA, LCOA, 7)]
    assert d["exit_status"] == 0 and d["icmp_errors"] == {"map": [], "mn": []}
    # the MN side's MIP6 kernel drops the BA silently (no state for the RCoA), as in ba_rh2
    assert d["counters"]["mn"].get("XfrmInNoStates") == 1
