"""Timer profile, pcap writer and run-state bookkeeping."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.testbed import runstate
from harness.tester import pcap
from harness.timers import RFC_DEFAULTS, TimerProfile


def test_rfc_profile_holds_the_rfc_values() -> None:
    t = TimerProfile.make("rfc")
    assert t.max_bindack_timeout == 32.0 and t.initial_bindack_timeout_first_reg == 1.5
    assert t.map_probe_interval == 10.0 and t.map_probe_aggressive_period == 15.0


def test_scaled_profile_scales_every_timer_and_honours_overrides() -> None:
    t = TimerProfile.make("scaled", 0.1, {"max_rtr_adv_interval": 1.5})
    for name, (value, _) in RFC_DEFAULTS.items():
        expected = 1.5 if name == "max_rtr_adv_interval" else value * 0.1
        assert t.values[name] == pytest.approx(expected), name


@pytest.mark.parametrize("args, message", [
    (("fast",), "unknown timer profile"), (("rfc", 0.5), "cannot be scaled"), (("scaled", 2), "(0, 1]"),
    (("scaled", 0.1, {"no_such_timer": 1}), "unknown timer"),
])
def test_bad_profiles_are_refused(args, message) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("]", r"\]")):
        TimerProfile.make(*args)


def test_pcap_roundtrip_keeps_nanosecond_timestamps(tmp_path) -> None:
    frames = [(1795700000.123456789, b"\x01" * 60), (1795700001.5, b"\x02" * 14)]
    assert pcap.write(tmp_path / "x.pcap", frames) == 2
    back = list(pcap.read(tmp_path / "x.pcap"))
    assert [d for _, d in back] == [d for _, d in frames]
    assert back[0][0] == pytest.approx(frames[0][0], abs=1e-6)


def test_zombie_or_recycled_pid_is_not_alive() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    start = runstate.process_start_time(proc.pid)
    assert proc.wait(timeout=10) == 0
    assert not runstate.alive(proc.pid, start)
    me = runstate.process_start_time(os.getpid())
    assert runstate.alive(os.getpid(), me) and not runstate.alive(os.getpid(), me + 1)


def test_clean_removes_a_dead_runs_files_and_keeps_a_live_one(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(runstate, "STATE_ROOT", tmp_path)
    monkeypatch.setattr(runstate.netns, "list_names", lambda: [])  # leave this host's real namespaces alone
    dead = runstate.RunState.create("dead.yaml")
    dead.owner_pid, dead.owner_start = os.getpid(), 1  # a pid whose start time no longer matches
    dead.save()
    live = runstate.RunState.create("live.yaml")
    removed, kept = runstate.clean()
    assert any(str(dead.workdir) in r for r in removed) and not dead.workdir.exists()
    assert live.workdir.exists() and any(live.prefix in k for k in kept)
    assert json.loads((live.workdir / "state.json").read_text())["testbed"] == "live.yaml"
