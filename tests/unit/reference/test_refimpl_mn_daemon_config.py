"""hmipv6-mn configuration: errors name the file and the key, and values reach the core typed."""

from __future__ import annotations

from pathlib import Path

import pytest

from reference_impl.daemon import mn_main
from reference_impl.daemon.config import ConfigError, load_config

BASE = """role: mn
control_socket: /tmp/x.sock
mn:
  iface: lo
  home_address: 2001:db8:10::100
  home_agent: 2001:db8:10::2
"""


def cfg(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "mn.yaml"
    path.write_text(BASE + extra)
    return path


def test_values_are_typed_and_addresses_parsed(tmp_path: Path) -> None:
    c = load_config(str(cfg(tmp_path, "  hmipv6: false\n  max_maps: 2\n  initial_bindack_timeout: 0.05\n"
                                      "  correspondents: [2001:db8:20::10]\n")))
    core = mn_main.mn_config(c, b"\x02\x00\x00\x00\x00\x01")
    assert core.hmipv6 is False and core.max_maps == 2 and core.initial_bindack_timeout == 0.05
    assert core.correspondents == (bytes.fromhex("20010db8002000000000000000000010"),)


@pytest.mark.parametrize("extra, words", [
    ("  colour: blue\n", ["unknown keys colour"]),
    ("  max_maps: 0\n", ["max_maps"]),
    ("  home_agent2: x\n", ["unknown keys home_agent2"]),
])
def test_bad_values_name_the_key(tmp_path: Path, extra: str, words: list[str]) -> None:
    path = cfg(tmp_path, extra)
    with pytest.raises(ConfigError) as info:
        mn_main.mn_config(load_config(str(path)), b"\x02\x00\x00\x00\x00\x01")
    assert str(path) in str(info.value) and all(w in str(info.value) for w in words)


def test_command_line_exits_2_with_the_problem(tmp_path: Path, capsys) -> None:
    path = cfg(tmp_path).read_text().replace("  home_address: 2001:db8:10::100\n", "")
    (tmp_path / "bad.yaml").write_text(path)
    assert mn_main.main(["--config", str(tmp_path / "bad.yaml")]) == 2
    assert "missing 'home_address'" in capsys.readouterr().err
