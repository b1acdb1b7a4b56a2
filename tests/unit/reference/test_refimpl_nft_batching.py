"""Batched nftables intercept-set changes (reference_impl.daemon.nft.Table) and the runner's hold-then-commit order:
a new binding's BA leaves only after its RCoA is intercepted; one nft run per batch, not per binding."""

from __future__ import annotations

import io

import pytest

from reference_impl import wire as w
from reference_impl.actions import BindingAdded, BindingRemoved, Log, Send
from reference_impl.daemon import nft, runner
from reference_impl.daemon.dataplane import TunnelPlane


@pytest.fixture
def scripts(monkeypatch) -> list[str]:
    """Every script handed to ``nft -f -`` (none is run); a script containing ``bad`` fails."""
    seen: list[str] = []

    def fake_nft(script: str) -> None:
        seen.append(script)
        if "bad" in script:
            raise nft.NftError(f"nft failed: Error: Could not process rule\n--- script ---\n{script}")
    monkeypatch.setattr(nft, "_nft", fake_nft)

    class FakeProc:
        def __init__(self, script: str) -> None:
            seen.append(script)
            self.stderr = io.StringIO("Error: Could not process rule" if "bad" in script else "")
            self.status = 1 if "bad" in script else 0

        def wait(self) -> int:
            return self.status
    monkeypatch.setattr(nft, "_spawn", FakeProc)
    monkeypatch.setattr(nft, "delete_table", lambda name: False)
    return seen


def test_changes_are_staged_and_applied_in_one_transaction(scripts) -> None:
    table = nft.Table("t", ["2001:db8::1"])
    scripts.clear()
    for i in range(50):
        table.intercept(f"2001:db8:f::{i:x}")
    assert not scripts and table.pending
    assert table.flush() == []
    assert len(scripts) == 1 and scripts[0].count("2001:db8:f::") == 50 and not table.pending
    assert table.installed == {f"2001:db8:f::{i:x}" for i in range(50)}
    assert table.flush() == [] and len(scripts) == 1  # nothing staged: no nft run


def test_last_change_of_an_address_wins_and_absent_elements_are_never_deleted(scripts) -> None:
    table = nft.Table("t", [])
    table.intercept("2001:db8:f::1")
    table.flush()
    scripts.clear()
    table.release("2001:db8:f::1")
    table.intercept("2001:db8:f::1")  # release then intercept in one batch: stays intercepted, nothing to run
    table.intercept("2001:db8:f::2")
    table.release("2001:db8:f::2")  # intercept then release of an address not in the set: nothing to run
    assert table.flush() == [] and scripts == [] and table.installed == {"2001:db8:f::1"}
    table.release("2001:db8:f::1")
    table.intercept("2001:db8:f::3")
    table.flush()
    assert scripts == ["delete element ip6 t intercept { 2001:db8:f::1 }\nadd element ip6 t intercept { 2001:db8:f::3 }\n"]
    assert table.installed == {"2001:db8:f::3"}


def test_a_refused_change_is_reported_with_its_address_and_the_others_applied(scripts) -> None:
    table = nft.Table("t", [])
    table.intercept("2001:db8:f::1")
    table.intercept("bad")
    table.intercept("2001:db8:f::2")
    failed = table.flush()
    assert [a for a, _ in failed] == ["bad"] and "Could not process" in failed[0][1]
    assert table.installed == {"2001:db8:f::1", "2001:db8:f::2"}


def test_rebuild_drops_staged_changes(scripts) -> None:
    table = nft.Table("t", [])
    table.intercept("2001:db8:f::1")
    table.rebuild(["2001:db8:f::9"])
    assert not table.pending and table.installed == {"2001:db8:f::9"}


RCOA, LCOA, MAP = w.ip6("2001:db8:f::1"), w.ip6("2001:db8:1::1"), w.ip6("2001:db8:f::ff")


class _Core:
    def __init__(self) -> None:
        self.cache = type("Cache", (), {"bindings": {RCOA: None}})()

    def tunnel_for(self, dst: bytes) -> bytes | None:
        return None

    def check_reverse_tunnel(self, outer_src: bytes, inner_src: bytes) -> bool:
        return False


class _Raw:
    def send(self, packet: bytes, *args: object) -> None:
        pass


def _daemon(tmp_path, table: nft.Table, events: list) -> runner.Daemon:
    daemon = runner.Daemon("t", None, {}, lambda event, **f: events.append((event, f)),  # type: ignore[arg-type]
                           str(tmp_path / "ctl"), lambda iface, frame: False)
    plane = TunnelPlane(_Core(), MAP, {MAP}, _Raw(), table, daemon.log)  # type: ignore[arg-type]
    daemon.on_action, daemon.staged = plane.on_action, plane
    daemon._send = lambda action: events.append(("sent", action.packet.dst))  # type: ignore[method-assign]
    return daemon


def _ba_actions(rcoa: bytes, lcoa: bytes) -> list:
    ba = w.Packet(MAP, lcoa, w.BindingAcknowledgement(0, 1, 10), rh2_address=rcoa)
    return [Log("binding_added", ()), BindingAdded(rcoa, lcoa, 40, "eth0"), Send(None, ba)]


def test_ba_waits_for_the_intercept_and_a_batch_shares_one_nft_run(tmp_path, scripts) -> None:
    table, events = nft.Table("t", []), []
    daemon = _daemon(tmp_path, table, events)
    try:
        scripts.clear()
        for i in range(1, 4):
            daemon.dispatch(_ba_actions(w.ip6(f"2001:db8:f::{i}"), w.ip6(f"2001:db8:1::{i}")))
        assert not any(e == "sent" for e, _ in events) and daemon.holding()  # held until the intercept is in
        daemon.commit()
        assert len(scripts) == 1 and "2001:db8:f::3" in scripts[0]
        assert [f for e, f in events if e == "sent"] == [w.ip6(f"2001:db8:1::{i}") for i in range(1, 4)]  # in order
        assert not daemon.holding()
        daemon.dispatch([Send(None, w.Packet(MAP, LCOA, w.BindingAcknowledgement(0, 2, 10)))])
        assert events[-1] == ("sent", LCOA)  # nothing staged: sent at once
    finally:
        daemon.control.close()
        daemon.raw.close()


def test_refused_intercept_is_logged_with_its_address_and_the_ba_still_sent(tmp_path, scripts) -> None:
    table, events = nft.Table("t", []), []
    daemon = _daemon(tmp_path, table, events)
    try:
        daemon.dispatch([BindingAdded(RCOA, LCOA, 40, "eth0"), BindingRemoved(RCOA, LCOA, "expired")])
        table.intercept("bad")
        daemon.dispatch([Send(None, w.Packet(MAP, LCOA, w.BindingAcknowledgement(0, 1, 10)))])
        daemon.commit()
        errors = [f for e, f in events if e == "nft_error"]
        assert errors and errors[0]["address"] == "bad"
        assert ("sent", LCOA) in events and daemon.counters["internal_errors"] == 0
    finally:
        daemon.control.close()
        daemon.raw.close()


def test_a_started_commit_releases_only_what_was_held_for_it(tmp_path, scripts) -> None:
    """The event loop's non-blocking commit: sends held while a transaction runs wait for the next one."""
    table, events = nft.Table("t", []), []
    daemon = _daemon(tmp_path, table, events)
    try:
        scripts.clear()
        daemon.dispatch(_ba_actions(w.ip6("2001:db8:f::1"), w.ip6("2001:db8:1::1")))
        daemon._start_commit()  # nft started (not waited for)
        assert daemon._inflight is not None and not table.pending and len(scripts) == 1
        daemon.dispatch(_ba_actions(w.ip6("2001:db8:f::2"), w.ip6("2001:db8:1::2")))
        daemon.dispatch([Send(None, w.Packet(MAP, LCOA, w.BindingAcknowledgement(0, 2, 10)))])  # behind them
        assert not any(e == "sent" for e, _ in events)
        daemon._end_commit()  # nft exited: the first BA goes, the second waits for its own intercept
        assert [f for e, f in events if e == "sent"] == [w.ip6("2001:db8:1::1")] and table.pending
        daemon.commit()
        assert [f for e, f in events if e == "sent"] == [w.ip6(f"2001:db8:1::{i}") for i in (1, 2)] + [LCOA]
        assert len(scripts) == 2 and table.installed == {"2001:db8:f::1", "2001:db8:f::2"}
    finally:
        daemon.control.close()
        daemon.raw.close()


def test_a_hung_transaction_is_abandoned_and_what_it_held_still_goes_out(tmp_path, scripts) -> None:
    """A started nft run that never finishes must not hold the MAP's BAs for ever: after COMMIT_DEADLINE the
    daemon ends it (by PID), logs an internal error, retries its changes one by one and sends what was held."""
    table, events = nft.Table("t", []), []
    daemon = _daemon(tmp_path, table, events)
    ended: list[bool] = []
    try:
        daemon.dispatch(_ba_actions(w.ip6("2001:db8:f::1"), w.ip6("2001:db8:1::1")))
        daemon._start_commit()
        handle = daemon._inflight[0]

        def kill() -> None:  # what Popen.kill does to a hung nft: it exits with a signal status
            ended.append(True)
            handle.proc.status = -9
        handle.abandon = kill
        started = daemon._inflight_since
        daemon.check_commit_deadline(started + runner.COMMIT_DEADLINE / 2)
        assert daemon._inflight is not None and not ended  # not yet
        daemon.check_commit_deadline(started + runner.COMMIT_DEADLINE + 0.1)
        assert ended and daemon._inflight is None
        assert [f for e, f in events if e == "sent"] == [w.ip6("2001:db8:1::1")]
        assert daemon.counters["internal_errors"] == 1 and table.installed == {"2001:db8:f::1"}  # retried alone
    finally:
        daemon.control.close()
        daemon.raw.close()


def test_a_hung_nft_run_is_an_error_naming_the_timeout(monkeypatch) -> None:
    import subprocess

    def hang(*args, **kw):
        raise subprocess.TimeoutExpired(args[0], kw.get("timeout"))
    monkeypatch.setattr(nft.subprocess, "run", hang)
    with pytest.raises(nft.NftError, match="did not finish within"):
        nft._nft("add element ip6 t intercept { 2001:db8::1 }\n")
