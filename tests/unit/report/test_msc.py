"""Message sequence charts: arrows read from real and crafted pcaps, and the SVG drawn from them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from scapy.layers.inet6 import ICMPv6ParamProblem, MIP6MH_BE

from harness import paths, results, testbed
from harness.report import msc
from harness.report.msc import Arrow
from harness.tester import packets, pcap
from harness.tester.packets import (
    HAO, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6ND_RS, ICMPv6NDOptMAP, ICMPv6NDOptSrcLLAddr, MIP6MH_BA,
    MIP6MH_BU, UDP, Ether, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "report" / "bu_ba"
SVG = "{http://www.w3.org/2000/svg}"
T0 = 1_800_000_000.0
ETH = {"src": "02:00:00:00:0c:0a", "dst": "02:00:00:00:00:01"}  # explicit: scapy would resolve dst by sending NSs
LCOA, RCOA, MAP1 = "2001:db8:110::c0a", "2001:db8:100::c0a", "2001:db8:100::1"


@pytest.fixture(scope="module")
def book() -> dict:
    return results.address_book(testbed.load(paths.default_testbed()))


def bu(seq: int = 11, flags: str = "AM", mhtime: int = 10, hlim: int = 64, src: str = LCOA, dst: str = MAP1,
       hoa: str = RCOA) -> bytes:
    return bytes(Ether(**ETH) / IPv6(src=src, dst=dst, hlim=hlim) / IPv6ExtHdrDestOpt(options=[HAO(hoa=hoa)])
                 / MIP6MH_BU(seq=seq, flags=flags, mhtime=mhtime))


def write(tmp_path: Path, link: str, frames: list[tuple[float, bytes]]) -> Path:
    path = tmp_path / f"{link}.pcap"
    pcap.write(path, frames)
    return path


def one(tmp_path: Path, frame: bytes, book: dict | None = None, link: str = "acc1") -> Arrow:
    got, omitted = msc.arrows({link: write(tmp_path, link, [(T0, frame)])}, book)
    assert omitted == 0 and len(got) == 1, got
    return got[0]


# -- 1. a real BU/BA exchange ------------------------------------------------------------------------------------

def test_real_bu_ba_exchange(book) -> None:
    """HMIP-MAP-BU-001 from the virtual testbed (tests/data/report/bu_ba, copied from a real run's evidence).

    acc1.pcap (the tester's port on the MN's access link), as tshark reads it:
      1  .417310476  BU 2001:db8:110::c0a -> 2001:db8:100::1, hop limit 64, HAO 2001:db8:100::c0a,
                     mip6.bu.seqnr 11, a_flag 1, h/l/k 0, m_flag 1, p_flag 0, mip6.bu.lifetime 10 (40 s)
      2  .462500572  RA fe80::5e:97ff:fefc:8da1 -> ff02::1, router lifetime 4, PIO 2001:db8:110::/64,
                     MAP option distance 1, preference 10, R set, valid lifetime 86400, 2001:db8:100::1
      3  .472009897  BA 2001:db8:100::1 -> 2001:db8:110::c0a, hop limit 63, RH2 2001:db8:100::c0a,
                     mip6.ba.status 0, seqnr 11, lifetime 10 (40 s)
    dom1.pcap (the MAP's link):
      1  .416600704  the same BU forwarded by ar1 (hop limit 63) -- stamped *earlier* than its acc1 copy: the tester
                     stamps frames it sent itself after send() returns
      2  .417211533  DAD NS :: -> ff02::1:ff00:c0a for 2001:db8:100::c0a (from map1's MAC: DAD for the RCoA)
      3-6            echo request/reply ar2 <-> map1 and ar1 <-> map1 (data: not arrows)
      7  .471784115  unsolicited NA map1 -> ff02::1 for 2001:db8:100::c0a, O set (not an arrow unless judged)
      8  .471993923  the BA, hop limit 64
    judgement.json: 7 check points, 4 of them judged frame {"link": "acc1", "time": 1795712879.47201}: the acc1 BA.
    """
    checks = json.loads((DATA / "judgement.json").read_text())["checks"]
    got, omitted = msc.arrows({"acc1": DATA / "acc1.pcap", "dom1": DATA / "dom1.pcap"}, book, checks)
    assert omitted == 0
    assert [a.kind for a in got] == ["BU", "NS", "RA", "BA"]
    bu_, ns, ra, ba = got
    assert (bu_.src, bu_.dst, bu_.links) == ("acc1 host ::c0a", "map1", ("acc1", "dom1"))
    assert bu_.fields == "seq=11 A M lifetime=40 s HAO 2001:db8:100::c0a"
    assert bu_.time == pytest.approx(1795712879.416600704, abs=1e-6) and bu_.tunnel is None and bu_.judged == ()
    assert (ns.src, ns.dst, ns.links, ns.fields) == ("::", "ff02::1:ff00:c0a", ("dom1",), "target 2001:db8:100::c0a")
    assert (ra.src, ra.dst) == ("fe80::5e:97ff:fefc:8da1 (acc1)", "ff02::1 (all nodes)")
    assert ra.fields == "MAP 2001:db8:100::1 dist=1 pref=10 R lifetime=86400, router lifetime=4"
    assert (ba.src, ba.dst, ba.links) == ("map1", "acc1 host ::c0a", ("dom1", "acc1"))
    assert ba.fields == "status=0 (accepted) seq=11 lifetime=40 s RH2 2001:db8:100::c0a"
    assert ba.judged == ("MIP6-6275-6.1.8-P5-BIND-1", "MIP6-6275-6.1.8-P28-BIND-1", "HMIP-4140-6.2-P2-MUST-2",
                         "MIP6-6275-6.1.1-P15-BIND-1")


def test_real_capture_without_address_book_or_judgement() -> None:
    got, _ = msc.arrows({"acc1": DATA / "acc1.pcap", "dom1": DATA / "dom1.pcap"})
    assert [(a.kind, a.src, a.dst, a.judged) for a in got if a.kind in ("BU", "BA")] == [
        ("BU", LCOA, MAP1, ()), ("BA", MAP1, LCOA, ())]


# -- 2. crafted frames -------------------------------------------------------------------------------------------

def test_ra_with_two_map_options(tmp_path, book) -> None:
    ra = (Ether(**ETH) / IPv6(src="fe80::1", dst="ff02::1", hlim=255) / ICMPv6ND_RA(routerlifetime=1800)
          / ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01")
          / ICMPv6NDOptMAP(dist=1, pref=15, R=1, validlifetime=600, addr="2001:db8:100::1")
          / ICMPv6NDOptMAP(dist=2, pref=10, R=0, validlifetime=300, addr="2001:db8:200::1"))
    a = one(tmp_path, bytes(ra), book, link="acc2")
    assert (a.kind, a.src, a.dst) == ("RA", "fe80::1 (acc2)", "ff02::1 (all nodes)")
    assert a.fields == ("MAP 2001:db8:100::1 dist=1 pref=15 R lifetime=600, "
                        "MAP 2001:db8:200::1 dist=2 pref=10 lifetime=300, router lifetime=1800")


def test_periodic_identical_ras_are_shown_once_until_they_change(tmp_path) -> None:
    def ra(lifetime: int) -> bytes:
        return bytes(Ether(**ETH) / IPv6(src="fe80::1", dst="ff02::1", hlim=255) / ICMPv6ND_RA(routerlifetime=1800)
                     / ICMPv6NDOptMAP(dist=1, pref=15, R=1, validlifetime=lifetime, addr=MAP1))
    # every second for 10 s; the MAP option withdrawn (lifetime 0) at 4 s and restored at 7 s
    frames = [(T0 + i, ra(0 if 4 <= i < 7 else 600)) for i in range(10)]
    got, omitted = msc.arrows({"acc1": write(tmp_path, "acc1", frames)})
    assert [a.time - T0 for a in got] == [0, 4, 7] and omitted == 7
    assert [a.fields.split()[5] for a in got] == ["lifetime=600,", "lifetime=0,", "lifetime=600,"]
    # a judged repeat is shown all the same
    got, _ = msc.arrows({"acc1": write(tmp_path, "acc1", frames)}, None,
                        [{"requirement": "R-1", "frame": {"link": "acc1", "time": T0 + 2}}])
    assert [a.time - T0 for a in got] == [0, 2, 4, 7] and got[1].judged == ("R-1",)


def test_ra_without_map_only_when_judged(tmp_path) -> None:
    ra = bytes(Ether(**ETH) / IPv6(src="fe80::1", dst="ff02::1") / ICMPv6ND_RA(routerlifetime=1800))
    path = write(tmp_path, "acc1", [(T0, ra)])
    assert msc.arrows({"acc1": path}) == ([], 0)
    got, _ = msc.arrows({"acc1": path}, judged=[{"requirement": "R-1", "frame": {"link": "acc1", "time": T0}}])
    assert [(a.kind, a.fields, a.judged) for a in got] == [("RA", "router lifetime=1800", ("R-1",))]


def test_tunnelled_bu_takes_inner_addresses(tmp_path, book) -> None:
    frame = (Ether(**ETH) / IPv6(src=LCOA, dst=MAP1) / IPv6(src=RCOA, dst="2001:db8:10::2")
             / IPv6ExtHdrDestOpt(options=[HAO(hoa="2001:db8:10::100")]) / MIP6MH_BU(seq=7, flags="AH", mhtime=100))
    a = one(tmp_path, bytes(frame), book)
    assert (a.kind, a.src, a.dst) == ("BU", "dom1 host ::c0a", "ha")
    assert a.tunnel == "acc1 host ::c0a -> map1"
    assert a.fields == "seq=7 A H lifetime=400 s HAO 2001:db8:10::100"


def test_bu_flags_are_letters_of_set_bits_only(tmp_path) -> None:
    assert one(tmp_path, bu(flags="AHLKMRP", mhtime=0)).fields == f"seq=11 A H L K M R P lifetime=0 s HAO {RCOA}"
    assert one(tmp_path, bu(flags="", seq=65535)).fields == f"seq=65535 lifetime=40 s HAO {RCOA}"


def test_rejecting_ba_with_rh2(tmp_path, book) -> None:
    frame = (Ether(**ETH) / IPv6(src=MAP1, dst=LCOA) / IPv6ExtHdrRouting(type=2, segleft=1, addresses=[RCOA])
             / MIP6MH_BA(status=128, flags=0, seq=7, mhtime=0))
    a = one(tmp_path, bytes(frame), book)
    assert (a.kind, a.src, a.dst) == ("BA", "map1", "acc1 host ::c0a")
    assert a.fields == f"status=128 (rejected) seq=7 lifetime=0 s RH2 {RCOA}"
    plain = Ether(**ETH) / IPv6(src=MAP1, dst=LCOA) / MIP6MH_BA(status=1, flags="K", seq=8, mhtime=3)  # scapy's default K
    assert one(tmp_path, bytes(plain), book).fields == "status=1 (accepted) seq=8 K lifetime=12 s"


def test_binding_error_and_icmpv6_error(tmp_path, book) -> None:
    be = Ether(**ETH) / IPv6(src=MAP1, dst=LCOA) / MIP6MH_BE(status=2, ha="2001:db8:10::100")
    assert one(tmp_path, bytes(be), book).fields == "status=2 HoA 2001:db8:10::100"
    error = (Ether(**ETH) / IPv6(src=MAP1, dst=LCOA) / ICMPv6ParamProblem(code=2, ptr=44)
             / IPv6(src=LCOA, dst=MAP1) / IPv6ExtHdrDestOpt(options=[HAO(hoa=RCOA)]) / MIP6MH_BU())
    a = one(tmp_path, bytes(error), book)
    assert (a.kind, a.fields, a.src, a.dst) == ("ICMPv6 error", "Parameter Problem code=2 ptr=44", "map1",
                                                 "acc1 host ::c0a")


def test_labels(tmp_path, book) -> None:
    rs = Ether(**ETH) / IPv6(src="::", dst="ff02::2", hlim=255) / ICMPv6ND_RS()
    assert (one(tmp_path, bytes(rs), book).src, one(tmp_path, bytes(rs), book).dst) == ("::", "ff02::2 (all routers)")
    dad = Ether(**ETH) / IPv6(src="::", dst=packets.solicited_node(RCOA)) / ICMPv6ND_NS(tgt=RCOA)
    assert one(tmp_path, bytes(dad), book).dst == "ff02::1:ff00:c0a"
    a = one(tmp_path, bu(src="2001:db8:120::5:1", dst="2001:db8:999::5"), book)
    assert (a.src, a.dst) == ("acc2 host ::5:1", "2001:db8:999::5")
    rs_ll = Ether(**ETH) / IPv6(src="fe80::c0a", dst="ff02::2") / ICMPv6ND_RS() / ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:0c:0a")
    a = one(tmp_path, bytes(rs_ll), book, link="acc3")
    assert (a.src, a.fields) == ("fe80::c0a (acc3)", "SLLA 02:00:00:00:0c:0a")
    assert one(tmp_path, bu(src="2001:db8:120::5:1"), None).src == "2001:db8:120::5:1"


def test_one_message_on_two_links_is_one_arrow(tmp_path) -> None:
    acc1 = write(tmp_path, "acc1", [(T0 + 0.01, bu(hlim=64)), (T0 + 2.0, bu(seq=12, hlim=64))])
    dom1 = write(tmp_path, "dom1", [(T0, bu(hlim=63)), (T0 + 2.3, bu(seq=12, hlim=63))])
    got, _ = msc.arrows({"dom1": dom1, "acc1": acc1})
    assert [(a.links, a.time) for a in got] == [(("acc1", "dom1"), T0), (("acc1",), T0 + 2.0), (("dom1",), T0 + 2.3)]


def test_ba_plain_on_one_link_and_tunnelled_on_the_next_is_one_arrow(tmp_path, book) -> None:
    """The HA's BA to the RCoA on dom1, then tunnelled by the MAP to the LCoA on acc1 (inner hop limit one less)."""
    ba = IPv6ExtHdrRouting(type=2, segleft=1, addresses=["2001:db8:10::100"]) / MIP6MH_BA(status=0, flags=0, seq=4, mhtime=50)
    dom1 = write(tmp_path, "dom1", [(T0, bytes(Ether(**ETH) / IPv6(src="2001:db8:10::2", dst=RCOA, hlim=62) / ba))])
    acc1 = write(tmp_path, "acc1", [(T0 + 0.002, bytes(Ether(**ETH) / IPv6(src=MAP1, dst=LCOA, hlim=64)
                                                       / IPv6(src="2001:db8:10::2", dst=RCOA, hlim=61) / ba))])
    got, _ = msc.arrows({"acc1": acc1, "dom1": dom1}, book)
    assert [(a.src, a.dst, a.links, a.tunnel) for a in got] == [
        ("ha", "dom1 host ::c0a", ("dom1", "acc1"), "map1 -> acc1 host ::c0a")]
    assert got[0].fields == "status=0 (accepted) seq=4 lifetime=200 s RH2 2001:db8:10::100"


def test_neighbour_discovery_other_than_dad_only_when_judged(tmp_path) -> None:
    ns = bytes(Ether(**ETH) / IPv6(src=LCOA, dst=packets.solicited_node(MAP1)) / ICMPv6ND_NS(tgt=MAP1))
    na = bytes(Ether(**ETH) / IPv6(src=MAP1, dst=LCOA) / ICMPv6ND_NA(tgt=MAP1, R=1, S=1, O=0))
    path = write(tmp_path, "acc1", [(T0, ns), (T0 + 1, na)])
    assert msc.arrows({"acc1": path}) == ([], 0)
    judged = [{"requirement": f"R-{i}", "frame": {"link": "acc1", "time": T0 + i}} for i in (0, 1)]
    got, _ = msc.arrows({"acc1": path}, judged=judged)
    assert [(a.kind, a.fields) for a in got] == [("NS", f"target {MAP1}"), ("NA", f"target {MAP1} R S")]


def test_retransmission_on_the_same_link_is_another_arrow(tmp_path) -> None:
    got, _ = msc.arrows({"acc1": write(tmp_path, "acc1", [(T0, bu()), (T0 + 0.1, bu())])})
    assert [a.links for a in got] == [("acc1",), ("acc1",)]


def test_limit_keeps_judged_arrows(tmp_path) -> None:
    rs = bytes(Ether(**ETH) / IPv6(src="::", dst="ff02::2") / ICMPv6ND_RS())
    echo = bytes(Ether(**ETH) / IPv6(src=LCOA, dst=MAP1) / ICMPv6EchoRequest(id=0x10, seq=3))
    frames = [(T0 + i, rs) for i in range(10)] + [(T0 + 20, echo), (T0 + 21, echo)]
    judged = [{"requirement": "R-1", "frame": {"link": "acc1", "time": T0 + 20}},
              {"requirement": "R-2", "frame": {"link": "acc1", "time": T0 + 21 + 5e-7}},
              {"requirement": "R-3", "frame": {"link": "dom1", "time": T0 + 21}},  # another link
              {"requirement": "R-5", "frame": {"link": "acc1", "time": T0 + 20 + 5e-6}},  # beyond 1e-6 s
              {"requirement": "R-4"}]
    path = write(tmp_path, "acc1", frames)
    got, omitted = msc.arrows({"acc1": path}, judged=judged, limit=5)
    assert omitted == 7  # 10 RSs + 2 judged echoes = 12, 5 shown
    assert [(a.kind, a.time - T0, a.judged) for a in got] == [
        ("RS", 0, ()), ("RS", 1, ()), ("RS", 2, ()), ("Echo Request", 20, ("R-1",)), ("Echo Request", 21, ("R-2",))]
    assert got[-1].fields == "id=0x10 seq=3"
    got, omitted = msc.arrows({"acc1": path}, judged=judged, limit=1)
    assert ([a.judged for a in got], omitted) == ([("R-1",), ("R-2",)], 10)


def test_data_frames_are_filtered_before_decoding(tmp_path, monkeypatch) -> None:
    data = [(T0 + i * 1e-3, bytes(Ether(**ETH) / IPv6(src=LCOA, dst="2001:db8:20::10") / UDP(sport=4000, dport=5000)
                                    / bytes(100))) for i in range(5000)]
    frames = sorted(data + [(T0 + 1.0005, bu(seq=1)), (T0 + 3.0005, bu(seq=2))])
    decoded: list[bytes] = []
    real = packets.decode
    monkeypatch.setattr(packets, "decode", lambda raw: decoded.append(raw) or real(raw))
    judged = [{"requirement": "R-1", "frame": {"link": "acc1", "time": T0 + 0.7}}]
    got, omitted = msc.arrows({"acc1": write(tmp_path, "acc1", frames)}, judged=judged)
    assert [(a.kind, a.fields.split(" ")[0]) for a in got] == [("UDP", "port"), ("BU", "seq=1"), ("BU", "seq=2")]
    assert got[0].fields == "port 4000 -> 5000" and omitted == 0
    assert len(decoded) == 3


def test_truncated_and_malformed_frames(tmp_path) -> None:
    """A message cut after its type byte is an arrow "malformed (truncated)"; one scapy cannot read (a BU with MH
    length 0, 8 bytes) "malformed (undecodable)"; a frame cut inside its IPv6 header is skipped."""
    short_bu = bytes(Ether(**ETH) / IPv6(src=LCOA, dst=MAP1, nh=135) / bytes([59, 0, 5, 0, 0, 0, 0, 0]))
    frames = [(T0, bu()[:-10]), (T0 + 1, bu()[:30]), (T0 + 2, short_bu), (T0 + 3, bu(seq=2))]
    got, _ = msc.arrows({"acc1": write(tmp_path, "acc1", frames)})
    assert [(a.kind, a.fields) for a in got] == [
        ("BU", "malformed (truncated)"), ("BU", "malformed (undecodable)"), ("BU", f"seq=2 A M lifetime=40 s HAO {RCOA}")]


def test_cut_pcap_file_keeps_what_was_written(tmp_path) -> None:
    path = write(tmp_path, "acc1", [(T0, bu(seq=1)), (T0 + 1, bu(seq=2))])
    path.write_bytes(path.read_bytes()[:-40] + b"\x00" * 3)
    got, _ = msc.arrows({"acc1": path, "dom1": tmp_path / "missing.pcap"})
    assert [a.fields.split()[0] for a in got] == ["seq=1"]


# -- 3. the SVG --------------------------------------------------------------------------------------------------

def parse(svg: str) -> tuple[ET.Element, dict[str, float], list[ET.Element]]:
    root = ET.fromstring(svg)
    columns = {g.get("data-label"): float(g.find(f"{SVG}line").get("x1")) for g in root.iter(f"{SVG}g")
               if g.get("class") == "column"}
    arrows_ = [g for g in root.iter(f"{SVG}g") if "arrow" in g.get("class", "").split()]
    return root, columns, arrows_


def test_svg_of_the_real_exchange(book) -> None:
    checks = json.loads((DATA / "judgement.json").read_text())["checks"]
    got, omitted = msc.arrows({"acc1": DATA / "acc1.pcap", "dom1": DATA / "dom1.pcap"}, book, checks)
    svg = msc.render_svg(got, omitted)
    root, columns, drawn = parse(svg)
    assert root.get("class") == "msc" and root.get("viewBox") and root.get("width") and root.get("height")
    assert list(columns) == ["acc1 host ::c0a", "map1", "::", "ff02::1:ff00:c0a", "fe80::5e:97ff:fefc:8da1 (acc1)",
                             "ff02::1 (all nodes)"]
    assert len(drawn) == 4
    for g, arrow in zip(drawn, got):
        assert (g.get("data-kind"), g.get("data-src"), g.get("data-dst")) == (arrow.kind, arrow.src, arrow.dst)
        line = g.find(f"{SVG}line")
        x1, x2 = float(line.get("x1")), float(line.get("x2"))
        assert (x1, x2) == (columns[arrow.src], columns[arrow.dst])
        tip, *barbs = [float(point.split(",")[0]) for point in g.find(f"{SVG}polygon").get("points").split()]
        assert tip == x2 and all(min(x1, x2) < b < max(x1, x2) for b in barbs)  # the head points at the receiver
        texts = ["".join(t.itertext()) for t in g.iter(f"{SVG}text")]
        assert f"{arrow.kind} {arrow.fields}" in texts and ",".join(arrow.links) in texts
    bu_g, ba_g = drawn[0], drawn[3]
    assert float(bu_g.find(f"{SVG}line").get("x2")) > float(bu_g.find(f"{SVG}line").get("x1"))  # BU goes right
    assert float(ba_g.find(f"{SVG}line").get("x2")) < float(ba_g.find(f"{SVG}line").get("x1"))  # BA comes back
    assert "judged" in ba_g.get("class").split() and "judged" not in bu_g.get("class").split()
    assert "HMIP-4140-6.2-P2-MUST-2" in ba_g.find(f"{SVG}title").text
    assert "+0.055 s" in ["".join(t.itertext()) for t in ba_g.iter(f"{SVG}text")]
    for forbidden in ("<script", "<style", "href", "url(", "@import"):
        assert forbidden not in svg


def test_svg_tunnel_self_message_escaping_and_omitted() -> None:
    tunnelled = Arrow(T0, ("acc1",), "dom1 host ::c0a", "ha", "BU", "seq=7 A H", "acc1 host ::c0a -> map1", ())
    odd = Arrow(T0 + 1, ("dom1",), 'x<y> & "z"', 'x<y> & "z"', "MH type 9", "<&>", None, ("R<1>",))
    root, columns, drawn = parse(msc.render_svg([tunnelled, odd], omitted=3))
    assert list(columns) == ["dom1 host ::c0a", "ha", 'x<y> & "z"']
    assert len(drawn) == 2
    assert drawn[0].find(f"{SVG}line").get("stroke-dasharray")
    assert "BU seq=7 A H [tunnel acc1 host ::c0a -> map1]" in ["".join(t.itertext()) for t in drawn[0].iter(f"{SVG}text")]
    assert drawn[1].find(f"{SVG}line") is None and drawn[1].find(f"{SVG}path") is not None  # a loop
    assert drawn[1].get("data-src") == 'x<y> & "z"' and "MH type 9 <&>" in "".join(drawn[1].itertext())
    assert "judged by R<1>" in drawn[1].find(f"{SVG}title").text
    assert "3 more message(s) not shown" in "".join(root.itertext())


def test_svg_without_arrows_says_so() -> None:
    root = ET.fromstring(msc.render_svg([]))
    assert root.get("class") == "msc" and "no signalling captured" in "".join(root.itertext())
    assert not [g for g in root.iter(f"{SVG}g") if g.get("class") == "arrow"]


def test_chart_is_render_of_arrows(tmp_path) -> None:
    pcaps = {"acc1": write(tmp_path, "acc1", [(T0, bu())])}
    assert msc.chart(pcaps) == msc.render_svg(*msc.arrows(pcaps))
