"""Outbound ESP/AH sequence numbers survive a daemon restart (reference_impl.daemon.seqfile): a restarted mobile
node's BUs are not dropped by the MAP's anti-replay window, which the restart does not reset (RFC 4303 §3.4.3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reference_impl import wire as w
from reference_impl.daemon.config import ConfigError, load_config, signalling_security
from reference_impl.daemon.seqfile import SequenceFile, SequenceFileError
from reference_impl.ipsec import SequenceCounter
from reference_impl.security import IpsecSecurity, SaPair, SecurityDrop

MAP = bytes.fromhex("20010db80000000f0000000000000001")
LCOA = bytes.fromhex("20010db8000000010000000000000002")
RCOA = bytes.fromhex("20010db8000000020000000000000002")


def _sa(spi: int) -> dict:
    return {"spi": spi, "protocol": "esp", "auth": "hmac-sha256-128", "auth_key": f"{spi:064x}",
            "encryption": "aes-cbc", "enc_key": f"{spi + 7:032x}"}


PAIR = {"name": "mn@map1", "map": "2001:db8:0:f::1/128", "rcoa": "::/0", "to_map": _sa(0x1000), "to_mn": _sa(0x1001)}


def _bu(seq: int) -> w.Packet:
    return w.Packet(LCOA, MAP, w.BindingUpdate(seq, w.BU_A | w.BU_M, 10), hop_limit=64, home_address=RCOA)


def _esp_seq(packet: w.Packet) -> int:
    return int.from_bytes(packet.payload.data[4:8], "big")


def test_counter_reserves_ahead_and_resumes_past_every_number_used() -> None:
    marks: list[int] = []
    c = SequenceCounter(reserve=marks.append, block=4)
    assert marks == [5]  # numbers 1..4 covered before the first is handed out
    assert [c.next() for _ in range(6)] == [1, 2, 3, 4, 5, 6]
    assert marks == [5, 9]
    resumed = SequenceCounter(start=marks[-1], reserve=marks.append, block=4)
    assert resumed.next() == 9 > 6


def test_counter_without_store_is_unchanged() -> None:
    c = SequenceCounter()
    assert [c.next() for _ in range(3)] == [1, 2, 3] and c.last == 3


def test_restarted_mobile_node_is_accepted_by_a_map_that_kept_its_window(tmp_path: Path) -> None:
    store = tmp_path / "seq.json"
    map_side = IpsecSecurity([SaPair.from_config(PAIR)], "map")
    mn = IpsecSecurity([SaPair.from_config(PAIR)], "mn", SequenceFile(store))
    sent = [mn.protect(_bu(i), "mn@map1") for i in range(3)]
    for p in sent:
        assert map_side.open(w.decode_packet(w.encode_packet(p)))[1] == "mn@map1"
    restarted = IpsecSecurity([SaPair.from_config(PAIR)], "mn", SequenceFile(store))
    again = restarted.protect(_bu(9), "mn@map1")
    assert _esp_seq(again) > max(_esp_seq(p) for p in sent)
    assert map_side.open(w.decode_packet(w.encode_packet(again)))[1] == "mn@map1"


def test_without_the_store_the_restart_is_dropped_as_a_replay() -> None:
    """The failure the store prevents (seen in CI: a restarted MN's BUs silently dropped until its counter passed
    the MAP's right edge)."""
    map_side = IpsecSecurity([SaPair.from_config(PAIR)], "map")
    mn = IpsecSecurity([SaPair.from_config(PAIR)], "mn")
    for i in range(3):
        map_side.open(w.decode_packet(w.encode_packet(mn.protect(_bu(i), "mn@map1"))))
    restarted = IpsecSecurity([SaPair.from_config(PAIR)], "mn")
    with pytest.raises(SecurityDrop):
        map_side.open(w.decode_packet(w.encode_packet(restarted.protect(_bu(9), "mn@map1"))))


def test_sequence_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "seq.json"
    bad.write_text("{not json")
    with pytest.raises(SequenceFileError, match=str(bad)):
        SequenceFile(bad)
    bad.write_text('{"a": 0}')
    with pytest.raises(SequenceFileError, match=">= 1"):
        SequenceFile(bad)


def _config(tmp_path: Path, extra: str) -> str:
    import yaml

    doc = {"role": "mn", "control_socket": str(tmp_path / "x.sock"), "mn": {"iface": "lo"},
           "security": {"sas": [PAIR]}}
    path = tmp_path / "mn.yaml"
    path.write_text(yaml.safe_dump(doc) + extra)
    return str(path)


def test_config_sequence_file_is_wired_and_checked(tmp_path: Path) -> None:
    store = tmp_path / "seq.json"
    path = _config(tmp_path, "")
    text = Path(path).read_text().replace("security:\n", f"security:\n  sequence_file: {store}\n")
    Path(path).write_text(text)
    sec = signalling_security(load_config(path))
    assert isinstance(sec, IpsecSecurity) and isinstance(sec.sequences, SequenceFile)
    assert store.exists()  # the first reservation is written before any number is used
    store.write_text("[]")
    with pytest.raises(ConfigError, match="sequence_file"):
        signalling_security(load_config(path))
