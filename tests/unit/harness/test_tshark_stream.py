"""The persistent tshark (harness.tshark_stream) answers exactly as one tshark run per pcap does, on real captures of
the virtual testbed (ESP decrypted with its SAs, IPv6-in-IPv6, Home Address option, RH2, echo tracking); it reports
disagreements the same way, and a tshark that hangs or dies is never taken as agreement."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from harness import tshark, tshark_stream
from harness.testbed import loader
from harness.tester import pcap

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (./bootstrap.sh)")

CAPTURES = sorted((Path(__file__).parent / "tshark_pcaps").glob("*.pcap"))
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def esp() -> list[str]:
    """The virtual testbed's ESP SAs as tshark preferences (keys derived from its not-secret seed)."""
    return tshark.esp_options(loader.load(ROOT / "testbeds" / "virtual.yaml").security)


def per_file(path: Path, frames, options: list[str]) -> dict[int, dict[str, list[str]]]:
    """The per-file run with the stream's own preferences, without the conversation fields the stream leaves out."""
    decoded = tshark.fields_of(path, frames, [*options, *tshark_stream.STREAM_OPTIONS])
    for flat in decoded.values():
        for name in tshark_stream._CONVERSATION:
            flat.pop(name, None)
    return decoded


def frame_count(path: Path) -> int:
    return len(tshark_stream.read_pcap(path)[2])


def test_fixtures_hold_what_the_equivalence_must_cover(esp) -> None:
    protocols = set()
    for path in CAPTURES:
        for flat in tshark.fields_of(path, range(1, frame_count(path) + 1), esp).values():
            protocols.add(flat["frame.protocols"][0])
    joined = " ".join(protocols)
    assert "esp:mipv6" in joined  # decrypted Mobility Headers
    assert "ipv6:ipv6" in joined  # IPv6-in-IPv6: two ipv6 layers
    assert "ipv6.dstopts" in joined and "ipv6.routing" in joined
    assert "icmpv6" in joined


def test_identical_field_dicts_on_real_captures(esp) -> None:
    """Whole field dicts, all frames and subsets, every capture twice in one stream (state of earlier files)."""
    cases = []
    for path in CAPTURES:
        n = frame_count(path)
        for frames in (range(1, n + 1), [n], sorted({1, (n + 1) // 2, n})):
            cases.append((path, frames, per_file(path, frames, esp)))
    stream = tshark_stream.TsharkStream(esp)
    try:
        for _ in range(2):
            for path, frames, expected in cases:
                got = stream.fields_of(path, frames)
                assert got == expected, (path.name, list(frames))
                assert sorted(got) == sorted(set(frames))
        assert stream.answered == 2 * 3 * len(CAPTURES)
    finally:
        stream.close()


def test_two_ipv6_layers_and_decrypted_esp_through_the_stream(esp) -> None:
    stream = tshark_stream.TsharkStream(esp)
    try:
        got = stream.fields_of(CAPTURES[[p.name for p in CAPTURES].index("map-tun-002-acc1.pcap")], [1, 2, 3])
    finally:
        stream.close()
    assert got[1]["mip6.mhtype"] == ["5"] and got[2]["mip6.ba.status"] == ["0"]
    assert got[1]["esp.icv_good"] == ["1"]
    assert got[3]["ipv6.src"] == ["2001:db8:110::c0a", "2001:db8:100::c0a"]  # outer, inner


def test_link_layer_types_and_timestamp_resolutions(tmp_path, esp) -> None:
    """An Ethernet pcap, the same frames as raw IPv6 (linktype 229, microseconds, big-endian) in one stream."""
    source = CAPTURES[[p.name for p in CAPTURES].index("map-tun-002-acc1.pcap")]
    raw = tmp_path / "raw.pcap"
    frames = list(pcap.read(source))
    with open(raw, "wb") as f:
        f.write(struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 229))
        for ts, data in frames:
            sec, usec = int(ts), int(round((ts - int(ts)) * 1e6))
            f.write(struct.pack(">IIII", sec, usec, len(data) - 14, len(data) - 14) + data[14:])
    expected = {path: per_file(path, range(1, 5), esp) for path in (source, raw)}
    assert expected[raw][3]["ipv6.src"] == expected[source][3]["ipv6.src"] and "eth.src" not in expected[raw][3]
    stream = tshark_stream.TsharkStream(esp)
    try:
        for path in (source, raw, source, raw):
            assert stream.fields_of(path, range(1, 5)) == expected[path]
    finally:
        stream.close()


def judged_expectations(decoded: dict[int, dict[str, list[str]]], path: Path) -> list[tshark.Expectation]:
    """Every non-stateful field of every frame as an expectation, plus wrong values and absent fields."""
    out = []
    for number, flat in decoded.items():
        for field, values in flat.items():
            if field.startswith(("frame.", *tshark_stream.STATEFUL)):
                continue
            out.append(tshark.Expectation(path, number, field, values[-1], f"F{number}"))
            out.append(tshark.Expectation(path, number, field, values[0] + "-wrong", f"W{number}"))
        out.append(tshark.Expectation(path, number, "mip6.bu.seqnr.absent", "1", f"A{number}"))
    return out


def test_confirm_finds_the_same_agreements_and_disagreements(esp, monkeypatch) -> None:
    expectations = []
    for path in CAPTURES:
        expectations += judged_expectations(tshark.fields_of(path, range(1, frame_count(path) + 1), esp), path)
    monkeypatch.setattr(tshark, "STREAMING", False)
    before = tshark.confirm(expectations, esp)
    monkeypatch.setattr(tshark, "STREAMING", True)
    monkeypatch.setattr(tshark, "_MODE", ["persistent tshark"])
    after = tshark.confirm(expectations, esp)
    assert tshark.mode() == "persistent tshark"
    assert after == before
    wrong = sum(1 for e in expectations if e.what[0] in "WA")
    assert len(before) == wrong and all(p[0] in "WA" for p in before)  # every right value agrees, no wrong one does


def test_disagreement_is_reported_through_the_stream(esp, monkeypatch) -> None:
    monkeypatch.setattr(tshark, "_MODE", ["persistent tshark"])
    path = CAPTURES[[p.name for p in CAPTURES].index("map-tun-002-acc1.pcap")]
    problems = tshark.confirm([tshark.Expectation(path, 2, "mip6.ba.status", "135", "BA-1"),
                               tshark.Expectation(path, 1, "mip6.ba.status", "0", "BA-2"),
                               tshark.Expectation(path, 1, "mip6.bu.seqnr", "7", "BU-1")], esp)
    assert tshark.mode() == "persistent tshark"
    assert problems[0] == ("BA-1: tshark reads mip6.ba.status=['0'] in frame 2 of map-tun-002-acc1.pcap, "
                           "the tester read 135")
    assert problems[1] == "BA-2: tshark shows no mip6.ba.status in frame 1 of map-tun-002-acc1.pcap"
    assert len(problems) == 3 and problems[2].startswith("BU-1: tshark reads mip6.bu.seqnr=")


def test_stateful_fields_fragments_and_pcapng_go_to_a_per_file_run(tmp_path, monkeypatch) -> None:
    calls = []
    real = tshark.fields_of
    monkeypatch.setattr(tshark, "fields_of", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    monkeypatch.setattr(tshark, "_MODE", ["persistent tshark"])
    echo = CAPTURES[[p.name for p in CAPTURES].index("mn-ha-003-dom2.pcap")]
    assert tshark.confirm([tshark.Expectation(echo, 2, "icmpv6.resp_to", "1", "echo")]) == []
    assert calls == [echo]
    ng = tmp_path / "x.pcapng"
    ng.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(24))
    with pytest.raises(tshark_stream.NotStreamable):
        tshark_stream.read_pcap(ng)


def hanging(stream: tshark_stream.TsharkStream) -> None:
    stream.program = ["sh", "-c", "cat >/dev/null", "hang"]  # reads its input, never answers
    stream.timeout = 1.0


def test_a_stream_that_never_worked_falls_back_to_per_file_runs(monkeypatch) -> None:
    monkeypatch.setattr(tshark, "_MODE", ["persistent tshark"])
    monkeypatch.setattr(tshark_stream, "_STREAMS", {})
    path = CAPTURES[0]
    hanging(tshark_stream.stream_for([]))
    assert tshark.confirm([tshark.Expectation(path, 1, "frame.number", "1", "F")]) == []
    assert tshark.mode().startswith("per-file tshark runs (persistent tshark did not work: persistent tshark gave no")
    tshark_stream.close_all()


def test_a_stream_that_hangs_or_dies_is_restarted_once_then_reported(monkeypatch) -> None:
    monkeypatch.setattr(tshark, "_MODE", ["persistent tshark"])
    monkeypatch.setattr(tshark_stream, "_STREAMS", {})
    path = CAPTURES[0]
    ok = [tshark.Expectation(path, 1, "frame.number", "1", "F")]
    stream = tshark_stream.stream_for([])
    assert tshark.confirm(ok) == []
    first = stream.proc
    first.kill()  # dies between tests: restarted, the answer is right
    first.wait()
    assert tshark.confirm(ok) == [] and stream.proc is not first and stream.proc.poll() is None
    hanging(stream)
    stream.close()  # the next start runs the stand-in, which hangs: restart once, then RuntimeError
    with pytest.raises(RuntimeError, match="tshark failed on .*gave no answer within 1 s.*after a restart"):
        tshark.confirm(ok)
    assert stream.proc is None and tshark.mode() == "persistent tshark"
    tshark_stream.close_all()


def test_close_all_ends_the_processes_by_pid(monkeypatch) -> None:
    monkeypatch.setattr(tshark_stream, "_STREAMS", {})
    stream = tshark_stream.stream_for([])
    stream.fields_of(CAPTURES[0], [1])
    proc = stream.proc
    tshark_stream.close_all()
    assert proc.poll() is not None and tshark_stream._STREAMS == {}
