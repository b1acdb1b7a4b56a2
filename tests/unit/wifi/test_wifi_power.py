"""Power ports: CommandPower runs real programs (this Python interpreter) on the host, no shell."""

from __future__ import annotations

import json
import logging
import shlex
import sys
from pathlib import Path

import pytest

from harness.errors import InfrastructureError
from harness.wifi import CommandPower, NoPower, PowerError, WifiError

PY = shlex.quote(sys.executable)
# appends its argv (as JSON) and $PDU_USER to the journal file named by its first argument
RECORDER = "import json, os, sys; open(sys.argv[1], 'a').write(json.dumps(sys.argv[2:] + [os.environ.get('PDU_USER')]) + '\\n')"


def journal(path: Path) -> list[list[str]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def port(tmp_path: Path, **kwargs: object) -> tuple[CommandPower, Path]:
    log = tmp_path / "journal"
    cmd = f"{PY} -c {shlex.quote(RECORDER)} {shlex.quote(str(log))}"
    defaults = dict(on=f"{cmd} on {{outlet}} {{node}}", off=f"{cmd} off {{outlet}}", env={"PDU_USER": "lab"})
    defaults.update(kwargs)
    return CommandPower("ap 1", outlet="7", **defaults), log  # type: ignore[arg-type]


def test_on_off_fill_placeholders_without_a_shell(tmp_path: Path) -> None:
    power, log = port(tmp_path)
    power.on()
    power.off()
    assert journal(log) == [["on", "7", "ap 1", "lab"], ["off", "7", "lab"]]  # "ap 1" stays one argument
    assert power.available and power.state() is None


def test_cycle_without_template_is_off_delay_on(tmp_path: Path) -> None:
    slept: list[float] = []
    power, log = port(tmp_path, sleep=slept.append)
    power.cycle(delay=2.5)
    assert [entry[0] for entry in journal(log)] == ["off", "on"] and slept == [2.5]


def test_cycle_template_is_used_when_given(tmp_path: Path) -> None:
    log = tmp_path / "journal"
    cmd = f"{PY} -c {shlex.quote(RECORDER)} {shlex.quote(str(log))}"
    slept: list[float] = []
    power, _ = port(tmp_path, cycle=f"{cmd} reboot {{outlet}}", sleep=slept.append)
    power.cycle(delay=9)
    assert journal(log) == [["reboot", "7", "lab"]] and slept == []


def test_state_from_the_status_template(tmp_path: Path) -> None:
    power, _ = port(tmp_path, status=f"{PY} -c \"print(' ON ')\"")
    assert power.state() == "on"


def test_failure_carries_exit_status_and_stderr(tmp_path: Path) -> None:
    fail = f"{PY} -c \"import sys; sys.stderr.write('outlet 7: access denied\\n'); sys.exit(3)\""
    power, _ = port(tmp_path, off=fail)
    with pytest.raises(PowerError) as err:
        power.off()
    assert isinstance(err.value, InfrastructureError) and not isinstance(err.value, WifiError)
    assert err.value.port == "ap 1"
    assert "power ap 1: off:" in str(err.value) and "exited 3: outlet 7: access denied" in str(err.value)


def test_timeout(tmp_path: Path) -> None:
    power, _ = port(tmp_path, on=f"{PY} -c \"import time; time.sleep(10)\"", timeout=0.5)
    with pytest.raises(PowerError, match=r"on: .* did not finish within 0.5 s"):
        power.on()


def test_missing_program(tmp_path: Path) -> None:
    power, _ = port(tmp_path, on="/nonexistent/pdu-cli {outlet} on")
    with pytest.raises(PowerError, match="cannot run '/nonexistent/pdu-cli'"):
        power.on()


def test_bad_templates_are_refused_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown placeholder \{port\}"):
        port(tmp_path, on="pdu {port} on")
    with pytest.raises(ValueError, match="off template is empty"):
        port(tmp_path, off="  ")
    with pytest.raises(ValueError, match="No closing quotation"):
        port(tmp_path, off="pdu 'x")


def test_no_power_does_nothing_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    power = NoPower("mn")
    with caplog.at_level(logging.WARNING, logger="harness.wifi.power"):
        power.on()
        power.cycle(3)
        assert power.state() is None
    assert not power.available
    assert "power mn: no power control configured; on does nothing" in caplog.text
    assert "cycle does nothing" in caplog.text
