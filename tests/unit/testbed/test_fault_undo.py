"""``hmipv6ct clean`` and journaled faults, without a network: fake drivers stand in for the lab's nodes, and the
lab backend's journal lifecycle is run on a testbed whose nodes are reached locally."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from harness.drivers.base import CommandResult
from harness.errors import ConnectError
from harness.testbed import load, open_backend, runstate


@pytest.fixture
def state_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "state"
    monkeypatch.setattr(runstate, "STATE_ROOT", root)
    monkeypatch.setattr(runstate.netns, "list_names", list)  # leave this host's real namespaces alone
    return root


class FakeNode:
    def __init__(self, name: str, reachable: bool = True, fail: str | None = None) -> None:
        self.name, self.reachable, self.fail = name, reachable, fail
        self.ran: list[str] = []
        self.opens = 0

    def open(self) -> None:
        self.opens += 1
        if not self.reachable:
            raise ConnectError(self.name, "connect to [2001:db8::1]:22: Connection refused")

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        self.ran.append(command)
        if self.fail and self.fail in command:
            return CommandResult(command, 1, "", "Error: No such file or directory\n")
        return CommandResult(command, 0, "")


def dead_run(testbed: str, faults: list[dict]) -> runstate.RunState:
    run = runstate.RunState.create(testbed)
    run.owner_pid, run.owner_start = os.getpid(), 1  # a pid whose start time no longer matches: dead
    run.faults = faults
    run.save()
    return run


def fault(kind: str, node: str, testbed: str = "/lab/tb.yaml", owned: bool = False, undo: list[str] | None = None):
    return {"id": f"{kind}-0", "fault": kind, "node": node, "params": {}, "owned": owned, "testbed": testbed,
            "undo": [f"nft delete table ip6 hmipv6ct_fault_{kind} 2>/dev/null; true"] if undo is None else undo,
            "applying_at": 0.0}


def test_clean_undoes_unowned_faults_then_removes_the_run(state_root: Path) -> None:
    run = dead_run("/lab/tb.yaml", [fault("packet_loss", "r1"), fault("partition", "r1"),
                                    fault("echo_loss", "ar1", owned=True)])
    nodes = {"r1": FakeNode("r1")}
    calls = []

    def drivers(testbed: str, node: str) -> FakeNode:
        calls.append((testbed, node))
        return nodes[node]

    removed, kept = runstate.clean(drivers=drivers)
    assert removed[:2] == ["fault packet_loss on r1 (/lab/tb.yaml)", "fault partition on r1 (/lab/tb.yaml)"]
    assert f"directory {run.workdir}" in removed and not run.workdir.exists() and kept == []
    assert nodes["r1"].ran == ["nft delete table ip6 hmipv6ct_fault_packet_loss 2>/dev/null; true",
                               "nft delete table ip6 hmipv6ct_fault_partition 2>/dev/null; true"]
    assert all(node == "r1" for _, node in calls), "an owned fault goes with the run's namespace: not undone"


def test_unreachable_node_keeps_the_state_with_what_is_left(state_root: Path) -> None:
    run = dead_run("/lab/tb.yaml", [fault("packet_loss", "r1"), fault("partition", "r1"), fault("link_down", "r2")])
    nodes = {"r1": FakeNode("r1", reachable=False), "r2": FakeNode("r2")}
    removed, kept = runstate.clean(drivers=lambda testbed, node: nodes[node])
    assert removed == ["fault link_down on r2 (/lab/tb.yaml)"]
    assert len(kept) == 2 and all(k.startswith(f"run {run.prefix} (/lab/tb.yaml): FAILED to remove fault ")
                                  and "Connection refused" in k for k in kept)
    assert nodes["r1"].opens == 1, "an unreachable node is tried once per clean"
    left = json.loads((run.workdir / "state.json").read_text())["faults"]
    assert [r["fault"] for r in left] == ["packet_loss", "partition"], "what was undone is struck off"
    nodes["r1"].reachable = True  # a later clean finishes the job
    removed, kept = runstate.clean(drivers=lambda testbed, node: nodes[node])
    assert kept == [] and not run.workdir.exists()
    assert removed[:2] == ["fault packet_loss on r1 (/lab/tb.yaml)", "fault partition on r1 (/lab/tb.yaml)"]


def test_failing_undo_command_is_reported_with_its_exit_status(state_root: Path) -> None:
    run = dead_run("/lab/tb.yaml", [fault("link_down", "r1", undo=["ip link set eth9 up"])])
    node = FakeNode("r1", fail="eth9")
    removed, kept = runstate.clean(drivers=lambda testbed, name: node)
    assert removed == [] and run.workdir.exists()
    assert kept == [(f"run {run.prefix} (/lab/tb.yaml): FAILED to remove fault link_down on r1 (/lab/tb.yaml): "
                     f"'ip link set eth9 up' exited 1: Error: No such file or directory; state kept in {run.workdir} "
                     "for a later 'hmipv6ct clean'")]


def test_relative_testbed_in_a_record_falls_back_to_the_runs_resolved_path(state_root: Path) -> None:
    run = dead_run("/lab/tb.yaml", [fault("packet_loss", "r1", testbed="testbeds/tb.yaml")])
    assert runstate.fault_testbed(run, run.faults[0]) == "/lab/tb.yaml"
    assert runstate.fault_testbed(run, fault("x", "r1", testbed="/elsewhere/tb.yaml")) == "/elsewhere/tb.yaml"


def test_missing_testbed_file_is_a_failure_not_a_crash(state_root: Path, tmp_path: Path) -> None:
    gone = str(tmp_path / "gone.yaml")
    run = dead_run(gone, [fault("packet_loss", "r1", testbed=gone)])
    removed, kept = runstate.clean()  # the real driver factory: loads the testbed file
    assert removed == [] and len(kept) == 1 and "FAILED" in kept[0] and "cannot read testbed file" in kept[0]
    assert run.workdir.exists()


def test_live_runs_faults_are_left_alone(state_root: Path) -> None:
    run = runstate.RunState.create("/lab/tb.yaml")
    run.faults = [fault("packet_loss", "r1")]
    run.save()
    removed, kept = runstate.clean(drivers=lambda testbed, node: pytest.fail("a live run's fault was touched"))
    assert removed == [] and kept == [f"run {run.prefix} (/lab/tb.yaml): its runner (pid {os.getpid()}) is alive"]


LOCAL_LAB = """\
    name: locallab
    backend: lab
    nodes:
      r1: {role: router, management: {type: local}}
      tester: {role: tester, management: local}
    links:
      core:
        prefix: 2001:db8:98::/64
        members: {r1: {iface: eth0, address: "::1"}, tester: eth1}
"""


def test_lab_backend_journals_in_a_run_state_dropped_when_no_fault_is_left(state_root: Path, tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(textwrap.dedent(LOCAL_LAB))
    tb = open_backend(load(path))
    assert tb.journal is None and not tb.owns_node("r1")
    with tb:
        state = tb.journal
        assert state is not None and state.namespaces == [] and state.testbed == str(path.resolve())
        assert runstate.RunState.load(state.prefix).complete
    assert tb.journal is None and not state.workdir.exists()


def test_lab_backend_down_keeps_the_state_while_a_fault_is_journaled(state_root: Path, tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(textwrap.dedent(LOCAL_LAB))
    with open_backend(load(path)) as tb:
        state = tb.journal
        state.faults.append(fault("packet_loss", "r1", testbed=str(path)))
        state.save()
    assert state.workdir.exists(), "clean needs the record to undo the fault"
    assert [r["fault"] for r in runstate.RunState.load(state.prefix).faults] == ["packet_loss"]
